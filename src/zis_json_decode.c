/*
** zis_json_decode.c: the decoding half of lua-zis's exact JSON codec
** (zis_json.c says why the codec exists and what exact means).
**
** JSON text -> Lua values: integers that fit in 64 bits stay Lua
** integers, other numbers become floats (beyond a double: refused),
** arrays carry the zis.array metatable, null is zis.null, strings are kept
** byte for byte and must be UTF-8.  The decoder builds only Lua values,
** under lua_pcall, so a Lua error raised anywhere leaks nothing, and an
** error that is not the decoder's own (out of memory, an interrupt) goes
** on unchanged.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "zis_json.h"
#include "zis_json_float.h"
#include "zis_json_internal.h"

/* ======================================================================
** Decoding
** ====================================================================== */

/* The decoder's own refusals are raised as this light userdata, with the
** message in the caller's Dec; any other error (out of memory, a debug
** hook's "interrupted!") is not the decoder's and goes on unchanged. */
static const char dec_refusal = 'd';

/* Values of a container are gathered on the Lua stack (at most PENDING)
** so that its table is made once with the right size, with no rehash.
** Stack room is asked for ROOM values at a time: asking for all of
** PENDING at every level grew the stack to kilobytes for small documents,
** and the collector shrinks it again between calls. */
#define PENDING 64
#define ROOM 8

/* Short strings recur (keys above all): a direct-mapped cache of the
** last CACHE_SLOTS short strings seen, kept per Lua state between calls,
** spares Lua's interning (a hash over every byte and a lookup) when the
** same bytes come again.  The strings live in a Lua table (the user value
** of the Slot array's userdata), so the pointers in Slot stay valid for
** as long as the slot holds them. */
#define CACHE_BITS 11
#define CACHE_SLOTS (1 << CACHE_BITS)
#define CACHE_MAXLEN 32
static const char cache_key = 'c';

typedef struct Slot {
  const char *s;            /* the cached string's bytes */
  size_t len;               /* SIZE_MAX: an empty slot */
  uint64_t a, b;            /* its first and last 8 bytes (or all, if < 8) */
} Slot;

typedef struct Dec {
  lua_State *L;
  const char *start, *p, *end;
  int depth;
  int array_mt;             /* stack index of the zis.array metatable */
  int cache_tbl;            /* stack index of the cache's string table */
  Slot *cache;
  char msg[96];             /* the refusal, "<what> at byte <n>" */
} Dec;

/* Whether x and y (both n bytes, 16 < n <= 32) agree on [8, n - 8): two
** words cover it. */
static inline int same_middle (const char *x, const char *y, size_t n) {
  uint64_t x1, y1, x2, y2;
  memcpy(&x1, x + 8, 8); memcpy(&y1, y + 8, 8);
  memcpy(&x2, x + n - 16, 8); memcpy(&y2, y + n - 16, 8);
  return x1 == y1 && x2 == y2;
}

/* Pushes s[0..n) (n <= CACHE_MAXLEN), from the cache when it is there. */
static void push_short (Dec *d, const char *s, size_t n) {
  uint64_t a = 0, b = 0;
  unsigned h;
  Slot *slot;
  if (n >= 8) { memcpy(&a, s, 8); memcpy(&b, s + n - 8, 8); }
#ifdef SWAR  /* little-endian: the string's bytes are the load's low ones */
  else if (d->end - s >= 8) {  /* one load, the bytes past n masked off */
    memcpy(&a, s, 8);
    a = n == 0 ? 0 : a & (~UINT64_C(0) >> (64 - 8 * n));
  }
#endif
  else {  /* elsewhere, or near the end of the text: the same value, a byte at a time */
    size_t i;
    for (i = 0; i < n; i++) a |= (uint64_t)(unsigned char)s[i] << (8 * i);
  }
  h = (unsigned)(((a * UINT64_C(0x9E3779B97F4A7C15)) ^ (b * UINT64_C(0xC2B2AE3D27D4EB4F))
                  ^ n) >> (64 - CACHE_BITS));
  slot = &d->cache[h];
  if (slot->len == n && slot->a == a && slot->b == b
      && (n <= 16 || same_middle(slot->s, s, n))) {
    lua_rawgeti(d->L, d->cache_tbl, (lua_Integer)h + 1);
    return;
  }
  slot->s = lua_pushlstring(d->L, s, n);
  slot->len = n;
  slot->a = a;
  slot->b = b;
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->cache_tbl, (lua_Integer)h + 1);
}

static NORETURN void dec_error (Dec *d, const char *what) {
  snprintf(d->msg, sizeof d->msg, "%s at byte %lu", what,
           (unsigned long)(d->p - d->start) + 1);
  lua_pushlightuserdata(d->L, (void *)&dec_refusal);
  lua_error(d->L);
  abort();  /* not reached */
}

/* Room for n more values, without raising a foreign error. */
static void need_room (Dec *d, int n) {
  if (!lua_checkstack(d->L, n)) dec_error(d, "nesting too deep for the Lua stack");
}

static inline void skip_ws (Dec *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r'
                           || *d->p == '\t'))
    d->p++;
}

static int hex4 (const char *s) {
  int v = 0, i;
  for (i = 0; i < 4; i++) {
    int c = (unsigned char)s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  return v;
}

static void add_utf8 (luaL_Buffer *b, unsigned long cp) {
  char u[4];
  int n;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
  }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  }
  else {
    u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  luaL_addlstring(b, u, (size_t)n);
}

/* scan_string's way on from a byte >= 0x80 at s. */
static NOINLINE const char *scan_utf8 (Dec *d, const char *s) {
  for (;;) {
    if (s < d->end && (unsigned char)*s >= 0x80) {
      size_t k = utf8_len((const unsigned char *)s, (size_t)(d->end - s));
      if (k == 0) { d->p = s; dec_error(d, "invalid UTF-8 in string"); }
      s += k;
      s = skip_plain(s, d->end);
      continue;
    }
    return s;
  }
}

/* Skips plain bytes and valid UTF-8 from s; returns where it stopped
** ('"', '\\', a control character, the end) or refuses invalid UTF-8.
** Inline: most strings are short and ASCII. */
static inline const char *scan_string (Dec *d, const char *s) {
  s = skip_plain(s, d->end);
  if (s < d->end && (unsigned char)*s >= 0x80) return scan_utf8(d, s);
  return s;
}

/* Pushes the string that starts after the opening quote at d->p, whose
** plain start ends at s with an escape (or an error): the rest of
** dec_string, out of line so that the common case has no luaL_Buffer. */
static NOINLINE void dec_escaped_string (Dec *d, const char *s) {
  luaL_Buffer b;
  luaL_buffinit(d->L, &b);
  luaL_addlstring(&b, d->p, (size_t)(s - d->p));
  d->p = s;
  for (;;) {
    unsigned char c;
    if (d->p >= d->end) dec_error(d, "unterminated string");
    c = (unsigned char)*d->p;
    if (c == '"') { d->p++; break; }
    if (c < 0x20) dec_error(d, "control character in string");
    if (c != '\\') {
      s = scan_string(d, d->p);
      luaL_addlstring(&b, d->p, (size_t)(s - d->p));
      d->p = s;
      continue;
    }
    if (d->end - d->p < 2) dec_error(d, "unterminated string");
    c = (unsigned char)d->p[1];
    d->p += 2;
    switch (c) {
      case '"': case '\\': case '/': luaL_addchar(&b, (char)c); break;
      case 'b': luaL_addchar(&b, '\b'); break;
      case 'f': luaL_addchar(&b, '\f'); break;
      case 'n': luaL_addchar(&b, '\n'); break;
      case 'r': luaL_addchar(&b, '\r'); break;
      case 't': luaL_addchar(&b, '\t'); break;
      case 'u': {
        long cp = d->end - d->p >= 4 ? hex4(d->p) : -1;
        if (cp < 0) dec_error(d, "bad \\u escape");
        d->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  /* a surrogate pair */
          long lo = (d->end - d->p >= 6 && d->p[0] == '\\' && d->p[1] == 'u')
                    ? hex4(d->p + 2) : -1;
          if (lo < 0xDC00 || lo > 0xDFFF) dec_error(d, "lone surrogate in \\u escape");
          d->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        else if (cp >= 0xDC00 && cp <= 0xDFFF)
          dec_error(d, "lone surrogate in \\u escape");
        add_utf8(&b, (unsigned long)cp);
        break;
      }
      default: dec_error(d, "bad escape in string");
    }
  }
  luaL_pushresult(&b);
}

/* Pushes the string that starts after the opening quote at d->p. */
static inline void dec_string (Dec *d) {
  const char *s = scan_string(d, d->p);
  if (s < d->end && *s == '"') {  /* no escape: the bytes are the string */
    size_t n = (size_t)(s - d->p);
    if (n <= CACHE_MAXLEN) push_short(d, d->p, n);
    else lua_pushlstring(d->L, d->p, n);
    d->p = s + 1;
    return;
  }
  dec_escaped_string(d, s);
}

/* 10^0 .. 10^22: exact doubles */
static const double POW10[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
  1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* m * 10^e10, correctly rounded: returns 0 when this quick way cannot be
** sure (the caller then uses strtod).  When m < 2^53 and |e10| <= 22, m
** and 10^|e10| are exact doubles and one multiply or divide is correctly
** rounded (Clinger's fast path); else 128-bit arithmetic (see
** zis_json_decimal_to_double). */
static int quick_double (uint64_t m, int e10, double *out) {
  if (m < (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
    *out = e10 >= 0 ? (double)m * POW10[e10] : (double)m / POW10[-e10];
    return 1;
  }
  return zis_json_decimal_to_double(m, e10, out);
}

/* Pushes a number: JSON's grammar checked here, so Lua's reader (which
** also takes hex and spaces) only ever sees a JSON number.  A number too
** large for a double (1e400) is refused: the encoder could not write it
** back. */
static void dec_number (Dec *d) {
  const char *s = d->p, *end = d->end;
  int neg = 0, is_int = 1, nd = 0, fd = 0, many = 0;
  uint64_t m = 0;           /* the first 19 significant digits */
  long e10 = 0;
  char tmp[64];
  size_t n;
  double v;
  if (*s == '-') { neg = 1; s++; }
  if (s < end && *s == '0') s++;
  else if (s < end && *s >= '1' && *s <= '9')
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
      if (nd < 19) m = m * 10 + (uint64_t)(*s - '0'); else many = 1;
      nd++;
    }
  else dec_error(d, "bad number");
  if (s < end && *s == '.') {
    is_int = 0;
    s++;
    if (!(s < end && *s >= '0' && *s <= '9')) dec_error(d, "bad number");
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
      if (m == 0 && *s == '0') { fd++; continue; }   /* leading zeros */
      if (nd < 19) { m = m * 10 + (uint64_t)(*s - '0'); fd++; } else many = 1;
      nd++;
    }
  }
  if (s < end && (*s == 'e' || *s == 'E')) {
    int eneg = 0;
    is_int = 0;
    s++;
    if (s < end && (*s == '+' || *s == '-')) eneg = *s++ == '-';
    if (!(s < end && *s >= '0' && *s <= '9')) dec_error(d, "bad number");
    for (; s < end && *s >= '0' && *s <= '9'; s++)
      if (e10 < 100000) e10 = e10 * 10 + (*s - '0');
    if (eneg) e10 = -e10;
  }
  if (is_int && nd <= 18) {  /* fits in int64 for sure: the common case */
    lua_pushinteger(d->L, neg ? -(lua_Integer)m : (lua_Integer)m);
    d->p = s;
    return;
  }
  if (!is_int && !many) {
    if (m == 0) { lua_pushnumber(d->L, neg ? -0.0 : 0.0); d->p = s; return; }
    if (quick_double(m, (int)(e10 - fd), &v)) {
      lua_pushnumber(d->L, neg ? -v : v);
      d->p = s;
      return;
    }
  }
  n = (size_t)(s - d->p);
  if (n < sizeof tmp) {
    /* Lua's own reader: an integer that overflows becomes a float, and
    ** the decimal point is read whatever the C locale says */
    memcpy(tmp, d->p, n);
    tmp[n] = '\0';
    if (lua_stringtonumber(d->L, tmp) == 0) dec_error(d, "bad number");
  }
  else {
    lua_pushlstring(d->L, d->p, n);
    if (lua_stringtonumber(d->L, lua_tostring(d->L, -1)) == 0) dec_error(d, "bad number");
    lua_remove(d->L, -2);
  }
  if (!lua_isinteger(d->L, -1)) {
    lua_Number x = lua_tonumber(d->L, -1);
    if (x - x != 0) dec_error(d, "number out of range");
  }
  d->p = s;
}

static void dec_literal (Dec *d, const char *lit, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0)
    dec_error(d, "unexpected character");
  d->p += n;
}

static ALWAYS_INLINE void dec_value (Dec *d);

/* Key/value pairs are pushed above `base` (PENDING at most), then the
** table is made with their number and filled in order (the last of
** duplicate keys wins, as it always did). */
static void dec_object (Dec *d) {
  lua_State *L = d->L;
  int base = lua_gettop(L), pending = 0, direct = 0, i;
  d->p++;  /* '{' */
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') { d->p++; lua_createtable(L, 0, 0); return; }
  for (;;) {
    if (pending % ROOM == 0 && !direct) need_room(d, 2 * ROOM + 8);
    skip_ws(d);
    if (d->p >= d->end || *d->p != '"') dec_error(d, "expected a string key");
    d->p++;
    dec_string(d);
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') dec_error(d, "expected ':'");
    d->p++;
    dec_value(d);
    if (direct) lua_rawset(L, base + 1);
    else if (++pending == PENDING) {     /* a big object: set as they come */
      lua_createtable(L, 0, 2 * PENDING);
      lua_insert(L, base + 1);
      for (i = 0; i < pending; i++) {
        lua_pushvalue(L, base + 2 + 2 * i);
        lua_pushvalue(L, base + 3 + 2 * i);
        lua_rawset(L, base + 1);
      }
      lua_settop(L, base + 1);
      direct = 1;
    }
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == '}') { d->p++; break; }
    dec_error(d, "expected ',' or '}'");
  }
  if (!direct) {
    lua_createtable(L, 0, pending);
    for (i = 0; i < pending; i++) {
      lua_pushvalue(L, base + 1 + 2 * i);
      lua_pushvalue(L, base + 2 + 2 * i);
      lua_rawset(L, -3);
    }
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
}

static void dec_array (Dec *d) {
  lua_State *L = d->L;
  int base = lua_gettop(L), pending = 0, i;
  lua_Integer n = 0;
  d->p++;  /* '[' */
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
    lua_createtable(L, 0, 0);
    goto mark;
  }
  for (;;) {
    if (pending >= 0 && pending % ROOM == 0) need_room(d, ROOM + 8);
    dec_value(d);
    n++;
    if (pending < 0) lua_rawseti(L, base + 1, n);
    else if (++pending == PENDING) {     /* a long array: set as they come */
      lua_createtable(L, 4 * PENDING, 0);
      lua_insert(L, base + 1);
      for (i = pending; i >= 1; i--) lua_rawseti(L, base + 1, i);
      pending = -1;
    }
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == ']') { d->p++; break; }
    dec_error(d, "expected ',' or ']'");
  }
  if (pending > 0) {
    lua_createtable(L, pending, 0);
    lua_insert(L, base + 1);
    for (i = pending; i >= 1; i--) lua_rawseti(L, base + 1, i);
  }
mark:
  lua_pushvalue(L, d->array_mt);
  lua_setmetatable(L, -2);
}

/* An object or array at d->p: the only recursion, so that a scalar
** value costs no call. */
static NOINLINE void dec_container (Dec *d) {
  if (++d->depth > MAX_DEPTH) dec_error(d, "nesting deeper than 1000");
  if (*d->p == '{') dec_object(d); else dec_array(d);
  d->depth--;
}

static ALWAYS_INLINE void dec_value (Dec *d) {
  skip_ws(d);
  if (d->p >= d->end) dec_error(d, "unexpected end of input");
  switch (*d->p) {
    case '{': case '[': dec_container(d); break;
    case '"': d->p++; dec_string(d); break;
    case 't': dec_literal(d, "true", 4); lua_pushboolean(d->L, 1); break;
    case 'f': dec_literal(d, "false", 5); lua_pushboolean(d->L, 0); break;
    case 'n': dec_literal(d, "null", 4); lua_pushlightuserdata(d->L, NULL); break;
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6':
    case '7': case '8': case '9':
      dec_number(d);
      break;
    default: dec_error(d, "unexpected character");
  }
}

/* Protected body of a decode: (lightuserdata Dec). */
static int dec_protected (lua_State *L) {
  Dec *d = (Dec *)lua_touserdata(L, 1);
  int i;
  d->L = L;
  luaL_getmetatable(L, ARRAY_MT);
  d->array_mt = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    d->cache = (Slot *)lua_newuserdatauv(L, sizeof(Slot) * CACHE_SLOTS, 1);
    for (i = 0; i < CACHE_SLOTS; i++) d->cache[i].len = (size_t)-1;
    lua_createtable(L, CACHE_SLOTS, 0);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
  }
  else d->cache = (Slot *)lua_touserdata(L, -1);
  lua_getiuservalue(L, -1, 1);
  d->cache_tbl = lua_gettop(L);
  dec_value(d);
  skip_ws(d);
  if (d->p != d->end) dec_error(d, "trailing characters");
  return 1;
}

int zis_json_decode_buf (lua_State *L, const char *s, size_t n) {
  Dec d;
  if (n == 0 || s == NULL) {
    lua_pushliteral(L, "empty body");
    return 0;
  }
  d.start = d.p = s;
  d.end = s + n;
  d.depth = 0;
  d.msg[0] = '\0';
  lua_pushcfunction(L, dec_protected);
  lua_pushlightuserdata(L, &d);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) return 1;
  if (lua_touserdata(L, -1) != (void *)&dec_refusal || d.msg[0] == '\0')
    lua_error(L);            /* not ours (memory, a hook): on, unchanged */
  lua_pop(L, 1);
  lua_pushstring(L, d.msg);
  return 0;
}



/*
** zis_json.c: exact JSON for lua-zis.
**
** Why not lua-cjson alone: Debian's lua-cjson 2.1.0 decodes every number
** as a float (12345 -> 12345.0, and 1 can no longer be told from 1.0),
** encodes at most 14 significant digits (360012345678901 ->
** 3.600123456789e+14) and turns [] into {}.  No fix-up after the fact can
** undo those losses, so both directions are done here, exactly:
**
**   decode: integers that fit in 64 bits -> Lua integers; other numbers ->
**           floats (an integer beyond 64 bits too, the nearest double);
**           every array carries the zis.array metatable, so an empty []
**           stays an array; null -> zis.null (a NULL light userdata, the
**           same value as cjson.null); strings byte for byte.
**   encode: integers with all their digits; floats in the shortest form
**           that reads back to the same double (always with '.' or 'e', so
**           they stay floats); zis.array / zis.object tables as marked;
**           other tables: a sequence is an array, string keys an object,
**           empty is {}; strings escaped, invalid UTF-8 refused.
**
** Memory rule: the decoder builds only Lua values (strings through
** luaL_Buffer, used with balanced stack); the encoder writes into a
** userdata box whose __gc frees it.  So a Lua error raised anywhere in
** here (bad input, out of memory) leaks nothing.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "zis_json.h"
#include "zis_json_float.h"

#define MAX_DEPTH 1000      /* documented: deeper nesting is refused */
#define ARRAY_MT "zis.array"
#define OBJECT_MT "zis.object"
#define BOX_MT "zis.jsonbuf"

#if defined(__GNUC__)
#define NORETURN __attribute__((noreturn))
#else
#define NORETURN
#endif

/* ======================================================================
** Decoding
** ====================================================================== */

/* The decoder's own refusals are raised as this light userdata, with the
** message in the caller's Dec; any other error (out of memory, a debug
** hook's "interrupted!") is not the decoder's and goes on unchanged. */
static const char dec_refusal = 'd';

/* Values of a container are gathered on the Lua stack (at most PENDING)
** so that its table is made once with the right size, with no rehash. */
#define PENDING 64

/* Short strings recur (keys above all): a direct-mapped cache of the
** last CACHE_SLOTS short strings seen, kept per Lua state between calls,
** spares Lua's interning (a hash over every byte and a lookup) when the
** same bytes come again.  The strings live in a Lua table (the user value
** of the Slot array's userdata), so the pointers in Slot stay valid for
** as long as the slot holds them. */
#define CACHE_SLOTS 512
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

/* Pushes s[0..n) (n <= CACHE_MAXLEN), from the cache when it is there. */
static void push_short (Dec *d, const char *s, size_t n) {
  uint64_t a = 0, b = 0;
  unsigned h;
  Slot *slot;
  if (n >= 8) { memcpy(&a, s, 8); memcpy(&b, s + n - 8, 8); }
  else { size_t i; for (i = 0; i < n; i++) a = (a << 8) | (unsigned char)s[i]; }
  h = (unsigned)(((a * UINT64_C(0x9E3779B97F4A7C15)) ^ (b * UINT64_C(0xC2B2AE3D27D4EB4F))
                  ^ n) >> 55) & (CACHE_SLOTS - 1);
  slot = &d->cache[h];
  if (slot->len == n && slot->a == a && slot->b == b
      && (n <= 16 || memcmp(slot->s + 8, s + 8, n - 16) == 0)) {
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len (const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0xC2) return 0;  /* continuation byte, or an overlong lead */
  if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;   /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0;  /* a surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
        || (s[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;   /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0;  /* beyond U+10FFFF */
    return 4;
  }
  return 0;
}

/* PLAIN[c]: byte c goes out (encoder) or is taken (decoder) as it is:
** printable ASCII but '"' and '\\' */
static const unsigned char PLAIN[256] = {
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,1,1,1,
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
};

/* Eight bytes at a time (little-endian machines with GCC or Clang): the
** mask has the high bit of each byte at s that needs a look (a control
** character, '"', '\\' or a byte >= 0x80).  A borrow can only flag bytes
** above a true hit, so the lowest flag is exact. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t look8 (const char *s) {
  uint64_t w, q, b;
  memcpy(&w, s, 8);
  q = w ^ (0x22 * ONES);
  b = w ^ (0x5C * ONES);
  return (((w - 0x20 * ONES) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | w)
         & HIGHS;
}
#define SWAR 1
#endif

/* The first byte at or after s (before end) that is not PLAIN. */
static inline const char *skip_plain (const char *s, const char *end) {
#ifdef SWAR
  while (end - s >= 8) {
    uint64_t t = look8(s);
    if (t != 0) return s + (__builtin_ctzll(t) >> 3);
    s += 8;
  }
#endif
  while (s < end && PLAIN[(unsigned char)*s]) s++;
  return s;
}

/* Skips plain bytes and valid UTF-8 from s; returns where it stopped
** ('"', '\\', a control character, the end) or refuses invalid UTF-8. */
static const char *scan_string (Dec *d, const char *s) {
  for (;;) {
    s = skip_plain(s, d->end);
    if (s < d->end && (unsigned char)*s >= 0x80) {
      size_t k = utf8_len((const unsigned char *)s, (size_t)(d->end - s));
      if (k == 0) { d->p = s; dec_error(d, "invalid UTF-8 in string"); }
      s += k;
      continue;
    }
    return s;
  }
}

/* Pushes the string that starts after the opening quote at d->p. */
static void dec_string (Dec *d) {
  const char *s = scan_string(d, d->p);
  luaL_Buffer b;
  /* fast path: no escape, so the bytes are the string */
  if (s < d->end && *s == '"') {
    size_t n = (size_t)(s - d->p);
    if (n <= CACHE_MAXLEN) push_short(d, d->p, n);
    else lua_pushlstring(d->L, d->p, n);
    d->p = s + 1;
    return;
  }
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

static void dec_value (Dec *d);

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

static void dec_value (Dec *d) {
  skip_ws(d);
  if (d->p >= d->end) dec_error(d, "unexpected end of input");
  switch (*d->p) {
    case '{': case '[':
      if (++d->depth > MAX_DEPTH) dec_error(d, "nesting deeper than 1000");
      /* room for the pending values, without raising a foreign error */
      if (!lua_checkstack(d->L, 2 * PENDING + 8))
        dec_error(d, "nesting too deep for the Lua stack");
      if (*d->p == '{') dec_object(d); else dec_array(d);
      d->depth--;
      break;
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

int zis_json_decode_quiet (lua_State *L, const char *s, size_t n) {
  return zis_json_decode_buf(L, s, n);
}

/* ======================================================================
** Encoding
** ====================================================================== */

struct Key;

typedef struct Box {
  char *data;
  size_t len, cap;
  struct Key *keys;         /* pretty_json's key stack (all open objects) */
  size_t kcap;
} Box;

static int box_gc (lua_State *L) {
  Box *b = (Box *)luaL_checkudata(L, 1, BOX_MT);
  free(b->data);
  free(b->keys);
  b->data = NULL;
  b->keys = NULL;
  b->len = b->cap = b->kcap = 0;
  return 0;
}

/* The output buffer is kept between calls in the registry under this
** address.  A call takes it out (so a finalizer that encodes while we run
** gets a buffer of its own) and puts it back when done; a call that
** raises leaves it to the GC.  A buffer grown past KEEP_MAX is freed. */
static const char box_key = 'b';
#define KEEP_MAX (8u << 20)

/* One level of the path to the value being encoded: on the C stack of
** enc_table, linked to its parent, for error messages and cycles. */
typedef struct Step {
  const void *table;        /* the table being written at this level */
  const char *key;          /* NULL: an array index */
  size_t len;
  lua_Integer index;
  struct Step *parent;
} Step;

typedef struct Enc {
  lua_State *L;
  Box *b;
  char *out, *lim;          /* write position and end of b->data */
  int depth;
  int pretty;               /* indented, keys sorted */
  size_t ktop;              /* used part of b->keys */
  int array_mt, object_mt;  /* stack indexes of the marker metatables */
  const char *what;         /* name of the root, e.g. "bundle" */
  Step *top;                /* innermost level, NULL at the root */
} Enc;

static void add_path (luaL_Buffer *b, const Step *s) {
  if (s == NULL) return;
  add_path(b, s->parent);
  if (s->key) { luaL_addchar(b, '.'); luaL_addlstring(b, s->key, s->len); }
  else {
    char n[32];
    snprintf(n, sizeof n, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)s->index);
    luaL_addstring(b, n);
  }
}

/* Raises "zis: <what>.a.b[2]: <why>"; everything is owned by Lua. */
static NORETURN void enc_error (Enc *e, const char *why) {
  lua_State *L = e->L;
  luaL_Buffer b;
  lua_checkstack(L, 8);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "zis: ");
  luaL_addstring(&b, e->what);
  add_path(&b, e->top);
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, why);
  luaL_pushresult(&b);
  lua_error(L);
  abort();  /* not reached */
}

static void grow_slow (Enc *e, size_t need) {
  Box *b = e->b;
  size_t len = (size_t)(e->out - b->data), cap = b->cap ? b->cap : 4096;
  char *p;
  while (cap < len + need) cap *= 2;
  p = (char *)realloc(b->data, cap);
  if (p == NULL) luaL_error(e->L, "zis: out of memory encoding JSON");
  b->data = p;
  b->cap = cap;
  e->out = p + len;
  e->lim = p + cap;
}

static inline void grow (Enc *e, size_t need) {
  if ((size_t)(e->lim - e->out) < need) grow_slow(e, need);
}

static inline void put (Enc *e, const char *s, size_t n) {
  grow(e, n);
  memcpy(e->out, s, n);
  e->out += n;
}

#define PUTC(e, c) do { grow(e, 1); *(e)->out++ = (c); } while (0)

static void enc_string (Enc *e, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
  /* the common case, a plain string, is one copy */
  p = (const unsigned char *)skip_plain(s, (const char *)end);
  grow(e, n + 2);
  if (p == end) {
    char *out = e->out;
    out[0] = '"';
    if (n >= 8 && n <= 16) {  /* two fixed-size moves beat a memcpy call */
      memcpy(out + 1, s, 8);
      memcpy(out + 1 + n - 8, s + n - 8, 8);
    }
    else memcpy(out + 1, s, n);
    out[n + 1] = '"';
    e->out += n + 2;
    return;
  }
  *e->out++ = '"';
  put(e, s, (size_t)(p - (const unsigned char *)s));
  while (p < end) {
    run = p;
    p = (const unsigned char *)skip_plain((const char *)p, (const char *)end);
    if (p > run) put(e, (const char *)run, (size_t)(p - run));
    if (p >= end) break;
    if (*p >= 0x80) {
      size_t k = utf8_len(p, (size_t)(end - p));
      if (k == 0) enc_error(e, lua_pushfstring(e->L,
        "invalid UTF-8 in string at byte %d", (int)(p - (const unsigned char *)s) + 1));
      put(e, (const char *)p, k);
      p += k;
      continue;
    }
    switch (*p) {
      case '"': put(e, "\\\"", 2); break;
      case '\\': put(e, "\\\\", 2); break;
      case '\n': put(e, "\\n", 2); break;
      case '\r': put(e, "\\r", 2); break;
      case '\t': put(e, "\\t", 2); break;
      case '\b': put(e, "\\b", 2); break;
      case '\f': put(e, "\\f", 2); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        put(e, u, 6);
      }
    }
    p++;
  }
  PUTC(e, '"');
}

/* The shortest digits that read back as the same double (see
** zis_json_float.c), always marked as a float. */
static inline void enc_float (Enc *e, lua_Number v) {
  if (v != v || v - v != 0)  /* NaN, or an infinity */
    enc_error(e, "NaN or infinity cannot be sent as JSON");
  grow(e, ZIS_DOUBLE_BUFSIZE);
  e->out += zis_json_format_double((double)v, e->out);
}

static inline void enc_integer (Enc *e, lua_Integer v) {
  grow(e, 24);
  e->out += zis_json_format_integer((int64_t)v, e->out);
}

/* A newline and two spaces per level (pretty only). */
static void newline (Enc *e, int level) {
  size_t n = 1 + 2 * (size_t)level;
  grow(e, n);
  *e->out = '\n';
  memset(e->out + 1, ' ', n - 1);
  e->out += n;
}

static void enc_value (Enc *e, int idx);

/* Which metatable marks the table at idx: 1 zis.array, 2 zis.object, 0. */
static int marker (Enc *e, int idx) {
  int m = 0;
  if (lua_getmetatable(e->L, idx)) {
    if (lua_rawequal(e->L, -1, e->array_mt)) m = 1;
    else if (lua_rawequal(e->L, -1, e->object_mt)) m = 2;
    lua_pop(e->L, 1);
  }
  return m;
}

#define MIXED "mixed or sparse table is neither array nor object " \
              "(mark it with zis.array or zis.object)"
#define BADKEY "table key is not a string or an integer (use zis.object " \
               "for integer keys)"

/* Checks that the keys of the table at idx are exactly 1..n, where n is
** its border; returns n.  `marked`: it carries zis.array. */
static lua_Integer array_length (Enc *e, int idx, int marked) {
  lua_State *L = e->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1
        || lua_tointeger(L, -1) > n) {
      lua_pop(L, 1);
      if (marked) enc_error(e, "table marked with zis.array has keys other than 1..n");
      enc_error(e, MIXED);
    }
    count++;
  }
  if (count != n) enc_error(e, MIXED);
  return n;
}

static void enc_array (Enc *e, int idx, lua_Integer n, Step *step) {
  lua_Integer i;
  int v = lua_gettop(e->L) + 1;  /* where each element goes */
  if (e->pretty && n == 0) { put(e, "[]", 2); return; }
  PUTC(e, '[');
  for (i = 1; i <= n; i++) {
    if (i > 1) PUTC(e, ',');
    if (e->pretty) newline(e, e->depth);
    step->key = NULL;
    step->index = i;
    lua_rawgeti(e->L, idx, i);
    enc_value(e, v);
    lua_settop(e->L, v - 1);
  }
  if (e->pretty) newline(e, e->depth - 1);
  PUTC(e, ']');
}

/* The text of the key at stack index k, for an object; integer keys
** only when `marked` (written as strings), else raises.  Never converts
** the key in place (lua_next needs it as it is). */
static const char *key_text (Enc *e, int k, int marked, char *num, size_t *len) {
  lua_State *L = e->L;
  if (lua_type(L, k) == LUA_TSTRING) return lua_tolstring(L, k, len);
  if (lua_isinteger(L, k) && marked) {
    *len = zis_json_format_integer((int64_t)lua_tointeger(L, k), num);
    num[*len] = '\0';
    return num;
  }
  enc_error(e, lua_isinteger(L, k) ? MIXED : BADKEY);
}

/* One pass: keys are written as they come.  `primed`: the caller has
** already fetched the first pair with lua_next (it is on the stack). */
static void enc_object (Enc *e, int idx, int marked, Step *step, int primed) {
  lua_State *L = e->L;
  int first = 1, v;
  PUTC(e, '{');
  if (!primed) {
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) { PUTC(e, '}'); return; }
  }
  v = lua_gettop(L);        /* where each value is; its key just below */
  do {
    size_t klen;
    char num[32];
    const char *k = key_text(e, v - 1, marked, num, &klen);
    step->key = k;
    step->len = klen;
    if (!first) PUTC(e, ',');
    first = 0;
    enc_string(e, k, klen);
    PUTC(e, ':');
    enc_value(e, v);
    lua_settop(L, v - 1);
  } while (lua_next(L, idx) != 0);
  PUTC(e, '}');
}

/* pretty_json's object: keys sorted bytewise (integer keys of a zis.object
** as their decimal text, as encode_json writes them).  The keys of every
** open object sit on one stack in the Box (b->keys, from e->ktop), so
** the C stack stays small however deep the value, and an error leaves
** them to the Box's __gc. */
typedef struct Key {
  const char *s;            /* a string key's text (NULL: integer key) */
  size_t len;
  int slot;                 /* stack slot of the key itself */
  char num[24];             /* an integer key's text */
} Key;

static inline const char *key_str (const Key *k) { return k->s ? k->s : k->num; }

static inline int key_less (const Key *x, const Key *y) {
  int c = memcmp(key_str(x), key_str(y), x->len < y->len ? x->len : y->len);
  return c < 0 || (c == 0 && x->len < y->len);
}

static int key_cmp (const void *a, const void *b) {
  const Key *x = (const Key *)a, *y = (const Key *)b;
  return key_less(x, y) ? -1 : key_less(y, x);
}

static void sort_keys (Key *k, int n) {
  int i, j;
  if (n > 16) { qsort(k, (size_t)n, sizeof(Key), key_cmp); return; }
  for (i = 1; i < n; i++) {  /* insertion sort: objects are small */
    Key t = k[i];
    for (j = i; j > 0 && key_less(&t, &k[j - 1]); j--) k[j] = k[j - 1];
    k[j] = t;
  }
}

static void enc_object_sorted (Enc *e, int idx, int marked, Step *step) {
  lua_State *L = e->L;
  int base = lua_gettop(L), n = 0, i;
  size_t kb = e->ktop;      /* this object's keys: b->keys[kb .. kb+n) */
  Key *keys;
  /* every key on the stack (checked) */
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    char num[32];
    size_t klen;
    lua_pop(L, 1);
    (void)key_text(e, -1, marked, num, &klen);
    if (!lua_checkstack(L, 4)) enc_error(e, "table too large to sort");
    lua_pushvalue(L, -1);                 /* one stays, one for lua_next */
    n++;
  }
  if (n == 0) { put(e, "{}", 2); return; }
  if (kb + (size_t)n > e->b->kcap) {
    size_t cap = e->b->kcap ? e->b->kcap : 64;
    Key *p;
    while (cap < kb + (size_t)n) cap *= 2;
    p = (Key *)realloc(e->b->keys, cap * sizeof(Key));
    if (p == NULL) luaL_error(L, "zis: out of memory encoding JSON");
    e->b->keys = p;
    e->b->kcap = cap;
  }
  keys = e->b->keys + kb;
  for (i = 0; i < n; i++) {
    Key *k = &keys[i];
    k->slot = base + 1 + i;
    if (lua_type(L, k->slot) == LUA_TSTRING) k->s = lua_tolstring(L, k->slot, &k->len);
    else {
      k->s = NULL;
      k->len = zis_json_format_integer((int64_t)lua_tointeger(L, k->slot), k->num);
    }
  }
  sort_keys(keys, n);
  e->ktop = kb + (size_t)n;
  PUTC(e, '{');
  for (i = 0; i < n; i++) {
    /* b->keys may move while the value is written: take what is needed */
    const Key *k = &e->b->keys[kb + (size_t)i];
    char num[24];
    int slot = k->slot;
    step->len = k->len;
    if (k->s) step->key = k->s;
    else { memcpy(num, k->num, k->len); step->key = num; }
    if (i > 0) PUTC(e, ',');
    newline(e, e->depth);
    enc_string(e, step->key, step->len);
    put(e, ": ", 2);
    lua_pushvalue(L, slot);
    lua_rawget(L, idx);
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  e->ktop = kb;
  newline(e, e->depth - 1);
  PUTC(e, '}');
  lua_settop(L, base);
}

/* A table: a cycle is a table already on the path from the root, found by
** scanning the path (short) rather than keeping a set. */
static void enc_table (Enc *e, int idx) {
  lua_State *L = e->L;
  const void *t = lua_topointer(L, idx);
  const Step *s;
  Step step;
  int m, kind, primed = 0;
  lua_Integer n = 0;
  if (e->depth >= MAX_DEPTH) enc_error(e, "nesting deeper than 1000");
  for (s = e->top; s != NULL; s = s->parent)
    if (s->table == t) enc_error(e, "table contains itself (a cycle)");
  if (!lua_checkstack(L, 8)) enc_error(e, "nesting too deep for the Lua stack");
  m = marker(e, idx);
  if (m == 1) { kind = 1; n = array_length(e, idx, 1); }  /* may raise */
  else if (m == 2) kind = 2;
  else {
    /* unmarked: the first key decides; the pass then checks the rest */
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) kind = 0;        /* empty: {} */
    else {
      kind = lua_type(L, -2) == LUA_TSTRING ? 2 : lua_isinteger(L, -2) ? 1 : 3;
      if (kind == 3) enc_error(e, BADKEY);
      if (kind == 2 && !e->pretty) primed = 1;  /* go on from this pair */
      else lua_pop(L, 2);
    }
    if (kind == 1) n = array_length(e, idx, 0);
  }
  if (kind == 0) { put(e, "{}", 2); return; }
  step.table = t;
  step.key = NULL;
  step.index = 0;
  step.parent = e->top;
  e->top = &step;
  e->depth++;
  if (kind == 1) enc_array(e, idx, n, &step);
  else if (e->pretty) enc_object_sorted(e, idx, m == 2, &step);
  else enc_object(e, idx, m == 2, &step, primed);
  e->depth--;
  e->top = step.parent;
}

static void enc_value (Enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put(e, "null", 4); break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) put(e, "true", 4); else put(e, "false", 5);
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) enc_integer(e, lua_tointeger(L, idx));
      else enc_float(e, lua_tonumber(L, idx));
      break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      enc_string(e, s, n);
      break;
    }
    case LUA_TTABLE: enc_table(e, idx); break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { put(e, "null", 4); break; }
      /* fall through */
    default:
      enc_error(e, lua_pushfstring(L, "a %s cannot be sent as JSON",
                                   luaL_typename(L, idx)));
  }
}

static void encode (lua_State *L, int idx, const char *what, int pretty) {
  Enc e;
  int top;
  idx = lua_absindex(L, idx);
  top = lua_gettop(L);
  /* take the kept buffer, or make one */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_key) == LUA_TUSERDATA) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &box_key);
    e.b = (Box *)lua_touserdata(L, -1);
  }
  else {
    lua_pop(L, 1);
    e.b = (Box *)lua_newuserdatauv(L, sizeof(Box), 0);
    e.b->data = NULL;
    e.b->keys = NULL;
    e.b->cap = e.b->kcap = 0;
    luaL_setmetatable(L, BOX_MT);
  }
  e.L = L;
  e.out = e.b->data;
  e.lim = e.b->data + e.b->cap;
  e.depth = 0;
  e.pretty = pretty;
  e.ktop = 0;
  e.what = what;
  e.top = NULL;
  luaL_getmetatable(L, ARRAY_MT);
  e.array_mt = lua_gettop(L);
  luaL_getmetatable(L, OBJECT_MT);
  e.object_mt = lua_gettop(L);
  enc_value(&e, idx);
  if (pretty) PUTC(&e, '\n');
  lua_pushlstring(L, e.b->data ? e.b->data : "", (size_t)(e.out - e.b->data));
  if (e.b->cap > KEEP_MAX) {  /* a huge one is not kept */
    free(e.b->data);
    e.b->data = NULL;
    e.b->cap = 0;
  }
  if (e.b->kcap > KEEP_MAX / sizeof(Key)) {
    free(e.b->keys);
    e.b->keys = NULL;
    e.b->kcap = 0;
  }
  lua_pushvalue(L, top + 1);  /* the box goes back for the next call */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &box_key);
  lua_replace(L, top + 1);    /* the result where the box was */
  lua_settop(L, top + 1);
}

void zis_json_encode (lua_State *L, int idx, const char *what) {
  encode(L, idx, what, 0);
}

void zis_json_pretty (lua_State *L, int idx, const char *what) {
  encode(L, idx, what, 1);
}

/* ======================================================================
** Lua functions: zis.array, zis.object
** ====================================================================== */

/* array(t) / object(t): marks t (a new table if none) and returns it */
static int mark (lua_State *L, const char *mt) {
  if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, mt);
  return 1;
}

static int json_array (lua_State *L) { return mark(L, ARRAY_MT); }
static int json_object (lua_State *L) { return mark(L, OBJECT_MT); }

/* decode_json(s) -> value | nil, message */
static int json_decode (lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (zis_json_decode_buf(L, s, n)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* encode_json(v[, what]) -> string; raises on a value JSON cannot hold,
** naming the value `what` (default "value"): the client names a request
** body's root (bundle, config) so errors point into it */
static int json_encode (lua_State *L) {
  luaL_checkany(L, 1);
  zis_json_encode(L, 1, luaL_optstring(L, 2, "value"));
  return 1;
}

/* pretty_json(v) -> string: as encode_json, indented, keys sorted */
static int json_pretty (lua_State *L) {
  luaL_checkany(L, 1);
  zis_json_pretty(L, 1, "value");
  return 1;
}

static const luaL_Reg json_funcs[] = {
  {"decode_json", json_decode},
  {"encode_json", json_encode},
  {"pretty_json", json_pretty},
  {"array", json_array},
  {"object", json_object},
  {NULL, NULL}
};

void zis_json_open (lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  lua_setfield(L, -2, "array_metatable");
  luaL_newmetatable(L, OBJECT_MT);
  lua_setfield(L, -2, "object_metatable");
  luaL_newmetatable(L, BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_setfuncs(L, json_funcs, 0);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
}

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

typedef struct Dec {
  lua_State *L;
  const char *start, *p, *end;
  int depth;
  int array_mt;             /* stack index of the zis.array metatable */
} Dec;

static NORETURN void dec_error (Dec *d, const char *what) {
  luaL_error(d->L, "%s at byte %d", what, (int)(d->p - d->start) + 1);
  abort();  /* not reached */
}

static void skip_ws (Dec *d) {
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

/* Pushes the string that starts after the opening quote at d->p. */
static void dec_string (Dec *d) {
  const char *s = d->p;
  luaL_Buffer b;
  /* fast path: no escape, so the bytes are the string */
  while (s < d->end && *s != '"' && *s != '\\' && (unsigned char)*s >= 0x20) s++;
  if (s < d->end && *s == '"') {
    lua_pushlstring(d->L, d->p, (size_t)(s - d->p));
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
    if (c != '\\') { luaL_addchar(&b, (char)c); d->p++; continue; }
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

/* Pushes a number: JSON's grammar checked here, so Lua's reader (which
** also takes hex and spaces) only ever sees a JSON number. */
static void dec_number (Dec *d) {
  const char *s = d->p;
  int is_int = 1;
  char tmp[64];
  size_t n;
  if (s < d->end && *s == '-') s++;
  if (s < d->end && *s == '0') s++;
  else if (s < d->end && *s >= '1' && *s <= '9')
    while (s < d->end && *s >= '0' && *s <= '9') s++;
  else dec_error(d, "bad number");
  if (s < d->end && *s == '.') {
    is_int = 0;
    s++;
    if (!(s < d->end && *s >= '0' && *s <= '9')) dec_error(d, "bad number");
    while (s < d->end && *s >= '0' && *s <= '9') s++;
  }
  if (s < d->end && (*s == 'e' || *s == 'E')) {
    is_int = 0;
    s++;
    if (s < d->end && (*s == '+' || *s == '-')) s++;
    if (!(s < d->end && *s >= '0' && *s <= '9')) dec_error(d, "bad number");
    while (s < d->end && *s >= '0' && *s <= '9') s++;
  }
  n = (size_t)(s - d->p);
  if (is_int && n <= 18) {  /* fits in int64 for sure: the common case */
    const char *q = d->p;
    int neg = (*q == '-');
    lua_Integer v = 0;
    if (neg) q++;
    while (q < s) v = v * 10 + (*q++ - '0');
    lua_pushinteger(d->L, neg ? -v : v);
  }
  else if (n < sizeof tmp) {
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
  d->p = s;
}

static void dec_literal (Dec *d, const char *lit, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0)
    dec_error(d, "unexpected character");
  d->p += n;
}

static void dec_value (Dec *d);

static void dec_object (Dec *d) {
  lua_State *L = d->L;
  d->p++;  /* '{' */
  lua_createtable(L, 0, 4);
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') { d->p++; return; }
  for (;;) {
    skip_ws(d);
    if (d->p >= d->end || *d->p != '"') dec_error(d, "expected a string key");
    d->p++;
    dec_string(d);
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') dec_error(d, "expected ':'");
    d->p++;
    dec_value(d);
    lua_rawset(L, -3);
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == '}') { d->p++; return; }
    dec_error(d, "expected ',' or '}'");
  }
}

static void dec_array (Dec *d) {
  lua_State *L = d->L;
  lua_Integer i = 0;
  d->p++;  /* '[' */
  lua_createtable(L, 4, 0);
  lua_pushvalue(L, d->array_mt);
  lua_setmetatable(L, -2);
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') { d->p++; return; }
  for (;;) {
    dec_value(d);
    lua_rawseti(L, -2, ++i);
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == ']') { d->p++; return; }
    dec_error(d, "expected ',' or ']'");
  }
}

static void dec_value (Dec *d) {
  skip_ws(d);
  if (d->p >= d->end) dec_error(d, "unexpected end of input");
  switch (*d->p) {
    case '{': case '[':
      if (++d->depth > MAX_DEPTH) dec_error(d, "nesting deeper than 1000");
      luaL_checkstack(d->L, 4, "JSON nesting");
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

/* Protected body of a decode: (lightuserdata text, integer length). */
static int dec_protected (lua_State *L) {
  Dec d;
  d.L = L;
  d.start = d.p = (const char *)lua_touserdata(L, 1);
  d.end = d.p + lua_tointeger(L, 2);
  d.depth = 0;
  luaL_getmetatable(L, ARRAY_MT);
  d.array_mt = lua_gettop(L);
  dec_value(&d);
  skip_ws(&d);
  if (d.p != d.end) dec_error(&d, "trailing characters");
  return 1;
}

int zis_json_decode_quiet (lua_State *L, const char *s, size_t n) {
  if (n == 0 || s == NULL) {
    lua_pushliteral(L, "empty body");
    return 0;
  }
  lua_pushcfunction(L, dec_protected);
  lua_pushlightuserdata(L, (void *)s);
  lua_pushinteger(L, (lua_Integer)n);
  return lua_pcall(L, 2, 1, 0) == LUA_OK;
}

/* ======================================================================
** Encoding
** ====================================================================== */

typedef struct Box {
  char *data;
  size_t len, cap;
} Box;

static int box_gc (lua_State *L) {
  Box *b = (Box *)luaL_checkudata(L, 1, BOX_MT);
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  return 0;
}

/* One step of the path to the value being encoded, for error messages. */
typedef struct Step {
  const void *table;        /* the table being written at this depth */
  const char *key;          /* NULL: an array index */
  size_t len;
  lua_Integer index;
} Step;

typedef struct Enc {
  lua_State *L;
  Box *b;
  int depth;
  int array_mt, object_mt;  /* stack indexes of the marker metatables */
  const char *what;         /* name of the root, e.g. "bundle" */
  Step path[MAX_DEPTH + 1];
} Enc;

/* Raises "zis: <what>.a.b[2]: <why>"; everything is owned by Lua. */
static NORETURN void enc_error (Enc *e, const char *why) {
  lua_State *L = e->L;
  luaL_Buffer b;
  int i;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "zis: ");
  luaL_addstring(&b, e->what);
  for (i = 0; i < e->depth; i++) {
    const Step *s = &e->path[i];
    if (s->key) { luaL_addchar(&b, '.'); luaL_addlstring(&b, s->key, s->len); }
    else {
      char n[32];
      snprintf(n, sizeof n, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)s->index);
      luaL_addstring(&b, n);
    }
  }
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, why);
  luaL_pushresult(&b);
  lua_error(L);
  abort();  /* not reached */
}

static void grow_slow (Enc *e, size_t need) {
  Box *b = e->b;
  {
    size_t cap = b->cap ? b->cap : 4096;
    char *p;
    while (cap < b->len + need) cap *= 2;
    p = (char *)realloc(b->data, cap);
    if (p == NULL) luaL_error(e->L, "zis: out of memory encoding JSON");
    b->data = p;
    b->cap = cap;
  }
}

static inline void grow (Enc *e, size_t need) {
  if (e->b->len + need > e->b->cap) grow_slow(e, need);
}

static inline void put (Enc *e, const char *s, size_t n) {
  grow(e, n);
  memcpy(e->b->data + e->b->len, s, n);
  e->b->len += n;
}

#define PUTC(e, c) do { grow(e, 1); (e)->b->data[(e)->b->len++] = (c); } while (0)

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

/* PLAIN[c]: byte c goes out as it is (printable ASCII but '"' and '\\') */
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

static void enc_string (Enc *e, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
  char *out;
  /* the common case, a plain string, is one copy */
  while (p < end && PLAIN[*p]) p++;
  if (p == end) {
    grow(e, n + 2);
    out = e->b->data + e->b->len;
    out[0] = '"';
    memcpy(out + 1, s, n);
    out[n + 1] = '"';
    e->b->len += n + 2;
    return;
  }
  grow(e, n + 2);
  PUTC(e, '"');
  put(e, s, (size_t)(p - (const unsigned char *)s));
  while (p < end) {
    run = p;
    while (p < end && PLAIN[*p]) p++;
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

/* The shortest %.Ng (N <= 17) that reads back as the same double, with a
** '.' (never the locale's comma) and always marked as a float. */
static void enc_float (Enc *e, lua_Number v) {
  char buf[40];
  int prec, n = 0, i, has_mark = 0;
  if (v != v || v - v != 0)  /* NaN, or an infinity */
    enc_error(e, "NaN or infinity cannot be sent as JSON");
  /* 15 digits round-trip for most doubles; subnormals carry fewer bits
  ** and may need fewer digits, so for them the search starts at 1.
  ** snprintf and strtod share the C locale, so the check is sound before
  ** the locale's decimal mark is turned into '.' */
  prec = (v > -2.2250738585072014e-308 && v < 2.2250738585072014e-308) ? 1 : 15;
  for (; prec <= 17; prec++) {
    n = snprintf(buf, sizeof buf, "%.*" LUA_NUMBER_FRMLEN "g", prec, (LUAI_UACNUMBER)v);
    if (prec == 17 || strtod(buf, NULL) == v) break;
  }
  for (i = 0; i < n; i++) {
    if (!(buf[i] >= '0' && buf[i] <= '9') && buf[i] != '-' && buf[i] != '+'
        && buf[i] != 'e') buf[i] = '.';
    if (buf[i] == '.' || buf[i] == 'e') has_mark = 1;
  }
  put(e, buf, (size_t)n);
  if (!has_mark) put(e, ".0", 2);
}

/* Decimal digits of an integer, without printf's format parsing. */
static void enc_integer (Enc *e, lua_Integer v) {
  char buf[24], *p = buf + sizeof buf;
  lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;
  do { *--p = (char)('0' + u % 10); u /= 10; } while (u != 0);
  if (v < 0) *--p = '-';
  put(e, p, (size_t)(buf + sizeof buf - p));
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
      enc_error(e, "mixed or sparse table is neither array nor object "
                   "(mark it with zis.array or zis.object)");
    }
    count++;
  }
  if (count != n) enc_error(e, "mixed or sparse table is neither array nor object "
                               "(mark it with zis.array or zis.object)");
  return n;
}

static void enc_array (Enc *e, int idx, lua_Integer n, Step *step) {
  lua_Integer i;
  PUTC(e, '[');
  for (i = 1; i <= n; i++) {
    if (i > 1) PUTC(e, ',');
    step->key = NULL;
    step->index = i;
    lua_rawgeti(e->L, idx, i);
    enc_value(e, lua_gettop(e->L));
    lua_pop(e->L, 1);
  }
  PUTC(e, ']');
}

/* One pass: keys are written as they come.  Integer keys are allowed only
** in a table marked with zis.object (written as strings). */
static void enc_object (Enc *e, int idx, int marked, Step *step) {
  lua_State *L = e->L;
  int first = 1;
  PUTC(e, '{');
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    size_t klen;
    const char *k;
    char num[32];
    if (lua_type(L, -2) == LUA_TSTRING) k = lua_tolstring(L, -2, &klen);
    else if (lua_isinteger(L, -2) && marked) {
      klen = (size_t)snprintf(num, sizeof num, LUA_INTEGER_FMT,
                              (LUAI_UACINT)lua_tointeger(L, -2));
      k = num;
    }
    else if (lua_isinteger(L, -2))
      enc_error(e, "mixed or sparse table is neither array nor object "
                   "(mark it with zis.array or zis.object)");
    else
      enc_error(e, "table key is not a string or an integer (use zis.object "
                   "for integer keys)");
    step->key = k;
    step->len = klen;
    if (!first) PUTC(e, ',');
    first = 0;
    enc_string(e, k, klen);
    PUTC(e, ':');
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  PUTC(e, '}');
}

/* A table: a cycle is a table already on the path from the root, found by
** scanning the path (short) rather than keeping a set. */
static void enc_table (Enc *e, int idx) {
  lua_State *L = e->L;
  const void *t = lua_topointer(L, idx);
  int i, m;
  Step *step;
  if (e->depth >= MAX_DEPTH) enc_error(e, "nesting deeper than 1000");
  for (i = 0; i < e->depth; i++)
    if (e->path[i].table == t) enc_error(e, "table contains itself (a cycle)");
  luaL_checkstack(L, 6, "JSON nesting");
  m = marker(e, idx);
  step = &e->path[e->depth];
  step->table = t;
  if (m == 1) {
    lua_Integer n = array_length(e, idx, 1);   /* may raise: not on the path yet */
    e->depth++;
    enc_array(e, idx, n, step);
  }
  else if (m == 2) {
    e->depth++;
    enc_object(e, idx, 1, step);
  }
  else {
    /* unmarked: the first key decides; the pass then checks the rest */
    int kind;
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) kind = 0;        /* empty: {} */
    else {
      kind = lua_type(L, -2) == LUA_TSTRING ? 2 : lua_isinteger(L, -2) ? 1 : 3;
      lua_pop(L, 2);
      if (kind == 3)
        enc_error(e, "table key is not a string or an integer (use zis.object "
                     "for integer keys)");
    }
    if (kind == 1) {
      lua_Integer n = array_length(e, idx, 0);
      e->depth++;
      enc_array(e, idx, n, step);
    }
    else {
      e->depth++;
      enc_object(e, idx, 0, step);
    }
  }
  e->depth--;
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

void zis_json_encode (lua_State *L, int idx, const char *what) {
  Enc *e;
  int top;
  idx = lua_absindex(L, idx);
  /* the encoder state is big (the path): keep it in Lua memory too */
  e = (Enc *)lua_newuserdatauv(L, sizeof(Enc), 0);
  top = lua_gettop(L);
  e->L = L;
  e->depth = 0;
  e->what = what;
  e->b = (Box *)lua_newuserdatauv(L, sizeof(Box), 0);
  e->b->data = NULL;
  e->b->len = e->b->cap = 0;
  luaL_setmetatable(L, BOX_MT);
  luaL_getmetatable(L, ARRAY_MT);
  e->array_mt = lua_gettop(L);
  luaL_getmetatable(L, OBJECT_MT);
  e->object_mt = lua_gettop(L);
  enc_value(e, idx);
  lua_pushlstring(L, e->b->data ? e->b->data : "", e->b->len);
  free(e->b->data);        /* at once, rather than at the next GC cycle */
  e->b->data = NULL;
  e->b->len = e->b->cap = 0;
  lua_replace(L, top);     /* the result where the state was */
  lua_settop(L, top);
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

void zis_json_open (lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  lua_setfield(L, -2, "array_metatable");
  luaL_newmetatable(L, OBJECT_MT);
  lua_setfield(L, -2, "object_metatable");
  luaL_newmetatable(L, BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushcfunction(L, json_array);
  lua_setfield(L, -2, "array");
  lua_pushcfunction(L, json_object);
  lua_setfield(L, -2, "object");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
}

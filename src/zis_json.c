/*
** zis_json.c: exact JSON for lua-zis: the encoder, pretty_json and the
** module functions (the decoder is in zis_json_decode.c).
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
#include "zis_json_internal.h"

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

/* enc_string from p, the first byte that is not plain: escapes, and
** UTF-8 checked.  Out of line: most strings have none. */
static NOINLINE void enc_string_escaped (Enc *e, const char *s, size_t n,
                                         const unsigned char *p) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *end = (const unsigned char *)s + n, *run;
  PUTC(e, '"');
  put(e, s, (size_t)(p - (const unsigned char *)s));
  while (p < end) {
    run = p;
    p = (const unsigned char *)skip_plain_string((const char *)p, (const char *)end);
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

/* A string: the common case, plain, is one copy, by fixed-size moves
** where the length allows (a memcpy call costs more for short keys). */
static ALWAYS_INLINE void enc_string (Enc *e, const char *s, size_t n) {
  const char *p = skip_plain_string(s, s + n);
  char *out;
  if (p != s + n) { enc_string_escaped(e, s, n, (const unsigned char *)p); return; }
  grow(e, n + 2);
  out = e->out;
  out[0] = '"';
  if (n >= 8 && n <= 16) {
    memcpy(out + 1, s, 8);
    memcpy(out + 1 + n - 8, s + n - 8, 8);
  }
  else if (n >= 4 && n < 8) {
    memcpy(out + 1, s, 4);
    memcpy(out + 1 + n - 4, s + n - 4, 4);
  }
  else if (n > 16 && n <= 32) {
    memcpy(out + 1, s, 16);
    memcpy(out + 1 + n - 16, s + n - 16, 16);
  }
  else if (n > 0 && n < 4) {  /* first, middle and last byte cover 1 to 3 */
    out[1] = s[0];
    out[1 + n / 2] = s[n / 2];
    out[n] = s[n - 1];
  }
  else memcpy(out + 1, s, n);
  out[n + 1] = '"';
  e->out += n + 2;
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

static ALWAYS_INLINE void enc_value (Enc *e, int idx);

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
static NOINLINE void enc_table (Enc *e, int idx) {
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

/* Inline where a value is written; tables (the only recursion) and
** errors are calls. */
static ALWAYS_INLINE void enc_value (Enc *e, int idx) {
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
    luaL_setmetatable(L, BOX_MT);  /* armed first: it owns what follows */
  }
  e.L = L;
  if (e.b->data == NULL) {
    /* a buffer from the start, so no pointer arithmetic on NULL (UBSan,
    ** found by make fuzz) */
    e.b->data = (char *)malloc(4096);
    if (e.b->data == NULL) luaL_error(L, "zis: out of memory encoding JSON");
    e.b->cap = 4096;
  }
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

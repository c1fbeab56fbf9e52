/*
** json_fuzz.c: libFuzzer target for the JSON codec (make fuzz).
**
** For any input: decoding never crashes; when it succeeds and the value
** can be encoded (it may hold invalid UTF-8 or an infinity, which the
** encoder refuses), decoding the encoding gives the same value exactly:
** integers stay integers, floats the same double, arrays arrays, objects
** objects, null null, strings the same bytes; and the same holds for
** pretty_json's text.  Since the decoder refuses what the encoder cannot
** write (invalid UTF-8, numbers beyond a double), every value it accepts
** must encode: an encoder refusal aborts too.  A float at the top level
** must be what strtod reads.  Anything else aborts.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "zis_json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static lua_State *L;

static int same (int a, int b);

static int same_table (int a, int b) {
  int ma, mb, eq;
  lua_Integer na = 0, nb = 0;
  /* recursion as deep as the data (up to 1000): claim stack per level */
  luaL_checkstack(L, 6, "comparison nesting");
  ma = lua_getmetatable(L, a); if (ma) lua_pop(L, 1);
  mb = lua_getmetatable(L, b); if (mb) lua_pop(L, 1);
  if (ma != mb) return 0;
  lua_pushnil(L);
  while (lua_next(L, a) != 0) {
    na++;
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    eq = same(lua_gettop(L) - 1, lua_gettop(L));
    lua_pop(L, 2);
    if (!eq) { lua_pop(L, 1); return 0; }
  }
  lua_pushnil(L);
  while (lua_next(L, b) != 0) { nb++; lua_pop(L, 1); }
  return na == nb;
}

static int same (int a, int b) {
  int t = lua_type(L, a);
  if (t != lua_type(L, b)) return 0;
  switch (t) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
      if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
      return lua_tonumber(L, a) == lua_tonumber(L, b);
    case LUA_TTABLE: return same_table(a, b);
    default: return lua_rawequal(L, a, b);
  }
}

static int roundtrip (lua_State *S) {
  size_t n;
  const char *s;
  zis_json_encode(S, 1, "value");
  s = lua_tolstring(S, -1, &n);
  if (!zis_json_decode_buf(S, s, n)) abort();  /* our own output refused */
  if (!same(1, lua_gettop(S))) abort();
  lua_settop(S, 1);
  zis_json_pretty(S, 1, "value");
  s = lua_tolstring(S, -1, &n);
  if (!zis_json_decode_buf(S, s, n)) abort();
  if (!same(1, lua_gettop(S))) abort();
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    zis_json_open(L);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  if (zis_json_decode_buf(L, (const char *)data, size)) {
    if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) && size < 512) {
      char text[512];
      memcpy(text, data, size);
      text[size] = '\0';
      if (strtod(text, NULL) != lua_tonumber(L, 1)) abort();
    }
    lua_pushcfunction(L, roundtrip);
    lua_insert(L, 1);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) abort();  /* accepted, so writable */
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}

/*
** zis_json.c: the JSON bridge, over a private lua-cjson instance.
**
** lua-cjson exports no C API, so the core requires it once, makes its own
** instance with cjson.new() (the caller's global cjson settings are never
** touched), and keeps that instance's decode/encode in the registry under
** the address of a static, called under lua_pcall.
*/
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "zis_json.h"

static const char CODEC_KEY = 'j';  /* registry key: {decode =, encode =} */

void zis_json_open (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);             /* a private instance */
  lua_remove(L, -2);
  /* cjson refuses tables nested deeper than its limit instead of
  ** overflowing the C stack; keep the default (1000). */
  lua_createtable(L, 0, 3);
  lua_getfield(L, -2, "decode"); lua_setfield(L, -2, "decode");
  lua_getfield(L, -2, "encode"); lua_setfield(L, -2, "encode");
  lua_getfield(L, -2, "null"); lua_setfield(L, -2, "null");
  lua_getfield(L, -1, "null");
  lua_setfield(L, -4, "null");  /* core.null: the decoded JSON null */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CODEC_KEY);
  lua_pop(L, 1);
}

/* Calls codec[fn](value at idx) under pcall; leaves result or message. */
static int call_codec (lua_State *L, const char *fn, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CODEC_KEY);
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_pushvalue(L, idx);
  return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

int zis_json_decode_quiet (lua_State *L, const char *s, size_t n) {
  int ok;
  if (n == 0 || s == NULL) {
    lua_pushliteral(L, "empty body");
    return 0;
  }
  lua_pushlstring(L, s, n);
  ok = call_codec(L, "decode", -1);
  lua_remove(L, -2);
  if (!ok && lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "invalid JSON");
  }
  return ok;
}

void zis_json_encode (lua_State *L, int idx, const char *what) {
  if (!call_codec(L, "encode", idx))
    luaL_error(L, "zis: %s cannot be sent as JSON: %s", what,
               luaL_optstring(L, -1, "?"));
}

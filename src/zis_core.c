/*
** zis_core.c: the module "zis.core" of lua-zis.
**
** The C core holds the mechanics; policy lives in Lua (options and their
** bounds, the endpoint table, parameter checks, retries, redirects, token
** refresh, hooks and errors are in the lua/zis/ modules; docs/design.md
** follows one call through both).  It is two modules:
**
**   zis.core  the exact JSON codec (zis_json*.c), files (zis_fs.c), the
**             clock and the version: no libcurl, so a command that only
**             reads bundles (zis validate, graph, run, test) starts
**             without loading libcurl and its thirty libraries (about
**             12 ms of a 24 ms start on a 2-core machine);
**   zis.net   the client userdata and its credentials (zis_client.c) and
**             the request engine on one curl multi per client
**             (zis_engine.c), with libcurl (zis_net.c).
**
** Lua code reads both through zis.core: the first time it asks zis.core
** for a name it does not have (core.new, core.submit, core.user_agent),
** zis.core requires zis.net and takes all its fields, once.
**
** The module keeps no global state.
*/

#include <time.h>

#include "lua.h"
#include "lauxlib.h"

#include "zis_version.h"
#include "zis_json.h"
#include "zis_fs.h"

/* Only luaopen_zis_core is exported; the build hides everything else. */
#define ZIS_API __attribute__((visibility("default")))

/* core.now() -> seconds on a monotonic clock (retry timers, elapsed) */
static int core_now (lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

/* The module table's __index: a name zis.core lacks is zis.net's.
** Requires zis.net, copies its fields into the module table (so later
** reads are plain table reads), drops this metatable and answers the
** name (nil if zis.net has none either).  require raises as it does for
** any module (libcurl missing, say).
** Stack on entry: [core, key]. */
static int core_index (lua_State *L) {
  lua_settop(L, 2);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "zis.net");
  lua_call(L, 1, 1);                    /* [core, key, net] */
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {            /* [core, key, net, k, v] */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);                /* [core, key, net, k, k, v] */
      lua_rawset(L, 1);
    }
  }
  lua_pushnil(L);
  lua_setmetatable(L, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, 1);                     /* core[key], raw: [core, key, net, v] */
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"now", core_now},
  {NULL, NULL}
};

ZIS_API int luaopen_zis_core (lua_State *L);

/* Stack: [-0, +1]: the module table. */
ZIS_API int luaopen_zis_core (lua_State *L) {
  luaL_newlib(L, core_funcs);
  zis_json_open(L);      /* decode/encode/pretty_json, null, array/object */
  zis_fs_open(L);    /* write_file, open_private, fsync_dir, list_dir... */
  lua_pushliteral(L, ZIS_VERSION);
  lua_setfield(L, -2, "version");
  lua_createtable(L, 0, 1);             /* zis.net on first use */
  lua_pushcfunction(L, core_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}

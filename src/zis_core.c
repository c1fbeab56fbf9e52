/*
** zis_core.c: the module "zis.core" of lua-zis.
**
** The C core holds the mechanics: the client userdata and its
** credentials (zis_client.c), the request engine on one curl multi per
** client (zis_engine.c) and the exact JSON codec (zis_json.c).  Policy
** lives in Lua: options and their bounds, the endpoint table, parameter
** checks, retries, redirects, token refresh, hooks and errors are in
** the lua/zis/ modules.  docs/design.md follows one call through both.
**
** The module keeps no global state but libcurl's one-time global init and
** the version facts read with it, below.
*/

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "zis.h"
#include "zis_json.h"
#include "zis_fs.h"

/* Only luaopen_zis_core is exported; the build hides everything else. */
#define ZIS_API __attribute__((visibility("default")))

/* ======================================================================
** Process-wide facts, computed once: libcurl's global init and what
** curl_version_info says.  In libcurl 7.88 curl_version_info rewrites
** static buffers on every call, so it must not run in two threads at
** once; pthread_once makes this the only place it runs.  After it, the
** module only reads these.
** ====================================================================== */

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static int curl_init_ok;          /* curl_global_init succeeded */
static int curl_threadsafe;       /* CURL_VERSION_THREADSAFE */
static char curl_version_text[32];
static char user_agent[96];

static void process_init (void) {
  curl_version_info_data *v;
  curl_init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  v = curl_version_info(CURLVERSION_NOW);
  curl_threadsafe = (v->features & CURL_VERSION_THREADSAFE) != 0;
  snprintf(curl_version_text, sizeof curl_version_text, "%s", v->version);
  snprintf(user_agent, sizeof user_agent, "lua-zis/" ZIS_VERSION " libcurl/%s %s",
           v->version, LUA_RELEASE);
}

const char *zis_user_agent (void) {
  return user_agent;
}

/* core.now() -> seconds on a monotonic clock (retry timers, elapsed) */
static int core_now (lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"now", core_now},
  {NULL, NULL}
};

ZIS_API int luaopen_zis_core (lua_State *L);

/* Stack: [-0, +1]: the module table. */
ZIS_API int luaopen_zis_core (lua_State *L) {
  pthread_once(&process_once, process_init);
  if (!curl_init_ok) return luaL_error(L, "zis: curl_global_init failed");
  if (!curl_threadsafe)  /* a libcurl older than 7.84 */
    return luaL_error(L, "zis: libcurl %s is too old (7.84 or later is needed)",
                      curl_version_text);
  luaL_newlib(L, core_funcs);
  zis_json_open(L);      /* decode/encode/pretty_json, null, array/object */
  zis_client_open(L);    /* new, state, begin_call, end_call, methods */
  zis_engine_open(L);    /* submit, wait, cancel, set_bearer, sockets */
  zis_fs_register(L);    /* fsync, fsync_dir, list_dir (export) */
  lua_pushliteral(L, ZIS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_text);
  lua_setfield(L, -2, "curl_version");
  lua_pushstring(L, user_agent);
  lua_setfield(L, -2, "user_agent");
  return 1;
}

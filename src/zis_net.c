/*
** zis_net.c: the module "zis.net" of lua-zis: the client userdata
** (zis_client.c) and the request engine (zis_engine.c) with libcurl.
** zis.core loads it the first time Lua asks zis.core for one of its
** names (see zis_core.c), so what never makes a request never loads
** libcurl.
**
** Its only global state is libcurl's one-time global init and the
** version facts read with it, below.
*/

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "zis.h"

/* Only luaopen_zis_net is exported; the build hides everything else. */
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

ZIS_API int luaopen_zis_net (lua_State *L);

/* Stack: [-0, +1]: the module table. */
ZIS_API int luaopen_zis_net (lua_State *L) {
  pthread_once(&process_once, process_init);
  if (!curl_init_ok) return luaL_error(L, "zis: curl_global_init failed");
  if (!curl_threadsafe)  /* a libcurl older than 7.84 */
    return luaL_error(L, "zis: libcurl %s is too old (7.84 or later is needed)",
                      curl_version_text);
  /* zis.core first: the codec's metatables, which the engine's results
  ** carry, are made when it opens */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "zis.core");
  lua_call(L, 1, 1);
  /* one lua-zis: a zis.core of another version (a checkout's beside an
  ** installed rock's) is refused, not mixed */
  if (lua_getfield(L, -1, "version") != LUA_TSTRING || strcmp(lua_tostring(L, -1), ZIS_VERSION) != 0)
    return luaL_error(L, "zis: zis.core %s and zis.net " ZIS_VERSION " are from different lua-zis "
                      "installations", luaL_optstring(L, -1, "(no version)"));
  lua_pop(L, 2);
  lua_newtable(L);
  zis_client_open(L);    /* new, state, begin_call, end_call, methods */
  zis_engine_open(L);    /* submit, wait, cancel, set_bearer, sockets */
  lua_pushstring(L, curl_version_text);
  lua_setfield(L, -2, "curl_version");
  lua_pushstring(L, user_agent);
  lua_setfield(L, -2, "user_agent");
  return 1;
}

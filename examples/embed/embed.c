/*
** embed.c: a host program that embeds Lua 5.4 and lets its scripts use
** lua-zis.  Build and run (make test does, against the local registry):
**
**   make build/embed && build/embed [-t THREADS] examples/embed/script.lua
**
** How a host should do it:
**   - one lua_State per thread; a zis client belongs to the state that
**     made it.  Separate states in separate threads are safe: the module
**     keeps no global state but libcurl's thread-safe global init.
**   - make the module findable through package.path / package.cpath (here
**     from ZIS_LUA_DIR and ZIS_LIB_DIR, else the usual search paths).
**   - run scripts under lua_pcall with a message handler, and turn errors
**     into text with luaL_tolstring: a lua-zis error object (a table with
**     __tostring) then prints as its one-line message.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

/* Prepends dir/?.lua;dir/?/init.lua (or dir/?.so) to package.path/cpath. */
static void add_path (lua_State *L, const char *field, const char *env, const char *pattern) {
  const char *dir = getenv(env);
  if (dir == NULL || *dir == '\0') return;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, pattern, dir, dir);
  lua_insert(L, -2);
  lua_pushliteral(L, ";");
  lua_insert(L, -2);
  lua_concat(L, 3);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

/* Message handler: keeps error objects as they are (the host can inspect
** their fields), adds a traceback to plain messages. */
static int on_error (lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) return 1;
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

typedef struct Job {
  const char *script;
  int id, status;
} Job;

/* Runs the script in a fresh state; the state is this thread's alone. */
static void *run (void *arg) {
  Job *job = (Job *)arg;
  lua_State *L = luaL_newstate();
  if (L == NULL) { job->status = 1; return NULL; }
  luaL_openlibs(L);
  add_path(L, "path", "ZIS_LUA_DIR", "%s/?.lua;%s/?/init.lua");
  add_path(L, "cpath", "ZIS_LIB_DIR", "%s/?.so;%s/?.so");
  lua_pushinteger(L, job->id);
  lua_setglobal(L, "THREAD");   /* lets the script tell the threads apart */
  lua_pushcfunction(L, on_error);
  if (luaL_loadfile(L, job->script) != LUA_OK || lua_pcall(L, 0, 0, 1) != LUA_OK) {
    int is_object = lua_type(L, -1) == LUA_TTABLE;
    const char *msg = luaL_tolstring(L, -1, NULL);  /* uses __tostring */
    fprintf(stderr, "embed[%d]: %s%s\n", job->id, msg,
            is_object ? " (a lua-zis error object)" : "");
    job->status = 1;
  }
  else job->status = 0;
  lua_close(L);  /* frees every client the script left open (their __gc) */
  return NULL;
}

int main (int argc, char **argv) {
  int threads = 1, i, failed = 0;
  const char *script;
  pthread_t tid[16];
  Job jobs[16];
  if (argc == 4 && strcmp(argv[1], "-t") == 0) {
    threads = atoi(argv[2]);
    script = argv[3];
  }
  else if (argc == 2) script = argv[1];
  else {
    fprintf(stderr, "usage: embed [-t THREADS] SCRIPT\n");
    return 2;
  }
  if (threads < 1 || threads > 16) {
    fprintf(stderr, "embed: 1 to 16 threads\n");
    return 2;
  }
  for (i = 0; i < threads; i++) {
    jobs[i].script = script;
    jobs[i].id = i + 1;
    if (pthread_create(&tid[i], NULL, run, &jobs[i]) != 0) return 1;
  }
  for (i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    failed |= jobs[i].status;
  }
  return failed;
}

/*
** poll_host.c: a host program with its own poll() loop that drives
** lua-zis without ever blocking in it.  Build and run (make test does,
** against the local registry):
**
**   make build/poll_host && build/poll_host examples/embed/poll_script.lua
**
** The script returns a list of tasks made with zis.loop.task(fn), whose
** clients have `scheduler = zis.loop.host()`.  For each task the host
** uses the generic interface of zis.loop:
**   task:step()   -> true when the task has ended (raises its error);
**   task:wants()  -> {[fd] = "r"|"w"|"rw"}, seconds: the sockets and the
**                    events each waits for, and the next timeout.
** Each turn the host polls every task's sockets together with its own
** 10 ms timer, and steps the tasks that are ready or due.  At the end it
** prints how many times its timer fired and the largest gap between two
** firings: the requests never held the loop.
*/
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#define MAX_TASKS 64
#define MAX_FDS 512
#define TICK_MS 10.0

static double now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

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

static int on_error (lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) return 1;  /* an error object: its __tostring later */
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

/* Calls tasks[i]:<method>() under the message handler at stack index 1;
** leaves nres results, or returns 0 after printing the error. */
static int call_task (lua_State *L, int tasks, int i, const char *method, int nres) {
  lua_geti(L, tasks, i);
  lua_getfield(L, -1, method);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, nres, 1) != LUA_OK) {
    fprintf(stderr, "poll_host: task %d: %s\n", i, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
    return 0;
  }
  return 1;
}

int main (int argc, char **argv) {
  lua_State *L;
  int tasks, ntasks, i, failed = 0;
  int done[MAX_TASKS + 1] = {0};
  double due[MAX_TASKS + 1];
  double last_tick, next_tick, max_gap = 0;
  long ticks = 0;
  if (argc != 2) { fprintf(stderr, "usage: poll_host SCRIPT\n"); return 2; }
  L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);
  add_path(L, "path", "ZIS_LUA_DIR", "%s/?.lua;%s/?/init.lua");
  add_path(L, "cpath", "ZIS_LIB_DIR", "%s/?.so");
  lua_pushcfunction(L, on_error);                     /* 1: message handler */
  if (luaL_loadfile(L, argv[1]) != LUA_OK || lua_pcall(L, 0, 1, 1) != LUA_OK
      || !lua_istable(L, -1)) {
    fprintf(stderr, "poll_host: %s\n", lua_istable(L, -1) ? "?" : luaL_tolstring(L, -1, NULL));
    lua_close(L);
    return 1;
  }
  tasks = lua_gettop(L);                              /* 2: the tasks */
  ntasks = (int)luaL_len(L, tasks);
  if (ntasks > MAX_TASKS) ntasks = MAX_TASKS;
  for (i = 1; i <= ntasks; i++) {
    if (!call_task(L, tasks, i, "step", 1)) { done[i] = 1; failed = 1; continue; }
    done[i] = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  last_tick = now_ms();
  next_tick = last_tick + TICK_MS;
  for (;;) {
    struct pollfd pfd[MAX_FDS];
    int owner[MAX_FDS], n = 0, live = 0;
    double t = now_ms(), wait = next_tick - t;
    /* what every task waits for */
    for (i = 1; i <= ntasks; i++) {
      if (done[i]) continue;
      if (!call_task(L, tasks, i, "wants", 2)) { done[i] = 1; failed = 1; continue; }
      live++;
      due[i] = t + lua_tonumber(L, -1) * 1e3;
      if (due[i] - t < wait) wait = due[i] - t;
      lua_pushnil(L);
      while (lua_next(L, -3) != 0) {                  /* fds table */
        const char *ev = lua_tostring(L, -1);
        if (n < MAX_FDS && lua_isinteger(L, -2) && ev != NULL) {
          pfd[n].fd = (int)lua_tointeger(L, -2);
          pfd[n].events = (short)((strchr(ev, 'r') ? POLLIN : 0) | (strchr(ev, 'w') ? POLLOUT : 0));
          pfd[n].revents = 0;
          owner[n++] = i;
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 2);
    }
    if (live == 0) break;
    if (wait < 0) wait = 0;
    poll(pfd, (nfds_t)n, (int)ceil(wait));
    /* the host's own timer */
    t = now_ms();
    if (t >= next_tick) {
      if (t - last_tick > max_gap) max_gap = t - last_tick;
      ticks++;
      last_tick = t;
      next_tick = t + TICK_MS;
    }
    /* step the tasks whose sockets are ready or whose time has come */
    for (i = 1; i <= ntasks; i++) {
      int ready = !done[i] && due[i] <= t, k;
      for (k = 0; k < n && !ready && !done[i]; k++)
        if (owner[k] == i && pfd[k].revents) ready = 1;
      if (!ready) continue;
      if (!call_task(L, tasks, i, "step", 1)) { done[i] = 1; failed = 1; continue; }
      done[i] = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  printf("poll_host: %d task(s), timer fired %ld times, largest gap %.1f ms\n",
         ntasks, ticks, max_gap);
  lua_close(L);
  return failed;
}

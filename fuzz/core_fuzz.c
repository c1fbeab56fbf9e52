/*
** core_fuzz.c: libFuzzer target for the core's input handling (make fuzz).
**
** It includes src/zis_engine.c to reach the engine's static curl
** callbacks, so nothing is exported for it; the rest of the core is linked
** as it is built, and the Lua layer comes from lua/ (ZIS_FUZZ_ROOT), driven
** through fuzz/core_fuzz.lua, which holds the checks.
**
** The first byte picks the case:
**   odd   a call: the bytes become a row of zis.endpoints and arguments
**         for zis.client.build (core_fuzz.lua: call).
**   even  a response: the second byte gives the status (with bit 1 of the
**         first: 100 to 611), the third the
**         response size limit; then header lines up to a blank line, then
**         the body.  Each header line goes to on_header in a buffer of its
**         exact size with no NUL after it (as libcurl hands them over), the
**         body to on_body in chunks of up to 7 bytes; the slot's fields
**         must stay terminated within their arrays and Retry-After be -1
**         or a number of seconds >= 0.  The result table, made as
**         push_result makes it for a JSON endpoint (a 2xx body decoded
**         from the buffer), becomes an error object in Lua (core_fuzz.lua:
**         response), whose tostring must be one line.
** A broken promise aborts, so libFuzzer keeps the input.
**
** The Lua VM is not instrumented, so a line hook gives libFuzzer the Lua
** layer's coverage: each (previous line, line) pair bumps a counter in
** its extra-counters section, and inputs that reach new lines are kept.
*/
#include "../src/zis_engine.c"

#include <stdint.h>
#include "lualib.h"

#ifndef ZIS_FUZZ_ROOT
#define ZIS_FUZZ_ROOT "."
#endif

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int luaopen_zis_core (lua_State *L);
int luaopen_zis_net (lua_State *L);

static lua_State *L;
static int ref_call, ref_response;   /* the two functions of core_fuzz.lua */

static Client client;
static Slot slot;

#define LUA_EDGES 16384
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[LUA_EDGES];
static uintptr_t last_line;

static void line_hook (lua_State *S, lua_Debug *ar) {
  uintptr_t here;
  if (!lua_getinfo(S, "S", ar)) return;
  here = ((uintptr_t)ar->source * 2654435761u) ^ (uintptr_t)ar->currentline * 40503u;
  lua_edges[(here ^ last_line) % LUA_EDGES]++;
  last_line = here >> 1;
}

static void check_field (const char *f, size_t cap, const char *what) {
  if (memchr(f, '\0', cap) == NULL) {
    fprintf(stderr, "core_fuzz: slot field %s is not terminated\n", what);
    abort();
  }
}

/* Feeds one piece to a callback in a heap buffer of exactly its size. */
static size_t feed (size_t (*cb) (char *, size_t, size_t, void *), const char *p, size_t n) {
  char *copy = (char *)malloc(n ? n : 1);
  size_t r;
  if (copy == NULL) abort();
  memcpy(copy, p, n);
  r = cb(copy, 1, n, &slot);
  free(copy);
  return r;
}

#define SET_FIELD(k, v) (lua_pushstring(L, (v)), lua_setfield(L, -2, (k)))

static void response_case (const uint8_t *data, size_t size) {
  const char *in = (const char *)data + 3, *end = (const char *)data + size;
  const char *split = NULL, *p;
  long status = 100 + (long)data[1] * 2 + ((data[0] >> 1) & 1);   /* 100 .. 611 */
  size_t i, n = size - 3;
  memset(&client, 0, sizeof client);
  memset(&slot, 0, sizeof slot);
  slot.owner = &client;
  slot.retry_after = -1;
  client.max_response = 64 * (curl_off_t)(data[2] + 1);
  client.budget = data[2] & 1 ? 1024 : (size_t)1 << 20;
  for (i = 0; i + 1 < n; i++)
    if (in[i] == '\n' && in[i + 1] == '\n') { split = in + i + 1; break; }
  /* header lines, each with its '\n' */
  for (p = in; p < (split ? split : end); ) {
    const char *nl = memchr(p, '\n', (size_t)((split ? split : end) - p));
    size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)((split ? split : end) - p);
    if (feed(on_header, p, len) != len) abort();  /* on_header takes every line */
    p += len;
  }
  check_field(slot.reason, sizeof slot.reason, "reason");
  check_field(slot.content_type, sizeof slot.content_type, "content_type");
  check_field(slot.request_id, sizeof slot.request_id, "request_id");
  if (!(slot.retry_after == -1 || slot.retry_after >= 0)) {
    fprintf(stderr, "core_fuzz: retry_after is %g\n", slot.retry_after);
    abort();
  }
  if (split) {
    for (p = split + 1; p < end; ) {   /* the body */
      size_t k = (size_t)(end - p) < 7 ? (size_t)(end - p) : 7;
      if (feed(on_body, p, k) != k) break;
      p += k;
    }
  }
  if (client.held != slot.body.len || (curl_off_t)slot.body.len > client.max_response) abort();
  /* the result table, as push_result makes it */
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_response);
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, 1); lua_setfield(L, -2, "id");
  lua_pushnumber(L, 0.25); lua_setfield(L, -2, "elapsed");
  if (slot.too_large) {
    SET_FIELD("kind", "too_large");
    if (slot.over_budget) SET_FIELD("message", "responses in flight exceed the client's budget");
  }
  else {
    lua_pushinteger(L, status); lua_setfield(L, -2, "status");
    if (status >= 200 && status < 300) {  /* a JSON endpoint's answer: decoded from the buffer */
      if (zis_json_decode_buf(L, slot.body.data, slot.body.len)) lua_setfield(L, -2, "value");
      else lua_setfield(L, -2, "decode_error");
    }
    else {
      lua_pushlstring(L, slot.body.data ? slot.body.data : "", slot.body.len);
      lua_setfield(L, -2, "body");
      if (slot.reason[0]) SET_FIELD("reason", slot.reason);
      if (slot.content_type[0]) SET_FIELD("content_type", slot.content_type);
    }
  }
  if (slot.request_id[0]) SET_FIELD("request_id", slot.request_id);
  if (slot.retry_after >= 0) {
    lua_pushnumber(L, slot.retry_after); lua_setfield(L, -2, "retry_after");
  }
  free(slot.body.data);
  slot.body.data = NULL;
  lua_pushlstring(L, (const char *)data + 3, n > 8 ? 8 : n);  /* row, flags, method */
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "zis.core", luaopen_zis_core, 0);
    luaL_requiref(L, "zis.net", luaopen_zis_net, 0);
    lua_getglobal(L, "package");
    lua_pushstring(L, ZIS_FUZZ_ROOT "/lua/?.lua;" ZIS_FUZZ_ROOT "/lua/?/init.lua");
    lua_setfield(L, -2, "path");
    if (luaL_dofile(L, ZIS_FUZZ_ROOT "/fuzz/core_fuzz.lua") != LUA_OK) {
      fprintf(stderr, "core_fuzz: %s\n", lua_tostring(L, -1));
      abort();
    }
    lua_getfield(L, -1, "call");
    ref_call = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "response");
    ref_response = luaL_ref(L, LUA_REGISTRYINDEX);
    /* the collector runs a step every few hundred bytes allocated */
    lua_gc(L, LUA_GCINC, 0, 400, 8);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    lua_settop(L, 0);
  }
  if (size < 3) return 0;
  lua_settop(L, 0);
  last_line = 0;
  if (data[0] & 1) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref_call);
    lua_pushlstring(L, (const char *)data + 1, size - 1);
  }
  else response_case(data, size);
  if (lua_pcall(L, lua_gettop(L) - 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "core_fuzz: %s\n", luaL_tolstring(L, -1, NULL));
    abort();
  }
  lua_settop(L, 0);
  return 0;
}

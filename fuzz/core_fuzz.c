/*
** core_fuzz.c: libFuzzer target for the C core's input handling
** (make fuzz).  It includes zis_core.c to reach its static functions.
**
** Mode 0 (response): the input is response headers and a body; they go
** through the header and body callbacks and become an error object, which
** is then printed with __tostring.  No crash, no leak.
** Mode 1 (paths): the input is user strings; percent-encoding must leave
** only unreserved characters and %XX, whatever the bytes; the job spec
** query must name the given integration; names pass the rule or raise.
*/
#include "../src/zis_core.c"
#include "lualib.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static lua_State *L;

static void check_encoded (const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '%') {
      if (i + 2 >= n) abort();  /* a cut escape */
      if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])) abort();
      i += 2;
    }
    else if (!(isalnum(ch) || ch == '-' || ch == '_' || ch == '~')) abort();
  }
}

/* (response bytes, status) -> error object -> tostring */
static int response_case (lua_State *S) {
  size_t n;
  const char *in = lua_tolstring(S, 1, &n);
  long status = (long)lua_tointeger(S, 2);
  const char *split = NULL;
  size_t i;
  Client *c = (Client *)lua_newuserdatauv(S, sizeof(Client), 0);
  Request r;
  memset(c, 0, sizeof *c);
  luaL_setmetatable(S, CLIENT_MT);  /* __gc frees the body buffer */
  c->base_url = xstrdup(S, "http://127.0.0.1");
  c->max_response_bytes = 4096;
  c->retry_after = -1;
  for (i = 0; i + 1 < n; i++)
    if (in[i] == '\n' && in[i + 1] == '\n') { split = in + i; break; }
  {
    const char *p = in, *end = split ? split : in + n;
    while (p < end) {  /* header lines, as libcurl hands them over */
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
      on_header((char *)p, 1, len, c);
      p += len;
    }
  }
  if (split) {
    const char *b = split + 2, *end = in + n;
    while (b < end) {  /* the body in chunks of up to 7 bytes */
      size_t k = (size_t)(end - b) < 7 ? (size_t)(end - b) : 7;
      if (on_body((char *)b, 1, k, c) != k) break;
      b += k;
    }
  }
  memset(&r, 0, sizeof r);
  r.method = "GET";
  r.path = "/api/services/zis/registry/x/bundles";
  r.want_basic = status & 1;
  push_error(S, c, &r, c->too_large ? K_TOO_LARGE : K_OK, status, 1);
  lua_pushcfunction(S, error_tostring);
  lua_pushvalue(S, -2);
  lua_call(S, 1, 1);
  if (lua_type(S, -1) != LUA_TSTRING) abort();
  return 0;
}

/* (integration, segment, job spec name) -> encodings */
static int path_case (lua_State *S) {
  size_t n, ilen;
  const char *s = lua_tolstring(S, 1, &n);
  const char *enc;
  size_t elen;
  push_pct(S, s, n);
  enc = lua_tolstring(S, -1, &elen);
  check_encoded(enc, elen);
  lua_pop(S, 1);
  if (valid_name(s, n)) {
    const char *integ = s;
    ilen = n;
    lua_settop(S, 2);
    push_jobspec_query(S, 2, integ, ilen);  /* may raise: fine */
    enc = lua_tolstring(S, -1, &elen);
    if (strncmp(enc, "job_spec_name=zis%3A", 20) != 0) abort();
    check_encoded(enc + 14, elen - 14);
    if (strncmp(enc + 20, integ, ilen) != 0 || strncmp(enc + 20 + ilen, "%3Ajob_spec%3A", 14) != 0)
      abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "zis.core", luaopen_zis_core, 0);
    lua_settop(L, 0);
  }
  if (size < 2) return 0;
  lua_settop(L, 0);
  if (data[0] & 1) {
    const char *a = (const char *)data + 1, *nul = memchr(a, '\0', size - 1);
    lua_pushcfunction(L, path_case);
    if (nul) {
      lua_pushlstring(L, a, (size_t)(nul - a));
      lua_pushlstring(L, nul + 1, size - 1 - (size_t)(nul - a) - 1);
    }
    else {
      lua_pushlstring(L, a, size - 1);
      lua_pushlstring(L, a, size - 1);
    }
  }
  else {
    lua_pushcfunction(L, response_case);
    lua_pushlstring(L, (const char *)data + 2, size - 2);
    lua_pushinteger(L, 100 + data[1] * 2);
  }
  (void)lua_pcall(L, 2, 0, 0);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}

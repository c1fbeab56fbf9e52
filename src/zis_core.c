/*
** zis_core.c: the C core of lua-zis (module "zis.core").
**
** It owns the mechanics: one libcurl easy handle per client (so keep-alive
** connections are reused across calls), the request loop with retries, the
** endpoint dispatcher driven by endpoints.h, JSON bridging, and the error
** objects.  Options, iterators and helpers live in lua/zis/init.lua.
**
** Memory rule: every resource a request holds (curl handle, header slist,
** response buffer, cached credential headers) belongs to the client
** userdata, so a Lua error raised anywhere (argument checks, a user's
** oauth_token function, out of memory) leaks nothing: __gc frees it.  No
** Lua function is called while libcurl is running: the curl callbacks only
** append to C buffers owned by the client.
*/

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "lua.h"
#include "lauxlib.h"

#include "endpoints.h"
#include "zis_json.h"

/* Only luaopen_zis_core is exported; the build hides everything else. */
#define ZIS_API __attribute__((visibility("default")))

#define ZIS_VERSION "0.1.0"
#define CLIENT_MT "zis.client"
#define ERROR_MT "zis.error"

/* user value slots of a client userdata */
#define UV_OAUTH_FN 1   /* oauth_token function, or nil */
#define UV_HOOK 2       /* on_request function, or nil */
#define NUVALUES 2

/* ======================================================================
** Client userdata
** ====================================================================== */

typedef struct Buf {
  char *data;
  size_t len, cap;
} Buf;

/* What one response leaves behind: filled by the curl callbacks (C only). */
typedef struct Resp {
  Buf body;
  int too_large;
  curl_off_t max;              /* max_response_bytes */
  char reason[64];
  char content_type[96];
  char request_id[96];
  double retry_after;          /* seconds, or -1 when not sent */
  char errbuf[CURL_ERROR_SIZE];  /* libcurl's words for a transport failure */
  CURLcode rc;
} Resp;

typedef struct Client {
  CURL *curl;                  /* NULL once closed */
  struct curl_slist *headers;  /* headers of the request in flight */
  char *base_url;              /* "https://host[:port]", no trailing slash */
  char *basic_header;          /* "Authorization: Basic ..." or NULL */
  char *bearer_header;         /* "Authorization: Bearer ..." or NULL */
  const char *basic_kind;      /* "token" or "password" (static) */
  int oauth_kind;              /* 0 none, 1 string, 2 function */
  long timeout_ms, connect_timeout_ms;
  int retries;
  double retry_base_delay, max_retry_wait;
  int debug;
  int busy;                    /* a call is in flight (hooks may not re-enter) */
  int follow_redirects;        /* opt-in, and then same origin only */
  char *ca_file, *ca_path, *proxy;
  uint64_t rng;                /* jitter state; per client, no global state */
  Resp resp;                   /* what the last attempt received */
} Client;

static void buf_free (Buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Overwrites a secret before its memory goes back to the allocator. */
static void free_secret (char **p) {
  if (*p != NULL) {
    volatile char *v = *p;
    size_t n = strlen(*p);
    while (n--) *v++ = 0;
    free(*p);
    *p = NULL;
  }
}

/* Idempotent: serves close(), __gc and __close. */
static int client_close (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->curl != NULL) curl_easy_cleanup(c->curl);
  c->curl = NULL;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  free_secret(&c->basic_header);
  free_secret(&c->bearer_header);
  free_secret(&c->proxy);  /* a proxy URL may carry a password */
  free(c->base_url); c->base_url = NULL;
  free(c->ca_file); c->ca_file = NULL;
  free(c->ca_path); c->ca_path = NULL;
  buf_free(&c->resp.body);
  return 0;
}

static Client *check_client (lua_State *L, int idx) {
  Client *c = (Client *)luaL_checkudata(L, idx, CLIENT_MT);
  if (c->curl == NULL) luaL_error(L, "zis: client is closed");
  return c;
}

static const char *auth_kind (const Client *c) {
  if (c->basic_header && c->oauth_kind) {
    return strcmp(c->basic_kind, "token") == 0 ? "token+oauth" : "password+oauth";
  }
  if (c->basic_header) return c->basic_kind;
  return c->oauth_kind ? "oauth" : "none";
}

static int client_tostring (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->curl == NULL) lua_pushliteral(L, "zis.client (closed)");
  else lua_pushfstring(L, "zis.client (%s, auth: %s)", c->base_url, auth_kind(c));
  return 1;
}

/* ======================================================================
** Small helpers
** ====================================================================== */

static char *xstrdup (lua_State *L, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  if (d == NULL) luaL_error(L, "zis: out of memory");
  memcpy(d, s, n);
  return d;
}

static const char B64[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns malloc'd "<prefix><base64(s)>", or NULL when out of memory. */
static char *b64_header (const char *prefix, const char *s, size_t n) {
  size_t plen = strlen(prefix);
  char *out = (char *)malloc(plen + 4 * ((n + 2) / 3) + 1);
  char *o;
  size_t i;
  if (out == NULL) return NULL;
  memcpy(out, prefix, plen);
  o = out + plen;
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v = ((unsigned char)s[i] << 16) | ((unsigned char)s[i+1] << 8)
               | (unsigned char)s[i+2];
    *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63];
    *o++ = B64[(v >> 6) & 63]; *o++ = B64[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned char)s[i] << 16;
    if (i + 1 < n) v |= (unsigned char)s[i+1] << 8;
    *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63];
    *o++ = (i + 1 < n) ? B64[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o = '\0';
  return out;
}

/* Pushes `s` percent-encoded: everything but unreserved ALPHA DIGIT - _ ~
** is escaped, '.' included, so no value can form a dot segment. */
static void push_pct (lua_State *L, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (isalnum(ch) || ch == '-' || ch == '_' || ch == '~') luaL_addchar(&b, ch);
    else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[ch >> 4]);
      luaL_addchar(&b, hex[ch & 15]);
    }
  }
  luaL_pushresult(&b);
}

/* The API's rule for integration names: 1 to 64 of a-z 0-9 - _ */
static int valid_name (const char *s, size_t n) {
  size_t i;
  if (n < 1 || n > 64) return 0;
  for (i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
          || ch == '-' || ch == '_')) return 0;
  }
  return 1;
}

/* A string argument, strictly: a number is not silently turned into one. */
static const char *check_string (lua_State *L, int arg, size_t *len) {
  if (lua_type(L, arg) != LUA_TSTRING) luaL_typeerror(L, arg, "string");
  return lua_tolstring(L, arg, len);
}

static const char *check_name (lua_State *L, int arg, size_t *len) {
  const char *s = check_string(L, arg, len);
  if (!valid_name(s, *len))
    luaL_argerror(L, arg, "integration name must be 1 to 64 of a-z 0-9 - _");
  return s;
}

static double now_seconds (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_seconds (double s) {
  struct timespec ts;
  if (s <= 0) return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* xorshift64*: jitter only needs to spread clients apart, not be secret */
static double rand01 (Client *c) {
  c->rng ^= c->rng >> 12; c->rng ^= c->rng << 25; c->rng ^= c->rng >> 27;
  return (double)((c->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ======================================================================
** libcurl callbacks: C only, no Lua, so nothing can longjmp through curl
** ====================================================================== */

static size_t on_body (char *p, size_t size, size_t n, void *ud) {
  Resp *c = (Resp *)ud;
  size_t add = size * n;
  if ((curl_off_t)(c->body.len + add) > c->max) {
    c->too_large = 1;
    return 0;  /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (c->body.len + add + 1 > c->body.cap) {
    size_t cap = c->body.cap ? c->body.cap : 16384;
    char *d;
    while (cap < c->body.len + add + 1) cap *= 2;
    d = (char *)realloc(c->body.data, cap);
    if (d == NULL) return 0;
    c->body.data = d;
    c->body.cap = cap;
  }
  memcpy(c->body.data + c->body.len, p, add);
  c->body.len += add;
  return add;
}

/* Copies a header value, trimmed, into a fixed field. */
static void copy_value (char *dst, size_t cap, const char *v, size_t n) {
  while (n > 0 && (*v == ' ' || *v == '\t')) { v++; n--; }
  while (n > 0 && (v[n-1] == '\r' || v[n-1] == '\n' || v[n-1] == ' ')) n--;
  if (n >= cap) n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static int header_is (const char *line, size_t n, const char *name) {
  size_t k = strlen(name);
  return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static size_t on_header (char *line, size_t size, size_t n, void *ud) {
  Resp *c = (Resp *)ud;
  size_t len = size * n;
  if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
    /* a new response (after a 100 or a redirect): forget the last one's */
    const char *sp = memchr(line, ' ', len);
    c->reason[0] = c->content_type[0] = c->request_id[0] = '\0';
    c->retry_after = -1;
    if (sp != NULL) {
      const char *r = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line));
      if (r != NULL) copy_value(c->reason, sizeof c->reason, r + 1,
                                len - (size_t)(r + 1 - line));
    }
  }
  else if (header_is(line, len, "content-type"))
    copy_value(c->content_type, sizeof c->content_type, line + 13, len - 13);
  else if (header_is(line, len, "x-request-id"))
    copy_value(c->request_id, sizeof c->request_id, line + 13, len - 13);
  else if (header_is(line, len, "x-zendesk-request-id") && !c->request_id[0])
    copy_value(c->request_id, sizeof c->request_id, line + 21, len - 21);
  else if (header_is(line, len, "retry-after")) {
    char v[64];
    char *end;
    double s;
    copy_value(v, sizeof v, line + 12, len - 12);
    s = strtod(v, &end);
    if (end != v && *end == '\0' && s >= 0) c->retry_after = s;
    else {  /* an HTTP date */
      time_t t = curl_getdate(v, NULL);
      if (t != -1) {
        double d = difftime(t, time(NULL));
        c->retry_after = d > 0 ? d : 0;
      }
    }
  }
  return len;
}

/* ======================================================================
** Error objects
** ====================================================================== */

static int is_redirect (long status) {
  return status == 301 || status == 302 || status == 303 || status == 307
      || status == 308;
}

static const char *std_reason (long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "HTTP error";
  }
}

/* zis: DELETE /path: 404 Missing Resource (1020: bundle not found) */
static int error_tostring (lua_State *L) {
  luaL_Buffer b;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_buffinit(L, &b);
  lua_getfield(L, 1, "method");
  lua_getfield(L, 1, "path");
  lua_pushfstring(L, "zis: %s %s: ", luaL_optstring(L, -2, "?"),
                  luaL_optstring(L, -1, "?"));
  lua_remove(L, -2); lua_remove(L, -2);
  luaL_addvalue(&b);
  lua_getfield(L, 1, "status");
  if (lua_isinteger(L, -1)) {
    lua_pushfstring(L, "%d ", (int)lua_tointeger(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  else {
    lua_pop(L, 1);
    lua_getfield(L, 1, "kind");
    lua_pushfstring(L, "%s: ", luaL_optstring(L, -1, "error"));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  lua_getfield(L, 1, "message");
  if (lua_type(L, -1) == LUA_TSTRING) luaL_addvalue(&b);
  else lua_pop(L, 1);
  lua_getfield(L, 1, "code");
  lua_getfield(L, 1, "detail");
  if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
    lua_pushfstring(L, " (%s: %s)", lua_tostring(L, -2), lua_tostring(L, -1));
  else if (lua_type(L, -1) == LUA_TSTRING)
    lua_pushfstring(L, " (%s)", lua_tostring(L, -1));
  else if (lua_type(L, -2) == LUA_TSTRING)
    lua_pushfstring(L, " (%s)", lua_tostring(L, -2));
  else lua_pushliteral(L, "");
  lua_remove(L, -2); lua_remove(L, -2);
  luaL_addvalue(&b);
  lua_getfield(L, 1, "hint");
  if (lua_type(L, -1) == LUA_TSTRING) {
    lua_pushfstring(L, "; %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  else lua_pop(L, 1);
  luaL_pushresult(&b);
  return 1;
}

/* Sets t[k] = v when v is a string field of the table at `from`, converting
** numbers (the API sends codes as strings, but be lenient). */
static void copy_string_field (lua_State *L, int to, int from, const char *k) {
  int t = lua_getfield(L, from, k);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushstring(L, lua_tostring(L, -1));
    lua_setfield(L, to, k);
  }
  lua_pop(L, 1);
}

/* ======================================================================
** Requests
** ====================================================================== */

/* What one call needs, gathered once before the attempts. */
typedef struct Request {
  const char *method;
  const char *url;
  const char *path;            /* for errors and hooks; never secret */
  const char *body;            /* NULL for no body */
  size_t body_len;
  int want_basic;              /* endpoint is documented for basic only */
  int idempotent;
  /* filled in by the attempts */
  int kind, attempts;
  long status;
} Request;

/* Outcome kinds; K_OK with a non-2xx status is kind "http". */
enum { K_OK, K_NETWORK, K_TIMEOUT, K_TLS, K_TOO_LARGE, K_CONNECT, K_DECODE };

static const char *const KIND_NAMES[] = {
  "http", "network", "timeout", "tls", "too_large", "network", "decode"
};

static int classify (const Resp *rs, CURLcode rc) {
  switch (rc) {
    case CURLE_OK: return K_OK;
    case CURLE_OPERATION_TIMEDOUT: return K_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return K_CONNECT;  /* nothing was sent: safe to retry any method */
    case CURLE_FILESIZE_EXCEEDED: return K_TOO_LARGE;
    case CURLE_WRITE_ERROR: return rs->too_large ? K_TOO_LARGE : K_NETWORK;
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return K_TLS;
    default: return K_NETWORK;
  }
}

/* Picks the Authorization header for this attempt, calling the user's
** oauth_token function when a fresh bearer token is needed.  May raise
** (from the user's function): every allocation here is owned by `c`. */
static const char *pick_auth (lua_State *L, Client *c, const Request *r) {
  int use_bearer = c->oauth_kind && !(r->want_basic && c->basic_header);
  if (!use_bearer) return c->basic_header;
  if (c->bearer_header == NULL) {  /* only a function leaves it unset */
    const char *tok;
    size_t n;
    char *h;
    lua_getiuservalue(L, 1, UV_OAUTH_FN);
    lua_call(L, 0, 1);
    tok = lua_tolstring(L, -1, &n);
    if (tok == NULL || n == 0 || strlen(tok) != n || strpbrk(tok, "\r\n"))
      luaL_error(L, "zis: oauth_token function must return a non-empty token string");
    h = (char *)malloc(n + 23);
    if (h == NULL) luaL_error(L, "zis: out of memory");
    memcpy(h, "Authorization: Bearer ", 22);
    memcpy(h + 22, tok, n + 1);
    c->bearer_header = h;
    lua_pop(L, 1);
  }
  return c->bearer_header;
}

static void set_headers (lua_State *L, Client *c, const Request *r,
                         const char *auth) {
  struct curl_slist *h = NULL;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
#define ADD(s) do { struct curl_slist *t_ = curl_slist_append(h, s); \
    if (t_ == NULL) { curl_slist_free_all(h); luaL_error(L, "zis: out of memory"); } \
    h = t_; } while (0)
  ADD("Accept: application/json");
  ADD("Expect:");  /* no 100-continue round trip on large uploads */
  if (r->body != NULL) ADD("Content-Type: application/json");
  if (auth != NULL) ADD(auth);
#undef ADD
  c->headers = h;
}

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

static void push_user_agent (lua_State *L) {
  lua_pushstring(L, user_agent);
}

/* Sets up the easy handle for one attempt. Resetting drops every option
** but keeps the connection cache, so keep-alive still works. */
static void setup_easy (Client *c, CURL *e, Resp *rs, struct curl_slist *headers,
                        const Request *r, const char *ua) {
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  /* gzip and friends */
  curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  /* libcurl silently re-sends a request once when a reused keep-alive
  ** connection dies before any answer; for a request that must not be
  ** repeated (creating an integration, installing a job spec) that could
  ** make it happen twice, so such requests take a fresh connection. */
  if (!r->idempotent) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, rs->max);
  if (c->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
  if (c->ca_path) curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path);
  if (c->proxy) curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, rs);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, rs);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rs->errbuf);
  if (strcmp(r->method, "GET") == 0)
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  else {
    if (r->body != NULL || strcmp(r->method, "POST") == 0) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
}

/* Calls the on_request hook (user value 2) with one attempt's event; the
** event carries no header and no body, so it cannot hold a credential. */
static void call_hook (lua_State *L, Client *c, const Resp *rs, const Request *r, int attempt,
                       long status, int kind, double elapsed, double wait) {
  if (lua_getiuservalue(L, 1, UV_HOOK) != LUA_TFUNCTION && !c->debug) {
    lua_pop(L, 1);
    return;
  }
  lua_createtable(L, 0, 8);
  lua_pushstring(L, r->method); lua_setfield(L, -2, "method");
  lua_pushstring(L, r->path); lua_setfield(L, -2, "path");
  if (status) { lua_pushinteger(L, status); lua_setfield(L, -2, "status"); }
  if (kind != K_OK) { lua_pushstring(L, KIND_NAMES[kind]); lua_setfield(L, -2, "error"); }
  lua_pushnumber(L, elapsed); lua_setfield(L, -2, "elapsed");
  lua_pushinteger(L, attempt); lua_setfield(L, -2, "attempt");
  if (wait >= 0) { lua_pushnumber(L, wait); lua_setfield(L, -2, "retry_in"); }
  if (rs->request_id[0]) { lua_pushstring(L, rs->request_id); lua_setfield(L, -2, "request_id"); }
  if (c->debug) {
    fprintf(stderr, "zis: %s %s -> %ld%s%s (%.3fs, attempt %d)%s\n",
            r->method, r->path, status, kind != K_OK ? " " : "",
            kind != K_OK ? KIND_NAMES[kind] : "", elapsed, attempt,
            wait >= 0 ? ", retrying" : "");
  }
  if (lua_isfunction(L, -2)) lua_call(L, 1, 0);  /* stack: hook, event */
  else lua_pop(L, 2);
}


/* Builds the error object for a failed call and pushes it. */
static void push_error (lua_State *L, const Client *c, const Resp *rs, const Request *r, int kind,
                        long status, int attempts) {
  int e;
  lua_createtable(L, 0, 12);
  e = lua_gettop(L);
  luaL_setmetatable(L, ERROR_MT);
  lua_pushstring(L, KIND_NAMES[kind]);
  lua_setfield(L, e, "kind");
  lua_pushstring(L, r->method); lua_setfield(L, e, "method");
  lua_pushstring(L, r->path); lua_setfield(L, e, "path");
  lua_pushinteger(L, attempts); lua_setfield(L, e, "attempts");
  if (rs->request_id[0]) {
    lua_pushstring(L, rs->request_id);
    lua_setfield(L, e, "request_id");
  }
  if (kind == K_TOO_LARGE) {
    lua_pushfstring(L, "response larger than max_response_bytes (%I)",
                    (lua_Integer)rs->max);
    lua_setfield(L, e, "message");
    return;
  }
  if (kind != K_OK && kind != K_DECODE) {
    lua_pushstring(L, rs->errbuf);
    lua_setfield(L, e, "message");
    return;
  }
  lua_pushinteger(L, status); lua_setfield(L, e, "status");
  if (kind == K_DECODE) return;
  if (rs->retry_after >= 0) {
    lua_pushnumber(L, rs->retry_after);
    lua_setfield(L, e, "retry_after");
  }
  /* the body: a Zendesk envelope {"errors":[{code,detail,status}],
  ** "message":...}, or {"error":..., "description":...}, when JSON; else
  ** plain text (proxies, 429s), kept in part */
  if (zis_json_decode_quiet(L, rs->body.data, rs->body.len) && lua_istable(L, -1)) {
    int j = lua_gettop(L);
    copy_string_field(L, e, j, "message");
    if (lua_getfield(L, j, "errors") == LUA_TTABLE) {      /* j+1 */
      lua_pushvalue(L, j + 1);
      lua_setfield(L, e, "errors");
      if (lua_rawgeti(L, j + 1, 1) == LUA_TTABLE) {        /* j+2 */
        copy_string_field(L, e, j + 2, "code");
        copy_string_field(L, e, j + 2, "detail");
        if (lua_getfield(L, e, "message") == LUA_TNIL)
          copy_string_field(L, e, j + 2, "title");
      }
    }
    else if (lua_getfield(L, j, "error") == LUA_TSTRING) {   /* j+2 */
      lua_pushvalue(L, j + 2);
      lua_setfield(L, e, "code");
      if (lua_getfield(L, j, "description") == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        lua_setfield(L, e, "detail");
      }
    }
  }
  else if (rs->body.len > 0) {
    lua_settop(L, e);
    lua_pushlstring(L, rs->body.data, rs->body.len > 512 ? 512 : rs->body.len);
    lua_setfield(L, e, "body");
  }
  lua_settop(L, e);
  if (lua_getfield(L, e, "message") != LUA_TSTRING) {
    lua_pushstring(L, rs->reason[0] ? rs->reason : std_reason(status));
    lua_setfield(L, e, "message");
  }
  lua_pop(L, 1);
  if (is_redirect(status))
    lua_pushstring(L, c->follow_redirects
      ? "redirect not followed: it leaves the client's host (or loops), so "
        "credentials are not sent there"
      : "redirects are not followed; follow_redirects = true follows those "
        "that stay on the same host");
  else if (status == 401 && r->want_basic && !c->basic_header)
    lua_pushliteral(L, "this endpoint is documented for basic auth only: "
                       "configure email with token or password");
  else if (status == 401)
    lua_pushliteral(L, "check the credentials");
  else lua_pushnil(L);
  lua_setfield(L, e, "hint");
}

/* Forgets what the last attempt received (the buffer is kept for reuse). */
static void resp_reset (Resp *rs) {
  rs->body.len = 0;
  rs->too_large = 0;
  rs->reason[0] = rs->content_type[0] = rs->request_id[0] = rs->errbuf[0] = '\0';
  rs->retry_after = -1;
}

/* Makes sure a transport failure has words for its message. */
static void resp_explain (Resp *rs, int kind) {
  if (kind != K_OK && kind != K_TOO_LARGE && rs->errbuf[0] == '\0')
    snprintf(rs->errbuf, sizeof rs->errbuf, "%s", curl_easy_strerror(rs->rc));
}

/* Should this outcome be retried?  Returns the wait in seconds, or -1. */
static double retry_wait (Client *c, const Resp *rs, const Request *r, int kind, long status,
                          int attempt) {
  double cap, wait;
  int server_busy = (kind == K_OK && (status == 429 || status == 503));
  int retryable = server_busy || kind == K_CONNECT
    || (r->idempotent && (kind == K_NETWORK
                          || (kind == K_OK && (status == 502 || status == 504))));
  if (!retryable || attempt > c->retries) return -1;
  if (server_busy && rs->retry_after >= 0)
    return rs->retry_after > c->max_retry_wait ? c->max_retry_wait : rs->retry_after;
  /* exponential backoff, full jitter */
  cap = c->retry_base_delay * (double)(1u << (attempt > 16 ? 16 : attempt - 1));
  if (cap > c->max_retry_wait) cap = c->max_retry_wait;
  wait = cap * rand01(c);
  return wait;
}

/* The request loop.  Leaves the outcome in `c` (body, headers) and returns
** the kind; *status gets the HTTP status, *attempts the count. */
static int perform (lua_State *L, Client *c, Request *r, long *status,
                    int *attempts);

/* Protected body of a call's attempts: (client, lightuserdata Request).
** User code runs in here (oauth_token, on_request), so it runs under
** lua_pcall: the caller clears the busy flag however this ends. */
static int perform_protected (lua_State *L) {
  Client *c = (Client *)lua_touserdata(L, 1);
  Request *r = (Request *)lua_touserdata(L, 2);
  r->kind = perform(L, c, r, &r->status, &r->attempts);
  return 0;
}

/* A hook or oauth_token function may not call the client that is calling
** it: that call would overwrite the response in flight. */
static void check_idle (lua_State *L, const Client *c) {
  if (c->busy)
    luaL_error(L, "zis: client is busy: a hook or oauth_token function "
                  "may not call the client that called it");
}

/* Calls the function under its `nargs` arguments on top of the stack
** under lua_pcall, with the client marked busy; re-raises any error after
** clearing the mark, so the client stays usable. */
static void call_busy (lua_State *L, Client *c, int nargs) {
  int ok;
  c->busy = 1;
  ok = lua_pcall(L, nargs, 0, 0) == LUA_OK;
  c->busy = 0;
  if (!ok) lua_error(L);
}

/* Runs a single call's attempts. */
static void run_request (lua_State *L, Client *c, Request *r) {
  check_idle(L, c);
  lua_pushcfunction(L, perform_protected);
  lua_pushvalue(L, 1);
  lua_pushlightuserdata(L, r);
  call_busy(L, c, 2);
}

/* Does `url` stay on the client's origin (scheme, host and port)? */
static int same_origin (const Client *c, const char *url) {
  size_t n = strlen(c->base_url);
  return strncmp(url, c->base_url, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

/* May this redirect be followed?  Only when the user opted in, to the
** same origin (so never https -> http, and the Authorization header never
** leaves the host), at most 5 times, and for a method other than GET or
** DELETE only on 307/308, which promise the method and body are kept. */
static const char *follow_target (Client *c, const Request *r, long status,
                                  int redirects) {
  char *loc = NULL;
  if (!c->follow_redirects || redirects >= 5) return NULL;
  if (curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK
      || loc == NULL || !same_origin(c, loc)) return NULL;
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "DELETE") != 0
      && status != 307 && status != 308) return NULL;
  return loc;
}

static int perform (lua_State *L, Client *c, Request *r, long *status,
                    int *attempts) {
  int attempt, kind = K_OK, refreshed = 0, redirects = 0;
  const char *ua;
  int top = lua_gettop(L);
  push_user_agent(L);
  ua = lua_tostring(L, -1);  /* stays on the stack through the loop */
  for (attempt = 1; ; attempt++) {
    const char *auth = pick_auth(L, c, r);
    double t0, wait;
    CURLcode rc;
    set_headers(L, c, r, auth);
    setup_easy(c, c->curl, &c->resp, c->headers, r, ua);
    resp_reset(&c->resp);
    *status = 0;
    t0 = now_seconds();
    rc = curl_easy_perform(c->curl);
    c->resp.rc = rc;
    kind = classify(&c->resp, rc);
    if (kind == K_OK) curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    *attempts = attempt;
    /* a 401 with a token from the user's function: fetch a fresh one once */
    if (kind == K_OK && *status == 401 && c->oauth_kind == 2 && !refreshed
        && auth == c->bearer_header) {
      refreshed = 1;
      free_secret(&c->bearer_header);
      call_hook(L, c, &c->resp, r, attempt, *status, kind, now_seconds() - t0, 0);
      continue;
    }
    if (kind == K_OK && is_redirect(*status)) {
      const char *to = follow_target(c, r, *status, redirects);
      if (to != NULL) {
        call_hook(L, c, &c->resp, r, attempt, *status, kind, now_seconds() - t0, 0);
        lua_pushstring(L, to);  /* kept on the stack for the next attempt */
        r->url = lua_tostring(L, -1);
        r->path = r->url + strlen(c->base_url);
        redirects++;
        continue;
      }
    }
    wait = retry_wait(c, &c->resp, r, kind, *status, attempt);
    call_hook(L, c, &c->resp, r, attempt, *status, kind, now_seconds() - t0, wait);
    if (wait < 0) break;
    sleep_seconds(wait);
  }
  resp_explain(&c->resp, kind);
  lua_settop(L, top);
  return kind;
}

/* ======================================================================
** Endpoints
** ====================================================================== */

enum { P_NONE, P_NAME, P_SEGMENT, P_PAGE, P_DESCR, P_BUNDLE, P_JOBSPEC };
enum { A_BASIC, A_ANY };
#define F_IDEMPOTENT 1
#define F_TRUE 2
#define P0 {P_NONE, P_NONE}
#define P2(a, b) {a, b}

typedef struct Endpoint {
  const char *name, *method, *path;
  int params[2];
  int auth, flags;
} Endpoint;

#define ROW(n, m, p, ps, a, f) {n, m, p, ps, a, f},
static const Endpoint ENDPOINTS[] = { ZIS_ENDPOINTS(ROW) };
#undef ROW
#define NENDPOINTS (sizeof ENDPOINTS / sizeof ENDPOINTS[0])

/* Refuses keys of an options table that are not in `allowed`. */
static void check_keys (lua_State *L, int arg, const char *const allowed[]) {
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    int i, ok = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      for (i = 0; allowed[i]; i++)
        if (strcmp(lua_tostring(L, -2), allowed[i]) == 0) ok = 1;
    }
    if (!ok) {
      lua_pushvalue(L, -2);
      luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'",
                                            luaL_tolstring(L, -1, NULL)));
    }
    lua_pop(L, 1);
  }
}

/* Appends "&key=<pct(value)>" for an optional string/number option. */
static void add_query (lua_State *L, luaL_Buffer *b, int arg, const char *opt,
                       const char *key) {
  size_t n;
  const char *s;
  int t = lua_getfield(L, arg, opt);
  if (t == LUA_TNIL) { lua_pop(L, 1); return; }
  if (t != LUA_TSTRING)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a string", opt));
  s = lua_tolstring(L, -1, &n);
  push_pct(L, s, n);           /* stack: value, encoded */
  lua_remove(L, -2);
  lua_pushfstring(L, "%s%s=", luaL_bufflen(b) ? "&" : "", key);
  lua_insert(L, -2);           /* stack: "&key=", encoded */
  lua_concat(L, 2);
  luaL_addvalue(b);
}

/* Pushes the query string for P_PAGE options (may be empty). */
static void push_page_query (lua_State *L, int arg) {
  static const char *const allowed[] = {"page_size", "after", "before", NULL};
  luaL_Buffer b;
  if (lua_isnoneornil(L, arg)) { lua_pushliteral(L, ""); return; }
  luaL_checktype(L, arg, LUA_TTABLE);
  check_keys(L, arg, allowed);
  luaL_buffinit(L, &b);
  lua_getfield(L, arg, "page_size");
  if (!lua_isnil(L, -1)) {
    lua_Integer size;
    int isint;
    size = lua_tointegerx(L, -1, &isint);
    if (!lua_isinteger(L, -1) || !isint || size < 1 || size > 100)
      luaL_argerror(L, arg, "option 'page_size' must be an integer from 1 to 100");
    lua_pop(L, 1);
    lua_pushfstring(L, "page%%5Bsize%%5D=%d", (int)size);
    luaL_addvalue(&b);
  }
  else lua_pop(L, 1);
  add_query(L, &b, arg, "after", "page%5Bafter%5D");
  add_query(L, &b, arg, "before", "page%5Bbefore%5D");
  luaL_pushresult(&b);
}

/* Pushes "job_spec_name=zis%3A<i>%3Ajob_spec%3A<name>"; the full form must
** name the same integration as `arg - 1`. */
static void push_jobspec_query (lua_State *L, int arg, const char *integ,
                                size_t ilen) {
  size_t n;
  const char *name = check_string(L, arg, &n);
  const char *prefix = "zis:";
  if (n >= 4 && memcmp(name, prefix, 4) == 0) {
    /* zis:{integration}:job_spec:{name} */
    const char *rest = name + 4;
    if (!(n > 4 + ilen + 10 && memcmp(rest, integ, ilen) == 0
          && memcmp(rest + ilen, ":job_spec:", 10) == 0))
      luaL_argerror(L, arg, lua_pushfstring(L,
        "full job spec name must be 'zis:%s:job_spec:NAME'", integ));
    name = rest + ilen + 10;
    n -= 4 + ilen + 10;
  }
  if (n == 0) luaL_argerror(L, arg, "job spec name must not be empty");
  if (memchr(name, '\0', n) != NULL)
    luaL_argerror(L, arg, "job spec name must not contain NUL");
  lua_pushfstring(L, "zis:%s:job_spec:", integ);
  lua_pushlstring(L, name, n);
  lua_concat(L, 2);
  n = lua_rawlen(L, -1);
  push_pct(L, lua_tostring(L, -1), n);
  lua_remove(L, -2);
  lua_pushliteral(L, "job_spec_name=");
  lua_insert(L, -2);
  lua_concat(L, 2);
}

/* Pushes the JSON body for a P_DESCR or P_BUNDLE argument. */
static void push_body (lua_State *L, int kind, int arg) {
  if (kind == P_DESCR) {
    static const char *const allowed[] = {"description", NULL};
    lua_createtable(L, 0, 1);
    if (!lua_isnoneornil(L, arg)) {
      luaL_checktype(L, arg, LUA_TTABLE);
      check_keys(L, arg, allowed);
      if (lua_getfield(L, arg, "description") != LUA_TNIL
          && lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, arg, "option 'description' must be a string");
      lua_setfield(L, -2, "description");
    }
    zis_json_encode(L, lua_gettop(L), "description");
    lua_remove(L, -2);
    return;
  }
  /* P_BUNDLE: a JSON string goes out byte for byte */
  if (lua_type(L, arg) == LUA_TSTRING) { lua_pushvalue(L, arg); return; }
  luaL_argexpected(L, lua_istable(L, arg), arg, "table or JSON string");
  zis_json_encode(L, arg, "bundle");
}

/* Generic method: upvalue 1 is the index of the endpoint's row. */
static int ep_call (lua_State *L) {
  const Endpoint *ep = &ENDPOINTS[lua_tointeger(L, lua_upvalueindex(1))];
  Client *c = check_client(L, 1);
  const char *tmpl = ep->path, *integ = NULL;
  size_t ilen = 0;
  int i, query = 0, body = 0, base, kind, attempts;
  long status;
  Request r;
  luaL_Buffer path;
  lua_settop(L, 3);  /* self + two parameters: absent ones become nil */
  /* build the path: literal template text, "{}" replaced by parameters */
  luaL_buffinit(L, &path);
  for (i = 0; i < 2; i++) {
    int arg = i + 2, p = ep->params[i];
    if (p == P_NAME || p == P_SEGMENT) {
      const char *hole = strstr(tmpl, "{}");
      size_t n;
      const char *s;
      if (p == P_NAME) {
        s = check_name(L, arg, &n);
        integ = s; ilen = n;
      }
      else {
        s = check_string(L, arg, &n);
        luaL_argcheck(L, n > 0, arg, "must not be empty");
      }
      if (hole == NULL) continue;  /* name used only in the query */
      luaL_addlstring(&path, tmpl, (size_t)(hole - tmpl));
      tmpl = hole + 2;
      push_pct(L, s, n);
      luaL_addvalue(&path);
    }
  }
  luaL_addstring(&path, tmpl);
  luaL_pushresult(&path);
  base = lua_gettop(L);  /* path */
  /* the query and the body */
  for (i = 0; i < 2; i++) {
    int arg = i + 2, p = ep->params[i];
    if (p == P_PAGE) { push_page_query(L, arg); query = lua_gettop(L); }
    else if (p == P_JOBSPEC) {
      push_jobspec_query(L, arg, integ, ilen);
      query = lua_gettop(L);
    }
    else if (p == P_DESCR || p == P_BUNDLE) { push_body(L, p, arg); body = lua_gettop(L); }
  }
  if (query && lua_rawlen(L, query) > 0)
    lua_pushfstring(L, "%s?%s", lua_tostring(L, base), lua_tostring(L, query));
  else lua_pushvalue(L, base);
  r.path = lua_tostring(L, -1);
  lua_pushfstring(L, "%s%s", c->base_url, r.path);
  r.url = lua_tostring(L, -1);
  r.method = ep->method;
  r.body = body ? lua_tolstring(L, body, &r.body_len) : NULL;
  if (!body) r.body_len = 0;
  r.want_basic = ep->auth == A_BASIC;
  r.idempotent = (ep->flags & F_IDEMPOTENT) != 0;
  run_request(L, c, &r);
  kind = r.kind;
  status = r.status;
  attempts = r.attempts;
  if (kind != K_OK) {
    lua_pushnil(L);
    push_error(L, c, &c->resp, &r, kind, 0, attempts);
    return 2;
  }
  if (status < 200 || status > 299) {
    lua_pushnil(L);
    push_error(L, c, &c->resp, &r, K_OK, status, attempts);
    return 2;
  }
  if (ep->flags & F_TRUE) { lua_pushboolean(L, 1); return 1; }
  if (!zis_json_decode_quiet(L, c->resp.body.data, c->resp.body.len)) {
    /* a 2xx whose body is not JSON: the call did not give what it promised */
    const char *why = lua_tostring(L, -1);
    lua_pushnil(L);
    push_error(L, c, &c->resp, &r, K_DECODE, status, attempts);
    lua_pushfstring(L, "invalid JSON in a %d response: %s", (int)status, why);
    lua_setfield(L, -2, "message");
    return 2;
  }
  return 1;
}


/* ======================================================================
** Batches: client:get_bundles(integration, uuids, {concurrency =})
**
** Many GETs at once on curl's multi interface: `concurrency` easy handles
** share the multi handle's connection pool, each item is retried by the
** same rules as a single call (Retry-After honoured per item, without
** holding up the others), and results come back in the caller's order;
** one failure costs only its own item.  Everything is owned by a
** "zis.batch" userdata, so an error raised by user code (a hook) in the
** middle leaks nothing.
** ====================================================================== */

#define BATCH_MT "zis.batch"

typedef struct Slot {
  CURL *easy;
  Resp resp;
  int item;                    /* index (1-based) of the item in flight, or 0 */
  double started;
} Slot;

typedef struct Batch {
  CURLM *multi;
  Slot *slots;
  int nslots;
  struct curl_slist *headers;
  int *attempts;               /* per item */
  double *ready_at;            /* per item: not before this time (monotonic) */
  int nitems;
} Batch;

static int batch_gc (lua_State *L) {
  Batch *b = (Batch *)luaL_checkudata(L, 1, BATCH_MT);
  int i;
  for (i = 0; b->slots && i < b->nslots; i++) {
    if (b->slots[i].easy) {
      if (b->multi) curl_multi_remove_handle(b->multi, b->slots[i].easy);
      curl_easy_cleanup(b->slots[i].easy);
    }
    buf_free(&b->slots[i].resp.body);
  }
  if (b->multi) curl_multi_cleanup(b->multi);
  curl_slist_free_all(b->headers);
  free(b->slots); free(b->attempts); free(b->ready_at);
  memset(b, 0, sizeof *b);
  return 0;
}

/* The state of one run, on the C stack of batch_run (protected). */
typedef struct Run {
  Client *c;
  Batch *b;
  int urls, results, errors;   /* stack indexes: urls[i], out tables */
  const char *ua;
} Run;

static void *xcalloc (lua_State *L, size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) luaL_error(L, "zis: out of memory");
  return p;
}

/* Starts item `item` on slot `s`. */
static void batch_start (lua_State *L, Run *run, Slot *s, int item) {
  Request r;
  memset(&r, 0, sizeof r);
  r.method = "GET";
  r.idempotent = 1;  /* GETs: keep-alive connections are reused */
  lua_rawgeti(L, run->urls, item);
  r.url = lua_tostring(L, -1);
  setup_easy(run->c, s->easy, &s->resp, run->b->headers, &r, run->ua);
  lua_pop(L, 1);  /* libcurl copies the URL */
  resp_reset(&s->resp);
  s->item = item;
  s->started = now_seconds();
  run->b->attempts[item - 1]++;
  if (curl_multi_add_handle(run->b->multi, s->easy) != CURLM_OK)
    luaL_error(L, "zis: curl_multi_add_handle failed");
}

/* An item's transfer ended: keep its result, or schedule a retry. */
static void batch_finish (lua_State *L, Run *run, Slot *s, CURLcode rc) {
  Client *c = run->c;
  int item = s->item, kind, attempts = run->b->attempts[item - 1];
  long status = 0;
  double wait;
  Request r;
  memset(&r, 0, sizeof r);
  r.method = "GET";
  r.idempotent = 1;
  lua_rawgeti(L, run->urls, item);
  r.url = lua_tostring(L, -1);
  r.path = r.url + strlen(c->base_url);
  curl_multi_remove_handle(run->b->multi, s->easy);
  s->item = 0;
  s->resp.rc = rc;
  kind = classify(&s->resp, rc);
  if (kind == K_OK) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  resp_explain(&s->resp, kind);
  wait = retry_wait(c, &s->resp, &r, kind, status, attempts);
  call_hook(L, c, &s->resp, &r, attempts, status, kind, now_seconds() - s->started, wait);
  if (wait >= 0) {
    run->b->ready_at[item - 1] = now_seconds() + wait;
  }
  else if (kind == K_OK && status >= 200 && status <= 299) {
    if (zis_json_decode_quiet(L, s->resp.body.data, s->resp.body.len))
      lua_rawseti(L, run->results, item);
    else {
      const char *why = lua_tostring(L, -1);
      push_error(L, c, &s->resp, &r, K_DECODE, status, attempts);
      lua_pushfstring(L, "invalid JSON in a %d response: %s", (int)status, why);
      lua_setfield(L, -2, "message");
      lua_rawseti(L, run->errors, item);
      lua_pop(L, 1);  /* why */
    }
  }
  else {
    push_error(L, c, &s->resp, &r, kind, status, attempts);
    lua_rawseti(L, run->errors, item);
  }
  lua_pop(L, 1);  /* url */
}

/* Protected: (client, batch, urls, results, errors, lightuserdata Run) */
static int batch_run (lua_State *L) {
  Run *run = (Run *)lua_touserdata(L, 6);
  Batch *b = run->b;
  int next = 1, in_flight = 0, i;
  run->urls = 3; run->results = 4; run->errors = 5;
  push_user_agent(L);
  run->ua = lua_tostring(L, -1);
  for (;;) {
    double now = now_seconds(), soonest = -1;
    int still, msgs;
    CURLMsg *m;
    /* fill free slots with items that are due: new ones, then retries */
    for (i = 0; i < b->nslots; i++) {
      Slot *s = &b->slots[i];
      int item = 0, k;
      if (s->item) continue;
      for (k = 1; k <= b->nitems && !item; k++) {
        double at = b->ready_at[k - 1];
        if (at > 0 && at <= now) { item = k; b->ready_at[k - 1] = 0; }
      }
      if (!item && next <= b->nitems) item = next++;
      if (!item) break;
      batch_start(L, run, s, item);
      in_flight++;
    }
    for (i = 0; i < b->nitems; i++)
      if (b->ready_at[i] > 0 && (soonest < 0 || b->ready_at[i] < soonest)) soonest = b->ready_at[i];
    if (in_flight == 0 && soonest < 0 && next > b->nitems) break;
    if (in_flight == 0) {  /* only retries waiting */
      sleep_seconds(soonest - now_seconds());
      continue;
    }
    if (curl_multi_perform(b->multi, &still) != CURLM_OK)
      luaL_error(L, "zis: curl_multi_perform failed");
    while ((m = curl_multi_info_read(b->multi, &msgs)) != NULL) {
      if (m->msg != CURLMSG_DONE) continue;
      for (i = 0; i < b->nslots; i++) {
        if (b->slots[i].easy == m->easy_handle && b->slots[i].item) {
          CURLcode rc = m->data.result;  /* read before the handle is removed */
          batch_finish(L, run, &b->slots[i], rc);
          in_flight--;
          break;
        }
      }
    }
    if (in_flight > 0) {
      int timeout_ms = 1000;
      if (soonest > 0) {
        double ms = (soonest - now_seconds()) * 1000;
        if (ms < timeout_ms) timeout_ms = ms < 0 ? 0 : (int)ms;
      }
      curl_multi_poll(b->multi, NULL, 0, timeout_ms, NULL);
    }
  }
  return 0;
}

/* client:get_bundles(integration, uuids [, {concurrency = 8}])
**   -> bundles, errors
** bundles[i] is the bundle of uuids[i], or nil where that one failed;
** errors is nil when every one succeeded, else errors[i] is the error. */
static int client_get_bundles (lua_State *L) {
  static const char *const allowed[] = {"concurrency", NULL};
  Client *c = check_client(L, 1);
  size_t ilen;
  const char *integ = check_name(L, 2, &ilen);
  int n, i, concurrency = 8;
  check_idle(L, c);
  Batch *b;
  Run run;
  Request r;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 4);
  if (!lua_isnil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    check_keys(L, 4, allowed);
    if (lua_getfield(L, 4, "concurrency") != LUA_TNIL) {
      lua_Integer k = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || k < 1 || k > 64)
        luaL_argerror(L, 4, "option 'concurrency' must be an integer from 1 to 64");
      concurrency = (int)k;
    }
    lua_pop(L, 1);
  }
  n = (int)luaL_len(L, 3);
  /* the URLs, checked before anything is sent */
  lua_createtable(L, n, 0);                                   /* 5: urls */
  for (i = 1; i <= n; i++) {
    size_t ulen;
    const char *u;
    lua_rawgeti(L, 3, i);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
      luaL_argerror(L, 3, lua_pushfstring(L, "uuids[%d] must be a non-empty string", i));
    u = lua_tolstring(L, -1, &ulen);
    push_pct(L, u, ulen);
    lua_pushfstring(L, "%s" ZIS_REG "/%s/bundles/%s", c->base_url, integ, lua_tostring(L, -1));
    lua_rawseti(L, 5, i);
    lua_pop(L, 2);
  }
  if (concurrency > n) concurrency = n > 0 ? n : 1;
  /* the owner first, then the resources */
  b = (Batch *)lua_newuserdatauv(L, sizeof(Batch), 0);         /* 6 */
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, BATCH_MT);
  b->nslots = concurrency;
  b->nitems = n;
  b->slots = (Slot *)xcalloc(L, (size_t)concurrency, sizeof(Slot));
  b->attempts = (int *)xcalloc(L, (size_t)n, sizeof(int));
  b->ready_at = (double *)xcalloc(L, (size_t)n, sizeof(double));
  b->multi = curl_multi_init();
  if (b->multi == NULL) luaL_error(L, "zis: curl_multi_init failed");
  curl_multi_setopt(b->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)concurrency);
  curl_multi_setopt(b->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  for (i = 0; i < concurrency; i++) {
    b->slots[i].easy = curl_easy_init();
    if (b->slots[i].easy == NULL) luaL_error(L, "zis: curl_easy_init failed");
    b->slots[i].resp.max = c->resp.max;
  }
  /* one credential for the batch (a GET: OAuth preferred) */
  memset(&r, 0, sizeof r);
  r.method = "GET";
  set_headers(L, c, &r, pick_auth(L, c, &r));
  b->headers = c->headers;   /* the batch owns this list now */
  c->headers = NULL;
  lua_newtable(L);                                            /* 7: results */
  lua_newtable(L);                                            /* 8: errors */
  /* run with the client marked busy, as single calls do */
  memset(&run, 0, sizeof run);
  run.c = c;
  run.b = b;
  lua_pushcfunction(L, batch_run);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 6);
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 7);
  lua_pushvalue(L, 8);
  lua_pushlightuserdata(L, &run);
  call_busy(L, c, 6);
  lua_pushcfunction(L, batch_gc);  /* free the handles now, not at some GC */
  lua_pushvalue(L, 6);
  lua_call(L, 1, 0);
  lua_pushvalue(L, 7);             /* results */
  lua_pushnil(L);                  /* errors: nil when there is none */
  if (lua_next(L, 8) == 0) lua_pushnil(L);
  else { lua_pop(L, 2); lua_pushvalue(L, 8); }
  return 2;
}

/* ======================================================================
** Construction and the module
** ====================================================================== */

static double opt_number (lua_State *L, const char *k, double dflt) {
  double v;
  lua_getfield(L, 1, k);
  v = luaL_optnumber(L, -1, dflt);
  lua_pop(L, 1);
  return v;
}

/* Copies an optional string field to a malloc'd string owned by the
** client (the client is already armed with __gc, so a raise is safe). */
static char *opt_strdup (lua_State *L, const char *k) {
  char *d = NULL;
  if (lua_getfield(L, 1, k) == LUA_TSTRING) d = xstrdup(L, lua_tostring(L, -1));
  lua_pop(L, 1);
  return d;
}

/* core.new(cfg): cfg is already checked and normalised by zis.new (Lua);
** here it becomes C state.  The userdata is created closed and armed with
** its metatable before anything is allocated, so a raise leaks nothing. */
static int core_new (lua_State *L) {
  Client *c;
  int ud;
  luaL_checktype(L, 1, LUA_TTABLE);
  c = (Client *)lua_newuserdatauv(L, sizeof(Client), NUVALUES);
  memset(c, 0, sizeof *c);
  ud = lua_gettop(L);
  luaL_setmetatable(L, CLIENT_MT);
  c->base_url = opt_strdup(L, "base_url");
  luaL_argcheck(L, c->base_url != NULL, 1, "base_url missing");
  if (lua_getfield(L, 1, "basic") == LUA_TSTRING) {
    size_t n;
    const char *up = lua_tolstring(L, -1, &n);
    c->basic_header = b64_header("Authorization: Basic ", up, n);
    if (c->basic_header == NULL) luaL_error(L, "zis: out of memory");
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "basic_kind");
  c->basic_kind = (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "password") == 0)
                  ? "password" : "token";
  lua_pop(L, 1);
  switch (lua_getfield(L, 1, "oauth_token")) {
    case LUA_TSTRING: {
      size_t n;
      const char *tok = lua_tolstring(L, -1, &n);
      char *h = (char *)malloc(n + 23);
      if (h == NULL) luaL_error(L, "zis: out of memory");
      memcpy(h, "Authorization: Bearer ", 22);
      memcpy(h + 22, tok, n + 1);
      c->bearer_header = h;
      c->oauth_kind = 1;
      lua_pop(L, 1);
      break;
    }
    case LUA_TFUNCTION:
      c->oauth_kind = 2;
      lua_setiuservalue(L, ud, UV_OAUTH_FN);
      break;
    default: lua_pop(L, 1);
  }
  if (lua_getfield(L, 1, "on_request") == LUA_TFUNCTION)
    lua_setiuservalue(L, ud, UV_HOOK);
  else lua_pop(L, 1);
  c->timeout_ms = (long)(opt_number(L, "timeout", 60) * 1000);
  c->connect_timeout_ms = (long)(opt_number(L, "connect_timeout", 10) * 1000);
  c->retries = (int)opt_number(L, "retries", 3);
  c->retry_base_delay = opt_number(L, "retry_base_delay", 0.5);
  c->max_retry_wait = opt_number(L, "max_retry_wait", 60);
  c->resp.max = (curl_off_t)opt_number(L, "max_response_bytes", 64.0 * 1024 * 1024);
  lua_getfield(L, 1, "debug");
  c->debug = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "follow_redirects");
  c->follow_redirects = lua_toboolean(L, -1);
  lua_pop(L, 1);
  c->ca_file = opt_strdup(L, "ca_file");
  c->ca_path = opt_strdup(L, "ca_path");
  c->proxy = opt_strdup(L, "proxy");
  c->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL;
  if (c->rng == 0) c->rng = 1;
  c->curl = curl_easy_init();  /* last: now the client is open */
  if (c->curl == NULL) luaL_error(L, "zis: curl_easy_init failed");
  lua_settop(L, ud);
  return 1;
}

static const luaL_Reg client_meta[] = {
  {"__gc", client_close},
  {"__close", client_close},
  {"__tostring", client_tostring},
  {"__index", NULL},  /* placeholder: the methods table */
  {NULL, NULL}
};

static const luaL_Reg client_methods[] = {
  {"close", client_close},
  {"get_bundles", client_get_bundles},
  {NULL, NULL}
};

/* core.valid_name(s) -> boolean: the API's integration name rule */
static int core_valid_name (lua_State *L) {
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  lua_pushboolean(L, lua_type(L, 1) == LUA_TSTRING && valid_name(s, n));
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"new", core_new},
  {"valid_name", core_valid_name},
  {NULL, NULL}
};

ZIS_API int luaopen_zis_core (lua_State *L);

ZIS_API int luaopen_zis_core (lua_State *L) {
  size_t i;
  pthread_once(&process_once, process_init);
  if (!curl_init_ok) return luaL_error(L, "zis: curl_global_init failed");
  if (!curl_threadsafe)  /* a libcurl older than 7.84 */
    return luaL_error(L, "zis: libcurl %s is too old (7.84 or later is needed)",
                      curl_version_text);
  luaL_newlib(L, core_funcs);
  zis_json_open(L);  /* the JSON functions, core.null, the markers */
  luaL_newmetatable(L, BATCH_MT);
  lua_pushcfunction(L, batch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  /* error metatable */
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setfield(L, -2, "error_metatable");
  /* client metatable, with a separate methods table as __index */
  luaL_newmetatable(L, CLIENT_MT);
  luaL_setfuncs(L, client_meta, 0);
  luaL_newlib(L, client_methods);
  lua_createtable(L, (int)NENDPOINTS, 0);   /* core.endpoints */
  for (i = 0; i < NENDPOINTS; i++) {
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushcclosure(L, ep_call, 1);
    lua_setfield(L, -3, ENDPOINTS[i].name);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, ENDPOINTS[i].name); lua_setfield(L, -2, "name");
    lua_pushstring(L, ENDPOINTS[i].method); lua_setfield(L, -2, "method");
    lua_pushstring(L, ENDPOINTS[i].path); lua_setfield(L, -2, "path");
    lua_pushstring(L, ENDPOINTS[i].auth == A_BASIC ? "basic" : "any");
    lua_setfield(L, -2, "auth");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -4, "endpoints");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -3, "methods");   /* zis.lua adds iterators here */
  lua_pop(L, 1);                    /* client metatable */
  lua_pushliteral(L, ZIS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_text);
  lua_setfield(L, -2, "curl_version");
  push_user_agent(L);
  lua_setfield(L, -2, "user_agent");
  return 1;
}

/*
** zis_engine.c: the request engine of lua-zis.
**
** Every request a client makes (a single call, a batch item, an
** iterator's page, a retry, a followed redirect) is an *attempt*: one
** transfer on the one curl multi handle the client owns for its life.
** The multi's connection cache is the client's pool, so consecutive calls
** and batches reuse connections, and HTTP/2 transfers multiplex.
**
** This file is mechanics only.  The policy (which attempts to make, in
** what order, retries, Retry-After, token refresh, redirects, hooks,
** errors) is Lua, in lua/zis/client.lua, which drives it through:
**
**   core.submit(client, method, url, auth, body, fresh, decode) -> id
**   core.wait(client, seconds) -> result | nil (time is up) | false (interrupted)
**   core.perform(client)       -> finished   (never blocks: event loops)
**   core.cancel(client, id), core.cancel_all(client)
**   core.set_bearer(client, token | nil)
**   core.sockets(client)       -> {fd = "r" | "w" | "rw"}, timeout_ms
**   core.engine_stats(client)  -> {connects =, running =, held =}
**
** Safety rules, each for a reason:
** - No Lua runs inside libcurl: the callbacks append to C buffers of the
**   slot.  So no error can longjmp through curl's frames.
** - No user code runs in here at all.  Building a result table may run
**   the garbage collector, and a finalizer may call client:close(); the
**   client is busy then (marked by the Lua layer), so close is deferred
**   (zis_client.c), and `in_c` guards the engine functions themselves.
** - A slot is owned by the client from submit to the moment its result is
**   handed over, so a Lua error anywhere (out of memory, an interrupt)
**   leaks nothing: close/__gc, or cancel_all, frees every slot.
*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <time.h>

#include "zis.h"
#include "zis_json.h"

/* ======================================================================
** Small helpers
** ====================================================================== */

static double now_seconds (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Overwrites a secret before its memory goes back to the allocator. */
void zis_free_secret (char **p) {
  if (*p != NULL) {
    volatile char *v = *p;
    size_t n = strlen(*p);
    while (n--) *v++ = 0;
    free(*p);
    *p = NULL;
  }
}

/* Frees a header list, zeroing each line first: one holds a credential. */
static void free_headers (struct curl_slist **h) {
  struct curl_slist *l;
  for (l = *h; l != NULL; l = l->next) {
    volatile char *v = l->data;
    while (*v) *v++ = 0;
  }
  curl_slist_free_all(*h);
  *h = NULL;
}

/* Response buffers up to KEEP_BUFFER are kept by their slot for the next
** attempt.  A larger one goes back to the allocator as soon as its result
** is handed over, except that the client keeps the largest of them up to
** SPARE_MAX as its one spare, for the next large answer: a fresh large
** allocation is fresh pages, and first touching them cost more than the
** transfer itself (1.4 MB: 8.9 ms against 0.9 ms, bench/compare.lua). */
#define KEEP_BUFFER 65536
#define SPARE_MAX (8u << 20)

static void release_body (Client *c, Slot *s) {
  c->held -= s->body.len;
  s->body.len = 0;
  if (s->body.cap > KEEP_BUFFER) {
    if (s->body.cap <= SPARE_MAX && s->body.cap > c->spare.cap) {
      free(c->spare.data);
      c->spare.data = s->body.data;
      c->spare.cap = s->body.cap;
    }
    else free(s->body.data);
    s->body.data = NULL;
    s->body.cap = 0;
  }
}

/* Gives the slot's empty buffer room for `need` bytes from the spare,
** when the spare has it (the slot's own small buffer is freed). */
static void take_spare (Client *c, Slot *s, size_t need) {
  if (c->spare.data == NULL || c->spare.cap < need) return;
  free(s->body.data);
  s->body.data = c->spare.data;
  s->body.cap = c->spare.cap;
  c->spare.data = NULL;
  c->spare.cap = 0;
}

/* Returns a slot to the free state: off the multi, buffers released.  The
** easy handle is kept for reuse (curl_easy_reset keeps nothing secret). */
static void free_slot (Client *c, Slot *s) {
  if (s->state == SLOT_RUNNING) {
    curl_multi_remove_handle(c->multi, s->easy);
    c->running--;
  }
  if (s->state != SLOT_FREE) c->in_use--;
  release_body(c, s);
  s->state = SLOT_FREE;
  s->id = 0;
}

/* ======================================================================
** libcurl callbacks: C only
** ====================================================================== */

static size_t on_body (char *p, size_t size, size_t n, void *ud) {
  Slot *s = (Slot *)ud;
  Client *c = s->owner;
  size_t add = size * n;
  if ((curl_off_t)(s->body.len + add) > c->max_response) {
    s->too_large = 1;
    return 0;  /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (c->held + add > c->budget) {
    s->too_large = s->over_budget = 1;
    return 0;
  }
  if (s->body.len + add + 1 > s->body.cap) {
    size_t cap = s->body.cap ? s->body.cap : 16384;
    if (s->body.len == 0) {
      /* the announced length, when there is one, in one allocation rather
      ** than doublings (a compressed answer's is a start); at most
      ** SPARE_MAX up front, so a server announcing gigabytes it never
      ** sends costs no more than that */
      curl_off_t announced = -1;
      curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
      if (announced > 0 && announced <= c->max_response && (size_t)announced + 1 > cap)
        cap = (size_t)announced + 1 < SPARE_MAX ? (size_t)announced + 1 : SPARE_MAX;
    }
    while (cap < s->body.len + add + 1) cap *= 2;
    if (s->body.len == 0) take_spare(c, s, cap);
    if (s->body.cap < cap) {
      char *d = (char *)realloc(s->body.data, cap);
      if (d == NULL) return 0;
      s->body.data = d;
      s->body.cap = cap;
    }
  }
  memcpy(s->body.data + s->body.len, p, add);
  s->body.len += add;
  c->held += add;
  if (c->held > c->peak_held) c->peak_held = c->held;
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

/* Keeps the few headers the Lua layer needs: the reason phrase, the
** content type, the request id and Retry-After (seconds or an HTTP date,
** turned into seconds here because curl_getdate is at hand). */
static size_t on_header (char *line, size_t size, size_t n, void *ud) {
  Slot *s = (Slot *)ud;
  size_t len = size * n;
  if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
    /* a new response (after a 100): forget the last one's */
    const char *sp = memchr(line, ' ', len);
    s->reason[0] = s->content_type[0] = s->request_id[0] = '\0';
    s->retry_after = -1;
    s->rate_limit = s->rate_remaining = s->rate_reset = -1;
    if (sp != NULL) {
      const char *r = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line));
      if (r != NULL) copy_value(s->reason, sizeof s->reason, r + 1,
                                len - (size_t)(r + 1 - line));
    }
  }
  else if (header_is(line, len, "content-type"))
    copy_value(s->content_type, sizeof s->content_type, line + 13, len - 13);
  else if (header_is(line, len, "x-request-id"))
    copy_value(s->request_id, sizeof s->request_id, line + 13, len - 13);
  else if (header_is(line, len, "x-zendesk-request-id") && !s->request_id[0])
    copy_value(s->request_id, sizeof s->request_id, line + 21, len - 21);
  else if (header_is(line, len, "retry-after")) {
    char v[64];
    char *end;
    double secs;
    copy_value(v, sizeof v, line + 12, len - 12);
    secs = strtod(v, &end);
    if (end != v && *end == '\0' && secs >= 0) s->retry_after = secs;
    else {
      time_t t = curl_getdate(v, NULL);
      if (t != -1) {
        double d = difftime(t, time(NULL));
        s->retry_after = d > 0 ? d : 0;
      }
    }
  }
  else if ((line[0] | 0x20) == 'x' || (line[0] | 0x20) == 'r') {
    /* the rate-limit headers (zis.pace reads them): X-Rate-Limit and
    ** X-Rate-Limit-Remaining (account-wide), ratelimit-limit, -remaining,
    ** -reset (seconds); where a response has both kinds, the smaller
    ** figure is kept (the tighter budget) */
    double *f = NULL;
    size_t k = 0;
    if (header_is(line, len, "x-rate-limit")) f = &s->rate_limit, k = 12;
    else if (header_is(line, len, "x-rate-limit-remaining")) f = &s->rate_remaining, k = 22;
    else if (header_is(line, len, "ratelimit-limit")) f = &s->rate_limit, k = 15;
    else if (header_is(line, len, "ratelimit-remaining")) f = &s->rate_remaining, k = 19;
    else if (header_is(line, len, "ratelimit-reset")) f = &s->rate_reset, k = 15;
    if (f != NULL) {
      char v[64];
      char *end;
      double x;
      copy_value(v, sizeof v, line + k + 1, len - k - 1);
      x = strtod(v, &end);
      if (end != v && *end == '\0' && x >= 0 && x < 1e12 && (*f < 0 || x < *f)) *f = x;
    }
  }
  return len;
}

/* The sockets libcurl wants watched, kept for event loops (core.sockets).
** Only C state changes here. */
static int on_socket (CURL *e, curl_socket_t fd, int what, void *ud, void *sockp) {
  Client *c = (Client *)ud;
  int i;
  (void)e; (void)sockp;
  for (i = 0; i < c->nsocks; i++) if (c->socks[i].fd == fd) break;
  if (what == CURL_POLL_REMOVE) {
    if (i < c->nsocks) c->socks[i] = c->socks[--c->nsocks];
  }
  else if (i < c->nsocks) c->socks[i].what = what;
  else if (c->nsocks < (int)(sizeof c->socks / sizeof c->socks[0])) {
    c->socks[c->nsocks].fd = fd;
    c->socks[c->nsocks].what = what;
    c->nsocks++;
  }
  return 0;
}

static int on_timer (CURLM *m, long ms, void *ud) {
  (void)m;
  ((Client *)ud)->timer_ms = ms;
  return 0;
}

/* ======================================================================
** The multi handle
** ====================================================================== */

int zis_engine_init (Client *c) {
  c->multi = curl_multi_init();
  if (c->multi == NULL) return 0;
  /* HTTP/2: many transfers share one connection */
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  /* the pool: room for a connection per slot, kept between calls */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)ZIS_MAX_SLOTS);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  c->timer_ms = -1;
  return 1;
}

/* Frees every slot, then the multi (which closes the pool). */
void zis_engine_free (Client *c) {
  int i;
  for (i = 0; i < ZIS_MAX_SLOTS; i++) {
    Slot *s = c->slots[i];
    if (s == NULL) continue;
    if (c->multi != NULL) free_slot(c, s);
    if (s->easy) curl_easy_cleanup(s->easy);
    free(s->body.data);
    free_headers(&s->headers);
    free(s);
    c->slots[i] = NULL;
  }
  c->ndone = c->running = 0;
  c->held = 0;
  free(c->spare.data);
  c->spare.data = NULL;
  c->spare.cap = 0;
  if (c->multi != NULL) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  c->nsocks = 0;
}

/* Engine functions mark the client while they run, so that a deferred
** close (from a finalizer the GC runs in here) waits for them. */
static Client *enter (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  if (c->in_c) luaL_error(L, "zis: engine re-entered");
  luaL_checkstack(L, 8, "zis: engine");  /* before anything is marked */
  return c;
}

static Slot *find_slot (Client *c, lua_Integer id) {
  int i;
  for (i = 0; i < ZIS_MAX_SLOTS; i++)
    if (c->slots[i] && c->slots[i]->id == id && c->slots[i]->state != SLOT_FREE)
      return c->slots[i];
  return NULL;
}

/* ======================================================================
** submit
** ====================================================================== */

/* Adds a header line; on out of memory frees the list and raises (the
** slot is not running yet, so nothing else is held). */
static void add_header (lua_State *L, struct curl_slist **h, const char *line) {
  struct curl_slist *t = curl_slist_append(*h, line);
  if (t == NULL) { free_headers(h); luaL_error(L, "zis: out of memory"); }
  *h = t;
}

/* core.submit(client, method, url, auth, body, fresh, decode) -> id
**   auth: "basic", "bearer" or nil; body: string or nil;
**   fresh: true to take a new connection (requests that must not be
**   repeated: libcurl silently re-sends once on a dead reused connection);
**   decode: true to have a 2xx answer's JSON decoded straight from the
**   slot's buffer (result.value, or result.decode_error), with no copy of
**   the body as a Lua string.
** The strings are copied into libcurl (URL, method, body with
** COPYPOSTFIELDS) or into the slot's header list, so nothing points into
** Lua memory once this returns. */
static int engine_submit (lua_State *L) {
  Client *c = enter(L);
  const char *method = luaL_checkstring(L, 2);
  const char *url = luaL_checkstring(L, 3);
  const char *auth = luaL_optstring(L, 4, NULL);
  size_t body_len = 0;
  const char *body = luaL_optlstring(L, 5, NULL, &body_len);
  int fresh = lua_toboolean(L, 6), decode = lua_toboolean(L, 7), i;
  int plain = !fresh && body == NULL && strcmp(method, "GET") == 0;
  Slot *s = NULL;
  CURL *e;
  struct curl_slist *h = NULL;
  for (i = 0; i < ZIS_MAX_SLOTS; i++) {
    if (c->slots[i] == NULL) {
      c->slots[i] = (Slot *)calloc(1, sizeof(Slot));
      if (c->slots[i] == NULL) return luaL_error(L, "zis: out of memory");
      c->slots[i]->owner = c;
      c->slots[i]->index = i;
    }
    if (c->slots[i]->state == SLOT_FREE) { s = c->slots[i]; break; }
  }
  if (s == NULL) return luaL_error(L, "zis: more than %d attempts in flight", ZIS_MAX_SLOTS);
  if (s->easy == NULL && (s->easy = curl_easy_init()) == NULL)
    return luaL_error(L, "zis: curl_easy_init failed");
  e = s->easy;
  /* headers first: the only step that can raise.  The slot's list from
  ** its last attempt is kept when it is the same (the common case: a GET
  ** with the same credential), else rebuilt and the old one zeroed. */
  {
    const char *line = NULL;
    struct curl_slist *last;
    if (auth != NULL && strcmp(auth, "client_credentials") == 0) {
      /* no Authorization: the body carries the admin's OAuth client */
      if (c->cc_body == NULL) return luaL_error(L, "zis: no OAuth client credential is set");
      body = c->cc_body;
      body_len = strlen(body);
      plain = 0;
    }
    else if (auth != NULL) {
      line = strcmp(auth, "basic") == 0 ? c->basic_header
           : strcmp(auth, "bearer") == 0 ? c->bearer_header : NULL;
      if (line == NULL) return luaL_error(L, "zis: no %s credential is set", auth);
    }
    for (last = s->headers; last && last->next; last = last->next) {}
    if (s->headers == NULL || s->hdr_body != (body != NULL) || s->hdr_auth != (line != NULL)
        || (line != NULL && strcmp(last->data, line) != 0)) {
      char ua[256];
      /* the User-Agent as a header line: as CURLOPT_USERAGENT, libcurl
      ** would format it anew for every request (about 9,000 instructions) */
      snprintf(ua, sizeof ua, "User-Agent: %s", zis_user_agent());
      add_header(L, &h, "Accept: application/json");
      add_header(L, &h, ua);
      if (body != NULL) {
        add_header(L, &h, "Content-Type: application/json");
        add_header(L, &h, "Expect:");  /* no 100-continue round trip on uploads */
      }
      if (line != NULL) add_header(L, &h, line);
      free_headers(&s->headers);
      s->headers = h;
      s->hdr_body = body != NULL;
      s->hdr_auth = line != NULL;
    }
  }
  if (plain && s->plain_get) {
    /* set up for a plain GET by the last attempt: only the URL and the
    ** header list change (curl_easy_perform loops do the same) */
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  }
  else {
    curl_easy_reset(e);  /* drops every option; the pool lives in the multi */
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  /* wait to multiplex, not a new connection */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  /* gzip and friends */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);  /* redirects: Lua decides */
    if (fresh) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, c->max_response);
    if (c->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->ca_path) curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path);
    if (c->proxy) curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)s);
    if (strcmp(method, "GET") == 0) curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else {
      if (body != NULL || strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
      }
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    s->plain_get = plain;
  }
  s->body.len = 0;
  s->decode = decode;
  s->too_large = s->over_budget = 0;
  s->reason[0] = s->content_type[0] = s->request_id[0] = s->errbuf[0] = '\0';
  s->retry_after = -1;
  s->rc = CURLE_OK;
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
    free_headers(&s->headers);
    s->plain_get = 0;
    return luaL_error(L, "zis: curl_multi_add_handle failed");
  }
  c->kick = 1;
  c->in_use++;
  s->state = SLOT_RUNNING;
  s->started = now_seconds();
  s->id = ++c->next_id;
  c->running++;
  lua_pushinteger(L, s->id);
  return 1;
}

/* ======================================================================
** wait / perform
** ====================================================================== */

/* Moves finished transfers from libcurl's queue to ours. */
static void harvest (Client *c) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
    Slot *s = NULL;
    long n = 0;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    if (s == NULL || s->state != SLOT_RUNNING) continue;
    s->rc = m->data.result;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &n);
    c->connects += n;
    curl_multi_remove_handle(c->multi, s->easy);
    c->running--;
    s->state = SLOT_DONE;
    c->done[c->ndone++] = s->index;
  }
}

/* What a transport failure was, for the Lua layer: "connect" means
** nothing was sent, so any method may be retried. */
static const char *failure_kind (const Slot *s) {
  switch (s->rc) {
    case CURLE_OK: return NULL;
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return "connect";
    case CURLE_FILESIZE_EXCEEDED: return "too_large";
    case CURLE_WRITE_ERROR: return s->too_large ? "too_large" : "network";
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return "tls";
    default: return "network";
  }
}

#define SET_STR(k, v) (lua_pushstring(L, (v)), lua_setfield(L, -2, (k)))

/* Pushes the result table of the oldest finished slot and frees the slot.
** Stack: [-0, +1].  The slot stays DONE (owned, freed by cancel_all or
** close) until the table is complete, so an out-of-memory error while
** building it leaks nothing. */
static void push_result (lua_State *L, Client *c) {
  int idx = c->done[0];
  Slot *s = c->slots[idx];
  const char *kind = failure_kind(s);
  long status = 0;
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, s->id); lua_setfield(L, -2, "id");
  lua_pushnumber(L, now_seconds() - s->started); lua_setfield(L, -2, "elapsed");
  if (kind != NULL) {
    SET_STR("kind", kind);
    if (s->over_budget)
      SET_STR("message", "responses in flight exceed the client's budget");
    else if (strcmp(kind, "too_large") != 0)
      SET_STR("message", s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->rc));
  }
  else {
    char *loc = NULL;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, status); lua_setfield(L, -2, "status");
    if (s->decode && status >= 200 && status < 300) {
      /* the slot's buffer is C memory: the GC (and a finalizer it runs)
      ** cannot move or free it while the decoder reads */
      if (zis_json_decode_buf(L, s->body.data, s->body.len)) lua_setfield(L, -2, "value");
      else lua_setfield(L, -2, "decode_error");
    }
    else {
      lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
      lua_setfield(L, -2, "body");
    }
    if (status < 200 || status > 299) {  /* for the error; a success needs neither */
      if (s->reason[0]) SET_STR("reason", s->reason);
      if (s->content_type[0]) SET_STR("content_type", s->content_type);
    }
    if (status >= 300 && status < 400
        && curl_easy_getinfo(s->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
      SET_STR("location", loc);
    /* the rate-limit headers, as numbers (on_header; zis.pace) */
    if (s->rate_limit >= 0) { lua_pushnumber(L, s->rate_limit); lua_setfield(L, -2, "rate_limit"); }
    if (s->rate_remaining >= 0) {
      lua_pushnumber(L, s->rate_remaining); lua_setfield(L, -2, "rate_remaining");
    }
    if (s->rate_reset >= 0) { lua_pushnumber(L, s->rate_reset); lua_setfield(L, -2, "rate_reset"); }
  }
  if (s->request_id[0]) SET_STR("request_id", s->request_id);
  if (s->retry_after >= 0) {
    lua_pushnumber(L, s->retry_after); lua_setfield(L, -2, "retry_after");
  }
  /* handed over: now the slot can go */
  memmove(c->done, c->done + 1, (size_t)(--c->ndone) * sizeof c->done[0]);
  free_slot(c, s);
}

/* push_result under lua_pcall: (lightuserdata Client) -> result.  So an
** error while the table is built (out of memory) cannot leave the client
** marked as inside the engine. */
static int push_result_protected (lua_State *L) {
  push_result(L, (Client *)lua_touserdata(L, 1));
  return 1;
}

/* Leaves an engine function that may have run the GC: a close() that a
** finalizer asked for meanwhile happens now, unless a call is running
** (then core.end_call does it). */
static void leave (Client *c) {
  c->in_c = 0;
  if (c->close_pending && !c->busy) zis_client_free(c);
}

/* The hook lua.c sets on SIGINT ("interrupted!") shows up as a change of
** the main thread's (or this thread's) hook. */
typedef struct Hooks { lua_Hook self, main; } Hooks;

static Hooks current_hooks (lua_State *L) {
  Hooks h;
  lua_State *main;
  h.self = lua_gethook(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  h.main = main ? lua_gethook(main) : NULL;
  return h;
}

/* Longest single sleep inside wait: how soon an interrupt is noticed. */
#define POLL_SLICE_MS 100

/* core.wait(client, seconds) -> result | nil | false
** Drives the transfers until one finishes (its result table), the time
** is up (nil), or the host asks to stop (false: lua.c's SIGINT hook, so
** Ctrl-C is noticed within POLL_SLICE_MS, mid-transfer or mid-sleep).
** With nothing in flight it just sleeps: that is how retry waits happen. */
static int engine_wait (lua_State *L) {
  Client *c = enter(L);
  double secs = luaL_checknumber(L, 2), deadline;
  Hooks h0 = current_hooks(L);
  int running;
  if (!(secs >= 0)) secs = 0;
  deadline = now_seconds() + secs;
  c->in_c = 1;
  for (;;) {
    double left;
    Hooks h;
    /* results already harvested are handed over first, but attempts
    ** submitted since the last perform are started now, not after them */
    if (c->ndone == 0 || c->kick) {
      c->kick = 0;
      curl_multi_perform(c->multi, &running);
      harvest(c);
    }
    if (c->ndone > 0) {
      /* building the table may run the GC, hence finalizers, or fail */
      lua_pushcfunction(L, push_result_protected);
      lua_pushlightuserdata(L, c);
      if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        leave(c);
        return lua_error(L);
      }
      break;
    }
    left = deadline - now_seconds();
    if (left <= 0) { lua_pushnil(L); break; }
    h = current_hooks(L);
    if (h.self != h0.self || h.main != h0.main) { lua_pushboolean(L, 0); break; }
    {
      long ms = (long)(left * 1000) + 1;
      curl_multi_poll(c->multi, NULL, 0, (int)(ms < POLL_SLICE_MS ? ms : POLL_SLICE_MS), NULL);
    }
    h = current_hooks(L);
    if (h.self != h0.self || h.main != h0.main) { lua_pushboolean(L, 0); break; }
  }
  leave(c);
  return 1;
}

/* core.perform(client) -> finished: progress without blocking, for event
** loops that watch core.sockets themselves. */
static int engine_perform (lua_State *L) {
  Client *c = enter(L);
  int running;
  c->kick = 0;
  curl_multi_perform(c->multi, &running);
  harvest(c);
  lua_pushinteger(L, c->ndone);
  return 1;
}

/* core.cancel(client, id): forgets one attempt, running or finished. */
static int engine_cancel (lua_State *L) {
  Client *c = enter(L);
  Slot *s = find_slot(c, luaL_checkinteger(L, 2));
  int i;
  if (s == NULL) return 0;
  for (i = 0; i < c->ndone; i++) {
    if (c->slots[c->done[i]] == s) {
      memmove(c->done + i, c->done + i + 1, (size_t)(c->ndone - i - 1) * sizeof c->done[0]);
      c->ndone--;
      break;
    }
  }
  free_slot(c, s);
  return 0;
}

/* core.cancel_all(client): every attempt, when a call ends early (an
** error raised by user code, an interrupt).  Harmless on a closed client. */
void zis_engine_cancel_all (Client *c) {
  int i;
  if (c->in_use == 0) { c->ndone = 0; return; }  /* every call's end: mostly nothing left */
  for (i = 0; i < ZIS_MAX_SLOTS; i++)
    if (c->slots[i] && c->slots[i]->state != SLOT_FREE) free_slot(c, c->slots[i]);
  c->ndone = 0;
}

static int engine_cancel_all (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->multi != NULL && !c->in_c) zis_engine_cancel_all(c);
  return 0;
}

/* core.set_bearer(client, token | nil): the OAuth token for the next
** attempts, copied into C memory that is zeroed when replaced.  Attempts
** in flight keep their own copy (in their header list). */
static int engine_set_bearer (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  size_t n;
  const char *tok = lua_tolstring(L, 2, &n);
  int i;
  zis_free_secret(&c->bearer_header);
  /* idle slots keep their header lists for the next attempt: the old
  ** token goes from them now (a running attempt keeps its own copy) */
  for (i = 0; i < ZIS_MAX_SLOTS; i++) {
    Slot *s = c->slots[i];
    if (s != NULL && s->state != SLOT_RUNNING && s->hdr_auth) free_headers(&s->headers);
  }
  if (tok != NULL) {
    char *hdr;
    if (n == 0 || strlen(tok) != n || strpbrk(tok, "\r\n"))
      return luaL_error(L, "zis: an OAuth token must be a non-empty string without line breaks or NUL");
    hdr = (char *)malloc(n + 23);
    if (hdr == NULL) return luaL_error(L, "zis: out of memory");
    memcpy(hdr, "Authorization: Bearer ", 22);
    memcpy(hdr + 22, tok, n + 1);
    c->bearer_header = hdr;
  }
  return 0;
}

/* core.sockets(client) -> {fd = "r"|"w"|"rw"}, timeout_ms (-1: none)
** The engine drives libcurl with curl_multi_perform, which (libcurl 7.x)
** does not call the socket callback, so the sockets come from
** curl_multi_fdset, merged with any the callback reported. */
static int engine_sockets (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  int i, maxfd = -1;
  long ms = -1;
  fd_set r, w, x;
  FD_ZERO(&r); FD_ZERO(&w); FD_ZERO(&x);
  curl_multi_fdset(c->multi, &r, &w, &x, &maxfd);
  lua_createtable(L, 0, c->nsocks);
  for (i = 0; i < c->nsocks; i++) {
    int what = c->socks[i].what;
    lua_pushstring(L, what == CURL_POLL_IN ? "r" : what == CURL_POLL_OUT ? "w" : "rw");
    lua_rawseti(L, -2, (lua_Integer)c->socks[i].fd);
  }
  for (i = 0; i <= maxfd; i++) {
    int rd = FD_ISSET(i, &r), wr = FD_ISSET(i, &w);
    if (!rd && !wr) continue;
    lua_pushstring(L, rd && wr ? "rw" : rd ? "r" : "w");
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  curl_multi_timeout(c->multi, &ms);
  lua_pushinteger(L, ms);
  return 2;
}

/* core.engine_stats(client) -> {connects =, running =, held =, peak_held =,
** budget =, finished =} */
static int engine_stats (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, c->connects); lua_setfield(L, -2, "connects");
  lua_pushinteger(L, (lua_Integer)c->peak_held); lua_setfield(L, -2, "peak_held");
  lua_pushinteger(L, (lua_Integer)c->budget); lua_setfield(L, -2, "budget");
  lua_pushinteger(L, c->running); lua_setfield(L, -2, "running");
  lua_pushinteger(L, (lua_Integer)c->held); lua_setfield(L, -2, "held");
  lua_pushinteger(L, c->ndone); lua_setfield(L, -2, "finished");
  return 1;
}

static const luaL_Reg engine_funcs[] = {
  {"submit", engine_submit},
  {"wait", engine_wait},
  {"perform", engine_perform},
  {"cancel", engine_cancel},
  {"cancel_all", engine_cancel_all},
  {"set_bearer", engine_set_bearer},
  {"sockets", engine_sockets},
  {"engine_stats", engine_stats},
  {NULL, NULL}
};

/* Stack: [-0, +0]; the core table is on top. */
void zis_engine_open (lua_State *L) {
  luaL_setfuncs(L, engine_funcs, 0);
}

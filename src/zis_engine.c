/*
** zis_engine.c: the request engine of lua-zis.
**
** Every request a client makes (a single call, a batch item, an
** iterator's page, a retry, a followed redirect) is an *attempt*: one
** transfer on the one curl multi handle the client owns for its life.
** The multi's connection cache is the client's pool, so consecutive calls
** and batches reuse connections, and HTTP/2 transfers multiplex.
**
** libcurl is driven through its socket interface only: its socket
** callback (on_socket) keeps the exact set of sockets it wants watched,
** in an array grown as needed, and every step of a transfer is a
** curl_multi_socket_action, for a socket that poll() found ready or for
** libcurl's timeout (CURL_SOCKET_TIMEOUT) once it is due.  core.wait
** blocks in poll() on that set itself; an event loop gets the same set
** from core.sockets.  poll() and the callback's set have no FD_SETSIZE
** limit (curl_multi_fdset, used before, silently left out descriptors of
** 1024 and above, and loops then fell back to waking on timeouts).
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
**   core.engine_stats(client)  -> {connects =, running =, held =, ...}
**   core.poll(fds, seconds)    -> {fd = "r" | "w" | "rw"}: poll() for
**                                 zis.loop.run (no client involved)
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
#include <errno.h>
#include <poll.h>
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

/* Room for `need` sockets in both arrays.  Returns 0 when out of memory
** (what was there stays valid).  C only: called from on_socket too. */
static int reserve_socks (Client *c, int need) {
  struct pollfd *p;
  int cap = c->capsocks ? c->capsocks : 16;
  if (need <= c->capsocks) return 1;
  while (cap < need) cap *= 2;
  p = (struct pollfd *)realloc(c->socks, (size_t)cap * sizeof *p);
  if (p == NULL) return 0;
  c->socks = p;
  p = (struct pollfd *)realloc(c->ready, (size_t)cap * sizeof *p);
  if (p == NULL) return 0;  /* socks is larger, which is harmless */
  c->ready = p;
  c->capsocks = cap;
  return 1;
}

/* libcurl's socket callback: the one source of the set of sockets to
** watch, kept exactly (a socket is added, changed or removed as libcurl
** says).  Only C state changes here.  When the set cannot grow (out of
** memory) it returns -1, and libcurl fails every transfer of the multi
** (documented since 7.85) rather than have one wait on a socket nobody
** watches. */
static int on_socket (CURL *e, curl_socket_t fd, int what, void *ud, void *sockp) {
  Client *c = (Client *)ud;
  int i;
  short ev = (short)((what & CURL_POLL_IN ? POLLIN : 0) | (what & CURL_POLL_OUT ? POLLOUT : 0));
  (void)e; (void)sockp;
  for (i = 0; i < c->nsocks; i++) if (c->socks[i].fd == fd) break;
  if (what == CURL_POLL_REMOVE) {
    if (i < c->nsocks) c->socks[i] = c->socks[--c->nsocks];
    return 0;
  }
  if (i == c->nsocks) {
    if (!reserve_socks(c, c->nsocks + 1)) return -1;
    c->nsocks++;
  }
  c->socks[i].fd = fd;
  c->socks[i].events = ev;
  c->socks[i].revents = 0;
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
  /* the sockets to watch come from here; the due time of libcurl's
  ** timeout is asked with curl_multi_timeout at each turn instead of
  ** kept from a timer callback: libcurl calls that one again only when
  ** the due time changes, so a TIMEOUT action made a little early (its
  ** milliseconds are rounded) would leave a kept value stale */
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  return reserve_socks(c, 16);
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
  /* the callback may still run in here (cached connections closing),
  ** so the socket arrays go after the multi */
  if (c->multi != NULL) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  free(c->socks);
  free(c->ready);
  c->socks = c->ready = NULL;
  c->nsocks = c->capsocks = 0;
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
  /* PIPEWAIT only where multiplexing can happen: over plain http a batch
  ** would wait for the first answer before opening other connections
  ** (and items never started then time out) */
  int pipewait = strncasecmp(url, "https:", 6) == 0;
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
  /* room in the socket set for two sockets per attempt (happy eyeballs)
  ** made now, where failing may raise: on_socket then seldom has to grow
  ** it, and may not raise (it still grows it when more are needed) */
  if (!reserve_socks(c, 2 * (c->in_use + 1) + 8)) return luaL_error(L, "zis: out of memory");
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
  if (plain && s->plain_get && s->pipewait == pipewait) {
    /* set up for a plain GET by the last attempt: only the URL and the
    ** header list change (curl_easy_perform loops do the same) */
    s->url_rc = curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  }
  else {
    curl_easy_reset(e);  /* drops every option; the pool lives in the multi */
    s->url_rc = curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* https: wait to multiplex on a connection being made (HTTP/2), not a
    ** new connection each */
    if (pipewait) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
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
    s->pipewait = pipewait;
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

/* CURL_CSELECT_* for what poll() found on a socket. */
static int cselect (short revents) {
  return (revents & (POLLIN | POLLHUP) ? CURL_CSELECT_IN : 0)
       | (revents & POLLOUT ? CURL_CSELECT_OUT : 0)
       | (revents & (POLLERR | POLLNVAL) ? CURL_CSELECT_ERR : 0);
}

/* One turn of the engine: waits in poll() at most `ms` (0: only looks)
** for a socket of the set to be ready, or less when libcurl's timeout is
** due sooner; tells libcurl about each ready socket, and about its
** timeout once due (CURL_SOCKET_TIMEOUT; also right after a submit, which
** is how new attempts start); then moves finished transfers to `done`.
** C only, never raises. */
static void turn (Client *c, int ms) {
  int i, k = 0, running;
  long due = -1;
  if (c->kick) {
    c->kick = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  curl_multi_timeout(c->multi, &due);
  if (due >= 0 && due < ms) ms = (int)due;
  if (poll(c->socks, (nfds_t)c->nsocks, ms) > 0) {
    /* acting on one socket may change the set (on_socket): the ready
    ** ones are copied out first.  `ready` may be moved by a growth of the
    ** set meanwhile, so it is indexed afresh each time. */
    for (i = 0; i < c->nsocks; i++)
      if (c->socks[i].revents) c->ready[k++] = c->socks[i];
    for (i = 0; i < k; i++)
      curl_multi_socket_action(c->multi, c->ready[i].fd, cselect(c->ready[i].revents), &running);
  }
  curl_multi_timeout(c->multi, &due);
  if (due == 0) curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  harvest(c);
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

/* Is the failure one a retry cannot fix (the same request would fail the
** same way)?  The result says `permanent = true`, and the Lua retry
** policy gives up at once.  A malformed or oversized URL, a header too
** large to hold (libcurl 7.x reports it as out of memory; 8.6 has
** CURLE_TOO_LARGE), a certificate that does not verify or a CA file that
** cannot be read, a body in an encoding libcurl cannot undo, a scheme or
** an option it does not support, an answer larger than
** max_response_bytes.  Not: timeouts, refused or reset connections, a
** TLS handshake cut short (CURLE_SSL_CONNECT_ERROR), a batch over its
** memory budget (the other answers will have gone). */
static int failure_permanent (const Slot *s) {
  switch (s->rc) {
    case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION: case CURLE_OUT_OF_MEMORY:
#if LIBCURL_VERSION_NUM >= 0x080600
    case CURLE_TOO_LARGE:
#endif
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED: case CURLE_FILESIZE_EXCEEDED:
      return 1;
    case CURLE_WRITE_ERROR: return s->too_large && !s->over_budget;
    default: return 0;
  }
}

/* For a failure: how far the attempt got before the request was sent
** ("resolving the host or waiting for a connection", "connecting", "the
** TLS handshake"), or NULL when it was sent (libcurl's pretransfer time
** is set once the request starts going out).  The times are 0 for steps
** not reached. */
static const char *unsent_stage (const Slot *s) {
  curl_off_t pre = 0, dns = 0, conn = 0, tls = 0;
  char *url = NULL;
  /* a URL libcurl refused (longer than its 8 MB, say) leaves the handle
  ** with none, and its times those of the last transfer */
  if (s->url_rc != CURLE_OK) return "the URL was refused";
  curl_easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
  if (pre > 0) return NULL;
  curl_easy_getinfo(s->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
  curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &conn);
  curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
  curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
  if (conn > 0)
    return url && strncasecmp(url, "https:", 6) == 0 && tls == 0 ? "the TLS handshake"
                                                                 : "after connecting";
  return dns > 0 ? "connecting" : "resolving the host or waiting for a connection";
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
    const char *stage = unsent_stage(s);
    /* libcurl 7.x reports a response header over its limit (100 KB) as
    ** out of memory, with nothing in the error buffer */
    const char *why = s->url_rc != CURLE_OK ? curl_easy_strerror(s->url_rc)
                    : s->errbuf[0] ? s->errbuf
                    : s->rc == CURLE_OUT_OF_MEMORY
                      ? "out of memory, or a response header over libcurl's limit (100 KB)"
                    : curl_easy_strerror(s->rc);
    SET_STR("kind", kind);
    if (s->over_budget)
      SET_STR("message", "responses in flight exceed the client's budget");
    else if (s->url_rc != CURLE_OK) {
      lua_pushfstring(L, "libcurl refused the URL (at most 8 MB): %s", why);
      lua_setfield(L, -2, "message");
    }
    else if (s->rc == CURLE_OPERATION_TIMEDOUT && stage != NULL) {
      lua_pushfstring(L, "timed out before the request was sent (%s): %s", stage, why);
      lua_setfield(L, -2, "message");
    }
    else if (strcmp(kind, "too_large") != 0)
      SET_STR("message", why);
    if (stage != NULL) { lua_pushboolean(L, 0); lua_setfield(L, -2, "sent"); }
    if (failure_permanent(s)) { lua_pushboolean(L, 1); lua_setfield(L, -2, "permanent"); }
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
  if (c->close_pending && !c->busy && c->release != NULL) c->release(c);
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
  int first = 1;
  if (!(secs >= 0)) secs = 0;
  deadline = now_seconds() + secs;
  c->in_c = 1;
  for (;;) {
    double left;
    Hooks h;
    /* results already harvested are handed over first, but attempts
    ** submitted since the last turn are started now, not after them;
    ** after a blocking turn only those need a look */
    if (c->kick || (first && c->ndone == 0)) turn(c, 0);
    first = 0;
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
      turn(c, (int)(ms < POLL_SLICE_MS ? ms : POLL_SLICE_MS));
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
  turn(c, 0);
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

/* "r", "w" or "rw" for poll events (NULL for none). */
static const char *events_name (short ev) {
  switch (ev & (POLLIN | POLLOUT)) {
    case POLLIN: return "r";
    case POLLOUT: return "w";
    case POLLIN | POLLOUT: return "rw";
    default: return NULL;
  }
}

/* core.sockets(client) -> {fd = "r"|"w"|"rw"}, timeout_ms (-1: none)
** The set on_socket keeps, whole, and libcurl's next timeout (0 when an
** attempt was submitted since the last turn: it starts at the next). */
static int engine_sockets (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  int i;
  long ms = -1;
  lua_createtable(L, 0, c->nsocks);
  for (i = 0; i < c->nsocks; i++) {
    const char *ev = events_name(c->socks[i].events);
    if (ev == NULL) continue;
    lua_pushstring(L, ev);
    lua_rawseti(L, -2, (lua_Integer)c->socks[i].fd);
  }
  if (c->kick) ms = 0;
  else curl_multi_timeout(c->multi, &ms);
  /* a loop told to wait with transfers running and nothing to watch
  ** can only wake on time: counted, for the specs */
  if (c->running > 0 && c->nsocks == 0 && ms != 0) c->blind++;
  lua_pushinteger(L, ms);
  return 2;
}

/* core.poll(fds, seconds) -> {fd = "r"|"w"|"rw"}: poll() on the
** descriptors of `fds` ({fd = "r"|"w"|"rw"}) for at most `seconds`
** (negative: no limit); the result holds the ready ones, with what they
** are ready for ("r" for a hang-up or an error too: reading reports it).
** For zis.loop.run, which select() could not serve past FD_SETSIZE.  The
** pollfd array is a userdata, so a raise leaks nothing; a signal (lua.c's
** Ctrl-C) ends the wait early with what was ready. */
static int engine_poll (lua_State *L) {
  double secs = luaL_checknumber(L, 2);
  int n = 0, i, ms;
  struct pollfd *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 1)) { n++; lua_pop(L, 1); }
  p = (struct pollfd *)lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *p, 0);
  i = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {   /* fds, ud, key, value */
    const char *ev = lua_tostring(L, -1);
    lua_Integer fd = lua_tointeger(L, -2);
    luaL_argcheck(L, lua_isinteger(L, -2) && fd >= 0 && fd <= 0x7fffffff && ev != NULL, 1,
                  "expected {[fd] = \"r\" | \"w\" | \"rw\"}");
    p[i].fd = (int)fd;
    p[i].events = (short)((strchr(ev, 'r') ? POLLIN : 0) | (strchr(ev, 'w') ? POLLOUT : 0));
    p[i].revents = 0;
    i++;
    lua_pop(L, 1);
  }
  ms = secs < 0 ? -1 : secs * 1000 >= 0x7fffffff ? 0x7fffffff : (int)(secs * 1000 + 0.999);
  if (poll(p, (nfds_t)n, ms) < 0 && errno != EINTR)
    return luaL_error(L, "zis: poll: %s", strerror(errno));
  lua_createtable(L, 0, 0);
  for (i = 0; i < n; i++) {
    short r = p[i].revents;
    if (r == 0) continue;
    if (r & (POLLHUP | POLLERR | POLLNVAL)) r |= POLLIN;
    lua_pushstring(L, events_name(r));
    lua_rawseti(L, -2, p[i].fd);
  }
  return 1;
}

/* core.engine_stats(client) -> {connects =, running =, held =, peak_held =,
** budget =, finished =, sockets =, blind_waits =}
**   sockets: how many libcurl wants watched now;
**   blind_waits: core.sockets calls that found transfers running and no
**   socket to watch (an event loop could then only wake on time) */
static int engine_stats (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, c->connects); lua_setfield(L, -2, "connects");
  lua_pushinteger(L, c->nsocks); lua_setfield(L, -2, "sockets");
  lua_pushinteger(L, c->blind); lua_setfield(L, -2, "blind_waits");
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
  {"poll", engine_poll},
  {NULL, NULL}
};

/* Stack: [-0, +0]; the core table is on top. */
void zis_engine_open (lua_State *L) {
  luaL_setfuncs(L, engine_funcs, 0);
}

/*
** zis.h: what the files of zis.net (the client and the engine) share.
**
** Layout (docs/design.md walks one call through it):
**   zis_core.c    zis.core: the codec, files, clock; loads zis.net when
**                 first asked for one of its names (no libcurl)
**   zis_net.c     zis.net: luaopen_zis_net, process-wide libcurl init
**   zis_client.c  the client userdata: options, credentials, close, busy
**   zis_engine.c  the engine: one curl multi per client driven by its
**                 socket callback (curl_multi_socket_action), attempt
**                 slots, submit / wait / cancel, the memory budget
**   zis_json.c    the exact JSON codec (in both modules)
** Everything here is hidden (only luaopen_zis_core and luaopen_zis_net
** are exported).
*/
#ifndef ZIS_H
#define ZIS_H

#include <stddef.h>
#include <poll.h>
#include <curl/curl.h>

#include "lua.h"
#include "lauxlib.h"

#pragma GCC visibility push(hidden)

#include "zis_version.h"   /* ZIS_VERSION */
#define CLIENT_MT "zis.client"

/* The most attempts one client may have in flight: the top of the
** `concurrency` option's range. */
#define ZIS_MAX_SLOTS 64

/* A growable byte buffer in C memory (owned by a slot). */
typedef struct Buf {
  char *data;
  size_t len, cap;
} Buf;

/* One attempt in flight (or finished, waiting to be handed to Lua).  The
** curl callbacks write only here, in C, so no Lua runs inside libcurl. */
typedef struct Slot {
  CURL *easy;                  /* kept across attempts for reuse; NULL at first */
  struct curl_slist *headers;  /* may hold a credential: zeroed when freed;
                                  kept for the next attempt when it fits */
  int hdr_body, hdr_auth;      /* `headers` has Content-Type / an auth line */
  int plain_get;               /* the easy handle is set up for a plain GET */
  int pipewait;                /* ... with CURLOPT_PIPEWAIT (an https URL) */
  int decode;                  /* a 2xx body is handed over decoded */
  struct Client *owner;
  lua_Integer id;              /* what Lua calls this attempt; 0 when free */
  int index;                   /* in Client.slots */
  int state;                   /* SLOT_FREE, SLOT_RUNNING, SLOT_DONE */
  CURLcode rc;
  CURLcode url_rc;             /* what setting CURLOPT_URL returned (a URL
                                  over libcurl's 8 MB is refused there) */
  Buf body;
  int too_large, over_budget;  /* why on_body stopped the transfer */
  double started, retry_after; /* retry_after: seconds, or -1 when not sent */
  double rate_limit, rate_remaining, rate_reset;  /* the rate-limit headers
                                  (X-Rate-Limit*, ratelimit-*), -1 when not sent */
  char reason[64], content_type[96], request_id[96];
  char errbuf[CURL_ERROR_SIZE];
} Slot;

enum { SLOT_FREE, SLOT_RUNNING, SLOT_DONE };

typedef struct Client {
  CURLM *multi;                /* NULL once closed */
  Slot *slots[ZIS_MAX_SLOTS];  /* allocated on first use */
  int done[ZIS_MAX_SLOTS];     /* FIFO of finished slot indexes */
  int ndone, running;
  int in_use;                  /* slots not free (running or done) */
  Buf spare;                   /* one large response buffer kept for the next
                                  large answer (zis_engine.c, SPARE_MAX) */
  lua_Integer next_id;
  char *base_url;              /* "https://host[:port]", no trailing slash */
  char *basic_header;          /* "Authorization: Basic ..." or NULL */
  char *bearer_header;         /* "Authorization: Bearer ..." or NULL */
  char *cc_body;               /* the client-credentials grant's JSON body
                                  (the admin's OAuth client id and secret),
                                  or NULL: POST /oauth/tokens sends it */
  char *ca_file, *ca_path, *proxy;
  const char *basic_kind;      /* "token" or "password" (static) */
  int oauth_kind;              /* 0 none, 1 string, 2 function */
  long timeout_ms, connect_timeout_ms;
  curl_off_t max_response;     /* max_response_bytes */
  size_t held, budget;         /* bytes of bodies in flight, and their cap */
  size_t peak_held;            /* the most `held` has been (stats) */
  int busy;                    /* calls in progress (see zis_client.c) */
  int in_c;                    /* inside an engine function that may run GC */
  int close_pending;           /* close() asked for while busy */
  void (*release) (struct Client *c);  /* frees everything, idempotent: set
                                  by zis_client.c, called by the engine for
                                  a close deferred until it returns */
  long connects;               /* connections opened so far (stats) */
  /* The sockets libcurl wants watched, exactly as its socket callback
  ** reported them (zis_engine.c, on_socket): what poll() watches in
  ** core.wait and what core.sockets gives event loops.  Both arrays have
  ** `capsocks` entries and grow together; `ready` is scratch for one
  ** turn (the sockets poll found ready, acted on after it). */
  struct pollfd *socks, *ready;
  int nsocks, capsocks;
  long blind;                  /* core.sockets calls that found transfers
                                  running and no socket to watch (stats) */
  int kick;                    /* attempts submitted since the last turn */
} Client;

/* zis_net.c */
const char *zis_user_agent (void);

/* zis_client.c */
void zis_client_open (lua_State *L);   /* metatables; zis.net's table on top */

/* The client at idx, if it is open; raises otherwise.  Here, not in
** zis_client.c, so the engine (the layer below the client) needs nothing
** of the client's file: the units call downwards only, core -> client ->
** engine, and the engine frees a client through c->release. */
static inline Client *zis_check_client (lua_State *L, int idx) {
  Client *c = (Client *)luaL_checkudata(L, idx, CLIENT_MT);
  if (c->multi == NULL) luaL_error(L, "zis: client is closed");
  return c;
}

/* zis_engine.c */
void zis_engine_open (lua_State *L);   /* adds engine functions to zis.net */
void zis_engine_free (Client *c);      /* every slot and the multi */
void zis_engine_cancel_all (Client *c);  /* every attempt; slots kept */
int zis_engine_init (Client *c);       /* 0 on failure */
void zis_free_secret (char **p);

/* zis_json.c is declared in zis_json.h */

#pragma GCC visibility pop

#endif

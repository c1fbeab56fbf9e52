/*
** zis_client.c: the client userdata.
**
** A client is a full userdata (metatable "zis.client") that owns, in C:
** the curl multi handle and its attempt slots (zis_engine.c), the base
** URL, the TLS and proxy settings, and the credentials.  Credentials live
** only in C memory, as ready header lines, and are zeroed when freed: the
** Lua layer hands over the parts once (core.new) and never builds a
** string that holds a secret.  User value 1 is the Lua layer's state
** table (options, hook, token function), traced by the GC, no registry
** reference to forget.
**
** Lifetime rules (the reasons are in the comments below):
**   core.new(cfg)            the userdata is created closed, armed with its
**                            metatable, then given its resources;
**   close / __gc / __close   one idempotent function; while a call is in
**                            progress it is deferred to the call's end;
**   core.begin_call / end_call  bracket every call of the Lua layer.
*/

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zis.h"

static char *dup_or_raise (lua_State *L, const char *s, size_t n) {
  char *d = (char *)malloc(n + 1);
  if (d == NULL) luaL_error(L, "zis: out of memory");
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Reads cfg[k] as a string into C memory, or NULL when absent.
** Stack: [-0, +0]. */
static char *opt_strdup (lua_State *L, int cfg, const char *k) {
  char *d = NULL;
  if (lua_getfield(L, cfg, k) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    d = dup_or_raise(L, s, n);
  }
  lua_pop(L, 1);
  return d;
}

static double opt_number (lua_State *L, int cfg, const char *k, double dflt) {
  double v = dflt;
  if (lua_getfield(L, cfg, k) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

static const char B64[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns malloc'd "Authorization: Basic <base64(s)>", or NULL. */
static char *basic_header (const char *s, size_t n) {
  static const char prefix[] = "Authorization: Basic ";
  size_t plen = sizeof prefix - 1, i;
  char *out = (char *)malloc(plen + 4 * ((n + 2) / 3) + 1), *o;
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

/* Builds the Basic header from cfg.email, cfg.secret and cfg.basic_kind
** ("token" gives "{email}/token:{secret}") in C memory, zeroing the
** plain text after encoding it. */
static void set_basic (lua_State *L, Client *c, int cfg) {
  size_t ne, ns, n;
  const char *email, *secret;
  char *plain;
  int token;
  lua_getfield(L, cfg, "email");
  lua_getfield(L, cfg, "secret");
  lua_getfield(L, cfg, "basic_kind");
  email = lua_tolstring(L, -3, &ne);
  secret = lua_tolstring(L, -2, &ns);
  if (email == NULL || secret == NULL) { lua_pop(L, 3); return; }
  token = strcmp(luaL_optstring(L, -1, "token"), "password") != 0;
  c->basic_kind = token ? "token" : "password";
  n = ne + (token ? 7 : 1) + ns;
  plain = (char *)malloc(n + 1);
  if (plain == NULL) luaL_error(L, "zis: out of memory");
  memcpy(plain, email, ne);
  memcpy(plain + ne, token ? "/token:" : ":", token ? 7 : 1);
  memcpy(plain + n - ns, secret, ns);
  plain[n] = '\0';
  c->basic_header = basic_header(plain, n);
  zis_free_secret(&plain);
  lua_pop(L, 3);
  if (c->basic_header == NULL) luaL_error(L, "zis: out of memory");
}

/* Appends s as the body of a JSON string (quotes not included) to out,
** which has room for 6 bytes per input byte.  Returns the new end. */
static char *json_escape (char *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') { *out++ = '\\'; *out++ = (char)ch; }
    else if (ch < 0x20) {
      *out++ = '\\'; *out++ = 'u'; *out++ = '0'; *out++ = '0';
      *out++ = hex[ch >> 4]; *out++ = hex[ch & 15];
    }
    else *out++ = (char)ch;
  }
  return out;
}

/* Builds the client-credentials grant's body from cfg.cc_id, cc_secret
** and cc_scope, in C memory that is zeroed when freed: the admin's OAuth
** client secret never sits in a Lua string the client keeps. */
static void set_client_credentials (lua_State *L, Client *c, int cfg) {
  size_t ni, ns, nc;
  const char *id, *secret, *scope;
  char *body, *o;
  lua_getfield(L, cfg, "cc_id");
  lua_getfield(L, cfg, "cc_secret");
  lua_getfield(L, cfg, "cc_scope");
  id = lua_tolstring(L, -3, &ni);
  secret = lua_tolstring(L, -2, &ns);
  scope = lua_tolstring(L, -1, &nc);
  if (id == NULL || secret == NULL || scope == NULL) { lua_pop(L, 3); return; }
  body = (char *)malloc(96 + 6 * (ni + ns + nc));
  if (body == NULL) luaL_error(L, "zis: out of memory");
  o = body;
#define PUT(lit) (memcpy(o, lit, sizeof lit - 1), o += sizeof lit - 1)
  PUT("{\"grant_type\":\"client_credentials\",\"client_id\":\"");
  o = json_escape(o, id, ni);
  PUT("\",\"client_secret\":\"");
  o = json_escape(o, secret, ns);
  PUT("\",\"scope\":\"");
  o = json_escape(o, scope, nc);
  PUT("\"}");
#undef PUT
  *o = '\0';
  c->cc_body = body;
  lua_pop(L, 3);
}

/* Copies a credential held in C from one client to another (for_integration):
** the child's basic header, or the admin's client-credentials body. */
static void copy_secret (lua_State *L, char **dst, const char *src) {
  if (src == NULL) return;
  *dst = dup_or_raise(L, src, strlen(src));
}

/* Frees everything the client holds.  Idempotent. */
static void zis_client_free (Client *c) {
  zis_engine_free(c);
  zis_free_secret(&c->basic_header);
  zis_free_secret(&c->bearer_header);
  zis_free_secret(&c->cc_body);
  zis_free_secret(&c->proxy);  /* a proxy URL may carry a password */
  free(c->base_url); c->base_url = NULL;
  free(c->ca_file); c->ca_file = NULL;
  free(c->ca_path); c->ca_path = NULL;
  c->close_pending = 0;
}


/* close() and __close.  During a call (a hook or a token function
** closing its own client, or a finalizer the GC runs inside the engine)
** freeing now would pull the engine from under the call, so the close is
** recorded and done when the call ends (core.end_call) or the engine
** function returns. */
static int client_close (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->busy || c->in_c) c->close_pending = 1;
  else zis_client_free(c);
  return 0;
}

/* __gc frees whatever the state: an unreachable client has no call that
** can go on (a coroutine suspended in one and dropped, say), and no
** engine function can be running on it. */
static int client_gc (lua_State *L) {
  zis_client_free((Client *)luaL_checkudata(L, 1, CLIENT_MT));
  return 0;
}

static const char *auth_kind (const Client *c) {
  if (c->basic_header && c->oauth_kind)
    return strcmp(c->basic_kind, "token") == 0 ? "token+oauth" : "password+oauth";
  if (c->basic_header) return c->basic_kind;
  return c->oauth_kind ? "oauth" : "none";
}

static int client_tostring (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->multi == NULL) lua_pushliteral(L, "zis.client (closed)");
  else lua_pushfstring(L, "zis.client (%s, auth: %s)", c->base_url, auth_kind(c));
  return 1;
}

/* core.new(cfg) -> client.  cfg was checked and bounded by the Lua layer
** (lua/zis/init.lua); here it becomes C state.  cfg.state becomes user
** value 1.  Owner first: the userdata exists, closed and armed with its
** metatable, before anything is allocated, so a raise leaks nothing. */
static int core_new (lua_State *L) {
  Client *c;
  int ud;
  luaL_checktype(L, 1, LUA_TTABLE);
  c = (Client *)lua_newuserdatauv(L, sizeof(Client), 1);
  memset(c, 0, sizeof *c);
  c->release = zis_client_free;
  ud = lua_gettop(L);
  luaL_setmetatable(L, CLIENT_MT);
  c->base_url = opt_strdup(L, 1, "base_url");
  luaL_argcheck(L, c->base_url != NULL, 1, "base_url missing");
  set_basic(L, c, 1);
  set_client_credentials(L, c, 1);
  /* cfg.credentials_from: a client whose basic credential (and
  ** client-credentials body) this one shares, copied in C */
  if (lua_getfield(L, 1, "credentials_from") == LUA_TUSERDATA) {
    Client *from = (Client *)luaL_checkudata(L, -1, CLIENT_MT);
    if (from->multi == NULL) luaL_error(L, "zis: client is closed");
    if (from->basic_header != NULL && c->basic_header == NULL) {
      copy_secret(L, &c->basic_header, from->basic_header);
      c->basic_kind = from->basic_kind;
    }
    if (from->cc_body != NULL && c->cc_body == NULL) copy_secret(L, &c->cc_body, from->cc_body);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "oauth_kind");
  c->oauth_kind = lua_isstring(L, -1) ? (strcmp(lua_tostring(L, -1), "function") == 0 ? 2 : 1) : 0;
  lua_pop(L, 1);
  c->timeout_ms = (long)(opt_number(L, 1, "timeout", 60) * 1000 + 0.5);
  c->connect_timeout_ms = (long)(opt_number(L, 1, "connect_timeout", 10) * 1000 + 0.5);
  c->max_response = (curl_off_t)opt_number(L, 1, "max_response_bytes", 64.0 * 1024 * 1024);
  /* a batch holds at most four responses' worth of bodies at once */
  c->budget = (size_t)c->max_response * 4;
  c->ca_file = opt_strdup(L, 1, "ca_file");
  c->ca_path = opt_strdup(L, 1, "ca_path");
  c->proxy = opt_strdup(L, 1, "proxy");
  lua_getfield(L, 1, "state");
  lua_setiuservalue(L, ud, 1);
  if (!zis_engine_init(c)) {  /* last: now the client is open */
    zis_client_free(c);
    return luaL_error(L, "zis: curl_multi_init failed");
  }
  lua_settop(L, ud);
  return 1;
}

/* core.state(client) -> the Lua layer's table (user value 1) */
static int core_state (lua_State *L) {
  luaL_checkudata(L, 1, CLIENT_MT);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* The client at 1, if a call may begin on it: raises if it is closed (or
** its close is pending).  Calls may overlap (many coroutines, a hook
** calling its own client: lua/zis/run.lua keeps each call's results
** apart); only a finalizer run by the engine's own GC (in_c) may not
** start one, since the engine function running cannot be re-entered. */
static Client *callable (lua_State *L) {
  Client *c = zis_check_client(L, 1);
  if (c->close_pending) luaL_error(L, "zis: client is closed");
  if (c->in_c)
    luaL_error(L, "zis: a finalizer may not call the client while its engine runs");
  return c;
}

/* core.check_call(client): raises as begin_call would, changing nothing
** (so the Lua layer can arm the guard that ends a call before the call
** is marked: see client.lua). */
static int core_check_call (lua_State *L) {
  callable(L);
  return 0;
}

/* core.begin_call(client): raises as check_call, else counts one more
** call in progress. */
static int core_begin_call (lua_State *L) {
  callable(L)->busy++;
  return 0;
}

/* core.end_call(client): one call is over, however it ended (its own
** attempts were cancelled by the Lua layer); when it was the last, a
** close asked for meanwhile happens now.  Never raises: it runs from
** finalizers and to-be-closed guards. */
static int core_end_call (lua_State *L) {
  Client *c = (Client *)luaL_testudata(L, 1, CLIENT_MT);
  if (c == NULL) return 0;
  if (c->busy > 0) c->busy--;
  if (c->in_c || c->busy > 0) return 0;  /* the engine function running finishes the job */
  if (c->close_pending) zis_client_free(c);
  return 0;
}

/* core.is_open(client) -> boolean */
static int core_is_open (lua_State *L) {
  Client *c = (Client *)luaL_testudata(L, 1, CLIENT_MT);
  lua_pushboolean(L, c != NULL && c->multi != NULL && !c->close_pending);
  return 1;
}

static const luaL_Reg client_meta[] = {
  {"__gc", client_gc},
  {"__close", client_close},
  {"__tostring", client_tostring},
  {NULL, NULL}
};

static const luaL_Reg client_funcs[] = {
  {"new", core_new},
  {"state", core_state},
  {"check_call", core_check_call},
  {"begin_call", core_begin_call},
  {"end_call", core_end_call},
  {"is_open", core_is_open},
  {"close", client_close},
  {NULL, NULL}
};

/* Creates the client metatable with a methods table as __index, sets
** net.methods to it (the Lua layer fills it) and adds the functions.
** Opened a second time in one Lua state (zis.net's loading re-entered
** from a finalizer, before require recorded the first), it keeps the
** metatable's methods table, so every client and the Lua layer share one.
** Stack: [-0, +0]; zis.net's table is on top. */
void zis_client_open (lua_State *L) {
  luaL_setfuncs(L, client_funcs, 0);
  if (luaL_newmetatable(L, CLIENT_MT)) {  /* net, mt */
    luaL_setfuncs(L, client_meta, 0);
    lua_newtable(L);                      /* net, mt, methods */
    lua_pushcfunction(L, client_close);
    lua_setfield(L, -2, "close");
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");       /* mt.__index = methods */
  } else {
    lua_getfield(L, -1, "__index");       /* net, mt, methods */
  }
  lua_setfield(L, -3, "methods");         /* net.methods = methods */
  lua_pop(L, 1);                          /* net */
}

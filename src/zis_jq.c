/*
** zis_jq.c: the module "zis.jq" of lua-zis: jq programs through libjq.
**
** ZIS's built-in action zis:common:transform:Jq runs a jq expression on
** a value; the flow simulator (lua/zis/flow.lua) runs it here, with the
** same libjq that the jq command uses, so a flow's transforms give what
** `jq -c` gives.  It is a module of its own, linked with -ljq, so that
** zis.core (the client) never depends on libjq.
**
**   jq.run(expr, json_text)  -> list of result JSON texts | nil, message
**   jq.eval(expr, value)     -> list of result values     | nil, message
**   jq.cache_limit([n])      -> how many compiled programs may be kept
**                               (default 64) and are, before setting n
**
** eval converts through zis.core's own codec (encode_json, decode_json),
** so integers stay Lua integers on the way in and out (jq itself holds
** numbers as doubles, as the jq command does).
**
** Memory and errors (docs/design.md's rules for foreign libraries):
**  - Owner first: the jq_state, the value being converted and the error
**    text libjq reports all belong to one userdata (a JqBox) made before
**    libjq is called; its __gc frees whatever is left, so a Lua error
**    (a memory error in lua_pushlstring, say) between two libjq calls
**    leaks nothing.
**  - No longjmp through libjq: no Lua function that can raise is called
**    while a libjq function is on the C stack.  libjq's error callback
**    appends to the box's malloc'd buffer only; the messages are pushed
**    after the libjq call has returned.
**  - Every jv is freed: libjq's functions consume their jv arguments, so
**    each value is either handed to libjq or parked in box->pending,
**    which the next step or __gc frees.
*/

#include <stdlib.h>
#include <string.h>

#include <jq.h>
#include <jv.h>

#include "lua.h"
#include "lauxlib.h"

/* Only luaopen_zis_jq is exported; the build hides everything else. */
#define ZIS_API __attribute__((visibility("default")))

#define JQBOX "zis.jq.box"
#define ERR_MAX 4096   /* error text kept per run: the first lines matter */
#define JQCACHE "zis.jq.cache"
#define JQCACHE_MAX "zis.jq.cache_max"
/* Compiled programs kept per Lua state (jq.cache_limit changes it).
** libjq 1.6 compiles its whole builtin library in every jq_init and
** jq_compile (about 15 ms), while a flow runs the same few expressions
** again and again; beyond this many distinct expressions the cache
** starts again empty (the old boxes are collected). */
#define CACHE_MAX_DEFAULT 64

typedef struct JqBox {
  jq_state *jq;        /* NULL once closed */
  jv pending;          /* a value owned by the box between libjq calls */
  int has_pending;
  char *err;           /* messages libjq reported (malloc'd), or NULL */
  size_t err_len;
  int keep;            /* goes back to the cache when its run ends */
} JqBox;

/* ======================================================================
** The box: one per run, freed by close or by the collector
** ====================================================================== */

static void box_drop_pending (JqBox *b) {
  if (b->has_pending) {
    b->has_pending = 0;
    jv_free(b->pending);
  }
}

/* Ends a run: a box to keep keeps its compiled program for the next run
** (jq_start resets the state) and only drops what this run left; any
** other box is closed. */
static void box_end_run (JqBox *b);

/* Idempotent: serves __gc, __close and the end of every run not kept. */
static void box_close (JqBox *b) {
  box_drop_pending(b);
  if (b->jq != NULL) {
    jq_state *jq = b->jq;
    b->jq = NULL;
    jq_teardown(&jq);
  }
  free(b->err);
  b->err = NULL;
  b->err_len = 0;
}

static void box_end_run (JqBox *b) {
  if (!b->keep) {
    box_close(b);
    return;
  }
  box_drop_pending(b);
  free(b->err);
  b->err = NULL;
  b->err_len = 0;
}

static int box_gc (lua_State *L) {
  box_close((JqBox *)luaL_checkudata(L, 1, JQBOX));
  return 0;
}

/* Appends s (n bytes) and a newline to the box's error text, up to
** ERR_MAX bytes.  Called from libjq's callback: plain C, never Lua. */
static void box_note (JqBox *b, const char *s, size_t n) {
  char *grown;
  if (b->err_len >= ERR_MAX) return;
  if (n > ERR_MAX - b->err_len) n = ERR_MAX - b->err_len;
  grown = realloc(b->err, b->err_len + n + 2);
  if (grown == NULL) return;   /* the message is lost, not the run */
  memcpy(grown + b->err_len, s, n);
  b->err_len += n;
  grown[b->err_len++] = '\n';
  grown[b->err_len] = '\0';
  b->err = grown;
}

/* libjq's error callback (compile errors): it owns msg and must free it. */
static void on_jq_error (void *data, jv msg) {
  JqBox *b = (JqBox *)data;
  if (jv_get_kind(msg) != JV_KIND_STRING)
    msg = jv_dump_string(msg, 0);   /* consumes msg */
  if (jv_get_kind(msg) == JV_KIND_STRING)
    box_note(b, jv_string_value(msg), (size_t)jv_string_length_bytes(jv_copy(msg)));
  jv_free(msg);
}

/* Parks the text of an invalid value's message (consumes v) in the box's
** error buffer: a string as it is, any other value as JSON. */
static void note_invalid (JqBox *b, jv v) {
  jv msg = jv_invalid_get_msg(v);   /* consumes v */
  if (jv_get_kind(msg) != JV_KIND_STRING) msg = jv_dump_string(msg, 0);
  if (jv_get_kind(msg) == JV_KIND_STRING)
    box_note(b, jv_string_value(msg), (size_t)jv_string_length_bytes(jv_copy(msg)));
  jv_free(msg);
}

/* Stack: [-0, +2]: nil and "jq: <what>: <libjq's text>" without the
** trailing newline; then the run is ended (box_end_run). */
static int box_fail (lua_State *L, JqBox *b, const char *what) {
  /* one line: libjq's first (the error); the rest repeats the source */
  const char *nl = b->err ? memchr(b->err, '\n', b->err_len) : NULL;
  size_t n = nl ? (size_t)(nl - b->err) : b->err_len;
  while (n > 0 && (b->err[n - 1] == ':' || b->err[n - 1] == ' ')) n--;
  lua_pushnil(L);
  if (n > 0) {
    /* libjq's compile messages start with "jq: error: " already */
    const char *text = b->err;
    if (n > 4 && memcmp(text, "jq: ", 4) == 0) { text += 4; n -= 4; }
    lua_pushfstring(L, "jq: %s: ", what);
    lua_pushlstring(L, text, n);
    lua_concat(L, 2);
  } else {
    lua_pushfstring(L, "jq: %s", what);
  }
  box_end_run(b);
  return 2;
}

/* ======================================================================
** Running a program
** ====================================================================== */

/* Stack: [-0, +1]: a new, closed box with its metatable (owner first). */
static JqBox *box_new (lua_State *L) {
  JqBox *b = (JqBox *)lua_newuserdatauv(L, sizeof *b, 0);
  b->jq = NULL;
  b->has_pending = 0;
  b->pending = jv_invalid();   /* no allocation: safe to leave unfreed */
  b->err = NULL;
  b->err_len = 0;
  b->keep = 0;
  luaL_setmetatable(L, JQBOX);
  return b;
}

/* The count of programs kept (jq.cache_limit), read from the registry. */
static lua_Integer cache_max (lua_State *L) {
  lua_Integer n = CACHE_MAX_DEFAULT;
  if (lua_getfield(L, LUA_REGISTRYINDEX, JQCACHE_MAX) == LUA_TNUMBER) n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return n;
}

/* jq.cache_limit([n]) -> the limit before, and how many programs were
** kept then (n: 0 keeps none, up to 100000) */
static int jq_cache_limit (lua_State *L) {
  lua_Integer before = cache_max(L), kept = 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, JQCACHE) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING) kept++;   /* [1] is the count */
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 100000, 1, "must be 0 to 100000");
    lua_pushinteger(L, n);
    lua_setfield(L, LUA_REGISTRYINDEX, JQCACHE_MAX);
    lua_pushnil(L);   /* start over: what was kept beyond n goes */
    lua_setfield(L, LUA_REGISTRYINDEX, JQCACHE);
  }
  lua_pushinteger(L, before);
  lua_pushinteger(L, kept);
  return 2;
}

/* Stack: [-0, +1]: the registry's cache table, made if missing. */
static void cache_table (lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, JQCACHE) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, JQCACHE);
  }
}

/* Adds d to the count of kept programs, at the cache's [1] (its other
** keys are expressions, strings).  Stack: the cache at idx; [-0, +0]. */
static lua_Integer cache_count (lua_State *L, int idx, lua_Integer d) {
  lua_Integer n;
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, idx, 1);
  n = lua_tointeger(L, -1) + d;
  lua_pop(L, 1);
  lua_pushinteger(L, n);
  lua_rawseti(L, idx, 1);
  return n;
}

/* Stack: [-0, +1]: a box with expr compiled, taken out of the cache for
** this run (a run started meanwhile, from a finalizer, compiles its own;
** an error in the run leaves the box to the collector), or made now; or
** nil and a message (+2, returns NULL) when it does not compile. */
static JqBox *box_for (lua_State *L, const char *expr, int *failed) {
  JqBox *b;
  *failed = 0;
  cache_table(L);                       /* [cache] */
  if (lua_getfield(L, -1, expr) == LUA_TUSERDATA) {
    b = (JqBox *)lua_touserdata(L, -1);
    lua_pushnil(L);
    lua_setfield(L, -3, expr);          /* checked out */
    cache_count(L, -2, -1);
    lua_remove(L, -2);                  /* [box] */
    if (b->jq != NULL) return b;
    lua_pop(L, 1);                      /* (cannot be: a closed box is never put back) */
  } else {
    lua_pop(L, 2);
  }
  b = box_new(L);                       /* [box] */
  b->jq = jq_init();
  if (b->jq == NULL) {
    *failed = box_fail(L, b, "cannot start (out of memory)");
    return NULL;
  }
  jq_set_error_cb(b->jq, on_jq_error, b);
  if (!jq_compile(b->jq, expr)) {
    *failed = box_fail(L, b, "cannot compile the expression");
    return NULL;
  }
  b->keep = cache_max(L) > 0;
  return b;
}

/* Puts the box at stack index idx back in the cache under expr, unless
** it is not to be kept (it halted) or a run started meanwhile put its
** own there; when the cache holds its limit, it starts again empty (the
** old boxes are collected).  Stack: [-0, +0]. */
static void box_return (lua_State *L, int idx, const char *expr) {
  JqBox *b = (JqBox *)lua_touserdata(L, idx);
  if (!b->keep || b->jq == NULL) return;
  cache_table(L);
  if (lua_getfield(L, -1, expr) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 1);
    if (lua_tointeger(L, -1) >= cache_max(L)) {
      lua_pop(L, 2);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, LUA_REGISTRYINDEX, JQCACHE);
    } else {
      lua_pop(L, 1);
    }
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, expr);
    cache_count(L, -1, 1);
    lua_pop(L, 1);
  } else {
    b->keep = 0;                        /* another is kept: this one goes */
    lua_pop(L, 2);
  }
}

/* Runs expr on the JSON text (text, len) and leaves on the stack either
** a list of result texts (returns 1) or nil, message (returns 2).
** Stack: [-0, +1 or +2], with the box it makes left below the results
** (the caller's return count takes the top values only). */
static int run_text (lua_State *L, const char *expr, const char *text, size_t len) {
  JqBox *b;
  lua_Integer n = 0;
  jv input;
  int failed, box_idx;
  if (len > (size_t)0x7fffffff) {
    lua_pushnil(L);
    lua_pushliteral(L, "jq: input too large");
    return 2;
  }
  b = box_for(L, expr, &failed);
  if (b == NULL) return failed;
  box_idx = lua_gettop(L);
  input = jv_parse_sized(text, (int)len);
  if (!jv_is_valid(input)) {
    note_invalid(b, input);
    box_return(L, box_idx, expr);
    return box_fail(L, b, "input is not JSON");
  }
  jq_start(b->jq, input, 0);   /* consumes input */
  lua_newtable(L);             /* may raise: the box owns everything */
  for (;;) {
    jv r = jq_next(b->jq);
    if (!jv_is_valid(r)) {
      if (jv_invalid_has_msg(jv_copy(r))) {
        note_invalid(b, r);
        lua_pop(L, 1);
        box_return(L, box_idx, expr);
        return box_fail(L, b, "error");
      }
      jv_free(r);
      break;
    }
    /* parked before the push, so a memory error there cannot leak it */
    b->pending = jv_dump_string(r, 0);   /* consumes r */
    b->has_pending = 1;
    lua_pushlstring(L, jv_string_value(b->pending),
                    (size_t)jv_string_length_bytes(jv_copy(b->pending)));
    box_drop_pending(b);
    lua_rawseti(L, -2, ++n);
  }
  if (jq_halted(b->jq)) {
    /* libjq 1.6's jq_reset frees the halt's exit code and message
    ** without forgetting them, so the next jq_start would free them
    ** again: a program that halted is not run again (1.7 fixed it). */
    b->keep = 0;
    /* halt_error: the program stopped itself; its message is the error */
    jv m = jq_get_error_message(b->jq);
    int had_message = jv_is_valid(m) && jv_get_kind(m) != JV_KIND_NULL;
    if (had_message) {
      if (jv_get_kind(m) != JV_KIND_STRING) m = jv_dump_string(m, 0);
      if (jv_get_kind(m) == JV_KIND_STRING)
        box_note(b, jv_string_value(m), (size_t)jv_string_length_bytes(jv_copy(m)));
    }
    jv_free(m);
    if (had_message) {
      lua_pop(L, 1);
      return box_fail(L, b, "halted");
    }
  }
  box_return(L, box_idx, expr);
  box_end_run(b);
  return 1;
}

/* jq.run(expr, json_text) -> {text...} | nil, message */
static int jq_run (lua_State *L) {
  size_t len;
  const char *expr = luaL_checkstring(L, 1);
  const char *text = luaL_checklstring(L, 2, &len);
  return run_text(L, expr, text, len);
}

/* jq.eval(expr, value) -> {value...} | nil, message
** Upvalues: 1 = zis.core.encode_json, 2 = zis.core.decode_json.
** encode_json raises on what JSON cannot hold (a function, a NaN): that
** is the caller's misuse and is raised as it is. */
static int jq_eval (lua_State *L) {
  size_t len;
  const char *expr = luaL_checkstring(L, 1);
  const char *text;
  int nres;
  lua_Integer i, n;
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);                      /* [expr, value, text] */
  text = lua_tolstring(L, 3, &len);
  if (text == NULL) return luaL_error(L, "zis.jq: encode_json gave no text");
  nres = run_text(L, expr, text, len);
  if (nres == 2) return 2;                /* nil, message */
  n = (lua_Integer)luaL_len(L, -1);
  for (i = 1; i <= n; i++) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_rawgeti(L, -2, i);
    lua_call(L, 1, 2);                    /* value | nil, message */
    if (lua_isnil(L, -2)) {
      /* jq wrote something zis cannot read (a number beyond a double) */
      lua_pushnil(L);
      lua_pushfstring(L, "jq: result %d is not JSON zis can read: %s", (int)i,
                      luaL_optstring(L, -2, "?"));
      return 2;
    }
    lua_pop(L, 1);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

static const luaL_Reg jq_funcs[] = {
  {"run", jq_run},
  {"cache_limit", jq_cache_limit},
  {"eval", NULL},       /* set below, with the codec as upvalues */
  {NULL, NULL}
};

ZIS_API int luaopen_zis_jq (lua_State *L);

/* Stack: [-0, +1]: the module table. */
ZIS_API int luaopen_zis_jq (lua_State *L) {
  if (luaL_newmetatable(L, JQBOX)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__close");
    lua_pushliteral(L, "locked");   /* getmetatable(box) hides the table */
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_newlib(L, jq_funcs);
  /* zis.core through require, as any Lua module would load it */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "zis.core");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "encode_json");
  lua_getfield(L, -2, "decode_json");     /* [M, core, encode, decode] */
  lua_pushcclosure(L, jq_eval, 2);
  lua_setfield(L, -3, "eval");
  lua_pop(L, 1);
  return 1;
}

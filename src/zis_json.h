/*
** zis_json.h: the JSON bridge of the C core.
**
** One place turns response bytes into Lua values and Lua values into
** request bytes, so the rest of the core never depends on how.
*/
#ifndef ZIS_JSON_H
#define ZIS_JSON_H

#include <stddef.h>
#include "lua.h"

/* Called once by luaopen_zis_core with the module table on top: sets
** decode_json, encode_json, pretty_json, array, object, null,
** array_metatable and object_metatable in it. */
void zis_json_open (lua_State *L);

/* Decodes s[0..n): pushes the value and returns 1, or pushes a message
** ("<what> at byte <n>") and returns 0 for input that is not JSON (or
** that the encoder could not write back: invalid UTF-8, a number beyond
** a double).  Any other error (out of memory, an error raised by a debug
** hook such as lua.c's "interrupted!") propagates unchanged; nothing
** leaks either way. */
int zis_json_decode_buf (lua_State *L, const char *s, size_t n);

/* Encodes the value at idx and pushes the JSON text; raises
** "zis: <what>.path: <reason>" for a value JSON cannot represent. */
void zis_json_encode (lua_State *L, int idx, const char *what);

/* As zis_json_encode, indented by two spaces, object keys sorted
** bytewise, with a final newline. */
void zis_json_pretty (lua_State *L, int idx, const char *what);

#endif

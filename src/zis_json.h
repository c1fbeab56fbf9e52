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

/* Called once by luaopen_zis_core with the module table on top: prepares
** the codec for this state and sets module.null. */
void zis_json_open (lua_State *L);

/* Decodes s[0..n): pushes the value and returns 1, or pushes a message and
** returns 0.  Never raises on bad input (only on out of memory). */
int zis_json_decode_quiet (lua_State *L, const char *s, size_t n);

/* Encodes the value at idx and pushes the JSON text; raises
** "<what>: <reason>" for a value JSON cannot represent. */
void zis_json_encode (lua_State *L, int idx, const char *what);

#endif

/*
** zis_fs.h: the few file-system calls Lua's io library lacks, for
** client:export (lua/zis/export.lua): fsync a file or a folder, list a
** folder.
*/
#ifndef ZIS_FS_H
#define ZIS_FS_H

#include "lua.h"

/* Sets fsync, fsync_dir and list_dir on the table at the top of the stack
** (called once by luaopen_zis_core).  Each returns its result, or nil, a
** message naming the path, and errno (luaL_fileresult's convention). */
void zis_fs_register (lua_State *L);

#endif

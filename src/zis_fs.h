/*
** zis_fs.h: the one way lua-zis writes a file (src/zis_fs.c), and the few
** file-system calls Lua's io library lacks.
*/
#ifndef ZIS_FS_H
#define ZIS_FS_H

#include "lua.h"

/* Sets write_file, open_private, mkdirs, file_type, fsync, fsync_dir and list_dir on
** the table at the top of the stack (called once by luaopen_zis_core).
** Each returns its result, or nil, a message naming the path, and errno
** (luaL_fileresult's convention). */
void zis_fs_open (lua_State *L);

#endif

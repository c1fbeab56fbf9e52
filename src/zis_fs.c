/*
** zis_fs.c: fsync and folder listing for client:export.
**
** A file renamed into place is only durable once its data and the folder
** entry reach the disk: export fsyncs the temporary file before the rename
** and the folder after it.  list_dir lets export find the temporary files a
** killed run left behind.  Failures return nil, "path: strerror", errno,
** as the standard io library does; misuse (a non-string path) raises.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "zis_fs.h"

/* Opens path with flags and fsyncs it; returns 0 or an errno value. */
static int sync_path (const char *path, int flags) {
  int fd, rc, saved;
  do fd = open(path, flags | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  rc = fsync(fd);
  saved = errno;
  close(fd);
  /* some file systems cannot fsync a folder: nothing more can be done */
  if (rc != 0 && (saved == EINVAL || saved == EROFS) && (flags & O_DIRECTORY)) return 0;
  return rc == 0 ? 0 : saved;
}

static int fs_result (lua_State *L, const char *path, int err) {
  if (err == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", path, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

/* fsync(path): the file's data and metadata to disk. */
static int fs_fsync (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  return fs_result(L, path, sync_path(path, O_RDONLY));
}

/* fsync_dir(path): the folder's entries (a rename) to disk. */
static int fs_fsync_dir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  return fs_result(L, path, sync_path(path, O_RDONLY | O_DIRECTORY));
}

/* A DIR* owned by a userdata whose __gc closes it, so an error while the
** names are pushed (out of memory) cannot leak it. */
#define DIR_MT "zis.fs.dir"

static int dir_gc (lua_State *L) {
  DIR **d = (DIR **)luaL_checkudata(L, 1, DIR_MT);
  if (*d != NULL) {
    closedir(*d);
    *d = NULL;
  }
  return 0;
}

/* list_dir(path) -> array of names (without . and ..). */
static int fs_list_dir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR **d;
  struct dirent *e;
  lua_Integer n = 0;
  d = (DIR **)lua_newuserdatauv(L, sizeof(DIR *), 0);   /* owner first */
  *d = NULL;
  if (luaL_newmetatable(L, DIR_MT)) {
    lua_pushcfunction(L, dir_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *d = opendir(path);                                   /* then the resource */
  if (*d == NULL) return fs_result(L, path, errno);
  lua_newtable(L);
  while ((e = readdir(*d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(*d);
  *d = NULL;
  return 1;
}

static const luaL_Reg fs_funcs[] = {
  {"fsync", fs_fsync},
  {"fsync_dir", fs_fsync_dir},
  {"list_dir", fs_list_dir},
  {NULL, NULL}
};

void zis_fs_register (lua_State *L) {
  luaL_setfuncs(L, fs_funcs, 0);
}

/*
** zis_fs.c: the one way lua-zis writes a file, and the few file-system
** calls Lua's io library lacks.
**
** Every file the library or the command line writes (export's bundles,
** import's manifest and bundles, webhook credentials) goes through here,
** never through a shell and never through io.open, because io.open
** follows a symlink planted at the path and truncates its target:
**
**   write_file(path, data, mode): a temporary file in the same folder,
**     created exclusively without following symlinks (O_CREAT | O_EXCL |
**     O_NOFOLLOW) with its final mode, written, fsynced, renamed into
**     place, then the folder fsynced: the file is there whole or not at
**     all.  A symlink at path is refused (rename would replace the link
**     itself, but a user who planted one meant something by it).
**   open_private(path): path itself created exclusively, mode 0600, for
**     secrets shown once (webhook credentials): opened before the request
**     that returns them, so a file that cannot be made costs nothing, and
**     written through the descriptor, so renaming entries in the folder
**     cannot redirect them.
**   mkdirs(path, mode): the missing folders of path.
**   file_type(path): what is at path, without following a symlink.
**
** Failures return nil, "path: reason", errno (luaL_fileresult's
** convention); misuse (a non-string path) raises.  No malloc: paths are
** built in Lua strings, so an error cannot leak them.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "zis_fs.h"

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

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

/* A failure with our own reason (errno err for callers that test it). */
static int fs_fail (lua_State *L, const char *path, const char *why, int err) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", path, why);
  lua_pushinteger(L, err);
  return 3;
}

/* Writes all of data to fd; returns 0 or an errno value. */
static int write_all (int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Pushes the folder part of path ("." when there is none). */
static void push_dirname (lua_State *L, const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) lua_pushliteral(L, ".");
  else if (slash == path) lua_pushliteral(L, "/");
  else lua_pushlstring(L, path, (size_t)(slash - path));
}

/* The reason to refuse writing at path, or NULL: a symlink (never written
** through nor replaced) or a folder. */
static const char *refusal (const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return NULL;
  if (S_ISLNK(st.st_mode)) return "is a symbolic link (refusing to write through it; remove it first)";
  if (S_ISDIR(st.st_mode)) return "is a folder";
  return NULL;
}

static mode_t check_mode (lua_State *L, int arg) {
  lua_Integer mode = luaL_optinteger(L, arg, 0644);
  luaL_argcheck(L, mode >= 0 && mode <= 0777, arg, "mode must be 0 to 0777");
  return (mode_t)mode;
}

/*
** write_file(path, data [, mode = 0644]) -> true | nil, msg, errno.
** The temporary name is "." .. base .. ".zis-tmp-" .. 8 hex digits in the
** same folder (export removes those a killed run left).
*/
static int fs_write_file (lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  mode_t mode = check_mode(L, 3);
  const char *why = refusal(path), *base, *dir, *tmp = NULL;
  unsigned seed;
  int fd = -1, err = 0, i;
  if (why != NULL) return fs_fail(L, path, why, EEXIST);
  lua_settop(L, 3);
  push_dirname(L, path);                               /* slot 4: the folder */
  dir = lua_tostring(L, 4);
  base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (*base == '\0') return fs_fail(L, path, "not a file name", EINVAL);
  seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL) ^ (unsigned)(size_t)&seed;
  for (i = 0; i < 100 && fd < 0; i++) {
    char hex[9];
    seed = seed * 1103515245u + 12345u;
    snprintf(hex, sizeof hex, "%08x", seed);
    lua_settop(L, 4);
    tmp = lua_pushfstring(L, "%s/.%s.zis-tmp-%s", dir, base, hex);   /* slot 5 */
    do fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno != EEXIST) return fs_result(L, path, errno);
  }
  if (fd < 0) return fs_fail(L, path, "cannot make a temporary file", EEXIST);
  /* the mode asked for, whatever the umask: 0600 must never be wider, and
  ** 0644 is what the caller promised its users */
  if (fchmod(fd, mode) != 0) err = errno;
  if (err == 0) err = write_all(fd, data, len);
  if (err == 0 && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && (why = refusal(path)) != NULL) {     /* planted meanwhile */
    unlink(tmp);
    return fs_fail(L, path, why, EEXIST);
  }
  if (err == 0 && rename(tmp, path) != 0) err = errno;
  if (err != 0) {
    unlink(tmp);
    return fs_result(L, path, err);
  }
  err = sync_path(dir, O_RDONLY | O_DIRECTORY);
  return fs_result(L, path, err);
}

/* file_type(path) -> "file" | "folder" | "link" | "other" | nil: what
** is at path, a symlink itself (lstat), so plan can say before apply
** writes that a path is taken. */
static int fs_file_type (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (lstat(path, &st) != 0) {
    luaL_pushfail(L);
    return 1;
  }
  if (S_ISLNK(st.st_mode)) lua_pushliteral(L, "link");
  else if (S_ISDIR(st.st_mode)) lua_pushliteral(L, "folder");
  else if (S_ISREG(st.st_mode)) lua_pushliteral(L, "file");
  else lua_pushliteral(L, "other");
  return 1;
}

/* mkdirs(path [, mode = 0755]) -> true | nil, msg, errno: every missing
** folder of path, each made with mode. */
static int fs_mkdirs (lua_State *L) {
  size_t len, i;
  const char *path = luaL_checklstring(L, 1, &len);
  mode_t mode = check_mode(L, 2);
  struct stat st;
  for (i = 1; i <= len; i++) {
    if (i < len && path[i] != '/') continue;
    lua_pushlstring(L, path, i);
    {
      const char *part = lua_tostring(L, -1);
      if (stat(part, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return fs_fail(L, part, "not a folder", ENOTDIR);
      }
      else if (mkdir(part, mode) != 0 && errno != EEXIST) {
        return fs_result(L, part, errno);
      }
    }
    lua_pop(L, 1);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* {=================================================================
** open_private: a new file of mode 0600, written through its descriptor
** ================================================================== */

#define PRIVATE_MT "zis.fs.private"

typedef struct {
  int fd;         /* -1 once closed */
  dev_t dev;      /* the file made, to tell it from one put in its place */
  ino_t ino;
} Private;

static Private *check_private (lua_State *L) {
  Private *p = (Private *)luaL_checkudata(L, 1, PRIVATE_MT);
  if (p->fd < 0) luaL_error(L, "attempt to use a closed credentials file");
  return p;
}

/* __gc and __close: the descriptor only (the file stays: it may hold a
** secret the caller has not been told about yet). */
static int private_gc (lua_State *L) {
  Private *p = (Private *)luaL_checkudata(L, 1, PRIVATE_MT);
  if (p->fd >= 0) {
    close(p->fd);
    p->fd = -1;
  }
  return 0;
}

/* f:write(data) -> true | nil, msg, errno (upvalue-free; the path is the
** userdata's user value, for messages). */
static int private_write (lua_State *L) {
  Private *p = check_private(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int err = write_all(p->fd, data, len);
  if (err == 0 && fsync(p->fd) != 0) err = errno;
  lua_getiuservalue(L, 1, 1);
  return fs_result(L, lua_tostring(L, -1), err);
}

/* f:close() -> true | nil, msg, errno: closes, then fsyncs the folder so
** the new entry survives a crash. */
static int private_close (lua_State *L) {
  Private *p = check_private(L);
  int err = 0;
  const char *path;
  if (close(p->fd) != 0) err = errno;
  p->fd = -1;
  lua_getiuservalue(L, 1, 1);
  path = lua_tostring(L, -1);
  if (err == 0) {
    push_dirname(L, path);
    err = sync_path(lua_tostring(L, -1), O_RDONLY | O_DIRECTORY);
  }
  return fs_result(L, path, err);
}

/* f:discard(): closes and removes the file, if the path still names the
** file made (nothing was written to it that anyone needs). */
static int private_discard (lua_State *L) {
  Private *p = check_private(L);
  struct stat st;
  const char *path;
  lua_getiuservalue(L, 1, 1);
  path = lua_tostring(L, -1);
  if (lstat(path, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino) unlink(path);
  close(p->fd);
  p->fd = -1;
  lua_pushboolean(L, 1);
  return 1;
}

/* open_private(path) -> file | nil, msg, errno */
static int fs_open_private (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  Private *p;
  struct stat st;
  const char *why = refusal(path);
  if (why != NULL) return fs_fail(L, path, why, EEXIST);
  p = (Private *)lua_newuserdatauv(L, sizeof(Private), 1);   /* owner first */
  p->fd = -1;
  luaL_setmetatable(L, PRIVATE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  do p->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  while (p->fd < 0 && errno == EINTR);                       /* then the file */
  if (p->fd < 0) {
    if (errno == EEXIST) {
      return fs_fail(L, path, "already exists (it may hold other credentials: move it away first)",
                     EEXIST);
    }
    return fs_result(L, path, errno);
  }
  if (fchmod(p->fd, 0600) != 0 || fstat(p->fd, &st) != 0) {
    int err = errno;
    close(p->fd);
    p->fd = -1;
    unlink(path);
    return fs_result(L, path, err);
  }
  p->dev = st.st_dev;
  p->ino = st.st_ino;
  return 1;
}

static const luaL_Reg private_methods[] = {
  {"write", private_write},
  {"close", private_close},
  {"discard", private_discard},
  {NULL, NULL}
};

/* }================================================================= */

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
  luaL_setmetatable(L, DIR_MT);
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

/* core.isatty(fd) -> boolean: is the descriptor (0, 1, 2) a terminal?
** The CLI asks this instead of running `test -t` through a shell. */
static int fs_isatty (lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* core.tty_echo(fd, on) -> boolean: turns a terminal's echo on or off
** (a secret typed at a prompt is not shown); false when fd is no terminal.
** Instead of running stty through a shell. */
static int fs_tty_echo (lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1), on = lua_toboolean(L, 2);
  struct termios t;
  if (tcgetattr(fd, &t) != 0) { lua_pushboolean(L, 0); return 1; }
  if (on) t.c_lflag |= ECHO; else t.c_lflag &= ~(tcflag_t)ECHO;
  lua_pushboolean(L, tcsetattr(fd, TCSANOW, &t) == 0);
  return 1;
}

static const luaL_Reg fs_funcs[] = {
  {"isatty", fs_isatty},
  {"tty_echo", fs_tty_echo},
  {"write_file", fs_write_file},
  {"open_private", fs_open_private},
  {"mkdirs", fs_mkdirs},
  {"file_type", fs_file_type},
  {"fsync", fs_fsync},
  {"fsync_dir", fs_fsync_dir},
  {"list_dir", fs_list_dir},
  {NULL, NULL}
};

void zis_fs_open (lua_State *L) {
  /* the metatables once, here, so no call races to make them */
  luaL_newmetatable(L, DIR_MT);
  lua_pushcfunction(L, dir_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, PRIVATE_MT);
  lua_pushcfunction(L, private_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, private_gc);
  lua_setfield(L, -2, "__close");
  luaL_newlib(L, private_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, fs_funcs, 0);
}

/* liofile.c: the io library's opens and closes that wait, in goroutines: io.open of
** a FIFO (open(2) waits for the other end) and the close of an io.popen file (pclose). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>

#include "../core/offload.h"
#include "goroutine.h"

void liofile_install(lua_State *L, int methods);   /* called by lio.c */

/* liolib's close functions (io_fclose, io_pclose: static there), learned
** from files it made: a stream is a popen one exactly when its closef is
** io_pclose, and a FIFO opened here gets io_fclose as io.open's files do.
** One liolib per process, so one pointer for every state. */
static _Atomic(lua_CFunction) lib_fclose, lib_pclose;

/* One open or pclose, in a userdata on the caller's stack (it survives the
** park); the helper thread fills the results. */
typedef struct file_job {
  offload_job job;
  const char *path, *mode;   /* open: anchored at stack indices 1 and 2 */
  FILE *f;                   /* open: the result; pclose: the stream */
  int status;                /* pclose's */
  int err;                   /* errno after the call */
} file_job;

/* ---- on the helper thread ---- */

static void run_open(void *arg) {
  file_job *j = arg;
  errno = 0;
  j->f = fopen(j->path, j->mode);
  j->err = errno;
}

static void run_pclose(void *arg) {
  file_job *j = arg;
  errno = 0;   /* as liolib's io_pclose: luaL_execresult tells errors by it */
  j->status = pclose(j->f);
  j->err = errno;
}

/* ---- on the worker ---- */

static const park_ops file_ops = {"IO wait", offload_unlock, offload_cancel};

/* In a goroutine that can park? Else the library's original runs. */
static bool offloading(lua_State *L) {
  return sched_running() != NULL && lua_isyieldable(L);
}

/* Calls the library's function (upvalue 1) with the stack's values. The
** wrappers check the arguments first: an error raised in the original
** would name it '?' (it is no longer in the io table). */
static int call_original(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static file_job *new_job(lua_State *L) {
  file_job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  return j;
}

/* Runs fn(j) on a helper thread while the goroutine parks, then k; op is
** begun already. Nothing may raise between the submit and the park. */
static int park_on(lua_State *L, lugo_op *op, file_job *j, void (*fn)(void *),
                   lua_KFunction k) {
  j->job.fn = fn;
  j->job.arg = j;
  j->job.task = op->task;
  if (!offload_submit(&j->job)) {   /* no helper could start */
    fn(j);
    return k(L, LUA_OK, 0);
  }
  return op_park(L, op, &file_ops, &j->job, k);
}

/* -- close -- */

static int pclose_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  file_job *j = lua_touserdata(L, -1);
  errno = j->err;
  return luaL_execresult(L, j->status);
}

/* file:close() (upvalue: the library's): a popen stream's pclose waits
** for the child, so it runs on a helper. The stream is marked closed
** first, as liolib's aux_close does, so any later use of it raises. */
static int file_close(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (p->closef == NULL) return luaL_error(L, "attempt to use a closed file");
  if (p->closef != atomic_load(&lib_pclose) || !offloading(L)) return call_original(L);
  lua_settop(L, 1);   /* the file stays anchored while the goroutine parks */
  file_job *j = new_job(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);   /* may raise: before the marking */
  j->f = p->f;
  p->closef = NULL;
  return park_on(L, op, j, run_pclose, pclose_done);
}

/* io.close([file]) (upvalue: the library's): the default output file
** when none is given, as liolib's io_close. */
static int io_close(lua_State *L) {
  if (lua_isnone(L, 1)) lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
  return file_close(L);
}

/* -- open -- */

/* liolib's l_checkmode: "[rwa]%+?b*". */
static bool valid_open_mode(const char *mode) {
  if (*mode == '\0' || strchr("rwa", *mode++) == NULL) return false;
  if (*mode == '+') mode++;
  return strspn(mode, "b") == strlen(mode);
}

/* Whether an open of path may wait: a FIFO's open waits for its other
** end. Regular files, directories and devices (a terminal, /dev/null)
** open at once and stay on the worker, at the library's speed. */
static bool open_may_wait(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* liolib's io_fclose, learned from a file the library's io.open (upvalue
** 1) makes; NULL if none could be opened. */
static lua_CFunction learn_fclose(lua_State *L) {
  lua_CFunction fclose_fn = atomic_load(&lib_fclose);
  if (fclose_fn) return fclose_fn;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushliteral(L, "/dev/null");
  lua_call(L, 1, 1);
  luaL_Stream *p = luaL_testudata(L, -1, LUA_FILEHANDLE);
  if (p && p->closef) {
    fclose_fn = p->closef;
    atomic_store(&lib_fclose, fclose_fn);
    fclose(p->f);
    p->closef = NULL;   /* closed, as liolib's aux_close leaves it */
  }
  lua_pop(L, 1);
  return fclose_fn;
}

static int open_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  file_job *j = lua_touserdata(L, -2);
  luaL_Stream *p = lua_touserdata(L, -1);
  if (j->f == NULL) {
    errno = j->err;
    return luaL_fileresult(L, 0, lua_tostring(L, 1));
  }
  p->f = j->f;
  p->closef = atomic_load(&lib_fclose);
  return 1;
}

/* io.open(filename [, mode]) (upvalue: the library's): an open that may
** wait runs on a helper. The file is made before, closed (as liolib's
** newprefile makes it, so that a memory error leaks nothing), and opened
** once fopen has returned. */
static int io_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  luaL_argcheck(L, valid_open_mode(mode), 2, "invalid mode");
  if (!offloading(L) || !open_may_wait(path) || !learn_fclose(L)) return call_original(L);
  lua_settop(L, 2);   /* path and mode stay anchored while the goroutine parks */
  file_job *j = new_job(L);
  j->path = path;
  j->mode = mode;
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->f = NULL;
  p->closef = NULL;
  luaL_setmetatable(L, LUA_FILEHANDLE);
  outside_op storage;
  return park_on(L, op_begin(L, &storage), j, run_open, open_done);
}

/* -- popen -- */

/* io.popen(prog [, mode]) (upvalue: the library's, which runs as it is:
** popen forks and returns): learns io_pclose from the file it makes. The
** checks are liolib's (l_checkmodep: "r" or "w"). */
static int io_popen(lua_State *L) {
  luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  luaL_argcheck(L, (mode[0] == 'r' || mode[0] == 'w') && mode[1] == '\0', 2, "invalid mode");
  int n = call_original(L);
  luaL_Stream *p = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (p && p->closef) atomic_store(&lib_pclose, p->closef);
  return n;
}

/* Replaces name in the table at idx by fn with the old value as upvalue. */
static void wrap(lua_State *L, int idx, const char *name, lua_CFunction fn) {
  lua_getfield(L, idx, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, idx, name);
}

/* Wraps file:close (in the file methods' table at methods), io.close,
** io.open and io.popen. Once per state (lio_install sees to it). */
void liofile_install(lua_State *L, int methods) {
  wrap(L, methods, "close", file_close);
  lua_getglobal(L, "io");
  if (lua_istable(L, -1)) {
    int io = lua_gettop(L);
    wrap(L, io, "close", io_close);
    wrap(L, io, "open", io_open);
    wrap(L, io, "popen", io_popen);
  }
  lua_pop(L, 1);
}

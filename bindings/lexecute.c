/* lexecute.c: os.execute in goroutines (/bin/sh -c cmd from posix_spawn, waited for on
** a helper thread while the goroutine parks), and the signal state children start with. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lauxlib.h>

#include "../core/offload.h"
#include "goroutine.h"

extern char **environ;

void lexecute_install(lua_State *L);   /* called by lio.c */
int lexecute_spawnattr_init(posix_spawnattr_t *attr);   /* used by lexec.c too */

/* Inits attr so that the child starts with no signal blocked and INT, QUIT
** and PIPE at their default actions, whatever this process does with them
** (Go's children start so): a worker's mask (SIGQUIT blocked by the lugo
** command) or an ignored SIGPIPE must not leak into a program that expects
** Ctrl-C and broken pipes to end it. 0 or an error number. */
int lexecute_spawnattr_init(posix_spawnattr_t *attr) {
  int err = posix_spawnattr_init(attr);
  if (err) return err;
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGQUIT);
  sigaddset(&defaults, SIGPIPE);
  err = posix_spawnattr_setsigmask(attr, &none);
  if (!err) err = posix_spawnattr_setsigdefault(attr, &defaults);
  if (!err) err = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (err) posix_spawnattr_destroy(attr);
  return err;
}

/* One os.execute, in a userdata on the caller's stack (it survives the
** park); the helper thread fills the results. */
typedef struct execute_job {
  offload_job job;
  const char *cmd;           /* anchored at stack index 1 */
  int status, err;           /* as system(3) returns them */
} execute_job;

/* On the helper thread: what system(3) does, without what system(3) does
** to the whole process while it waits (SIGINT and SIGQUIT ignored, SIGCHLD
** blocked, the old actions put back after): other goroutines run on
** meanwhile, and would lose a Ctrl-C, or a lugo.signal made meanwhile. The
** results are glibc's: a shell that cannot start is an exit with 127. */
static void run_command(void *arg) {
  execute_job *j = arg;
  char *argv[] = {"sh", "-c", (char *)j->cmd, NULL};
  posix_spawnattr_t attr;
  pid_t pid;
  int err = lexecute_spawnattr_init(&attr);
  if (!err) {
    err = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
  }
  if (err) {
    j->status = W_EXITCODE(127, 0);
    j->err = err;
    return;
  }
  pid_t r;
  while ((r = waitpid(pid, &j->status, 0)) < 0 && errno == EINTR) {}
  if (r != pid) {
    j->status = -1;
    j->err = errno;
  }
}

static int execute_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  execute_job *j = lua_touserdata(L, -1);
  errno = j->err;
  return luaL_execresult(L, j->status);
}

static const park_ops execute_ops = {"IO wait", offload_unlock, offload_cancel};

/* os.execute([cmd]); upvalue 1: the library's. The library's runs where
** the caller cannot park (outside the runtime), and for the shell check. */
static int os_execute(lua_State *L) {
  if (lua_isnoneornil(L, 1) || sched_running() == NULL || !lua_isyieldable(L)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  const char *cmd = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  execute_job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  j->cmd = cmd;
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  j->job.fn = run_command;
  j->job.arg = j;
  j->job.task = op->task;
  if (!offload_submit(&j->job)) {
    run_command(j);
    return execute_done(L, LUA_OK, 0);
  }
  return op_park(L, op, &execute_ops, &j->job, execute_done);
}

/* Wraps os.execute, once per state (lio_install sees to it). */
void lexecute_install(lua_State *L) {
  lua_getglobal(L, "os");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "execute");
    lua_pushcclosure(L, os_execute, 1);
    lua_setfield(L, -2, "execute");
  }
  lua_pop(L, 1);
}

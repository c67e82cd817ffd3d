/* lexec.c: lugo.exec: processes started with posix_spawn, their pipes as
** lugo.net streams, and a wait that parks on the process's pidfd (readable
** once it exits) through the netpoller. The exit is reaped once, by wait. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lauxlib.h>

#include "goroutine.h"
#include "handle.h"
#include "lnet.h"
#include "module.h"

int lexecute_spawnattr_init(posix_spawnattr_t *attr);   /* lexecute.c */

typedef struct process {
  lugo_obj obj;
  pid_t pid;
  net_sock *exit;            /* the pidfd, polled for the exit */
  net_sock *pipes[3];        /* stdin, stdout, stderr streams, or NULL */
  pthread_mutex_t mu;        /* guards the fields below */
  bool reaped;
  int code, signal;          /* once reaped: exit code, or the signal */
} process;

static void process_destroy(lugo_obj *o) {
  process *p = (process *)o;
  pthread_mutex_lock(&p->mu);
  if (!p->reaped) waitpid(p->pid, NULL, WNOHANG);   /* if it has ended: no zombie */
  pthread_mutex_unlock(&p->mu);
  if (p->exit) obj_release(&p->exit->obj);
  for (int i = 0; i < 3; i++)
    if (p->pipes[i]) obj_release(&p->pipes[i]->obj);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* ---- signals by name ---- */

static const struct { const char *name; int sig; } signals[] = {
  {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT}, {"HUP", SIGHUP},
  {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
  {"CONT", SIGCONT}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH},
  {"SEGV", SIGSEGV}, {"ABRT", SIGABRT}, {"BUS", SIGBUS}, {"FPE", SIGFPE},
  {"ILL", SIGILL}, {"TRAP", SIGTRAP}, {NULL, 0}
};

static const char *signal_name(int sig) {
  for (int i = 0; signals[i].name; i++)
    if (signals[i].sig == sig) return signals[i].name;
  return "?";
}

/* ---- spawn ---- */

/* One stdio option: "inherit", "pipe" or "null" (0, 1, 2). */
static int stdio_option(lua_State *L, int opts, const char *field) {
  static const char *const names[] = {"inherit", "pipe", "null", NULL};
  if (!lua_istable(L, opts)) return 0;
  lua_getfield(L, opts, field);
  int which = lua_isnil(L, -1) ? 0 : luaL_checkoption(L, -1, NULL, names);
  lua_pop(L, 1);
  return which;
}

/* argv (or env) from the table at idx as a NULL-ended array of strings;
** the strings and the array stay anchored on the Lua stack. env may also
** have name = value fields. */
static char **string_list(lua_State *L, int idx, const char *what, bool pairs_too) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  int anchor = lua_gettop(L), k = 0;
  for (int i = 1; i <= (int)lua_rawlen(L, idx); i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "lugo.exec: %s[%d] must be a string, got %s", what, i, luaL_typename(L, -1));
    lua_tostring(L, -1);
    lua_rawseti(L, anchor, ++k);
  }
  if (pairs_too) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        const char *name = lua_tostring(L, -2);
        const char *value = luaL_tolstring(L, -1, NULL);
        lua_pushfstring(L, "%s=%s", name, value);
        lua_rawseti(L, anchor, ++k);
        lua_pop(L, 1);   /* tolstring's */
      }
      lua_pop(L, 1);
    }
  }
  char **list = lua_newuserdatauv(L, (size_t)(k + 1) * sizeof *list, 0);
  for (int j = 1; j <= k; j++) {
    lua_rawgeti(L, anchor, j);
    list[j - 1] = (char *)lua_tostring(L, -1);   /* kept alive by anchor */
    lua_pop(L, 1);
  }
  list[k] = NULL;
  return list;
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, lua_rawlen(L, 1) >= 1, 1, "argv needs at least the program");
  lua_settop(L, 2);
  int how[3] = {stdio_option(L, 2, "stdin"), stdio_option(L, 2, "stdout"),
                stdio_option(L, 2, "stderr")};
  const char *cwd = NULL;
  char **env = NULL;
  if (lua_istable(L, 2)) {
    if (lua_getfield(L, 2, "cwd") != LUA_TNIL) cwd = luaL_checkstring(L, -1);
    if (lua_getfield(L, 2, "env") != LUA_TNIL) {
      luaL_checktype(L, -1, LUA_TTABLE);
      env = string_list(L, lua_gettop(L), "env", true);
    }
  }
  char **argv = string_list(L, 1, "argv", false);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int ours[3] = {-1, -1, -1}, theirs[3] = {-1, -1, -1}, err = 0;
  for (int i = 0; i < 3 && !err; i++) {
    if (how[i] == 1) {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) { err = errno; break; }
      theirs[i] = i == 0 ? fds[0] : fds[1];
      ours[i] = i == 0 ? fds[1] : fds[0];
      fcntl(ours[i], F_SETFL, fcntl(ours[i], F_GETFL) | O_NONBLOCK);
      /* dup2 onto 0/1/2 clears CLOEXEC there; the originals close at exec. */
      posix_spawn_file_actions_adddup2(&fa, theirs[i], i);
    } else if (how[i] == 2) {
      posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
  extern char **environ;
  pid_t pid = 0;
  posix_spawnattr_t attr;   /* no signal blocked; INT, QUIT, PIPE at their defaults */
  if (!err) err = lexecute_spawnattr_init(&attr);
  if (!err) {
    err = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env ? env : environ);
    posix_spawnattr_destroy(&attr);
  }
  posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 3; i++) if (theirs[i] >= 0) close(theirs[i]);   /* the child's now */
  if (err) {
    for (int i = 0; i < 3; i++) if (ours[i] >= 0) close(ours[i]);
    return net_push_error(L, err);
  }
  process *p = calloc(1, sizeof *p);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  if (!p || pidfd < 0) {
    err = p ? errno : ENOMEM;
    free(p);
    if (pidfd >= 0) close(pidfd);
    for (int i = 0; i < 3; i++) if (ours[i] >= 0) close(ours[i]);
    return net_push_error(L, err);   /* the child runs on, unwatched */
  }
  obj_init(&p->obj, OBJ_PROCESS, process_destroy);
  pthread_mutex_init(&p->mu, NULL);
  p->pid = pid;
  p->exit = net_sock_new(pidfd, OBJ_CONN);
  if (!p->exit) close(pidfd);
  for (int i = 0; i < 3; i++) {
    if (ours[i] < 0) continue;
    p->pipes[i] = net_sock_new(ours[i], OBJ_CONN);
    if (!p->pipes[i]) close(ours[i]);
  }
  handle_push_new(L, &p->obj);
  return 1;
}

/* ---- the process object ---- */

static process *check_process(lua_State *L) {
  return (process *)handle_check(L, 1, OBJ_PROCESS)->obj;
}

/* Pushes wait's results from the reaped status. */
static int push_exit(lua_State *L, process *p) {
  if (p->signal) {
    lua_pushnil(L);
    lua_pushstring(L, signal_name(p->signal));
    return 2;
  }
  lua_pushinteger(L, p->code);
  return 1;
}

static int wait_loop(lua_State *L);

static int wait_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  process *p = check_process(L);
  int r = net_wait_result(L, ctx, p->exit, NETPOLL_READ);
  if (r > 0) {
    net_sock_leave(p->exit);
    return r;
  }
  return wait_loop(L);
}

static int wait_loop(lua_State *L) {
  process *p = check_process(L);
  for (;;) {
    pthread_mutex_lock(&p->mu);
    if (!p->reaped) {
      int st;
      pid_t r = waitpid(p->pid, &st, WNOHANG);
      if (r == p->pid) {
        p->reaped = true;
        p->code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
        p->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
      } else if (r < 0) {
        int err = errno;
        pthread_mutex_unlock(&p->mu);
        net_sock_leave(p->exit);
        return net_push_error(L, err);
      }
    }
    bool reaped = p->reaped;
    pthread_mutex_unlock(&p->mu);
    if (reaped) {
      net_sock_leave(p->exit);
      return push_exit(L, p);
    }
    return net_wait(L, p->exit, NETPOLL_READ, wait_resumed);
  }
}

static int l_wait(lua_State *L) {
  process *p = check_process(L);
  lua_settop(L, 1);
  if (!p->exit || !net_sock_enter(p->exit)) return luaL_error(L, "lugo.exec: cannot wait for process %d", (int)p->pid);
  return wait_loop(L);
}

static int l_kill(lua_State *L) {
  process *p = check_process(L);
  const char *name = luaL_optstring(L, 2, "TERM");
  int sig = 0;
  for (int i = 0; signals[i].name; i++)
    if (strcmp(signals[i].name, name) == 0) sig = signals[i].sig;
  if (!sig) return luaL_argerror(L, 2, lua_pushfstring(L, "unknown signal '%s'", name));
  pthread_mutex_lock(&p->mu);
  int rc = p->reaped ? -1 : kill(p->pid, sig);   /* never a reused pid */
  int err = p->reaped ? ESRCH : errno;
  pthread_mutex_unlock(&p->mu);
  if (rc != 0) return net_push_error(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_index(lua_State *L) {
  process *p = check_process(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "pid") == 0) {
    lua_pushinteger(L, p->pid);
    return 1;
  }
  static const char *const streams[] = {"stdin", "stdout", "stderr"};
  for (int i = 0; i < 3; i++) {
    if (strcmp(key, streams[i]) != 0) continue;
    if (p->pipes[i]) handle_push(L, &p->pipes[i]->obj, 0); else lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));   /* the methods */
  lua_getfield(L, -1, key);
  return 1;
}

/* output(argv [, opts]): runs to the end; its stdout and exit code. */
static const char output_lua[] =
    "local spawn = ...\n"
    "return function(argv, opts)\n"
    "  local o = {}\n"
    "  for k, v in pairs(opts or {}) do o[k] = v end\n"
    "  o.stdout = 'pipe'\n"
    "  local p, err, name = spawn(argv, o)\n"
    "  if not p then return nil, err, name end\n"
    "  local out = p.stdout:read('a')\n"
    "  p.stdout:close()\n"
    "  local code, sig = p:wait()\n"
    "  if code == nil and sig then return out, nil, sig end\n"
    "  return out, code\n"
    "end\n";

void lexec_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"wait", l_wait}, {"kill", l_kill}, {NULL, NULL}};
  static const luaL_Reg metamethods[] = {{NULL, NULL}};
  handle_register(L, OBJ_PROCESS, methods, metamethods);
  handle_push_metatable(L, OBJ_PROCESS);
  lua_getfield(L, -1, "__index");
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, l_spawn);
  lua_setfield(L, -2, "spawn");
  if (luaL_loadbuffer(L, output_lua, sizeof output_lua - 1, "=lugo.exec.output") != LUA_OK)
    lua_error(L);
  lua_pushcfunction(L, l_spawn);
  lua_call(L, 1, 1);
  lua_setfield(L, -2, "output");
  lua_setfield(L, -2, "exec");
}

/* lsignal.c: lugo.signal: notifiers that receive signals on a channel. The
** handler only writes the signal's number to a pipe (async-signal-safe);
** a dispatcher thread reads it and sends the name to every notifier of that
** signal, dropping it where one already waits (Go's signal.Notify with a
** buffer of 1). Registry under sig_mu; the dispatcher exits at close. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>

#include "../core/chan.h"
#include "../core/scheduler.h"
#include "codec_plain.h"
#include "handle.h"
#include "lsignal.h"
#include "module.h"

static const struct { const char *name; int sig; } names[] = {
  {"INT", SIGINT}, {"TERM", SIGTERM}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
  {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {NULL, 0}
};

typedef struct notifier notifier;
struct notifier {
  lugo_obj obj;
  chan *c;                   /* capacity 1; the notifier's reference */
  sigset_t sigs;             /* what it receives */
  bool stopped;              /* under sig_mu */
  notifier *next;            /* under sig_mu: the registry */
};

static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static notifier *registry;
static int users[NSIG];                  /* notifiers per signal */
static struct sigaction saved[NSIG];     /* the action before the first */
static int pipe_fds[2] = {-1, -1};
static pthread_t dispatcher;
static bool dispatching;

static void on_signal(int sig) {
  int saved_errno = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t n = write(pipe_fds[1], &b, 1);   /* a full pipe drops it: fine */
  (void)n;
  errno = saved_errno;
}

static const char *name_of(int sig) {
  for (int i = 0; names[i].name; i++)
    if (names[i].sig == sig) return names[i].name;
  return "?";
}

/* Sends the signal's name to every notifier of it that has room. */
static void deliver(int sig) {
  lugo_value v = {.type = LUGO_TSTRING};
  v.u.s.ptr = name_of(sig);
  v.u.s.len = strlen(v.u.s.ptr);
  pthread_mutex_lock(&sig_mu);
  for (notifier *n = registry; n; n = n->next) {
    if (n->stopped || !sigismember(&n->sigs, sig)) continue;
    codec_msg msg;
    if (codec_from_value(&msg, &v) != LUGO_OK) continue;
    if (chan_send(n->c, &msg, NULL, NULL) != CHAN_OK) codec_free(&msg);   /* one waits already */
  }
  pthread_mutex_unlock(&sig_mu);
}

static void *dispatch_main(void *arg) {
  (void)arg;
  for (;;) {
    unsigned char b;
    ssize_t n = read(pipe_fds[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || b == 0) break;   /* 0: lsignal_shutdown */
    deliver(b);
  }
  return NULL;
}

/* Under sig_mu: the pipe and the dispatcher, once. */
static bool start_dispatcher(void) {
  if (dispatching) return true;
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  fcntl(pipe_fds[1], F_SETFL, fcntl(pipe_fds[1], F_GETFL) | O_NONBLOCK);
  if (pthread_create(&dispatcher, NULL, dispatch_main, NULL) != 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    pipe_fds[0] = pipe_fds[1] = -1;
    return false;
  }
  dispatching = true;
  return true;
}

/* Under sig_mu: n stops receiving; the default actions come back for the
** signals nobody else wants. */
static void stop_locked(notifier *n) {
  if (n->stopped) return;
  n->stopped = true;
  for (notifier **p = &registry; *p; p = &(*p)->next)
    if (*p == n) {
      *p = n->next;
      break;
    }
  for (int i = 0; names[i].name; i++) {
    int sig = names[i].sig;
    if (sigismember(&n->sigs, sig) && --users[sig] == 0) sigaction(sig, &saved[sig], NULL);
  }
  sched_awake_add(-1);   /* it no longer counts as something that can wake */
}

static void notifier_destroy(lugo_obj *o) {
  notifier *n = (notifier *)o;
  pthread_mutex_lock(&sig_mu);
  stop_locked(n);
  pthread_mutex_unlock(&sig_mu);
  obj_release((lugo_obj *)n->c);
  free(n);
}

static int l_signal(lua_State *L) {
  int count = lua_gettop(L);
  luaL_argcheck(L, count >= 1, 1, "a signal name expected");
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int i = 1; i <= count; i++) {
    const char *want = luaL_checkstring(L, i);
    int sig = 0;
    for (int k = 0; names[k].name; k++)
      if (strcmp(names[k].name, want) == 0) sig = names[k].sig;
    if (!sig)
      return luaL_argerror(L, i, lua_pushfstring(L, "unknown signal '%s' (INT, TERM, HUP, "
                                                 "QUIT, USR1, USR2 or WINCH)", want));
    sigaddset(&sigs, sig);
  }
  notifier *n = calloc(1, sizeof *n);
  chan *c = n ? lchan_new(1) : NULL;
  if (!c) {
    free(n);
    return luaL_error(L, "lugo.signal: out of memory");
  }
  obj_init(&n->obj, OBJ_NOTIFIER, notifier_destroy);
  n->c = c;
  n->sigs = sigs;
  pthread_mutex_lock(&sig_mu);
  if (!start_dispatcher()) {
    pthread_mutex_unlock(&sig_mu);
    obj_release((lugo_obj *)c);
    free(n);
    return luaL_error(L, "lugo.signal: cannot start: %s", strerror(errno));
  }
  for (int k = 0; names[k].name; k++) {
    int sig = names[k].sig;
    if (!sigismember(&sigs, sig) || users[sig]++ > 0) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &saved[sig]);
  }
  n->next = registry;
  registry = n;
  sched_awake_add(1);   /* a signal can still come: waiting for it is no deadlock */
  pthread_mutex_unlock(&sig_mu);
  handle_push_new(L, &n->obj);
  return 1;
}

static notifier *check_notifier(lua_State *L) {
  return (notifier *)handle_check(L, 1, OBJ_NOTIFIER)->obj;
}

static int l_stop(lua_State *L) {
  notifier *n = check_notifier(L);
  pthread_mutex_lock(&sig_mu);
  stop_locked(n);
  pthread_mutex_unlock(&sig_mu);
  return 0;
}

static int l_index(lua_State *L) {
  notifier *n = check_notifier(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "c") == 0) {
    handle_push(L, (lugo_obj *)n->c, HANDLE_RECVONLY);
    return 1;
  }
  if (strcmp(key, "stop") == 0) {
    lua_pushcfunction(L, l_stop);
    return 1;
  }
  return 0;
}

void lsignal_shutdown(void) {
  pthread_mutex_lock(&sig_mu);
  bool running = dispatching;
  dispatching = false;
  pthread_mutex_unlock(&sig_mu);
  if (!running) return;
  unsigned char stop = 0;
  ssize_t w = write(pipe_fds[1], &stop, 1);
  (void)w;
  pthread_join(dispatcher, NULL);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  pipe_fds[0] = pipe_fds[1] = -1;
}

void lsignal_open(lua_State *L) {
  static const luaL_Reg none[] = {{NULL, NULL}};
  static const luaL_Reg metamethods[] = {{"__index", l_index}, {"__close", l_stop}, {NULL, NULL}};
  handle_register(L, OBJ_NOTIFIER, none, metamethods);
  lua_pushcfunction(L, l_signal);
  lua_setfield(L, -2, "signal");
}

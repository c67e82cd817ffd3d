/* embed.c: the runtime's life as lugo.h gives it to hosts: options, open,
** close, and each thread's last error. The options are set once per open,
** under life_mu, and read without it while the runtime is open. */
#define _GNU_SOURCE 1   /* vasprintf */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <time.h>

#include "../core/netpoll.h"
#include "../core/offload.h"
#include "../core/pool.h"
#include "../core/scheduler.h"
#include "embed.h"
#include "goroutine.h"
#include "hostrun.h"
#include "lsignal.h"
#include "vmalloc.h"

static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;  /* open, close */
static atomic_bool is_open;
static lugo_options options;
/* This thread is in lugo_open: a hook that requires "lugo" meanwhile must
** not open the runtime again (nor wait for life_mu, which it holds). */
static _Thread_local bool opening;

/* ---- errors ---- */

static pthread_key_t error_key;   /* the thread's last message (malloc'd) */
static pthread_once_t error_key_once = PTHREAD_ONCE_INIT;

static void make_error_key(void) {
  pthread_key_create(&error_key, free);
}

int embed_set_error(int code, const char *fmt, ...) {
  pthread_once(&error_key_once, make_error_key);
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
  va_end(ap);
  free(pthread_getspecific(error_key));
  pthread_setspecific(error_key, msg);
  return code;
}

LUGO_API const char *lugo_errmsg(void) {
  pthread_once(&error_key_once, make_error_key);
  const char *msg = pthread_getspecific(error_key);
  return msg ? msg : "no error";
}

LUGO_API const char *lugo_strerror(int code) {
  switch (code) {
    case LUGO_OK: return "success";
    case LUGO_EINVAL: return "invalid argument";
    case LUGO_ENOMEM: return "not enough memory";
    case LUGO_ESTATE: return "the runtime is not open, or already is";
    case LUGO_ECLOSED: return "channel closed";
    case LUGO_ETIMEDOUT: return "timed out";
    case LUGO_ELUA: return "Lua error";
    case LUGO_EDEADLOCK: return "deadlock: all goroutines are asleep";
    case LUGO_EBUSY: return "the runtime could not stop in time";
    default: return "unknown error code";
  }
}

/* ---- options ---- */

LUGO_API void lugo_options_init(lugo_options *o) {
  memset(o, 0, sizeof *o);
}

/* Calls the hook under pcall: it may raise (a luaL_requiref that fails). */
static int call_on_state(lua_State *L) {
  int rc = options.on_state(L, options.ud);
  lua_pushinteger(L, rc);
  return 1;
}

int embed_run_on_state(lua_State *L) {
  if (!options.on_state) return LUGO_OK;
  int top = lua_gettop(L);
  lua_pushcfunction(L, call_on_state);
  int status = lua_pcall(L, 0, 1, 0);
  int rc = LUGO_OK;
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    rc = embed_set_error(LUGO_ELUA, "on_state: %s", msg ? msg : "(error object is not a string)");
  } else if (lua_tointeger(L, -1) != 0) {
    rc = embed_set_error(LUGO_ELUA, "on_state returned %d", (int)lua_tointeger(L, -1));
  }
  lua_settop(L, top);
  return rc;
}

bool embed_panic_handler(void (**fn)(const char *report, void *ud), void **ud) {
  if (!options.on_panic) return false;
  *fn = options.on_panic;
  *ud = options.ud;
  return true;
}

/* ---- open ---- */

static int check_options(const lugo_options *o) {
  if (o->workers < 0 || o->workers > 1024)
    return embed_set_error(LUGO_EINVAL, "lugo_open: workers must be from 0 to 1024, got %d",
                           o->workers);
  int sig = o->preempt_signal;
  if (sig < -1 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
    return embed_set_error(LUGO_EINVAL, "lugo_open: preempt_signal must be 0, -1 or a "
                           "signal that can be caught, got %d", sig);
  return LUGO_OK;
}

/* The hook must work before the first worker needs it: try it on a state
** of the host's thread (the standard libraries, no lugo). */
static int probe_on_state(void) {
  lua_State *L = luaL_newstate();
  if (!L) return embed_set_error(LUGO_ENOMEM, "lugo_open: cannot create a Lua state");
  luaL_openlibs(L);
  int rc = embed_run_on_state(L);
  lua_close(L);
  return rc;
}

static int open_locked(const lugo_options *o) {
  int rc = check_options(o);
  if (rc != LUGO_OK) return rc;
  if (atomic_load(&is_open))
    return embed_set_error(LUGO_ESTATE, "lugo_open: the runtime is already open");
  options = *o;
  opening = true;
  rc = probe_on_state();
  opening = false;
  if (rc != LUGO_OK) {
    memset(&options, 0, sizeof options);
    return rc;
  }
  if (o->workers > 0) sched_set_workers(o->workers);
  sched_set_preempt_signal(o->preempt_signal);
  sched_init(&gor_hooks);
  atomic_store(&is_open, true);
  return LUGO_OK;
}

LUGO_API int lugo_open(const lugo_options *o) {
  lugo_options defaults;
  if (!o) {
    lugo_options_init(&defaults);
    o = &defaults;
  }
  pthread_mutex_lock(&life_mu);
  int rc = open_locked(o);
  pthread_mutex_unlock(&life_mu);
  return rc;
}

bool embed_is_open(void) {
  return atomic_load(&is_open);
}

int embed_ensure_open(void) {
  if (atomic_load(&is_open) || opening) return LUGO_OK;
  pthread_mutex_lock(&life_mu);
  int rc = LUGO_OK;
  if (!atomic_load(&is_open)) {
    lugo_options defaults;
    lugo_options_init(&defaults);
    rc = open_locked(&defaults);
  }
  pthread_mutex_unlock(&life_mu);
  return rc;
}

/* ---- close ---- */

/* How long the close waits, after the grace and after failing every wait,
** for the goroutines to end: they run their <close> variables and pcall
** handlers, which cannot block any more. */
#define STOP_NS 2000000000ull

static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void pause_ms(void) {
  struct timespec ms = {0, 1000000};
  nanosleep(&ms, NULL);
}

/* Waits until no goroutine lives, or deadline (ns); true if none lives. */
static bool wait_for_none(unsigned long long deadline, int sent) {
  for (unsigned i = 1;; i++) {
    if (sched_live() == 0 && gor_fail_done(sent)) return true;
    if (now_ns() >= deadline) return false;
    pause_ms();
    if (sent > 0 && i % 20 == 0) {
      sched_abort_blocked();   /* an outside thread that came in meanwhile */
      sched_poke_all();        /* a goroutine that caught the error and computes on */
    }
  }
}

static int close_locked(double grace) {
  if (!atomic_load(&is_open))
    return embed_set_error(LUGO_ESTATE, "lugo_close: the runtime is not open");
  gor_close_begin();
  unsigned long long deadline = now_ns() + (unsigned long long)(grace * 1e9);
  if (!wait_for_none(deadline, 0)) {
    int sent = gor_fail_all();
    if (!wait_for_none(now_ns() + STOP_NS, sent)) {
      long live = sched_live();
      sched_abort_end();
      gor_close_end();
      return embed_set_error(LUGO_EBUSY, "lugo_close: %ld goroutine%s did not stop (a long "
                             "C call?); the runtime is still open", live, live == 1 ? "" : "s");
    }
  }
  sched_shutdown();
  netpoll_shutdown();
  lsignal_shutdown();
  offload_shutdown();
  hostrun_free_globals();
  pool_trim();
  gor_close_end();
  memset(&options, 0, sizeof options);
  vmalloc_set_limit(0);   /* lugo.config{memory}: a new run starts with none */
  atomic_store(&is_open, false);
  return LUGO_OK;
}

LUGO_API int lugo_close(double grace) {
  if (sched_current())
    return embed_set_error(LUGO_EINVAL, "lugo_close: called from a goroutine (it would wait for itself)");
  if (isnan(grace)) return embed_set_error(LUGO_EINVAL, "lugo_close: grace is NaN");
  if (grace < 0) grace = 0;
  if (grace > 1e6) grace = 1e6;
  pthread_mutex_lock(&life_mu);
  int rc = close_locked(grace);
  pthread_mutex_unlock(&life_mu);
  return rc;
}

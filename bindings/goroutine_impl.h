/* goroutine_impl.h: what the goroutine driver's files share (goroutine.c,
** gor_*.c): the goroutine record and the per-VM state, owner thread only. */
#ifndef LUGO_GOROUTINE_IMPL_H
#define LUGO_GOROUTINE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <lauxlib.h>

#include "goroutine.h"

/* Why the goroutine's coroutine yielded back to its worker (gor_park.c). */
typedef enum yield_reason {
  YIELD_GOSCHED,     /* lugo.yield, or a bare coroutine.yield at top level */
  YIELD_PARK         /* a blocking call queued a waiter */
} yield_reason;

/* What lugo.run's caller and the goroutine it runs share: the outcome.
** Freed by whichever of the two lets go of it last (refs). */
typedef struct run_join {
  pthread_mutex_t mu;
  atomic_int refs;
  bool done;                 /* guarded by mu: error or results are set */
  sched_task *waiting;       /* guarded by mu: the parked caller, or NULL */
  char *error;               /* the goroutine's error and traceback, or NULL */
  codec_msg results;         /* else its results */
} run_join;

typedef struct shared_str shared_str;   /* gor_paths.c */

/* A goroutine. Made by its spawner's thread, then (once started) touched by
** its owner worker only, but where gor_park.c's state table says otherwise. */
typedef struct goroutine {
  sched_task task;           /* first: the scheduler sees only this */
  long id;
  long parent;               /* 0 for the main goroutine */
  /* Where lugo.go was called, formatted only when printed (created_at). */
  char created_src[LUA_IDSIZE];   /* short source */
  int created_line;               /* 0: unknown */
  codec_msg start;           /* fn and its arguments until started */
  lua_CFunction body;        /* or, for the main goroutine and a host's
                             ** lugo_dofile, this C body, */
  void *body_arg;            /* called as body(body_arg) */
  lua_State *home;           /* in this state (its coroutine lives there) */
  run_join *join;            /* lugo.run's caller waits here, or NULL */
  shared_str *path, *cpath;  /* creator's package.path and cpath */
  lua_State *co;             /* the coroutine, once started (owner's VM) */
  int co_ref, env_ref;       /* registry anchors in the owner's VM */
  /* The small fields together: no padding. The record must stay within
  ** 496 bytes, the pool's 512-byte class with its header (spawn costs
  ** 25% more in the next class up: bench/spawn.lua). */
  yield_reason reason;
  bool parked;               /* owner only: in a blocking call */
  volatile bool preempted;   /* set by the preemption hook before it yields */
  bool wait_failed;          /* the close cancelled the wait (gor_close.c) */
  bool fail_pending;         /* closing: preempted once, raise at resume */
  lua_State *volatile running_co;  /* nested coroutine running, or NULL */
  struct goroutine *prev, *next;  /* owner only: the VM's started goroutines */
  lugo_op op;                /* the blocking call in progress */
  /* The wait in progress while parked: what op_park was given (its
  ** reason names the wait in dumps), for the runtime's close (then the
  ** continuation raises "lugo: runtime closing" instead of running k). */
  const struct park_ops *wait_ops;
  void *wait_obj;
  lua_KFunction wait_k;
  void *scratch;             /* gor_scratch's memory */
  size_t scratch_size;
} goroutine;

_Static_assert(sizeof(goroutine) <= 496, "a goroutine record must fit the pool's 512-byte class");

/* An idle coroutine, anchored at co_ref, with the registry reference (holding
** false) that the env of the next goroutine to run on it takes: a rawseti
** costs less than a luaL_ref and luaL_unref per goroutine. */
typedef struct idle_co {
  lua_State *co;
  int co_ref, env_ref;
} idle_co;

/* Per-VM state of the driver, in the VM's extra space; owner thread only.
** Finished coroutines are kept for reuse: creating a thread costs more than
** resetting one. */
typedef struct vm_state {
  idle_co *idle;             /* the pool of idle coroutines */
  int count, cap;
  goroutine *started;        /* started goroutines of this VM, for dumps */
  int package_ref;           /* registry ref of the package table */
  int env_meta_ref;          /* registry ref of {__index = _G} for envs */
  unsigned host_globals_seen;  /* version of lugo_setglobal's set in _G */
  /* package.path and cpath: while package[field] is the Lua string whose
  ** text is at path_seen[i] (anchored in the registry at applied_keys[i],
  ** so that no other string can take its address), its text is
  ** path_known[i]'s (a reference each). Spares comparing texts, and Lua
  ** work, when a path has not changed: the usual case. */
  const char *path_seen[2];
  shared_str *path_known[2];
} vm_state;

/* The goroutine running on this thread, or NULL (not a worker, or between
** tasks). */
static inline goroutine *running(void) {
  return (goroutine *)sched_running();
}

/* The driver's state of a worker's VM. */
static inline vm_state *vm_of(lua_State *L) {
  return *(vm_state **)lua_getextraspace(L);
}

/* ---- the runtime's close (gor_close.c) ---- */

/* The close's phase: goroutines may start (0), no new one may (1), every
** goroutine fails at its next wait or instruction (2). */
enum { CLOSE_NONE, CLOSE_NO_NEW, CLOSE_FAILING };
int gor_close_phase(void);

/* The message every failed wait and refused spawn raises. */
#define CLOSING_MSG "lugo: runtime closing"

/* The run hook's part for a control task (gor_run calls it). */
run_result gor_run_control(lua_State *L, sched_task *t);

/* ---- package paths (gor_paths.c) ---- */

/* Gives g its creator's package.path and cpath (the lugo.go caller is L);
** vm: the caller's VM if it is a worker's, else NULL. */
void paths_take(lua_State *L, vm_state *vm, goroutine *g);
/* Sets the package.path and cpath of the worker VM L to g's. */
void paths_apply(lua_State *L, vm_state *vm, goroutine *g);
/* Drops a reference to s (NULL: nothing). */
void shared_release(shared_str *s);

/* ---- parking and yielding (gor_park.c) ---- */

/* Prints the deadlock report (the caller's wait first, if it is the main
** goroutine waiting outside the runtime; reason NULL: the caller is the
** lugo command's thread, waiting for goroutine 1) and ends the process. */
void park_report_deadlock(lua_State *L, const char *reason);
/* g is goroutine 1 from now on (before it is spawned) / g ends (any g). */
void park_main_started(goroutine *g);
void park_main_ended(goroutine *g);
/* In the preemption hook of g (may be NULL): raises a pending interrupt of
** goroutine 1 if g is it. */
void park_interrupt_check(lua_State *L, goroutine *g);
/* Replaces coroutine.resume and wrap in L by lua/lugo/coroutine.lua's. */
void park_install_wrappers(lua_State *L);

/* ---- worker VMs, the coroutine pool, preemption (gor_vm.c) ---- */

/* Gives g a coroutine of the VM L (idle or new) and a registry reference for
** its env. */
void copool_get(lua_State *L, vm_state *p, goroutine *g);
/* Takes back the coroutine and env reference of g, finished; frees them if the
** pool is full or the coroutine cannot be reset. */
void copool_put(lua_State *L, vm_state *p, goroutine *g);
/* The scheduler's hooks (gor_hooks): a new worker's VM; preempt task t. */
void *gor_worker_start(sched_worker *w, int index);
void gor_preempt(sched_worker *w, sched_task *t);
void gor_worker_stop(sched_worker *w, void *vm);
#ifdef LUGO_UNDER_TSAN
/* Count hook letting the preemption signal in under TSan (see gor_vm.c). */
void gor_signal_point(lua_State *L, lua_Debug *ar);
#endif

/* ---- the main goroutine (goroutine.c) ---- */


/* ---- showing goroutines (gor_dump.c) ---- */

/* "source:line" of g's lugo.go call (in buf), or "?" if no Lua function
** made it. */
const char *gor_created_at(const goroutine *g, char *buf, size_t size);
/* Pushes on L the traceback of g's coroutine (stopped) with msg first;
** returns its text. */
const char *gor_push_traceback(lua_State *L, goroutine *g, const char *msg);

#endif

/* gor_park.c: how a goroutine leaves its worker and comes back: blocking
** calls park it, yields give way. A goroutine's fields change on its owner.
**
** STATE TABLE. Every field the protocol involves, who writes it and when,
** who reads it. "Owner" is the thread of the goroutine's worker (a started
** goroutine never moves); "before the yield" means between the queueing of
** the waiter and the lua_yieldk, on the owner.
**
**  field (where)              written by, when          read by, when
**  -------------------------  ------------------------  -------------------------
**  g->op (goroutine_impl.h)   op_begin sets op.task;    wakers and cancels (core
**                             the blocking call fills   wake paths, ops->cancel)
**                             w, value, timer, then     under the object's lock;
**                             queues w under the        the continuation k after
**                             object's lock             the resume
**  task->unlock, unlock_arg   op_park, before           sched_block (core/
**   (core/scheduler.h)        sched_block, outside      deadlock.c); a goroutine
**                             threads only              unlocks in op_park itself
**  g->reason                  op_park: YIELD_PARK and   gor_run (goroutine.c)
**                             gor_l_yield: GOSCHED,     once lua_resume returns
**                             before the yield;         LUA_YIELD: PARK ->
**                             gor_run resets it to      RUN_PARKED, else
**                             GOSCHED after each yield  RUN_YIELDED
**  g->wait_ops, wait_obj,     op_park, before the       dumps (gor_dump.c: the
**   wait_k                    yield; park_resumed       reason) on the owner or
**                             clears wait_ops           with the world stopped,
**                                                       if parked; the close's
**                                                       fail_waits (owner)
**  g->wait_failed             fail_waits (owner)        park_resumed
**  g->parked                  gor_run: false before,    dumps, as wait_ops
**                             from reason after, each
**                             resume (owner)
**  g->preempted (volatile)    preempt_hook (gor_vm.c):  co_preempted, for
**                             true, in a count hook     coroutine.lua's settle
**                             on the owner, before its  after an inner coroutine
**                             lua_yield; co_preempted   yielded nothing
**                             and gor_run: false
**  g->running_co (volatile)   co_enter / co_leave,      gor_preempt (gor_vm.c)
**                             called by coroutine.lua   in the preemption signal
**                             around each nested        handler on the owner:
**                             resume (owner)            hence volatile, no atomic
**  outside_op.L, .reason      op_park, before           dumps (gor_dump.c)
**   (goroutine.h)             sched_block (the calling  through sched_each_blocked
**                             outside thread)           _thread while it waits
**  main_g, the interrupt      see "interrupting the     ditto; all under
**   fields below              main goroutine" below     interrupt_mu but the
**                                                       atomic hints
**
** A yield's way out. A blocking call on the goroutine's own coroutine
** yields (lua_yieldk from C) straight back to gor_run's lua_resume. In a
** nested coroutine it yields to lua/lugo/coroutine.lua's wrapper instead,
** with park_sentinel as its value: the wrapper (settle) yields PARK itself,
** with the original coroutine.yield, which sets no reason, so g->reason is
** still the inner op_park's when the outermost yield reaches gor_run. A
** preemption in a nested coroutine yields nothing with g->preempted set;
** settle passes it up the same way, and gor_run sees YIELD_GOSCHED.
**
** THE OBJECT'S LOCK IS RELEASED BEFORE THE YIELD. A blocking call queues
** its waiter under the object's lock (a channel's mutex, a select's
** channels', a run_join's mu...) and calls op_park with it held. For a
** goroutine, op_park writes the fields above, then runs ops->unlock(obj),
** then yields: the longjmp out of lua_yieldk and, in a nested coroutine,
** coroutine.lua's settle (Lua code that may allocate, so run the collector
** and __gc metamethods) run with no object's lock held. A waker may take
** the waiter and wake the goroutine while it is still on its stack; that
** is safe because nothing can resume it before run_task returns (checked
** in core/sched.c):
**  - a started goroutine runs only on its owner: t->owner is fixed at its
**    first run, and steal() and the global queue carry only new tasks;
**  - sched_wake from another thread (a waker goroutine on another worker,
**    the timer thread's sleep_fire, gor_interrupt_main) only pushes it on
**    the owner's inbox, which the owner drains in find_work, between tasks:
**    after run_task has returned;
**  - sched_wake on the owner's thread can come only from the task running
**    there, and the goroutine no longer runs Lua code of its own before
**    the yield;
**  - wakers and cancels touch C memory only (the waiter, op->value, the
**    object), never the goroutine's Lua state, and the goroutine reads
**    them again only in k, after the inbox's mutex ordered the two.
** An outside thread instead hands the unlock to sched_block through
** task->unlock: it must be listed as blocked before a waker can find it.
** (Until issue 12 goroutines did the same, releasing the lock in run_task
** after lua_resume returned; a finalizer touching the same object then
** deadlocked the worker on its non-recursive mutex.)
**
** op_begin checks that the calling coroutine can yield and, in a nested
** coroutine, that the goroutine's own coroutine can too: else a blocking
** call in a coroutine resumed under a C boundary (a table.sort comparator,
** say) would queue its waiter, then fail in settle's yield with the
** waiter queued and the object's lock held. A coroutine nested two deep
** under such a boundary in the middle one is still not seen. */
#include "goroutine_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coroutine_lua.h"   /* generated from lua/lugo/coroutine.lua */
#include "module.h"

/* Yielded by a blocking call: tells wrappers of nested coroutines to pass
** the yield up (lua/lugo/coroutine.lua). Only its address matters. */
static char park_sentinel;

/* ---- blocking calls ---- */

lugo_op *op_begin(lua_State *L, outside_op *storage) {
  goroutine *g = running();
  if (!g) {
    /* Inside lugo.update's fn it would block holding a shared table's
    ** lock (a goroutine there cannot yield: the check below raises). */
    if (ltable_in_update())
      luaL_error(L, "lugo: cannot block here (attempt to yield across a C-call boundary)");
    sched_register_thread();
    sched_thread_task_init(&storage->tt);
    storage->L = NULL;
    storage->op.task = &storage->tt.task;
    return &storage->op;
  }
  if (!lua_isyieldable(L) || (L != g->co && !lua_isyieldable(g->co)))
    luaL_error(L, "lugo: cannot block here (attempt to yield across a C-call boundary)");
  if (gor_close_phase() == CLOSE_FAILING) luaL_error(L, CLOSING_MSG);
  g->op.task = &g->task;
  return &g->op;
}

static const char deadlock_msg[] = "fatal error: all goroutines are asleep - deadlock!";
static atomic_bool exit_on_deadlock;

void gor_exit_on_deadlock(void) {
  atomic_store(&exit_on_deadlock, true);
}

/* Prints the deadlock report (the caller's wait first, if it is the main
** goroutine waiting outside the runtime; reason NULL: the caller is the
** lugo command's thread, waiting for goroutine 1) and ends the process. */
void park_report_deadlock(lua_State *L, const char *reason) {
  gor_push_dump(L, reason);
  fflush(stdout);
  fprintf(stderr, "%s\n\n%s", deadlock_msg, lua_tostring(L, -1));
  fflush(stderr);
  _exit(2);
}

/* ---- interrupting the main goroutine (the REPL) ----
** The REPL's Ctrl-C, and a deadlock while a line waits, end the line that
** goroutine 1 runs with an error, whether it computes or waits. Protocol,
** the fields below under interrupt_mu:
**  - Goroutine 1 is interruptible only while a line runs
**    (gor_main_interruptible); a request at any other time is dropped.
**  - op_park notes goroutine 1's wait (ops, obj, op, k) before it yields;
**    main_resumed, the continuation of every such wait, forgets it, after
**    waiting out a cancel in progress (obj lives on the waiting call's
**    stack until then).
**  - gor_interrupt_main stores the message. If a wait is noted, it cancels
**    it through ops->cancel (outside the lock, flagged cancelling): if the
**    cancel took the waiter back, it wakes goroutine 1, and main_resumed
**    raises the message (no waiter is left queued; a wait that completed
**    first keeps its result). Else it pokes goroutine 1's worker: the
**    preemption hook raises the message at the next instruction.
**  - A poke can miss (goroutine 1 between two states): the caller repeats
**    while gor_main_interrupt_pending(). */
static pthread_mutex_t interrupt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t interrupt_cv = PTHREAD_COND_INITIALIZER;
static _Atomic(goroutine *) main_g;   /* goroutine 1 while it lives */
static atomic_bool main_interruptible;
static atomic_bool interrupt_pending;  /* interrupt_msg is set */
static char *interrupt_msg;
static const park_ops *main_wait_ops;  /* goroutine 1's noted wait, or NULL */
static void *main_wait_obj;
static lugo_op *main_wait_op;
static lua_KFunction main_wait_k;
static bool cancelling, cancelled;

static void note_main_wait(const park_ops *ops, void *obj, lugo_op *op,
                           lua_KFunction k) {
  pthread_mutex_lock(&interrupt_mu);
  main_wait_ops = ops;
  main_wait_obj = obj;
  main_wait_op = op;
  main_wait_k = k;
  pthread_mutex_unlock(&interrupt_mu);
}

/* Takes the pending message (malloc'd), or NULL. Under interrupt_mu. */
static char *take_interrupt(void) {
  char *msg = interrupt_msg;
  interrupt_msg = NULL;
  atomic_store(&interrupt_pending, false);
  return msg;
}

/* Raises msg (malloc'd, freed here) in L. */
static int raise_taken(lua_State *L, char *msg) {
  lua_pushstring(L, msg);
  free(msg);
  return lua_error(L);
}

static int main_resumed(lua_State *L, int status, lua_KContext ctx) {
  pthread_mutex_lock(&interrupt_mu);
  while (cancelling) pthread_cond_wait(&interrupt_cv, &interrupt_mu);
  lua_KFunction k = main_wait_k;
  char *msg = cancelled ? take_interrupt() : NULL;
  cancelled = false;
  main_wait_ops = NULL;
  pthread_mutex_unlock(&interrupt_mu);
  if (msg) return raise_taken(L, msg);
  return k(L, status, ctx);
}

void gor_main_interruptible(bool on) {
  pthread_mutex_lock(&interrupt_mu);
  atomic_store(&main_interruptible, on);
  free(take_interrupt());
  pthread_mutex_unlock(&interrupt_mu);
}

bool gor_main_interrupt_pending(void) {
  return atomic_load(&interrupt_pending);
}

bool gor_interrupt_main(const char *msg) {
  pthread_mutex_lock(&interrupt_mu);
  goroutine *g = atomic_load(&main_g);
  if (!atomic_load(&main_interruptible) || !g) {
    pthread_mutex_unlock(&interrupt_mu);
    return false;
  }
  if (!interrupt_msg) {
    interrupt_msg = strdup(msg);
    atomic_store(&interrupt_pending, interrupt_msg != NULL);
  }
  const park_ops *ops = main_wait_ops;
  if (ops && !cancelling) {
    void *obj = main_wait_obj;
    lugo_op *op = main_wait_op;
    cancelling = true;
    pthread_mutex_unlock(&interrupt_mu);
    bool took = ops->cancel(obj, &op->w);
    pthread_mutex_lock(&interrupt_mu);
    cancelling = false;
    cancelled = took;
    pthread_cond_broadcast(&interrupt_cv);
    pthread_mutex_unlock(&interrupt_mu);
    if (took) sched_wake(op->task);
    return true;
  }
  sched_poke(&g->task);   /* under the lock: g cannot end meanwhile */
  pthread_mutex_unlock(&interrupt_mu);
  return true;
}

void park_main_started(goroutine *g) {
  atomic_store(&main_g, g);
}

void park_main_ended(goroutine *g) {
  if (g == atomic_load(&main_g)) {
    pthread_mutex_lock(&interrupt_mu);   /* no interrupt is using it */
    atomic_store(&main_g, NULL);
    pthread_mutex_unlock(&interrupt_mu);
  }
}

void park_interrupt_check(lua_State *L, goroutine *g) {
  if (g && g == atomic_load(&main_g) && atomic_load(&interrupt_pending)) {
    pthread_mutex_lock(&interrupt_mu);
    char *msg = atomic_load(&main_interruptible) ? take_interrupt() : NULL;
    pthread_mutex_unlock(&interrupt_mu);
    if (msg) raise_taken(L, msg);
  }
}

/* The continuation of every goroutine's wait: the close may have cancelled
** it (gor_close.c); else the blocking call's own k finishes it. */
static int park_resumed(lua_State *L, int status, lua_KContext ctx) {
  goroutine *g = running();
  g->wait_ops = NULL;
  if (g->wait_failed) {
    g->wait_failed = false;
    return luaL_error(L, CLOSING_MSG);
  }
  return g->wait_k(L, status, ctx);
}

int op_park(lua_State *L, lugo_op *op, const park_ops *ops, void *obj,
            lua_KFunction k) {
  if (op->task->kind == TASK_THREAD) {
    /* sched_block lists the thread as blocked, then unlocks: only then
    ** may a waker find it (see "THE OBJECT'S LOCK ACROSS THE YIELD"). */
    op->task->unlock = ops->unlock;
    op->task->unlock_arg = obj;
    sched_thread_task *tt = (sched_thread_task *)op->task;
    outside_op *outside = (outside_op *)tt;
    outside->L = L;
    outside->reason = ops->reason;
    sched_block(tt);
    bool deadlock = tt->deadlock, aborted = tt->aborted;
    if ((deadlock || aborted) && !ops->cancel(obj, &op->w)) {
      sched_wait_woken(tt);   /* a waker took it first: its wake-up comes */
      deadlock = aborted = false;
    }
    sched_thread_task_destroy(tt);
    if (aborted) return luaL_error(L, CLOSING_MSG);
    if (deadlock) {
      if (atomic_load(&exit_on_deadlock)) park_report_deadlock(L, ops->reason);
      return luaL_error(L, "%s", deadlock_msg);
    }
    return k(L, LUA_YIELD, (lua_KContext)op);
  }
  goroutine *g = running();
  g->reason = YIELD_PARK;
  g->wait_ops = ops;
  g->wait_obj = obj;
  g->wait_k = k;
  lua_pushlightuserdata(L, &park_sentinel);
  lua_KFunction resumed = park_resumed;
  if (g == atomic_load(&main_g) && atomic_load(&main_interruptible)) {
    note_main_wait(ops, obj, op, park_resumed);
    resumed = main_resumed;
  }
  /* Everything the waker or a dump reads is written: let wakers in. No
  ** Lua code (coroutine.lua's settle, a finalizer) runs under the lock. */
  if (ops->unlock) ops->unlock(obj);
  return lua_yieldk(L, 1, (lua_KContext)op, resumed);
}

/* ---- yields ---- */

int op_done_nothing(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}

int gor_l_yield(lua_State *L) {
  goroutine *g = running();
  if (!g) {
    sched_yield();
    return 0;
  }
  if (!lua_isyieldable(L)) return 0;   /* nothing else can run here anyway */
  g->reason = YIELD_GOSCHED;
  lua_pushlightuserdata(L, &park_sentinel);
  return lua_yieldk(L, 1, 0, op_done_nothing);
}

/* ---- nested coroutines ---- */

/* For lua/lugo/coroutine.lua: enter(co) notes that co runs and returns
** what ran before; leave(prev) restores it; preempted() takes the flag. */
static int co_enter(lua_State *L) {
  goroutine *g = running();
  lua_pushlightuserdata(L, g ? (void *)g->running_co : NULL);
  if (g) g->running_co = lua_tothread(L, 1);
  return 1;
}

static int co_leave(lua_State *L) {
  goroutine *g = running();
  if (g) g->running_co = lua_touserdata(L, 1);
  return 0;
}

static int co_preempted(lua_State *L) {
  goroutine *g = running();
  lua_pushboolean(L, g && g->preempted);
  if (g) g->preempted = false;
  return 1;
}

/* Replaces coroutine.resume and wrap in L by lua/lugo/coroutine.lua's. */
void park_install_wrappers(lua_State *L) {
  if (luaL_loadbuffer(L, coroutine_lua, sizeof coroutine_lua - 1,
                      "=lugo/coroutine.lua") != LUA_OK) {
    fprintf(stderr, "lugo: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlightuserdata(L, &park_sentinel);
  lua_pushcfunction(L, co_enter);
  lua_pushcfunction(L, co_leave);
  lua_pushcfunction(L, co_preempted);
  lua_call(L, 4, 0);
}


/* deadlock.c: who can still wake someone (the awake count) and what
** happens when nobody can; the waits of threads outside the runtime.
**
** Deadlock accounting. awake counts goroutines (tasks) not blocked plus
** registered outside threads not blocked; pending timers add one each
** (sched_awake_add). It changes only here, through these calls:
**   sched_spawn / sched_spawn_main   +1 (sched_count_new in sched.c)
**   a task finishing (RUN_DONE)       -1 (run_task in sched.c)
**   sched_register_thread             +1, once per outside thread
**   sched_blocked / sched_unblocked   -1 / +1, under the object's lock,
**                                     by the waiter queueing itself / the
**                                     waker taking its waiter (waitq.h;
**                                     the bindings' own waits: lugo.run's
**                                     join, the REPL's link)
**   timers armed / fired or stopped   +1 / -1 (timer.c)
** Invariant: awake == 0 means no one runs or can be woken by anyone but a
** thread not registered: every blocked registered outside thread is woken
** with its deadlock flag (goroutines stay parked; the lugo command reports,
** a library caller gets an error). A task counts as blocked from
** sched_blocked until its waker's sched_unblocked, so a wake in flight
** keeps the count above zero. */
#define _GNU_SOURCE 1   /* sched_getaffinity, CPU_COUNT */
#include "scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "sched_impl.h"
#include "timer.h"

static atomic_long awake;
static pthread_mutex_t blocked_mu = PTHREAD_MUTEX_INITIALIZER;  /* guards blocked_threads */
static sched_thread_task *blocked_threads;
/* A thread is registered in the current run of the runtime if its epoch is
** the runtime's (sched_deadlock_reset starts a new run: none is). */
static atomic_uint epoch = 1;
static _Thread_local unsigned tls_registered_epoch;
static atomic_bool aborting;   /* under blocked_mu to set: see sched_abort_blocked */


static bool registered(void) {
  return tls_registered_epoch == atomic_load_explicit(&epoch, memory_order_relaxed);
}

void sched_register_thread(void) {
  if (sched_current() || registered()) return;
  tls_registered_epoch = atomic_load(&epoch);
  atomic_fetch_add(&awake, 1);
}

void sched_deadlock_reset(void) {
  atomic_store(&awake, 0);
  atomic_fetch_add(&epoch, 1);
  atomic_store(&aborting, false);
}

void sched_abort_blocked(void) {
  pthread_mutex_lock(&blocked_mu);
  atomic_store(&aborting, true);
  for (sched_thread_task *t = blocked_threads; t; t = t->next_blocked) {
    pthread_mutex_lock(&t->mu);
    t->aborted = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
  }
  pthread_mutex_unlock(&blocked_mu);
}

void sched_abort_end(void) {
  atomic_store(&aborting, false);
}

void sched_wait_woken(sched_thread_task *t) {
  pthread_mutex_lock(&t->mu);
  t->sleeping = true;
  while (!atomic_load_explicit(&t->woken, memory_order_relaxed))
    pthread_cond_wait(&t->cv, &t->mu);
  t->sleeping = false;
  atomic_store_explicit(&t->woken, false, memory_order_relaxed);
  pthread_mutex_unlock(&t->mu);
}

void sched_blocked(sched_task *t) {
  if (t->kind == TASK_THREAD) {
    sched_thread_task *tt = (sched_thread_task *)t;
    tt->counted = registered();   /* read by the waker under the same lock */
    if (!tt->counted) return;
  }
  atomic_fetch_sub(&awake, 1);
}

void sched_unblocked(sched_task *t) {
  if (t->kind == TASK_THREAD && !((sched_thread_task *)t)->counted) return;
  atomic_fetch_add(&awake, 1);
}

/* Nothing can wake anyone: wake every blocked outside thread with its
** deadlock flag; each decides what to do (the lugo command reports and
** exits, a library caller gets an error). Goroutines stay parked. */
static void deadlock_found(void) {
  pthread_mutex_lock(&blocked_mu);
  for (sched_thread_task *t = blocked_threads; t; t = t->next_blocked) {
    if (!t->counted) continue;
    pthread_mutex_lock(&t->mu);
    t->deadlock = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
  }
  pthread_mutex_unlock(&blocked_mu);
}

void sched_awake_add(long delta) {
  if (atomic_fetch_add(&awake, delta) + delta == 0) deadlock_found();
}

void sched_each_blocked_thread(void (*fn)(sched_thread_task *t, void *arg), void *arg) {
  pthread_mutex_lock(&blocked_mu);
  for (sched_thread_task *t = blocked_threads; t; t = t->next_blocked) fn(t, arg);
  pthread_mutex_unlock(&blocked_mu);
}

/* ---- threads outside the runtime ---- */

void thread_wake(sched_thread_task *t) {
  pthread_mutex_lock(&t->mu);
  atomic_store_explicit(&t->woken, true, memory_order_release);
  if (t->sleeping) pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

void deadlock_check(void) {
  if (atomic_load(&awake) == 0) deadlock_found();
}

void sched_thread_task_init(sched_thread_task *t) {
  memset(&t->task, 0, sizeof t->task);
  t->task.kind = TASK_THREAD;
  pthread_mutex_init(&t->mu, NULL);
  pthread_condattr_t attr;   /* deadlines are on timer_now's clock */
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&t->cv, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&t->woken, false);
  t->sleeping = false;
  t->deadlock = false;
  t->counted = false;
  t->next_blocked = NULL;
  t->deadline = 0;
  t->timed_out = false;
  t->aborted = false;
}

void sched_thread_task_destroy(sched_thread_task *t) {
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
}

/* Before an outside thread sleeps on its condition variable it watches its
** woken flag for up to OUTSIDE_SPIN_NS: a partner goroutine on another CPU
** usually answers within a microsecond or two, and a futex sleep and
** wake-up costs more. Measured with bench/stock-pingpong.lua (200,000
** round trips from stock lua5.4's main chunk, -DOUTSIDE_SPIN_NS=...):
** no spin 0.34-0.62 s, 50 us 0.08-0.25 s, 200 us 0.10-0.24 s at 1 and 2
** workers: the spin pays within tens of microseconds and longer ones add
** nothing. With every thread on one CPU (taskset -c 0) it costs dearly:
** 18.5 s instead of 5.2 s, since the partner cannot run while we spin
** (sched_yield every OUTSIDE_SPIN_YIELD_EVERY checks does not help enough
** under CFS). So a process allowed only one CPU never spins. */
#ifndef OUTSIDE_SPIN_NS   /* -DOUTSIDE_SPIN_NS=... to measure others */
#define OUTSIDE_SPIN_NS 50000
#endif
#define OUTSIDE_SPIN_YIELD_EVERY 64

/* Whether this process may run on more than one CPU (read once). */
static bool can_spin(void) {
  static atomic_int cpus;   /* 0: not read yet */
  int n = atomic_load_explicit(&cpus, memory_order_relaxed);
  if (n == 0) {
    cpu_set_t set;
    n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    atomic_store_explicit(&cpus, n, memory_order_relaxed);
  }
  return n > 1;
}

bool sched_spin_try(bool (*try_once)(void *arg), void *arg) {
  if (OUTSIDE_SPIN_NS == 0 || !can_spin()) return try_once(arg);
  uint64_t start = 0;
  int backoff = 1;
  for (unsigned i = 1;; i++) {
    if (try_once(arg)) return true;
    /* Back off, doubling up to about a microsecond: each try takes the
    ** partner's lock, and the partner works faster without it. */
    cpu_pause(backoff);
    if (backoff < 64) backoff *= 2;
    if (i % OUTSIDE_SPIN_YIELD_EVERY != 0) continue;
    uint64_t now = timer_now();
    if (start == 0) start = now;
    else if (now - start >= OUTSIDE_SPIN_NS) return false;
  }
}

/* Spins until t is woken or OUTSIDE_SPIN_NS pass; true if it was woken. */
static bool spin_until_woken(sched_thread_task *t) {
  if (OUTSIDE_SPIN_NS == 0 || !can_spin()) return atomic_load(&t->woken);
  uint64_t start = 0;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&t->woken, memory_order_acquire)) return true;
    if (i % OUTSIDE_SPIN_YIELD_EVERY != 0) {
      cpu_pause(1);
      continue;
    }
    uint64_t now = timer_now();
    if (start == 0) start = now;
    else if (now - start >= OUTSIDE_SPIN_NS) return false;
    sched_yield();
  }
}

/* The outside thread's wait protocol. The waker (sched_wake, or
** deadlock_found for the deadlock flag; thread_wake) sets the flag under t->mu and
** signals only if the waiter said it sleeps (t->sleeping, under t->mu). The
** waiter first spins on woken without the lock, then sleeps under it; it
** takes t->mu once before returning in either case, so that the waker is
** done with t (which lives on the waiter's stack) when it returns. */
void sched_block(sched_thread_task *t) {
  pthread_mutex_lock(&blocked_mu);
  t->next_blocked = blocked_threads;
  blocked_threads = t;
  bool abort_now = atomic_load(&aborting);   /* the sweep came before us */
  pthread_mutex_unlock(&blocked_mu);
  if (t->task.unlock) {
    void (*unlock)(void *) = t->task.unlock;
    t->task.unlock = NULL;
    unlock(t->task.unlock_arg);
  }
  pthread_mutex_lock(&t->mu);
  t->deadlock = false;
  t->timed_out = false;
  t->aborted = abort_now;
  pthread_mutex_unlock(&t->mu);
  if (t->counted && atomic_load(&awake) == 0) deadlock_found();
  spin_until_woken(t);
  pthread_mutex_lock(&t->mu);
  t->sleeping = true;
  while (!atomic_load_explicit(&t->woken, memory_order_relaxed) && !t->deadlock &&
         !t->aborted) {
    if (t->deadline == 0) {
      pthread_cond_wait(&t->cv, &t->mu);
      continue;
    }
    struct timespec ts = {(time_t)(t->deadline / 1000000000u),
                          (long)(t->deadline % 1000000000u)};
    if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT &&
        !atomic_load_explicit(&t->woken, memory_order_relaxed) && !t->deadlock &&
        !t->aborted) {
      t->timed_out = true;
      break;
    }
  }
  t->sleeping = false;
  if (atomic_load_explicit(&t->woken, memory_order_relaxed)) t->aborted = false;   /* woken first */
  atomic_store_explicit(&t->woken, false, memory_order_relaxed);
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_lock(&blocked_mu);
  sched_thread_task **p = &blocked_threads;
  while (*p != t) p = &(*p)->next_blocked;
  *p = t->next_blocked;
  pthread_mutex_unlock(&blocked_mu);
}

/* test_cond.c: checks core/cond.c: wait queues before the mutex unlocks, signal wakes
** one (FIFO), broadcast all, none stored, abort, cancel; producer/consumer threads. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
#include "../../core/cond.h"
#include "../../core/mutex.h"
#include "../../core/object.h"
#include "../../core/scheduler.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long scale;

/* Queues a waiter of this thread and releases the internal lock by hand,
** as sched_block would. */
static void queue(cond *c, sched_thread_task *tt, waiter *w) {
  cond_wait_begin(c, &tt->task, w);
  cond_unlock_internal(c);
  CHECK(w->q != NULL && !w->success && !tt->woken);
}

/* ---- single thread ---------------------------------------------------- */

static void test_basics(void) {
  lugo_mutex *m = mutex_new();
  cond *c = cond_new((lugo_obj *)m);
  CHECK(c != NULL);
  CHECK(((lugo_obj *)c)->kind == OBJ_COND);
  CHECK(cond_lock(c) == (lugo_obj *)m);
  /* the cond keeps its lock alive: our reference can go */
  obj_release((lugo_obj *)m);
  CHECK(mutex_trylock((lugo_mutex *)cond_lock(c)));
  CHECK(mutex_unlock((lugo_mutex *)cond_lock(c)));

  /* signal and broadcast with nobody waiting do nothing, and are not
  ** remembered: a later waiter is not woken by them */
  cond_signal(c);
  cond_broadcast(c);
  cond_signal(c);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  queue(c, &tt, &w);
  CHECK(!tt.woken);
  cond_signal(c);
  CHECK(tt.woken && w.success && w.q == NULL);
  SETTLE(&tt);
  cond_signal(c);                             /* queue empty again */
  CHECK(!tt.woken);
  sched_thread_task_destroy(&tt);

  /* references: one retain keeps the cond alive through one release; the
  ** last release drops the lock's reference too (ASan: no leak) */
  obj_retain((lugo_obj *)c);
  obj_release((lugo_obj *)c);
  cond_broadcast(c);
  obj_release((lugo_obj *)c);
}

/* The wait protocol of the bindings: hold the mutex, cond_wait_begin,
** release the mutex, park; a signal before the park cannot be lost (the
** waiter is queued before the mutex is released). */
static void test_wait_unlocks(void) {
  lugo_mutex *m = mutex_new();
  cond *c = cond_new((lugo_obj *)m);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  CHECK(mutex_trylock(m));
  cond_wait_begin(c, &tt.task, &w);           /* queued, internal lock held */
  CHECK(mutex_unlock(m));                     /* the caller releases its lugo_mutex */
  cond_unlock_internal(c);                    /* ... and parks */
  CHECK(w.q != NULL && !tt.woken);
  CHECK(mutex_trylock(m));                    /* the mutex is free for a signaller */
  cond_signal(c);
  CHECK(tt.woken && w.success);
  CHECK(mutex_unlock(m));
  SETTLE(&tt);
  CHECK(mutex_trylock(m));                    /* the woken waiter re-locks */
  CHECK(mutex_unlock(m));
  sched_thread_task_destroy(&tt);
  obj_release((lugo_obj *)m);
  obj_release((lugo_obj *)c);
}

static void test_signal_broadcast(void) {
  enum { N = 5 };
  lugo_mutex *m = mutex_new();
  cond *c = cond_new((lugo_obj *)m);
  obj_release((lugo_obj *)m);
  sched_thread_task tt[N];
  waiter w[N];
  for (int i = 0; i < N; i++) sched_thread_task_init(&tt[i]);

  /* signal wakes exactly one waiter, the oldest (FIFO) */
  for (int i = 0; i < N; i++) queue(c, &tt[i], &w[i]);
  for (int i = 0; i < N; i++) {
    cond_signal(c);
    CHECK(tt[i].woken && w[i].success && w[i].q == NULL);
    for (int j = i + 1; j < N; j++) CHECK(!tt[j].woken && !w[j].success);
    SETTLE(&tt[i]);
  }
  cond_signal(c);
  for (int i = 0; i < N; i++) CHECK(!tt[i].woken);

  /* broadcast wakes every waiter; then the queue is empty */
  for (int i = 0; i < N; i++) queue(c, &tt[i], &w[i]);
  cond_broadcast(c);
  for (int i = 0; i < N; i++) {
    CHECK(tt[i].woken && w[i].success && w[i].q == NULL);
    SETTLE(&tt[i]);
  }
  cond_broadcast(c);
  cond_signal(c);
  for (int i = 0; i < N; i++) CHECK(!tt[i].woken);

  /* broadcast wakes only those queued before it */
  queue(c, &tt[0], &w[0]);
  queue(c, &tt[1], &w[1]);
  cond_broadcast(c);
  queue(c, &tt[2], &w[2]);
  CHECK(tt[0].woken && tt[1].woken && !tt[2].woken);
  SETTLE(&tt[0]);
  SETTLE(&tt[1]);
  cond_signal(c);
  CHECK(tt[2].woken && w[2].success);
  SETTLE(&tt[2]);

  for (int i = 0; i < N; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)c);
}

static void test_abort_cancel(void) {
  lugo_mutex *m = mutex_new();
  cond *c = cond_new((lugo_obj *)m);
  obj_release((lugo_obj *)m);
  sched_thread_task tt[3];
  waiter w[3];
  for (int i = 0; i < 3; i++) sched_thread_task_init(&tt[i]);

  /* abort before parking: taken back, the internal lock released */
  queue(c, &tt[0], &w[0]);
  cond_wait_begin(c, &tt[1].task, &w[1]);
  cond_wait_abort(c, &w[1]);
  CHECK(w[1].q == NULL);
  cond_signal(c);                             /* the older waiter, not the aborted one */
  CHECK(tt[0].woken && w[0].success);
  CHECK(!tt[1].woken && !w[1].success);
  SETTLE(&tt[0]);
  cond_signal(c);                             /* nobody left */
  CHECK(!tt[1].woken);

  /* cancel while queued: true, and signal skips it */
  queue(c, &tt[0], &w[0]);
  queue(c, &tt[1], &w[1]);
  queue(c, &tt[2], &w[2]);
  CHECK(cond_cancel(c, &w[0]));
  CHECK(w[0].q == NULL);
  CHECK(!cond_cancel(c, &w[0]));              /* once only */
  cond_signal(c);
  CHECK(!tt[0].woken);
  CHECK(tt[1].woken && w[1].success);
  SETTLE(&tt[1]);
  /* cancel after the signal: false, the wake-up stands */
  CHECK(!cond_cancel(c, &w[1]));
  CHECK(cond_cancel(c, &w[2]));
  cond_broadcast(c);                          /* nobody left */
  for (int i = 0; i < 3; i++) CHECK(!tt[i].woken);

  for (int i = 0; i < 3; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)c);
}

/* ---- threads ---------------------------------------------------------- */

/* Locks m from an outside thread, parking if it is taken. */
static void lock_blocking(lugo_mutex *m, sched_thread_task *tt) {
  waiter w;
  if (mutex_lock(m, &tt->task, &w)) return;
  block_on(tt, mutex_unlock_internal, m, NULL);
  CHECK(w.success);
}

/* Go's c.Wait(): with m held, queue, release m, park, re-lock m.
** *parked (optional) counts it once it is queued and m released. */
static void cond_wait_blocking(cond *c, lugo_mutex *m, sched_thread_task *tt,
                               atomic_int *parked) {
  waiter w;
  cond_wait_begin(c, &tt->task, &w);
  CHECK(mutex_unlock(m));
  block_on(tt, cond_unlock_internal, c, parked);
  CHECK(w.success);
  lock_blocking(m, tt);
}

/* Producer/consumer: consumers wait on "not empty", the producer waits on
** "not full"; every item is consumed exactly once. */
#define NCONS 4
#define QCAP 8

static struct {
  lugo_mutex *m;
  cond *not_empty, *not_full;
  long items;                    /* how many the producer makes */
  long queue[QCAP];              /* plain: guarded by m */
  int head, len;
  bool closed;
  atomic_uchar *consumed;        /* per item: times consumed */
  atomic_long waits;
} pc;

static void *consumer_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  for (;;) {
    lock_blocking(pc.m, &tt);
    while (pc.len == 0 && !pc.closed) {
      atomic_fetch_add_explicit(&pc.waits, 1, memory_order_relaxed);
      cond_wait_blocking(pc.not_empty, pc.m, &tt, NULL);
    }
    if (pc.len == 0) {                        /* closed and drained */
      CHECK(mutex_unlock(pc.m));
      break;
    }
    long item = pc.queue[pc.head];
    pc.head = (pc.head + 1) % QCAP;
    pc.len--;
    cond_signal(pc.not_full);
    CHECK(mutex_unlock(pc.m));
    atomic_fetch_add(&pc.consumed[item], 1);
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void *producer_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  for (long i = 0; i < pc.items; i++) {
    lock_blocking(pc.m, &tt);
    while (pc.len == QCAP) {
      atomic_fetch_add_explicit(&pc.waits, 1, memory_order_relaxed);
      cond_wait_blocking(pc.not_full, pc.m, &tt, NULL);
    }
    pc.queue[(pc.head + pc.len) % QCAP] = i;
    pc.len++;
    cond_signal(pc.not_empty);
    CHECK(mutex_unlock(pc.m));
  }
  lock_blocking(pc.m, &tt);
  pc.closed = true;
  cond_broadcast(pc.not_empty);
  CHECK(mutex_unlock(pc.m));
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_producer_consumer(long items) {
  double t0 = now();
  pc.m = mutex_new();
  pc.not_empty = cond_new((lugo_obj *)pc.m);
  pc.not_full = cond_new((lugo_obj *)pc.m);
  pc.items = items;
  pc.head = pc.len = 0;
  pc.closed = false;
  pc.consumed = calloc((size_t)items, sizeof *pc.consumed);
  atomic_store(&pc.waits, 0);
  pthread_t prod, cons[NCONS];
  for (int i = 0; i < NCONS; i++)
    CHECK(pthread_create(&cons[i], NULL, consumer_main, NULL) == 0);
  CHECK(pthread_create(&prod, NULL, producer_main, NULL) == 0);
  pthread_join(prod, NULL);
  for (int i = 0; i < NCONS; i++) pthread_join(cons[i], NULL);
  long wrong = 0;
  for (long i = 0; i < items; i++)
    if (atomic_load(&pc.consumed[i]) != 1) wrong++;
  CHECK(wrong == 0);
  CHECK(pc.len == 0);
  CHECK(mutex_trylock(pc.m));
  CHECK(mutex_unlock(pc.m));
  free(pc.consumed);
  obj_release((lugo_obj *)pc.not_empty);
  obj_release((lugo_obj *)pc.not_full);
  obj_release((lugo_obj *)pc.m);
  printf("  producer/%d consumers: %ld items, %ld waits, %.2f s\n", NCONS, items,
         atomic_load(&pc.waits), now() - t0);
}

/* Broadcast: threads wait for a flag; one broadcast (after all parked)
** releases them all; signal alone would release only one. */
#define NWAIT 8

static struct {
  lugo_mutex *m;
  cond *c;
  bool flag;                     /* guarded by m */
  atomic_int parked, released;
} bc;

static void *bc_waiter(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  lock_blocking(bc.m, &tt);
  while (!bc.flag) cond_wait_blocking(bc.c, bc.m, &tt, &bc.parked);
  atomic_fetch_add(&bc.released, 1);
  CHECK(mutex_unlock(bc.m));
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_broadcast_threads(void) {
  bc.m = mutex_new();
  bc.c = cond_new((lugo_obj *)bc.m);
  bc.flag = false;
  atomic_store(&bc.parked, 0);
  atomic_store(&bc.released, 0);
  pthread_t th[NWAIT];
  for (int i = 0; i < NWAIT; i++) CHECK(pthread_create(&th[i], NULL, bc_waiter, NULL) == 0);
  CHECK(wait_count(&bc.parked, NWAIT, 10));
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  /* a signal with the flag still false: one waiter wakes, sees no flag,
  ** waits again (parked reaches NWAIT + 1); nobody is released */
  lock_blocking(bc.m, &tt);
  cond_signal(bc.c);
  CHECK(mutex_unlock(bc.m));
  CHECK(wait_count(&bc.parked, NWAIT + 1, 10));
  CHECK(atomic_load(&bc.released) == 0);
  lock_blocking(bc.m, &tt);
  bc.flag = true;
  cond_broadcast(bc.c);
  CHECK(mutex_unlock(bc.m));
  for (int i = 0; i < NWAIT; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&bc.released) == NWAIT);
  CHECK(atomic_load(&bc.parked) == NWAIT + 1);
  sched_thread_task_destroy(&tt);
  obj_release((lugo_obj *)bc.c);
  obj_release((lugo_obj *)bc.m);
}

int main(void) {
  scale = test_scale(2);
  harness_begin("test_cond");

  printf("test_cond: single thread\n");
  set_phase("test_basics");
  test_basics();
  set_phase("test_wait_unlocks");
  test_wait_unlocks();
  set_phase("test_signal_broadcast");
  test_signal_broadcast();
  set_phase("test_abort_cancel");
  test_abort_cancel();

  printf("test_cond: threads (stress counts / %ld)\n", scale);
  set_phase("test_producer_consumer");
  test_producer_consumer(50000 / scale);
  set_phase("test_broadcast_threads");
  for (int r = 0; r < 10; r++) test_broadcast_threads();

  return harness_end();
}

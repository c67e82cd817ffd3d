/* test_waitgroup.c: checks core/waitgroup.c: counting, the refused negative
** count, the parked-waiter paths (deterministically, with outside-thread
** tasks woken before they block), 8 outside threads waiting while 4 threads
** count 4000 down, reuse over many rounds, goroutine-style waiters parked by
** a tiny run hook, and deadlock detection for a registered outside thread
** (sched_register_thread, waitgroup_cancel). Exits 0 on success, 1 after any
** failure.
**
**   gcc -std=gnu11 -O2 -pthread core/sched.c core/deadlock.c core/schedworld.c core/preempt.c core/runq.c core/chan.c \
**       core/waitgroup.c spec/c/test_waitgroup.c -luv -o t && ./t */

#include "../../core/object.h"
#include "../../core/scheduler.h"
#include "../../core/waitgroup.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- single thread ---------------------------------------------------- */

static void test_basic(void) {
  waitgroup *wg = waitgroup_new();
  sched_thread_task tt;
  waiter w;
  sched_thread_task_init(&tt);
  CHECK(wg != NULL);
  CHECK(waitgroup_count(wg) == 0);
  CHECK(waitgroup_wait(wg, &tt.task, &w));  /* zero: returns at once, lock free */
  CHECK(waitgroup_wait(wg, &tt.task, &w));
  CHECK(waitgroup_add(wg, 3));
  CHECK(waitgroup_count(wg) == 3);
  CHECK(waitgroup_add(wg, 0));
  CHECK(waitgroup_count(wg) == 3);
  CHECK(waitgroup_add(wg, 2));
  CHECK(waitgroup_count(wg) == 5);
  CHECK(waitgroup_add(wg, -1));
  CHECK(waitgroup_count(wg) == 4);
  /* below zero: refused, nothing changes */
  CHECK(!waitgroup_add(wg, -5));
  CHECK(waitgroup_count(wg) == 4);
  CHECK(!waitgroup_add(wg, -1000000));
  CHECK(waitgroup_count(wg) == 4);
  CHECK(waitgroup_add(wg, -4));
  CHECK(waitgroup_count(wg) == 0);
  CHECK(!waitgroup_add(wg, -1));
  CHECK(waitgroup_count(wg) == 0);
  CHECK(waitgroup_add(wg, 0));  /* zero stays zero */
  CHECK(waitgroup_count(wg) == 0);
  CHECK(waitgroup_wait(wg, &tt.task, &w));
  CHECK(!tt.woken);
  /* reference counting: destroyed by the last release only (ASan checks
  ** the free and that nothing leaks) */
  obj_retain((lugo_obj *)wg);
  obj_release((lugo_obj *)wg);
  CHECK(waitgroup_add(wg, 1) && waitgroup_count(wg) == 1);
  obj_release((lugo_obj *)wg);
  sched_thread_task_destroy(&tt);
}

/* Waiters of this very thread: waitgroup_wait queues and keeps the lock, we
** release it by hand (as sched_block would), then counting down wakes; a
** woken thread task has its flag set, so sched_block returns at once. */
static void test_waiters_single_thread(void) {
  enum { N = 5 };
  waitgroup *wg = waitgroup_new();
  sched_thread_task tt[N];
  waiter w[N];
  for (int i = 0; i < N; i++) sched_thread_task_init(&tt[i]);
  CHECK(waitgroup_add(wg, 2));
  for (int i = 0; i < N; i++) {
    CHECK(!waitgroup_wait(wg, &tt[i].task, &w[i]));
    waitgroup_unlock(wg);
    CHECK(w[i].task == &tt[i].task && !w[i].success);
  }
  /* neither a refused add nor one that leaves the count above zero wakes */
  CHECK(!waitgroup_add(wg, -3));
  CHECK(waitgroup_add(wg, 1));
  CHECK(waitgroup_add(wg, -2));
  CHECK(waitgroup_add(wg, 0));
  CHECK(waitgroup_count(wg) == 1);
  for (int i = 0; i < N; i++) CHECK(!tt[i].woken && !w[i].success);
  /* reaching zero wakes every waiter, with success */
  CHECK(waitgroup_add(wg, -1));
  CHECK(waitgroup_count(wg) == 0);
  for (int i = 0; i < N; i++) {
    CHECK(tt[i].woken && w[i].success);
    SETTLE(&tt[i]);
    CHECK(!tt[i].woken);
  }
  /* the queue was emptied: a later zero crossing wakes nobody old */
  CHECK(waitgroup_add(wg, 1));
  CHECK(!waitgroup_wait(wg, &tt[0].task, &w[0]));
  waitgroup_unlock(wg);
  CHECK(waitgroup_add(wg, -1));
  CHECK(tt[0].woken && w[0].success);
  for (int i = 1; i < N; i++) CHECK(!tt[i].woken);
  SETTLE(&tt[0]);
  for (int i = 0; i < N; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)wg);
}

/* ---- outside threads ------------------------------------------------- */

#define NWAITERS 8
#define NDONE 4
#define PER_DONE 1000

static struct {
  waitgroup *wg;
  atomic_int parked, woke, woke_early, did_park, start;
  atomic_long refused;
} mt;

/* Waits as an outside task; returns whether it had to park. *parked
** (optional) counts it once queued. */
static bool wait_blocking(waitgroup *wg, atomic_int *parked) {
  sched_thread_task tt;
  waiter w;
  bool did_park = false;
  sched_thread_task_init(&tt);
  if (!waitgroup_wait(wg, &tt.task, &w)) {
    did_park = true;
    block_on(&tt, waitgroup_unlock, wg, parked);
    CHECK(w.success);
  }
  sched_thread_task_destroy(&tt);
  return did_park;
}

static void *waiter_main(void *arg) {
  (void)arg;
  if (wait_blocking(mt.wg, &mt.parked)) atomic_fetch_add(&mt.did_park, 1);
  /* nobody adds again in this test: woken means the count is zero */
  if (waitgroup_count(mt.wg) != 0) atomic_fetch_add(&mt.woke_early, 1);
  atomic_fetch_add(&mt.woke, 1);
  return NULL;
}

static void *done_main(void *arg) {
  (void)arg;
  while (!atomic_load(&mt.start)) nap();
  for (int i = 0; i < PER_DONE; i++) {
    if (!waitgroup_add(mt.wg, -1)) atomic_fetch_add(&mt.refused, 1);
  }
  return NULL;
}

/* 8 waiters, 4 threads counting 4000 down. parked_first: the waiters are
** all queued before the countdown starts (every waiter must be woken by a
** waitgroup_add); else they race with it. */
static void test_threads(bool parked_first) {
  double t0 = now();
  mt.wg = waitgroup_new();
  atomic_store(&mt.parked, 0);
  atomic_store(&mt.woke, 0);
  atomic_store(&mt.woke_early, 0);
  atomic_store(&mt.did_park, 0);
  atomic_store(&mt.refused, 0);
  atomic_store(&mt.start, !parked_first);
  CHECK(waitgroup_add(mt.wg, NDONE * PER_DONE));
  pthread_t waiters[NWAITERS], doners[NDONE];
  for (int i = 0; i < NDONE; i++)
    CHECK(pthread_create(&doners[i], NULL, done_main, NULL) == 0);
  for (int i = 0; i < NWAITERS; i++)
    CHECK(pthread_create(&waiters[i], NULL, waiter_main, NULL) == 0);
  if (parked_first) {
    CHECK(wait_count(&mt.parked, NWAITERS, 10));
    CHECK(atomic_load(&mt.woke) == 0);
    CHECK(waitgroup_count(mt.wg) == NDONE * PER_DONE);
    atomic_store(&mt.start, 1);
  }
  for (int i = 0; i < NDONE; i++) pthread_join(doners[i], NULL);
  for (int i = 0; i < NWAITERS; i++) pthread_join(waiters[i], NULL);
  CHECK(atomic_load(&mt.refused) == 0);
  CHECK(atomic_load(&mt.woke) == NWAITERS);
  CHECK(atomic_load(&mt.woke_early) == 0);
  if (parked_first) CHECK(atomic_load(&mt.did_park) == NWAITERS);
  CHECK(waitgroup_count(mt.wg) == 0);
  CHECK(!waitgroup_add(mt.wg, -1));
  CHECK(wait_blocking(mt.wg, NULL) == false);  /* zero: no wait */
  obj_release((lugo_obj *)mt.wg);
  printf("  %d waiters, %d x %d add(-1)%s: %d parked, %.2f s\n", NWAITERS, NDONE,
         PER_DONE, parked_first ? " after all parked" : " racing",
         atomic_load(&mt.did_park), now() - t0);
}

/* Reuse: many rounds of add / count down / wait on one waitgroup, with the
** next round's add racing the previous round's wake-ups. Waiters and
** counters start round r once its add happened; a waiter woken must find
** every unit of its round counted down. */
#define ROUNDS 300
#define RWAITERS 4
#define RDONE 2
#define RPER 20

static struct {
  waitgroup *wg;
  atomic_int round_added;               /* last round whose add happened */
  atomic_int finished[ROUNDS];          /* waiters through round r */
  atomic_int early;
} ru;

static atomic_int ru_done_units[ROUNDS];

static void *reuse_waiter(void *arg) {
  (void)arg;
  for (int r = 0; r < ROUNDS; r++) {
    while (atomic_load(&ru.round_added) < r) nap();
    wait_blocking(ru.wg, NULL);
    /* the count reached zero after round r's add: all r's work is done */
    if (atomic_load(&ru_done_units[r]) != RDONE * RPER) atomic_fetch_add(&ru.early, 1);
    atomic_fetch_add(&ru.finished[r], 1);
  }
  return NULL;
}

static void *reuse_doner(void *arg) {
  (void)arg;
  for (int r = 0; r < ROUNDS; r++) {
    while (atomic_load(&ru.round_added) < r) nap();
    for (int i = 0; i < RPER; i++) {
      atomic_fetch_add(&ru_done_units[r], 1);
      if (!waitgroup_add(ru.wg, -1)) atomic_fetch_add(&ru.early, 1000);
    }
  }
  return NULL;
}

static void test_reuse(void) {
  double t0 = now();
  ru.wg = waitgroup_new();
  atomic_store(&ru.round_added, -1);
  atomic_store(&ru.early, 0);
  pthread_t th[RWAITERS + RDONE];
  for (int i = 0; i < RWAITERS; i++)
    CHECK(pthread_create(&th[i], NULL, reuse_waiter, NULL) == 0);
  for (int i = 0; i < RDONE; i++)
    CHECK(pthread_create(&th[RWAITERS + i], NULL, reuse_doner, NULL) == 0);
  for (int r = 0; r < ROUNDS; r++) {
    /* the previous round must have reached zero before this add */
    while (waitgroup_count(ru.wg) != 0) nap();
    CHECK(waitgroup_add(ru.wg, RDONE * RPER));
    atomic_store(&ru.round_added, r);
  }
  for (int i = 0; i < RWAITERS + RDONE; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&ru.early) == 0);
  long bad = 0;
  for (int r = 0; r < ROUNDS; r++)
    if (atomic_load(&ru.finished[r]) != RWAITERS) bad++;
  CHECK(bad == 0);
  CHECK(waitgroup_count(ru.wg) == 0);
  obj_release((lugo_obj *)ru.wg);
  printf("  reuse: %d rounds x %d waiters, %.2f s\n", ROUNDS, RWAITERS, now() - t0);
}

/* ---- goroutine-style waiters ---------------------------------------- */

typedef struct gor {
  sched_task task;                          /* first member */
  int state;
  waiter w;
  waitgroup *wg;                            /* waited on */
  waitgroup *done;                          /* counted down when woken */
  int yields;                               /* > 0: a counter task (see below) */
} gor;

static atomic_int g_errors, g_parked, g_woke;

static void *hook_worker_start(sched_worker *w, int index) {
  (void)w;
  (void)index;
  return NULL;
}

static void gor_unlock(void *arg) {
  atomic_fetch_add(&g_parked, 1);
  waitgroup_unlock(arg);
}

static run_result hook_run(sched_worker *w, void *vm, sched_task *t) {
  (void)vm;
  gor *g = (gor *)t;
  if (t->owner == NULL) t->owner = w;
  else if (t->owner != w) atomic_fetch_add(&g_errors, 1);
  if (g->yields > 0) {
    /* a counter task: gives way yields-1 times, then counts wg down */
    if (--g->yields > 0) return RUN_YIELDED;
    if (!waitgroup_add(g->wg, -1)) atomic_fetch_add(&g_errors, 1);
    return RUN_DONE;
  }
  switch (g->state) {
    case 0:
      if (!waitgroup_wait(g->wg, t, &g->w)) {
        g->state = 1;
        t->unlock = gor_unlock;
        t->unlock_arg = g->wg;
        return RUN_PARKED;
      }
      atomic_fetch_add(&g_errors, 1);  /* the test keeps the count up */
      break;
    case 1:
      if (!g->w.success) atomic_fetch_add(&g_errors, 1);
      if (waitgroup_count(g->wg) != 0) atomic_fetch_add(&g_errors, 1);
      atomic_fetch_add(&g_woke, 1);
      break;
  }
  if (!waitgroup_add(g->done, -1)) atomic_fetch_add(&g_errors, 1);
  return RUN_DONE;
}

static const sched_hooks hooks = {.worker_start = hook_worker_start, .run = hook_run};

static void test_goroutine_waiters(void) {
  enum { NG = 64 };
  double t0 = now();
  sched_init(&hooks);
  CHECK(sched_set_workers(2));
  waitgroup *wg = waitgroup_new(), *done = waitgroup_new();
  gor *gs = calloc(NG, sizeof *gs);
  CHECK(waitgroup_add(wg, 3));
  CHECK(waitgroup_add(done, NG));
  for (int i = 0; i < NG; i++) {
    gs[i].wg = wg;
    gs[i].done = done;
    sched_spawn(&gs[i].task);
  }
  /* all parked (their worker released the lock) before the count drops */
  wait_count(&g_parked, NG, 10);
  CHECK(atomic_load(&g_parked) == NG);
  CHECK(waitgroup_add(wg, -1));
  CHECK(waitgroup_add(wg, -1));
  CHECK(atomic_load(&g_woke) == 0 && waitgroup_count(done) == NG);
  CHECK(waitgroup_add(wg, -1));  /* wakes all 64, on their workers */
  CHECK(!wait_blocking(wg, NULL));
  wait_blocking(done, NULL);  /* the main thread waits for the goroutines */
  CHECK(atomic_load(&g_woke) == NG);
  wait_live_zero(30);
  CHECK(sched_live() == 0);
  CHECK(atomic_load(&g_errors) == 0);
  obj_release((lugo_obj *)wg);
  obj_release((lugo_obj *)done);
  free(gs);
  printf("  %d goroutine waiters, %.2f s\n", NG, now() - t0);
}

/* ---- deadlock detection --------------------------------------------- */

/* A registered outside thread (sched_register_thread) waiting while every
** goroutine is parked is woken with its deadlock flag set; its waiter is
** still queued and waitgroup_cancel takes it out. Waiting for a goroutine that can
** still run is no deadlock. */
static struct {
  waitgroup *wg1, *wg2, *wg3;
  gor counter, sleeper;
  bool first_deadlock, first_success, second_deadlock, second_woken, cancelled;
  long count_after;
} dl;

static void *deadlock_thread(void *arg) {
  (void)arg;
  sched_register_thread();
  sched_thread_task tt;
  waiter w;

  /* 1: a goroutine counts wg1 down after yielding a while: no deadlock */
  CHECK(waitgroup_add(dl.wg1, 1));
  dl.counter.wg = dl.wg1;
  dl.counter.yields = 200;
  sched_spawn(&dl.counter.task);
  sched_thread_task_init(&tt);
  if (!waitgroup_wait(dl.wg1, &tt.task, &w)) {
    block_on(&tt, waitgroup_unlock, dl.wg1, NULL);
  } else {
    w.success = true;  /* the counter was faster: fine too */
  }
  dl.first_deadlock = tt.deadlock;
  dl.first_success = w.success;
  sched_thread_task_destroy(&tt);

  /* 2: the only goroutine waits on wg2, which only we could count down,
  ** and we wait on wg1: nobody can wake anybody */
  CHECK(waitgroup_add(dl.wg1, 1));
  CHECK(waitgroup_add(dl.wg2, 1));
  CHECK(waitgroup_add(dl.wg3, 1));
  dl.sleeper.wg = dl.wg2;
  dl.sleeper.done = dl.wg3;
  sched_spawn(&dl.sleeper.task);
  sched_thread_task_init(&tt);
  CHECK(!waitgroup_wait(dl.wg1, &tt.task, &w));
  block_on(&tt, waitgroup_unlock, dl.wg1, NULL);
  dl.second_deadlock = tt.deadlock;
  dl.second_woken = w.success;
  dl.cancelled = waitgroup_cancel(dl.wg1, &w);
  dl.count_after = waitgroup_count(dl.wg1);
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_deadlock(void) {
  dl.wg1 = waitgroup_new();
  dl.wg2 = waitgroup_new();
  dl.wg3 = waitgroup_new();
  atomic_store(&g_errors, 0);
  atomic_store(&g_woke, 0);
  CHECK(sched_live() == 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, deadlock_thread, NULL) == 0);
  pthread_join(th, NULL);
  CHECK(!dl.first_deadlock && dl.first_success);
  CHECK(dl.second_deadlock);
  CHECK(!dl.second_woken);
  CHECK(dl.cancelled);            /* still queued: the wait is given up */
  CHECK(dl.count_after == 1);     /* and nothing counted */
  /* unblock the sleeper so it can finish */
  CHECK(waitgroup_add(dl.wg2, -1));
  wait_blocking(dl.wg3, NULL);
  wait_live_zero(30);
  CHECK(sched_live() == 0);
  CHECK(atomic_load(&g_errors) == 0);
  CHECK(atomic_load(&g_woke) == 1);
  CHECK(waitgroup_add(dl.wg1, -1));
  obj_release((lugo_obj *)dl.wg1);
  obj_release((lugo_obj *)dl.wg2);
  obj_release((lugo_obj *)dl.wg3);
  printf("  deadlock: reported to a registered thread; none while work remains\n");
}

int main(void) {
  harness_begin("test_waitgroup");
  printf("test_waitgroup:\n");
  set_phase("test_basic");
  test_basic();
  set_phase("test_waiters_single_thread");
  test_waiters_single_thread();
  set_phase("test_threads parked first");
  test_threads(true);
  set_phase("test_threads racing");
  test_threads(false);
  set_phase("test_reuse");
  test_reuse();
  set_phase("test_goroutine_waiters");
  test_goroutine_waiters();
  set_phase("test_deadlock");
  test_deadlock();
  return harness_end();
}

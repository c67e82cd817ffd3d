/* test_once.c: checks core/once.c: the first caller runs, callers meanwhile park until
** once_done, later ones pass at once, cancel; one run among racing threads. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
#include "../../core/object.h"
#include "../../core/once.h"
#include "../../core/scheduler.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long scale;

/* ---- single thread ---------------------------------------------------- */

static void test_basics(void) {
  once *o = once_new();
  CHECK(o != NULL);
  CHECK(((lugo_obj *)o)->kind == OBJ_ONCE);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  CHECK(once_begin(o, &tt.task, &w) == ONCE_RUN);     /* first: run it */
  once_done(o);                                       /* no waiter: nothing woken */
  CHECK(!tt.woken);
  for (int i = 0; i < 3; i++) CHECK(once_begin(o, &tt.task, &w) == ONCE_DONE);
  CHECK(!tt.woken);
  sched_thread_task_destroy(&tt);

  /* references: one retain keeps it alive through one release */
  obj_retain((lugo_obj *)o);
  obj_release((lugo_obj *)o);
  CHECK(once_begin(o, NULL, NULL) == ONCE_DONE);      /* done: task not used */
  obj_release((lugo_obj *)o);

  /* separate onces are independent */
  once *a = once_new(), *b = once_new();
  CHECK(once_begin(a, NULL, NULL) == ONCE_RUN);
  CHECK(once_begin(b, NULL, NULL) == ONCE_RUN);
  once_done(b);
  CHECK(once_begin(b, NULL, NULL) == ONCE_DONE);
  once_done(a);
  CHECK(once_begin(a, NULL, NULL) == ONCE_DONE);
  obj_release((lugo_obj *)a);
  obj_release((lugo_obj *)b);
}

/* Callers arriving while the first one runs park (with the internal lock
** held, released here by hand as sched_block would); once_done wakes
** every one of them, with success. */
static void test_waiters_single_thread(void) {
  enum { N = 5 };
  once *o = once_new();
  sched_thread_task tt[N];
  waiter w[N];
  for (int i = 0; i < N; i++) sched_thread_task_init(&tt[i]);
  CHECK(once_begin(o, NULL, NULL) == ONCE_RUN);
  for (int i = 0; i < N; i++) {
    CHECK(once_begin(o, &tt[i].task, &w[i]) == ONCE_PARKED);
    once_unlock_internal(o);
    CHECK(w[i].task == &tt[i].task && w[i].q != NULL && !w[i].success);
  }
  for (int i = 0; i < N; i++) CHECK(!tt[i].woken);
  once_done(o);
  for (int i = 0; i < N; i++) {
    CHECK(tt[i].woken && w[i].success && w[i].q == NULL);
    SETTLE(&tt[i]);
  }
  for (int i = 0; i < N; i++) CHECK(once_begin(o, &tt[i].task, &w[i]) == ONCE_DONE);
  for (int i = 0; i < N; i++) CHECK(!tt[i].woken);
  for (int i = 0; i < N; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)o);
}

static void test_cancel(void) {
  once *o = once_new();
  sched_thread_task tt[3];
  waiter w[3];
  for (int i = 0; i < 3; i++) sched_thread_task_init(&tt[i]);
  CHECK(once_begin(o, NULL, NULL) == ONCE_RUN);
  for (int i = 0; i < 3; i++) {
    CHECK(once_begin(o, &tt[i].task, &w[i]) == ONCE_PARKED);
    once_unlock_internal(o);
  }
  /* cancelled while still queued: true, and once_done skips it */
  CHECK(once_cancel(o, &w[1]));
  CHECK(w[1].q == NULL);
  CHECK(!once_cancel(o, &w[1]));
  once_done(o);
  CHECK(tt[0].woken && w[0].success);
  CHECK(!tt[1].woken && !w[1].success);
  CHECK(tt[2].woken && w[2].success);
  /* cancelled after the wake-up: false */
  CHECK(!once_cancel(o, &w[0]));
  SETTLE(&tt[0]);
  SETTLE(&tt[2]);
  CHECK(once_begin(o, &tt[1].task, &w[1]) == ONCE_DONE);
  for (int i = 0; i < 3; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)o);
}

/* ---- threads ----------------------------------------------------------- */

#define NTHREADS 12

/* The runner holds on until every other thread is parked, then publishes a
** plain value and calls once_done: all must then return and see it. */
static struct {
  once *o;
  atomic_int runs, parked, passed, returned;
  atomic_bool go;
  atomic_int ready;
  long value;                    /* plain: written by the runner only */
  atomic_long bad;
  bool wait_for_all;             /* the runner waits for NTHREADS-1 parked */
  bool nap;                      /* else the runner naps before once_done */
} on;

static void *once_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  atomic_fetch_add(&on.ready, 1);
  while (!atomic_load(&on.go)) sched_yield();
  switch (once_begin(on.o, &tt.task, &w)) {
    case ONCE_RUN:
      atomic_fetch_add(&on.runs, 1);
      if (on.wait_for_all) {
        if (!wait_count(&on.parked, NTHREADS - 1, 20)) atomic_fetch_add(&on.bad, 1);
      } else if (on.nap) {
        nap();                   /* widen the window: more callers park */
      }
      /* nobody has returned before once_done */
      if (atomic_load(&on.returned) != 0) atomic_fetch_add(&on.bad, 1);
      on.value = 42;
      once_done(on.o);
      break;
    case ONCE_PARKED:
      block_on(&tt, once_unlock_internal, on.o, &on.parked);
      if (!w.success) atomic_fetch_add(&on.bad, 1);
      break;
    case ONCE_DONE:
      atomic_fetch_add(&on.passed, 1);
      break;
  }
  /* whichever way we came, the function has run */
  if (on.value != 42) atomic_fetch_add(&on.bad, 1);
  atomic_fetch_add(&on.returned, 1);
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void run_round(bool wait_for_all, bool nap_first) {
  on.o = once_new();
  atomic_store(&on.runs, 0);
  atomic_store(&on.parked, 0);
  atomic_store(&on.passed, 0);
  atomic_store(&on.returned, 0);
  atomic_store(&on.ready, 0);
  atomic_store(&on.go, false);
  on.value = 0;
  on.wait_for_all = wait_for_all;
  on.nap = nap_first;
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, once_main, NULL) == 0);
  wait_count(&on.ready, NTHREADS, 10);
  atomic_store(&on.go, true);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&on.runs) == 1);
  CHECK(atomic_load(&on.returned) == NTHREADS);
  CHECK(atomic_load(&on.runs) + atomic_load(&on.parked) + atomic_load(&on.passed) ==
        NTHREADS);
  if (wait_for_all) CHECK(atomic_load(&on.parked) == NTHREADS - 1);
  /* later callers pass at once */
  CHECK(once_begin(on.o, NULL, NULL) == ONCE_DONE);
  obj_release((lugo_obj *)on.o);
}

static void test_threads_all_parked(void) {
  double t0 = now();
  for (int r = 0; r < 20; r++) run_round(true, false);
  CHECK(atomic_load(&on.bad) == 0);
  printf("  all parked: 20 rounds x %d threads, %.2f s\n", NTHREADS, now() - t0);
}

static void test_threads_racing(int rounds) {
  double t0 = now();
  long parked = 0, passed = 0;
  for (int r = 0; r < rounds; r++) {
    run_round(false, r % 2 == 0);
    parked += atomic_load(&on.parked);
    passed += atomic_load(&on.passed);
  }
  CHECK(atomic_load(&on.bad) == 0);
  printf("  racing: %d rounds x %d threads: one run each, %ld parked, %ld passed, %.2f s\n",
         rounds, NTHREADS, parked, passed, now() - t0);
}

int main(void) {
  scale = test_scale(2);
  harness_begin("test_once");

  printf("test_once: single thread\n");
  set_phase("test_basics");
  test_basics();
  set_phase("test_waiters_single_thread");
  test_waiters_single_thread();
  set_phase("test_cancel");
  test_cancel();

  printf("test_once: threads (stress counts / %ld)\n", scale);
  set_phase("test_threads_all_parked");
  test_threads_all_parked();
  set_phase("test_threads_racing");
  test_threads_racing((int)(400 / scale));

  return harness_end();
}

/* test_mutex.c: checks core/mutex.c with the real scheduler's outside
** thread tasks: trylock, unlock of an unlocked mutex (false), the parked
** paths (deterministically, with tasks of this thread woken before they
** block): hand-off to the first waiter, FIFO order, mutex_cancel before and
** after a hand-off; then threads: N threads x M increments of a plain
** counter under mutex_lock/unlock (parking when taken) = N*M, never two
** holders at once; FIFO among threads queued in a known order; trylock
** spinners mixed with lockers. Exits 0 on success, 1 after any failure.
**
**   gcc -std=gnu11 -O2 -pthread core/sched.c core/deadlock.c core/schedworld.c core/preempt.c core/runq.c core/chan.c \
**       core/mutex.c spec/c/test_mutex.c -luv -o t && ./t
**
** LUGO_TEST_SCALE (a divisor; default 1, 2 under ThreadSanitizer) shrinks
** the stress counts. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
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

/* Locks m from an outside thread, parking if it is taken. Returns whether
** it had to park. *parked_count (optional) counts it once queued. */
static bool lock_blocking(lugo_mutex *m, sched_thread_task *tt, atomic_int *parked_count) {
  waiter w;
  if (mutex_lock(m, &tt->task, &w)) return false;
  block_on(tt, mutex_unlock_internal, m, parked_count);
  CHECK(w.success);   /* woken only by a hand-off: the lock is ours */
  return true;
}

/* ---- single thread -------------------------------------------------- */

static void test_basics(void) {
  lugo_mutex *m = mutex_new();
  CHECK(m != NULL);
  CHECK(!mutex_unlock(m));            /* unlock of unlocked */
  CHECK(mutex_trylock(m));
  CHECK(!mutex_trylock(m));
  CHECK(!mutex_trylock(m));
  CHECK(mutex_unlock(m));
  CHECK(!mutex_unlock(m));            /* second unlock */
  CHECK(mutex_trylock(m));
  CHECK(mutex_unlock(m));

  /* lock of a free mutex takes it at once, without parking */
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  CHECK(mutex_lock(m, &tt.task, &w));
  CHECK(!mutex_trylock(m));
  CHECK(mutex_unlock(m));
  CHECK(!tt.woken);
  sched_thread_task_destroy(&tt);

  /* references: one retain keeps it alive through one release */
  obj_retain((lugo_obj *)m);
  obj_release((lugo_obj *)m);
  CHECK(mutex_trylock(m));
  CHECK(mutex_unlock(m));
  obj_release((lugo_obj *)m);
}

static void test_waiters_single_thread(void) {
  lugo_mutex *m = mutex_new();
  sched_thread_task tt[3];
  waiter w[3];
  for (int i = 0; i < 3; i++) sched_thread_task_init(&tt[i]);

  /* three waiters queue behind the holder; each unlock hands the lock to
  ** the first one (FIFO) and the mutex never looks free meanwhile */
  CHECK(mutex_trylock(m));
  for (int i = 0; i < 3; i++) {
    CHECK(!mutex_lock(m, &tt[i].task, &w[i]));
    mutex_unlock_internal(m);
  }
  for (int i = 0; i < 3; i++) {
    CHECK(!tt[i].woken);
    CHECK(mutex_unlock(m));           /* hands over to waiter i */
    CHECK(tt[i].woken && w[i].success);
    for (int j = i + 1; j < 3; j++) CHECK(!tt[j].woken);
    CHECK(!mutex_trylock(m));         /* it is waiter i's now */
    SETTLE(&tt[i]);
  }
  CHECK(mutex_unlock(m));             /* the last owner unlocks: free */
  CHECK(mutex_trylock(m));
  CHECK(mutex_unlock(m));
  CHECK(!mutex_unlock(m));

  /* cancel before the hand-off: true, the waiter is gone */
  CHECK(mutex_trylock(m));
  CHECK(!mutex_lock(m, &tt[0].task, &w[0]));
  mutex_unlock_internal(m);
  CHECK(!mutex_lock(m, &tt[1].task, &w[1]));
  mutex_unlock_internal(m);
  CHECK(mutex_cancel(m, &w[0]));
  CHECK(mutex_unlock(m));             /* skips the cancelled waiter */
  CHECK(!tt[0].woken);
  CHECK(tt[1].woken && w[1].success);
  SETTLE(&tt[1]);
  CHECK(mutex_unlock(m));
  CHECK(mutex_trylock(m));

  /* cancel after the hand-off: false, the lock is the canceller's */
  CHECK(!mutex_lock(m, &tt[2].task, &w[2]));
  mutex_unlock_internal(m);
  CHECK(mutex_unlock(m));
  CHECK(tt[2].woken);
  CHECK(!mutex_cancel(m, &w[2]));
  SETTLE(&tt[2]);
  CHECK(!mutex_trylock(m));
  CHECK(mutex_unlock(m));
  CHECK(!mutex_unlock(m));

  for (int i = 0; i < 3; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)m);
}

/* ---- threads: counter ------------------------------------------------ */

#define NTHREADS 8

static struct {
  lugo_mutex *m;
  long per_thread;
  long counter;                  /* plain: only the mutex guards it */
  atomic_int inside;
  atomic_long overlaps, parks;
  bool trylockers;               /* odd threads spin on trylock */
} ct;

static void *counter_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  for (long i = 0; i < ct.per_thread; i++) {
    if (ct.trylockers && (id & 1)) {
      while (!mutex_trylock(ct.m)) sched_yield();
    } else if (lock_blocking(ct.m, &tt, NULL)) {
      atomic_fetch_add_explicit(&ct.parks, 1, memory_order_relaxed);
    }
    if (atomic_fetch_add(&ct.inside, 1) != 0) atomic_fetch_add(&ct.overlaps, 1);
    long v = ct.counter;
    if (i % 64 == 0) sched_yield();   /* widen the window */
    ct.counter = v + 1;
    atomic_fetch_sub(&ct.inside, 1);
    if (!mutex_unlock(ct.m)) atomic_fetch_add(&ct.overlaps, 1);
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_counter(long per_thread, bool trylockers) {
  double t0 = now();
  ct.m = mutex_new();
  ct.per_thread = per_thread;
  ct.counter = 0;
  ct.trylockers = trylockers;
  atomic_store(&ct.inside, 0);
  atomic_store(&ct.overlaps, 0);
  atomic_store(&ct.parks, 0);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, counter_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(ct.counter == NTHREADS * per_thread);
  CHECK(atomic_load(&ct.overlaps) == 0);
  CHECK(atomic_load(&ct.parks) > 0);   /* lockers did park */
  CHECK(mutex_trylock(ct.m));          /* left unlocked */
  CHECK(mutex_unlock(ct.m));
  CHECK(!mutex_unlock(ct.m));
  obj_release((lugo_obj *)ct.m);
  printf("  %d threads x %ld%s: counter %ld, %ld parks, %.2f s\n", NTHREADS, per_thread,
         trylockers ? " (half on trylock)" : "", ct.counter, atomic_load(&ct.parks),
         now() - t0);
}

/* ---- threads: FIFO ----------------------------------------------------- */

#define NFIFO 6

static struct {
  lugo_mutex *m;
  atomic_int parked;
  atomic_int order[NFIFO];
  atomic_int next;
} ff;

static void *fifo_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  CHECK(lock_blocking(ff.m, &tt, &ff.parked));
  atomic_store(&ff.order[atomic_fetch_add(&ff.next, 1)], id);
  CHECK(mutex_unlock(ff.m));
  sched_thread_task_destroy(&tt);
  return NULL;
}

/* Threads queue one at a time (each confirmed queued before the next
** starts) behind the holder; they must get the lock in that order. */
static void test_fifo_threads(void) {
  ff.m = mutex_new();
  atomic_store(&ff.parked, 0);
  atomic_store(&ff.next, 0);
  CHECK(mutex_trylock(ff.m));
  pthread_t th[NFIFO];
  for (int i = 0; i < NFIFO; i++) {
    CHECK(pthread_create(&th[i], NULL, fifo_main, (void *)(uintptr_t)i) == 0);
    wait_count(&ff.parked, i + 1, 10);
    CHECK(atomic_load(&ff.parked) == i + 1);
  }
  CHECK(mutex_unlock(ff.m));
  for (int i = 0; i < NFIFO; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&ff.next) == NFIFO);
  for (int i = 0; i < NFIFO; i++) CHECK(atomic_load(&ff.order[i]) == i);
  CHECK(mutex_trylock(ff.m));
  CHECK(mutex_unlock(ff.m));
  obj_release((lugo_obj *)ff.m);
}

int main(void) {
  scale = test_scale(2);
  harness_begin("test_mutex");

  printf("test_mutex: single thread\n");
  set_phase("test_basics");
  test_basics();
  set_phase("test_waiters_single_thread");
  test_waiters_single_thread();

  printf("test_mutex: threads (stress counts / %ld)\n", scale);
  set_phase("test_counter");
  test_counter(50000 / scale, false);
  set_phase("test_counter trylock");
  test_counter(20000 / scale, true);
  set_phase("test_fifo_threads");
  for (int round = 0; round < 5; round++) test_fifo_threads();

  return harness_end();
}

/* test_rwmutex.c: checks core/rwmutex.c: shared readers, one writer, writer preference,
** unlock lets readers in first, try*, cancel; threads keep a two-counter invariant. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
#include "../../core/object.h"
#include "../../core/rwmutex.h"
#include "../../core/scheduler.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long scale;

/* Queues a waiter of this very thread (the call must not take the lock at
** once) and releases the internal lock, as sched_block would. */
static void queue_writer(rwmutex *m, sched_thread_task *tt, waiter *w) {
  CHECK(!rwmutex_lock(m, &tt->task, w));
  rwmutex_unlock_internal(m);
  CHECK(!tt->woken && !w->success && w->q != NULL);
}

static void queue_reader(rwmutex *m, sched_thread_task *tt, waiter *w) {
  CHECK(!rwmutex_rlock(m, &tt->task, w));
  rwmutex_unlock_internal(m);
  CHECK(!tt->woken && !w->success && w->q != NULL);
}

/* Whether the lock is free right now: a writer may enter (and leaves). */
static bool is_free(rwmutex *m) {
  if (!rwmutex_trylock(m)) return false;
  CHECK(rwmutex_unlock(m));
  return true;
}

/* ---- single thread ---------------------------------------------------- */

static void test_basics(void) {
  rwmutex *m = rwmutex_new();
  CHECK(m != NULL);
  CHECK(((lugo_obj *)m)->kind == OBJ_RWMUTEX);
  CHECK(!rwmutex_unlock(m));          /* nothing held */
  CHECK(!rwmutex_runlock(m));

  /* readers share: three read locks at once, no writer meanwhile */
  CHECK(rwmutex_tryrlock(m));
  CHECK(rwmutex_tryrlock(m));
  CHECK(rwmutex_tryrlock(m));
  CHECK(!rwmutex_trylock(m));
  CHECK(!rwmutex_unlock(m));          /* read-held: no write lock to release */
  CHECK(rwmutex_runlock(m));
  CHECK(rwmutex_runlock(m));
  CHECK(!rwmutex_trylock(m));         /* one reader left */
  CHECK(rwmutex_runlock(m));
  CHECK(!rwmutex_runlock(m));         /* a fourth runlock: none held */

  /* a writer is exclusive */
  CHECK(rwmutex_trylock(m));
  CHECK(!rwmutex_trylock(m));
  CHECK(!rwmutex_tryrlock(m));
  CHECK(!rwmutex_runlock(m));         /* write-held: no read lock to release */
  CHECK(rwmutex_unlock(m));
  CHECK(!rwmutex_unlock(m));          /* second unlock */
  CHECK(is_free(m));

  /* lock and rlock of a free rwmutex take it without parking */
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  memset(&w, 0, sizeof w);
  CHECK(rwmutex_rlock(m, &tt.task, &w));
  CHECK(rwmutex_rlock(m, &tt.task, &w));
  CHECK(rwmutex_tryrlock(m));
  CHECK(!rwmutex_trylock(m));
  CHECK(rwmutex_runlock(m) && rwmutex_runlock(m) && rwmutex_runlock(m));
  CHECK(rwmutex_lock(m, &tt.task, &w));
  CHECK(!rwmutex_trylock(m) && !rwmutex_tryrlock(m));
  CHECK(rwmutex_unlock(m));
  CHECK(!tt.woken);
  sched_thread_task_destroy(&tt);

  /* references: one retain keeps it alive through one release */
  obj_retain((lugo_obj *)m);
  obj_release((lugo_obj *)m);
  CHECK(is_free(m));
  obj_release((lugo_obj *)m);
}

/* The queueing protocol, step by step, with waiters of this thread. */
static void test_waiters_single_thread(void) {
  enum { N = 6 };
  rwmutex *m = rwmutex_new();
  sched_thread_task tt[N];
  waiter w[N];
  for (int i = 0; i < N; i++) sched_thread_task_init(&tt[i]);

  /* a waiting writer stops new readers (writer-preferring) */
  CHECK(rwmutex_tryrlock(m));                 /* reader R0 holds */
  queue_writer(m, &tt[0], &w[0]);             /* W0 waits for R0 */
  CHECK(!rwmutex_tryrlock(m));                /* a new reader may not pass W0 */
  CHECK(!rwmutex_trylock(m));
  queue_reader(m, &tt[1], &w[1]);             /* R1 queues behind W0 */
  CHECK(rwmutex_runlock(m));                  /* last reader out: W0 gets it */
  CHECK(tt[0].woken && w[0].success);
  CHECK(!tt[1].woken && !w[1].success);       /* R1 still waits */
  CHECK(!rwmutex_runlock(m));                 /* no read lock held now */
  CHECK(!rwmutex_trylock(m) && !rwmutex_tryrlock(m));
  SETTLE(&tt[0]);

  /* while W0 holds: writer W2 and reader R3 queue too (R1, W2, R3) */
  queue_writer(m, &tt[2], &w[2]);
  queue_reader(m, &tt[3], &w[3]);
  /* unlock lets every waiting reader in first, even R3 (queued after W2) */
  CHECK(rwmutex_unlock(m));
  CHECK(tt[1].woken && w[1].success);
  CHECK(tt[3].woken && w[3].success);
  CHECK(!tt[2].woken && !w[2].success);
  SETTLE(&tt[1]);
  SETTLE(&tt[3]);
  CHECK(!rwmutex_trylock(m));                 /* two readers hold */
  CHECK(!rwmutex_tryrlock(m));                /* W2 waits: no new reader */
  CHECK(!rwmutex_unlock(m));
  CHECK(rwmutex_runlock(m));                  /* R1 out: one reader left */
  CHECK(!tt[2].woken);
  CHECK(rwmutex_runlock(m));                  /* R3 out: W2 gets it */
  CHECK(tt[2].woken && w[2].success);
  SETTLE(&tt[2]);
  CHECK(!rwmutex_trylock(m) && !rwmutex_tryrlock(m));

  /* writers queue FIFO: unlock with only writers waiting hands to the first */
  queue_writer(m, &tt[4], &w[4]);
  queue_writer(m, &tt[5], &w[5]);
  CHECK(rwmutex_unlock(m));                   /* W2 out: W4 in */
  CHECK(tt[4].woken && w[4].success && !tt[5].woken);
  SETTLE(&tt[4]);
  CHECK(!rwmutex_trylock(m) && !rwmutex_tryrlock(m));
  CHECK(rwmutex_unlock(m));                   /* W4 out: W5 in */
  CHECK(tt[5].woken && w[5].success);
  SETTLE(&tt[5]);
  CHECK(!rwmutex_tryrlock(m));
  CHECK(rwmutex_unlock(m));                   /* nobody waits: free */
  CHECK(!rwmutex_unlock(m));
  CHECK(is_free(m));

  /* readers queued behind a writer (none waiting) all enter at its unlock */
  CHECK(rwmutex_trylock(m));
  for (int i = 0; i < 4; i++) queue_reader(m, &tt[i], &w[i]);
  CHECK(rwmutex_unlock(m));
  for (int i = 0; i < 4; i++) {
    CHECK(tt[i].woken && w[i].success);
    SETTLE(&tt[i]);
  }
  CHECK(!rwmutex_trylock(m));
  CHECK(rwmutex_tryrlock(m));                 /* no writer waits: a fifth reader */
  for (int i = 0; i < 5; i++) CHECK(rwmutex_runlock(m));
  CHECK(!rwmutex_runlock(m));
  CHECK(is_free(m));

  for (int i = 0; i < N; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)m);
}

static void test_cancel(void) {
  rwmutex *m = rwmutex_new();
  sched_thread_task tt[3];
  waiter w[3];
  for (int i = 0; i < 3; i++) sched_thread_task_init(&tt[i]);

  /* a queued writer cancelled before the hand-off: true, it is gone */
  CHECK(rwmutex_trylock(m));
  queue_writer(m, &tt[0], &w[0]);
  queue_writer(m, &tt[1], &w[1]);
  CHECK(rwmutex_cancel(m, &w[0]));
  CHECK(w[0].q == NULL);
  CHECK(!rwmutex_cancel(m, &w[0]));           /* once only */
  CHECK(rwmutex_unlock(m));                   /* skips W0, hands to W1 */
  CHECK(!tt[0].woken);
  CHECK(tt[1].woken && w[1].success);
  SETTLE(&tt[1]);
  CHECK(rwmutex_unlock(m));
  CHECK(is_free(m));

  /* cancelled after the hand-off: false, and the lock is the canceller's */
  CHECK(rwmutex_tryrlock(m));
  queue_writer(m, &tt[2], &w[2]);
  CHECK(rwmutex_runlock(m));
  CHECK(tt[2].woken && w[2].success);
  CHECK(!rwmutex_cancel(m, &w[2]));
  SETTLE(&tt[2]);
  CHECK(!rwmutex_trylock(m) && !rwmutex_tryrlock(m));
  CHECK(rwmutex_unlock(m));
  CHECK(is_free(m));

  /* a queued reader cancelled: the unlock wakes nobody and leaves it free */
  CHECK(rwmutex_trylock(m));
  queue_reader(m, &tt[0], &w[0]);
  CHECK(rwmutex_cancel(m, &w[0]));
  CHECK(rwmutex_unlock(m));
  CHECK(!tt[0].woken);
  CHECK(!rwmutex_runlock(m));                 /* no reader was let in */
  CHECK(is_free(m));

  /* a reader cancelled after it was let in: false, the read lock is its own */
  CHECK(rwmutex_trylock(m));
  queue_reader(m, &tt[1], &w[1]);
  CHECK(rwmutex_unlock(m));
  CHECK(tt[1].woken && w[1].success);
  CHECK(!rwmutex_cancel(m, &w[1]));
  SETTLE(&tt[1]);
  CHECK(!rwmutex_trylock(m));
  CHECK(rwmutex_runlock(m));
  CHECK(is_free(m));

  /* a queued writer cancelled while a writer holds and a reader waits */
  CHECK(rwmutex_trylock(m));
  queue_writer(m, &tt[0], &w[0]);
  queue_reader(m, &tt[1], &w[1]);
  CHECK(rwmutex_cancel(m, &w[0]));
  CHECK(rwmutex_unlock(m));                   /* the reader enters */
  CHECK(!tt[0].woken);
  CHECK(tt[1].woken && w[1].success);
  SETTLE(&tt[1]);
  CHECK(rwmutex_tryrlock(m));                 /* no writer waits any more */
  CHECK(rwmutex_runlock(m) && rwmutex_runlock(m));
  CHECK(is_free(m));

  for (int i = 0; i < 3; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)m);
}

/* Readers queue behind a waiting writer while the lock is read-held; when
** that writer's wait is cancelled (REPL Ctrl-C, a deadlock error caught by
** pcall) and the lock is released, the queued readers must get in, not
** stay parked on a free rwmutex. */
static void test_cancel_last_writer_with_readers_queued(void) {
  rwmutex *m = rwmutex_new();
  sched_thread_task tt[2];
  waiter w[2];
  for (int i = 0; i < 2; i++) sched_thread_task_init(&tt[i]);
  CHECK(rwmutex_tryrlock(m));                 /* R0 holds */
  queue_writer(m, &tt[0], &w[0]);             /* W waits */
  queue_reader(m, &tt[1], &w[1]);             /* R1 queues behind W */
  CHECK(rwmutex_cancel(m, &w[0]));            /* W gives up */
  CHECK(rwmutex_runlock(m));                  /* R0 out */
  bool admitted = tt[1].woken && w[1].success;
  CHECK(admitted);                            /* R1 must not be stranded */
  if (admitted) {
    SETTLE(&tt[1]);
    CHECK(rwmutex_runlock(m));
  } else {
    /* unstick R1 so the test can go on: a writer's unlock admits it */
    CHECK(rwmutex_trylock(m));
    CHECK(rwmutex_unlock(m));
    CHECK(tt[1].woken && w[1].success);
    SETTLE(&tt[1]);
    CHECK(rwmutex_runlock(m));
  }
  CHECK(is_free(m));
  for (int i = 0; i < 2; i++) sched_thread_task_destroy(&tt[i]);
  obj_release((lugo_obj *)m);
}

/* ---- threads: invariant stress ---------------------------------------- */

#define NTHREADS 8

static struct {
  rwmutex *m;
  long per_thread;
  long a, b;                     /* plain: writers change both under the lock */
  atomic_int readers_in, writers_in;
  atomic_int max_readers;
  atomic_long writes, reads, bad, parks;
} st;

static bool wlock_blocking(sched_thread_task *tt) {
  waiter w;
  if (rwmutex_lock(st.m, &tt->task, &w)) return false;
  block_on(tt, rwmutex_unlock_internal, st.m, NULL);
  CHECK(w.success);
  return true;
}

static bool rlock_blocking(sched_thread_task *tt) {
  waiter w;
  if (rwmutex_rlock(st.m, &tt->task, &w)) return false;
  block_on(tt, rwmutex_unlock_internal, st.m, NULL);
  CHECK(w.success);
  return true;
}

static void *stress_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  unsigned seed = 0x9e3779b9u * (unsigned)(id + 1);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  for (long i = 0; i < st.per_thread; i++) {
    seed = seed * 1103515245u + 12345u;
    unsigned r = (seed >> 16) % 8;
    bool write = r == 0 || (id == 0 && r < 4);   /* thread 0 writes often */
    bool try_it = (seed >> 24) % 4 == 0;
    if (write) {
      if (try_it) {
        while (!rwmutex_trylock(st.m)) sched_yield();
      } else if (wlock_blocking(&tt)) {
        atomic_fetch_add_explicit(&st.parks, 1, memory_order_relaxed);
      }
      if (atomic_fetch_add(&st.writers_in, 1) != 0) atomic_fetch_add(&st.bad, 1);
      if (atomic_load(&st.readers_in) != 0) atomic_fetch_add(&st.bad, 1);
      st.a++;
      if (i % 4 == 0) sched_yield();           /* widen the window */
      st.b++;
      atomic_fetch_sub(&st.writers_in, 1);
      atomic_fetch_add_explicit(&st.writes, 1, memory_order_relaxed);
      if (!rwmutex_unlock(st.m)) atomic_fetch_add(&st.bad, 1);
    } else {
      if (try_it) {
        while (!rwmutex_tryrlock(st.m)) sched_yield();
      } else if (rlock_blocking(&tt)) {
        atomic_fetch_add_explicit(&st.parks, 1, memory_order_relaxed);
      }
      int in = atomic_fetch_add(&st.readers_in, 1) + 1;
      int max = atomic_load(&st.max_readers);
      while (in > max && !atomic_compare_exchange_weak(&st.max_readers, &max, in)) {}
      if (atomic_load(&st.writers_in) != 0) atomic_fetch_add(&st.bad, 1);
      long a = st.a;
      if (i % 4 == 0) sched_yield();
      long b = st.b;
      if (a != b) atomic_fetch_add(&st.bad, 1);
      atomic_fetch_sub(&st.readers_in, 1);
      atomic_fetch_add_explicit(&st.reads, 1, memory_order_relaxed);
      if (!rwmutex_runlock(st.m)) atomic_fetch_add(&st.bad, 1);
    }
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_stress(long per_thread) {
  double t0 = now();
  st.m = rwmutex_new();
  st.per_thread = per_thread;
  st.a = st.b = 0;
  atomic_store(&st.readers_in, 0);
  atomic_store(&st.writers_in, 0);
  atomic_store(&st.max_readers, 0);
  atomic_store(&st.writes, 0);
  atomic_store(&st.reads, 0);
  atomic_store(&st.bad, 0);
  atomic_store(&st.parks, 0);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, stress_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&st.bad) == 0);
  CHECK(st.a == atomic_load(&st.writes));
  CHECK(st.b == st.a);
  CHECK(atomic_load(&st.writes) + atomic_load(&st.reads) == NTHREADS * per_thread);
  CHECK(atomic_load(&st.writes) > 0 && atomic_load(&st.reads) > 0);
  CHECK(is_free(st.m));                      /* left unlocked */
  CHECK(!rwmutex_runlock(st.m));
  obj_release((lugo_obj *)st.m);
  printf("  %d threads x %ld: %ld writes, %ld reads, %ld parks, up to %d readers at once, "
         "%.2f s\n", NTHREADS, per_thread, atomic_load(&st.writes), atomic_load(&st.reads),
         atomic_load(&st.parks), atomic_load(&st.max_readers), now() - t0);
}

/* ---- threads: a parked writer holds off new readers ------------------ */

/* A reader holds; a writer thread parks; reader threads arriving now must
** park too (not share the read lock) until the writer has been through. */
#define NLATE 4

static struct {
  rwmutex *m;
  atomic_int writer_parked, readers_parked;
  atomic_bool writer_done;
  atomic_long bad;
} wp;

static void *wp_writer(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  CHECK(!rwmutex_lock(wp.m, &tt.task, &w));
  block_on(&tt, rwmutex_unlock_internal, wp.m, &wp.writer_parked);
  CHECK(w.success);
  /* readers queued behind us must still be parked */
  if (atomic_load(&wp.readers_parked) != NLATE) atomic_fetch_add(&wp.bad, 1);
  atomic_store(&wp.writer_done, true);
  CHECK(rwmutex_unlock(wp.m));
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void *wp_reader(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  if (rwmutex_rlock(wp.m, &tt.task, &w)) {
    atomic_fetch_add(&wp.bad, 1);               /* passed a waiting writer */
  } else {
    block_on(&tt, rwmutex_unlock_internal, wp.m, &wp.readers_parked);
    CHECK(w.success);
  }
  if (!atomic_load(&wp.writer_done)) atomic_fetch_add(&wp.bad, 1);
  CHECK(rwmutex_runlock(wp.m));
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_writer_blocks_readers(void) {
  wp.m = rwmutex_new();
  atomic_store(&wp.writer_parked, 0);
  atomic_store(&wp.readers_parked, 0);
  atomic_store(&wp.writer_done, false);
  atomic_store(&wp.bad, 0);
  CHECK(rwmutex_tryrlock(wp.m));
  pthread_t wt, rt[NLATE];
  CHECK(pthread_create(&wt, NULL, wp_writer, NULL) == 0);
  CHECK(wait_count(&wp.writer_parked, 1, 10));
  for (int i = 0; i < NLATE; i++) CHECK(pthread_create(&rt[i], NULL, wp_reader, NULL) == 0);
  CHECK(wait_count(&wp.readers_parked, NLATE, 10));
  CHECK(!atomic_load(&wp.writer_done));
  CHECK(rwmutex_runlock(wp.m));               /* the writer goes, then the readers */
  pthread_join(wt, NULL);
  for (int i = 0; i < NLATE; i++) pthread_join(rt[i], NULL);
  CHECK(atomic_load(&wp.bad) == 0);
  CHECK(is_free(wp.m));
  obj_release((lugo_obj *)wp.m);
}

int main(void) {
  scale = test_scale(2);
  harness_begin("test_rwmutex");

  printf("test_rwmutex: single thread\n");
  set_phase("test_basics");
  test_basics();
  set_phase("test_waiters_single_thread");
  test_waiters_single_thread();
  set_phase("test_cancel");
  test_cancel();
  set_phase("test_cancel_last_writer_with_readers_queued");
  test_cancel_last_writer_with_readers_queued();

  printf("test_rwmutex: threads (stress counts / %ld)\n", scale);
  set_phase("test_writer_blocks_readers");
  for (int round = 0; round < 5; round++) test_writer_blocks_readers();
  set_phase("test_stress");
  test_stress(50000 / scale);

  return harness_end();
}

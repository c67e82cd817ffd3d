/* test_atomic.c: checks core/atomic.c: load, store, add (new value, wraps), swap, cas;
** threads: N x M adds lose nothing, unique add and swap results, one cas winner. */

#include "../../core/atomic.h"
#include "../../core/object.h"

#include "harness.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long scale;

/* ---- single thread ---------------------------------------------------- */

static void test_basics(void) {
  lugo_atomic *a = atomic_cell_new(5);
  CHECK(a != NULL);
  CHECK(a->obj.kind == OBJ_ATOMIC);
  CHECK(atomic_cell_load(a) == 5);
  atomic_cell_store(a, -3);
  CHECK(atomic_cell_load(a) == -3);
  CHECK(atomic_cell_add(a, 10) == 7);         /* the new value */
  CHECK(atomic_cell_load(a) == 7);
  CHECK(atomic_cell_add(a, 0) == 7);
  CHECK(atomic_cell_add(a, -7) == 0);
  CHECK(atomic_cell_add(a, -1) == -1);
  CHECK(atomic_cell_load(a) == -1);
  CHECK(atomic_cell_swap(a, 42) == -1);       /* the old value */
  CHECK(atomic_cell_load(a) == 42);
  CHECK(atomic_cell_swap(a, 42) == 42);
  CHECK(atomic_cell_load(a) == 42);
  CHECK(!atomic_cell_cas(a, 41, 1));          /* mismatch: nothing stored */
  CHECK(atomic_cell_load(a) == 42);
  CHECK(!atomic_cell_cas(a, -42, 1));
  CHECK(atomic_cell_load(a) == 42);
  CHECK(atomic_cell_cas(a, 42, 1));
  CHECK(atomic_cell_load(a) == 1);
  CHECK(!atomic_cell_cas(a, 42, 2));          /* the old expected is stale now */
  CHECK(atomic_cell_load(a) == 1);
  CHECK(atomic_cell_cas(a, 1, 1));            /* same value: succeeds */
  CHECK(atomic_cell_load(a) == 1);

  /* full 64-bit values survive every operation */
  long long big = 0x123456789abcdef0LL;
  atomic_cell_store(a, big);
  CHECK(atomic_cell_load(a) == big);
  CHECK(atomic_cell_swap(a, -big) == big);
  CHECK(atomic_cell_cas(a, -big, LLONG_MIN));
  CHECK(atomic_cell_load(a) == LLONG_MIN);
  CHECK(!atomic_cell_cas(a, LLONG_MAX, 0));
  CHECK(atomic_cell_cas(a, LLONG_MIN, LLONG_MAX));
  CHECK(atomic_cell_load(a) == LLONG_MAX);

  /* references: one retain keeps it alive through one release */
  obj_retain(&a->obj);
  obj_release(&a->obj);
  CHECK(atomic_cell_load(a) == LLONG_MAX);
  obj_release(&a->obj);

  lugo_atomic *z = atomic_cell_new(0);
  CHECK(z != NULL && atomic_cell_load(z) == 0);
  obj_release(&z->obj);
}

/* Lua's integer addition wraps around (two's complement): so does add. */
static void test_wrap(void) {
  lugo_atomic *a = atomic_cell_new(LLONG_MAX);
  CHECK(atomic_cell_add(a, 1) == LLONG_MIN);
  CHECK(atomic_cell_load(a) == LLONG_MIN);
  CHECK(atomic_cell_add(a, -1) == LLONG_MAX);
  CHECK(atomic_cell_load(a) == LLONG_MAX);
  CHECK(atomic_cell_add(a, LLONG_MAX) == -2);      /* MAX + MAX */
  atomic_cell_store(a, LLONG_MIN);
  CHECK(atomic_cell_add(a, LLONG_MIN) == 0);       /* MIN + MIN */
  atomic_cell_store(a, LLONG_MAX - 5);
  CHECK(atomic_cell_add(a, 10) == LLONG_MIN + 4);
  CHECK(atomic_cell_add(a, -10) == LLONG_MAX - 5);
  atomic_cell_store(a, -1);
  CHECK(atomic_cell_add(a, LLONG_MIN) == LLONG_MAX);
  atomic_cell_store(a, 0);
  CHECK(atomic_cell_add(a, LLONG_MIN) == LLONG_MIN);
  CHECK(atomic_cell_add(a, LLONG_MIN) == 0);
  obj_release(&a->obj);
}

/* ---- threads -------------------------------------------------------- */

#define NTHREADS 8

static struct {
  lugo_atomic *a;
  long per_thread;
  atomic_int ready;
  atomic_bool go;
  atomic_uchar *seen;            /* add(1) results, 1..N*M: one byte each */
  atomic_long dup, out_of_range, not_increasing;
} ad;

static void start_line(atomic_int *ready, atomic_bool *go) {
  atomic_fetch_add(ready, 1);
  while (!atomic_load(go)) sched_yield();
}

static void *adder_main(void *arg) {
  (void)arg;
  start_line(&ad.ready, &ad.go);
  long long last = 0;
  long long limit = (long long)NTHREADS * ad.per_thread;
  for (long i = 0; i < ad.per_thread; i++) {
    long long v = atomic_cell_add(ad.a, 1);
    if (v < 1 || v > limit) {
      atomic_fetch_add(&ad.out_of_range, 1);
      continue;
    }
    /* results of one thread grow (the cell only ever grows) */
    if (v <= last) atomic_fetch_add(&ad.not_increasing, 1);
    last = v;
    /* each value 1..N*M is returned to exactly one add */
    if (atomic_fetch_add(&ad.seen[v - 1], 1) != 0)
      atomic_fetch_add(&ad.dup, 1);
  }
  return NULL;
}

static void test_adds(long per_thread) {
  double t0 = now();
  ad.a = atomic_cell_new(0);
  ad.per_thread = per_thread;
  atomic_store(&ad.ready, 0);
  atomic_store(&ad.go, false);
  atomic_store(&ad.dup, 0);
  atomic_store(&ad.out_of_range, 0);
  atomic_store(&ad.not_increasing, 0);
  long total = NTHREADS * per_thread;
  ad.seen = calloc((size_t)total, sizeof *ad.seen);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, adder_main, NULL) == 0);
  wait_count(&ad.ready, NTHREADS, 10);
  atomic_store(&ad.go, true);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(atomic_cell_load(ad.a) == total);
  CHECK(atomic_load(&ad.dup) == 0);
  CHECK(atomic_load(&ad.out_of_range) == 0);
  CHECK(atomic_load(&ad.not_increasing) == 0);
  long missing = 0;
  for (long i = 0; i < total; i++)
    if (atomic_load(&ad.seen[i]) != 1) missing++;
  CHECK(missing == 0);
  free(ad.seen);
  obj_release(&ad.a->obj);
  printf("  %d threads x %ld add(1): %ld, %.2f s\n", NTHREADS, per_thread, total,
         now() - t0);
}

/* Mixed deltas (including ones that wrap) sum exactly, as on one thread. */
static struct {
  lugo_atomic *a;
  long per_thread;
} mx;

static long long delta_of(int id, long i) {
  switch ((id + i) % 4) {
    case 0: return 3;
    case 1: return -7;
    case 2: return LLONG_MAX;       /* wraps */
    default: return LLONG_MIN + 11;
  }
}

static void *mixed_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  for (long i = 0; i < mx.per_thread; i++) atomic_cell_add(mx.a, delta_of(id, i));
  return NULL;
}

static void test_mixed_adds(long per_thread) {
  mx.a = atomic_cell_new(12345);
  mx.per_thread = per_thread;
  unsigned long long want = 12345;
  for (int id = 0; id < NTHREADS; id++)
    for (long i = 0; i < per_thread; i++) want += (unsigned long long)delta_of(id, i);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, mixed_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(atomic_cell_load(mx.a) == (long long)want);
  obj_release(&mx.a->obj);
}

/* Counting with load + cas retry loops loses nothing either. */
static struct {
  lugo_atomic *a;
  long per_thread;
  atomic_long failed_cas;
} cl;

static void *cas_loop_main(void *arg) {
  (void)arg;
  for (long i = 0; i < cl.per_thread; i++) {
    for (;;) {
      long long v = atomic_cell_load(cl.a);
      if (atomic_cell_cas(cl.a, v, v + 2)) break;
      atomic_fetch_add_explicit(&cl.failed_cas, 1, memory_order_relaxed);
    }
  }
  return NULL;
}

static void test_cas_loop(long per_thread) {
  cl.a = atomic_cell_new(0);
  cl.per_thread = per_thread;
  atomic_store(&cl.failed_cas, 0);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, cas_loop_main, NULL) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK(atomic_cell_load(cl.a) == 2LL * NTHREADS * per_thread);
  obj_release(&cl.a->obj);
  printf("  %d threads x %ld cas increments: %ld failed cas retried\n", NTHREADS,
         per_thread, atomic_load(&cl.failed_cas));
}

/* Swap: thread t swaps in t*M + i + 1 (all distinct, nonzero). Every value
** ever stored is returned by exactly one later swap or is the final one,
** and the initial 0 comes back exactly once. */
static struct {
  lugo_atomic *a;
  long per_thread;
  atomic_uchar *returned;        /* index v: times v came back */
  atomic_long zero_back, bad;
} sw;

static void *swap_main(void *arg) {
  long id = (long)(uintptr_t)arg;
  for (long i = 0; i < sw.per_thread; i++) {
    long long mine = id * sw.per_thread + i + 1;
    long long old = atomic_cell_swap(sw.a, mine);
    if (old == 0) atomic_fetch_add(&sw.zero_back, 1);
    else if (old < 1 || old > (long long)NTHREADS * sw.per_thread)
      atomic_fetch_add(&sw.bad, 1);
    else atomic_fetch_add(&sw.returned[old], 1);
  }
  return NULL;
}

static void test_swaps(long per_thread) {
  sw.a = atomic_cell_new(0);
  sw.per_thread = per_thread;
  long total = NTHREADS * per_thread;
  sw.returned = calloc((size_t)total + 1, sizeof *sw.returned);
  atomic_store(&sw.zero_back, 0);
  atomic_store(&sw.bad, 0);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&th[i], NULL, swap_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  long long last = atomic_cell_load(sw.a);
  CHECK(last >= 1 && last <= total);
  CHECK(atomic_load(&sw.zero_back) == 1);
  CHECK(atomic_load(&sw.bad) == 0);
  long wrong = 0;
  for (long v = 1; v <= total; v++) {
    int want = v == last ? 0 : 1;
    if (atomic_load(&sw.returned[v]) != want) wrong++;
  }
  CHECK(wrong == 0);
  free(sw.returned);
  obj_release(&sw.a->obj);
}

/* CAS race: in each round every thread tries cas(0, id + 1) once, all
** released together; exactly one wins and the cell holds its id. */
#define CAS_THREADS 16

static struct {
  lugo_atomic *a;
  int rounds;
  atomic_int round_ready[CAS_THREADS];   /* rounds each thread reached */
  atomic_int go_round;                   /* round released */
  atomic_int done_round[CAS_THREADS];
  bool won[CAS_THREADS];                 /* this round's result, per thread */
} cr;

static void *cas_race_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  for (int r = 1; r <= cr.rounds; r++) {
    atomic_store(&cr.round_ready[id], r);
    while (atomic_load(&cr.go_round) < r) sched_yield();
    cr.won[id] = atomic_cell_cas(cr.a, 0, id + 1);
    atomic_store(&cr.done_round[id], r);
  }
  return NULL;
}

static void test_cas_race(int rounds) {
  cr.a = atomic_cell_new(0);
  cr.rounds = rounds;
  atomic_store(&cr.go_round, 0);
  for (int i = 0; i < CAS_THREADS; i++) {
    atomic_store(&cr.round_ready[i], 0);
    atomic_store(&cr.done_round[i], 0);
  }
  pthread_t th[CAS_THREADS];
  for (int i = 0; i < CAS_THREADS; i++)
    CHECK(pthread_create(&th[i], NULL, cas_race_main, (void *)(uintptr_t)i) == 0);
  long bad_rounds = 0;
  for (int r = 1; r <= rounds; r++) {
    for (int i = 0; i < CAS_THREADS; i++)
      while (atomic_load(&cr.round_ready[i]) < r) sched_yield();
    atomic_cell_store(cr.a, 0);
    atomic_store(&cr.go_round, r);
    for (int i = 0; i < CAS_THREADS; i++)
      while (atomic_load(&cr.done_round[i]) < r) sched_yield();
    int winners = 0, winner = -1;
    for (int i = 0; i < CAS_THREADS; i++)
      if (cr.won[i]) {
        winners++;
        winner = i;
      }
    if (winners != 1 || atomic_cell_load(cr.a) != winner + 1) bad_rounds++;
  }
  for (int i = 0; i < CAS_THREADS; i++) pthread_join(th[i], NULL);
  CHECK(bad_rounds == 0);
  obj_release(&cr.a->obj);
  printf("  cas race: %d rounds x %d threads, one winner each\n", rounds, CAS_THREADS);
}

int main(void) {
  scale = test_scale(4);
  harness_begin("test_atomic");

  printf("test_atomic: single thread\n");
  set_phase("test_basics");
  test_basics();
  set_phase("test_wrap");
  test_wrap();

  printf("test_atomic: threads (stress counts / %ld)\n", scale);
  set_phase("test_adds");
  test_adds(200000 / scale);
  set_phase("test_mixed_adds");
  test_mixed_adds(100000 / scale);
  set_phase("test_cas_loop");
  test_cas_loop(50000 / scale);
  set_phase("test_swaps");
  test_swaps(100000 / scale);
  set_phase("test_cas_race");
  test_cas_race((int)(2000 / scale));

  return harness_end();
}

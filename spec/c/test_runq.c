/* test_runq.c: checks core/runq.c alone: FIFO order, the full ring and its
** overflow, stealing half, and a multi-thread stress run in which every item
** must be consumed exactly once. Exits 0 on success, 1 after any failure.
**
**   gcc -std=c11 -O2 -pthread core/runq.c spec/c/test_runq.c -o t && ./t [N]
**
** N (default 2000000) is the stress item count; LUGO_RUNQ_N sets it too,
** e.g. to keep ThreadSanitizer runs short. */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../core/runq.h"

#include "harness.h"

/* Small integers as items: the single-thread tests only compare them. */
static void *tok(uintptr_t i) { return (void *)(i + 1); }

/* ---- single thread -------------------------------------------------- */

static void test_fifo(void) {
  runq q;
  runq_init(&q);
  CHECK(runq_get(&q) == NULL);
  CHECK(runq_size(&q) == 0);
  for (uintptr_t i = 0; i < 100; i++)
    CHECK(runq_put(&q, tok(i)));
  CHECK(runq_size(&q) == 100);
  for (uintptr_t i = 0; i < 100; i++)
    CHECK(runq_get(&q) == tok(i));
  CHECK(runq_get(&q) == NULL);
  /* many laps around the ring, with the queue half full, to cross the
  ** slot-index wrap many times */
  uintptr_t in = 0, out = 0;
  for (int lap = 0; lap < 20 * RUNQ_SIZE; lap++) {
    CHECK(runq_put(&q, tok(in++)));
    if (lap % 2 == 1 || runq_size(&q) > RUNQ_SIZE / 2)
      CHECK(runq_get(&q) == tok(out++));
  }
  while (out < in)
    CHECK(runq_get(&q) == tok(out++));
  CHECK(runq_get(&q) == NULL);
}

/* head and tail are free-running uint32 counters: start them just below
** the wrap point and check nothing changes. */
static void test_counter_wrap(void) {
  runq q;
  runq_init(&q);
  atomic_store(&q.head, UINT32_MAX - 10);
  atomic_store(&q.tail, UINT32_MAX - 10);
  for (uintptr_t i = 0; i < RUNQ_SIZE; i++)
    CHECK(runq_put(&q, tok(i)));
  CHECK(!runq_put(&q, tok(999)));
  CHECK(runq_size(&q) == RUNQ_SIZE);
  for (uintptr_t i = 0; i < RUNQ_SIZE; i++)
    CHECK(runq_get(&q) == tok(i));
  CHECK(runq_get(&q) == NULL);
}

static void test_full(void) {
  runq q;
  void *out[RUNQ_SIZE / 2];
  runq_init(&q);
  CHECK(runq_put_overflow(&q, out) == 0);  /* empty: nothing to move */
  for (uintptr_t i = 0; i < RUNQ_SIZE; i++)
    CHECK(runq_put(&q, tok(i)));
  CHECK(!runq_put(&q, tok(RUNQ_SIZE)));
  CHECK(runq_size(&q) == RUNQ_SIZE);
  uint32_t n = runq_put_overflow(&q, out);
  CHECK(n == RUNQ_SIZE / 2);
  for (uint32_t i = 0; i < n; i++)
    CHECK(out[i] == tok(i));  /* the oldest half, oldest first */
  CHECK(runq_size(&q) == RUNQ_SIZE / 2);
  CHECK(runq_put(&q, tok(RUNQ_SIZE)));
  for (uintptr_t i = RUNQ_SIZE / 2; i <= RUNQ_SIZE; i++)
    CHECK(runq_get(&q) == tok(i));
  CHECK(runq_get(&q) == NULL);
  /* not full: overflow must decline, and put must still work */
  CHECK(runq_put(&q, tok(0)));
  CHECK(runq_put_overflow(&q, out) == 0);
  CHECK(runq_get(&q) == tok(0));
}

static void test_steal(void) {
  runq src, dst;
  runq_init(&src);
  runq_init(&dst);
  CHECK(runq_steal(&dst, &src) == NULL);  /* empty victim */
  CHECK(runq_size(&dst) == 0);
  /* 10 items: the thief takes the oldest 5, runs the 5th, queues 4 */
  for (uintptr_t i = 0; i < 10; i++)
    CHECK(runq_put(&src, tok(i)));
  CHECK(runq_steal(&dst, &src) == tok(4));
  CHECK(runq_size(&src) == 5);
  CHECK(runq_size(&dst) == 4);
  for (uintptr_t i = 0; i < 4; i++)
    CHECK(runq_get(&dst) == tok(i));
  CHECK(runq_get(&dst) == NULL);
  /* odd count rounds up: 5 left, thief takes 3 */
  CHECK(runq_steal(&dst, &src) == tok(7));
  CHECK(runq_size(&src) == 2);
  CHECK(runq_get(&dst) == tok(5));
  CHECK(runq_get(&dst) == tok(6));
  CHECK(runq_get(&dst) == NULL);
  /* a single item can be stolen; nothing is queued in dst then */
  CHECK(runq_get(&src) == tok(8));
  CHECK(runq_steal(&dst, &src) == tok(9));
  CHECK(runq_size(&dst) == 0);
  CHECK(runq_size(&src) == 0);
  /* a full victim gives exactly half */
  for (uintptr_t i = 0; i < RUNQ_SIZE; i++)
    CHECK(runq_put(&src, tok(i)));
  CHECK(runq_steal(&dst, &src) == tok(RUNQ_SIZE / 2 - 1));
  CHECK(runq_size(&dst) == RUNQ_SIZE / 2 - 1);
  CHECK(runq_size(&src) == RUNQ_SIZE / 2);
  for (uintptr_t i = 0; i < RUNQ_SIZE / 2 - 1; i++)
    CHECK(runq_get(&dst) == tok(i));
  for (uintptr_t i = RUNQ_SIZE / 2; i < RUNQ_SIZE; i++)
    CHECK(runq_get(&src) == tok(i));
}

/* ---- stress: one owner, NTHIEVES thieves ------------------------------ */

#define NTHIEVES 3

/* id is written plainly by the owner before runq_put and read plainly by
** the consumer, so ThreadSanitizer checks that the ring publishes items;
** seen is bumped plainly by whoever consumes, so a double consume is also
** a data race. next links the shared overflow list. */
typedef struct item {
  uint32_t id;
  uint32_t seen;
  struct item *next;
} item;

static struct {
  uint32_t n;
  item *items;
  runq owner_q;
  runq thief_q[NTHIEVES];
  atomic_uint consumed;
  atomic_uint stolen;        /* items that left the owner's ring by steal */
  atomic_uint bad_size;      /* runq_size ever above RUNQ_SIZE */
  atomic_uint bad_id;        /* consumer saw an unpublished item */
  pthread_mutex_t lock;      /* guards the shared list */
  item *shared_head, *shared_tail;
  uint32_t shared_pushed;    /* under lock */
} S;

static void shared_push(item **batch, uint32_t n) {
  pthread_mutex_lock(&S.lock);
  for (uint32_t i = 0; i < n; i++) {
    batch[i]->next = NULL;
    if (S.shared_tail)
      S.shared_tail->next = batch[i];
    else
      S.shared_head = batch[i];
    S.shared_tail = batch[i];
  }
  S.shared_pushed += n;
  pthread_mutex_unlock(&S.lock);
}

static item *shared_pop(void) {
  pthread_mutex_lock(&S.lock);
  item *it = S.shared_head;
  if (it) {
    S.shared_head = it->next;
    if (!S.shared_head)
      S.shared_tail = NULL;
  }
  pthread_mutex_unlock(&S.lock);
  return it;
}

static void consume(item *it) {
  /* items[i].id == i, so a torn or stale publication shows here */
  if (it->id != (uint32_t)(it - S.items))
    atomic_fetch_add(&S.bad_id, 1);
  it->seen++;
  atomic_fetch_add_explicit(&S.consumed, 1, memory_order_relaxed);
}

static int all_consumed(void) {
  return atomic_load_explicit(&S.consumed, memory_order_relaxed) >= S.n;
}

static void owner_put(item *it) {
  void *half[RUNQ_SIZE / 2];
  while (!runq_put(&S.owner_q, it)) {
    uint32_t n = runq_put_overflow(&S.owner_q, half);
    if (n > 0) {
      shared_push((item **)half, n);
      shared_push(&it, 1);
      return;
    }
    /* thieves made room meanwhile: runq_put will succeed now */
  }
}

static void *owner_main(void *arg) {
  (void)arg;
  for (uint32_t i = 0; i < S.n; i++) {
    item *it = &S.items[i];
    it->id = i;
    it->seen = 0;
    owner_put(it);
    /* run one of our own now and then, so head moves under the thieves
    ** from both sides; bursts of puts in between let the ring fill up */
    if (i % 3 == 0 && (i / 4096) % 2 == 0) {
      item *mine = runq_get(&S.owner_q);
      if (mine)
        consume(mine);
    }
  }
  /* help finish: our own ring first, then the shared list */
  while (!all_consumed()) {
    item *it = runq_get(&S.owner_q);
    if (!it)
      it = shared_pop();
    if (it)
      consume(it);
    else
      sched_yield();
  }
  return NULL;
}

static item *steal_some(int self) {
  runq *mine = &S.thief_q[self];
  item *it = runq_steal(mine, &S.owner_q);
  if (it) {
    atomic_fetch_add_explicit(&S.stolen, 1 + runq_size(mine),
                              memory_order_relaxed);
    return it;
  }
  /* also rob the other thieves, so thief rings are consumed from both
  ** ends too, and a thief steals while being stolen from */
  for (int k = 1; k < NTHIEVES; k++) {
    it = runq_steal(mine, &S.thief_q[(self + k) % NTHIEVES]);
    if (it)
      return it;
  }
  return NULL;
}

static void *thief_main(void *arg) {
  int self = (int)(intptr_t)arg;
  runq *mine = &S.thief_q[self];
  while (!all_consumed()) {
    if (runq_size(&S.owner_q) > RUNQ_SIZE)
      atomic_fetch_add(&S.bad_size, 1);
    /* runq_steal wants an empty dst: drain ours before stealing */
    item *it = runq_get(mine);
    if (!it)
      it = steal_some(self);
    if (!it)
      it = shared_pop();
    if (it)
      consume(it);
    else
      sched_yield();
  }
  return NULL;
}

static uint32_t stress_n(int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : getenv("LUGO_RUNQ_N");
  long n = s ? strtol(s, NULL, 10) : 2000000;
  return n > 0 ? (uint32_t)n : 2000000;
}

static void test_stress(uint32_t n) {
  pthread_t owner, thieves[NTHIEVES];
  S.n = n;
  S.items = calloc(n, sizeof(item));
  if (!S.items) {
    check(0, "calloc items", __FILE__, __LINE__);
    return;
  }
  runq_init(&S.owner_q);
  for (int i = 0; i < NTHIEVES; i++)
    runq_init(&S.thief_q[i]);
  atomic_init(&S.consumed, 0);
  atomic_init(&S.stolen, 0);
  atomic_init(&S.bad_size, 0);
  atomic_init(&S.bad_id, 0);
  pthread_mutex_init(&S.lock, NULL);
  for (int i = 0; i < NTHIEVES; i++)
    pthread_create(&thieves[i], NULL, thief_main, (void *)(intptr_t)i);
  pthread_create(&owner, NULL, owner_main, NULL);
  pthread_join(owner, NULL);
  for (int i = 0; i < NTHIEVES; i++)
    pthread_join(thieves[i], NULL);

  uint32_t bad = 0, first_bad = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (S.items[i].seen != 1 && bad++ == 0)
      first_bad = i;
  }
  if (bad > 0)
    fprintf(stderr, "stress: %u items not consumed exactly once "
            "(first: item %u seen %u times)\n", bad, first_bad,
            S.items[first_bad].seen);
  CHECK(bad == 0);
  CHECK(atomic_load(&S.consumed) == n);
  CHECK(atomic_load(&S.bad_size) == 0);
  CHECK(atomic_load(&S.bad_id) == 0);
  CHECK(runq_size(&S.owner_q) == 0);
  for (int i = 0; i < NTHIEVES; i++)
    CHECK(runq_size(&S.thief_q[i]) == 0);
  CHECK(S.shared_head == NULL);
  printf("stress: %u items; %u overflowed to the shared list, "
         "~%u stolen from the owner\n", n, S.shared_pushed,
         atomic_load(&S.stolen));
  /* without these the run proved little */
  CHECK(S.shared_pushed > 0 || n < 100000);
  CHECK(atomic_load(&S.stolen) > 0 || n < 100000);
  pthread_mutex_destroy(&S.lock);
  free(S.items);
}

int main(int argc, char **argv) {
  harness_begin("test_runq");
  test_fifo();
  test_counter_wrap();
  test_full();
  test_steal();
  test_stress(stress_n(argc, argv));
  return harness_end();
}

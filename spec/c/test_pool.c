/* test_pool.c: checks core/pool.c: every size class and large blocks keep
** their bytes and alignment, realloc keeps the content across classes, and
** blocks allocated by one thread and freed by another (the spawner/worker
** pattern) come back intact through the shared batches, with threads that
** exit holding a cache. Exits 0 on success, 1 after any failure. */

#include "../../core/pool.h"

#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 31);
}

static bool filled(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed + i * 31)) return false;
  return true;
}

static void test_sizes(void) {
  static const size_t sizes[] = {0, 1, 24, 47, 48, 49, 100, 112, 113, 240,
                                 500, 1000, 2032, 2033, 5000, 100000};
  void *blocks[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = pool_alloc(sizes[i]);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    fill(p, sizes[i], (unsigned)i);
    blocks[i] = p;
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    CHECK(filled(blocks[i], sizes[i], (unsigned)i));
    pool_free(blocks[i]);
  }
  pool_free(NULL);
  unsigned char *z = pool_zalloc(300);
  CHECK(z != NULL);
  bool zero = true;
  for (int i = 0; i < 300; i++) zero = zero && z[i] == 0;
  CHECK(zero);
  pool_free(z);
}

static void test_realloc(void) {
  unsigned char *p = pool_realloc(NULL, 10);
  CHECK(p != NULL);
  fill(p, 10, 7);
  size_t size = 10;
  /* grow through every class into a large block, then shrink back */
  static const size_t steps[] = {40, 100, 200, 400, 1000, 2000, 3000, 70000, 500, 20};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    unsigned char *q = pool_realloc(p, steps[i]);
    CHECK(q != NULL);
    size_t kept = size < steps[i] ? size : steps[i];
    CHECK(filled(q, kept, 7));
    fill(q, steps[i], 7);
    p = q;
    size = steps[i];
  }
  pool_free(p);
}

/* A producer allocates, a consumer frees: blocks travel through a ring. */
#define RING 1024
#define ROUNDS 200000

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned char *slots[RING];
  size_t sizes[RING];
  unsigned head, tail;
  bool done;
} ring = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_long corrupt;

static void *producer(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < ROUNDS; i++) {
    size_t size = 16 + (i * 37) % 1500;
    unsigned char *p = pool_alloc(size);
    if (!p) abort();
    fill(p, size, i);
    pthread_mutex_lock(&ring.mu);
    while (ring.tail - ring.head == RING) pthread_cond_wait(&ring.cv, &ring.mu);
    ring.slots[ring.tail % RING] = p;
    ring.sizes[ring.tail % RING] = size;
    ring.tail++;
    pthread_cond_broadcast(&ring.cv);
    pthread_mutex_unlock(&ring.mu);
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < ROUNDS; i++) {
    pthread_mutex_lock(&ring.mu);
    while (ring.tail == ring.head) pthread_cond_wait(&ring.cv, &ring.mu);
    unsigned char *p = ring.slots[ring.head % RING];
    size_t size = ring.sizes[ring.head % RING];
    ring.head++;
    pthread_cond_broadcast(&ring.cv);
    pthread_mutex_unlock(&ring.mu);
    if (!filled(p, size, i)) atomic_fetch_add(&corrupt, 1);
    pool_free(p);
  }
  return NULL;
}

static void test_cross_thread(void) {
  /* Three rounds of fresh threads: caches of exited threads are reused. */
  for (int round = 0; round < 3; round++) {
    pthread_t a, b;
    ring.head = ring.tail = 0;
    pthread_create(&a, NULL, producer, NULL);
    pthread_create(&b, NULL, consumer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(ring.head == ROUNDS);
  }
  CHECK(atomic_load(&corrupt) == 0);
}

int main(void) {
  test_sizes();
  test_realloc();
  test_cross_thread();
  if (atomic_load(&failures)) return 1;
  puts("pool: ok");
  return 0;
}

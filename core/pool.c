/* pool.c: size-classed blocks with per-thread caches and a shared list of
** batches (the thread-caching idea of tcmalloc, reduced to what lugo needs). */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every block starts with a header naming its class, so that free and
** realloc need no size; 16 bytes keep the payload aligned like malloc's. */
#define HEADER 16
#define NCLASSES 6              /* blocks of 64, 128, ... 2048 bytes in all */
#define SMALLEST 64
#define LARGE NCLASSES          /* class of a block malloc'd on its own */
/* A thread's cache of one class holds up to 2 * BATCH blocks; it gives and
** takes BATCH at a time, so the shared lock is taken once per BATCH blocks. */
#define BATCH 32
/* The shared list keeps at most this many bytes per class; beyond that,
** blocks go back to malloc, so a burst does not keep its peak for ever. */
#define SHARED_MAX_BYTES (16u << 20)

/* AddressSanitizer must see every free, or it cannot catch a use after one. */
#if defined(__SANITIZE_ADDRESS__)
static const bool caching = false;
#else
static const bool caching = true;
#endif

/* A free block's payload links it into a cache or a batch (its header
** stays as it is); free_block pointers are payload addresses. */
typedef struct free_block {
  struct free_block *next;        /* next block of the same list */
  struct free_block *next_batch;  /* shared list: first block of the next batch */
} free_block;

typedef struct thread_cache {
  free_block *head[NCLASSES];
  unsigned count[NCLASSES];
  bool registered;                /* the exit destructor is set */
} thread_cache;

static struct {
  pthread_mutex_t mu;             /* guards batches and nbatches */
  free_block *batches[NCLASSES];  /* batches of BATCH blocks each */
  unsigned nbatches[NCLASSES];
  pthread_once_t key_once;
  pthread_key_t key;
} shared = {
  .mu = PTHREAD_MUTEX_INITIALIZER,
  .key_once = PTHREAD_ONCE_INIT,
};

static _Thread_local thread_cache cache;

static size_t class_size(int c) {
  return (size_t)SMALLEST << c;
}

static int class_of(size_t size) {
  if (size > class_size(NCLASSES - 1) - HEADER) return LARGE;
  int c = 0;
  while (size + HEADER > class_size(c)) c++;
  return c;
}

static char *header_of(void *p) {
  return (char *)p - HEADER;
}

static int class_at(void *p) {
  int c;
  memcpy(&c, header_of(p), sizeof c);
  return c;
}

/* A new block from malloc, returned as its payload (NULL if none). */
static void *new_block(int c, size_t size) {
  char *block = malloc(c == LARGE ? size + HEADER : class_size(c));
  if (!block) return NULL;
  memcpy(block, &c, sizeof c);
  return block + HEADER;
}

static void free_list(free_block *b) {
  while (b) {
    free_block *next = b->next;
    free(header_of(b));
    b = next;
  }
}

/* Hands a batch (a list of BATCH blocks of class c) to the shared list, or
** back to malloc past the shared limit. */
static void give_batch(int c, free_block *batch) {
  unsigned max = SHARED_MAX_BYTES / (unsigned)(class_size(c) * BATCH);
  pthread_mutex_lock(&shared.mu);
  bool keep = shared.nbatches[c] < max;
  if (keep) {
    batch->next_batch = shared.batches[c];
    shared.batches[c] = batch;
    shared.nbatches[c]++;
  }
  pthread_mutex_unlock(&shared.mu);
  if (!keep) free_list(batch);
}

/* Detaches BATCH blocks from the front of this thread's class c list. */
static free_block *take_from_cache(int c) {
  free_block *first = cache.head[c], *last = first;
  for (int i = 1; i < BATCH; i++) last = last->next;
  cache.head[c] = last->next;
  last->next = NULL;
  cache.count[c] -= BATCH;
  return first;
}

/* At thread exit: full batches go to the shared list, the rest to free. */
static void flush_cache(void *unused) {
  (void)unused;
  for (int c = 0; c < NCLASSES; c++) {
    while (cache.count[c] >= BATCH) give_batch(c, take_from_cache(c));
    free_list(cache.head[c]);
    cache.head[c] = NULL;
    cache.count[c] = 0;
  }
}

static void make_key(void) {
  pthread_key_create(&shared.key, flush_cache);
}

static void register_cache(void) {
  pthread_once(&shared.key_once, make_key);
  pthread_setspecific(shared.key, &cache);   /* non-NULL: the destructor runs */
  cache.registered = true;
}

void *pool_alloc(size_t size) {
  int c = class_of(size);
  if (c == LARGE || !caching) return new_block(c, size);
  if (!cache.head[c]) {
    pthread_mutex_lock(&shared.mu);
    free_block *batch = shared.batches[c];
    if (batch) {
      shared.batches[c] = batch->next_batch;
      shared.nbatches[c]--;
    }
    pthread_mutex_unlock(&shared.mu);
    if (!batch) return new_block(c, size);
    if (!cache.registered) register_cache();
    cache.head[c] = batch;
    cache.count[c] = BATCH;
  }
  free_block *b = cache.head[c];
  cache.head[c] = b->next;
  cache.count[c]--;
  return b;
}

void *pool_zalloc(size_t size) {
  void *p = pool_alloc(size);
  if (p) memset(p, 0, size);
  return p;
}

void pool_free(void *p) {
  if (!p) return;
  int c = class_at(p);
  if (c == LARGE || !caching) {
    free(header_of(p));
    return;
  }
  if (!cache.registered) register_cache();
  free_block *b = p;
  b->next = cache.head[c];
  cache.head[c] = b;
  if (++cache.count[c] >= 2 * BATCH) give_batch(c, take_from_cache(c));
}

void *pool_realloc(void *p, size_t size) {
  if (!p) return pool_alloc(size);
  int c = class_at(p);
  if (c == LARGE && class_of(size) == LARGE) {
    char *block = realloc(header_of(p), size + HEADER);
    return block ? block + HEADER : NULL;
  }
  size_t room = c == LARGE ? size : class_size(c) - HEADER;   /* LARGE: shrinking */
  if (c != LARGE && size <= room) return p;
  void *q = pool_alloc(size);
  if (!q) return NULL;
  memcpy(q, p, size < room ? size : room);
  pool_free(p);
  return q;
}

void pool_trim(void) {
  for (int c = 0; c < NCLASSES; c++) {
    free_list(cache.head[c]);
    cache.head[c] = NULL;
    cache.count[c] = 0;
    pthread_mutex_lock(&shared.mu);
    free_block *batch = shared.batches[c];
    shared.batches[c] = NULL;
    shared.nbatches[c] = 0;
    pthread_mutex_unlock(&shared.mu);
    while (batch) {
      free_block *next = batch->next_batch;
      free_list(batch);
      batch = next;
    }
  }
}

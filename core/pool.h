/* pool.h: memory for blocks that one thread allocates and another frees
** (goroutine records, encoded messages), recycled through per-thread caches
** and a shared list of batches. glibc would lock the allocating thread's
** arena for each such free (futex waits, page faults, seen with perf). */
#ifndef LUGO_POOL_H
#define LUGO_POOL_H

#include <stddef.h>

/* Like malloc: size bytes, aligned for any type; NULL when out of memory.
** Any thread; the block may be freed or resized by any other thread. */
void *pool_alloc(size_t size);

/* Like calloc(1, size). */
void *pool_zalloc(size_t size);

/* Like realloc: p may be NULL (then it allocates); on failure returns NULL
** and p is untouched. */
void *pool_realloc(void *p, size_t size);

/* Like free; p may be NULL. Only blocks from this pool. */
void pool_free(void *p);

/* Returns the calling thread's cached blocks and the shared ones to the C
** library (the runtime's close); other threads keep their caches. */
void pool_trim(void);

#endif

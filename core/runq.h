/* runq.h: a worker's queue of not-yet-started tasks, Go's runq design
** (src/runtime/proc.go: runqput/runqget/runqgrab): a fixed ring that only
** its owner appends to, and that the owner and thieves consume from the head
** with a CAS; thieves take half at once. FIFO, lock-free. */
#ifndef LUGO_RUNQ_H
#define LUGO_RUNQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define RUNQ_SIZE 256

typedef struct runq {
  _Atomic uint32_t head;          /* next slot to consume; CAS by anyone */
  _Atomic uint32_t tail;          /* next slot to fill; stored by owner only */
  void *_Atomic slots[RUNQ_SIZE];
} runq;

void runq_init(runq *q);

/* Owner only. Appends item; returns false when the ring is full (the caller
** then moves work to a shared queue, see runq_put_overflow). */
bool runq_put(runq *q, void *item);

/* Owner only, ring full: takes the oldest half of the ring into out[] (size
** RUNQ_SIZE/2) and returns how many; the caller moves them with the new item
** to its shared queue. Returns 0 if thieves emptied it meanwhile (then
** runq_put will succeed). */
uint32_t runq_put_overflow(runq *q, void **out);

/* Owner only. Removes and returns the oldest item, or NULL when empty. */
void *runq_get(runq *q);

/* dst's owner only (never src's owner): moves about half of src's items
** (the oldest, rounded up) into dst, which must be empty, and returns one of
** them for the caller to run, or NULL if src was empty. */
void *runq_steal(runq *dst, runq *src);

/* Approximate count, any thread (for idle checks; may be stale). */
uint32_t runq_size(runq *q);

#endif

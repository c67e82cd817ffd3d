/* runq.c: the lock-free per-worker ring of tasks (Go's runq, proc.go).
** Invariants: head <= tail (as uint32 counters that may wrap), tail - head <=
** RUNQ_SIZE, only the owner writes tail; anyone advances head, only by CAS. */

#include <assert.h>
#include <stddef.h>

#include "runq.h"

/* head and tail are free-running counters; a slot index is counter mod
** RUNQ_SIZE, which stays correct across uint32 wrap because RUNQ_SIZE is a
** power of two. */
_Static_assert((RUNQ_SIZE & (RUNQ_SIZE - 1)) == 0,
               "RUNQ_SIZE must be a power of two");

/*
** Memory ordering, as in Go:
** - the owner fills a slot, then store-releases tail: a consumer that
**   load-acquires tail therefore sees the slot and whatever the item points to;
** - a consumer reads its slots, then CAS-releases head; the owner
**   load-acquires head before reusing a slot, so it never overwrites a slot
**   that is still being read;
** - slots are atomic (relaxed) because a consumer with a stale head may read
**   a slot while the owner refills it; its CAS on head then fails and the
**   value it read is thrown away.
*/

static void *slot_get(runq *q, uint32_t i) {
  return atomic_load_explicit(&q->slots[i % RUNQ_SIZE], memory_order_relaxed);
}

static void slot_set(runq *q, uint32_t i, void *item) {
  atomic_store_explicit(&q->slots[i % RUNQ_SIZE], item, memory_order_relaxed);
}

static uint32_t load_head(runq *q) {
  return atomic_load_explicit(&q->head, memory_order_acquire);
}

/* The owner's view of its own tail: nobody else stores it, so relaxed. */
static uint32_t own_tail(runq *q) {
  return atomic_load_explicit(&q->tail, memory_order_relaxed);
}

/* Claims [h, h+n) for the caller, if nobody consumed from h meanwhile. */
static bool cas_head(runq *q, uint32_t h, uint32_t n) {
  return atomic_compare_exchange_strong_explicit(&q->head, &h, h + n,
                                                 memory_order_release,
                                                 memory_order_relaxed);
}

void runq_init(runq *q) {
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  for (int i = 0; i < RUNQ_SIZE; i++)
    atomic_init(&q->slots[i], NULL);
}

bool runq_put(runq *q, void *item) {
  uint32_t h = load_head(q);
  uint32_t t = own_tail(q);
  if (t - h >= RUNQ_SIZE)
    return false;
  slot_set(q, t, item);
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
  return true;
}

/* Go's runqputslow, minus the global queue: the caller owns that. Moving
** half (not one) makes the next RUNQ_SIZE/2 puts cheap again. */
uint32_t runq_put_overflow(runq *q, void **out) {
  uint32_t h = load_head(q);
  uint32_t t = own_tail(q);
  uint32_t n = RUNQ_SIZE / 2;
  /* head only grows, so if the ring is not full now, runq_put will succeed */
  if (t - h != RUNQ_SIZE)
    return 0;
  for (uint32_t i = 0; i < n; i++)
    out[i] = slot_get(q, h + i);
  /* a thief took some meanwhile: there is room now, and out[] may hold items
  ** the thief owns, so they must not be handed out */
  if (!cas_head(q, h, n))
    return 0;
  return n;
}

void *runq_get(runq *q) {
  for (;;) {
    uint32_t h = load_head(q);
    uint32_t t = own_tail(q);
    if (t == h)
      return NULL;
    void *item = slot_get(q, h);
    if (cas_head(q, h, 1))
      return item;
    /* a thief advanced head; retry with the new one */
  }
}

/* Go's runqgrab: copies about half of src into dst's ring starting at
** counter dt, and claims them in src with one CAS. Returns how many. The
** copies land beyond dst's tail, so nobody sees them until dst's owner
** publishes them by moving dst's tail. */
static uint32_t grab(runq *src, runq *dst, uint32_t dt) {
  for (;;) {
    uint32_t h = load_head(src);
    uint32_t t = atomic_load_explicit(&src->tail, memory_order_acquire);
    uint32_t n = t - h;
    n = n - n / 2;  /* round up, so a single item can be stolen */
    if (n == 0)
      return 0;
    /* h and t were read at different moments: h may be so stale that t - h
    ** exceeds the ring; such a count is meaningless, read again */
    if (n > RUNQ_SIZE / 2)
      continue;
    for (uint32_t i = 0; i < n; i++)
      slot_set(dst, dt + i, slot_get(src, h + i));
    if (cas_head(src, h, n))
      return n;
  }
}

void *runq_steal(runq *dst, runq *src) {
  uint32_t t = own_tail(dst);
  /* grab writes up to RUNQ_SIZE/2 slots past dst's tail before anything is
  ** checked, so that room must exist up front (the header asks for empty) */
  assert(t - load_head(dst) <= RUNQ_SIZE / 2);
  uint32_t n = grab(src, dst, t);
  if (n == 0)
    return NULL;
  /* the caller runs the newest stolen item; the rest stay queued in dst */
  n--;
  void *item = slot_get(dst, t + n);
  if (n > 0)
    atomic_store_explicit(&dst->tail, t + n, memory_order_release);
  return item;
}

uint32_t runq_size(runq *q) {
  /* head first: tail, read later, can only be larger, so t - h never goes
  ** negative; it can exceed the ring if head moved in between, so clamp */
  uint32_t h = load_head(q);
  uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
  uint32_t n = t - h;
  return n > RUNQ_SIZE ? RUNQ_SIZE : n;
}

/* select.c: multi-channel select. Invariant: while parked, every case has a
** waiter queued on its channel, all sharing s->done; the first waker to CAS
** it wins and the select removes the others when it resumes. */
#include "select.h"

#include <stdint.h>
#include <stdlib.h>

#include "chan_impl.h"

static int by_address(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)*(chan *const *)a, y = (uintptr_t)*(chan *const *)b;
  return x < y ? -1 : x > y;
}

/* Sorts the lock order by address. Selects have a handful of cases, where
** an insertion sort beats qsort's calls through a function pointer. */
static void sort_lockorder(sel_state *s) {
  chan **a = s->lockorder;
  if (s->n > 16) {
    qsort(a, (size_t)s->n, sizeof(chan *), by_address);
    return;
  }
  for (int i = 1; i < s->n; i++) {
    chan *c = a[i];
    int j = i;
    for (; j > 0 && (uintptr_t)a[j - 1] > (uintptr_t)c; j--) a[j] = a[j - 1];
    a[j] = c;
  }
}

/* Locks every channel once, in address order, so that two selects never
** deadlock each other (a channel may appear in several cases). */
static void lock_all(sel_state *s) {
  for (int i = 0; i < s->n; i++)
    if (i == 0 || s->lockorder[i] != s->lockorder[i - 1])
      pthread_mutex_lock(&s->lockorder[i]->mu);
}

void sel_unlock(void *arg) {
  sel_state *s = arg;
  for (int i = s->n - 1; i >= 0; i--)
    if (i == 0 || s->lockorder[i] != s->lockorder[i - 1])
      chan_release(s->lockorder[i]);
}

/* xorshift32: cheap, and good enough to pick among a few cases. */
static unsigned next_rand(unsigned *r) {
  unsigned x = *r ? *r : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *r = x;
}

/* Fisher-Yates: a uniformly random poll order. */
static void shuffle(sel_state *s, unsigned rand) {
  for (int i = 0; i < s->n; i++) {
    int j = (int)(next_rand(&rand) % (unsigned)(i + 1));
    s->pollorder[i] = s->pollorder[j];
    s->pollorder[j] = i;
  }
}

static chan_status try_case(sel_case *k, waiter **woken) {
  if (k->dir == SEL_SEND) return chan_trysend_locked(k->c, k->elem, woken);
  return chan_tryrecv_locked(k->c, k->elem, woken);
}

static void enqueue_all(sel_state *s, sched_task *task) {
  atomic_init(&s->done, 0);
  s->task = task;
  for (int i = 0; i < s->n; i++) {
    sel_case *k = &s->cases[i];
    waitq_enqueue(k->dir == SEL_SEND ? &k->c->sendq : &k->c->recvq, &k->w, task,
                  k->elem, &s->done);
  }
  sched_blocked(task);   /* once: only the winning case unblocks it */
}

sel_status sel_select(sel_state *s, sched_task *task, unsigned rand, int *chosen,
                      bool *ok) {
  for (int i = 0; i < s->n; i++) s->lockorder[i] = s->cases[i].c;
  sort_lockorder(s);
  shuffle(s, rand);
  lock_all(s);
  for (int i = 0; i < s->n; i++) {
    int ci = s->pollorder[i];
    waiter *woken;
    chan_status st = try_case(&s->cases[ci], &woken);
    if (st == CHAN_WOULDBLOCK) continue;
    /* A send on a closed channel is "ready": the caller raises. */
    sel_unlock(s);
    if (woken) sched_wake(woken->task);
    *chosen = ci;
    *ok = (st == CHAN_OK);
    return SEL_READY;
  }
  if (!task) {
    sel_unlock(s);
    return SEL_NONE;
  }
  enqueue_all(s, task);   /* with no case: blocked for ever */
  return SEL_PARKED;
}

void sel_finish(sel_state *s, int *chosen, bool *ok) {
  lock_all(s);
  *chosen = -1;
  *ok = false;
  for (int i = 0; i < s->n; i++) {
    sel_case *k = &s->cases[i];
    if (k->w.fired) {
      *chosen = i;
      *ok = k->w.success;
      continue;
    }
    waitq_cancel(&k->w);
  }
  sel_unlock(s);
}

bool sel_cancel(sel_state *s, int *chosen, bool *ok) {
  if (s->n == 0) {
    sched_unblocked(s->task);
    return true;
  }
  sel_finish(s, chosen, ok);
  if (*chosen >= 0) return false;
  sched_unblocked(s->task);
  return true;
}

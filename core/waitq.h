/* waitq.h: a FIFO of waiters parked on one core object (channel side,
** waitgroup, mutex). Always used under that object's lock. */
#ifndef LUGO_WAITQ_H
#define LUGO_WAITQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "scheduler.h"

/* One parked operation. Lives in the waiting task's own memory (goroutine
** record or the outside thread's stack) until that task is woken. */
typedef struct waiter {
  struct waiter *next, *prev;  /* links in a waitq; guarded by its lock */
  struct waitq *q;             /* the waitq holding it, or NULL */
  sched_task *task;            /* who to wake */
  void *elem;                  /* send: the value offered; recv: where it goes */
  bool success;                /* set by the waker: a value moved (not closed) */
  bool fired;                  /* select: this case won (set under the lock) */
  atomic_int *sel_done;        /* select: shared flag, first waker CASes 0->1 */
} waiter;

typedef struct waitq {
  waiter *first, *last;
} waitq;

static inline void waitq_push(waitq *q, waiter *w) {
  w->q = q;
  w->next = NULL;
  w->prev = q->last;
  if (q->last) q->last->next = w; else q->first = w;
  q->last = w;
}

static inline void waitq_remove(waitq *q, waiter *w) {
  if (w->prev) w->prev->next = w->next; else q->first = w->next;
  if (w->next) w->next->prev = w->prev; else q->last = w->prev;
  w->next = w->prev = NULL;
  w->q = NULL;
}

/* Queues w for a wait of task: a plain one (sel_done NULL), or one case
** of a select. The caller counts task blocked (sched_blocked) once. */
static inline void waitq_enqueue(waitq *q, waiter *w, sched_task *task, void *elem,
                                 atomic_int *sel_done) {
  w->task = task;
  w->elem = elem;
  w->success = false;
  w->fired = false;
  w->sel_done = sel_done;
  waitq_push(q, w);
}

/* Queues w for a plain (non-select) wait of task, blocked from now on. */
static inline void waitq_park(waitq *q, waiter *w, sched_task *task, void *elem) {
  waitq_enqueue(q, w, task, elem, NULL);
  sched_blocked(task);
}

/* Takes w out of its queue if it is still in one (a wait given up); under
** that queue's lock. Returns whether it was still queued. */
static inline bool waitq_cancel(waiter *w) {
  if (!w->q) return false;
  waitq_remove(w->q, w);
  return true;
}

/* Gives up the parked wait of w on an object guarded by mu (a deadlock
** cancels it): returns true if it was still queued, its task then counting
** as unblocked again; false if a waker took it meanwhile. */
static inline bool waitq_give_up(pthread_mutex_t *mu, waiter *w) {
  pthread_mutex_lock(mu);
  bool queued = waitq_cancel(w);
  if (queued) sched_unblocked(w->task);
  pthread_mutex_unlock(mu);
  return queued;
}

/* Removes and returns the first waiter that can still be woken, counting
** its task as unblocked: a select waiter whose select another case
** already won is dropped on the way. */
static inline waiter *waitq_pop(waitq *q) {
  waiter *w;
  while ((w = q->first) != NULL) {
    waitq_remove(q, w);
    if (w->sel_done) {
      int expected = 0;
      if (!atomic_compare_exchange_strong(w->sel_done, &expected, 1))
        continue;
      w->fired = true;
    }
    sched_unblocked(w->task);
    return w;
  }
  return NULL;
}

/* "Collect, unlock, wake" (docs/architecture.md, rule 2: never wake under
** the object's lock):
** under the lock, waitq_collect moves every waiter of q that can still be
** woken onto *list (linked through next), with success set as given;
** after the lock is released, waitq_wake_list wakes them. */
static inline void waitq_collect(waitq *q, waiter **list, bool success) {
  waiter *w;
  while ((w = waitq_pop(q)) != NULL) {
    w->success = success;
    w->next = *list;
    *list = w;
  }
}

static inline void waitq_wake_list(waiter *list) {
  while (list) {
    waiter *w = list;
    list = w->next;           /* read before the wake: w dies with its task */
    sched_wake(w->task);
  }
}

#endif

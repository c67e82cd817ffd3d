/* cond.h: Go's sync.Cond for goroutines and outside threads: a queue of
** waiters that signal wakes one at a time (FIFO) and broadcast all at once.
** Its lock (a mutex or rwmutex) is held by the bindings, not here. */
#ifndef LUGO_COND_H
#define LUGO_COND_H

#include <stdbool.h>
#include "object.h"
#include "waitq.h"

typedef struct cond cond;

/* New cond over lock (retained until the cond dies), with one reference;
** NULL when out of memory. */
cond *cond_new(lugo_obj *lock);

/* The lock it was made with. */
lugo_obj *cond_lock(cond *c);

/* Queues w for task and returns with the internal lock HELD: the caller
** releases its mutex, then parks with cond_unlock_internal (so no signal
** can come between the release and the park). */
void cond_wait_begin(cond *c, sched_task *task, waiter *w);

/* Takes w back out before it parked (the caller's mutex was not locked);
** releases the internal lock. */
void cond_wait_abort(cond *c, waiter *w);

void cond_signal(cond *c);
void cond_broadcast(cond *c);

void cond_unlock_internal(void *c);

/* Gives up a parked wait (a deadlock); false: it was signalled meanwhile. */
bool cond_cancel(void *c, waiter *w);

#endif

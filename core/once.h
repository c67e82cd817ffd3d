/* once.h: Go's sync.Once for goroutines and outside threads: the first
** caller runs the function; callers arriving while it runs park until it
** has returned; later callers pass at once. */
#ifndef LUGO_ONCE_H
#define LUGO_ONCE_H

#include <stdbool.h>
#include "object.h"
#include "waitq.h"

typedef struct once once;

typedef enum once_status {
  ONCE_RUN,         /* the caller is first: run the function, then once_done */
  ONCE_DONE,        /* it has run: nothing to do */
  ONCE_PARKED       /* it is running: w queued for task, internal lock HELD
                    ** (park with once_unlock_internal); woken once it ran */
} once_status;

/* New once with one reference, or NULL when out of memory. */
once *once_new(void);

once_status once_begin(once *o, sched_task *task, waiter *w);

/* The first caller's function returned (or raised): wakes every waiter. */
void once_done(once *o);

void once_unlock_internal(void *o);

/* Gives up a parked wait (a deadlock); false: it was woken meanwhile. */
bool once_cancel(void *o, waiter *w);

#endif

/* waitgroup.h: Go's sync.WaitGroup: a counter and the tasks waiting for it
** to reach zero. */
#ifndef LUGO_WAITGROUP_H
#define LUGO_WAITGROUP_H

#include <stdbool.h>
#include "object.h"
#include "waitq.h"

typedef struct waitgroup waitgroup;

/* New waitgroup at zero with one reference, or NULL when out of memory. */
waitgroup *waitgroup_new(void);

/* Adds delta. Returns false, changing nothing, if the counter would go
** below zero. Reaching zero wakes every waiter. */
bool waitgroup_add(waitgroup *wg, long delta);

/* Returns true at once if the counter is zero. Otherwise queues w for task
** and returns false with the lock HELD: park with waitgroup_unlock. */
bool waitgroup_wait(waitgroup *wg, sched_task *task, waiter *w);

void waitgroup_unlock(void *wg);

/* Gives up a parked wait (see chan_cancel). */
bool waitgroup_cancel(void *wg, waiter *w);

long waitgroup_count(waitgroup *wg);

#endif

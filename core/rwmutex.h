/* rwmutex.h: Go's sync.RWMutex for goroutines and outside threads: any
** number of readers or one writer; a writer waiting stops new readers
** (writer-preferring), and waiting parks the task. */
#ifndef LUGO_RWMUTEX_H
#define LUGO_RWMUTEX_H

#include <stdbool.h>
#include "object.h"
#include "waitq.h"

typedef struct rwmutex rwmutex;

/* New unlocked rwmutex with one reference, or NULL when out of memory. */
rwmutex *rwmutex_new(void);

/* Take the write lock (rwmutex_lock) or a read lock (rwmutex_rlock) and
** return true, or queue w for task and return false with the internal
** lock HELD: park with rwmutex_unlock_internal. A woken waiter holds what
** it asked for. */
bool rwmutex_lock(rwmutex *m, sched_task *task, waiter *w);
bool rwmutex_rlock(rwmutex *m, sched_task *task, waiter *w);

/* Take the lock only if that needs no wait. */
bool rwmutex_trylock(rwmutex *m);
bool rwmutex_tryrlock(rwmutex *m);

/* Release the write lock / one read lock; false if it was not held. */
bool rwmutex_unlock(rwmutex *m);
bool rwmutex_runlock(rwmutex *m);

/* Releases the internal lock that rwmutex_lock or rwmutex_rlock kept. */
void rwmutex_unlock_internal(void *m);

/* Gives up a parked wait (see chan_cancel); false: the lock was handed
** over meanwhile and is the caller's. */
bool rwmutex_cancel(void *m, waiter *w);

#endif

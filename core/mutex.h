/* mutex.h: Go's sync.Mutex for goroutines and outside threads: waiting
** parks the task, and unlock hands the lock to the longest waiter (FIFO). */
#ifndef LUGO_MUTEX_H
#define LUGO_MUTEX_H

#include <stdbool.h>
#include "object.h"
#include "waitq.h"

typedef struct lugo_mutex lugo_mutex;

/* New unlocked mutex with one reference, or NULL when out of memory. */
lugo_mutex *mutex_new(void);

/* Takes the lock and returns true, or queues w for task and returns false
** with the internal lock HELD: park with mutex_unlock_internal. The waiter
** owns the mutex when woken. */
bool mutex_lock(lugo_mutex *m, sched_task *task, waiter *w);

/* Takes the lock if free. */
bool mutex_trylock(lugo_mutex *m);

/* Releases the lock, handing it to the first waiter if any. Returns false
** if the mutex was not locked. */
bool mutex_unlock(lugo_mutex *m);

/* Releases the internal lock that mutex_lock kept. */
void mutex_unlock_internal(void *m);

/* Gives up a parked lock (see chan_cancel); false: the lock was handed
** over meanwhile and is the caller's. */
bool mutex_cancel(void *m, waiter *w);

#endif

/* mutex.c: the lugo mutex. state is UNLOCKED, LOCKED or CONTENDED (locked,
** waiters maybe queued); waiters is guarded by mu and empty unless locked;
** unlock with waiters keeps it locked and passes it on (FIFO, so no waiter
** starves). Uncontended lock and unlock are one compare-and-swap each.
**
** The protocol: a locker that finds it held takes mu, marks it CONTENDED
** (or takes it if it was freed meanwhile) and queues itself under mu. An
** unlocker whose LOCKED -> UNLOCKED swap fails therefore sees CONTENDED and
** takes mu, where every queued waiter is visible: it hands the lock to the
** first (LOCKED again if none is left behind it), or frees it if all gave
** up (mutex_cancel). */
#include "mutex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { UNLOCKED, LOCKED, CONTENDED };

struct lugo_mutex {
  lugo_obj obj;
  atomic_int state;
  pthread_mutex_t mu;       /* guards waiters, and state's moves out of CONTENDED */
  waitq waiters;
};

static void mutex_destroy(lugo_obj *o) {
  lugo_mutex *m = (lugo_mutex *)o;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

lugo_mutex *mutex_new(void) {
  lugo_mutex *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  obj_init(&m->obj, OBJ_MUTEX, mutex_destroy);
  pthread_mutex_init(&m->mu, NULL);
  return m;
}

static bool swap_state(lugo_mutex *m, int from, int to) {
  return atomic_compare_exchange_strong(&m->state, &from, to);
}

bool mutex_lock(lugo_mutex *m, sched_task *task, waiter *w) {
  if (swap_state(m, UNLOCKED, LOCKED)) return true;
  pthread_mutex_lock(&m->mu);
  for (;;) {
    int state = atomic_load(&m->state);
    if (state == UNLOCKED && swap_state(m, UNLOCKED, LOCKED)) {
      pthread_mutex_unlock(&m->mu);
      return true;
    }
    if (state == CONTENDED || (state == LOCKED && swap_state(m, LOCKED, CONTENDED))) break;
  }
  waitq_park(&m->waiters, w, task, NULL);
  return false;
}

bool mutex_trylock(lugo_mutex *m) {
  return swap_state(m, UNLOCKED, LOCKED);
}

bool mutex_unlock(lugo_mutex *m) {
  if (swap_state(m, LOCKED, UNLOCKED)) return true;
  if (atomic_load(&m->state) == UNLOCKED) return false;
  /* CONTENDED: only lockers under mu move it, and only we move it back. */
  pthread_mutex_lock(&m->mu);
  waiter *next = waitq_pop(&m->waiters);
  if (next) {
    next->success = true;   /* stays locked: it is next's now */
    if (!m->waiters.first) atomic_store(&m->state, LOCKED);
  } else {
    atomic_store(&m->state, UNLOCKED);   /* every waiter gave up */
  }
  pthread_mutex_unlock(&m->mu);
  if (next) sched_wake(next->task);
  return true;
}

bool mutex_cancel(void *m, waiter *w) {
  return waitq_give_up(&((lugo_mutex *)m)->mu, w);
}

void mutex_unlock_internal(void *m) {
  pthread_mutex_unlock(&((lugo_mutex *)m)->mu);
}

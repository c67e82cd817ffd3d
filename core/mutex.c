/* mutex.c: the lugo mutex. Invariant (under mu): waiters is empty unless
** locked; unlock with waiters keeps locked set and passes it on (FIFO, so
** no waiter starves). */
#include "mutex.h"

#include <pthread.h>
#include <stdlib.h>

struct lugo_mutex {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards locked and waiters */
  bool locked;
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

bool mutex_lock(lugo_mutex *m, sched_task *task, waiter *w) {
  pthread_mutex_lock(&m->mu);
  if (!m->locked) {
    m->locked = true;
    pthread_mutex_unlock(&m->mu);
    return true;
  }
  waitq_park(&m->waiters, w, task, NULL);
  return false;
}

bool mutex_trylock(lugo_mutex *m) {
  pthread_mutex_lock(&m->mu);
  bool took = !m->locked;
  m->locked = true;
  pthread_mutex_unlock(&m->mu);
  return took;
}

bool mutex_unlock(lugo_mutex *m) {
  pthread_mutex_lock(&m->mu);
  if (!m->locked) {
    pthread_mutex_unlock(&m->mu);
    return false;
  }
  waiter *next = waitq_pop(&m->waiters);
  if (next) next->success = true;   /* stays locked: it is next's now */
  else m->locked = false;
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

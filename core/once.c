/* once.c: the lugo once. Invariant (under mu): waiters is empty unless
** state is RUNNING; state only moves NEW -> RUNNING -> DONE. */
#include "once.h"

#include <pthread.h>
#include <stdlib.h>

enum { NEW, RUNNING, DONE };

struct once {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards state and waiters */
  int state;
  waitq waiters;
};

static void once_destroy(lugo_obj *o) {
  once *x = (once *)o;
  pthread_mutex_destroy(&x->mu);
  free(x);
}

once *once_new(void) {
  once *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  obj_init(&o->obj, OBJ_ONCE, once_destroy);
  pthread_mutex_init(&o->mu, NULL);
  return o;
}

once_status once_begin(once *o, sched_task *task, waiter *w) {
  pthread_mutex_lock(&o->mu);
  if (o->state == DONE) {
    pthread_mutex_unlock(&o->mu);
    return ONCE_DONE;
  }
  if (o->state == NEW) {
    o->state = RUNNING;
    pthread_mutex_unlock(&o->mu);
    return ONCE_RUN;
  }
  waitq_park(&o->waiters, w, task, NULL);
  return ONCE_PARKED;
}

void once_done(once *o) {
  waiter *woken = NULL;
  pthread_mutex_lock(&o->mu);
  o->state = DONE;
  waitq_collect(&o->waiters, &woken, true);
  pthread_mutex_unlock(&o->mu);
  waitq_wake_list(woken);
}

void once_unlock_internal(void *o) {
  pthread_mutex_unlock(&((once *)o)->mu);
}

bool once_cancel(void *o, waiter *w) {
  return waitq_give_up(&((once *)o)->mu, w);
}

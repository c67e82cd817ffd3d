/* cond.c: the lugo cond. Invariant (under mu): waiters holds the tasks
** parked in wait and not yet signalled, oldest first. */
#include "cond.h"

#include <pthread.h>
#include <stdlib.h>

struct cond {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards waiters */
  waitq waiters;
  lugo_obj *lock;           /* one reference */
};

static void cond_destroy(lugo_obj *o) {
  cond *c = (cond *)o;
  obj_release(c->lock);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

cond *cond_new(lugo_obj *lock) {
  cond *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  obj_init(&c->obj, OBJ_COND, cond_destroy);
  pthread_mutex_init(&c->mu, NULL);
  obj_retain(lock);
  c->lock = lock;
  return c;
}

lugo_obj *cond_lock(cond *c) {
  return c->lock;
}

void cond_wait_begin(cond *c, sched_task *task, waiter *w) {
  pthread_mutex_lock(&c->mu);
  waitq_park(&c->waiters, w, task, NULL);
}

void cond_wait_abort(cond *c, waiter *w) {
  waitq_cancel(w);
  sched_unblocked(w->task);
  pthread_mutex_unlock(&c->mu);
}

/* Wakes one waiter (all: every one), with mu released
** (docs/architecture.md, rule 2). */
static void wake(cond *c, bool all) {
  waiter *woken = NULL;
  pthread_mutex_lock(&c->mu);
  if (all) {
    waitq_collect(&c->waiters, &woken, true);
  } else if ((woken = waitq_pop(&c->waiters)) != NULL) {
    woken->success = true;
  }
  pthread_mutex_unlock(&c->mu);
  waitq_wake_list(woken);
}

void cond_signal(cond *c) {
  wake(c, false);
}

void cond_broadcast(cond *c) {
  wake(c, true);
}

void cond_unlock_internal(void *c) {
  pthread_mutex_unlock(&((cond *)c)->mu);
}

bool cond_cancel(void *c, waiter *w) {
  return waitq_give_up(&((cond *)c)->mu, w);
}

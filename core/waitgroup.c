/* waitgroup.c: the waitgroup counter and its waiters.
** Invariant (under mu): waiters is empty whenever count is zero. */
#include "waitgroup.h"

#include <pthread.h>
#include <stdlib.h>

struct waitgroup {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards count and waiters */
  long count;
  waitq waiters;
};

static void waitgroup_destroy(lugo_obj *o) {
  waitgroup *wg = (waitgroup *)o;
  pthread_mutex_destroy(&wg->mu);
  free(wg);
}

waitgroup *waitgroup_new(void) {
  waitgroup *wg = calloc(1, sizeof *wg);
  if (!wg) return NULL;
  obj_init(&wg->obj, OBJ_WAITGROUP, waitgroup_destroy);
  pthread_mutex_init(&wg->mu, NULL);
  return wg;
}

bool waitgroup_add(waitgroup *wg, long delta) {
  pthread_mutex_lock(&wg->mu);
  long sum;
  if (__builtin_add_overflow(wg->count, delta, &sum) || sum < 0) {
    pthread_mutex_unlock(&wg->mu);
    return false;
  }
  wg->count = sum;
  waiter *woken = NULL;
  if (wg->count == 0) waitq_collect(&wg->waiters, &woken, true);
  pthread_mutex_unlock(&wg->mu);
  waitq_wake_list(woken);
  return true;
}

bool waitgroup_wait(waitgroup *wg, sched_task *task, waiter *w) {
  pthread_mutex_lock(&wg->mu);
  if (wg->count == 0) {
    pthread_mutex_unlock(&wg->mu);
    return true;
  }
  waitq_park(&wg->waiters, w, task, NULL);
  return false;
}

void waitgroup_unlock(void *wg) {
  pthread_mutex_unlock(&((waitgroup *)wg)->mu);
}

bool waitgroup_cancel(void *wg, waiter *w) {
  return waitq_give_up(&((waitgroup *)wg)->mu, w);
}

long waitgroup_count(waitgroup *wg) {
  pthread_mutex_lock(&wg->mu);
  long n = wg->count;
  pthread_mutex_unlock(&wg->mu);
  return n;
}

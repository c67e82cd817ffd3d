/* rwmutex.c: the lugo rwmutex. Invariants (under mu): writer and readers > 0
** never hold at once; readers_waiting is empty unless a writer holds the
** lock or waits; writers_waiting is empty unless the lock is held. Unlock
** lets every waiting reader in first (they came before the next writer),
** runlock of the last reader hands the lock to the first waiting writer,
** as Go's RWMutex does: neither side starves. */
#include "rwmutex.h"

#include <pthread.h>
#include <stdlib.h>

struct rwmutex {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards every field below */
  bool writer;              /* a writer holds it */
  long readers;             /* readers holding it */
  waitq writers_waiting;
  waitq readers_waiting;
};

static void rwmutex_destroy(lugo_obj *o) {
  rwmutex *m = (rwmutex *)o;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

rwmutex *rwmutex_new(void) {
  rwmutex *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  obj_init(&m->obj, OBJ_RWMUTEX, rwmutex_destroy);
  pthread_mutex_init(&m->mu, NULL);
  return m;
}

/* Under mu: may the write lock be taken, or a read lock, right now? */
static bool writer_may_enter(rwmutex *m) {
  return !m->writer && m->readers == 0;
}

static bool reader_may_enter(rwmutex *m) {
  return !m->writer && m->writers_waiting.first == NULL;
}

bool rwmutex_lock(rwmutex *m, sched_task *task, waiter *w) {
  pthread_mutex_lock(&m->mu);
  if (writer_may_enter(m)) {
    m->writer = true;
    pthread_mutex_unlock(&m->mu);
    return true;
  }
  waitq_park(&m->writers_waiting, w, task, NULL);
  return false;
}

bool rwmutex_rlock(rwmutex *m, sched_task *task, waiter *w) {
  pthread_mutex_lock(&m->mu);
  if (reader_may_enter(m)) {
    m->readers++;
    pthread_mutex_unlock(&m->mu);
    return true;
  }
  waitq_park(&m->readers_waiting, w, task, NULL);
  return false;
}

bool rwmutex_trylock(rwmutex *m) {
  pthread_mutex_lock(&m->mu);
  bool took = writer_may_enter(m);
  if (took) m->writer = true;
  pthread_mutex_unlock(&m->mu);
  return took;
}

bool rwmutex_tryrlock(rwmutex *m) {
  pthread_mutex_lock(&m->mu);
  bool took = reader_may_enter(m);
  if (took) m->readers++;
  pthread_mutex_unlock(&m->mu);
  return took;
}

/* Under mu, lock free of holders: hands it to the first waiting writer.
** Returns that waiter (to wake once mu is released), or NULL. */
static waiter *pass_to_writer(rwmutex *m) {
  waiter *w = waitq_pop(&m->writers_waiting);
  if (w) {
    w->success = true;
    m->writer = true;
  }
  return w;
}

bool rwmutex_unlock(rwmutex *m) {
  pthread_mutex_lock(&m->mu);
  if (!m->writer) {
    pthread_mutex_unlock(&m->mu);
    return false;
  }
  m->writer = false;
  waiter *woken = NULL;
  waitq_collect(&m->readers_waiting, &woken, true);
  for (waiter *w = woken; w; w = w->next) m->readers++;
  if (!woken) woken = pass_to_writer(m);
  pthread_mutex_unlock(&m->mu);
  waitq_wake_list(woken);
  return true;
}

bool rwmutex_runlock(rwmutex *m) {
  pthread_mutex_lock(&m->mu);
  if (m->readers == 0) {
    pthread_mutex_unlock(&m->mu);
    return false;
  }
  waiter *woken = --m->readers == 0 ? pass_to_writer(m) : NULL;
  pthread_mutex_unlock(&m->mu);
  waitq_wake_list(woken);
  return true;
}

void rwmutex_unlock_internal(void *m) {
  pthread_mutex_unlock(&((rwmutex *)m)->mu);
}

/* A wait given up (a deadlock error, a REPL interrupt). If it was the last
** waiting writer's and no writer holds the lock, the readers queued behind
** it may enter now: readers_waiting is empty unless a writer holds or
** waits (the invariant above). */
bool rwmutex_cancel(void *obj, waiter *w) {
  rwmutex *m = obj;
  pthread_mutex_lock(&m->mu);
  bool queued = waitq_cancel(w);
  if (queued) sched_unblocked(w->task);
  waiter *woken = NULL;
  if (queued && !m->writer && m->writers_waiting.first == NULL) {
    waitq_collect(&m->readers_waiting, &woken, true);
    for (waiter *r = woken; r; r = r->next) m->readers++;
  }
  pthread_mutex_unlock(&m->mu);
  waitq_wake_list(woken);
  return queued;
}

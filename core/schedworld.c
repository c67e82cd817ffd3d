/* schedworld.c: calls that reach every worker: a function run on each
** worker's own thread (sched_each_worker), and stopping the world. */
#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_impl.h"

/* ---- running functions on workers ---- */

void serve_request(sched_worker *w) {
  /* A plain load first: this runs at every task switch, and an exchange
  ** would write the line each time. */
  if (!atomic_load_explicit(&w->request, memory_order_relaxed)) return;
  worker_request *r = atomic_exchange(&w->request, NULL);
  if (!r) return;
  r->fn(w, w->vm, r->arg);
  pthread_mutex_lock(&r->mu);
  r->done = true;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Waits for r; a worker keeps serving requests to itself meanwhile, since
** the worker it waits for may be waiting for it. */
static void await_request(worker_request *r, sched_worker *self) {
  pthread_mutex_lock(&r->mu);
  while (!r->done) {
    if (!self) {
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    pthread_mutex_unlock(&r->mu);
    serve_request(self);
    pthread_mutex_lock(&r->mu);
    if (r->done) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
  }
  pthread_mutex_unlock(&r->mu);
}

void sched_each_worker(void (*fn)(sched_worker *w, void *vm, void *arg), void *arg) {
  if (atomic_load(&S.nworkers) == 0) return;
  sched_worker *self = tls_worker;
  if (!self) {
    pthread_mutex_lock(&S.request_mu);
  } else {
    while (pthread_mutex_trylock(&S.request_mu) != 0) {
      serve_request(self);   /* the holder may be waiting for us */
      sched_yield();
    }
  }
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++) {
    sched_worker *w = &S.workers[i];
    if (w == self) {
      fn(w, w->vm, arg);
      continue;
    }
    worker_request r = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    atomic_store(&w->request, &r);
    atomic_store(&w->parked, false);
    uv_async_send(&w->wakeup);
    await_request(&r, self);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
  }
  pthread_mutex_unlock(&S.request_mu);
}

/* ---- stopping the world ---- */

/* What the workers stopped by sched_stop_the_world share with its caller. */
typedef struct world_stop {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int arrived;                  /* guarded by mu: workers that stopped */
  bool released;                /* guarded by mu */
} world_stop;

/* On a worker's thread, between tasks: say so, then wait for the release. */
static void wait_for_release(sched_worker *w, void *vm, void *arg) {
  (void)w; (void)vm;
  world_stop *stop = arg;
  pthread_mutex_lock(&stop->mu);
  stop->arrived++;
  pthread_cond_broadcast(&stop->cv);
  while (!stop->released) pthread_cond_wait(&stop->cv, &stop->mu);
  pthread_mutex_unlock(&stop->mu);
}

void sched_stop_the_world(void (*fn)(void *arg), void *arg) {
  sched_worker *self = tls_worker;
  if (!self) {
    pthread_mutex_lock(&S.request_mu);
  } else {
    while (pthread_mutex_trylock(&S.request_mu) != 0) {
      serve_request(self);   /* the holder may be stopping us */
      sched_yield();
    }
  }
  /* No worker starts meanwhile (none can be waiting for start_mu: while
  ** only worker 0 runs, it is the caller or an outside thread is). */
  pthread_mutex_lock(&S.start_mu);
  world_stop stop = {.arrived = 0, .released = false};
  pthread_mutex_init(&stop.mu, NULL);
  pthread_cond_init(&stop.cv, NULL);
  int n = atomic_load(&S.nworkers), others = 0;
  /* Each request outlives this loop: the worker reads it until it is done. */
  worker_request *requests = calloc((size_t)(n > 0 ? n : 1), sizeof *requests);
  if (!requests) abort();
  for (int i = 0; i < n; i++) {
    sched_worker *w = &S.workers[i];
    if (w == self) continue;
    requests[i] = (worker_request){.fn = wait_for_release, .arg = &stop};
    pthread_mutex_init(&requests[i].mu, NULL);
    pthread_cond_init(&requests[i].cv, NULL);
    atomic_store(&w->request, &requests[i]);
    atomic_store(&w->parked, false);
    uv_async_send(&w->wakeup);
    others++;
  }
  pthread_mutex_lock(&stop.mu);
  while (stop.arrived < others) pthread_cond_wait(&stop.cv, &stop.mu);
  pthread_mutex_unlock(&stop.mu);
  /* Outside threads may still queue new tasks, on the global queue. */
  pthread_mutex_lock(&S.global_mu);
  fn(arg);
  pthread_mutex_unlock(&S.global_mu);
  pthread_mutex_lock(&stop.mu);
  stop.released = true;
  pthread_cond_broadcast(&stop.cv);
  pthread_mutex_unlock(&stop.mu);
  for (int i = 0; i < n; i++) {
    if (&S.workers[i] == self) continue;
    await_request(&requests[i], self);   /* done: the worker let go of it */
    pthread_mutex_destroy(&requests[i].mu);
    pthread_cond_destroy(&requests[i].cv);
  }
  pthread_mutex_destroy(&stop.mu);
  pthread_cond_destroy(&stop.cv);
  free(requests);
  pthread_mutex_unlock(&S.start_mu);
  pthread_mutex_unlock(&S.request_mu);
}

void sched_each_new_task(void (*fn)(sched_task *t, void *arg), void *arg) {
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++) {
    runq *q = &S.workers[i].newq;
    uint32_t head = atomic_load(&q->head), tail = atomic_load(&q->tail);
    for (uint32_t k = head; k != tail; k++)
      fn(atomic_load(&q->slots[k % RUNQ_SIZE]), arg);
  }
  for (sched_task *t = S.global.head; t; t = t->next) fn(t, arg);
}

void sched_each_vm(void (*fn)(sched_worker *w, void *vm, void *arg), void *arg) {
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++)
    if (S.workers[i].vm) fn(&S.workers[i], S.workers[i].vm, arg);
}


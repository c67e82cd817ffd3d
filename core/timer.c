/* timer.c: the timer thread and its min-heap of pending entries.
** Invariants (under mu): heap[i]->index == i for pending entries, and every
** parent's deadline is <= its children's; an entry not pending has index -1. */
#include "timer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "scheduler.h"

static struct {
  pthread_mutex_t mu;       /* guards everything below */
  pthread_cond_t cv;        /* signalled when the earliest deadline moves up */
  timer_entry **heap;
  int count, cap;
  bool started;
  bool stopping;            /* timer_shutdown: the thread returns */
  pthread_t thread;
} T = {
  .mu = PTHREAD_MUTEX_INITIALIZER,
};

uint64_t timer_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void timer_entry_init(timer_entry *e, timer_fn fn, void *arg) {
  e->when = 0;
  e->index = -1;
  e->fn = fn;
  e->arg = arg;
}

/* ---- the heap ---- */

static void place(int i, timer_entry *e) {
  T.heap[i] = e;
  e->index = i;
}

static void sift_up(int i) {
  timer_entry *e = T.heap[i];
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (T.heap[parent]->when <= e->when) break;
    place(i, T.heap[parent]);
    i = parent;
  }
  place(i, e);
}

static void sift_down(int i) {
  timer_entry *e = T.heap[i];
  for (;;) {
    int child = 2 * i + 1;
    if (child >= T.count) break;
    if (child + 1 < T.count && T.heap[child + 1]->when < T.heap[child]->when)
      child++;
    if (e->when <= T.heap[child]->when) break;
    place(i, T.heap[child]);
    i = child;
  }
  place(i, e);
}

static void heap_remove(timer_entry *e) {
  int i = e->index;
  timer_entry *last = T.heap[--T.count];
  e->index = -1;
  if (last == e) return;
  place(i, last);
  sift_down(i);
  sift_up(last->index);
}

static void heap_push(timer_entry *e) {
  if (T.count == T.cap) {
    int cap = T.cap ? T.cap * 2 : 256;
    timer_entry **heap = realloc(T.heap, (size_t)cap * sizeof *heap);
    if (!heap) {
      fprintf(stderr, "lugo: out of memory for timers\n");
      abort();
    }
    T.heap = heap;
    T.cap = cap;
  }
  place(T.count++, e);
  sift_up(e->index);
}

/* ---- the thread ---- */

static void wait_until(uint64_t when) {
  struct timespec ts = {.tv_sec = (time_t)(when / 1000000000u),
                        .tv_nsec = (long)(when % 1000000000u)};
  pthread_cond_timedwait(&T.cv, &T.mu, &ts);
}

#define FIRE_BATCH 256

static void *timer_main(void *arg) {
  (void)arg;
  timer_entry *batch[FIRE_BATCH];
  pthread_mutex_lock(&T.mu);
  while (!T.stopping) {
    if (T.count == 0) {
      pthread_cond_wait(&T.cv, &T.mu);
      continue;
    }
    uint64_t now = timer_now();
    if (T.heap[0]->when > now) {
      wait_until(T.heap[0]->when);
      continue;
    }
    int n = 0;
    while (n < FIRE_BATCH && T.count > 0 && T.heap[0]->when <= now) {
      timer_entry *e = T.heap[0];
      heap_remove(e);
      e->fired_when = e->when;
      batch[n++] = e;
    }
    pthread_mutex_unlock(&T.mu);
    /* Callbacks first, then the count: what they wake is awake before the
    ** timer stops counting, so no false deadlock in between. */
    for (int i = 0; i < n; i++) batch[i]->fn(batch[i]);
    sched_awake_add(-n);
    pthread_mutex_lock(&T.mu);
  }
  pthread_mutex_unlock(&T.mu);
  return NULL;
}

static void start_thread(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&T.cv, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&T.thread, NULL, timer_main, NULL) != 0) {
    fprintf(stderr, "lugo: cannot start the timer thread\n");
    abort();
  }
  T.started = true;
}

void timer_shutdown(void) {
  pthread_mutex_lock(&T.mu);
  bool started = T.started;
  T.stopping = true;
  pthread_cond_signal(&T.cv);
  pthread_mutex_unlock(&T.mu);
  if (started) pthread_join(T.thread, NULL);
  pthread_mutex_lock(&T.mu);
  for (int i = 0; i < T.count; i++) T.heap[i]->index = -1;   /* forgotten */
  free(T.heap);
  T.heap = NULL;
  T.count = T.cap = 0;
  if (started) pthread_cond_destroy(&T.cv);
  T.started = T.stopping = false;
  pthread_mutex_unlock(&T.mu);
}

/* ---- public ---- */

bool timer_arm(timer_entry *e, uint64_t when) {
  pthread_mutex_lock(&T.mu);
  if (!T.started) start_thread();
  bool pending = e->index >= 0;
  if (pending) heap_remove(e);
  else sched_awake_add(1);     /* a pending timer can still wake someone */
  e->when = when;
  heap_push(e);
  if (e->index == 0) pthread_cond_signal(&T.cv);
  pthread_mutex_unlock(&T.mu);
  return pending;
}

bool timer_disarm(timer_entry *e) {
  pthread_mutex_lock(&T.mu);
  bool pending = e->index >= 0;
  if (pending) heap_remove(e);
  pthread_mutex_unlock(&T.mu);
  if (pending) sched_awake_add(-1);
  return pending;
}

/* offload.c: the helper threads of offload.h. Invariants (under mu): a job
** is queued, running, or done; a queued job is in the FIFO (queued counts
** them); helpers sleep on cv while the FIFO is empty. A job never waits
** for a helper while one could start: blocking calls may wait for each
** other (a shell reading a FIFO that another one writes). At most HELPERS
** start, on demand; offload_shutdown joins them. */
#include "offload.h"

#include <pthread.h>
#include <stdlib.h>

/* Name lookups and file reads wait, they do not compute: threads start
** only as jobs wait for one, as Go starts threads for blocking calls. */
#define HELPERS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static offload_job *head, *tail;
static pthread_t helpers[HELPERS];
static int nhelpers, idle, queued;
static bool stopping;

static void *helper_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (!head && !stopping) {
      idle++;
      pthread_cond_wait(&cv, &mu);
      idle--;
    }
    if (!head) break;   /* stopping, nothing left */
    offload_job *job = head;
    head = job->next;
    if (!head) tail = NULL;
    queued--;
    job->next = NULL;
    pthread_mutex_unlock(&mu);
    job->fn(job->arg);
    pthread_mutex_lock(&mu);
    job->done = true;
    sched_task *task = job->task;
    pthread_mutex_unlock(&mu);
    sched_wake(task);   /* no lock held (rule 2) */
    pthread_mutex_lock(&mu);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

bool offload_submit(offload_job *job) {
  pthread_mutex_lock(&mu);
  if (queued + 1 > idle && nhelpers < HELPERS &&
      pthread_create(&helpers[nhelpers], NULL, helper_main, NULL) == 0)
    nhelpers++;
  if (nhelpers == 0) {
    pthread_mutex_unlock(&mu);
    return false;
  }
  job->done = false;
  job->next = NULL;
  if (tail) tail->next = job; else head = job;
  tail = job;
  queued++;
  pthread_cond_signal(&cv);
  return true;
}

void offload_unlock(void *job) {
  (void)job;
  pthread_mutex_unlock(&mu);
}

bool offload_cancel(void *obj, waiter *w) {
  (void)w;
  offload_job *job = obj;
  pthread_mutex_lock(&mu);
  bool found = false;
  for (offload_job **p = &head; *p; p = &(*p)->next) {
    if (*p != job) continue;
    *p = job->next;
    queued--;
    if (tail == job) {
      tail = NULL;
      for (offload_job *j = head; j; j = j->next) tail = j;
    }
    found = true;
    break;
  }
  pthread_mutex_unlock(&mu);
  return found;
}

bool offload_done(offload_job *job) {
  pthread_mutex_lock(&mu);
  bool done = job->done;
  pthread_mutex_unlock(&mu);
  return done;
}

void offload_shutdown(void) {
  pthread_mutex_lock(&mu);
  stopping = true;
  pthread_cond_broadcast(&cv);
  int n = nhelpers;
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < n; i++) pthread_join(helpers[i], NULL);
  pthread_mutex_lock(&mu);
  nhelpers = 0;
  queued = 0;
  stopping = false;
  pthread_mutex_unlock(&mu);
}

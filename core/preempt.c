/* preempt.c: the monitor thread (Go's sysmon, reduced to preemption) and
** the preemption signal: a task that holds its worker a whole time slice
** while others wait is asked to give way. */
#include "scheduler.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_impl.h"

/* ---- preemption ---- */

static void on_preempt_signal(int sig) {
  (void)sig;
  sched_worker *w = tls_worker;
  sched_task *t = w ? w->current : NULL;
  if (t && S.hooks.preempt) S.hooks.preempt(w, t);
}

void sched_poke(sched_task *t) {
  sched_worker *w = t->owner;
  if (w) pthread_kill(w->thread, PREEMPT_SIGNAL);
}

/* Does anything wait to run on w besides its current task? New tasks
** queued on any worker count: w may be the one with room for them. */
static bool others_wait(sched_worker *w) {
  if (atomic_load_explicit(&w->others_ready, memory_order_relaxed) ||
      atomic_load(&w->request) != NULL || atomic_load(&w->inbox_ready) ||
      atomic_load(&S.global_count) > 0)
    return true;
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++)
    if (runq_size(&S.workers[i].newq) > 0) return true;
  return false;
}

/* Go's sysmon, reduced to preemption: every time slice, a worker that is
** still on the same task as last time while others wait gets a signal. A
** busy loop with nothing waiting is never disturbed. */
static void *monitor_main(void *arg) {
  (void)arg;
  unsigned long *seen = calloc(MAX_WORKERS, sizeof *seen);
  if (!seen) return NULL;
  struct timespec slice = {0, TIME_SLICE_NS};
  for (;;) {
    nanosleep(&slice, NULL);
    int n = atomic_load(&S.nworkers);
    for (int i = 0; i < n; i++) {
      sched_worker *w = &S.workers[i];
      unsigned long seq = atomic_load_explicit(&w->run_seq, memory_order_relaxed);
      bool running = seq & 1;   /* odd between a task's start and end */
      if (running && seq == seen[i] && others_wait(w))
        pthread_kill(w->thread, PREEMPT_SIGNAL);
      seen[i] = seq;
    }
  }
  return NULL;
}

void start_monitor(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_preempt_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(PREEMPT_SIGNAL, &sa, NULL);
  pthread_t thread;
  if (pthread_create(&thread, NULL, monitor_main, NULL) == 0)
    pthread_detach(thread);
}

/* Makes worker i, ready for others to see; under start_mu. */

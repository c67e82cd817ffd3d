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
#include <unistd.h>

#include "sched_impl.h"

/* ---- preemption ---- */

/* The signal (sched_set_preempt_signal; -1: none) and the handler the host
** had for it before, which gets every such signal that is not ours. */
static int preempt_signal = SIGURG;
static struct sigaction host_action;

void sched_set_preempt_signal(int sig) {
  preempt_signal = sig == 0 ? SIGURG : sig;
}

static void call_host_handler(int sig, siginfo_t *info, void *context) {
  if (host_action.sa_flags & SA_SIGINFO) {
    if (host_action.sa_sigaction) host_action.sa_sigaction(sig, info, context);
  } else if (host_action.sa_handler != SIG_DFL && host_action.sa_handler != SIG_IGN) {
    host_action.sa_handler(sig);
  }
}

/* Ours: sent by sched_poke or the monitor (tgkill from this process) to a
** worker thread. Anything else (the kernel's SIGURG for out-of-band data, a
** kill from the host) goes to the host's handler. */
static void on_preempt_signal(int sig, siginfo_t *info, void *context) {
  sched_worker *w = tls_worker;
  bool ours = w && info && info->si_code == SI_TKILL && info->si_pid == getpid();
  if (!ours) {
    call_host_handler(sig, info, context);
    return;
  }
  sched_task *t = w->current;
  if (t && S.hooks.preempt) S.hooks.preempt(w, t);
}

void sched_poke(sched_task *t) {
  sched_worker *w = t->owner;
  if (w && preempt_signal > 0) pthread_kill(w->thread, preempt_signal);
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
static atomic_bool monitor_stopping;
static bool monitor_running;   /* under S.start_mu */
static pthread_t monitor;

static void *monitor_main(void *arg) {
  (void)arg;
  unsigned long *seen = calloc(MAX_WORKERS, sizeof *seen);
  if (!seen) return NULL;
  struct timespec slice = {0, TIME_SLICE_NS};
  while (!atomic_load(&monitor_stopping)) {
    nanosleep(&slice, NULL);
    sched_netpoll(true);   /* I/O that came while every worker was busy (sysmon) */
    int n = atomic_load(&S.nworkers);
    for (int i = 0; i < n; i++) {
      sched_worker *w = &S.workers[i];
      unsigned long seq = atomic_load_explicit(&w->run_seq, memory_order_relaxed);
      bool running = seq & 1;   /* odd between a task's start and end */
      if (running && seq == seen[i] && others_wait(w))
        pthread_kill(w->thread, preempt_signal);
      seen[i] = seq;
    }
  }
  free(seen);
  return NULL;
}

void start_monitor(void) {
  if (preempt_signal < 0) return;   /* no preemption: no monitor either */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_preempt_signal;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(preempt_signal, &sa, &host_action);
  atomic_store(&monitor_stopping, false);
  monitor_running = pthread_create(&monitor, NULL, monitor_main, NULL) == 0;
}

void stop_monitor(void) {
  if (!monitor_running) return;
  atomic_store(&monitor_stopping, true);
  pthread_join(monitor, NULL);
  monitor_running = false;
  sigaction(preempt_signal, &host_action, NULL);   /* the host's again */
}

void sched_poke_all(void) {
  if (preempt_signal <= 0) return;
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++)
    pthread_kill(S.workers[i].thread, preempt_signal);
}

/* Makes worker i, ready for others to see; under start_mu. */

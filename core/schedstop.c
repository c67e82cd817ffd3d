/* schedstop.c: the end of a run of the runtime (sched_shutdown): workers
** leave their loops and close their VMs on their own threads, every thread
** is joined, and the scheduler's state is as before the first spawn. Also
** tasks placed on one chosen worker: control tasks (the bindings reach each
** worker at close through them) and sched_spawn_on's new tasks. */
#include "scheduler.h"

#include <stdlib.h>
#include <uv.h>

#include "sched_impl.h"
#include "timer.h"

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void worker_stop(sched_worker *w) {
  if (S.hooks.worker_stop) S.hooks.worker_stop(w, w->vm);
  w->vm = NULL;
  uv_walk(&w->loop, close_handle, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);   /* runs the closes */
  uv_loop_close(&w->loop);
}

int sched_running_workers(void) {
  return atomic_load(&S.nworkers);
}

void sched_send_to_worker(sched_task *t, int i) {
  t->kind = TASK_CONTROL;
  t->owner = &S.workers[i];
  t->busy = false;
  t->unlock = NULL;
  sched_wake(t);
}

void sched_spawn_on(sched_task *t, int i) {
  sched_count_new(t);
  /* The inbox, not the newq ring: no other worker may steal t. The run
  ** hook starts it there (owner NULL), as any new task. */
  inbox_push(&S.workers[i], t);
}

int sched_current_index(void) {
  sched_worker *w = sched_current();
  return w ? w->index : -1;
}

void sched_shutdown(void) {
  pthread_mutex_lock(&S.start_mu);
  int n = atomic_load(&S.nworkers);
  atomic_store(&S.stopping, true);
  for (int i = 0; i < n; i++) worker_kick(&S.workers[i]);
  for (int i = 0; i < n; i++) pthread_join(S.workers[i].thread, NULL);
  stop_monitor();
  timer_shutdown();
  for (int i = 0; i < n; i++) {
    free(S.workers[i].watch);
    pthread_mutex_destroy(&S.workers[i].inbox_mu);
  }
  free(S.workers);
  S.workers = NULL;
  atomic_store(&S.nworkers, 0);
  atomic_store(&S.started, false);
  S.configured = 0;
  S.global.head = S.global.tail = NULL;   /* empty: nothing was live */
  atomic_store(&S.global_count, 0);
  atomic_store(&S.live, 0);
  sched_deadlock_reset();
  atomic_store(&S.stopping, false);
  pthread_mutex_unlock(&S.start_mu);
}

/* offload.h: blocking C calls run off the workers (a small pool of helper
** threads): a goroutine hands its call over, parks, and is woken when the
** call returns, so a name lookup or a file read never holds a worker. */
#ifndef LUGO_OFFLOAD_H
#define LUGO_OFFLOAD_H

#include <stdbool.h>

#include "scheduler.h"
#include "waitq.h"

/* One call, in the caller's memory (a goroutine's op) until it is done. */
typedef struct offload_job {
  void (*fn)(void *arg);     /* runs on a helper thread: plain C, no Lua */
  void *arg;
  sched_task *task;          /* woken when fn has returned */
  struct offload_job *next;  /* under the pool's lock */
  bool done;                 /* under the pool's lock */
} offload_job;

/* Queues job (fn, arg, task set) and returns with the pool's lock HELD
** (park-commit: park with offload_unlock, obj = job). Starts the helpers
** on first use; false (lock not held) if none could start: run fn inline.
** A goroutine waiting for a job is not counted blocked: the job ends. */
bool offload_submit(offload_job *job);
void offload_unlock(void *job);

/* Gives up a job not started yet (the runtime's close; obj = job): true if
** it was still queued. A job that has started runs to its end. */
bool offload_cancel(void *job, waiter *w);

/* Whether job's fn has returned (read after the wake-up). */
bool offload_done(offload_job *job);

/* Stops and joins the helpers (the runtime's close, with no job left). */
void offload_shutdown(void);

#endif

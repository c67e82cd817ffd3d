/* scheduler.h: the work-stealing scheduler. W worker threads, each owning one
** VM (opaque here) and one uv loop, run tasks that core knows only as records. */
#ifndef LUGO_SCHEDULER_H
#define LUGO_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct sched_task sched_task;
typedef struct sched_worker sched_worker;

typedef enum task_kind {
  TASK_GOROUTINE,   /* a coroutine of one worker's VM */
  TASK_THREAD,      /* a thread outside the runtime, blocked on a condvar */
  TASK_CONTROL      /* the hooks' own work for one worker (sched_send_to_worker) */
} task_kind;

/* What a run hook reports when the task gives its worker back. */
typedef enum run_result {
  RUN_DONE,         /* finished: the done hook frees it */
  RUN_YIELDED,      /* still runnable: queue it behind the others */
  RUN_PARKED        /* waiting: someone will sched_wake it */
} run_result;

/* Embedded as the first member of the bindings' goroutine record. */
struct sched_task {
  sched_task *next;           /* link of whichever queue holds the task */
  sched_worker *owner;        /* VM it lives in; NULL until started, then fixed */
  task_kind kind;
  /* Park-commit of an outside thread (docs/architecture.md, rule 1):
  ** sched_block calls it once the thread is listed as blocked, so that
  ** a waker always finds it. NULL for goroutines (op_park unlocks). */
  void (*unlock)(void *arg);
  void *unlock_arg;
  bool busy;                  /* owner only: last gave way still runnable */
  unsigned long long yielded_ns;   /* owner only: when it last gave way */
};

/* A thread outside the runtime that waits in a lugo call. */
typedef struct sched_thread_task {
  sched_task task;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_bool woken;          /* set under mu; read without it while spinning */
  bool sleeping;              /* guarded by mu: waiting on cv (see sched_block) */
  bool deadlock;              /* guarded by mu: woken because nothing else can */
  bool counted;               /* its thread is registered (counts as awake) */
  unsigned long long deadline;  /* sched_block gives up then (timer_now ns); 0: never */
  bool timed_out;             /* out of sched_block: the deadline passed first */
  bool aborted;               /* guarded by mu: the runtime is closing (sched_abort_blocked) */
  struct sched_thread_task *next_blocked;  /* guarded by the scheduler */
} sched_thread_task;

typedef struct sched_hooks {
  /* On a new worker's thread, before it runs anything: make its VM. */
  void *(*worker_start)(sched_worker *w, int index);
  /* Start (owner == NULL: the hook sets it) or resume task t in vm. */
  run_result (*run)(sched_worker *w, void *vm, sched_task *t);
  /* After run reported RUN_DONE: free t (no longer the running task).
  ** May be NULL (then run frees it before reporting). */
  void (*done)(sched_worker *w, void *vm, sched_task *t);
  /* In a signal handler on w's thread while t runs past its time slice and
  ** other tasks wait: arrange for t to yield soon (async-signal-safe only,
  ** e.g. lua_sethook). May be NULL. */
  void (*preempt)(sched_worker *w, sched_task *t);
  /* On a worker's thread as it stops (sched_shutdown): close its VM. May
  ** be NULL. */
  void (*worker_stop)(sched_worker *w, void *vm);
} sched_hooks;

/* Installs the hooks; only the first call counts. */
void sched_init(const sched_hooks *hooks);

/* Sets the worker count (>= 1). Returns false once the first sched_spawn
** started them (or n < 1); sched_spawn_main's lone worker does not count. */
bool sched_set_workers(int n);

/* Worker count: the configured one, else LUGO_WORKERS, else online CPUs. */
int sched_workers(void);

/* True once the first sched_spawn started every worker. */
bool sched_started(void);

/* Starts the configured workers if they are not running (I/O waits of an
** outside thread need a worker to poll for them). */
void sched_start(void);

/* Queues a new task (owner NULL), starting the workers on first use.
** Any thread. Counts it live until its run hook reports RUN_DONE. */
void sched_spawn(sched_task *t);

/* Queues the main goroutine (a new task, like sched_spawn) and starts only
** the first worker for it: the others start with the first sched_spawn,
** so that the main goroutine can still set their count (sched_set_workers)
** until then. */
void sched_spawn_main(sched_task *t);

/* Makes a parked task runnable. Any thread; never while holding a lock
** that the woken task's owner may need (docs/architecture.md, rule 2). */
void sched_wake(sched_task *t);

/* The worker of the calling thread, NULL outside the runtime. */
sched_worker *sched_current(void);

/* The task the calling worker is running, NULL outside the runtime. */
sched_task *sched_running(void);

/* The preemption signal: 0 (the default) SIGURG, -1 none (no monitor
** thread, no preemption). The host's handler for it keeps getting every
** such signal that the runtime did not send. Before the workers start. */
void sched_set_preempt_signal(int sig);

/* Sends the preemption signal to the worker that owns t (the hooks'
** preempt then runs for whatever task that worker runs by then). */
void sched_poke(sched_task *t);

/* Signals every worker now (as the monitor does one), to make a task
** that does not give way reach the preempt hook (the runtime's close). */
void sched_poke_all(void);

/* Ends this run of the runtime, with no task live (sched_live() == 0):
** stops the workers (each closes its VM through the worker_stop hook), the
** monitor and the timer thread, joins them, frees what the scheduler
** holds, and forgets registered threads. The next spawn starts again. */
void sched_shutdown(void);

/* Workers whose threads run now (0 before the first spawn). */
int sched_running_workers(void);

/* Makes t (kind TASK_CONTROL, not spawned: never counted live) run once on
** worker i (< sched_running_workers()) between its tasks, as a woken task
** would: the run hook sees it and reports RUN_PARKED. Any thread. */
void sched_send_to_worker(sched_task *t, int i);

/* Queues a new task (as sched_spawn) on worker i (< sched_running_workers(),
** so after sched_start) only: it starts and runs there, never stolen. */
void sched_spawn_on(sched_task *t, int i);

/* The calling worker's index (0 .. workers-1), -1 outside the runtime. */
int sched_current_index(void);

/* For sched_shutdown: the deadlock count of a new run (deadlock.c). */
void sched_deadlock_reset(void);

/* Tasks spawned and not yet done. */
long sched_live(void);

/* ---- deadlock accounting ----
** The scheduler counts who could still wake someone: goroutines not blocked
** and registered outside threads not blocked. When that count reaches zero,
** nothing can ever wake anyone: every blocked outside thread is woken with
** its deadlock flag set. (Sleeping with a timer pending is not blocked.) */

/* Counts the calling outside thread (once per thread) as able to wake
** others while it runs. Only registered threads take part in deadlock
** detection: an unregistered one blocking or waking changes no count. */
void sched_register_thread(void);

/* t queued a waiter and will park; call under the object's lock. */
void sched_blocked(sched_task *t);

/* A waker took t's waiter; call under the object's lock, before waking. */
void sched_unblocked(sched_task *t);

/* Adds delta to the count of things that can still wake someone (pending
** timers); reaching zero is a deadlock. */
void sched_awake_add(long delta);

/* Runs fn(t, arg) for each outside thread blocked in sched_block, while
** none of them can leave it (they are frozen until this returns). */
void sched_each_blocked_thread(void (*fn)(sched_thread_task *t, void *arg), void *arg);

/* Runs fn(worker, vm, arg) on every worker's own thread, one at a time, and
** returns when all have run. From a worker, its own call runs inline. */
void sched_each_worker(void (*fn)(sched_worker *w, void *vm, void *arg), void *arg);

/* Runs fn(arg) on the calling thread while every worker but the caller's
** own waits between tasks (Go's stopTheWorld): meanwhile nothing runs,
** starts or is stolen, so fn may read every worker's tasks and VM data
** (sched_each_vm, sched_each_new_task). For rare inspections (lugo.goroutines):
** it waits for each worker's running task to give way. */
void sched_stop_the_world(void (*fn)(void *arg), void *arg);

/* Inside sched_stop_the_world only: fn(t, arg) for every queued task not yet
** started; fn(w, vm, arg) for every worker's VM. */
void sched_each_new_task(void (*fn)(sched_task *t, void *arg), void *arg);
void sched_each_vm(void (*fn)(sched_worker *w, void *vm, void *arg), void *arg);

/* For a thread outside the runtime: runs t's unlock, then sleeps until
** sched_wake(&t->task), or until a deadlock (then t->deadlock is set), or
** until t->deadline if set (then t->timed_out is set: the caller cancels
** its wait, and if a waker took it first, blocks again with no deadline
** for the wake-up in flight). A timed waiter should count as a pending
** timer meanwhile (sched_awake_add), since its own timeout wakes it. */
void sched_thread_task_init(sched_thread_task *t);
/* After sched_block gave up (timed out, deadlock, aborted) and the caller's
** cancel found its waiter taken: waits for that waker's sched_wake. */
void sched_wait_woken(sched_thread_task *t);
/* The runtime is closing: every outside thread in sched_block, and every
** one that enters it from now on, returns with t->aborted set (the caller
** cancels its wait; if a waker took it first, sched_wait_woken). */
void sched_abort_blocked(void);
/* The close gave up (LUGO_EBUSY): waits are waits again. */
void sched_abort_end(void);
void sched_thread_task_destroy(sched_thread_task *t);
/* For a thread outside the runtime about to block: calls try_once until it
** returns true, for as long as sched_block would spin before sleeping
** (never when the process may use one CPU only); true if it did. A partner
** goroutine on another CPU usually makes room, or a value, within that. */
bool sched_spin_try(bool (*try_once)(void *arg), void *arg);
void sched_block(sched_thread_task *t);

#endif

/* sched_impl.h: what the scheduler's files (sched.c, deadlock.c,
** schedworld.c, preempt.c) share and nothing else may use: the workers and
** the scheduler's state, described by sched.c's protocol comment. */
#ifndef LUGO_SCHED_IMPL_H
#define LUGO_SCHED_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "runq.h"
#include "tasklist.h"
#include "scheduler.h"

/* A task running longer than this while others wait is preempted. */
#define TIME_SLICE_NS 10000000
/* The most workers a process may have (lugo.config's bound). The worker
** array is made this long once, when the first worker starts, so that
** workers can be added later without moving it (see sched_spawn_main). */
#define MAX_WORKERS 1024

/* What a worker saw of another's polls of its new work (see PATIENCE_NS). */
typedef struct poll_watch {
  unsigned long seen;           /* the poll count last seen */
  uint64_t since_ns;            /* when it was first seen; 0: not watching */
} poll_watch;

/* A FIFO of tasks linked through sched_task.next. */
struct sched_worker {
  int spin_budget;              /* owner only: checks of its next idle spin */
  int index;
  pthread_t thread;
  void *vm;
  uv_loop_t loop;
  uv_async_t wakeup;            /* the only cross-thread call into the loop */
  uv_timer_t patience;          /* owner only: ends a park to look at others' new work */
  uv_poll_t netpoll_watch;      /* its poll set's epoll fd: its I/O wakes a park */
  uv_poll_t netpoll_shared_watch;   /* the shared poll set's */
  runq newq;                    /* new tasks: owner puts, anyone steals */
  atomic_ulong newq_polls;      /* bumped by the owner each time it reads newq */
  poll_watch *watch;            /* owner only: per victim, what it saw */
  poll_watch global_watch;      /* owner only: the global queue's home worker */
  task_list local;              /* started, runnable; owner only */
  task_list yielded;            /* gave way (lugo.yield); owner only */
  sched_task *runnext;          /* woken by the running task; owner only */
  sched_task *volatile current; /* running task; owner only (and its signal handler) */
  atomic_ulong run_seq;         /* bumped by the owner at each task switch */
  atomic_bool others_ready;     /* owner's hint: local work waits behind current */
  int busy;                     /* owner only: its busy tasks (see sched_task.busy) */
  atomic_int load;              /* busy, published for the other workers */
  unsigned tick;                /* owner only */
  unsigned rand;                /* owner only: victim choice */
  pthread_mutex_t inbox_mu;     /* guards inbox */
  task_list inbox;              /* wake-ups from other threads */
  atomic_bool inbox_ready;      /* inbox may be non-empty: cheap read first */
  atomic_bool parked;           /* in or entering uv_run to sleep */
  atomic_bool watching;         /* parked with its patience timer set */
  struct worker_request *_Atomic request;  /* sched_each_worker's call */
};

/* A function to run on a worker's own thread (sched_each_worker). */
typedef struct worker_request {
  void (*fn)(sched_worker *w, void *vm, void *arg);
  void *arg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;                    /* guarded by mu */
} worker_request;

typedef struct sched_state {
  sched_hooks hooks;
  atomic_bool hooked;
  pthread_mutex_t start_mu;     /* guards starting workers and configured */
  atomic_bool started;          /* all configured workers run (first spawn) */
  int configured;               /* 0: not configured; fixed once started */
  /* Workers whose threads run, all of S.workers[0 .. nworkers-1]: 1 while
  ** only the main goroutine runs (sched_spawn_main), the configured count
  ** once started. Written under start_mu after the new workers are ready;
  ** every loop over the workers reads it (acquire) as its bound. */
  atomic_int nworkers;
  sched_worker *workers;        /* MAX_WORKERS long, made with the first */
  pthread_mutex_t global_mu;    /* guards global */
  task_list global;             /* new tasks from outside threads, overflow */
  atomic_long global_count;
  atomic_int global_home;       /* worker that took from global last */
  atomic_ulong global_polls;    /* bumped by the home worker at each take */
  atomic_long live;
  pthread_mutex_t request_mu;   /* one sched_each_worker at a time */
  atomic_bool stopping;         /* sched_shutdown: workers leave their loops */
} sched_state;

/* The scheduler's one state (sched.c). */
extern sched_state S;

/* The worker this thread is, or NULL (sched.c). */
extern _Thread_local sched_worker *tls_worker;

/* Runs the sched_each_worker or stop-the-world call waiting for w, if
** any; on w's own thread, between tasks (schedworld.c). */
void serve_request(sched_worker *w);

/* Starts (stops and joins) the monitor thread that preempts long-running
** tasks, with the signal's handler (preempt.c); under start_mu. */
void start_monitor(void);
void stop_monitor(void);

/* Wakes w if it is parked (sched.c). */
void worker_kick(sched_worker *w);
/* Queues t on w's inbox (drained between its tasks) and kicks w. */
void inbox_push(sched_worker *w, sched_task *t);
/* A new task counted live (sched_spawn's first step; sched.c). */
void sched_count_new(sched_task *t);

/* The netpoller in the workers (schedpoll.c): init watches its epoll fd
** from w's loop (a parked worker wakes for I/O); poll takes ready events
** now (a busy worker, at the fairness tick; the monitor, each slice). */
void worker_netpoll_init(sched_worker *w);
int sched_netpoll(bool every_set);   /* how many tasks it woke; false: own and shared sets */

/* On w's thread, leaving its loop: the worker_stop hook (closes its VM),
** then its libuv loop (schedstop.c). */
void worker_stop(sched_worker *w);

/* Wakes an outside thread blocked in sched_block (deadlock.c). */
void thread_wake(sched_thread_task *t);

/* Reports a deadlock if the awake count is zero now (a task just parked). */
void deadlock_check(void);

/* A CPU's spin-wait hint, n times. */
static inline void cpu_pause(int n) {
  for (int i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
}

#endif

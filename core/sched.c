/* sched.c: worker threads, their run queues, stealing and parking.
** Invariants: a started task runs only on its owner; a task sits in at most
** one queue; only the owner touches runnext and the local FIFO.
**
** The protocol, in one place (the constants below give each number's why):
**
** Workers. Each runs worker_main: find_work, run_task, and when there is
** nothing, watch a few shared words (SPIN_CHECKS pauses), then park in its
** libuv loop (uv_run ONCE) until worker_kick's uv_async_send. A worker is
** running a task (current set, run_seq odd), looking, or parked (parked
** set; watching too if its patience timer is armed). sched_shutdown ends
** the loops (schedstop.c).
** Where work goes. A new task (sched_spawn) goes to the spawning worker's
** newq ring, or, from an outside thread or when the ring is full, to the
** global queue. A woken task goes back to its owner, the worker that
** started it, forever: into runnext if the owner's running task woke it,
** its local FIFO if the owner is between tasks, else into the owner's
** inbox, with a kick. A task that gave way (yield, preemption) goes to
** the owner's yielded list.
**
** Who may take what, and when (find_work, in this order):
**  1. every FAIRNESS_TICKS tasks: the inbox; a yielded task that has let
**     new work pass for YIELD_WAIT_MAX_NS; new work (global, own newq);
**     then yielded tasks (so neither runnext ping-pong nor a busy FIFO
**     starves the shared queues);
**  2. runnext, the local FIFO, the inbox: the owner's started work;
**  3. new work, only while this worker has room (room_for_new: no other
**     worker is less busy with an empty newq, so CPU-bound tasks split
**     evenly): its own newq; the global queue, where the worker that took
**     from it last (global_home) goes first and others only once it has not
**     polled for PATIENCE_NS; then stealing from another worker's newq,
**     again only once that owner has not polled its ring for PATIENCE_NS
**     (poll counters, watched per victim): goroutines that talk start
**     together, yet a busy worker's new work spreads within milliseconds;
**  4. last, yielded tasks (Go's Gosched: behind everything else).
** A parked worker with others' new work in sight parks only until that
** work may be taken (its patience timer: the watching flag).
**
** Parking and waking a task: a blocking call queues a waiter under the
** object's lock, counts itself blocked (deadlock.c), releases the lock
** and yields (bindings/gor_park.c). A waker may take the waiter at once;
** sched_wake from another thread only reaches the owner's inbox, drained
** between tasks, so a started goroutine (pinned to its owner) is never
** resumed while still on its stack. Outside threads: sched_block.
**
** Preemption (preempt.c): the monitor signals a worker whose task ran a
** whole TIME_SLICE_NS while others waited; the task yields at its next
** instruction. sched_each_worker and stopping the world: schedworld.c.
**
** Deadlock accounting (the awake count) is written down in deadlock.c. */
#define _GNU_SOURCE 1   /* sched_getaffinity, CPU_COUNT */
#include "scheduler.h"
#include "timer.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "runq.h"
#include "sched_impl.h"

/* Check the shared queues before local work every this many tasks, so that
** neither a ping-pong pair in runnext nor a busy FIFO starves them (Go: 61). */
#define FAIRNESS_TICKS 61
/* See find_work: how long queued new work may pass a yielded task by (five
** time slices; at two, two busy goroutines took turns and starved it). */
#define YIELD_WAIT_MAX_NS 50000000
/* A worker that just ran something watches for work up to SPIN_CHECKS times,
** one CPU pause apart (tens of microseconds in all, no system call: a
** sched_yield or a park and wake-up costs far more on virtual machines),
** before it parks; at least SPIN_CHECKS_MIN (see spin_for_work). The check
** reads a few shared words only; a full search runs when it sees work. */
#define SPIN_CHECKS 2000
#define SPIN_CHECKS_MIN 16
/* New work is left to the worker it was queued for while that worker keeps
** coming back for it: another worker takes it only once the owner has not
** polled for this long. Goroutines that talk start on the same worker (a
** started goroutine never moves: crossing workers costs a wake-up per
** message), yet a busy worker's queue is shared out within milliseconds.
** The owner polls at least every FAIRNESS_TICKS tasks; 1 ms proved too
** short for that when those tasks each move a hundred values. */
#define PATIENCE_NS 3000000

sched_state S = {
  .request_mu = PTHREAD_MUTEX_INITIALIZER,
  .start_mu = PTHREAD_MUTEX_INITIALIZER,
  .global_mu = PTHREAD_MUTEX_INITIALIZER,
};

_Thread_local sched_worker *tls_worker;

/* ---- configuration ---- */

void sched_init(const sched_hooks *hooks) {
  bool expected = false;
  if (atomic_compare_exchange_strong(&S.hooked, &expected, true))
    S.hooks = *hooks;
}

static int default_workers(void) {
  const char *env = getenv("LUGO_WORKERS");
  if (env && *env) {
    char *end;
    long n = strtol(env, &end, 10);
    if (*end == '\0' && n >= 1 && n <= 1024) return (int)n;
    fprintf(stderr, "lugo: ignoring LUGO_WORKERS=%s (want an integer 1..1024)\n",
            env);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? (int)n : 1;
}

bool sched_set_workers(int n) {
  if (n < 1) return false;
  pthread_mutex_lock(&S.start_mu);
  bool ok = !atomic_load(&S.started);
  if (ok) S.configured = n;
  pthread_mutex_unlock(&S.start_mu);
  return ok;
}

int sched_workers(void) {
  pthread_mutex_lock(&S.start_mu);
  if (S.configured == 0) S.configured = default_workers();
  int n = S.configured;
  pthread_mutex_unlock(&S.start_mu);
  return n;
}

bool sched_started(void) {
  return atomic_load(&S.started);
}

sched_worker *sched_current(void) {
  return tls_worker;
}

sched_task *sched_running(void) {
  return tls_worker ? tls_worker->current : NULL;
}

long sched_live(void) {
  return atomic_load(&S.live);
}

/* ---- finding work ---- */

/* Has the owner of some new work stopped polling for it? polls is the
** owner's poll count, seen by a worker that found that work waiting. */
static bool owner_stalled(poll_watch *watch, unsigned long polls) {
  uint64_t now = timer_now();
  if (watch->since_ns == 0 || polls != watch->seen) {
    watch->seen = polls;
    watch->since_ns = now;
    return false;
  }
  return now - watch->since_ns >= PATIENCE_NS;
}

/* Takes one task from the global queue and moves a fair share of the rest
** into our ring, where idle workers can steal it. Tasks from outside threads
** go to the home worker first (the one that took from it last), so that the
** goroutines a main chunk starts together start together. */
static sched_task *global_get(sched_worker *w) {
  if (atomic_load_explicit(&S.global_count, memory_order_relaxed) == 0) {
    w->global_watch.since_ns = 0;
    return NULL;
  }
  if (atomic_load_explicit(&S.global_home, memory_order_relaxed) == w->index) {
    unsigned long polls = atomic_load_explicit(&S.global_polls, memory_order_relaxed);
    atomic_store_explicit(&S.global_polls, polls + 1, memory_order_relaxed);
  } else if (!owner_stalled(&w->global_watch,
                            atomic_load_explicit(&S.global_polls, memory_order_relaxed))) {
    return NULL;
  }
  pthread_mutex_lock(&S.global_mu);
  sched_task *t = list_pop(&S.global);
  long taken = 0;
  if (t) {
    taken = 1;
    long share = atomic_load(&S.global_count) / atomic_load(&S.nworkers);
    if (share > RUNQ_SIZE / 2) share = RUNQ_SIZE / 2;
    for (; taken <= share; taken++) {
      sched_task *more = list_pop(&S.global);
      if (!more) break;
      if (!runq_put(&w->newq, more)) {   /* ring full: leave it there */
        list_push_front(&S.global, more);
        break;
      }
    }
  }
  atomic_fetch_sub(&S.global_count, taken);
  pthread_mutex_unlock(&S.global_mu);
  if (t) atomic_store_explicit(&S.global_home, w->index, memory_order_relaxed);
  return t;
}

static void inbox_drain(sched_worker *w) {
  if (!atomic_load(&w->inbox_ready)) return;
  pthread_mutex_lock(&w->inbox_mu);
  atomic_store(&w->inbox_ready, false);
  list_append(&w->local, &w->inbox);
  pthread_mutex_unlock(&w->inbox_mu);
}

void inbox_push(sched_worker *w, sched_task *t) {
  pthread_mutex_lock(&w->inbox_mu);
  list_push(&w->inbox, t);
  atomic_store(&w->inbox_ready, true);
  pthread_mutex_unlock(&w->inbox_mu);
  worker_kick(w);
}

static sched_task *steal(sched_worker *w) {
  int n = atomic_load(&S.nworkers);
  w->rand = w->rand * 1103515245u + 12345u;
  int start = (int)((w->rand >> 16) % (unsigned)n);
  for (int i = 0; i < n; i++) {
    int v = (start + i) % n;
    sched_worker *victim = &S.workers[v];
    if (victim == w) continue;
    if (runq_size(&victim->newq) == 0) {
      w->watch[v].since_ns = 0;
      continue;
    }
    if (!owner_stalled(&w->watch[v], atomic_load_explicit(&victim->newq_polls,
                                                          memory_order_relaxed)))
      continue;
    sched_task *t = runq_steal(&w->newq, &victim->newq);
    if (t) return t;
  }
  return NULL;
}

/* The owner reads its ring of new tasks (and says so to would-be thieves). */
static sched_task *newq_get(sched_worker *w) {
  unsigned long polls = atomic_load_explicit(&w->newq_polls, memory_order_relaxed);
  atomic_store_explicit(&w->newq_polls, polls + 1, memory_order_relaxed);
  return runq_get(&w->newq);
}

/* May w start a new task now? A started task never leaves its worker, so
** new ones should start where there is least to do: not on w while it has
** more busy tasks (ones that compute rather than wait) than another worker
** that keeps up with its own new work. Tasks that mostly wait do not count:
** goroutines that talk are better off together on one worker, where a
** message needs no wake-up across threads. */
static bool room_for_new(sched_worker *w) {
  int mine = w->busy;
  if (mine == 0) return true;
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++) {
    sched_worker *other = &S.workers[i];
    if (other != w && atomic_load_explicit(&other->load, memory_order_relaxed) < mine &&
        runq_size(&other->newq) == 0)
      return false;
  }
  return true;
}

static sched_task *find_work(sched_worker *w) {
  sched_task *t;
  if (++w->tick % FAIRNESS_TICKS == 0) {
    sched_netpoll(false);   /* I/O that came while this worker was busy */
    inbox_drain(w);
    /* A task that gave way (a spawning loop's time slice ran out, say) lets
    ** queued new work go first, as in Go, where it waits behind the global
    ** queue: else a spawner outruns its goroutines by thousands. New work
    ** passes it by for YIELD_WAIT_MAX_NS at most. */
    if (w->yielded.head && timer_now() - w->yielded.head->yielded_ns >= YIELD_WAIT_MAX_NS)
      return list_pop(&w->yielded);
    /* New work before local: a worker kept busy by goroutines that wake
    ** each other still starts its new ones within PATIENCE_NS. */
    if (room_for_new(w)) {
      if ((t = global_get(w)) != NULL) return t;
      if ((t = newq_get(w)) != NULL) return t;
    }
    if ((t = list_pop(&w->yielded)) != NULL) return t;
  }
  if ((t = w->runnext) != NULL) {
    w->runnext = NULL;
    return t;
  }
  if ((t = list_pop(&w->local)) != NULL) return t;
  inbox_drain(w);
  if ((t = list_pop(&w->local)) != NULL) return t;
  if (room_for_new(w)) {
    if ((t = newq_get(w)) != NULL) return t;
    if ((t = global_get(w)) != NULL) return t;
    if ((t = steal(w)) != NULL) return t;
  }
  /* Last: tasks that yielded let everything else go first, as Go's Gosched
  ** puts them behind the global queue; the fairness tick bounds the wait. */
  return list_pop(&w->yielded);
}

/* Work w may take at once: its own, or the global queue's as its home.
** These read only shared state (for idle checks). */
static bool work_for_now(sched_worker *w) {
  if (atomic_load(&w->inbox_ready)) return true;
  if (runq_size(&w->newq) > 0) return true;
  return atomic_load(&S.global_count) > 0 &&
         atomic_load_explicit(&S.global_home, memory_order_relaxed) == w->index;
}

/* New work queued for others, which w takes if they leave it PATIENCE_NS. */
static bool work_for_later(sched_worker *w) {
  if (atomic_load(&S.global_count) > 0) return true;
  for (int i = 0, n = atomic_load(&S.nworkers); i < n; i++)
    if (&S.workers[i] != w && runq_size(&S.workers[i].newq) > 0) return true;
  return false;
}

static bool work_visible(sched_worker *w) {
  return work_for_now(w) || work_for_later(w);
}

/* ---- waking workers ---- */

void worker_kick(sched_worker *w) {
  if (atomic_load(&w->parked) && atomic_exchange(&w->parked, false))
    uv_async_send(&w->wakeup);
}

/* New stealable work exists: wake one parked worker, if any. The caller's
** push happened before (seq_cst), the parker sets parked before re-checking:
** one of the two sees the other. */
static void wake_one_idle(sched_worker *self) {
  /* From outside, the home worker first: it need not wait out PATIENCE_NS. */
  int n = atomic_load(&S.nworkers);
  int first = self ? 0 : atomic_load_explicit(&S.global_home, memory_order_relaxed) % n;
  for (int i = 0; i < n; i++) {
    sched_worker *w = &S.workers[(first + i) % n];
    /* One that watches others' new work wakes by itself when it may take
    ** some: kicking it for each new goroutine would cost a system call. */
    if (self && atomic_load_explicit(&w->watching, memory_order_relaxed)) continue;
    if (w != self && atomic_load(&w->parked) && atomic_exchange(&w->parked, false)) {
      uv_async_send(&w->wakeup);
      return;
    }
  }
}

static void on_wakeup(uv_async_t *h) {
  (void)h;  /* the loop returning is all we need */
}

/* ---- the worker loop ---- */

static void publish_switch(sched_worker *w) {
  unsigned long seq = atomic_load_explicit(&w->run_seq, memory_order_relaxed);
  atomic_store_explicit(&w->run_seq, seq + 1, memory_order_relaxed);
  atomic_store_explicit(&w->others_ready,
                        w->runnext || w->local.head || w->yielded.head,
                        memory_order_relaxed);
}

static void run_task(sched_worker *w, sched_task *t) {
  w->current = t;
  publish_switch(w);
  run_result r = S.hooks.run(w, w->vm, t);
  w->current = NULL;
  publish_switch(w);
  /* A task that gave its worker back while still runnable (its time slice
  ** ran out, or it yielded) is busy until it waits for something. */
  bool busy = r == RUN_YIELDED;
  if (busy != t->busy) {
    t->busy = busy;
    w->busy += busy ? 1 : -1;
    atomic_store_explicit(&w->load, w->busy, memory_order_relaxed);
  }
  switch (r) {
    case RUN_DONE:
      if (S.hooks.done) S.hooks.done(w, w->vm, t);
      atomic_fetch_sub(&S.live, 1);
      sched_awake_add(-1);
      break;
    case RUN_YIELDED:
      t->yielded_ns = timer_now();
      list_push(&w->yielded, t);
      break;
    case RUN_PARKED:
      if (t->unlock) {
        void (*unlock)(void *) = t->unlock;
        t->unlock = NULL;
        unlock(t->unlock_arg);   /* from here on, t may be woken */
      }
      deadlock_check();
      break;
  }
}

static void on_patience(uv_timer_t *timer) {
  (void)timer;  /* the loop returning is all we need */
}

/* Sleeps until kicked. While others have new work queued, sleeps only until
** it may be taken (their owners may start it first): no spinning for it. */
static void park(sched_worker *w) {
  atomic_store(&w->parked, true);
  if (work_for_now(w) || atomic_load(&w->request) || atomic_load(&S.stopping)) {
    atomic_store(&w->parked, false);
    return;
  }
  bool later = work_for_later(w);
  if (later) {
    uv_update_time(&w->loop);
    uv_timer_start(&w->patience, on_patience, PATIENCE_NS / 1000000 + 1, 0);
    atomic_store_explicit(&w->watching, true, memory_order_relaxed);
  }
  uv_run(&w->loop, UV_RUN_ONCE);
  if (later) {
    atomic_store_explicit(&w->watching, false, memory_order_relaxed);
    uv_timer_stop(&w->patience);
  }
  atomic_store(&w->parked, false);
}

/* Watches for work up to w->spin_budget checks. The budget adapts, as a
** spin pays only when work comes from another worker within it: a spin
** that finds work doubles it (up to SPIN_CHECKS), one that runs out halves
** it (down to SPIN_CHECKS_MIN). A server's work comes from the network,
** which the checks do not see: its idle workers soon park at once rather
** than take the CPU that the other workers and its clients need. */
static sched_task *spin_for_work(sched_worker *w) {
  for (int i = 0; i < w->spin_budget; i++) {
    cpu_pause(1);
    if (work_visible(w) || atomic_load_explicit(&w->request, memory_order_relaxed)) {
      sched_task *t = find_work(w);
      if (t) {
        if (w->spin_budget < SPIN_CHECKS) w->spin_budget *= 2;
        return t;
      }
    }
  }
  if (w->spin_budget > SPIN_CHECKS_MIN) w->spin_budget /= 2;
  return NULL;
}

static void *worker_main(void *arg) {
  sched_worker *w = arg;
  tls_worker = w;
  w->vm = S.hooks.worker_start(w, w->index);
  /* Spin only after running something: then a wake-up for the goroutines
  ** just parked is likely soon. Woken from a park with nothing to do (say,
  ** for new work its owner then started), go back to sleep at once. */
  bool spin = false;
  while (!atomic_load_explicit(&S.stopping, memory_order_relaxed)) {
    serve_request(w);
    sched_task *t = find_work(w);
    if (!t && sched_netpoll(true) > 0) t = find_work(w);   /* I/O first, as Go's findrunnable */
    if (!t && spin) t = spin_for_work(w);
    if (t) {
      run_task(w, t);
      spin = true;
    } else {
      park(w);
      spin = false;
    }
  }
  worker_stop(w);   /* schedstop.c */
  return NULL;
}

static void init_worker(int i) {
  sched_worker *w = &S.workers[i];
  w->index = i;
  w->rand = (unsigned)i * 2654435761u + 1;
  w->spin_budget = SPIN_CHECKS;
  w->watch = calloc(MAX_WORKERS, sizeof *w->watch);
  if (!w->watch) abort();
  runq_init(&w->newq);
  pthread_mutex_init(&w->inbox_mu, NULL);
  if (uv_loop_init(&w->loop) != 0 ||
      uv_async_init(&w->loop, &w->wakeup, on_wakeup) != 0 ||
      uv_timer_init(&w->loop, &w->patience) != 0)
    abort();
  worker_netpoll_init(w);
}

/* Starts the thread of worker i; under start_mu, once others count it. */
static void start_worker(int i) {
  sched_worker *w = &S.workers[i];
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
    fprintf(stderr, "lugo: cannot start worker thread: %s\n", strerror(errno));
    abort();
  }
}

/* Starts workers until `count` run (and the monitor with the first);
** under start_mu. */
static void start_workers_upto(int count) {
  int have = atomic_load(&S.nworkers);
  if (have >= count) return;
  if (!S.workers) {
    S.workers = calloc(MAX_WORKERS, sizeof *S.workers);
    if (!S.workers) abort();
  }
  for (int i = have; i < count; i++) init_worker(i);
  atomic_store(&S.nworkers, count);
  for (int i = have; i < count; i++) start_worker(i);
  if (have == 0) start_monitor();
}

/* Starts every configured worker (those not already running). */
static void start_workers(void) {
  pthread_mutex_lock(&S.start_mu);
  if (!atomic_load(&S.started)) {
    if (S.configured == 0) S.configured = default_workers();
    start_workers_upto(S.configured);
    atomic_store(&S.started, true);
  }
  pthread_mutex_unlock(&S.start_mu);
}

/* ---- public entry points ---- */

/* Counts t live and able to wake others (see "deadlock accounting"). */
void sched_count_new(sched_task *t) {
  t->next = NULL;
  t->owner = NULL;
  t->busy = false;
  t->unlock = NULL;
  atomic_fetch_add(&S.live, 1);
  sched_awake_add(1);
}

/* Queues t, new, where the workers find it: the caller's ring if it is a
** worker with room, else the global queue. */
static void queue_new(sched_task *t) {
  sched_worker *self = tls_worker;
  if (self && runq_put(&self->newq, t)) {
    wake_one_idle(self);
    return;
  }
  pthread_mutex_lock(&S.global_mu);
  if (self) {
    /* Ring full: move half of it out with t, as Go's runqputslow does. */
    void *batch[RUNQ_SIZE / 2];
    uint32_t n = runq_put_overflow(&self->newq, batch);
    for (uint32_t i = 0; i < n; i++) list_push(&S.global, batch[i]);
    atomic_fetch_add(&S.global_count, (long)n);
  }
  list_push(&S.global, t);
  atomic_fetch_add(&S.global_count, 1);
  pthread_mutex_unlock(&S.global_mu);
  wake_one_idle(self);
}

void sched_start(void) { if (!atomic_load(&S.started)) start_workers(); }

void sched_spawn(sched_task *t) {
  sched_count_new(t);
  if (!atomic_load(&S.started)) start_workers();
  queue_new(t);
}

void sched_spawn_main(sched_task *t) {
  sched_count_new(t);
  pthread_mutex_lock(&S.start_mu);
  start_workers_upto(1);
  pthread_mutex_unlock(&S.start_mu);
  queue_new(t);
}

void sched_wake(sched_task *t) {
  if (t->kind == TASK_THREAD) {
    thread_wake((sched_thread_task *)t);
    return;
  }
  sched_worker *w = t->owner;
  if (w == tls_worker) {
    if (w->current) {
      /* Woken by the running goroutine: run it next, with no syscall. */
      if (w->runnext) list_push(&w->local, w->runnext);
      w->runnext = t;
      /* The running task may now hold its worker for long: the monitor
      ** must see that t waits behind it (see others_wait). */
      if (!atomic_load_explicit(&w->others_ready, memory_order_relaxed))
        atomic_store_explicit(&w->others_ready, true, memory_order_relaxed);
    } else {
      list_push(&w->local, t);
    }
    return;
  }
  inbox_push(w, t);
}

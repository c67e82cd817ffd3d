/* test_sched.c: checks core/sched.c (with core/runq.c) through its hooks:
** - 100,000 tasks spawned from outside threads and from within tasks (two
**   levels deep, in bursts that overflow a worker's ring), some yielding a
**   few times: each runs to completion exactly once (run and done hooks),
**   always on the worker that started it; sched_live() returns to 0; work
**   spread over both workers is reported (soft check);
** - parked tasks woken by an outside thread, and by a waker task on the
**   workers (same-worker and cross-worker wakes), run again on their owner;
** - always-yielding tasks starve neither new tasks nor, the other way
**   round, does a stream of new tasks starve a yielding one;
** - balance: 8 CPU-bound tasks (spin, yield, 150 times) spawned at once
**   all run to completion on the worker that started them; how evenly
**   they started (4:4 on an idle machine) is reported, not asserted;
** - preemption: the preempt hook fires for a task past its time slice while
**   others wait, never for a lone one;
** - sched_each_worker from an outside thread and from two goroutines at once.
** Exits 0 on success, 1 after any failure.
**
**   gcc -std=gnu11 -O2 -pthread core/sched.c core/deadlock.c core/schedworld.c core/preempt.c core/runq.c core/chan.c \
**       core/waitgroup.c spec/c/test_sched.c -luv -o t && ./t
**
** The scheduler is a process-wide singleton: one set of hooks, dispatching
** on a per-task function pointer. */

#include "../../core/scheduler.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWORKERS 2

/* ---- the hook -------------------------------------------------------- */

typedef struct stask stask;
struct stask {
  sched_task task;                        /* first member */
  run_result (*fn)(stask *t, sched_worker *w);
  sched_worker *first;                    /* worker of the first run */
  atomic_int runs;                        /* hook calls */
  atomic_int done;                        /* RUN_DONE reported */
  int yields;                             /* RUN_YIELDED before done */
  int kind;                               /* spawn tree: see spawn_tree */
  int rounds;                             /* wake test: parks left */
  atomic_int done_hook;                   /* done hook calls */
  atomic_int preempts;                    /* preempt hook calls */
  bool self_free;                         /* the done hook frees it */
};

typedef struct vm_info {
  sched_worker *w;
  int index;
  atomic_long runs;                       /* tasks first run here */
} vm_info;

static vm_info vms[NWORKERS];
static atomic_int workers_started, owner_errors, ctx_errors;

static void *hook_worker_start(sched_worker *w, int index) {
  if (index < 0 || index >= NWORKERS) {
    fprintf(stderr, "worker index %d out of range\n", index);
    abort();
  }
  CHECK(sched_current() == w);
  CHECK(sched_running() == NULL);
  vms[index].w = w;
  vms[index].index = index;
  atomic_fetch_add(&workers_started, 1);
  return &vms[index];
}

static run_result hook_run(sched_worker *w, void *vm, sched_task *t) {
  stask *s = (stask *)t;
  vm_info *v = vm;
  if (v->w != w) atomic_fetch_add(&ctx_errors, 1);
  if (sched_current() != w || sched_running() != t) atomic_fetch_add(&ctx_errors, 1);
  if (t->kind != TASK_GOROUTINE) atomic_fetch_add(&ctx_errors, 1);
  if (t->owner == NULL) {
    t->owner = w;
    s->first = w;
    atomic_fetch_add_explicit(&v->runs, 1, memory_order_relaxed);
  } else if (t->owner != w || s->first != w) {
    atomic_fetch_add(&owner_errors, 1);
  }
  atomic_fetch_add_explicit(&s->runs, 1, memory_order_relaxed);
  run_result r = s->fn(s, w);
  if (r == RUN_DONE) atomic_fetch_add(&s->done, 1);
  return r;
}

/* After RUN_DONE: the task is no longer running; frees it if asked. */
static void hook_done(sched_worker *w, void *vm, sched_task *t) {
  stask *s = (stask *)t;
  if (((vm_info *)vm)->w != w || sched_current() != w || sched_running() == t ||
      t->owner != w || atomic_load(&s->done) != 1)
    atomic_fetch_add(&ctx_errors, 1);
  atomic_fetch_add(&s->done_hook, 1);
  if (s->self_free) free(s);
}

/* In a signal handler on w's thread: only async-signal-safe work (lock-free
** atomics). Counts mismatches instead of printing. */
static atomic_int preempt_errors;

static void hook_preempt(sched_worker *w, sched_task *t) {
  stask *s = (stask *)t;
  if (sched_current() != w || t->owner != w) atomic_fetch_add(&preempt_errors, 1);
  atomic_fetch_add(&s->preempts, 1);
}

static const sched_hooks hooks = {
  .worker_start = hook_worker_start,
  .run = hook_run,
  .done = hook_done,
  .preempt = hook_preempt,
};

/* Tasks a failed test lost for good: later tests wait for this, not 0. */
static long live_base = 0;

/* Waits for the live count to drop to live_base: fails after `seconds`, or
** after 10 s without any progress (lost tasks, not a slow machine). */
static bool wait_live_base(double seconds) {
  double start = now(), end = start + seconds, last_change = start;
  long last = sched_live();
  while (last != live_base) {
    double t = now();
    if (t > end || t - last_change > 10) {
      fprintf(stderr, "sched_live() still %ld (expected %ld) after %.0f s%s\n", last,
              live_base, t - start, t > end ? "" : ", no progress for 10 s");
      return false;
    }
    nap();
    long n = sched_live();
    if (n != last) last_change = now();
    last = n;
  }
  return true;
}

/* ---- spawn storm ----------------------------------------------------- */

/* 100,000 tasks: the main thread and a helper thread spawn leaves and
** "parents"; a parent spawns MIDS mids and PLEAVES leaves; a mid spawns
** MLEAVES leaves in one burst, more than a worker's ring holds, so the ring
** overflows into the global queue. */
#define TOTAL 100000
#define NPARENTS 50
#define MIDS 3
#define MLEAVES 300
#define PLEAVES 96
#define PER_PARENT (1 + MIDS * (1 + MLEAVES) + PLEAVES)      /* 1000 */
#define OUTSIDE_LEAVES (TOTAL - NPARENTS * PER_PARENT)        /* 50000 */
#define HELPER_LEAVES 20000

enum { K_LEAF, K_MID, K_PARENT };

static stask *pool;
static atomic_long pool_next;

static stask *new_task(int kind);

static void busy(void) {
  volatile unsigned x = 0;
  for (int i = 0; i < 300; i++) x = x + (unsigned)i;
}

static run_result storm_fn(stask *s, sched_worker *w) {
  (void)w;
  busy();
  if (s->yields > 0) {
    s->yields--;
    return RUN_YIELDED;
  }
  if (s->kind == K_PARENT) {
    for (int i = 0; i < MIDS; i++) sched_spawn(&new_task(K_MID)->task);
    for (int i = 0; i < PLEAVES; i++) sched_spawn(&new_task(K_LEAF)->task);
  } else if (s->kind == K_MID) {
    for (int i = 0; i < MLEAVES; i++) sched_spawn(&new_task(K_LEAF)->task);
  }
  return RUN_DONE;
}

static stask *new_task(int kind) {
  long i = atomic_fetch_add(&pool_next, 1);
  if (i >= TOTAL) {
    fprintf(stderr, "test_sched.c: more than %d tasks made\n", TOTAL);
    _exit(1);
  }
  stask *s = &pool[i];
  s->fn = storm_fn;
  s->kind = kind;
  s->yields = i % 5 == 0 ? (int)(i % 4) + 1 : 0;  /* a fifth yield 1..4 times */
  s->task.kind = TASK_GOROUTINE;
  return s;
}

static void *helper_spawner(void *arg) {
  (void)arg;
  CHECK(sched_current() == NULL);
  for (int i = 0; i < HELPER_LEAVES; i++) sched_spawn(&new_task(K_LEAF)->task);
  return NULL;
}

static void test_spawn_storm(void) {
  double t0 = now();
  pool = calloc(TOTAL, sizeof *pool);
  CHECK(!sched_started());
  CHECK(sched_live() == 0);
  pthread_t helper;
  CHECK(pthread_create(&helper, NULL, helper_spawner, NULL) == 0);
  /* parents interleaved with the leaves, so trees grow while leaves flow */
  int step = (OUTSIDE_LEAVES - HELPER_LEAVES) / NPARENTS;
  for (int i = 0, p = 0; i < OUTSIDE_LEAVES - HELPER_LEAVES; i++) {
    if (i % step == 0 && p < NPARENTS) {
      sched_spawn(&new_task(K_PARENT)->task);
      p++;
    }
    sched_spawn(&new_task(K_LEAF)->task);
  }
  CHECK(sched_started());
  CHECK(sched_workers() == NWORKERS);
  pthread_join(helper, NULL);
  bool drained = wait_live_base(30);
  CHECK(drained);
  CHECK(atomic_load(&pool_next) == TOTAL);

  long never = 0, twice = 0, wrong_runs = 0, kinds[3] = {0, 0, 0};
  long expect_runs = 0, runs = 0;
  for (long i = 0; i < atomic_load(&pool_next); i++) {
    stask *s = &pool[i];
    int d = atomic_load(&s->done);
    if (d == 0) never++;
    if (d > 1) twice++;
    int want = 1 + (i % 5 == 0 ? (int)(i % 4) + 1 : 0);
    if (d == 1 && atomic_load(&s->runs) != want) wrong_runs++;
    if (d == 1 && atomic_load(&s->done_hook) != 1) wrong_runs++;
    expect_runs += want;
    runs += atomic_load(&s->runs);
    kinds[s->kind]++;
  }
  if (never || twice || wrong_runs)
    fprintf(stderr, "storm: %ld never done, %ld done twice, %ld with wrong run counts\n",
            never, twice, wrong_runs);
  CHECK(never == 0);
  CHECK(twice == 0);
  CHECK(wrong_runs == 0);
  CHECK(runs == expect_runs);
  CHECK(kinds[K_PARENT] == NPARENTS);
  CHECK(kinds[K_MID] == NPARENTS * MIDS);
  CHECK(kinds[K_LEAF] == TOTAL - NPARENTS * (1 + MIDS));
  CHECK(atomic_load(&owner_errors) == 0);
  CHECK(atomic_load(&ctx_errors) == 0);

  long per[NWORKERS];
  printf("  storm: %ld tasks made (%ld hook runs) in %.2f s; first runs per worker:",
         atomic_load(&pool_next), runs, now() - t0);
  for (int i = 0; i < NWORKERS; i++) {
    per[i] = atomic_load(&vms[i].runs);
    printf(" %ld", per[i]);
  }
  printf("\n");
  if (drained) CHECK(per[0] + per[1] == TOTAL);
  if (per[0] == 0 || per[1] == 0)  /* soft: noisy machines */
    printf("  NOTE: one worker ran no task: work was not spread\n");
  if (drained) {
    free(pool);
  } else {
    /* lost tasks never run: keep the pool, let the other tests go on */
    live_base = sched_live();
  }
}

/* ---- wake: parked tasks run again on their owner -------------------- */

/* A task parks by queueing itself on a shared list under park_mu and
** returning RUN_PARKED with unlock = unlock park_mu: the worker releases the
** lock once the task is off its stack, so a waker that sees the task on the
** list can wake it (park-commit). */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static stask *park_list[4096];
static int park_len;
static atomic_int wake_done, wake_order_errors;
static atomic_long wakes_same, wakes_cross;  /* by a task: owner == waker's? */

static void unlock_park_mu(void *arg) {
  pthread_mutex_unlock(arg);
}

static run_result waker_target_fn(stask *s, sched_worker *w) {
  (void)w;
  if (atomic_load_explicit(&s->runs, memory_order_relaxed) == 1) {
    /* first run: hold the worker a little so the other one steals some */
    double end = now() + 50e-6;
    while (now() < end) {}
  }
  if (s->rounds == 0) {
    atomic_fetch_add(&wake_done, 1);
    return RUN_DONE;
  }
  s->rounds--;
  pthread_mutex_lock(&park_mu);
  if (park_len >= 4096) abort();
  park_list[park_len++] = s;
  sched_blocked(&s->task);  /* deadlock accounting, as waitq_park does */
  s->task.unlock = unlock_park_mu;
  s->task.unlock_arg = &park_mu;
  return RUN_PARKED;  /* park_mu stays locked until the worker unlocks it */
}

/* Takes every parked task off the list and wakes it (after the unlock:
** never wake while holding a lock the woken task's owner may need). */
static int wake_all_parked(void) {
  stask *batch[4096];
  pthread_mutex_lock(&park_mu);
  int n = park_len;
  memcpy(batch, park_list, (size_t)n * sizeof *batch);
  park_len = 0;
  for (int i = 0; i < n; i++) sched_unblocked(&batch[i]->task);
  pthread_mutex_unlock(&park_mu);
  for (int i = 0; i < n; i++) {
    if (batch[i]->task.unlock != NULL) atomic_fetch_add(&wake_order_errors, 1);
    if (sched_current())
      atomic_fetch_add(batch[i]->task.owner == sched_current() ? &wakes_same : &wakes_cross, 1);
    sched_wake(&batch[i]->task);
  }
  return n;
}

static run_result waker_task_fn(stask *s, sched_worker *w) {
  (void)w;
  (void)s;
  wake_all_parked();
  if (atomic_load(&wake_done) == s->rounds) return RUN_DONE;  /* rounds = K */
  return RUN_YIELDED;
}

static void test_wake(int k, int rounds, bool from_task) {
  double t0 = now();
  stask *ts = calloc((size_t)k + 1, sizeof *ts);
  atomic_store(&wake_done, 0);
  atomic_store(&wake_order_errors, 0);
  atomic_store(&wakes_same, 0);
  atomic_store(&wakes_cross, 0);
  long before[NWORKERS];
  for (int i = 0; i < NWORKERS; i++) before[i] = atomic_load(&vms[i].runs);
  for (int i = 0; i < k; i++) {
    ts[i].fn = waker_target_fn;
    ts[i].rounds = rounds;
    sched_spawn(&ts[i].task);
  }
  long wakes = 0;
  if (from_task) {
    stask *waker = &ts[k];
    waker->fn = waker_task_fn;
    waker->rounds = k;
    sched_spawn(&waker->task);
  } else {
    double end = now() + 30;
    while (atomic_load(&wake_done) < k && now() < end) {
      int n = wake_all_parked();
      wakes += n;
      if (n == 0) nap();
    }
  }
  CHECK(wait_live_base(30));
  CHECK(atomic_load(&wake_done) == k);
  CHECK(atomic_load(&wake_order_errors) == 0);
  pthread_mutex_lock(&park_mu);
  CHECK(park_len == 0);
  pthread_mutex_unlock(&park_mu);
  long bad_runs = 0;
  for (int i = 0; i < k; i++) {
    if (atomic_load(&ts[i].runs) != rounds + 1) bad_runs++;
    CHECK(atomic_load(&ts[i].done) == 1);
    CHECK(ts[i].task.owner == ts[i].first && ts[i].first != NULL);
  }
  CHECK(bad_runs == 0);
  if (!from_task) CHECK(wakes == (long)k * rounds);
  CHECK(atomic_load(&owner_errors) == 0);
  CHECK(atomic_load(&ctx_errors) == 0);
  printf("  wake from %s: %d tasks x %d parks in %.2f s; started per worker:",
         from_task ? "a task" : "outside", k, rounds, now() - t0);
  for (int i = 0; i < NWORKERS; i++)
    printf(" %ld", atomic_load(&vms[i].runs) - before[i]);
  if (from_task)
    printf("; wakes same worker %ld, cross %ld", atomic_load(&wakes_same),
           atomic_load(&wakes_cross));
  printf("\n");
  if (from_task) CHECK(atomic_load(&wakes_same) + atomic_load(&wakes_cross) == (long)k * rounds);
  free(ts);
}

/* ---- yield fairness: a yielding task does not starve new ones -------- */

static atomic_int spinner_stop, fair_ran;

static run_result spinner_fn(stask *s, sched_worker *w) {
  (void)s;
  (void)w;
  return atomic_load(&spinner_stop) ? RUN_DONE : RUN_YIELDED;
}

static run_result fair_fn(stask *s, sched_worker *w) {
  (void)s;
  (void)w;
  atomic_fetch_add(&fair_ran, 1);
  return RUN_DONE;
}

/* As many always-yielding tasks as workers, then plain tasks: the plain
** ones must still all run while the spinners keep yielding. */
static void test_yield_fairness(void) {
  stask *spin = calloc(NWORKERS * 2, sizeof *spin);
  stask *plain = calloc(1000, sizeof *plain);
  atomic_store(&spinner_stop, 0);
  atomic_store(&fair_ran, 0);
  for (int i = 0; i < NWORKERS * 2; i++) {
    spin[i].fn = spinner_fn;
    sched_spawn(&spin[i].task);
  }
  for (int i = 0; i < 1000; i++) {
    plain[i].fn = fair_fn;
    sched_spawn(&plain[i].task);
  }
  double end = now() + 10;
  while (atomic_load(&fair_ran) < 1000 && now() < end) nap();
  if (atomic_load(&fair_ran) != 1000)
    fprintf(stderr, "fairness: only %d of 1000 new tasks ran while %d tasks kept yielding\n",
            atomic_load(&fair_ran), NWORKERS * 2);
  CHECK(atomic_load(&fair_ran) == 1000);
  atomic_store(&spinner_stop, 1);
  CHECK(wait_live_base(30));
  free(spin);
  free(plain);
}

/* ---- yield progress: a yielding task is not starved by new work ------ */

/* A yielding task spawns CHAINS chains of tasks, each link spawning the
** next, so new work never runs out while it lives; the yielder must still
** get its turns (the fairness tick) and finish its yields. */
#define CHAINS 8
static atomic_int chain_stop, yielder_done;
static atomic_long chain_links;

static run_result chain_fn(stask *s, sched_worker *w) {
  (void)w;
  atomic_fetch_add(&chain_links, 1);
  if (!atomic_load(&chain_stop)) {
    stask *next = calloc(1, sizeof *next);
    if (!next) abort();
    next->fn = chain_fn;
    next->self_free = true;  /* freed by the done hook */
    sched_spawn(&next->task);
  }
  (void)s;
  return RUN_DONE;
}

static run_result yielder_fn(stask *s, sched_worker *w) {
  (void)w;
  if (s->rounds == 0) {  /* first run: start the chains */
    for (int i = 0; i < CHAINS; i++) {
      stask *c = calloc(1, sizeof *c);
      if (!c) abort();
      c->fn = chain_fn;
      c->self_free = true;
      sched_spawn(&c->task);
    }
  }
  if (++s->rounds < 200) return RUN_YIELDED;
  atomic_store(&yielder_done, 1);
  return RUN_DONE;
}

/* ---- preemption ------------------------------------------------------ */

/* A task that runs past its time slice while others wait on its worker
** gets the preempt hook called on its worker's thread (from a signal); a
** long task with nothing waiting is left alone. A spinner spins until it is
** preempted, yields, and spins again, until every spinner was preempted. */
#define MAX_PLAIN 20000
static atomic_int spin_started, plain_ran, spin_stop;
static stask spinners[NWORKERS];

static run_result preempt_spinner_fn(stask *s, sched_worker *w) {
  (void)w;
  if (s->rounds++ == 0) {
    if (s == &spinners[0]) sched_spawn(&spinners[1].task);
    atomic_fetch_add(&spin_started, 1);
  }
  int seen = atomic_load(&s->preempts);
  double end = now() + 10;
  while (!atomic_load(&spin_stop) && atomic_load(&s->preempts) == seen && now() < end) {}
  return atomic_load(&spin_stop) || now() >= end ? RUN_DONE : RUN_YIELDED;
}

static run_result plain_fn(stask *s, sched_worker *w) {
  (void)s;
  (void)w;
  atomic_fetch_add(&plain_ran, 1);
  return RUN_DONE;
}

static run_result lone_spinner_fn(stask *s, sched_worker *w) {
  (void)s;
  (void)w;
  double end = now() + 0.2;   /* 20 time slices, nothing else to run */
  while (now() < end) {}
  return RUN_DONE;
}

static bool all_spinners_preempted(void) {
  for (int i = 0; i < NWORKERS; i++)
    if (atomic_load(&spinners[i].preempts) == 0) return false;
  return true;
}

static void test_preempt(void) {
  double t0 = now();
  atomic_store(&preempt_errors, 0);
  /* alone: not disturbed */
  stask *lone = calloc(1, sizeof *lone);
  lone->fn = lone_spinner_fn;
  sched_spawn(&lone->task);
  CHECK(wait_live_base(30));
  CHECK(atomic_load(&lone->preempts) == 0);
  free(lone);

  /* both workers busy with spinners while new tasks keep arriving: both
  ** get preempted, and the new tasks run */
  memset(spinners, 0, sizeof spinners);
  atomic_store(&spin_started, 0);
  atomic_store(&plain_ran, 0);
  atomic_store(&spin_stop, 0);
  for (int i = 0; i < NWORKERS; i++) spinners[i].fn = preempt_spinner_fn;
  sched_spawn(&spinners[0].task);  /* spawns spinners[1] */
  double end = now() + 5;
  while (atomic_load(&spin_started) < NWORKERS && now() < end) nap();
  CHECK(atomic_load(&spin_started) == NWORKERS);
  stask *plain = calloc(MAX_PLAIN, sizeof *plain);
  int nplain = 0;
  end = now() + 10;
  while (!all_spinners_preempted() && now() < end && nplain < MAX_PLAIN) {
    plain[nplain].fn = plain_fn;
    sched_spawn(&plain[nplain++].task);
    nap();
  }
  atomic_store(&spin_stop, 1);
  CHECK(wait_live_base(30));
  CHECK(atomic_load(&plain_ran) == nplain);
  for (int i = 0; i < NWORKERS; i++) {
    if (atomic_load(&spinners[i].preempts) == 0)
      fprintf(stderr, "preempt: spinner %d never preempted (%d new tasks came)\n", i, nplain);
    CHECK(atomic_load(&spinners[i].preempts) > 0);
  }
  CHECK(spinners[0].task.owner != spinners[1].task.owner);
  CHECK(atomic_load(&preempt_errors) == 0);
  free(plain);
  printf("  preempt: busy workers preempted (%d, %d times) for %d waiting tasks, "
         "a lone one not, %.2f s\n", atomic_load(&spinners[0].preempts),
         atomic_load(&spinners[1].preempts), nplain, now() - t0);
}

/* ---- balance: CPU-bound tasks start evenly over the workers ---------- */

/* BALANCE_TASKS tasks spawned at once from this thread each spin for
** BALANCE_SPIN_S per run and yield, BALANCE_RUNS times (0.15 s of CPU each),
** then finish. A started task never moves, so where each one starts decides
** the split for good: a worker with more busy tasks than another must leave
** new ones to it (room_for_new), so 8 tasks on 2 workers end up 4:4. Without
** that rule the worker that polls the queues first starts whatever it sees:
** 5:3 mostly, 7:1 or 8:0 at times. The check allows a difference of 1 only
** for worker counts that do not divide the task count. */
#define BALANCE_TASKS 8
#define BALANCE_RUNS 150
#define BALANCE_SPIN_S 1e-3

static run_result balance_fn(stask *s, sched_worker *w) {
  (void)w;
  double end = now() + BALANCE_SPIN_S;
  while (now() < end) {}
  return atomic_load_explicit(&s->runs, memory_order_relaxed) < BALANCE_RUNS ? RUN_YIELDED
                                                                              : RUN_DONE;
}

/* One round of 8 CPU-bound tasks; returns the spread of their first
** workers (most started on one worker minus fewest on another). */
static int balance_round(void) {
  double t0 = now();
  stask *ts = calloc(BALANCE_TASKS, sizeof *ts);
  for (int i = 0; i < BALANCE_TASKS; i++) {
    ts[i].fn = balance_fn;
    sched_spawn(&ts[i].task);
  }
  CHECK(wait_live_base(30));
  int per[NWORKERS] = {0}, lost = 0, unknown = 0;
  for (int i = 0; i < BALANCE_TASKS; i++) {
    if (atomic_load(&ts[i].runs) != BALANCE_RUNS || atomic_load(&ts[i].done) != 1 ||
        atomic_load(&ts[i].done_hook) != 1)
      lost++;
    int k = 0;
    while (k < NWORKERS && vms[k].w != ts[i].first) k++;
    if (k < NWORKERS) per[k]++; else unknown++;
  }
  int lo = per[0], hi = per[0];
  for (int k = 1; k < NWORKERS; k++) {
    if (per[k] < lo) lo = per[k];
    if (per[k] > hi) hi = per[k];
  }
  printf("  balance: %d CPU-bound tasks x %d runs of %.1f ms in %.2f s; started per worker:",
         BALANCE_TASKS, BALANCE_RUNS, BALANCE_SPIN_S * 1e3, now() - t0);
  for (int k = 0; k < NWORKERS; k++) printf(" %d", per[k]);
  printf("\n");
  CHECK(lost == 0);
  CHECK(unknown == 0);
  free(ts);
  return hi - lo;
}

/* The split is reported, not asserted: the rule holds only while both
** workers keep polling, and a worker thread that the kernel holds off its
** CPU for PATIENCE_NS (other processes, a sanitizer, ctest -j2) has its new
** work taken, as it should; an assertion on the outcome failed whenever
** the machine was busy. What is asserted holds however the kernel
** schedules: every task runs all its runs, once, on the worker that
** started it. */
static void test_balance(void) {
  int spread = balance_round();
  if (spread > 1)
    printf("  balance: started unevenly (spread %d): the machine is busy\n", spread);
  CHECK(atomic_load(&owner_errors) == 0);
  CHECK(atomic_load(&ctx_errors) == 0);
}

/* ---- sched_each_worker ------------------------------------------------ */

static struct {
  atomic_int calls[NWORKERS];
  atomic_int wrong_thread, inline_calls, served_calls;
  sched_task *caller[NWORKERS];          /* goroutine calling, per worker */
} ew;

static void each_fn(sched_worker *w, void *vm, void *arg) {
  (void)arg;
  vm_info *v = vm;
  if (sched_current() != w || v->w != w) atomic_fetch_add(&ew.wrong_thread, 1);
  atomic_fetch_add(&ew.calls[v->index], 1);
  /* from a goroutine, its own worker's call runs inline, inside its run;
  ** a call run while a goroutine runs must be inside that caller */
  if (sched_running() != NULL) {
    if (sched_running() != ew.caller[v->index]) atomic_fetch_add(&ew.wrong_thread, 1);
    atomic_fetch_add(&ew.inline_calls, 1);
  } else {
    atomic_fetch_add(&ew.served_calls, 1);
  }
}

static void each_reset(void) {
  for (int i = 0; i < NWORKERS; i++) {
    atomic_store(&ew.calls[i], 0);
    ew.caller[i] = NULL;
  }
  atomic_store(&ew.wrong_thread, 0);
  atomic_store(&ew.inline_calls, 0);
  atomic_store(&ew.served_calls, 0);
}

static atomic_int each_started, each_done;
static stask each_tasks[2];

/* Task 0 spawns task 1 and holds its worker until task 1 started, so the
** other worker took it; then both call sched_each_worker at once. */
static run_result each_caller_fn(stask *s, sched_worker *w) {
  int me = s == &each_tasks[0] ? 0 : 1;
  for (int i = 0; i < NWORKERS; i++)
    if (vms[i].w == w) ew.caller[i] = &s->task;
  if (me == 0) sched_spawn(&each_tasks[1].task);
  atomic_fetch_add(&each_started, 1);
  double end = now() + 10;
  while (atomic_load(&each_started) < 2 && now() < end) {}
  sched_each_worker(each_fn, NULL);
  atomic_fetch_add(&each_done, 1);
  return RUN_DONE;
}

static void test_yield_progress(void) {
  double t0 = now();
  stask *y = calloc(1, sizeof *y);
  atomic_store(&chain_stop, 0);
  atomic_store(&yielder_done, 0);
  atomic_store(&chain_links, 0);
  y->fn = yielder_fn;
  sched_spawn(&y->task);
  double end = now() + 10;
  while (!atomic_load(&yielder_done) && now() < end) nap();
  if (!atomic_load(&yielder_done))
    fprintf(stderr, "yield progress: a yielding task got %d of 200 turns in 10 s "
            "while %ld new tasks ran\n", y->rounds, atomic_load(&chain_links));
  CHECK(atomic_load(&yielder_done));
  atomic_store(&chain_stop, 1);
  CHECK(wait_live_base(30));
  printf("  yield progress: 200 yields done while %ld chained tasks ran, %.2f s\n",
         atomic_load(&chain_links), now() - t0);
  free(y);
}

static void test_each_worker(void) {
  /* from an outside thread: once on every worker, on its own thread */
  each_reset();
  sched_each_worker(each_fn, NULL);
  for (int i = 0; i < NWORKERS; i++) CHECK(atomic_load(&ew.calls[i]) == 1);
  CHECK(atomic_load(&ew.wrong_thread) == 0);
  CHECK(atomic_load(&ew.served_calls) == NWORKERS);

  /* from two goroutines on different workers at once: each call must still
  ** run fn on every worker (each worker serves the other's request) */
  each_reset();
  atomic_store(&each_started, 0);
  atomic_store(&each_done, 0);
  memset(each_tasks, 0, sizeof each_tasks);
  each_tasks[0].fn = each_caller_fn;
  each_tasks[1].fn = each_caller_fn;
  sched_spawn(&each_tasks[0].task);
  double end = now() + 10;
  while (atomic_load(&each_done) < 2 && now() < end) nap();
  if (atomic_load(&each_done) < 2) {
    fprintf(stderr, "%s:%d: FAILED: two concurrent sched_each_worker calls from "
            "goroutines on different workers did not finish in 10 s (deadlock; "
            "%d of %d returned); stopping\n", __FILE__, __LINE__,
            atomic_load(&each_done), 2);
    exit(1);
  }
  CHECK(each_tasks[0].task.owner != each_tasks[1].task.owner);
  for (int i = 0; i < NWORKERS; i++) CHECK(atomic_load(&ew.calls[i]) == 2);
  /* at least each caller's own worker ran inline, within the caller */
  CHECK(atomic_load(&ew.inline_calls) >= 2);
  CHECK(atomic_load(&ew.inline_calls) + atomic_load(&ew.served_calls) == 2 * NWORKERS);
  CHECK(atomic_load(&ew.wrong_thread) == 0);
  CHECK(wait_live_base(30));
  printf("  sched_each_worker: outside and two concurrent goroutine calls ok\n");
}

int main(void) {
  harness_begin("test_sched");

  sched_init(&hooks);
  CHECK(sched_current() == NULL && sched_running() == NULL);
  CHECK(!sched_started());
  CHECK(sched_set_workers(NWORKERS));
  CHECK(sched_workers() == NWORKERS);

  printf("test_sched:\n");
  set_phase("test_spawn_storm");
  test_spawn_storm();
  /* Every worker starts with the first spawn, though on a loaded machine
  ** one may run its start hook after the storm is over. */
  for (double end = now() + 10; atomic_load(&workers_started) < NWORKERS && now() < end;)
    nap();
  CHECK(atomic_load(&workers_started) == NWORKERS);
  CHECK(!sched_set_workers(4));
  CHECK(sched_workers() == NWORKERS);
  set_phase("test_wake outside");
  test_wake(256, 200, false);
  set_phase("test_wake task");
  test_wake(256, 200, true);
  set_phase("test_yield_fairness");
  test_yield_fairness();
  set_phase("test_yield_progress");
  test_yield_progress();
  set_phase("test_preempt");
  test_preempt();
  set_phase("test_balance");
  test_balance();
  set_phase("test_each_worker");
  test_each_worker();
  CHECK(sched_current() == NULL && sched_running() == NULL);
  CHECK(sched_live() == 0);

  return harness_end();
}

/* test_chan.c: checks core/chan.c with the real scheduler: buffered FIFO,
** len/cap, non-blocking (task NULL) results, close semantics, drop at
** destroy, the parked-waiter paths (deterministically, with outside-thread
** tasks that are woken before they block), an outside-thread 4x4 stress run
** on unbuffered, cap-1 and cap-64 channels, close waking blocked receivers
** and senders, and goroutine-style tasks (C state machines run by a tiny run
** hook) doing ping-pong and a producer/consumer run with waitgroups.
** Exits 0 on success, 1 after any failure.
**
**   gcc -std=gnu11 -O2 -pthread core/sched.c core/deadlock.c core/schedworld.c core/preempt.c core/runq.c core/chan.c \
**       core/waitgroup.c spec/c/test_chan.c -luv -o t && ./t
**
** LUGO_TEST_SCALE (a divisor; default 1, 4 under ThreadSanitizer) shrinks
** the stress counts. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
#include "../../core/chan.h"
#include "../../core/object.h"
#include "../../core/scheduler.h"
#include "../../core/waitgroup.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under ThreadSanitizer (about 3x slower on the futex-heavy runs) the
** stress counts are divided by 4 to stay well under 10 s on 2 cores. */
static long scale;

/* ---- blocking helpers for outside threads ---------------------------- */

/* Sends from an outside thread; returns the status as a caller sees it:
** CHAN_OK or CHAN_CLOSED. *parked tells whether it had to wait;
** *parked_count (optional) counts it once queued. */
static chan_status send_blocking(chan *c, void *v, sched_thread_task *tt,
                                 atomic_int *parked_count, bool *parked) {
  waiter w;
  if (parked) *parked = false;
  chan_status st = chan_send(c, v, &tt->task, &w);
  if (st != CHAN_PARKED) return st;
  if (parked) *parked = true;
  block_on(tt, chan_unlock, c, parked_count);
  return w.success ? CHAN_OK : CHAN_CLOSED;
}

static chan_status recv_blocking(chan *c, void *out, sched_thread_task *tt,
                                 atomic_int *parked_count, bool *parked) {
  waiter w;
  if (parked) *parked = false;
  chan_status st = chan_recv(c, out, &tt->task, &w);
  if (st != CHAN_PARKED) return st;
  if (parked) *parked = true;
  block_on(tt, chan_unlock, c, parked_count);
  return w.success ? CHAN_OK : CHAN_CLOSED;
}

/* ---- drop callbacks ------------------------------------------------- */

static atomic_long drops, drop_sum;

static void drop_long(void *elem) {
  long v;
  memcpy(&v, elem, sizeof v);
  atomic_fetch_add(&drops, 1);
  atomic_fetch_add(&drop_sum, v);
}

static void reset_drops(void) {
  atomic_store(&drops, 0);
  atomic_store(&drop_sum, 0);
}

static chan_status send_l(chan *c, long v) { return chan_send(c, &v, NULL, NULL); }

static chan_status recv_l(chan *c, long *v) {
  *v = -999;
  return chan_recv(c, v, NULL, NULL);
}

/* ---- single thread -------------------------------------------------- */

static void test_buffered_fifo(void) {
  chan *c = chan_new(4, sizeof(long), drop_long);
  long v;
  CHECK(c != NULL);
  CHECK(chan_cap(c) == 4);
  CHECK(chan_len(c) == 0);
  CHECK(!chan_closed(c));
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);
  CHECK(v == -999);  /* out untouched */
  for (long i = 1; i <= 4; i++) {
    CHECK(send_l(c, i * 10) == CHAN_OK);
    CHECK(chan_len(c) == (size_t)i);
  }
  CHECK(send_l(c, 50) == CHAN_WOULDBLOCK);
  CHECK(chan_len(c) == 4);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 10);
  CHECK(send_l(c, 50) == CHAN_OK);  /* lands in the slot freed at the head */
  for (long i = 2; i <= 5; i++)
    CHECK(recv_l(c, &v) == CHAN_OK && v == i * 10);
  CHECK(chan_len(c) == 0);
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);
  /* many laps with a varying fill level: order must survive ring wrap */
  long in = 0, out = 0;
  for (int lap = 0; lap < 1000; lap++) {
    int puts = 1 + lap % 4, gets = 1 + (lap * 7) % 4;
    for (int k = 0; k < puts; k++) {
      chan_status st = send_l(c, in);
      if (chan_len(c) == 4 && st == CHAN_WOULDBLOCK) break;
      CHECK(st == CHAN_OK);
      in++;
    }
    CHECK(chan_len(c) == (size_t)(in - out));
    for (int k = 0; k < gets && out < in; k++) {
      CHECK(recv_l(c, &v) == CHAN_OK);
      CHECK(v == out);
      out++;
    }
  }
  while (out < in) {
    CHECK(recv_l(c, &v) == CHAN_OK && v == out);
    out++;
  }
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 0);  /* drained: nothing to drop */
}

static void test_unbuffered_nonblocking(void) {
  chan *c = chan_new(0, sizeof(long), drop_long);
  long v;
  CHECK(chan_cap(c) == 0);
  CHECK(chan_len(c) == 0);
  CHECK(send_l(c, 1) == CHAN_WOULDBLOCK);  /* nobody receiving */
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);  /* nobody sending */
  CHECK(chan_len(c) == 0);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(send_l(c, 1) == CHAN_CLOSED);
  CHECK(recv_l(c, &v) == CHAN_CLOSED);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 0);
}

static void test_close(void) {
  chan *c = chan_new(4, sizeof(long), drop_long);
  long v;
  sched_thread_task tt;
  waiter w;
  sched_thread_task_init(&tt);
  CHECK(send_l(c, 7) == CHAN_OK);
  CHECK(send_l(c, 8) == CHAN_OK);
  CHECK(send_l(c, 9) == CHAN_OK);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(chan_closed(c));
  CHECK(chan_close(c) == CHAN_CLOSED);  /* double close */
  /* send on closed: refused, value not taken, even with a task to park */
  CHECK(send_l(c, 10) == CHAN_CLOSED);
  v = 11;
  CHECK(chan_send(c, &v, &tt.task, &w) == CHAN_CLOSED);
  CHECK(chan_len(c) == 3);
  /* recv drains the buffer first, in order, then reports closed */
  CHECK(recv_l(c, &v) == CHAN_OK && v == 7);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 8);
  CHECK(chan_recv(c, &v, &tt.task, &w) == CHAN_OK && v == 9);
  CHECK(chan_len(c) == 0);
  CHECK(recv_l(c, &v) == CHAN_CLOSED);
  CHECK(chan_recv(c, &v, &tt.task, &w) == CHAN_CLOSED);  /* never parks */
  CHECK(recv_l(c, &v) == CHAN_CLOSED);
  CHECK(chan_close(c) == CHAN_CLOSED);
  CHECK(!tt.woken);
  sched_thread_task_destroy(&tt);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 0);
}

static void test_drop(void) {
  /* values still buffered at destroy are dropped, exactly those */
  chan *c = chan_new(8, sizeof(long), drop_long);
  for (long i = 1; i <= 5; i++) CHECK(send_l(c, i) == CHAN_OK);
  long v;
  CHECK(recv_l(c, &v) == CHAN_OK && v == 1);
  reset_drops();
  obj_retain((lugo_obj *)c);
  obj_release((lugo_obj *)c);  /* one reference left: not destroyed */
  CHECK(atomic_load(&drops) == 0);
  CHECK(chan_len(c) == 4);
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 4);
  CHECK(atomic_load(&drop_sum) == 2 + 3 + 4 + 5);

  /* a wrapped ring: recvx is past the start, the live values wrap around */
  c = chan_new(8, sizeof(long), drop_long);
  for (long i = 0; i < 8; i++) CHECK(send_l(c, 100 + i) == CHAN_OK);
  for (long i = 0; i < 5; i++) CHECK(recv_l(c, &v) == CHAN_OK && v == 100 + i);
  for (long i = 8; i < 11; i++) CHECK(send_l(c, 100 + i) == CHAN_OK);
  CHECK(chan_len(c) == 6);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 6);
  CHECK(atomic_load(&drop_sum) == 105 + 106 + 107 + 108 + 109 + 110);

  /* closed with values left: still dropped */
  c = chan_new(3, sizeof(long), drop_long);
  CHECK(send_l(c, 40) == CHAN_OK);
  CHECK(send_l(c, 2) == CHAN_OK);
  CHECK(chan_close(c) == CHAN_OK);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 2 && atomic_load(&drop_sum) == 42);
}

/* Parked-waiter paths, deterministic: outside-thread tasks of this very
** thread park, the channel lock is released by hand (as sched_block would),
** and another operation wakes them; sched_wake of a thread task only sets
** its flag, so sched_block then returns at once. */
static void test_waiters_single_thread(void) {
  sched_thread_task tt[3];
  waiter w[3];
  long got[3], v;
  for (int i = 0; i < 3; i++) sched_thread_task_init(&tt[i]);

  /* receiver waiting on an unbuffered channel: a send hands over directly */
  chan *c = chan_new(0, sizeof(long), drop_long);
  CHECK(chan_recv(c, &got[0], &tt[0].task, &w[0]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(!tt[0].woken);
  CHECK(send_l(c, 77) == CHAN_OK);
  CHECK(tt[0].woken && w[0].success && got[0] == 77);
  SETTLE(&tt[0]);
  CHECK(!tt[0].woken);
  CHECK(chan_len(c) == 0);

  /* three receivers are served in arrival order */
  for (int i = 0; i < 3; i++) {
    got[i] = -1;
    CHECK(chan_recv(c, &got[i], &tt[i].task, &w[i]) == CHAN_PARKED);
    chan_unlock(c);
  }
  for (long i = 0; i < 3; i++) CHECK(send_l(c, 500 + i) == CHAN_OK);
  for (int i = 0; i < 3; i++) {
    CHECK(tt[i].woken && w[i].success && got[i] == 500 + i);
    SETTLE(&tt[i]);
  }
  CHECK(send_l(c, 1) == CHAN_WOULDBLOCK);

  /* three senders on the unbuffered channel: received in arrival order,
  ** and the task-NULL receive does not need to wait */
  long sv[3] = {31, 32, 33};
  for (int i = 0; i < 3; i++) {
    CHECK(chan_send(c, &sv[i], &tt[i].task, &w[i]) == CHAN_PARKED);
    chan_unlock(c);
  }
  CHECK(chan_len(c) == 0);
  for (int i = 0; i < 3; i++) {
    CHECK(recv_l(c, &v) == CHAN_OK && v == 31 + i);
    CHECK(tt[i].woken && w[i].success);
    SETTLE(&tt[i]);
  }
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);

  /* close wakes a parked receiver and a parked sender with success false */
  got[0] = -5;
  CHECK(chan_recv(c, &got[0], &tt[0].task, &w[0]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(tt[0].woken && !w[0].success && got[0] == -5);
  SETTLE(&tt[0]);
  reset_drops();
  obj_release((lugo_obj *)c);

  c = chan_new(0, sizeof(long), drop_long);
  sv[0] = 123;
  CHECK(chan_send(c, &sv[0], &tt[0].task, &w[0]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(tt[0].woken && !w[0].success && sv[0] == 123);
  SETTLE(&tt[0]);
  CHECK(recv_l(c, &v) == CHAN_CLOSED);  /* the refused value is not queued */
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 0);

  /* sender waiting on a full buffer: a receive takes the head and moves the
  ** sender's value to the tail, so FIFO holds */
  c = chan_new(2, sizeof(long), drop_long);
  CHECK(send_l(c, 10) == CHAN_OK);
  CHECK(send_l(c, 20) == CHAN_OK);
  sv[0] = 30;
  sv[1] = 40;
  CHECK(chan_send(c, &sv[0], &tt[0].task, &w[0]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(chan_send(c, &sv[1], &tt[1].task, &w[1]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(chan_len(c) == 2);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 10);
  CHECK(tt[0].woken && w[0].success && !tt[1].woken);
  CHECK(chan_len(c) == 2);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 20);
  CHECK(tt[1].woken && w[1].success);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 30);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 40);
  CHECK(recv_l(c, &v) == CHAN_WOULDBLOCK);
  SETTLE(&tt[0]);
  SETTLE(&tt[1]);

  /* close of a full buffer with a parked sender: the sender is refused, the
  ** buffer still drains, and the refused value is never dropped */
  CHECK(send_l(c, 1) == CHAN_OK);
  CHECK(send_l(c, 2) == CHAN_OK);
  sv[0] = 1000;
  CHECK(chan_send(c, &sv[0], &tt[0].task, &w[0]) == CHAN_PARKED);
  chan_unlock(c);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(tt[0].woken && !w[0].success);
  SETTLE(&tt[0]);
  CHECK(chan_len(c) == 2);
  CHECK(recv_l(c, &v) == CHAN_OK && v == 1);
  reset_drops();
  obj_release((lugo_obj *)c);
  CHECK(atomic_load(&drops) == 1 && atomic_load(&drop_sum) == 2);

  for (int i = 0; i < 3; i++) sched_thread_task_destroy(&tt[i]);
}

/* ---- outside threads: 4 producers x 4 consumers --------------------- */

#define NPROD 4
#define NCONS 4

/* A value whose every byte is checked: a torn or stale copy shows. */
typedef struct msg {
  uint32_t producer;
  uint32_t seq;
  uint64_t check;
} msg;

static uint64_t msg_check(uint32_t p, uint32_t s) {
  uint64_t x = ((uint64_t)p << 32 | s) * 0x9E3779B97F4A7C15ull;
  return x ^ (x >> 29);
}

static struct {
  chan *c;
  long per_producer;
  atomic_uchar *seen;           /* per value: times received */
  atomic_long received, sum, bad, order_errors, parks;
} mt;

static void *producer_main(void *arg) {
  uint32_t p = (uint32_t)(uintptr_t)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  for (long s = 0; s < mt.per_producer; s++) {
    msg m = {p, (uint32_t)s, msg_check(p, (uint32_t)s)};
    bool parked;
    chan_status st = send_blocking(mt.c, &m, &tt, NULL, &parked);
    if (parked) atomic_fetch_add_explicit(&mt.parks, 1, memory_order_relaxed);
    if (st != CHAN_OK) {
      atomic_fetch_add(&mt.bad, 1);
      break;
    }
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void *consumer_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  long last[NPROD];
  for (int p = 0; p < NPROD; p++) last[p] = -1;
  sched_thread_task_init(&tt);
  for (;;) {
    msg m;
    memset(&m, 0xEE, sizeof m);
    bool parked;
    chan_status st = recv_blocking(mt.c, &m, &tt, NULL, &parked);
    if (parked) atomic_fetch_add_explicit(&mt.parks, 1, memory_order_relaxed);
    if (st == CHAN_CLOSED) break;
    if (st != CHAN_OK || m.producer >= NPROD ||
        m.seq >= (uint64_t)mt.per_producer ||
        m.check != msg_check(m.producer, m.seq)) {
      atomic_fetch_add(&mt.bad, 1);
      continue;
    }
    /* one producer's values reach any one consumer in send order */
    if ((long)m.seq <= last[m.producer]) atomic_fetch_add(&mt.order_errors, 1);
    last[m.producer] = m.seq;
    atomic_fetch_add(&mt.seen[m.producer * mt.per_producer + m.seq], 1);
    atomic_fetch_add(&mt.received, 1);
    atomic_fetch_add(&mt.sum, (long)m.producer * mt.per_producer + m.seq);
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_mpmc_threads(size_t cap, long total) {
  double t0 = now();
  mt.c = chan_new(cap, sizeof(msg), NULL);
  mt.per_producer = total / NPROD;
  total = mt.per_producer * NPROD;
  mt.seen = calloc((size_t)total, sizeof *mt.seen);
  atomic_store(&mt.received, 0);
  atomic_store(&mt.sum, 0);
  atomic_store(&mt.bad, 0);
  atomic_store(&mt.order_errors, 0);
  atomic_store(&mt.parks, 0);
  pthread_t prod[NPROD], cons[NCONS];
  for (int i = 0; i < NCONS; i++)
    CHECK(pthread_create(&cons[i], NULL, consumer_main, NULL) == 0);
  for (int i = 0; i < NPROD; i++)
    CHECK(pthread_create(&prod[i], NULL, producer_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NPROD; i++) pthread_join(prod[i], NULL);
  CHECK(chan_close(mt.c) == CHAN_OK);
  for (int i = 0; i < NCONS; i++) pthread_join(cons[i], NULL);

  CHECK(atomic_load(&mt.bad) == 0);
  CHECK(atomic_load(&mt.order_errors) == 0);
  CHECK(atomic_load(&mt.received) == total);
  CHECK(atomic_load(&mt.sum) == total * (total - 1) / 2);
  long wrong = 0;
  for (long i = 0; i < total; i++)
    if (atomic_load(&mt.seen[i]) != 1) wrong++;
  if (wrong) fprintf(stderr, "cap %zu: %ld values not received exactly once\n", cap, wrong);
  CHECK(wrong == 0);
  CHECK(chan_len(mt.c) == 0);
  /* unbuffered: every transfer pops a parked waiter, so one side of each
  ** value parked (the parked paths are what this run is about) */
  if (cap == 0) CHECK(atomic_load(&mt.parks) >= total);
  obj_release((lugo_obj *)mt.c);
  free(mt.seen);
  printf("  mpmc cap %-2zu: %ld values, %ld parks, %.2f s\n", cap, total,
         atomic_load(&mt.parks), now() - t0);
}

/* ---- outside threads: close wakes the blocked ----------------------- */

#define NBLOCKED 4

static struct {
  chan *c;
  bool send;                    /* block in send (else in recv) */
  atomic_int parked;
  atomic_int ok, closed, did_park, value_kept;
} cw;

static void *close_waiter_main(void *arg) {
  long mine = 9000 + (long)(uintptr_t)arg, v = -1;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  bool parked;
  chan_status st = cw.send
      ? send_blocking(cw.c, &mine, &tt, &cw.parked, &parked)
      : recv_blocking(cw.c, &v, &tt, &cw.parked, &parked);
  if (parked) atomic_fetch_add(&cw.did_park, 1);
  if (st == CHAN_CLOSED) atomic_fetch_add(&cw.closed, 1);
  if (st == CHAN_OK) atomic_fetch_add(&cw.ok, 1);
  if (cw.send ? mine == 9000 + (long)(uintptr_t)arg : v == -1)
    atomic_fetch_add(&cw.value_kept, 1);
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_close_wakes(size_t cap, bool send) {
  cw.c = chan_new(cap, sizeof(long), drop_long);
  cw.send = send;
  atomic_store(&cw.parked, 0);
  atomic_store(&cw.ok, 0);
  atomic_store(&cw.closed, 0);
  atomic_store(&cw.did_park, 0);
  atomic_store(&cw.value_kept, 0);
  if (send)
    for (size_t i = 0; i < cap; i++) CHECK(send_l(cw.c, (long)i + 1) == CHAN_OK);
  pthread_t th[NBLOCKED];
  for (int i = 0; i < NBLOCKED; i++)
    CHECK(pthread_create(&th[i], NULL, close_waiter_main, (void *)(uintptr_t)i) == 0);
  /* every thread is queued and has released the lock: now close */
  CHECK(wait_count(&cw.parked, NBLOCKED, 10));
  CHECK(chan_close(cw.c) == CHAN_OK);
  for (int i = 0; i < NBLOCKED; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&cw.did_park) == NBLOCKED);
  CHECK(atomic_load(&cw.closed) == NBLOCKED);
  CHECK(atomic_load(&cw.ok) == 0);
  CHECK(atomic_load(&cw.value_kept) == NBLOCKED);
  /* the buffer is intact and drains before the closed status */
  long v;
  CHECK(chan_len(cw.c) == (send ? cap : 0));
  for (size_t i = 0; send && i < cap; i++)
    CHECK(recv_l(cw.c, &v) == CHAN_OK && v == (long)i + 1);
  CHECK(recv_l(cw.c, &v) == CHAN_CLOSED);
  reset_drops();
  obj_release((lugo_obj *)cw.c);
  CHECK(atomic_load(&drops) == 0);  /* refused values are not the channel's */
}

/* ---- goroutine-style tasks ------------------------------------------ */

typedef struct gor gor;
struct gor {
  sched_task task;                         /* first member */
  run_result (*step)(gor *g, sched_worker *w);
  int state;
  waiter w;
  long i, n;
  long sendv, recvv;
  chan *in, *out, *done;
  waitgroup *wg, *wg2;
  int id;
  gor *partner;                            /* pinger: spawns it, cross mode */
  atomic_int started;
};

/* What each worker's "VM" is: checks the hook gets its own back. */
typedef struct vm_info {
  sched_worker *w;
  int index;
} vm_info;

static vm_info vms[16];
static atomic_int workers_started, owner_errors, ctx_errors, g_errors;

static void *hook_worker_start(sched_worker *w, int index) {
  if (index < 0 || index >= 16) abort();
  vms[index].w = w;
  vms[index].index = index;
  atomic_fetch_add(&workers_started, 1);
  return &vms[index];
}

static run_result hook_run(sched_worker *w, void *vm, sched_task *t) {
  gor *g = (gor *)t;
  if (((vm_info *)vm)->w != w) atomic_fetch_add(&ctx_errors, 1);
  if (t->owner == NULL) t->owner = w;
  else if (t->owner != w) atomic_fetch_add(&owner_errors, 1);
  if (sched_current() != w || sched_running() != t) atomic_fetch_add(&ctx_errors, 1);
  return g->step(g, w);
}

static const sched_hooks hooks = {.worker_start = hook_worker_start, .run = hook_run};

static run_result park_chan(gor *g, chan *c, int next_state) {
  g->state = next_state;
  g->task.unlock = chan_unlock;
  g->task.unlock_arg = c;
  return RUN_PARKED;
}

static run_result park_wg(gor *g, waitgroup *wg, int next_state) {
  g->state = next_state;
  g->task.unlock = waitgroup_unlock;
  g->task.unlock_arg = wg;
  return RUN_PARKED;
}

/* Pinger: sends i on out, expects 2i+1 back on in; n rounds; closes out;
** reports the round count on done (buffered). */
enum { P_SEND, P_SENT, P_RECV, P_GOT_PARKED, P_GOT, P_END, P_SPAWN };

static run_result pinger_step(gor *g, sched_worker *w) {
  (void)w;
  chan_status st;
  for (;;) {
    switch (g->state) {
      case P_SPAWN: {
        /* Cross-worker mode: spawn the partner into this worker's queue and
        ** hold the worker until the partner started: the other worker must
        ** have stolen it, so the two live on different workers. */
        sched_spawn(&g->partner->task);
        double end = now() + 10;
        while (!atomic_load(&g->partner->started) && now() < end) nap();
        if (!atomic_load(&g->partner->started)) atomic_fetch_add(&g_errors, 1);
        g->state = P_SEND;
        break;
      }
      case P_SEND:
        if (g->i == g->n) { g->state = P_END; break; }
        g->sendv = g->i;
        st = chan_send(g->out, &g->sendv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->out, P_SENT);
        if (st != CHAN_OK) atomic_fetch_add(&g_errors, 1);
        g->state = P_RECV;
        break;
      case P_SENT:
        if (!g->w.success) atomic_fetch_add(&g_errors, 1);
        g->state = P_RECV;
        break;
      case P_RECV:
        g->recvv = -1;
        st = chan_recv(g->in, &g->recvv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->in, P_GOT_PARKED);
        if (st != CHAN_OK) atomic_fetch_add(&g_errors, 1);
        g->state = P_GOT;
        break;
      case P_GOT_PARKED:
        if (!g->w.success) atomic_fetch_add(&g_errors, 1);
        g->state = P_GOT;
        break;
      case P_GOT:
        if (g->recvv != 2 * g->i + 1) atomic_fetch_add(&g_errors, 1);
        g->i++;
        g->state = P_SEND;
        if (g->i % 997 == 0) return RUN_YIELDED;  /* exercise requeueing */
        break;
      case P_END:
        CHECK(chan_close(g->out) == CHAN_OK);
        g->sendv = g->i;
        CHECK(chan_send(g->done, &g->sendv, NULL, NULL) == CHAN_OK);
        return RUN_DONE;
    }
  }
}

/* Ponger: receives v on in, answers 2v+1 on out, until in closes; then
** waitgroup_add(wg, -1). */
enum { Q_RECV, Q_GOT_PARKED, Q_SEND, Q_SENT, Q_END };

static run_result ponger_step(gor *g, sched_worker *w) {
  (void)w;
  chan_status st;
  atomic_store(&g->started, 1);
  for (;;) {
    switch (g->state) {
      case Q_RECV:
        st = chan_recv(g->in, &g->recvv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->in, Q_GOT_PARKED);
        g->state = st == CHAN_OK ? Q_SEND : Q_END;
        break;
      case Q_GOT_PARKED:
        g->state = g->w.success ? Q_SEND : Q_END;
        break;
      case Q_SEND:
        g->i++;
        g->sendv = 2 * g->recvv + 1;
        st = chan_send(g->out, &g->sendv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->out, Q_SENT);
        if (st != CHAN_OK) atomic_fetch_add(&g_errors, 1);
        g->state = Q_RECV;
        break;
      case Q_SENT:
        if (!g->w.success) atomic_fetch_add(&g_errors, 1);
        g->state = Q_RECV;
        break;
      case Q_END:
        CHECK(waitgroup_add(g->wg, -1));
        return RUN_DONE;
    }
  }
}

/* An outside thread waiting for a waitgroup. */
static void waitgroup_wait_blocking(waitgroup *wg) {
  sched_thread_task tt;
  waiter w;
  sched_thread_task_init(&tt);
  if (!waitgroup_wait(wg, &tt.task, &w)) {
    block_on(&tt, waitgroup_unlock, wg, NULL);
    CHECK(w.success);
  }
  CHECK(waitgroup_count(wg) == 0);
  sched_thread_task_destroy(&tt);
}

static void test_pingpong(long rounds, bool cross) {
  double t0 = now();
  chan *ab = chan_new(0, sizeof(long), NULL);
  chan *ba = chan_new(0, sizeof(long), NULL);
  chan *done = chan_new(1, sizeof(long), NULL);
  waitgroup *wg = waitgroup_new();
  gor *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  a->step = pinger_step;
  a->out = ab;
  a->in = ba;
  a->done = done;
  a->n = rounds;
  b->step = ponger_step;
  b->in = ab;
  b->out = ba;
  b->wg = wg;
  CHECK(waitgroup_add(wg, 1));
  atomic_store(&g_errors, 0);
  if (cross) {
    a->state = P_SPAWN;
    a->partner = b;
  } else {
    sched_spawn(&b->task);
  }
  sched_spawn(&a->task);
  CHECK(sched_started());

  /* the main thread waits on the done channel as an outside task */
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  long result = -1;
  bool parked;
  CHECK(recv_blocking(done, &result, &tt, NULL, &parked) == CHAN_OK);
  CHECK(result == rounds);
  sched_thread_task_destroy(&tt);
  waitgroup_wait_blocking(wg);
  CHECK(b->i == rounds);  /* ordered by the waitgroup wake */
  CHECK(wait_live_zero(30));
  CHECK(atomic_load(&g_errors) == 0);
  CHECK(chan_closed(ab) && !chan_closed(ba));
  CHECK(a->task.owner != NULL && b->task.owner != NULL);
  if (cross) CHECK(a->task.owner != b->task.owner);
  const char *where = a->task.owner == b->task.owner ? "same worker" : "two workers";
  obj_release((lugo_obj *)ab);
  obj_release((lugo_obj *)ba);
  obj_release((lugo_obj *)done);
  obj_release((lugo_obj *)wg);
  free(a);
  free(b);
  printf("  ping-pong (%s): %ld round trips, %.2f s\n", where, rounds, now() - t0);
}

/* Goroutine producers and consumers on one buffered channel; a closer
** goroutine waits (waitgroup_wait, parked) for the producers and closes it. */
#define GPROD 4
#define GCONS 4

static struct {
  long per_producer;
  atomic_uchar *seen;
  atomic_long received;
} gp;

enum { G_SEND, G_SENT, G_END };

static run_result gproducer_step(gor *g, sched_worker *w) {
  (void)w;
  for (;;) {
    switch (g->state) {
      case G_SEND: {
        if (g->i == g->n) { g->state = G_END; break; }
        g->sendv = g->id * gp.per_producer + g->i;
        chan_status st = chan_send(g->out, &g->sendv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->out, G_SENT);
        if (st != CHAN_OK) atomic_fetch_add(&g_errors, 1);
        g->i++;
        if (g->i % 64 == 0) return RUN_YIELDED;
        break;
      }
      case G_SENT:
        if (!g->w.success) atomic_fetch_add(&g_errors, 1);
        g->i++;
        g->state = G_SEND;
        break;
      case G_END:
        CHECK(waitgroup_add(g->wg, -1));
        return RUN_DONE;
    }
  }
}

enum { C_RECV, C_GOT_PARKED, C_END };

static void gconsume(long v) {
  if (v < 0 || v >= GPROD * gp.per_producer) {
    atomic_fetch_add(&g_errors, 1);
    return;
  }
  atomic_fetch_add(&gp.seen[v], 1);
  atomic_fetch_add(&gp.received, 1);
}

static run_result gconsumer_step(gor *g, sched_worker *w) {
  (void)w;
  for (;;) {
    switch (g->state) {
      case C_RECV: {
        chan_status st = chan_recv(g->in, &g->recvv, &g->task, &g->w);
        if (st == CHAN_PARKED) return park_chan(g, g->in, C_GOT_PARKED);
        if (st == CHAN_CLOSED) { g->state = C_END; break; }
        gconsume(g->recvv);
        break;
      }
      case C_GOT_PARKED:
        if (!g->w.success) { g->state = C_END; break; }
        gconsume(g->recvv);
        g->state = C_RECV;
        break;
      case C_END:
        CHECK(waitgroup_add(g->wg, -1));
        return RUN_DONE;
    }
  }
}

enum { K_WAIT, K_WOKEN };

static run_result gcloser_step(gor *g, sched_worker *w) {
  (void)w;
  switch (g->state) {
    case K_WAIT:
      if (!waitgroup_wait(g->wg, &g->task, &g->w)) return park_wg(g, g->wg, K_WOKEN);
      break;
    case K_WOKEN:
      if (!g->w.success) atomic_fetch_add(&g_errors, 1);
      break;
  }
  if (waitgroup_count(g->wg) != 0) atomic_fetch_add(&g_errors, 1);
  CHECK(chan_close(g->out) == CHAN_OK);
  CHECK(waitgroup_add(g->wg2, -1));
  return RUN_DONE;
}

static void test_goroutine_mpmc(size_t cap, long total) {
  double t0 = now();
  chan *c = chan_new(cap, sizeof(long), NULL);
  waitgroup *prod_wg = waitgroup_new(), *done_wg = waitgroup_new();
  gp.per_producer = total / GPROD;
  total = gp.per_producer * GPROD;
  gp.seen = calloc((size_t)total, sizeof *gp.seen);
  atomic_store(&gp.received, 0);
  atomic_store(&g_errors, 0);
  gor *gs = calloc(GPROD + GCONS + 1, sizeof *gs);
  CHECK(waitgroup_add(prod_wg, GPROD));
  CHECK(waitgroup_add(done_wg, GCONS + 1));
  /* consumers and the closer first, so they park on an empty channel */
  for (int i = 0; i < GCONS; i++) {
    gs[i].step = gconsumer_step;
    gs[i].in = c;
    gs[i].wg = done_wg;
    sched_spawn(&gs[i].task);
  }
  gor *closer = &gs[GCONS];
  closer->step = gcloser_step;
  closer->out = c;
  closer->wg = prod_wg;
  closer->wg2 = done_wg;
  sched_spawn(&closer->task);
  for (int i = 0; i < GPROD; i++) {
    gor *g = &gs[GCONS + 1 + i];
    g->step = gproducer_step;
    g->out = c;
    g->wg = prod_wg;
    g->id = i;
    g->n = gp.per_producer;
    sched_spawn(&g->task);
  }
  waitgroup_wait_blocking(done_wg);
  CHECK(wait_live_zero(30));
  CHECK(chan_closed(c));
  CHECK(atomic_load(&g_errors) == 0);
  CHECK(atomic_load(&gp.received) == total);
  long wrong = 0;
  for (long i = 0; i < total; i++)
    if (atomic_load(&gp.seen[i]) != 1) wrong++;
  CHECK(wrong == 0);
  for (int i = 0; i < GPROD; i++) CHECK(gs[GCONS + 1 + i].i == gp.per_producer);
  obj_release((lugo_obj *)c);
  obj_release((lugo_obj *)prod_wg);
  obj_release((lugo_obj *)done_wg);
  free(gs);
  free(gp.seen);
  printf("  goroutine mpmc cap %zu: %ld values, %.2f s\n", cap, total, now() - t0);
}

int main(void) {
  scale = test_scale(4);
  harness_begin("test_chan");

  printf("test_chan: single thread\n");
  set_phase("test_buffered_fifo");
  test_buffered_fifo();
  set_phase("test_unbuffered_nonblocking");
  test_unbuffered_nonblocking();
  set_phase("test_close");
  test_close();
  set_phase("test_drop");
  test_drop();
  set_phase("test_waiters_single_thread");
  test_waiters_single_thread();

  printf("test_chan: outside threads (stress counts / %ld)\n", scale);
  set_phase("test_mpmc_threads cap 0");
  test_mpmc_threads(0, 200000 / scale);
  set_phase("test_mpmc_threads cap 1");
  test_mpmc_threads(1, 200000 / scale);
  set_phase("test_mpmc_threads cap 64");
  test_mpmc_threads(64, 200000 / scale);
  set_phase("test_close_wakes cap 0 recv");
  test_close_wakes(0, false);
  set_phase("test_close_wakes cap 1 recv");
  test_close_wakes(1, false);
  set_phase("test_close_wakes cap 0 send");
  test_close_wakes(0, true);
  set_phase("test_close_wakes cap 1 send");
  test_close_wakes(1, true);
  set_phase("test_close_wakes cap 64 send");
  test_close_wakes(64, true);

  printf("test_chan: goroutine-style tasks\n");
  sched_init(&hooks);
  CHECK(!sched_started());
  CHECK(sched_set_workers(2));
  CHECK(sched_workers() == 2);
  set_phase("test_pingpong plain");
  test_pingpong(100000 / scale, false);
  set_phase("test_pingpong cross");
  test_pingpong(100000 / scale, true);
  CHECK(!sched_set_workers(3));  /* too late: workers run */
  CHECK(sched_workers() == 2);
  CHECK(atomic_load(&workers_started) == 2);
  set_phase("test_goroutine_mpmc cap 8");
  test_goroutine_mpmc(8, 40000 / scale);
  set_phase("test_goroutine_mpmc cap 0");
  test_goroutine_mpmc(0, 20000 / scale);
  CHECK(atomic_load(&owner_errors) == 0);
  CHECK(atomic_load(&ctx_errors) == 0);
  CHECK(sched_current() == NULL && sched_running() == NULL);

  return harness_end();
}

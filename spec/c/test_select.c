/* test_select.c: checks core/select.c with the real scheduler's outside
** thread tasks: non-blocking selects (task NULL: SEL_NONE, SEL_READY with
** receive, send, closed receive, send on closed), no cases, a random and
** even choice among ready cases, the parked paths (deterministically, with
** tasks of this thread woken before they block): woken by a send, by a
** receive, by a close (receive and send cases), the same channel in two
** cases, a send and a receive case on one channel, sel_cancel; then outside
** threads: a 4 senders x 4 receivers stress over 4 channels of mixed
** capacities (selecting senders and plain senders, receivers selecting with
** one channel in two cases), every value received exactly once; and a close
** waking selects parked on other threads.
** Exits 0 on success, 1 after any failure.
**
**   gcc -std=gnu11 -O2 -pthread core/sched.c core/deadlock.c core/schedworld.c core/preempt.c core/runq.c core/chan.c \
**       core/select.c core/waitgroup.c spec/c/test_select.c -luv -o t && ./t
**
** LUGO_TEST_SCALE (a divisor; default 1, 2 under ThreadSanitizer) shrinks
** the stress counts. */

/* Core headers first: a -Icore build would otherwise let the system
** <pthread.h> pick up core/scheduler.h as <sched.h>. */
#include "../../core/chan.h"
#include "../../core/object.h"
#include "../../core/scheduler.h"
#include "../../core/select.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long scale;

/* ---- a select with its memory ----------------------------------------- */

#define MAXCASES 8

typedef struct sel {
  sel_state s;
  sel_case cases[MAXCASES];
  chan *lockorder[MAXCASES];
  int pollorder[MAXCASES];
  long slots[MAXCASES];        /* receive slots */
  long values[MAXCASES];       /* values offered by send cases */
} sel;

static void sel_init(sel *x) {
  memset(x, 0, sizeof *x);
  x->s.cases = x->cases;
  x->s.lockorder = x->lockorder;
  x->s.pollorder = x->pollorder;
  x->s.n = 0;
}

static int add_recv(sel *x, chan *c) {
  int i = x->s.n++;
  x->cases[i].c = c;
  x->cases[i].dir = SEL_RECV;
  x->slots[i] = -999;
  x->cases[i].elem = &x->slots[i];
  return i;
}

static int add_send(sel *x, chan *c, long v) {
  int i = x->s.n++;
  x->cases[i].c = c;
  x->cases[i].dir = SEL_SEND;
  x->values[i] = v;
  x->cases[i].elem = &x->values[i];
  return i;
}

static unsigned rng_next(unsigned *r) {
  unsigned x = *r ? *r : 0x2545f491u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *r = x;
}

/* A blocking select from an outside thread; returns the chosen case and
** sets *ok. *parked (optional) tells whether it had to wait. */
static int select_blocking(sel *x, sched_thread_task *tt, unsigned *rng,
                           atomic_int *parked_count, bool *ok, bool *parked) {
  int chosen = -1;
  if (parked) *parked = false;
  sel_status st = sel_select(&x->s, &tt->task, rng_next(rng), &chosen, ok);
  if (st == SEL_READY) return chosen;
  CHECK(st == SEL_PARKED);
  if (parked) *parked = true;
  block_on(tt, sel_unlock, &x->s, parked_count);
  sel_finish(&x->s, &chosen, ok);
  return chosen;
}

/* Values left in a buffer at destroy are plain longs: nothing to free. */
static void drop_long(void *elem) { (void)elem; }

static chan_status send_l(chan *c, long v) { return chan_send(c, &v, NULL, NULL); }

static chan_status recv_l(chan *c, long *v) {
  *v = -999;
  return chan_recv(c, v, NULL, NULL);
}

/* ---- single thread: non-blocking ---------------------------------------- */

static void test_nonblocking(void) {
  chan *a = chan_new(0, sizeof(long), drop_long);
  chan *b = chan_new(2, sizeof(long), drop_long);
  sel x;
  int chosen;
  bool ok;
  long v;

  /* nothing ready: SEL_NONE, nothing moved */
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, b);
  add_send(&x, a, 5);
  chosen = 77;
  CHECK(sel_select(&x.s, NULL, 1, &chosen, &ok) == SEL_NONE);
  CHECK(chan_len(b) == 0);
  CHECK(x.slots[0] == -999 && x.slots[1] == -999);
  CHECK(recv_l(a, &v) == CHAN_WOULDBLOCK);   /* no waiter left behind */
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);

  /* no cases at all: SEL_NONE without a task */
  sel_init(&x);
  CHECK(sel_select(&x.s, NULL, 1, &chosen, &ok) == SEL_NONE);

  /* a ready receive */
  CHECK(send_l(b, 41) == CHAN_OK);
  sel_init(&x);
  add_recv(&x, a);
  int rb = add_recv(&x, b);
  CHECK(sel_select(&x.s, NULL, 2, &chosen, &ok) == SEL_READY);
  CHECK(chosen == rb && ok && x.slots[rb] == 41 && x.slots[0] == -999);
  CHECK(chan_len(b) == 0);

  /* a ready send */
  sel_init(&x);
  add_recv(&x, a);
  int sb = add_send(&x, b, 42);
  CHECK(sel_select(&x.s, NULL, 3, &chosen, &ok) == SEL_READY);
  CHECK(chosen == sb && ok);
  CHECK(chan_len(b) == 1);
  CHECK(recv_l(b, &v) == CHAN_OK && v == 42);

  /* exactly one of several ready cases is performed */
  unsigned r = 7;
  for (int k = 0; k < 200; k++) {
    chan *c[3];
    for (int i = 0; i < 3; i++) {
      c[i] = chan_new(1, sizeof(long), drop_long);
      CHECK(send_l(c[i], 100 + i) == CHAN_OK);
    }
    sel_init(&x);
    for (int i = 0; i < 3; i++) add_recv(&x, c[i]);
    CHECK(sel_select(&x.s, NULL, rng_next(&r), &chosen, &ok) == SEL_READY);
    CHECK(ok && chosen >= 0 && chosen < 3 && x.slots[chosen] == 100 + chosen);
    size_t left = chan_len(c[0]) + chan_len(c[1]) + chan_len(c[2]);
    CHECK(left == 2);
    CHECK(chan_len(c[chosen]) == 0);
    for (int i = 0; i < 3; i++) {
      if (i != chosen) CHECK(x.slots[i] == -999);
      obj_release((lugo_obj *)c[i]);
    }
  }

  /* closed: a receive reports ok false; a send is READY with ok false and
  ** the value is not taken */
  CHECK(chan_close(a) == CHAN_OK);
  sel_init(&x);
  add_recv(&x, a);
  CHECK(sel_select(&x.s, NULL, 4, &chosen, &ok) == SEL_READY);
  CHECK(chosen == 0 && !ok && x.slots[0] == -999);
  sel_init(&x);
  add_send(&x, a, 9);
  CHECK(sel_select(&x.s, NULL, 5, &chosen, &ok) == SEL_READY);
  CHECK(chosen == 0 && !ok);
  /* a closed send next to a case that is not ready: still chosen */
  chan *idle = chan_new(0, sizeof(long), drop_long);
  sel_init(&x);
  add_recv(&x, idle);
  add_send(&x, a, 9);
  CHECK(sel_select(&x.s, NULL, 6, &chosen, &ok) == SEL_READY);
  CHECK(chosen == 1 && !ok);

  /* the same channel twice, one value: taken once */
  CHECK(send_l(b, 7) == CHAN_OK);
  sel_init(&x);
  add_recv(&x, b);
  add_recv(&x, b);
  CHECK(sel_select(&x.s, NULL, 8, &chosen, &ok) == SEL_READY);
  CHECK(ok && x.slots[chosen] == 7 && x.slots[1 - chosen] == -999);
  CHECK(chan_len(b) == 0);
  /* a send and a receive on one buffered channel: only the ready one */
  sel_init(&x);
  add_recv(&x, b);
  int s1 = add_send(&x, b, 8);
  CHECK(sel_select(&x.s, NULL, 9, &chosen, &ok) == SEL_READY);
  CHECK(chosen == s1 && ok && chan_len(b) == 1);

  obj_release((lugo_obj *)a);
  obj_release((lugo_obj *)b);
  obj_release((lugo_obj *)idle);
}

/* Uniform choice: two always-ready cases, 10,000 selects, each 40%..60%;
** four ready cases, each 20%..30%. */
static void test_fairness(void) {
  chan *c[4];
  for (int i = 0; i < 4; i++) {
    c[i] = chan_new(0, sizeof(long), drop_long);
    chan_close(c[i]);
  }
  unsigned r = 12345;
  int count[4] = {0, 0, 0, 0};
  sel x;
  int chosen;
  bool ok;
  for (int k = 0; k < 10000; k++) {
    sel_init(&x);
    add_recv(&x, c[0]);
    add_recv(&x, c[1]);
    CHECK(sel_select(&x.s, NULL, rng_next(&r), &chosen, &ok) == SEL_READY);
    count[chosen]++;
  }
  printf("  two ready cases: %d / %d\n", count[0], count[1]);
  CHECK(count[0] >= 4000 && count[0] <= 6000);
  CHECK(count[1] >= 4000 && count[1] <= 6000);

  memset(count, 0, sizeof count);
  for (int k = 0; k < 10000; k++) {
    sel_init(&x);
    for (int i = 0; i < 4; i++) add_recv(&x, c[i]);
    CHECK(sel_select(&x.s, NULL, rng_next(&r), &chosen, &ok) == SEL_READY);
    count[chosen]++;
  }
  printf("  four ready cases: %d / %d / %d / %d\n", count[0], count[1], count[2], count[3]);
  for (int i = 0; i < 4; i++) CHECK(count[i] >= 2000 && count[i] <= 3000);

  /* two buffered channels kept full */
  chan *f[2] = {chan_new(1, sizeof(long), drop_long), chan_new(1, sizeof(long), drop_long)};
  CHECK(send_l(f[0], 0) == CHAN_OK);
  CHECK(send_l(f[1], 1) == CHAN_OK);
  memset(count, 0, sizeof count);
  for (int k = 0; k < 10000; k++) {
    sel_init(&x);
    add_recv(&x, f[0]);
    add_recv(&x, f[1]);
    CHECK(sel_select(&x.s, NULL, rng_next(&r), &chosen, &ok) == SEL_READY);
    CHECK(ok && x.slots[chosen] == chosen);
    count[chosen]++;
    CHECK(send_l(f[chosen], chosen) == CHAN_OK);
  }
  CHECK(count[0] >= 4000 && count[0] <= 6000);
  for (int i = 0; i < 4; i++) obj_release((lugo_obj *)c[i]);
  obj_release((lugo_obj *)f[0]);
  obj_release((lugo_obj *)f[1]);
}

/* ---- single thread: parked paths ---------------------------------------- */

/* Parks x for tt (which must have to wait) and releases the channel locks
** by hand, as sched_block would. */
static void park_here(sel *x, sched_thread_task *tt, unsigned rand) {
  int chosen = -1;
  bool ok;
  CHECK(sel_select(&x->s, &tt->task, rand, &chosen, &ok) == SEL_PARKED);
  sel_unlock(&x->s);
}

static void test_parked_single_thread(void) {
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  sel x;
  int chosen;
  bool ok;
  long v;
  chan *a = chan_new(0, sizeof(long), drop_long);
  chan *b = chan_new(0, sizeof(long), drop_long);

  /* woken by a send on the second case; the other waiter is removed */
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, b);
  park_here(&x, &tt, 1);
  CHECK(!tt.woken);
  CHECK(send_l(b, 55) == CHAN_OK);
  CHECK(tt.woken);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 1 && ok && x.slots[1] == 55 && x.slots[0] == -999);
  SETTLE(&tt);
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);   /* no stale receiver on a */
  CHECK(send_l(b, 1) == CHAN_WOULDBLOCK);

  /* woken by a receive: a send case fires */
  sel_init(&x);
  add_recv(&x, a);
  add_send(&x, b, 66);
  park_here(&x, &tt, 2);
  CHECK(recv_l(b, &v) == CHAN_OK && v == 66);
  CHECK(tt.woken);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 1 && ok);
  SETTLE(&tt);
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);
  CHECK(recv_l(b, &v) == CHAN_WOULDBLOCK);   /* no stale sender on b */

  /* a second waker finds nothing: the first one won */
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, b);
  park_here(&x, &tt, 3);
  CHECK(send_l(a, 10) == CHAN_OK);
  CHECK(send_l(b, 20) == CHAN_WOULDBLOCK);   /* b's waiter lost: skipped */
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 0 && ok && x.slots[0] == 10 && x.slots[1] == -999);
  SETTLE(&tt);

  /* the same channel in two cases: woken once, one value */
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, a);
  park_here(&x, &tt, 4);
  CHECK(send_l(a, 30) == CHAN_OK);
  CHECK(send_l(a, 31) == CHAN_WOULDBLOCK);   /* the twin waiter is dead */
  sel_finish(&x.s, &chosen, &ok);
  CHECK(ok && x.slots[chosen] == 30 && x.slots[1 - chosen] == -999);
  SETTLE(&tt);
  CHECK(send_l(a, 32) == CHAN_WOULDBLOCK);   /* and gone */

  /* a send and a receive case on one unbuffered channel: a plain sender
  ** meets the receive case, a plain receiver the send case */
  sel_init(&x);
  add_send(&x, a, 40);
  add_recv(&x, a);
  park_here(&x, &tt, 5);
  CHECK(send_l(a, 41) == CHAN_OK);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 1 && ok && x.slots[1] == 41);
  SETTLE(&tt);
  CHECK(recv_l(a, &v) == CHAN_WOULDBLOCK);   /* the offered 40 is gone */
  sel_init(&x);
  add_send(&x, a, 42);
  add_recv(&x, a);
  park_here(&x, &tt, 6);
  CHECK(recv_l(a, &v) == CHAN_OK && v == 42);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 0 && ok);
  SETTLE(&tt);
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);

  /* close wakes a parked receive case with ok false */
  chan *c = chan_new(0, sizeof(long), drop_long);
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, c);
  park_here(&x, &tt, 7);
  CHECK(chan_close(c) == CHAN_OK);
  CHECK(tt.woken);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 1 && !ok && x.slots[1] == -999);
  SETTLE(&tt);
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);
  obj_release((lugo_obj *)c);

  /* close wakes a parked send case with ok false (the caller raises) */
  c = chan_new(0, sizeof(long), drop_long);
  sel_init(&x);
  add_recv(&x, a);
  add_send(&x, c, 77);
  park_here(&x, &tt, 8);
  CHECK(chan_close(c) == CHAN_OK);
  sel_finish(&x.s, &chosen, &ok);
  CHECK(chosen == 1 && !ok);
  SETTLE(&tt);
  CHECK(recv_l(c, &v) == CHAN_CLOSED);       /* the value never went in */
  obj_release((lugo_obj *)c);

  /* close of a channel in two cases: one wake, either case */
  c = chan_new(0, sizeof(long), drop_long);
  sel_init(&x);
  add_recv(&x, c);
  add_recv(&x, c);
  park_here(&x, &tt, 9);
  CHECK(chan_close(c) == CHAN_OK);
  sel_finish(&x.s, &chosen, &ok);
  CHECK((chosen == 0 || chosen == 1) && !ok);
  SETTLE(&tt);
  obj_release((lugo_obj *)c);

  /* sel_cancel before anything fired: true, every waiter removed */
  sel_init(&x);
  add_recv(&x, a);
  add_send(&x, b, 5);
  park_here(&x, &tt, 10);
  CHECK(sel_cancel(&x.s, &chosen, &ok));
  CHECK(!tt.woken);
  CHECK(send_l(a, 1) == CHAN_WOULDBLOCK);
  CHECK(recv_l(b, &v) == CHAN_WOULDBLOCK);

  /* sel_cancel after a case fired: false, reports the winner */
  sel_init(&x);
  add_recv(&x, a);
  add_recv(&x, b);
  park_here(&x, &tt, 11);
  CHECK(send_l(b, 88) == CHAN_OK);
  CHECK(!sel_cancel(&x.s, &chosen, &ok));
  CHECK(chosen == 1 && ok && x.slots[1] == 88);
  SETTLE(&tt);

  /* no cases, with a task: parks for ever (nothing can wake it); cancel */
  sel_init(&x);
  CHECK(sel_select(&x.s, &tt.task, 12, &chosen, &ok) == SEL_PARKED);
  sel_unlock(&x.s);
  CHECK(sel_cancel(&x.s, &chosen, &ok));
  CHECK(!tt.woken);

  obj_release((lugo_obj *)a);
  obj_release((lugo_obj *)b);
  sched_thread_task_destroy(&tt);
}

/* ---- outside threads: stress ------------------------------------------ */

#define NCHAN 4
#define NSEND 4
#define NRECV 4

static struct {
  chan *c[NCHAN];
  long per_sender;
  atomic_uchar *seen;
  atomic_long received, sum, bad, parks, via[NCHAN];
} st;

/* Senders 0 and 1 select over a send case on every channel; senders 2 and
** 3 send plainly, round robin. */
static void *sender_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  unsigned rng = 0x1234567u * (unsigned)(id + 1);
  for (long i = 0; i < st.per_sender; i++) {
    long v = id * st.per_sender + i;
    if (id < 2) {
      sel x;
      sel_init(&x);
      for (int k = 0; k < NCHAN; k++) add_send(&x, st.c[k], v);
      bool ok, parked;
      int chosen = select_blocking(&x, &tt, &rng, NULL, &ok, &parked);
      if (parked) atomic_fetch_add_explicit(&st.parks, 1, memory_order_relaxed);
      if (chosen < 0 || !ok) atomic_fetch_add(&st.bad, 1);
    } else {
      chan *c = st.c[i % NCHAN];
      waiter w;
      chan_status s = chan_send(c, &v, &tt.task, &w);
      if (s == CHAN_PARKED) {
        block_on(&tt, chan_unlock, c, NULL);
        s = w.success ? CHAN_OK : CHAN_CLOSED;
        atomic_fetch_add_explicit(&st.parks, 1, memory_order_relaxed);
      }
      if (s != CHAN_OK) atomic_fetch_add(&st.bad, 1);
    }
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

/* Receivers select over every channel still open; channel 0 is in two
** cases. A closed channel's cases are dropped. */
static void *receiver_main(void *arg) {
  int id = (int)(uintptr_t)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  unsigned rng = 0x9abcdefu * (unsigned)(id + 1);
  bool open[NCHAN] = {true, true, true, true};
  int nopen = NCHAN;
  while (nopen > 0) {
    sel x;
    int chan_of[MAXCASES];
    sel_init(&x);
    for (int k = 0; k < NCHAN; k++) {
      if (!open[k]) continue;
      chan_of[add_recv(&x, st.c[k])] = k;
      if (k == 0) chan_of[add_recv(&x, st.c[k])] = k;
    }
    bool ok, parked;
    int chosen = select_blocking(&x, &tt, &rng, NULL, &ok, &parked);
    if (parked) atomic_fetch_add_explicit(&st.parks, 1, memory_order_relaxed);
    if (chosen < 0 || chosen >= x.s.n) {
      atomic_fetch_add(&st.bad, 1);
      break;
    }
    int k = chan_of[chosen];
    if (!ok) {
      open[k] = false;
      nopen--;
      continue;
    }
    long v = x.slots[chosen];
    if (v < 0 || v >= NSEND * st.per_sender) {
      atomic_fetch_add(&st.bad, 1);
      continue;
    }
    atomic_fetch_add(&st.seen[v], 1);
    atomic_fetch_add(&st.received, 1);
    atomic_fetch_add(&st.sum, v);
    atomic_fetch_add(&st.via[k], 1);
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_stress(long total) {
  double t0 = now();
  size_t caps[NCHAN] = {0, 1, 4, 32};
  for (int k = 0; k < NCHAN; k++) {
    st.c[k] = chan_new(caps[k], sizeof(long), drop_long);
    atomic_store(&st.via[k], 0);
  }
  st.per_sender = total / NSEND;
  total = st.per_sender * NSEND;
  st.seen = calloc((size_t)total, sizeof *st.seen);
  atomic_store(&st.received, 0);
  atomic_store(&st.sum, 0);
  atomic_store(&st.bad, 0);
  atomic_store(&st.parks, 0);
  pthread_t s[NSEND], r[NRECV];
  for (int i = 0; i < NRECV; i++)
    CHECK(pthread_create(&r[i], NULL, receiver_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NSEND; i++)
    CHECK(pthread_create(&s[i], NULL, sender_main, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NSEND; i++) pthread_join(s[i], NULL);
  for (int k = 0; k < NCHAN; k++) CHECK(chan_close(st.c[k]) == CHAN_OK);
  for (int i = 0; i < NRECV; i++) pthread_join(r[i], NULL);

  CHECK(atomic_load(&st.bad) == 0);
  CHECK(atomic_load(&st.received) == total);
  CHECK(atomic_load(&st.sum) == total * (total - 1) / 2);
  long wrong = 0;
  for (long i = 0; i < total; i++)
    if (atomic_load(&st.seen[i]) != 1) wrong++;
  if (wrong) fprintf(stderr, "stress: %ld values not received exactly once\n", wrong);
  CHECK(wrong == 0);
  for (int k = 0; k < NCHAN; k++) {
    CHECK(atomic_load(&st.via[k]) > 0);
    CHECK(chan_len(st.c[k]) == 0);
  }
  CHECK(atomic_load(&st.parks) > 0);
  for (int k = 0; k < NCHAN; k++) obj_release((lugo_obj *)st.c[k]);
  free(st.seen);
  printf("  stress: %ld values over %d channels, %ld parks, via %ld/%ld/%ld/%ld, %.2f s\n",
         total, NCHAN, atomic_load(&st.parks), atomic_load(&st.via[0]),
         atomic_load(&st.via[1]), atomic_load(&st.via[2]), atomic_load(&st.via[3]),
         now() - t0);
}

/* ---- outside threads: close wakes parked selects ------------------------ */

#define NWAIT 4

static struct {
  chan *idle, *idle2, *closing;   /* nobody sends on idle nor receives on idle2 */
  bool send;                       /* the closing channel's case is a send */
  atomic_int parked, did_park, right, ok_count;
} cw;

static void *close_waiter_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  unsigned rng = (unsigned)(uintptr_t)&tt;
  sel x;
  sel_init(&x);
  add_recv(&x, cw.idle);
  int k = cw.send ? add_send(&x, cw.closing, 5) : add_recv(&x, cw.closing);
  add_send(&x, cw.idle2, 6);
  bool ok, parked;
  int chosen = select_blocking(&x, &tt, &rng, &cw.parked, &ok, &parked);
  if (parked) atomic_fetch_add(&cw.did_park, 1);
  if (chosen == k) atomic_fetch_add(&cw.right, 1);
  if (ok) atomic_fetch_add(&cw.ok_count, 1);
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_close_wakes(bool send) {
  cw.idle = chan_new(0, sizeof(long), drop_long);
  cw.idle2 = chan_new(0, sizeof(long), drop_long);
  cw.closing = chan_new(0, sizeof(long), drop_long);
  cw.send = send;
  atomic_store(&cw.parked, 0);
  atomic_store(&cw.did_park, 0);
  atomic_store(&cw.right, 0);
  atomic_store(&cw.ok_count, 0);
  pthread_t th[NWAIT];
  for (int i = 0; i < NWAIT; i++)
    CHECK(pthread_create(&th[i], NULL, close_waiter_main, NULL) == 0);
  wait_count(&cw.parked, NWAIT, 10);
  CHECK(atomic_load(&cw.parked) == NWAIT);
  CHECK(chan_close(cw.closing) == CHAN_OK);
  for (int i = 0; i < NWAIT; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&cw.did_park) == NWAIT);
  CHECK(atomic_load(&cw.right) == NWAIT);
  CHECK(atomic_load(&cw.ok_count) == 0);
  long v;
  /* nobody is left waiting on the idle channels */
  CHECK(send_l(cw.idle, 1) == CHAN_WOULDBLOCK);
  CHECK(recv_l(cw.idle2, &v) == CHAN_WOULDBLOCK);
  obj_release((lugo_obj *)cw.idle);
  obj_release((lugo_obj *)cw.idle2);
  obj_release((lugo_obj *)cw.closing);
}

/* ---- outside threads: ping-pong between two selecting threads ---------- */

static struct {
  chan *a, *b, *quit;
  long rounds;
  atomic_long errors;
} pp;

/* Selects over receives on a and b and the quit channel; answers on the
** other channel of the one it received from, with plain sends. */
static void *echo_main(void *arg) {
  (void)arg;
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  unsigned rng = 99;
  for (;;) {
    sel x;
    sel_init(&x);
    add_recv(&x, pp.a);
    add_recv(&x, pp.quit);
    bool ok;
    int chosen = select_blocking(&x, &tt, &rng, NULL, &ok, NULL);
    if (chosen == 1) break;
    if (!ok) { atomic_fetch_add(&pp.errors, 1); break; }
    long v = x.slots[0] + 1;
    waiter w;
    chan_status s = chan_send(pp.b, &v, &tt.task, &w);
    if (s == CHAN_PARKED) {
      block_on(&tt, chan_unlock, pp.b, NULL);
      if (!w.success) atomic_fetch_add(&pp.errors, 1);
    } else if (s != CHAN_OK) {
      atomic_fetch_add(&pp.errors, 1);
    }
  }
  sched_thread_task_destroy(&tt);
  return NULL;
}

static void test_pingpong(long rounds) {
  double t0 = now();
  pp.a = chan_new(0, sizeof(long), drop_long);
  pp.b = chan_new(0, sizeof(long), drop_long);
  pp.quit = chan_new(0, sizeof(long), drop_long);
  atomic_store(&pp.errors, 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, echo_main, NULL) == 0);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  unsigned rng = 5;
  long v = 0;
  for (long i = 0; i < rounds; i++) {
    /* send v on a by select (with b's receive as a second, never-ready
    ** case), then receive the answer on b by select */
    sel x;
    sel_init(&x);
    add_send(&x, pp.a, v);
    add_recv(&x, pp.b);
    bool ok;
    int chosen = select_blocking(&x, &tt, &rng, NULL, &ok, NULL);
    CHECK(chosen == 0 && ok);
    sel_init(&x);
    add_recv(&x, pp.b);
    chosen = select_blocking(&x, &tt, &rng, NULL, &ok, NULL);
    CHECK(chosen == 0 && ok && x.slots[0] == v + 1);
    v = x.slots[0];
  }
  CHECK(v == rounds);
  CHECK(chan_close(pp.quit) == CHAN_OK);
  pthread_join(th, NULL);
  CHECK(atomic_load(&pp.errors) == 0);
  sched_thread_task_destroy(&tt);
  obj_release((lugo_obj *)pp.a);
  obj_release((lugo_obj *)pp.b);
  obj_release((lugo_obj *)pp.quit);
  printf("  select ping-pong: %ld rounds, %.2f s\n", rounds, now() - t0);
}

int main(void) {
  scale = test_scale(2);
  harness_begin("test_select");

  printf("test_select: single thread\n");
  set_phase("test_nonblocking");
  test_nonblocking();
  set_phase("test_fairness");
  test_fairness();
  set_phase("test_parked_single_thread");
  test_parked_single_thread();

  printf("test_select: outside threads (stress counts / %ld)\n", scale);
  set_phase("test_stress");
  test_stress(100000 / scale);
  set_phase("test_stress again");
  test_stress(20000 / scale);
  set_phase("test_close_wakes recv");
  test_close_wakes(false);
  set_phase("test_close_wakes send");
  test_close_wakes(true);
  set_phase("test_pingpong");
  test_pingpong(20000 / scale);

  return harness_end();
}

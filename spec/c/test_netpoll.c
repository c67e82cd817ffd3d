/* test_netpoll.c: checks core/netpoll.c with outside-thread tasks on a
** socketpair: readiness before and after a wait, a waiter woken by a poll
** from another thread, deadlines (future, past, changed), close waking
** waiters, cancel, and reuse of descriptors. */
#include "../../core/netpoll.h"
#include "../../core/scheduler.h"
#include "../../core/timer.h"
#include "../../core/waitq.h"

#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void socket_pair(int sv[2]) {
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  for (int i = 0; i < 2; i++) fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK);
}

/* Waits on dir of pd as an outside thread would; returns the result. */
static netpoll_status wait_on(netpoll_desc *pd, int dir) {
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter w;
  memset(&w, 0, sizeof w);
  netpoll_status st = netpoll_arm(pd, dir, &tt.task, &w);
  if (st == NETPOLL_PARKED) {
    tt.task.unlock = netpoll_unlock;
    tt.task.unlock_arg = pd;
    sched_block(&tt);
    st = netpoll_result(pd, dir, &w);
  }
  sched_thread_task_destroy(&tt);
  return st;
}

typedef struct waiting {
  netpoll_desc *pd;
  int dir;
  atomic_int done;
  netpoll_status result;
} waiting;

static void *wait_thread(void *arg) {
  waiting *w = arg;
  w->result = wait_on(w->pd, w->dir);
  atomic_store(&w->done, 1);
  return NULL;
}

/* Polls (as a worker would) until the waiter is done or 10 s pass. */
static void poll_until_done(waiting *w) {
  double until = now() + 10;
  while (!atomic_load(&w->done) && now() < until) netpoll_poll(10);
}

static void test_readiness(void) {
  set_phase("readiness");
  int sv[2];
  socket_pair(sv);
  netpoll_desc *pd = netpoll_open(sv[0]);
  CHECK(pd != NULL);
  CHECK(netpoll_active());
  /* Writable at once: the first poll reports it, no waiter: kept ready. */
  netpoll_poll(0);
  CHECK(wait_on(pd, NETPOLL_WRITE) == NETPOLL_READY);
  /* A reader parks; data from the peer and a poll from this thread wake it. */
  waiting w = {pd, NETPOLL_READ, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  nap();
  CHECK(write(sv[1], "x", 1) == 1);
  poll_until_done(&w);
  pthread_join(t, NULL);
  CHECK(w.result == NETPOLL_READY);
  char c;
  CHECK(read(sv[0], &c, 1) == 1 && c == 'x');
  /* Data before the wait: the readiness is kept for the next wait. */
  CHECK(write(sv[1], "y", 1) == 1);
  netpoll_poll(100);
  CHECK(wait_on(pd, NETPOLL_READ) == NETPOLL_READY);
  netpoll_close(pd);
  close(sv[0]);
  close(sv[1]);
}

static void test_deadlines(void) {
  set_phase("deadlines");
  int sv[2];
  socket_pair(sv);
  netpoll_desc *pd = netpoll_open(sv[0]);
  /* A past deadline fails the wait at once, until it changes. */
  netpoll_set_deadline(pd, NETPOLL_READ, timer_now() - 1);
  CHECK(wait_on(pd, NETPOLL_READ) == NETPOLL_TIMEOUT);
  CHECK(wait_on(pd, NETPOLL_READ) == NETPOLL_TIMEOUT);
  netpoll_set_deadline(pd, NETPOLL_READ, 0);
  /* A future one wakes a parked reader with TIMEOUT (the timer thread). */
  double t0 = now();
  netpoll_set_deadline(pd, NETPOLL_READ, timer_now() + 50000000ull);
  CHECK(wait_on(pd, NETPOLL_READ) == NETPOLL_TIMEOUT);
  CHECK(now() - t0 >= 0.049);
  /* Moved to the past while a reader waits: it wakes. */
  netpoll_set_deadline(pd, NETPOLL_READ, timer_now() + 60000000000ull);
  waiting w = {pd, NETPOLL_READ, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  nap();
  netpoll_set_deadline(pd, NETPOLL_READ, timer_now());
  poll_until_done(&w);
  pthread_join(t, NULL);
  CHECK(w.result == NETPOLL_TIMEOUT);
  /* The write direction is independent. */
  netpoll_poll(0);
  CHECK(wait_on(pd, NETPOLL_WRITE) == NETPOLL_READY);
  netpoll_close(pd);
  close(sv[0]);
  close(sv[1]);
}

static void test_close_and_cancel(void) {
  set_phase("close");
  int sv[2];
  socket_pair(sv);
  netpoll_desc *pd = netpoll_open(sv[0]);
  waiting w = {pd, NETPOLL_READ, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  nap();
  netpoll_close(pd);   /* wakes the reader */
  poll_until_done(&w);
  pthread_join(t, NULL);
  CHECK(w.result == NETPOLL_CLOSED);
  close(sv[0]);
  close(sv[1]);
  /* Cancel: a queued waiter is taken back; a woken one is not. */
  socket_pair(sv);
  pd = netpoll_open(sv[0]);
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  waiter wt;
  memset(&wt, 0, sizeof wt);
  CHECK(netpoll_arm(pd, NETPOLL_READ, &tt.task, &wt) == NETPOLL_PARKED);
  netpoll_unlock(pd);
  CHECK(netpoll_cancel(pd, &wt));
  CHECK(!netpoll_cancel(pd, &wt));
  sched_thread_task_destroy(&tt);
  /* Descriptors are reused: many opens and closes stay correct. */
  netpoll_close(pd);
  for (int i = 0; i < 1000; i++) {
    netpoll_desc *p = netpoll_open(sv[0]);
    CHECK(p != NULL);
    netpoll_close(p);
  }
  CHECK(!netpoll_active());
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  harness_begin("test_netpoll");
  sched_register_thread();
  test_readiness();
  test_deadlines();
  test_close_and_cancel();
  return harness_end();
}

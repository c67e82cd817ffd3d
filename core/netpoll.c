/* netpoll.c: the network poller. Invariants (under pd->mu): a direction
** has waiters or a pending readiness, never both; a closing descriptor has
** neither. Descriptors are never freed while the runtime runs, only reused,
** so an event taken for a descriptor since closed is harmless. */
#define _GNU_SOURCE 1
#include "netpoll.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "timer.h"

typedef struct np_dir {
  netpoll_desc *pd;
  waitq waiters;             /* parked goroutines; not counted blocked: */
  bool ready;                /* pending I/O can wake them (like a timer) */
  bool expired;              /* the deadline passed */
  uint64_t deadline;         /* 0: none */
  timer_entry timer;
} np_dir;

struct netpoll_desc {
  pthread_mutex_t mu;
  int fd;
  bool closing;
  np_dir dir[2];
  netpoll_desc *next_free;   /* under pool_mu */
  netpoll_desc *next_all;    /* every descriptor made, for shutdown */
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;  /* epfd, the pool */
static atomic_int epfd = -1;
static netpoll_desc *free_descs, *all_descs;
static atomic_int open_count;


bool netpoll_active(void) {
  return atomic_load_explicit(&open_count, memory_order_relaxed) > 0;
}

static int ensure_epoll(void) {
  int fd = atomic_load(&epfd);
  if (fd < 0) {
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd >= 0) atomic_store(&epfd, fd);
  }
  return fd;
}

int netpoll_init(void) {
  pthread_mutex_lock(&pool_mu);
  int fd = ensure_epoll();
  pthread_mutex_unlock(&pool_mu);
  return fd;
}

/* ---- waking ---- */

/* Takes every waiter of d with why; under pd->mu. */
static void take_waiters(np_dir *d, netpoll_status why, waiter **list) {
  waiter *w;
  while ((w = d->waiters.first) != NULL) {
    waitq_remove(&d->waiters, w);
    w->success = why == NETPOLL_READY;
    w->elem = (void *)(intptr_t)why;
    w->next = *list;
    *list = w;
  }
}

/* Wakes a list made by take_waiters; no lock held (rule 2). */
static void wake_list(waiter *list) {
  while (list) {
    waiter *next = list->next;
    sched_wake(list->task);
    list = next;
  }
}

static void deadline_fire(timer_entry *e) {
  np_dir *d = e->arg;
  netpoll_desc *pd = d->pd;
  waiter *woken = NULL;
  pthread_mutex_lock(&pd->mu);
  /* A firing for an older deadline, or a descriptor reused since: the
  ** deadline now in place decides. */
  if (d->deadline && d->deadline <= timer_now()) {
    d->expired = true;
    take_waiters(d, NETPOLL_TIMEOUT, &woken);
  }
  pthread_mutex_unlock(&pd->mu);
  wake_list(woken);
}

/* ---- descriptors ---- */

static netpoll_desc *new_desc(void) {
  netpoll_desc *pd = free_descs;
  if (pd) {
    free_descs = pd->next_free;
    return pd;
  }
  pd = calloc(1, sizeof *pd);
  if (!pd) return NULL;
  pthread_mutex_init(&pd->mu, NULL);
  for (int i = 0; i < 2; i++) {
    pd->dir[i].pd = pd;
    timer_entry_init(&pd->dir[i].timer, deadline_fire, &pd->dir[i]);
  }
  pd->next_all = all_descs;
  all_descs = pd;
  return pd;
}

netpoll_desc *netpoll_open(int fd) {
  pthread_mutex_lock(&pool_mu);
  int ep = ensure_epoll();
  netpoll_desc *pd = ep >= 0 ? new_desc() : NULL;
  pthread_mutex_unlock(&pool_mu);
  if (!pd) {
    if (ep >= 0) errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&pd->mu);
  pd->fd = fd;
  pd->closing = false;
  for (int i = 0; i < 2; i++) {
    pd->dir[i].ready = pd->dir[i].expired = false;
    pd->dir[i].deadline = 0;
  }
  pthread_mutex_unlock(&pd->mu);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = pd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    pthread_mutex_lock(&pool_mu);
    pd->next_free = free_descs;
    free_descs = pd;
    pthread_mutex_unlock(&pool_mu);
    errno = err;
    return NULL;
  }
  atomic_fetch_add(&open_count, 1);
  return pd;
}

void netpoll_evict(netpoll_desc *pd) {
  waiter *woken = NULL;
  pthread_mutex_lock(&pd->mu);
  pd->closing = true;
  for (int i = 0; i < 2; i++) {
    take_waiters(&pd->dir[i], NETPOLL_CLOSED, &woken);
    pd->dir[i].deadline = 0;
  }
  pthread_mutex_unlock(&pd->mu);
  wake_list(woken);
}

void netpoll_close(netpoll_desc *pd) {
  netpoll_evict(pd);
  pthread_mutex_lock(&pd->mu);
  int fd = pd->fd;
  pd->fd = -1;
  pthread_mutex_unlock(&pd->mu);
  for (int i = 0; i < 2; i++) timer_disarm(&pd->dir[i].timer);
  epoll_ctl(atomic_load(&epfd), EPOLL_CTL_DEL, fd, NULL);
  atomic_fetch_sub(&open_count, 1);
  pthread_mutex_lock(&pool_mu);
  pd->next_free = free_descs;
  free_descs = pd;
  pthread_mutex_unlock(&pool_mu);
}

/* ---- waiting ---- */

/* The state of dir before a wait; under pd->mu. */
static netpoll_status check_locked(netpoll_desc *pd, np_dir *d) {
  if (pd->closing) return NETPOLL_CLOSED;
  if (d->expired) return NETPOLL_TIMEOUT;
  if (d->ready) {
    d->ready = false;
    return NETPOLL_READY;
  }
  return NETPOLL_PARKED;
}

netpoll_status netpoll_check(netpoll_desc *pd, int dir) {
  pthread_mutex_lock(&pd->mu);
  netpoll_status st = check_locked(pd, &pd->dir[dir]);
  pthread_mutex_unlock(&pd->mu);
  return st;
}

netpoll_status netpoll_arm(netpoll_desc *pd, int dir, sched_task *task, waiter *w) {
  np_dir *d = &pd->dir[dir];
  pthread_mutex_lock(&pd->mu);
  netpoll_status st = check_locked(pd, d);
  if (st != NETPOLL_PARKED) {
    pthread_mutex_unlock(&pd->mu);
    return st;
  }
  /* Not sched_blocked: pending I/O can still wake it, as a timer can. */
  w->task = task;
  w->elem = (void *)(intptr_t)NETPOLL_PARKED;
  w->success = false;
  w->fired = false;
  w->sel_done = NULL;
  waitq_push(&d->waiters, w);
  return NETPOLL_PARKED;
}

netpoll_status netpoll_result(netpoll_desc *pd, int dir, waiter *w) {
  (void)pd; (void)dir;
  return (netpoll_status)(intptr_t)w->elem;
}

void netpoll_unlock(void *pd) {
  pthread_mutex_unlock(&((netpoll_desc *)pd)->mu);
}

bool netpoll_cancel(void *obj, waiter *w) {
  netpoll_desc *pd = obj;
  pthread_mutex_lock(&pd->mu);
  bool queued = w->q != NULL;
  if (queued) waitq_remove(w->q, w);
  pthread_mutex_unlock(&pd->mu);
  return queued;
}

void netpoll_set_deadline(netpoll_desc *pd, int dir, uint64_t deadline) {
  np_dir *d = &pd->dir[dir];
  waiter *woken = NULL;
  pthread_mutex_lock(&pd->mu);
  d->deadline = deadline;
  d->expired = deadline != 0 && deadline <= timer_now();
  if (d->expired) take_waiters(d, NETPOLL_TIMEOUT, &woken);
  bool arm = deadline != 0 && !d->expired;
  pthread_mutex_unlock(&pd->mu);
  wake_list(woken);
  if (arm) timer_arm(&d->timer, deadline);
  else timer_disarm(&d->timer);
}

/* ---- polling ---- */

#define POLL_BATCH 128

int netpoll_poll(int timeout_ms) {
  int ep = atomic_load(&epfd);
  if (ep < 0) return 0;
  struct epoll_event events[POLL_BATCH];
  int n = epoll_wait(ep, events, POLL_BATCH, timeout_ms);
  int woke = 0;
  for (int i = 0; i < n; i++) {
    netpoll_desc *pd = events[i].data.ptr;
    uint32_t ev = events[i].events;
    bool readable = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool writable = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    waiter *woken = NULL;
    pthread_mutex_lock(&pd->mu);
    if (!pd->closing) {
      for (int dir = 0; dir < 2; dir++) {
        if (!(dir == NETPOLL_READ ? readable : writable)) continue;
        np_dir *d = &pd->dir[dir];
        if (d->waiters.first) take_waiters(d, NETPOLL_READY, &woken);
        else d->ready = true;
      }
    }
    pthread_mutex_unlock(&pd->mu);
    for (waiter *w = woken; w; w = w->next) woke++;
    wake_list(woken);
  }
  return woke;
}

void netpoll_shutdown(void) {
  pthread_mutex_lock(&pool_mu);
  while (all_descs) {
    netpoll_desc *pd = all_descs;
    all_descs = pd->next_all;
    pthread_mutex_destroy(&pd->mu);
    free(pd);
  }
  free_descs = NULL;
  int fd = atomic_exchange(&epfd, -1);
  if (fd >= 0) close(fd);
  pthread_mutex_unlock(&pool_mu);
}

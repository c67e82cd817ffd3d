/* netpoll.c: the network poller. Invariants (under pd->mu): a direction
** has waiters or a pending readiness, never both; a closing descriptor has
** neither. Descriptors are never freed while the runtime runs, only reused,
** so an event taken for a descriptor since closed is harmless.
**
** Poll sets: one epoll instance per worker and a shared one. A descriptor
** is registered in the set of the worker that opened it (an accepted
** connection: the worker whose goroutine accepted it, where its handler
** starts), or in the shared set when opened outside the workers, and moves
** to the set of the worker whose goroutine waits on it (follow_waiter); a
** listener is in every set, so that any idle worker sees a connection come.
** A parked worker watches its own set and the shared one, so an event wakes
** only the worker that owns its waiters; a worker out of work and the
** monitor poll every set, for a worker kept busy. Any set's poll wakes any
** waiter. */
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

#include "scheduler.h"
#include "timer.h"

typedef struct np_dir {
  netpoll_desc *pd;
  waitq waiters;             /* parked goroutines; not counted blocked: */
  bool ready;                /* pending I/O can wake them (like a timer) */
  bool expired;              /* the deadline passed */
  uint64_t deadline;         /* 0: none */
  timer_entry timer;
} np_dir;

/* Set numbers: SHARED_SET, or 1 + a worker's index. */
#define SHARED_SET 0
#define MAX_SETS (1 + 1024)   /* the scheduler's MAX_WORKERS, and the shared set */
#define EVERY_SET (-1)        /* a listener's: registered in every set made */

struct netpoll_desc {
  pthread_mutex_t mu;
  int fd;
  int set;                   /* where fd is registered (under mu): a set number, or EVERY_SET */
  bool closing;
  np_dir dir[2];
  netpoll_desc *next_free;   /* under pool_mu */
  netpoll_desc *next_all;    /* every descriptor made, for shutdown */
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;  /* making sets, the pool */
static atomic_int set_fd[MAX_SETS];   /* epoll fd + 1 (0: not made yet) */
static atomic_int sets_end;           /* 1 + the highest set number made */
static netpoll_desc *free_descs, *all_descs;
static atomic_int open_count;


bool netpoll_active(void) {
  return atomic_load_explicit(&open_count, memory_order_relaxed) > 0;
}

/* The epoll fd of set, made if needed; -1 if it cannot be. Under pool_mu. */
static int ensure_set(int set) {
  int fd = atomic_load(&set_fd[set]) - 1;
  if (fd < 0) {
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd >= 0) {
      atomic_store(&set_fd[set], fd + 1);
      if (atomic_load(&sets_end) <= set) atomic_store(&sets_end, set + 1);
    }
  }
  return fd;
}

int netpoll_set_fd(int worker) {
  if (worker >= MAX_SETS - 1) return -1;
  pthread_mutex_lock(&pool_mu);
  int fd = ensure_set(worker < 0 ? SHARED_SET : 1 + worker);
  pthread_mutex_unlock(&pool_mu);
  return fd;
}

/* The set of the calling thread: its worker's, else the shared one. */
static int caller_set(void) {
  int worker = sched_current_index();
  return worker >= 0 && worker < MAX_SETS - 1 ? 1 + worker : SHARED_SET;
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

/* Adds or removes (op) fd of pd in set (or every set); 0 or an errno value. */
static int update_sets(netpoll_desc *pd, int fd, int set, int op) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = pd};
  if (set != EVERY_SET)
    return epoll_ctl(atomic_load(&set_fd[set]) - 1, op, fd, &ev) == 0 ? 0 : errno;
  for (int set = 0, end = atomic_load(&sets_end); set < end; set++) {
    int ep = atomic_load(&set_fd[set]) - 1;
    if (ep >= 0 && epoll_ctl(ep, op, fd, &ev) != 0 && op == EPOLL_CTL_ADD) {
      int err = errno;
      for (int done = 0; done < set; done++)
        if (atomic_load(&set_fd[done]) > 0) epoll_ctl(atomic_load(&set_fd[done]) - 1, EPOLL_CTL_DEL, fd, NULL);
      return err;
    }
  }
  return 0;
}

static netpoll_desc *open_in(int fd, int set) {
  pthread_mutex_lock(&pool_mu);
  int ep = ensure_set(set == EVERY_SET ? SHARED_SET : set);
  netpoll_desc *pd = ep >= 0 ? new_desc() : NULL;
  pthread_mutex_unlock(&pool_mu);
  if (!pd) {
    if (ep >= 0) errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&pd->mu);
  pd->fd = fd;
  pd->set = set;
  pd->closing = false;
  for (int i = 0; i < 2; i++) {
    pd->dir[i].ready = pd->dir[i].expired = false;
    pd->dir[i].deadline = 0;
  }
  pthread_mutex_unlock(&pd->mu);
  int err = update_sets(pd, fd, set, EPOLL_CTL_ADD);
  if (err) {
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

netpoll_desc *netpoll_open(int fd) {
  return open_in(fd, caller_set());
}

netpoll_desc *netpoll_open_everywhere(int fd) {
  return open_in(fd, EVERY_SET);
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
  int fd = pd->fd, set = pd->set;
  pd->fd = -1;
  pthread_mutex_unlock(&pd->mu);
  for (int i = 0; i < 2; i++) timer_disarm(&pd->dir[i].timer);
  update_sets(pd, fd, set, EPOLL_CTL_DEL);
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

/* A socket's events go to the poll set of the worker whose goroutine last
** waited to read it; under pd->mu. A connection made on one worker and
** read by a goroutine of another would else wake its reader only when the
** first polls: if that one runs a goroutine that computes, at the
** monitor's next time slice. Readers only: a reader and a writer waiting
** on two workers would move it back and forth (writes rarely wait; the
** reader's worker wakes the writer). The move is two system calls, made
** only when the reader's worker changes; the new registration reports the
** socket's readiness at once (epoll does for an added fd), so nothing
** that came meanwhile is missed, and an event the old set's poller took
** already only wakes a waiter to try again. */
static void follow_waiter(netpoll_desc *pd) {
  int set = caller_set();
  if (pd->set == EVERY_SET || set == SHARED_SET || set == pd->set) return;
  /* The caller's worker made its set as it started. */
  if (atomic_load(&set_fd[set]) == 0 || update_sets(pd, pd->fd, set, EPOLL_CTL_ADD) != 0) return;
  update_sets(pd, pd->fd, pd->set, EPOLL_CTL_DEL);
  pd->set = set;
}

netpoll_status netpoll_arm(netpoll_desc *pd, int dir, sched_task *task, waiter *w) {
  np_dir *d = &pd->dir[dir];
  pthread_mutex_lock(&pd->mu);
  netpoll_status st = check_locked(pd, d);
  if (st != NETPOLL_PARKED) {
    pthread_mutex_unlock(&pd->mu);
    return st;
  }
  if (dir == NETPOLL_READ) follow_waiter(pd);
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

/* Takes set's ready events and wakes their waiters; waits up to timeout_ms. */
static int poll_set(int set, int timeout_ms) {
  int ep = atomic_load(&set_fd[set]) - 1;
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

int netpoll_poll(int timeout_ms) {
  int woke = 0;
  for (int set = 1, end = atomic_load(&sets_end); set < end; set++) woke += poll_set(set, 0);
  return woke + poll_set(SHARED_SET, woke ? 0 : timeout_ms);
}

int netpoll_poll_worker(int worker) {
  return poll_set(1 + worker, 0) + poll_set(SHARED_SET, 0);
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
  for (int set = 0, end = atomic_load(&sets_end); set < end; set++) {
    int fd = atomic_exchange(&set_fd[set], 0) - 1;
    if (fd >= 0) close(fd);
  }
  atomic_store(&sets_end, 0);
  pthread_mutex_unlock(&pool_mu);
}

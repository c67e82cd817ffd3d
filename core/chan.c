/* chan.c: channel state and the send/receive/close algorithms of chan.go.
** Invariants (under mu): at least one of sendq and recvq is empty; a waiting
** receiver implies an empty buffer; a waiting sender implies a full one. */
#define _GNU_SOURCE 1   /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "chan.h"
#include "chan_impl.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void chan_destroy(lugo_obj *o) {
  chan *c = (chan *)o;
  for (size_t i = 0; c->drop && i < c->count; i++)
    c->drop(buffer_at(c, i));
  if (c->pollfd >= 0) close(c->pollfd);
  pthread_mutex_destroy(&c->mu);
  free(c->buf);
  free(c);
}

chan *chan_new(size_t cap, size_t elemsize, void (*drop)(void *elem)) {
  if (elemsize && cap > SIZE_MAX / elemsize) return NULL;
  chan *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (cap > 0 && !(c->buf = malloc(cap * elemsize))) {
    free(c);
    return NULL;
  }
  obj_init(&c->obj, OBJ_CHAN, chan_destroy);
  /* Adaptive: a contended lock spins a moment before it sleeps. Held for
  ** a few dozen instructions, it is usually free by then: sleeping costs
  ** two system calls (measured with bench/host-send: a C thread and a
  ** goroutine on one channel, 1.6 s -> see bench/RESULTS.md). */
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&c->mu, &attr);
  pthread_mutexattr_destroy(&attr);
  c->cap = cap;
  c->elemsize = elemsize;
  c->drop = drop;
  c->pollfd = -1;
  return c;
}

void chan_unlock(void *c) {
  chan_release(c);   /* a sender that parked makes the channel readable */
}

/* Readable: a value buffered, a sender waiting (a select's sender whose
** select took another case may show so until it dequeues), or closed. */
void chan_poll_update(chan *c) {
  bool readable = c->count > 0 || c->closed || c->sendq.first != NULL;
  if (readable == c->poll_readable) return;
  c->poll_readable = readable;
  uint64_t one = 1;
  ssize_t n = readable ? write(c->pollfd, &one, sizeof one)
                       : read(c->pollfd, &one, sizeof one);
  (void)n;   /* a non-blocking eventfd of ours: 1 <-> 0 cannot fail */
}

int chan_pollfd(chan *c) {
  pthread_mutex_lock(&c->mu);
  if (c->pollfd < 0) {
    c->pollfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->poll_readable = false;
  }
  int fd = c->pollfd;
  chan_release(c);
  return fd;
}

/* Wakes the waiter a locked operation completed, once the lock is gone. */
static void wake(waiter *w) {
  if (w) sched_wake(w->task);
}

chan_status chan_trysend_locked(chan *c, void *elem, waiter **woken) {
  *woken = NULL;
  if (c->closed) return CHAN_CLOSED;
  waiter *r = waitq_pop(&c->recvq);
  if (r) {
    /* Hand the value straight to the waiting receiver. */
    memcpy(r->elem, elem, c->elemsize);
    r->success = true;
    *woken = r;
    return CHAN_OK;
  }
  if (c->count < c->cap) {
    memcpy(buffer_at(c, c->count), elem, c->elemsize);
    c->count++;
    return CHAN_OK;
  }
  return CHAN_WOULDBLOCK;
}

chan_status chan_tryrecv_locked(chan *c, void *out, waiter **woken) {
  *woken = NULL;
  waiter *s = waitq_pop(&c->sendq);
  if (s) {
    if (c->cap == 0) {
      memcpy(out, s->elem, c->elemsize);
    } else {
      /* Full buffer: take its head, put the sender's value at its tail. */
      unsigned char *head = buffer_at(c, 0);
      memcpy(out, head, c->elemsize);
      memcpy(head, s->elem, c->elemsize);
      c->recvx = (c->recvx + 1) % c->cap;
    }
    s->success = true;
    *woken = s;
    return CHAN_OK;
  }
  if (c->count > 0) {
    memcpy(out, buffer_at(c, 0), c->elemsize);
    c->recvx = (c->recvx + 1) % c->cap;
    c->count--;
    return CHAN_OK;
  }
  return c->closed ? CHAN_CLOSED : CHAN_WOULDBLOCK;
}

chan_status chan_send(chan *c, void *elem, sched_task *task, waiter *w) {
  waiter *woken;
  pthread_mutex_lock(&c->mu);
  chan_status st = chan_trysend_locked(c, elem, &woken);
  if (st == CHAN_WOULDBLOCK && task) {
    waitq_park(&c->sendq, w, task, elem);
    return CHAN_PARKED;
  }
  chan_release(c);
  wake(woken);
  return st;
}

chan_status chan_recv(chan *c, void *out, sched_task *task, waiter *w) {
  waiter *woken;
  pthread_mutex_lock(&c->mu);
  chan_status st = chan_tryrecv_locked(c, out, &woken);
  if (st == CHAN_WOULDBLOCK && task) {
    waitq_park(&c->recvq, w, task, out);
    return CHAN_PARKED;
  }
  chan_release(c);
  wake(woken);
  return st;
}

chan_status chan_close(chan *c) {
  pthread_mutex_lock(&c->mu);
  if (c->closed) {
    pthread_mutex_unlock(&c->mu);
    return CHAN_CLOSED;
  }
  c->closed = true;
  /* Collect every waiter under the lock, wake them after it
  ** (docs/architecture.md, rule 2). */
  waiter *woken = NULL;
  waitq_collect(&c->recvq, &woken, false);
  waitq_collect(&c->sendq, &woken, false);
  chan_release(c);
  waitq_wake_list(woken);
  return CHAN_OK;
}

bool chan_cancel(void *obj, waiter *w) {
  chan *c = obj;
  pthread_mutex_lock(&c->mu);
  bool queued = waitq_cancel(w);   /* waitq_give_up, and the pollfd */
  if (queued) sched_unblocked(w->task);
  chan_release(c);
  return queued;
}

size_t chan_len(chan *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->count;
  pthread_mutex_unlock(&c->mu);
  return n;
}

size_t chan_cap(chan *c) {
  return c->cap;
}

size_t chan_elemsize(chan *c) {
  return c->elemsize;
}

void chan_drop_elem(chan *c, void *elem) {
  if (c->drop) c->drop(elem);
}

bool chan_closed(chan *c) {
  pthread_mutex_lock(&c->mu);
  bool closed = c->closed;
  pthread_mutex_unlock(&c->mu);
  return closed;
}

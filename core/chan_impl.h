/* chan_impl.h: the channel record, shared by chan.c and select.c only
** (core-internal: bindings never include it). */
#ifndef LUGO_CHAN_IMPL_H
#define LUGO_CHAN_IMPL_H

#include <pthread.h>
#include "chan.h"

struct chan {
  lugo_obj obj;
  pthread_mutex_t mu;       /* guards count, recvx, buf, closed and the queues */
  size_t cap, elemsize;     /* fixed at creation */
  size_t count;             /* values in buf */
  size_t recvx;             /* next slot to receive from */
  unsigned char *buf;       /* cap * elemsize bytes, ring */
  bool closed;
  waitq recvq, sendq;
  void (*drop)(void *elem);   /* fixed at creation */
  int pollfd;               /* eventfd for chan_pollfd, or -1; set once, under mu */
  bool poll_readable;       /* under mu: pollfd's counter is 1 */
};

/* With c->mu held: makes pollfd readable exactly while a receive would
** succeed (chan_pollfd). */
void chan_poll_update(chan *c);

/* Releases c->mu. Every unlock after a change goes through here, so that a
** channel with a pollfd keeps it current. */
static inline void chan_release(chan *c) {
  if (c->pollfd >= 0) chan_poll_update(c);
  pthread_mutex_unlock(&c->mu);
}

/* Address of the i-th buffered value (0: the next to receive). */
static inline unsigned char *buffer_at(chan *c, size_t i) {
  return c->buf + ((c->recvx + i) % c->cap) * c->elemsize;
}

/* With c->mu held: try to send (recv) without waiting. On CHAN_OK,
** *woken is a waiter to sched_wake once every lock is released, or NULL. */
chan_status chan_trysend_locked(chan *c, void *elem, waiter **woken);
chan_status chan_tryrecv_locked(chan *c, void *out, waiter **woken);

#endif

/* chan.h: channels, after Go's runtime/chan.go. Values are opaque blobs of
** elemsize bytes that the channel moves with memcpy and never interprets. */
#ifndef LUGO_CHAN_H
#define LUGO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include "object.h"
#include "waitq.h"

typedef struct chan chan;

typedef enum chan_status {
  CHAN_OK,          /* the value moved */
  CHAN_CLOSED,      /* send: channel closed (value not taken); recv: closed and drained */
  CHAN_WOULDBLOCK,  /* no task given and the operation would have to wait */
  CHAN_PARKED       /* waiter queued; the channel lock is HELD: park with chan_unlock */
} chan_status;

/* New channel with one reference, or NULL when out of memory. drop frees a
** value left in the buffer when the channel is destroyed. */
chan *chan_new(size_t cap, size_t elemsize, void (*drop)(void *elem));

/* Sends the elemsize bytes at elem. On CHAN_OK the channel owns them; on
** CHAN_CLOSED the caller keeps them. With task NULL it never waits. On
** CHAN_PARKED the caller parks task (unlock = chan_unlock); when woken,
** w->success tells whether the value was taken (else the channel closed and
** the value is still the caller's). */
chan_status chan_send(chan *c, void *elem, sched_task *task, waiter *w);

/* Receives into out (elemsize bytes). On CHAN_PARKED, once woken,
** w->success tells whether out was filled (else the channel closed). */
chan_status chan_recv(chan *c, void *out, sched_task *task, waiter *w);

/* Closes c, waking every waiter. Returns CHAN_CLOSED if already closed. */
chan_status chan_close(chan *c);

/* The park hooks (docs/architecture.md, rule 1). Every core object's
** unlock and cancel take the object as void *, so that a blocking call's
** park_ops can name them directly. */

/* Releases the lock that chan_send/chan_recv kept on CHAN_PARKED. */
void chan_unlock(void *c);

/* Gives up a parked wait whose waiter is w: returns true if it was still
** queued (the task counts as unblocked again), false if a waker took it. */
bool chan_cancel(void *c, waiter *w);

/* An eventfd that polls readable exactly while a receive would succeed (a
** value buffered, a sender waiting, or closed); made on first use, owned by
** c. -1 if it cannot be made (errno says why). */
int chan_pollfd(chan *c);

size_t chan_len(chan *c);
size_t chan_cap(chan *c);
/* The size of one value (fixed at creation), and disposal of a value the
** channel will not deliver (its drop function, if any). */
size_t chan_elemsize(chan *c);
void chan_drop_elem(chan *c, void *elem);
bool chan_closed(chan *c);

#endif

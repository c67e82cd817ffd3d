/* netpoll.h: the network poller (Go's netpoll): one edge-triggered epoll
** instance for the runtime. A goroutine whose non-blocking call would block
** parks on its descriptor's readiness; whichever thread polls wakes it. */
#ifndef LUGO_NETPOLL_H
#define LUGO_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

#include "waitq.h"

typedef struct netpoll_desc netpoll_desc;

enum { NETPOLL_READ, NETPOLL_WRITE };

typedef enum netpoll_status {
  NETPOLL_READY,       /* readiness came: try the call again */
  NETPOLL_PARKED,      /* waiter queued, the descriptor's lock HELD: park
                       ** with netpoll_unlock (docs/architecture.md, rule 1) */
  NETPOLL_TIMEOUT,     /* the direction's deadline has passed */
  NETPOLL_CLOSED       /* netpoll_close came first */
} netpoll_status;

/* Registers fd (non-blocking already) for reads and writes, in the poll
** set of the calling worker (the shared set outside the workers). NULL with
** errno when the poller or the registration fails. The descriptor is the
** caller's until netpoll_close; the fd stays the caller's to close. */
netpoll_desc *netpoll_open(int fd);

/* netpoll_open in every poll set made so far (a listener: any idle
** worker sees a connection come). The workers should have started. */
netpoll_desc *netpoll_open_everywhere(int fd);

/* Wakes every waiter with NETPOLL_CLOSED, and every later netpoll_arm
** returns it (Go's evict: the socket is closing, its fd still open). */
void netpoll_evict(netpoll_desc *pd);

/* Evicts, deregisters the fd and gives the descriptor back (events
** already taken for it are ignored). Call before closing the fd; once per
** netpoll_open. */
void netpoll_close(netpoll_desc *pd);

/* netpoll_arm without queueing (a thread outside the runtime waits in
** poll(2) instead): READY (consumed), TIMEOUT, CLOSED, or PARKED for
** "nothing yet". */
netpoll_status netpoll_check(netpoll_desc *pd, int dir);

/* Before parking on dir: READY if readiness came since the last wait (it
** is consumed: retry the call), TIMEOUT, CLOSED, or PARKED with w queued
** for task (the caller parks; when woken, w->success says READY, else
** netpoll_result tells why). */
netpoll_status netpoll_arm(netpoll_desc *pd, int dir, sched_task *task, waiter *w);

/* After a wake: why w was woken. */
netpoll_status netpoll_result(netpoll_desc *pd, int dir, waiter *w);

/* The park hooks (see chan.h): release the lock netpoll_arm kept; give up
** a parked wait (false: it was woken first). obj is the netpoll_desc. */
void netpoll_unlock(void *pd);
bool netpoll_cancel(void *pd, waiter *w);

/* Sets dir's deadline (timer_now ns; 0: none). One in the past wakes a
** waiter with NETPOLL_TIMEOUT and fails later waits until it changes. */
void netpoll_set_deadline(netpoll_desc *pd, int dir, uint64_t deadline);

/* Takes the ready events of every poll set and wakes their waiters; waits
** up to timeout_ms (0: not at all) on the shared set if none came.
** Returns how many waiters it woke. Any thread (the monitor). */
int netpoll_poll(int timeout_ms);

/* netpoll_poll without waiting, of the sets of worker (its own and the
** shared one): what a worker polls between its tasks. */
int netpoll_poll_worker(int worker);

/* The epoll fd of worker's poll set (worker < 0: the shared set), made
** if needed (for a libuv poll handle in the worker's loop: it polls
** readable while events wait); -1 if it cannot be made. */
int netpoll_set_fd(int worker);

/* Whether any descriptor is registered: polling is pointless otherwise. */
bool netpoll_active(void);

/* Frees the pool of descriptors and closes the epoll fd (the runtime's
** close, with none open). */
void netpoll_shutdown(void);

#endif

/* schedpoll.c: where the scheduler polls the network poller (Go's
** findrunnable and sysmon calls to netpoll): a parked worker's libuv loop
** watches its own poll set and the shared one (core/netpoll.c, "Poll
** sets"); a busy worker polls those at its fairness tick; a worker that
** runs out of work, and the monitor, poll every set: I/O of a worker kept
** busy by a goroutine that computes is taken by one that is free. */
#include "scheduler.h"

#include "netpoll.h"
#include "sched_impl.h"

static void on_own_set_ready(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  sched_worker *w = h->data;
  netpoll_poll_worker(w->index);   /* the parked worker wakes for its own I/O */
}

void worker_netpoll_init(sched_worker *w) {
  int own = netpoll_set_fd(w->index), shared = netpoll_set_fd(-1);
  if (own < 0 || shared < 0) return;   /* no epoll: I/O fails at netpoll_open instead */
  w->netpoll_watch.data = w;
  w->netpoll_shared_watch.data = w;
  if (uv_poll_init(&w->loop, &w->netpoll_watch, own) == 0)
    uv_poll_start(&w->netpoll_watch, UV_READABLE, on_own_set_ready);
  if (uv_poll_init(&w->loop, &w->netpoll_shared_watch, shared) == 0)
    uv_poll_start(&w->netpoll_shared_watch, UV_READABLE, on_own_set_ready);
}

int sched_netpoll(bool every_set) {
  if (!netpoll_active()) return 0;
  sched_worker *w = sched_current();
  return w && !every_set ? netpoll_poll_worker(w->index) : netpoll_poll(0);
}

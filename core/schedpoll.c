/* schedpoll.c: where the scheduler polls the network poller (Go's
** findrunnable and sysmon calls to netpoll): a parked worker's libuv loop
** watches the epoll fd; busy workers and the monitor poll without waiting. */
#include "scheduler.h"

#include "netpoll.h"
#include "sched_impl.h"

static void on_netpoll_ready(uv_poll_t *h, int status, int events) {
  (void)h; (void)status; (void)events;
  netpoll_poll(0);   /* the parked worker wakes; what it woke is its, or another's */
}

void worker_netpoll_init(sched_worker *w) {
  int fd = netpoll_init();
  if (fd < 0) return;   /* no epoll: I/O fails at netpoll_open instead */
  if (uv_poll_init(&w->loop, &w->netpoll_watch, fd) == 0)
    uv_poll_start(&w->netpoll_watch, UV_READABLE, on_netpoll_ready);
}

int sched_netpoll(void) {
  return netpoll_active() ? netpoll_poll(0) : 0;
}

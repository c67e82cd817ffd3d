/* gor_close.c: goroutines at the runtime's close (lugo_close): its phase,
** the control task that fails every wait on its worker, and the VM's end.
** The phase is set by the closing thread; control tasks run on workers. */
#include "goroutine_impl.h"

#include <stdlib.h>
#include <string.h>

#include "embed.h"

static atomic_int phase;   /* CLOSE_NONE, CLOSE_NO_NEW, CLOSE_FAILING */

int gor_close_phase(void) {
  return atomic_load_explicit(&phase, memory_order_relaxed);
}

/* One control task per worker (lugo.config's bound), kept across closes:
** one still queued on a worker stuck in a C call (lugo_close returned
** LUGO_EBUSY) is not queued twice. */
#define MAX_CONTROLS 1024
typedef struct control_task {
  sched_task task;           /* first: the scheduler sees only this */
  atomic_bool queued;
} control_task;
static control_task controls[MAX_CONTROLS];
static atomic_int controls_done;

/* On the worker, between its tasks: cancels the wait of every goroutine
** parked here; each, woken, raises CLOSING_MSG from its blocking call
** (gor_park.c, park_resumed). A wait already taken by a waker ends as it
** would have, and the goroutine fails at its next blocking call. */
static void fail_waits(lua_State *L) {
  for (goroutine *g = vm_of(L)->started; g; g = g->next) {
    if (!g->parked || !g->wait_ops || !g->wait_ops->cancel) continue;
    if (g->wait_ops->cancel(g->wait_obj, &g->op.w)) {
      g->wait_failed = true;
      sched_wake(&g->task);
    }
  }
}

run_result gor_run_control(lua_State *L, sched_task *t) {
  control_task *c = (control_task *)t;
  atomic_store(&c->queued, false);
  if (gor_close_phase() == CLOSE_FAILING) fail_waits(L);
  atomic_fetch_add(&controls_done, 1);
  return RUN_PARKED;   /* not a goroutine: nothing to count */
}

void gor_close_begin(void) {
  atomic_store(&phase, CLOSE_NO_NEW);
}

int gor_fail_all(void) {
  atomic_store(&phase, CLOSE_FAILING);
  atomic_store(&controls_done, 0);
  int n = sched_running_workers(), sent = 0;
  for (int i = 0; i < n && i < MAX_CONTROLS; i++) {
    if (atomic_exchange(&controls[i].queued, true)) continue;
    sched_send_to_worker(&controls[i].task, i);
    sent++;
  }
  sched_abort_blocked();   /* threads outside the runtime in a wait */
  sched_poke_all();        /* goroutines that compute */
  return sent;
}

bool gor_fail_done(int sent) {
  return atomic_load(&controls_done) >= sent;
}

void gor_close_end(void) {
  atomic_store(&phase, CLOSE_NONE);
}

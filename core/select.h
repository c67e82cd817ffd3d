/* select.h: Go's select over channel cases (runtime/select.go): poll the
** cases in random order, else queue on every channel and park. */
#ifndef LUGO_SELECT_H
#define LUGO_SELECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include "chan.h"
#include "waitq.h"

typedef enum sel_dir { SEL_RECV, SEL_SEND } sel_dir;

typedef struct sel_case {
  chan *c;
  sel_dir dir;
  void *elem;               /* send: the value; recv: where the value goes */
  waiter w;                 /* this case's waiter while parked */
} sel_case;

/* One select in progress. Lives with its cases in the caller's memory. */
typedef struct sel_state {
  sel_case *cases;
  int n;
  chan **lockorder;         /* room for n: the channels sorted by address */
  int *pollorder;           /* room for n: the cases in random order */
  atomic_int done;          /* first waker CASes 0 -> 1 */
  sched_task *task;         /* who parked, once parked */
} sel_state;

typedef enum sel_status {
  SEL_READY,                /* a case completed: see *chosen and *ok */
  SEL_NONE,                 /* no case ready and not blocking */
  SEL_PARKED                /* waiters queued, every lock HELD: park with sel_unlock */
} sel_status;

/* Runs a select over s->cases (s->n may be 0: then it parks for ever, or
** returns SEL_NONE). rand seeds the random poll order. On SEL_READY, *chosen is the
** case and *ok tells a receive whether a value came (false: closed) and a
** send whether it went (false: the channel is closed, the caller raises).
** With task NULL it never parks. */
sel_status sel_select(sel_state *s, sched_task *task, unsigned rand, int *chosen,
                      bool *ok);

/* Releases every channel lock sel_select kept on SEL_PARKED. */
void sel_unlock(void *s);

/* After the parked select was woken: dequeues the losing waiters and
** reports the winner like sel_select's SEL_READY. */
void sel_finish(sel_state *s, int *chosen, bool *ok);

/* Gives up a parked select: dequeues every waiter. Returns true if no case
** had fired (the task counts as unblocked again); else reports the winner
** like sel_finish and returns false. */
bool sel_cancel(sel_state *s, int *chosen, bool *ok);

#endif

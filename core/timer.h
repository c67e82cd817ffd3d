/* timer.h: one timer thread for the whole runtime: a min-heap of deadlines
** whose callbacks run on that thread (wake a sleeper, send on a channel). */
#ifndef LUGO_TIMER_H
#define LUGO_TIMER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct timer_entry timer_entry;

/* Runs on the timer thread when the entry fires, with no lock held. */
typedef void (*timer_fn)(timer_entry *e);

struct timer_entry {
  uint64_t when;            /* monotonic ns; guarded by the timer lock */
  uint64_t fired_when;      /* the deadline it fired for; timer thread only */
  int index;                /* position in the heap, -1 when not pending */
  timer_fn fn;
  void *arg;
};

/* Monotonic clock in nanoseconds. */
uint64_t timer_now(void);

/* Prepares e (not pending). */
void timer_entry_init(timer_entry *e, timer_fn fn, void *arg);

/* Arms e to fire at `when` (ns, timer_now's clock), re-arming it if it was
** pending. Returns whether it was pending. Any thread. */
bool timer_arm(timer_entry *e, uint64_t when);

/* Disarms e; returns whether it was pending (so will not fire). Any thread.
** A callback already running may still be finishing. */
bool timer_disarm(timer_entry *e);

/* Stops and joins the timer thread and forgets pending entries (the
** runtime's close); the next timer_arm starts it again. */
void timer_shutdown(void);

#endif

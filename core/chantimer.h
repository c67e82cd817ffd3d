/* chantimer.h: timers and tickers that deliver on a channel (lugo.after,
** lugo.timer, lugo.ticker), with Go 1.23's guarantee: once stop or reset
** returns, no value from before it can be received. */
#ifndef LUGO_CHANTIMER_H
#define LUGO_CHANTIMER_H

#include <stdbool.h>
#include <stdint.h>
#include "chan.h"
#include "object.h"

typedef struct chantimer chantimer;

/* Builds the value to deliver into elem (the channel's element size),
** given the firing time in ns. Runs on the timer thread. */
typedef void (*chantimer_make)(void *elem, uint64_t now);

/* New stopped timer delivering on c (cap >= 1; the timer takes a
** reference), every period ns if period > 0 (a ticker), else once. One
** reference for the caller, or NULL when out of memory. */
chantimer *chantimer_new(chan *c, uint64_t period, chantimer_make make);

/* Its channel (no reference taken). */
chan *chantimer_chan(chantimer *t);

/* (Re)starts it to fire at `when` (ns, timer_now's clock), dropping any
** value not yet received. Returns whether it was pending (a value not yet
** received counts, as with Go 1.23's synchronous timer channels). */
bool chantimer_reset(chantimer *t, uint64_t when);

/* Stops it, dropping any value not yet received. Returns whether it was
** pending (counting a value not yet received). */
bool chantimer_stop(chantimer *t);

#endif

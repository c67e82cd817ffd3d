/* chantimer.c: channel timers. Invariants (under mu): `when` is the
** deadline last set; active means a firing for it is still to be delivered
** (armed, or taken by the timer thread); a firing counts only if the timer
** is active and fired for that deadline; each armed firing holds a ref. */
#include "chantimer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "timer.h"

struct chantimer {
  lugo_obj obj;
  pthread_mutex_t mu;        /* guards the fields below; taken before the timer lock */
  chan *c;
  uint64_t period;           /* ns; 0 for a one-shot timer */
  uint64_t when;
  bool active;
  chantimer_make make;
  timer_entry entry;
};

static void chantimer_destroy(lugo_obj *o) {
  chantimer *t = (chantimer *)o;
  obj_release((lugo_obj *)t->c);   /* a chan starts with its lugo_obj */
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* Drops what the channel holds: a value from before a stop or reset.
** Returns whether there was one: as in Go 1.23, whose timer channels are
** synchronous, a firing nobody received yet still counts as pending. */
static bool drain(chantimer *t) {
  unsigned char elem[chan_elemsize(t->c)];
  bool dropped = false;
  while (chan_recv(t->c, elem, NULL, NULL) == CHAN_OK) {
    chan_drop_elem(t->c, elem);
    dropped = true;
  }
  return dropped;
}

static void fire(timer_entry *e) {
  chantimer *t = e->arg;
  pthread_mutex_lock(&t->mu);
  bool rearmed = false;
  if (t->active && t->when == e->fired_when) {
    uint64_t now = timer_now();
    unsigned char elem[chan_elemsize(t->c)];
    t->make(elem, now);
    /* Never blocks: a receiver too slow for a ticker misses ticks. */
    if (chan_send(t->c, elem, NULL, NULL) != CHAN_OK) chan_drop_elem(t->c, elem);
    if (t->period) {
      t->when += t->period;
      if (t->when <= now) t->when = now + t->period;
      /* Keeps this firing's reference, unless a reset to the deadline just
      ** fired had already re-armed the entry (with a reference of its own). */
      rearmed = !timer_arm(&t->entry, t->when);
    } else {
      t->active = false;
    }
  }
  pthread_mutex_unlock(&t->mu);
  if (!rearmed) obj_release(&t->obj);
}

chantimer *chantimer_new(chan *c, uint64_t period, chantimer_make make) {
  chantimer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  obj_init(&t->obj, OBJ_TIMER, chantimer_destroy);
  pthread_mutex_init(&t->mu, NULL);
  obj_retain((lugo_obj *)c);
  t->c = c;
  t->period = period;
  t->make = make;
  timer_entry_init(&t->entry, fire, t);
  return t;
}

chan *chantimer_chan(chantimer *t) {
  return t->c;
}

bool chantimer_reset(chantimer *t, uint64_t when) {
  pthread_mutex_lock(&t->mu);
  bool pending = t->active;              /* armed, or popped and not delivered */
  obj_retain(&t->obj);                   /* for the firing armed below */
  if (timer_arm(&t->entry, when))
    obj_release(&t->obj);                /* the old firing's reference moves over */
  t->when = when;
  t->active = true;
  if (drain(t)) pending = true;
  pthread_mutex_unlock(&t->mu);
  return pending;
}

bool chantimer_stop(chantimer *t) {
  pthread_mutex_lock(&t->mu);
  /* active covers a firing the timer thread took but has not delivered:
  ** it will see active false and drop it, so this stop did stop it. */
  bool pending = t->active;
  bool armed = timer_disarm(&t->entry);
  t->active = false;
  if (drain(t)) pending = true;
  pthread_mutex_unlock(&t->mu);
  if (armed) obj_release(&t->obj);
  return pending;
}

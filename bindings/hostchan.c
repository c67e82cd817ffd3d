/* hostchan.c: channels for C hosts (lugo.h): plain values sent and received
** from any thread, with timeouts, a pollfd, and handles for Lua states. A
** lugo_chan is core's chan, holding codec messages as lugo.chan's do. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/chan.h"
#include "../core/scheduler.h"
#include "../core/timer.h"
#include "codec_plain.h"
#include "embed.h"
#include "handle.h"
#include "module.h"

static chan *as_chan(lugo_chan *c) {
  return (chan *)c;
}

LUGO_API lugo_chan *lugo_chan_new(size_t cap) {
  chan *c = lchan_new(cap);
  if (!c) embed_set_error(LUGO_ENOMEM, "lugo_chan_new: not enough memory");
  return (lugo_chan *)c;
}

LUGO_API void lugo_chan_retain(lugo_chan *c) {
  if (c) obj_retain((lugo_obj *)c);
}

LUGO_API void lugo_chan_release(lugo_chan *c) {
  if (c) obj_release((lugo_obj *)c);
}

static int check_usable(lugo_chan *c, const char *fn) {
  if (!c) return embed_set_error(LUGO_EINVAL, "%s: the channel is NULL", fn);
  if (!embed_is_open()) return embed_set_error(LUGO_ESTATE, "%s: the runtime is not open", fn);
  return LUGO_OK;
}

LUGO_API int lugo_chan_close(lugo_chan *c) {
  int rc = check_usable(c, "lugo_chan_close");
  if (rc != LUGO_OK) return rc;
  if (chan_close(as_chan(c)) != CHAN_OK)
    return embed_set_error(LUGO_ECLOSED, "lugo_chan_close: close of closed channel");
  return LUGO_OK;
}

/* ---- send and receive ---- */

/* How long to wait: *deadline 0 for ever, else timer_now's ns. */
static int deadline_of(double timeout, unsigned long long *deadline, const char *fn) {
  if (isnan(timeout)) return embed_set_error(LUGO_EINVAL, "%s: the timeout is NaN", fn);
  *deadline = 0;
  if (timeout < 0) return LUGO_OK;
  if (timeout > 1e9) timeout = 1e9;   /* about 31 years */
  *deadline = timer_now() + (unsigned long long)(timeout * 1e9);
  return LUGO_OK;
}

/* One try of a transfer, for sched_spin_try. */
typedef struct try_arg {
  chan *c;
  codec_msg *value;
  bool send;
  chan_status st;
} try_arg;

static bool try_transfer(void *arg) {
  try_arg *t = arg;
  t->st = t->send ? chan_send(t->c, t->value, NULL, NULL) : chan_recv(t->c, t->value, NULL, NULL);
  return t->st != CHAN_WOULDBLOCK;
}

/* Sends (send) or receives *value on c, waiting as a thread outside the
** runtime (docs/architecture.md, "Outside threads"); timeout as lugo.h says.
** LUGO_OK: sent, or received into *value. */
static int transfer(chan *c, codec_msg *value, bool send, double timeout, const char *fn) {
  if (timeout == 0) {
    chan_status st = send ? chan_send(c, value, NULL, NULL) : chan_recv(c, value, NULL, NULL);
    if (st == CHAN_OK) return LUGO_OK;
    if (st == CHAN_CLOSED) return LUGO_ECLOSED;
    return embed_set_error(LUGO_ETIMEDOUT, "%s: the channel is not ready", fn);
  }
  unsigned long long deadline = 0;
  int rc = deadline_of(timeout, &deadline, fn);
  if (rc != LUGO_OK) return rc;
  /* Blocking costs a thread far more than a goroutine: first spin a little
  ** while a goroutine on another CPU makes room or a value. */
  try_arg attempt = {c, value, send, CHAN_WOULDBLOCK};
  if (sched_spin_try(try_transfer, &attempt))
    return attempt.st == CHAN_OK ? LUGO_OK : LUGO_ECLOSED;
  sched_register_thread();
  sched_thread_task tt;
  sched_thread_task_init(&tt);
  tt.deadline = deadline;
  /* A timed wait ends by itself, as a pending timer does: it keeps the
  ** deadlock count above zero meanwhile. */
  if (deadline) sched_awake_add(1);
  waiter w;
  memset(&w, 0, sizeof w);
  chan_status st = send ? chan_send(c, value, &tt.task, &w) : chan_recv(c, value, &tt.task, &w);
  if (st == CHAN_PARKED) {
    tt.task.unlock = chan_unlock;
    tt.task.unlock_arg = c;
    sched_block(&tt);
    bool gave_up = tt.timed_out || tt.deadlock;
    if (gave_up && chan_cancel(c, &w)) {
      rc = tt.timed_out ? embed_set_error(LUGO_ETIMEDOUT, "%s: timed out", fn)
                        : embed_set_error(LUGO_EDEADLOCK, "%s: %s", fn,
                                          "all goroutines are asleep - deadlock!");
    } else {
      if (gave_up) {         /* a waker took the waiter: its wake-up is on the way */
        tt.deadline = 0;
        sched_block(&tt);
      }
      rc = w.success ? LUGO_OK : LUGO_ECLOSED;
    }
  } else {
    rc = st == CHAN_OK ? LUGO_OK : LUGO_ECLOSED;
  }
  if (deadline) sched_awake_add(-1);
  sched_thread_task_destroy(&tt);
  return rc;
}

LUGO_API int lugo_send(lugo_chan *c, const lugo_value *v, double timeout) {
  int rc = check_usable(c, "lugo_send");
  if (rc != LUGO_OK) return rc;
  if (!v) return embed_set_error(LUGO_EINVAL, "lugo_send: the value is NULL");
  codec_msg msg;
  if ((rc = codec_from_value(&msg, v)) != LUGO_OK)
    return embed_set_error(rc, rc == LUGO_ENOMEM ? "lugo_send: not enough memory"
                                                 : "lugo_send: bad value (type %d)", v->type);
  rc = transfer(as_chan(c), &msg, true, timeout, "lugo_send");
  if (rc == LUGO_ECLOSED) embed_set_error(rc, "lugo_send: send on closed channel");
  if (rc != LUGO_OK) codec_free(&msg);   /* not sent: still ours */
  return rc;
}

LUGO_API int lugo_recv(lugo_chan *c, lugo_value *v, double timeout) {
  int rc = check_usable(c, "lugo_recv");
  if (rc != LUGO_OK) return rc;
  if (!v) return embed_set_error(LUGO_EINVAL, "lugo_recv: the value is NULL");
  memset(v, 0, sizeof *v);
  v->type = LUGO_TNIL;
  codec_msg msg;
  rc = transfer(as_chan(c), &msg, false, timeout, "lugo_recv");
  if (rc == LUGO_ECLOSED) return embed_set_error(rc, "lugo_recv: the channel is closed and drained");
  if (rc != LUGO_OK) return rc;
  rc = codec_to_value(&msg, v);
  codec_free(&msg);
  if (rc == LUGO_EINVAL)
    return embed_set_error(rc, "lugo_recv: the value received is not plain (nil, "
                           "boolean, number, string or channel); it was dropped");
  if (rc == LUGO_ENOMEM) return embed_set_error(rc, "lugo_recv: not enough memory");
  return LUGO_OK;
}

LUGO_API void lugo_value_free(lugo_value *v) {
  if (!v) return;
  if (v->type == LUGO_TSTRING) free((void *)v->u.s.ptr);
  if (v->type == LUGO_TCHAN) lugo_chan_release(v->u.ch);
  memset(v, 0, sizeof *v);
  v->type = LUGO_TNIL;
}

LUGO_API int lugo_chan_pollfd(lugo_chan *c) {
  if (!c) return embed_set_error(LUGO_EINVAL, "lugo_chan_pollfd: the channel is NULL"), -1;
  int fd = chan_pollfd(as_chan(c));
  if (fd < 0) embed_set_error(LUGO_ENOMEM, "lugo_chan_pollfd: cannot make an eventfd");
  return fd;
}

/* ---- Lua handles ---- */

LUGO_API void lugo_pushchan(lua_State *L, lugo_chan *c) {
  if (!c) {
    lua_pushnil(L);
    return;
  }
  handle_push(L, (lugo_obj *)c, 0);
}

LUGO_API lugo_chan *lugo_tochan(lua_State *L, int idx) {
  lugo_obj *o;
  int flags;
  if (!handle_test(L, idx, &o, &flags) || o->kind != OBJ_CHAN) return NULL;
  return (lugo_chan *)o;
}

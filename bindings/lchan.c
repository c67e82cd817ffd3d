/* lchan.c: the Lua face of channels: lugo.chan, send, recv, close, len,
** cap, range, views and to-be-closed handles. */
#include <lauxlib.h>

#include "../core/chan.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static const park_ops send_ops = {"chan send", chan_unlock, chan_cancel};
static const park_ops recv_ops = {"chan receive", chan_unlock, chan_cancel};

static void drop_msg(void *elem) {
  codec_free(elem);
}

chan *lchan_new(size_t cap) {
  return chan_new(cap, sizeof(codec_msg), drop_msg);
}

/* The channel of handle idx, after checking the view allows the operation. */
static chan *check_dir(lua_State *L, int forbidden, const char *msg) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  if (h->flags & forbidden) luaL_error(L, "%s", msg);
  return (chan *)h->obj;
}

static chan *to_sendable(lua_State *L) {
  return check_dir(L, HANDLE_RECVONLY, "send on receive-only channel");
}

static chan *to_receivable(lua_State *L) {
  return check_dir(L, HANDLE_SENDONLY, "receive from send-only channel");
}

static int l_chan(lua_State *L) {
  lua_Integer cap = 0;
  if (!lua_isnoneornil(L, 1)) {
    int isint;
    cap = lua_tointegerx(L, 1, &isint);
    if (lua_type(L, 1) != LUA_TNUMBER || !isint || cap < 0)
      /* Not luaL_argerror: through pcall it would name 'lugo.chan'. */
      return luaL_error(L, "bad argument #1 to 'chan' (capacity must be an "
                        "integer >= 0, got %s)", luaL_tolstring(L, 1, NULL));
  }
  chan *c = lchan_new((size_t)cap);
  if (!c) return luaL_error(L, "lugo.chan: out of memory");
  handle_push_new(L, (lugo_obj *)c);
  return 1;
}

/* ---- send ---- */

static int send_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lugo_op *op = (lugo_op *)ctx;
  if (!op->w.success) {
    codec_free(&op->value);
    return luaL_error(L, "send on closed channel");
  }
  return 0;
}

static int l_send(lua_State *L) {
  chan *c = to_sendable(L);
  lua_settop(L, 2);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (!codec_encode_scalar(L, 2, &op->value)) {
    gor_push_env(L);
    codec_encode(L, 2, 1, 3, "value sent", &op->value);
  }
  switch (chan_send(c, &op->value, op->task, &op->w)) {
    case CHAN_OK:
      return 0;
    case CHAN_PARKED:
      return op_park(L, op, &send_ops, c, send_done);
    default:
      codec_free(&op->value);
      return luaL_error(L, "send on closed channel");
  }
}

/* ---- receive ---- */

/* Pushes v, ok for a received value (ok false: closed and drained). */
static int push_received(lua_State *L, codec_msg *msg, int ok) {
  if (!ok) {
    lua_pushnil(L);
    lua_pushboolean(L, 0);
    return 2;
  }
  if (!codec_decode_scalar(L, msg)) {
    gor_push_env(L);
    int env = lua_gettop(L);
    int n = codec_decode_owned(L, msg, env);
    if (n == 0) lua_pushnil(L);
    lua_remove(L, env);
  }
  lua_pushboolean(L, 1);
  return 2;
}

static int recv_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lugo_op *op = (lugo_op *)ctx;
  return push_received(L, &op->value, op->w.success);
}

/* Receives from c, leaving v, ok on the stack; k finishes after a park. */
static int do_recv(lua_State *L, chan *c, lua_KFunction k) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  switch (chan_recv(c, &op->value, op->task, &op->w)) {
    case CHAN_OK:
      return push_received(L, &op->value, 1);
    case CHAN_PARKED:
      return op_park(L, op, &recv_ops, c, k);
    default:
      return push_received(L, &op->value, 0);
  }
}

static int l_recv(lua_State *L) {
  return do_recv(L, to_receivable(L), recv_done);
}

/* range's iterator returns just the value: a for loop ends on nil. */
static int range_done(lua_State *L, int status, lua_KContext ctx) {
  recv_done(L, status, ctx);
  lua_pop(L, 1);
  return 1;
}

static int range_step(lua_State *L) {
  chan *c = (chan *)((lhandle *)lua_touserdata(L, lua_upvalueindex(1)))->obj;
  int n = do_recv(L, c, range_done);
  lua_pop(L, n - 1);
  return 1;
}

static int l_range(lua_State *L) {
  to_receivable(L);
  lua_settop(L, 1);
  lua_pushcclosure(L, range_step, 1);
  return 1;
}

/* ---- the rest ---- */

static int l_close(lua_State *L) {
  chan *c = check_dir(L, HANDLE_RECVONLY, "close of receive-only channel");
  if (chan_close(c) == CHAN_CLOSED)
    return luaL_error(L, "close of closed channel");
  return 0;
}

/* <close>: close unless already closed. */
static int l_tbc_close(lua_State *L) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  if (!(h->flags & HANDLE_RECVONLY)) chan_close((chan *)h->obj);
  return 0;
}

static int l_len(lua_State *L) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  lua_pushinteger(L, (lua_Integer)chan_len((chan *)h->obj));
  return 1;
}

static int l_cap(lua_State *L) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  lua_pushinteger(L, (lua_Integer)chan_cap((chan *)h->obj));
  return 1;
}

static int push_view(lua_State *L, int flags) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  if (h->flags && h->flags != flags)
    return luaL_error(L, "cannot turn a %s view into a %s one",
                      h->flags & HANDLE_SENDONLY ? "send-only" : "receive-only",
                      flags & HANDLE_SENDONLY ? "send-only" : "receive-only");
  handle_push(L, h->obj, flags);
  return 1;
}

static int l_sendonly(lua_State *L) {
  return push_view(L, HANDLE_SENDONLY);
}

static int l_recvonly(lua_State *L) {
  return push_view(L, HANDLE_RECVONLY);
}

static const luaL_Reg chan_methods[] = {
  {"send", l_send},
  {"recv", l_recv},
  {"close", l_close},
  {"len", l_len},
  {"cap", l_cap},
  {"range", l_range},
  {"sendonly", l_sendonly},
  {"recvonly", l_recvonly},
  {"case_recv", lselect_case_recv},
  {"case_send", lselect_case_send},
  {NULL, NULL}
};

static const luaL_Reg chan_metamethods[] = {
  {"__len", l_len},
  {"__close", l_tbc_close},
  {NULL, NULL}
};

void lchan_open(lua_State *L) {
  handle_register(L, OBJ_CHAN, chan_methods, chan_metamethods);
  lua_pushcfunction(L, l_chan);
  lua_setfield(L, -2, "chan");
}

/* ltime.c: the Lua face of time: lugo.sleep, lugo.now, lugo.after,
** lugo.timer and lugo.ticker. */
#include <math.h>
#include <lauxlib.h>

#include "../core/chan.h"
#include "../core/chantimer.h"
#include "../core/timer.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

/* Seconds (a Lua number) from now, as a deadline in ns; raises for a
** non-number. Negative or NaN counts as now. */
static uint64_t deadline(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "bad argument #%d to '%s' (number of seconds expected, got %s)",
               idx, fname, luaL_typename(L, idx));
  double s = (double)lua_tonumber(L, idx);
  uint64_t now = timer_now();
  if (!(s > 0)) return now;
  if (s > 1e9) s = 1e9;   /* about 31 years: far enough, and no overflow */
  return now + (uint64_t)(s * 1e9);
}

static double seconds(uint64_t ns) {
  return (double)ns * 1e-9;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)seconds(timer_now()));
  return 1;
}

/* ---- sleep ---- */

static void sleep_fire(timer_entry *e) {
  sched_wake(e->arg);
}

/* The unlock of park-commit: arm the timer once the wait is recorded. */
static void sleep_arm(void *arg) {
  lugo_op *op = arg;
  timer_arm(&op->timer, op->timer.when);
}

/* Cancels the sleep if its timer has not fired (the runtime's close, the
** REPL's Ctrl-C). A deadlock never gets here: a pending timer can still
** wake someone, so it keeps the deadlock count above zero. */
static bool sleep_cancel(void *arg, waiter *w) {
  (void)w;
  lugo_op *op = arg;
  return timer_disarm(&op->timer);
}

static const park_ops sleep_ops = {"sleep", sleep_arm, sleep_cancel};

static int l_sleep(lua_State *L) {
  uint64_t when = deadline(L, 1, "sleep");
  if (when <= timer_now()) return gor_l_yield(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  timer_entry_init(&op->timer, sleep_fire, op->task);
  op->timer.when = when;
  return op_park(L, op, &sleep_ops, op, op_done_nothing);
}

/* ---- timers and tickers ---- */

static void make_now(void *elem, uint64_t now) {
  codec_encode_float(elem, seconds(now));
}

static void drop_msg(void *elem) {
  codec_free(elem);
}

/* A new timer (period 0) or ticker, started to fire at `when`; one
** reference for the caller. */
static chantimer *start_timer(lua_State *L, uint64_t when, uint64_t period) {
  chan *c = chan_new(1, sizeof(codec_msg), drop_msg);
  chantimer *t = c ? chantimer_new(c, period, make_now) : NULL;
  if (c) obj_release((lugo_obj *)c);   /* the timer holds it now */
  if (!t) luaL_error(L, "lugo: out of memory for a timer");
  chantimer_reset(t, when);
  return t;
}

static int l_after(lua_State *L) {
  chantimer *t = start_timer(L, deadline(L, 1, "after"), 0);
  handle_push(L, (lugo_obj *)chantimer_chan(t), HANDLE_RECVONLY);
  obj_release((lugo_obj *)t);   /* its pending firing keeps it alive */
  return 1;
}

static int l_timer(lua_State *L) {
  chantimer *t = start_timer(L, deadline(L, 1, "timer"), 0);
  handle_push_new(L, (lugo_obj *)t);
  return 1;
}

static int l_ticker(lua_State *L) {
  if (lua_type(L, 1) != LUA_TNUMBER || !(lua_tonumber(L, 1) > 0))
    return luaL_error(L, "bad argument #1 to 'ticker' (positive number of "
                      "seconds expected, got %s)", luaL_tolstring(L, 1, NULL));
  uint64_t when = deadline(L, 1, "ticker");
  chantimer *t = start_timer(L, when, when - timer_now());
  handle_push_new(L, (lugo_obj *)t);
  return 1;
}

static chantimer *check_timer(lua_State *L) {
  return (chantimer *)handle_check(L, 1, OBJ_TIMER)->obj;
}

static int l_stop(lua_State *L) {
  lua_pushboolean(L, chantimer_stop(check_timer(L)));
  return 1;
}

static int l_reset(lua_State *L) {
  chantimer *t = check_timer(L);
  lua_pushboolean(L, chantimer_reset(t, deadline(L, 2, "reset")));
  return 1;
}

/* t.c is the receive-only channel; anything else is a method. */
static int timer_index(lua_State *L) {
  chantimer *t = check_timer(L);
  const char *key = lua_tostring(L, 2);
  if (key && key[0] == 'c' && key[1] == '\0') {
    handle_push(L, (lugo_obj *)chantimer_chan(t), HANDLE_RECVONLY);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static const luaL_Reg timer_methods[] = {
  {"stop", l_stop},
  {"reset", l_reset},
  {NULL, NULL}
};

static const luaL_Reg time_funcs[] = {
  {"now", l_now},
  {"sleep", l_sleep},
  {"after", l_after},
  {"timer", l_timer},
  {"ticker", l_ticker},
  {NULL, NULL}
};

void ltime_open(lua_State *L) {
  static const luaL_Reg no_metamethods[] = {{NULL, NULL}};
  handle_register(L, OBJ_TIMER, timer_methods, no_metamethods);
  /* Replace __index (the methods table) by timer_index over it. */
  handle_push_metatable(L, OBJ_TIMER);
  lua_getfield(L, -1, "__index");
  lua_pushcclosure(L, timer_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, time_funcs, 0);
}

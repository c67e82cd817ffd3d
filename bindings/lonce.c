/* lonce.c: the Lua face of onces: lugo.once and o:call(fn, ...). */
#include <lauxlib.h>

#include "../core/once.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static once *check_once(lua_State *L) {
  return (once *)handle_check(L, 1, OBJ_ONCE)->obj;
}

static int l_once(lua_State *L) {
  once *o = once_new();
  if (!o) return luaL_error(L, "lugo.once: out of memory");
  handle_push_new(L, (lugo_obj *)o);
  return 1;
}

static const park_ops wait_ops = {"once", once_unlock_internal, once_cancel};

static int returns_false(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lua_pushboolean(L, 0);
  return 1;
}

/* fn returned or raised (status): the once is done either way (Go); the
** error goes on to this caller. Stack: once, fn's results or the error. */
static int ran(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  once_done((once *)((lhandle *)lua_touserdata(L, 1))->obj);
  if (status != LUA_OK && status != LUA_YIELD) return lua_error(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_call(lua_State *L) {
  once *o = check_once(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  switch (once_begin(o, op->task, &op->w)) {
    case ONCE_DONE:
      lua_pushboolean(L, 0);
      return 1;
    case ONCE_PARKED:
      return op_park(L, op, &wait_ops, o, returns_false);
    case ONCE_RUN:
      break;
  }
  int status = lua_pcallk(L, lua_gettop(L) - 2, 0, 0, 0, ran);
  return ran(L, status, 0);
}

static const luaL_Reg once_methods[] = {
  {"call", l_call},
  {NULL, NULL}
};

static const luaL_Reg once_metamethods[] = {
  {NULL, NULL}
};

void lonce_open(lua_State *L) {
  handle_register(L, OBJ_ONCE, once_methods, once_metamethods);
  lua_pushcfunction(L, l_once);
  lua_setfield(L, -2, "once");
}

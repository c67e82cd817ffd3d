/* lwaitgroup.c: the Lua face of waitgroups: lugo.waitgroup, add, done,
** wait. */
#include <lauxlib.h>

#include "../core/waitgroup.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static waitgroup *check_wg(lua_State *L) {
  return (waitgroup *)handle_check(L, 1, OBJ_WAITGROUP)->obj;
}

static int l_waitgroup(lua_State *L) {
  waitgroup *wg = waitgroup_new();
  if (!wg) return luaL_error(L, "lugo.waitgroup: out of memory");
  handle_push_new(L, (lugo_obj *)wg);
  return 1;
}

static int add(lua_State *L, waitgroup *wg, lua_Integer delta) {
  if (!waitgroup_add(wg, (long)delta))
    return luaL_error(L, "negative WaitGroup counter");
  return 0;
}

static int l_add(lua_State *L) {
  waitgroup *wg = check_wg(L);
  return add(L, wg, luaL_optinteger(L, 2, 1));
}

static int l_done(lua_State *L) {
  return add(L, check_wg(L), -1);
}

static const park_ops wait_ops = {"waitgroup wait", waitgroup_unlock,
                                  waitgroup_cancel};

static int l_wait(lua_State *L) {
  waitgroup *wg = check_wg(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (waitgroup_wait(wg, op->task, &op->w)) return 0;
  return op_park(L, op, &wait_ops, wg, op_done_nothing);
}

static const luaL_Reg waitgroup_methods[] = {
  {"add", l_add},
  {"done", l_done},
  {"wait", l_wait},
  {NULL, NULL}
};

static const luaL_Reg waitgroup_metamethods[] = {
  {NULL, NULL}
};

void lwaitgroup_open(lua_State *L) {
  handle_register(L, OBJ_WAITGROUP, waitgroup_methods, waitgroup_metamethods);
  lua_pushcfunction(L, l_waitgroup);
  lua_setfield(L, -2, "waitgroup");
}

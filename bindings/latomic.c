/* latomic.c: the Lua face of lugo.atomic: load, store, add, swap, cas on
** an integer cell shared by reference between goroutines. */
#include <lauxlib.h>

#include "../core/atomic.h"
#include "handle.h"
#include "module.h"

/* The integer at stack index idx, argument #arg of method; else raises
** docs/api.md's exact message (whatever the call style: a:add(x) or a.add(a, x)). */
static lua_Integer check_int(lua_State *L, int idx, int arg, const char *method) {
  int isint;
  lua_Integer n = lua_tointegerx(L, idx, &isint);
  if (isint && lua_type(L, idx) == LUA_TNUMBER) return n;
  if (lua_type(L, idx) == LUA_TNUMBER)
    luaL_error(L, "bad argument #%d to '%s' (number has no integer representation)",
               arg, method);
  luaL_error(L, "bad argument #%d to '%s' (integer expected, got %s)", arg, method,
             luaL_typename(L, idx));
  return 0;
}

static lugo_atomic *check_atomic(lua_State *L) {
  return (lugo_atomic *)handle_check(L, 1, OBJ_ATOMIC)->obj;
}

static int l_atomic(lua_State *L) {
  lua_Integer n = lua_isnoneornil(L, 1) ? 0 : check_int(L, 1, 1, "atomic");
  lugo_atomic *a = atomic_cell_new(n);
  if (!a) return luaL_error(L, "lugo.atomic: out of memory");
  handle_push_new(L, (lugo_obj *)a);
  return 1;
}

static int l_load(lua_State *L) {
  lua_pushinteger(L, atomic_cell_load(check_atomic(L)));
  return 1;
}

static int l_store(lua_State *L) {
  lugo_atomic *a = check_atomic(L);
  atomic_cell_store(a, check_int(L, 2, 1, "store"));
  return 0;
}

static int l_add(lua_State *L) {
  lugo_atomic *a = check_atomic(L);
  lua_pushinteger(L, atomic_cell_add(a, check_int(L, 2, 1, "add")));
  return 1;
}

static int l_swap(lua_State *L) {
  lugo_atomic *a = check_atomic(L);
  lua_pushinteger(L, atomic_cell_swap(a, check_int(L, 2, 1, "swap")));
  return 1;
}

static int l_cas(lua_State *L) {
  lugo_atomic *a = check_atomic(L);
  lua_Integer expected = check_int(L, 2, 1, "cas");
  lua_Integer desired = check_int(L, 3, 2, "cas");
  lua_pushboolean(L, atomic_cell_cas(a, expected, desired));
  return 1;
}

static const luaL_Reg atomic_methods[] = {
  {"load", l_load},
  {"store", l_store},
  {"add", l_add},
  {"swap", l_swap},
  {"cas", l_cas},
  {NULL, NULL}
};

static const luaL_Reg atomic_metamethods[] = {
  {NULL, NULL}
};

void latomic_open(lua_State *L) {
  handle_register(L, OBJ_ATOMIC, atomic_methods, atomic_metamethods);
  lua_pushcfunction(L, l_atomic);
  lua_setfield(L, -2, "atomic");
}

/* lrwmutex.c: the Lua face of rwmutexes: lugo.rwmutex, lock, unlock, rlock,
** runlock, trylock, tryrlock. */
#include <lauxlib.h>

#include "../core/rwmutex.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static rwmutex *check_rwmutex(lua_State *L) {
  return (rwmutex *)handle_check(L, 1, OBJ_RWMUTEX)->obj;
}

static int l_rwmutex(lua_State *L) {
  rwmutex *m = rwmutex_new();
  if (!m) return luaL_error(L, "lugo.rwmutex: out of memory");
  handle_push_new(L, (lugo_obj *)m);
  return 1;
}

static const park_ops lock_ops = {"rwmutex lock", rwmutex_unlock_internal,
                                  rwmutex_cancel};
static const park_ops rlock_ops = {"rwmutex rlock", rwmutex_unlock_internal,
                                   rwmutex_cancel};

/* Woken means the lock was handed to us: nothing is left to do after. */
static int l_lock(lua_State *L) {
  rwmutex *m = check_rwmutex(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (rwmutex_lock(m, op->task, &op->w)) return 0;
  return op_park(L, op, &lock_ops, m, op_done_nothing);
}

static int l_rlock(lua_State *L) {
  rwmutex *m = check_rwmutex(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (rwmutex_rlock(m, op->task, &op->w)) return 0;
  return op_park(L, op, &rlock_ops, m, op_done_nothing);
}

static int l_unlock(lua_State *L) {
  if (!rwmutex_unlock(check_rwmutex(L)))
    return luaL_error(L, "unlock of unlocked RWMutex");
  return 0;
}

static int l_runlock(lua_State *L) {
  if (!rwmutex_runlock(check_rwmutex(L)))
    return luaL_error(L, "runlock of unlocked RWMutex");
  return 0;
}

static int l_trylock(lua_State *L) {
  lua_pushboolean(L, rwmutex_trylock(check_rwmutex(L)));
  return 1;
}

static int l_tryrlock(lua_State *L) {
  lua_pushboolean(L, rwmutex_tryrlock(check_rwmutex(L)));
  return 1;
}

static const luaL_Reg rwmutex_methods[] = {
  {"lock", l_lock},
  {"unlock", l_unlock},
  {"rlock", l_rlock},
  {"runlock", l_runlock},
  {"trylock", l_trylock},
  {"tryrlock", l_tryrlock},
  {NULL, NULL}
};

static const luaL_Reg rwmutex_metamethods[] = {
  {NULL, NULL}
};

void lrwmutex_open(lua_State *L) {
  handle_register(L, OBJ_RWMUTEX, rwmutex_methods, rwmutex_metamethods);
  lua_pushcfunction(L, l_rwmutex);
  lua_setfield(L, -2, "rwmutex");
}

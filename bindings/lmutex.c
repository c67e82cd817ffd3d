/* lmutex.c: the Lua face of mutexes: lugo.mutex, lock, unlock, trylock. */
#include <lauxlib.h>

#include "../core/mutex.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static lugo_mutex *check_mutex(lua_State *L) {
  return (lugo_mutex *)handle_check(L, 1, OBJ_MUTEX)->obj;
}

static int l_mutex(lua_State *L) {
  lugo_mutex *m = mutex_new();
  if (!m) return luaL_error(L, "lugo.mutex: out of memory");
  handle_push_new(L, (lugo_obj *)m);
  return 1;
}

static const park_ops lock_ops = {"mutex lock", mutex_unlock_internal,
                                  mutex_cancel};

static int l_lock(lua_State *L) {
  lugo_mutex *m = check_mutex(L);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (mutex_lock(m, op->task, &op->w)) return 0;
  /* Woken by unlock means the lock was handed to us: nothing left to do. */
  return op_park(L, op, &lock_ops, m, op_done_nothing);
}

static int l_unlock(lua_State *L) {
  if (!mutex_unlock(check_mutex(L)))
    return luaL_error(L, "unlock of unlocked mutex");
  return 0;
}

static int l_trylock(lua_State *L) {
  lua_pushboolean(L, mutex_trylock(check_mutex(L)));
  return 1;
}

static const luaL_Reg mutex_methods[] = {
  {"lock", l_lock},
  {"unlock", l_unlock},
  {"trylock", l_trylock},
  {NULL, NULL}
};

static const luaL_Reg mutex_metamethods[] = {
  {NULL, NULL}
};

void lmutex_open(lua_State *L) {
  handle_register(L, OBJ_MUTEX, mutex_methods, mutex_metamethods);
  lua_pushcfunction(L, l_mutex);
  lua_setfield(L, -2, "mutex");
}

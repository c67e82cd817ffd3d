/* lcond.c: the Lua face of conds: lugo.cond(m), wait, signal, broadcast;
** m is a mutex or an rwmutex (its write lock). */
#include <lauxlib.h>

#include "../core/cond.h"
#include "../core/mutex.h"
#include "../core/rwmutex.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

static cond *check_cond(lua_State *L) {
  return (cond *)handle_check(L, 1, OBJ_COND)->obj;
}

static int l_cond(lua_State *L) {
  lugo_obj *lock;
  int flags;
  if (!handle_test(L, 1, &lock, &flags) ||
      (lock->kind != OBJ_MUTEX && lock->kind != OBJ_RWMUTEX))
    return luaL_error(L, "bad argument #1 to 'cond' (mutex or rwmutex expected, got %s)",
                      luaL_typename(L, 1));
  cond *c = cond_new(lock);
  if (!c) return luaL_error(L, "lugo.cond: out of memory");
  handle_push_new(L, (lugo_obj *)c);
  return 1;
}

static const park_ops wait_ops = {"cond wait", cond_unlock_internal,
                                  cond_cancel};
static const park_ops mutex_ops = {"mutex lock", mutex_unlock_internal,
                                   mutex_cancel};
static const park_ops rwmutex_ops = {"rwmutex lock", rwmutex_unlock_internal,
                                     rwmutex_cancel};

/* Signalled: takes the lock again (parking for it if need be), as Go's
** Wait does before it returns. Stack: the cond at 1. */
static int relock(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lugo_op *op = (lugo_op *)ctx;
  lugo_obj *lock = cond_lock(check_cond(L));
  if (lock->kind == OBJ_MUTEX) {
    if (mutex_lock((lugo_mutex *)lock, op->task, &op->w)) return 0;
    return op_park(L, op, &mutex_ops, lock, op_done_nothing);
  }
  if (rwmutex_lock((rwmutex *)lock, op->task, &op->w)) return 0;
  return op_park(L, op, &rwmutex_ops, lock, op_done_nothing);
}

static int l_wait(lua_State *L) {
  cond *c = check_cond(L);
  lua_settop(L, 1);
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  lugo_obj *lock = cond_lock(c);
  cond_wait_begin(c, op->task, &op->w);
  bool unlocked = lock->kind == OBJ_MUTEX ? mutex_unlock((lugo_mutex *)lock)
                                          : rwmutex_unlock((rwmutex *)lock);
  if (!unlocked) {
    cond_wait_abort(c, &op->w);
    return luaL_error(L, lock->kind == OBJ_MUTEX ? "unlock of unlocked mutex"
                                                 : "unlock of unlocked RWMutex");
  }
  return op_park(L, op, &wait_ops, c, relock);
}

static int l_signal(lua_State *L) {
  cond_signal(check_cond(L));
  return 0;
}

static int l_broadcast(lua_State *L) {
  cond_broadcast(check_cond(L));
  return 0;
}

static const luaL_Reg cond_methods[] = {
  {"wait", l_wait},
  {"signal", l_signal},
  {"broadcast", l_broadcast},
  {NULL, NULL}
};

static const luaL_Reg cond_metamethods[] = {
  {NULL, NULL}
};

void lcond_open(lua_State *L) {
  handle_register(L, OBJ_COND, cond_methods, cond_metamethods);
  lua_pushcfunction(L, l_cond);
  lua_setfield(L, -2, "cond");
}

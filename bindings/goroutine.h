/* goroutine.h: the goroutine driver's interface to the other bindings:
** who is running, where a blocking call keeps its state, how it parks. */
#ifndef LUGO_GOROUTINE_H
#define LUGO_GOROUTINE_H

#include <lua.h>
#include "../core/sched.h"
#include "../core/waitq.h"
#include "codec.h"

/* The state of one blocking call while it waits: in the goroutine record
** for a goroutine, on the C stack for a thread outside the runtime. */
typedef struct lugo_op {
  sched_task *task;
  waiter w;
  codec_msg slot;            /* the value sent, or the one received */
} lugo_op;

/* Storage for a blocking call made outside the runtime. */
typedef struct outside_op {
  sched_thread_task tt;
  lugo_op op;
} outside_op;

/* Id of the calling goroutine; 1 outside the runtime (the main goroutine). */
long gor_id(void);

/* Starts a blocking call: returns the op to fill (the goroutine's own, or
** storage for an outside thread). Raises "lugo: cannot block here ..." where
** the goroutine cannot yield. Call before queueing anything. */
lugo_op *op_begin(lua_State *L, outside_op *storage);

/* Parks the caller until its waiter is woken, then finishes in k (called as
** k(L, LUA_YIELD, (lua_KContext)op)). unlock(arg) releases the lock that
** the queueing call kept (park-commit); reason ("chan receive"...) is what
** a goroutine dump shows. Use as `return op_park(...)`. */
int op_park(lua_State *L, lugo_op *op, const char *reason,
            void (*unlock)(void *), void *arg, lua_KFunction k);

/* Pushes the caller's global table (its goroutine's, or the state's). */
void gor_push_env(lua_State *L);

/* The run hooks the scheduler calls. */
extern const sched_hooks gor_hooks;

/* Module functions implemented by the driver. */
int gor_l_go(lua_State *L);
int gor_l_yield(lua_State *L);
int gor_l_id(lua_State *L);

#endif

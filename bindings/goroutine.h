/* goroutine.h: the goroutine driver's interface to the other bindings:
** who is running, where a blocking call keeps its state, how it parks. */
#ifndef LUGO_GOROUTINE_H
#define LUGO_GOROUTINE_H

#include <lua.h>
#include "../core/scheduler.h"
#include "../core/timer.h"
#include "../core/waitq.h"
#include "codec.h"

/* The state of one blocking call while it waits: in the goroutine record
** for a goroutine, on the C stack for a thread outside the runtime. */
typedef struct lugo_op {
  sched_task *task;
  waiter w;
  codec_msg value;           /* the value sent, or the one received */
  timer_entry timer;         /* lugo.sleep's wake-up */
} lugo_op;

/* Storage for a blocking call made outside the runtime. */
typedef struct outside_op {
  sched_thread_task tt;      /* first: the scheduler knows only this */
  lugo_op op;
  lua_State *L;              /* the caller, for dumps while it waits */
  const char *reason;
} outside_op;

/* Id of the calling goroutine; 1 outside the runtime (the main goroutine). */
long gor_id(void);

/* Starts a blocking call: returns the op to fill (the goroutine's own, or
** storage for an outside thread). Raises "lugo: cannot block here ..." where
** the goroutine cannot yield. Call before queueing anything. */
lugo_op *op_begin(lua_State *L, outside_op *storage);

/* How to park on one kind of core object. */
typedef struct park_ops {
  const char *reason;                    /* for dumps: "chan receive"... */
  void (*unlock)(void *obj);             /* the lock the queueing call kept */
  bool (*cancel)(void *obj, waiter *w);  /* give up (deadlock); false: it completed */
} park_ops;

/* Parks the caller until its waiter is woken, then finishes in k (called as
** k(L, LUA_YIELD, (lua_KContext)op)). ops->unlock(obj) runs once the wait
** is recorded, before the yield (park-commit, docs/architecture.md rule 1;
** for an outside thread, inside sched_block). An outside thread woken by a deadlock
** gets the deadlock error instead (the lugo command reports and exits 2).
** Use as `return op_park(...)`. */
int op_park(lua_State *L, lugo_op *op, const park_ops *ops, void *obj,
            lua_KFunction k);

/* The text of a goroutine dump: every goroutine's state and traceback, the
** caller's first with caller_state ("running"); caller_state NULL: the
** caller is not a goroutine (a signal handling thread). Pushes it on L. */
void gor_push_dump(lua_State *L, const char *caller_state);

/* Makes a deadlock seen by this process's main thread print the dump and
** exit with status 2 (the lugo command), instead of raising an error. */
void gor_exit_on_deadlock(void);

/* Memory of at least size bytes owned by the running goroutine, kept while
** it parks and reused by its next call; NULL outside the runtime (or out of
** memory). */
void *gor_scratch(size_t size);

/* A message handler for lua_pcall: adds the traceback to string messages,
** as lua.c's does. */
int gor_msghandler(lua_State *L);

/* A continuation for blocking calls that return nothing once woken. */
int op_done_nothing(lua_State *L, int status, lua_KContext ctx);

/* Pushes the caller's global table (its goroutine's, or the state's). */
void gor_push_env(lua_State *L);

/* Who runs a body goroutine, and how its caller waits for it. */
typedef enum body_kind {
  BODY_MAIN,            /* goroutine 1 of the lugo command */
  BODY_MAIN_UNCOUNTED,  /* the same, its wait not counted for deadlocks (the
                        ** REPL, whose input thread can wake goroutine 1) */
  BODY_FOR_HOST         /* lugo_dofile/lugo_dostring: a new id, any worker */
} body_kind;
enum { BODY_OK, BODY_ERROR, BODY_DEADLOCK, BODY_NOMEM };

/* Runs body as a goroutine whose coroutine lives in L (a state of the
** calling thread, with L's globals as its own): goroutine 1 on the first
** worker, as the lugo command runs a script, or (BODY_FOR_HOST) a goroutine
** like any other. body gets arg as its one argument (light userdata).
** Waits, as a thread outside the runtime, until body returns, and returns
** BODY_OK, or BODY_ERROR (an error outside body's own pcall: in
** lugo_errmsg), BODY_DEADLOCK (the goroutine stays parked: keep L open),
** BODY_NOMEM. For goroutine 1, a panic or a deadlock ends the process with
** status 2 instead. */
int gor_run_body(lua_State *L, lua_CFunction body, void *arg, body_kind kind);

/* The REPL's hold on goroutine 1 (protocol in gor_park.c, "interrupting
** the main goroutine"): while interruptible, gor_interrupt_main(msg) ends
** what goroutine 1 runs with the error msg, cancelling a wait it is in;
** repeat while gor_main_interrupt_pending() (a try can miss). */
void gor_main_interruptible(bool on);
bool gor_interrupt_main(const char *msg);   /* false: not interruptible */
bool gor_main_interrupt_pending(void);

/* A goroutine's panic prints its report (through output_write) and ends
** that goroutine only, instead of the process (the REPL). */
void gor_survive_panics(void);

/* Is the main goroutine goroutine 1 (the lugo command) rather than a thread
** outside the runtime (stock lua5.4, a host)? */
bool gor_main_is_goroutine(void);

/* The runtime's close (gor_close.c, for embed.c): begin refuses new
** goroutines (lugo.go raises "lugo: runtime closing"); fail_all makes every
** goroutine fail its wait, or its computation at the next preemption, and
** every outside thread's wait, and returns how many workers it asked;
** fail_done says whether they all did; end goes back to normal. */
void gor_close_begin(void);
int gor_fail_all(void);
bool gor_fail_done(int sent);
void gor_close_end(void);

/* The run hooks the scheduler calls. */
extern const sched_hooks gor_hooks;

/* Module functions implemented by the driver. */
int gor_l_go(lua_State *L);
int gor_l_go_on_other_workers(lua_State *L);   /* lugo.net.serve's */
int gor_l_yield(lua_State *L);
int gor_l_id(lua_State *L);
int gor_l_run(lua_State *L);
int gor_l_goroutines(lua_State *L);
int gor_l_stack(lua_State *L);

#endif

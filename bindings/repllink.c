/* repllink.c: the REPL's link between the input thread (prompt.c) and
** goroutine 1, which runs lua/lugo/replmain.lua: one request at a time,
** its reply, and the end of a line by interrupt or deadlock. */
#include "repllink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>

#include "../core/chan.h"
#include "goroutine.h"
#include "handle.h"
#include "repl_lua.h"       /* generated from lua/lugo/repl.lua */
#include "replmain_lua.h"   /* generated from lua/lugo/replmain.lua */

/*
** {======================================================
** The link: requests from this thread to goroutine 1, replies back
** =======================================================
** One request at a time: this thread sets it and waits for the reply.
** Goroutine 1 parks while no request is there (its waker is this thread,
** which counts as awake at the prompt: no false deadlock). This thread
** waits for the reply as a registered thread outside the runtime, so a
** line that deadlocks the runtime wakes it with the deadlock flag: it then
** ends the line with the report (gor_interrupt_main).
*/
typedef struct repl_link {
  pthread_mutex_t mu;        /* guards every field */
  bool has_request;
  char kind[16];             /* "line", "chunk", "script", "complete", "quit" */
  char *a, *b;               /* its strings (malloc'd), or NULL */
  sched_task *goroutine;     /* goroutine 1, parked for a request */
  bool replied;
  char *reply;               /* the reply's string (malloc'd), or NULL: nil */
  sched_task *thread;        /* this thread, parked for the reply */
} repl_link;

static repl_link the_link = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under the link's lock: takes the task parked in *where (NULL if none),
** counting it unblocked; the caller wakes it after unlocking. */
static sched_task *take_parked(sched_task **where) {
  sched_task *t = *where;
  *where = NULL;
  if (t) sched_unblocked(t);
  return t;
}

static void link_unlock(void *l) {
  pthread_mutex_unlock(&((repl_link *)l)->mu);
}

/* Gives up goroutine 1's wait for a request (only an interrupt could ask:
** goroutine 1 is not interruptible while it waits here). */
static bool link_cancel(void *l, waiter *w) {
  repl_link *k = l;
  pthread_mutex_lock(&k->mu);
  bool waiting = k->goroutine == w->task;
  if (waiting) {
    k->goroutine = NULL;
    sched_unblocked(w->task);
  }
  pthread_mutex_unlock(&k->mu);
  return waiting;
}

static const park_ops input_ops = {"waiting for input", link_unlock, link_cancel};

/* Under the_link.mu, with a request: pushes kind, a, b and unlocks. */
static int push_request(lua_State *L) {
  lua_pushstring(L, the_link.kind);
  if (the_link.a) lua_pushstring(L, the_link.a); else lua_pushnil(L);
  if (the_link.b) lua_pushstring(L, the_link.b); else lua_pushnil(L);
  free(the_link.a);
  free(the_link.b);
  the_link.a = the_link.b = NULL;
  the_link.has_request = false;
  pthread_mutex_unlock(&the_link.mu);
  return 3;
}

static int next_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  pthread_mutex_lock(&the_link.mu);
  return push_request(L);
}

/* next_request() in goroutine 1: kind, a, b of the next request. */
static int l_next_request(lua_State *L) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  pthread_mutex_lock(&the_link.mu);
  if (the_link.has_request) return push_request(L);
  op->w.task = op->task;
  the_link.goroutine = op->task;
  sched_blocked(op->task);
  return op_park(L, op, &input_ops, &the_link, next_resumed);
}

/* reply([s]) in goroutine 1: the answer to the current request. */
static int l_reply(lua_State *L) {
  const char *s = luaL_optstring(L, 1, NULL);
  char *copy = s ? strdup(s) : NULL;
  pthread_mutex_lock(&the_link.mu);
  the_link.replied = true;
  the_link.reply = copy;
  sched_task *t = take_parked(&the_link.thread);
  pthread_mutex_unlock(&the_link.mu);
  if (t) sched_wake(t);
  return 0;
}

static int l_interruptible(lua_State *L) {
  gor_main_interruptible(lua_toboolean(L, 1));
  return 0;
}

/* For lugo.repl's show: whether the channel at 1 is closed. */
static int l_chan_closed(lua_State *L) {
  lugo_obj *o;
  int flags;
  lua_pushboolean(L, handle_test(L, 1, &o, &flags) && o->kind == OBJ_CHAN &&
                     chan_closed((chan *)o));
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** This thread's side of a request
** =======================================================
*/

static atomic_bool line_running;     /* a line (or script) runs: Ctrl-C interrupts */
static lua_State *scratch;           /* this thread's own state: syntax, dumps */

/* Ends the running line with the error msg. A try is refused until the
** line is interruptible, and can miss while goroutine 1 moves between
** states: repeat until the message was raised, or the line, interruptible
** once, is not any more (it raised, or ended), or it is over. */
void repl_interrupt_line(const char *msg) {
  bool accepted = false;
  while (atomic_load(&line_running)) {
    if (gor_interrupt_main(msg)) {
      accepted = true;
      if (!gor_main_interrupt_pending()) return;   /* raised */
    } else if (accepted) {
      return;
    }
    nanosleep(&(struct timespec){0, 2000000}, NULL);
  }
}

static const char deadlock_text[] = "fatal error: all goroutines are asleep - deadlock!\n\n";

/* The runtime is deadlocked while goroutine 1 runs a line: end the line
** with the report as its error (docs/api.md). */
static void end_line_with_deadlock(void) {
  gor_push_dump(scratch, NULL);
  lua_pushstring(scratch, deadlock_text);
  lua_insert(scratch, -2);
  lua_concat(scratch, 2);
  repl_interrupt_line(lua_tostring(scratch, -1));
  lua_pop(scratch, 1);
}

/* Hands goroutine 1 a request. */
static void send_request(const char *kind, const char *a, const char *b) {
  pthread_mutex_lock(&the_link.mu);
  snprintf(the_link.kind, sizeof the_link.kind, "%s", kind);
  the_link.a = a ? strdup(a) : NULL;
  the_link.b = b ? strdup(b) : NULL;
  the_link.has_request = true;
  the_link.replied = false;
  sched_task *t = take_parked(&the_link.goroutine);
  pthread_mutex_unlock(&the_link.mu);
  if (t) sched_wake(t);
}

/* Hands goroutine 1 a request and waits for its reply; returns the reply
** (malloc'd) or NULL (nil). */
char *repl_request(const char *kind, const char *a, const char *b) {
  send_request(kind, a, b);
  for (;;) {
    /* An outside_op, as dumps expect of every blocked thread; L NULL: not
    ** listed (goroutine 1 is the one that waits, on the worker). */
    outside_op wait;
    sched_thread_task *tt = &wait.tt;
    sched_thread_task_init(tt);
    wait.L = NULL;
    wait.reason = NULL;
    pthread_mutex_lock(&the_link.mu);
    if (the_link.replied) {
      char *reply = the_link.reply;
      the_link.reply = NULL;
      pthread_mutex_unlock(&the_link.mu);
      sched_thread_task_destroy(tt);
      return reply;
    }
    the_link.thread = &tt->task;
    sched_blocked(&tt->task);
    tt->task.unlock = link_unlock;
    tt->task.unlock_arg = &the_link;
    sched_block(tt);
    bool deadlock = tt->deadlock;
    sched_thread_task_destroy(tt);
    if (!deadlock) continue;
    pthread_mutex_lock(&the_link.mu);
    bool still_waiting = the_link.thread == &tt->task;
    if (still_waiting) {
      the_link.thread = NULL;
      sched_unblocked(&tt->task);
    }
    pthread_mutex_unlock(&the_link.mu);
    if (still_waiting) end_line_with_deadlock();
  }
}

/* Runs a chunk of the kind given in goroutine 1; true if it succeeded
** (for "line", the REPL reports errors itself and this is always true). */
bool repl_run_request(const char *kind, const char *a) {
  atomic_store(&line_running, true);
  char *reply = repl_request(kind, a, NULL);
  atomic_store(&line_running, false);
  bool ok = reply != NULL;
  free(reply);
  return ok;
}

/* Is chunk an incomplete statement (more lines wanted)? As lua.c decides. */
bool repl_incomplete(const char *chunk) {
  lua_State *S = scratch;
  lua_pushfstring(S, "return %s", chunk);
  int status = luaL_loadbuffer(S, lua_tostring(S, -1), lua_rawlen(S, -1), "=stdin");
  lua_settop(S, 0);
  if (status == LUA_OK) return false;
  status = luaL_loadbuffer(S, chunk, strlen(chunk), "=stdin");
  bool more = false;
  if (status == LUA_ERRSYNTAX) {
    size_t n;
    const char *msg = lua_tolstring(S, -1, &n);
    more = n >= 5 && strcmp(msg + n - 5, "<eof>") == 0;
  }
  lua_settop(S, 0);
  return more;
}

/* }====================================================== */


/* The body of goroutine 1: lugo.repl's module, then replmain's loop. */
static int repl_body(lua_State *L) {
  const char *progname = lua_touserdata(L, 1);
  lua_settop(L, 0);
  luaL_loadbuffer(L, repl_lua, sizeof repl_lua - 1, "=lugo.repl");
  lua_call(L, 0, 1);
  lua_pushcfunction(L, l_chan_closed);
  lua_setfield(L, -2, "chan_closed");
  int module = lua_gettop(L);
  luaL_loadbuffer(L, replmain_lua, sizeof replmain_lua - 1, "=lugo.replmain");
  lua_pushcfunction(L, l_next_request);
  lua_pushcfunction(L, l_reply);
  lua_pushcfunction(L, l_interruptible);
  lua_pushvalue(L, module);
  lua_pushstring(L, progname);
  lua_callk(L, 5, 0, 0, op_done_nothing);
  return 0;
}

typedef struct body_start {
  lua_State *L;
  const char *progname;
} body_start;

/* Runs goroutine 1 and waits for it, uncounted: the input thread is the
** one that can wake it (see "The link"). */
static void *main_goroutine_thread(void *arg) {
  body_start *start = arg;
  gor_run_body(start->L, repl_body, (void *)start->progname, BODY_MAIN_UNCOUNTED);
  return NULL;
}

static pthread_t main_thread;
static body_start start;

bool repl_line_running(void) {
  return atomic_load(&line_running);
}

bool repl_link_start(lua_State *L, const char *progname) {
  scratch = luaL_newstate();
  if (!scratch) return false;
  start.L = L;
  start.progname = progname;
  return pthread_create(&main_thread, NULL, main_goroutine_thread, &start) == 0;
}

void repl_link_finish(void) {
  send_request("quit", NULL, NULL);   /* goroutine 1 returns: no reply */
  pthread_join(main_thread, NULL);
  lua_close(scratch);
  scratch = NULL;
}

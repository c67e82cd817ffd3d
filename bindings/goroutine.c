/* goroutine.c: a goroutine's life: start (lugo.go, lugo.run, goroutine 1),
** run (the resume), done, panics. A started record is its owner's only. */
#include "goroutine_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>

#include "../core/pool.h"
#include "embed.h"
#include "hostrun.h"
#include "output.h"

static atomic_long next_id = 2;        /* 1 is the main goroutine */
static atomic_flag panicking = ATOMIC_FLAG_INIT;
/* The main goroutine is goroutine 1 (the lugo command), rather than the
** thread outside the runtime that loaded lugo (stock lua5.4, a host). */
static atomic_bool main_is_goroutine;

/* ---- starting ---- */

long gor_id(void) {
  goroutine *g = running();
  return g ? g->id : 1;
}

void gor_push_env(lua_State *L) {
  goroutine *g = running();
  if (g) lua_rawgeti(L, LUA_REGISTRYINDEX, g->env_ref);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
}

int gor_l_id(lua_State *L) {
  lua_pushinteger(L, gor_id());
  return 1;
}
void *gor_scratch(size_t size) {
  goroutine *g = running();
  if (!g) return NULL;
  if (size > g->scratch_size) {
    void *mem = realloc(g->scratch, size);
    if (!mem) return NULL;
    g->scratch = mem;
    g->scratch_size = size;
  }
  return g->scratch;
}

static void join_release(run_join *j);

static void gor_free(goroutine *g) {
  if (g->join) join_release(g->join);
  codec_free(&g->start);
  free(g->scratch);
  shared_release(g->path);
  shared_release(g->cpath);
  pool_free(g);
}

/* Notes in g where the nearest Lua function calling us is (pcall(lugo.go,
** f) puts a C frame in between). Formatting "source:line" costs more than
** the rest of lugo.go, and is needed only in reports: see gor_created_at. */
static void where_called(lua_State *L, goroutine *g) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0) {
      size_t len = strlen(ar.short_src);   /* < LUA_IDSIZE */
      memcpy(g->created_src, ar.short_src, len + 1);
      g->created_line = ar.currentline;
      return;
    }
  }
  g->created_src[0] = '\0';
  g->created_line = 0;
}

/* A new goroutine record running the function at stack index 1 with the
** arguments above it (all copied now: may raise), not yet spawned. */
static goroutine *new_goroutine(lua_State *L, const char *who) {
  if (lua_type(L, 1) != LUA_TFUNCTION)
    /* Not luaL_checktype: through pcall it would name 'lugo.go'. */
    luaL_error(L, "bad argument #1 to '%s' (function expected, got %s)",
               strchr(who, '.') + 1, luaL_typename(L, 1));
  if (gor_close_phase() != CLOSE_NONE) luaL_error(L, "%s: " CLOSING_MSG, who);
  if (!embed_is_open()) luaL_error(L, "%s: the runtime is closed (lugo_close)", who);
  int n = lua_gettop(L);
  goroutine *self = running();
  codec_msg start;
  gor_push_env(L);
  codec_encode_carrying(L, 1, n, n + 1, "argument #%d", &start);   /* may raise */
  lua_pop(L, 1);
  /* From the pool: records are made by the spawner's thread and freed by
  ** the worker that ran them, by the thousand. */
  goroutine *g = pool_zalloc(sizeof *g);
  if (!g) {
    codec_free(&start);
    luaL_error(L, "%s: out of memory", who);
    return NULL;
  }
  g->start = start;
  where_called(L, g);
  /* A goroutine runs in its worker's VM: L is of that VM (but for the
  ** main goroutine's, see prepare_main). */
  paths_take(L, self && !self->body ? vm_of(L) : NULL, g);
  g->task.kind = TASK_GOROUTINE;
  g->id = atomic_fetch_add(&next_id, 1);
  g->parent = self ? self->id : 1;
  return g;
}

int gor_l_go(lua_State *L) {
  goroutine *g = new_goroutine(L, "lugo.go");
  long id = g->id;
  sched_spawn(&g->task);      /* g may run, and finish, from here on */
  lua_pushinteger(L, id);
  return 1;
}

/* lugo.net.serve's: starts fn(...) (stack 1..n) as a new goroutine on
** every worker but the caller's, each pinned to its worker (so that every
** worker accepts: API.md, serve). Returns how many it started. */
int gor_l_go_on_other_workers(lua_State *L) {
  sched_start();
  int here = sched_current_index(), started = 0;
  for (int i = 0, n = sched_running_workers(); i < n; i++) {
    if (i == here) continue;
    goroutine *g = new_goroutine(L, "lugo.net.serve");
    sched_spawn_on(&g->task, i);
    started++;
  }
  lua_pushinteger(L, started);
  return 1;
}

/* ---- lugo.run ---- */

static run_join *join_new(void) {
  run_join *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  pthread_mutex_init(&j->mu, NULL);
  atomic_init(&j->refs, 2);   /* the caller's and the goroutine's */
  return j;
}

static void join_release(run_join *j) {
  if (atomic_fetch_sub(&j->refs, 1) != 1) return;
  pthread_mutex_destroy(&j->mu);
  codec_free(&j->results);
  free(j->error);
  free(j);
}

static void join_unlock(void *j) {
  pthread_mutex_unlock(&((run_join *)j)->mu);
}

/* The outcome is in: wake the caller if it parked. Before the goroutine's
** RUN_DONE, so that the deadlock count never passes through zero. */
static void join_finish(run_join *j) {
  pthread_mutex_lock(&j->mu);
  j->done = true;
  sched_task *waiting = j->waiting;
  j->waiting = NULL;
  if (waiting) sched_unblocked(waiting);
  pthread_mutex_unlock(&j->mu);
  if (waiting) sched_wake(waiting);
}

/* Gives up the wait of a caller outside the runtime (a deadlock): true if
** it was still waiting. The caller's reference goes with it. */
static bool join_cancel(void *obj, waiter *w) {
  run_join *j = obj;
  pthread_mutex_lock(&j->mu);
  bool waiting = j->waiting == w->task;
  if (waiting) {
    j->waiting = NULL;
    sched_unblocked(w->task);
  }
  pthread_mutex_unlock(&j->mu);
  if (waiting) join_release(j);
  return waiting;
}

static const park_ops run_ops = {"lugo.run", join_unlock, join_cancel};

/* Pushes the goroutine's results, or raises its error, in the caller. */
static int run_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lugo_op *op = (lugo_op *)ctx;
  run_join *j = op->w.elem;
  op->w.elem = NULL;
  if (j->error) {
    lua_pushstring(L, j->error);
    join_release(j);
    return lua_error(L);
  }
  gor_push_env(L);
  int env = lua_gettop(L);
  int n = codec_decode_owned(L, &j->results, env);   /* may raise */
  lua_remove(L, env);
  join_release(j);
  return n;
}

int gor_l_run(lua_State *L) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);   /* may raise: cannot block here */
  goroutine *g = new_goroutine(L, "lugo.run");
  run_join *j = join_new();
  if (!j) {
    gor_free(g);
    return luaL_error(L, "lugo.run: out of memory");
  }
  g->join = j;
  op->w.elem = j;   /* the join travels in the op, for run_done */
  sched_spawn(&g->task);
  pthread_mutex_lock(&j->mu);
  if (j->done) {
    pthread_mutex_unlock(&j->mu);
    return run_done(L, LUA_OK, (lua_KContext)op);
  }
  op->w.task = op->task;     /* join_cancel knows the caller by it */
  j->waiting = op->task;
  sched_blocked(op->task);
  return op_park(L, op, &run_ops, j, run_done);
}

/* ---- running on a worker ---- */

/* After fn of a lugo.run goroutine returned: copies its results (above the
** env at index 1) for the caller; a value that cannot cross raises here. */
static int entry_results(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  goroutine *g = (goroutine *)ctx;
  codec_encode(L, 2, lua_gettop(L) - 1, 1, "result #%d", &g->join->results);
  return 0;
}

/* Body of every goroutine's coroutine but the main one: decode fn and
** args, call fn. */
static int gor_entry(lua_State *L) {
  goroutine *g = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->env_ref);
  int n = codec_decode_owned(L, &g->start, 1) - 1;
  /* The globals carried with fn (codec_encode_carrying): into the env. */
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 1);
    }
  }
  lua_pop(L, 1);
  if (g->join) {
    lua_callk(L, n - 1, LUA_MULTRET, (lua_KContext)g, entry_results);
    return entry_results(L, LUA_OK, (lua_KContext)g);
  }
  lua_callk(L, n - 1, 0, 0, op_done_nothing);   /* env stays below fn */
  return 0;
}

/* Links g into the started goroutines of the VM L, for dumps. */
static void link_started(lua_State *L, goroutine *g) {
  vm_state *vm = vm_of(L);
  g->next = vm->started;
  if (g->next) g->next->prev = g;
  vm->started = g;
}

/* A body goroutine's coroutine lives in its home state (the lugo
** command's own Lua state, or a lugo_dofile's: see gor_run_body), not in
** its worker's VM; its globals are that state's. Its body is the coroutine's function, so that its
** traceback ends in one C frame, as lua.c's main chunk does. */
static void prepare_main(lua_State *L, goroutine *g) {
  g->co = lua_newthread(g->home);
  g->co_ref = luaL_ref(g->home, LUA_REGISTRYINDEX);
  g->env_ref = LUA_RIDX_GLOBALS;
  link_started(L, g);
  lua_pushcfunction(g->co, g->body);
  lua_pushlightuserdata(g->co, g->body_arg);
}

static void gor_prepare(lua_State *L, goroutine *g, sched_worker *w) {
  vm_state *vm = vm_of(L);
  g->task.owner = w;
  if (g->body) {
    prepare_main(L, g);
    return;
  }
  paths_apply(L, vm, g);
  hostrun_apply_globals(L, &vm->host_globals_seen);
  copool_get(L, vm, g);
  lua_newtable(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->env_meta_ref);
  lua_setmetatable(L, -2);
  lua_rawseti(L, LUA_REGISTRYINDEX, g->env_ref);
  link_started(L, g);
  lua_pushcfunction(g->co, gor_entry);
  lua_pushlightuserdata(g->co, g);
}

/* The message of the error on top of co, as lua.c's msghandler words it. */
static const char *error_message(lua_State *co) {
  const char *msg = lua_tostring(co, -1);
  if (msg) return msg;
  if (luaL_callmeta(co, -1, "__tostring") && lua_type(co, -1) == LUA_TSTRING)
    return lua_tostring(co, -1);
  return lua_pushfstring(co, "(error object is a %s value)", luaL_typename(co, -1));
}

static atomic_bool survive_panics;

void gor_survive_panics(void) {
  atomic_store(&survive_panics, true);
}

/* An uncaught error: print as Go does and end the process with status 2
** (at the REPL: the goroutine ends, the session goes on). */
static void gor_panic(lua_State *L, goroutine *g) {
  const char *msg = error_message(g->co);
  const char *tb = gor_push_traceback(L, g, NULL);
  void (*on_panic)(const char *report, void *ud);
  void *ud;
  bool to_host = embed_panic_handler(&on_panic, &ud);
  bool survive = atomic_load(&survive_panics) || to_host;
  if (!survive && atomic_flag_test_and_set(&panicking)) {
    for (;;) pause();          /* another goroutine is already reporting */
  }
  char where[LUA_IDSIZE + 24];
  const char *report = lua_pushfstring(L,
      "panic: %s\n\ngoroutine %d [running]:\n%s\ncreated by goroutine %d at %s\n",
      msg, (int)g->id, tb, (int)g->parent,
      gor_created_at(g, where, sizeof where));
  if (to_host) {
    on_panic(report, ud);       /* only that goroutine ends */
    lua_pop(L, 2);
    return;
  }
  if (survive) {
    output_write(stderr, report, strlen(report));
    lua_pop(L, 2);
    return;
  }
  fflush(stdout);
  fputs(report, stderr);
  fflush(stderr);
  _exit(2);
}

/* The error of a lugo.run goroutine goes to its caller: message, then the
** goroutine's traceback. */
static void give_error(lua_State *L, goroutine *g) {
  gor_push_traceback(L, g, error_message(g->co));
  g->join->error = strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  if (!g->join->error) g->join->error = strdup("not enough memory");
}

/* The close came before g started: it never runs (a lugo.run caller, or a
** host's lugo_dofile, gets the closing error). */
static run_result drop_unstarted(goroutine *g, sched_worker *w) {
  g->task.owner = w;
  if (g->join) {
    g->join->error = strdup(CLOSING_MSG);
    join_finish(g->join);
  }
  return RUN_DONE;
}

static run_result gor_run(sched_worker *w, void *vm, sched_task *t) {
  lua_State *L = vm;
  goroutine *g = (goroutine *)t;
  int nargs = 0, nres;
  if (t->kind == TASK_CONTROL) return gor_run_control(L, t);
  if (!t->owner) {
    if (gor_close_phase() == CLOSE_FAILING) return drop_unstarted(g, w);
    gor_prepare(L, g, w);
    nargs = 1;
  }
  g->parked = false;
  if (g->fail_pending) gor_preempt(w, t);   /* raises at once: gor_vm.c */
#ifdef LUGO_UNDER_TSAN
  lua_sethook(g->co, gor_signal_point, LUA_MASKCOUNT, 1000);
#endif
  int status = lua_resume(g->co, g->body ? NULL : L, nargs, &nres);
  g->preempted = false;
  if (status == LUA_YIELD) {
    lua_pop(g->co, nres);
    yield_reason reason = g->reason;
    g->reason = YIELD_GOSCHED;
    g->parked = (reason == YIELD_PARK);
    return g->parked ? RUN_PARKED : RUN_YIELDED;
  }
  /* A goroutine the close failed ends quietly: not a panic. */
  if (status != LUA_OK && !g->join && gor_close_phase() == CLOSE_NONE) gor_panic(L, g);
  if (g->join) {
    if (status != LUA_OK) give_error(L, g);
    /* Once the body's waiter is woken its thread closes the home state. */
    if (g->body) luaL_unref(g->home, LUA_REGISTRYINDEX, g->co_ref);
    join_finish(g->join);
  }
  return RUN_DONE;
}

static void gor_done(sched_worker *w, void *vm, sched_task *t) {
  (void)w;
  lua_State *L = vm;
  goroutine *g = (goroutine *)t;
  park_main_ended(g);
  vm_state *state = vm_of(L);
  if (g->co) {               /* it started (see drop_unstarted) */
    if (g->prev) g->prev->next = g->next; else state->started = g->next;
    if (g->next) g->next->prev = g->prev;
    if (!g->body) copool_put(L, state, g);   /* a body's: see gor_run */
  }
  gor_free(g);
}

/* ---- the main goroutine ---- */

int gor_run_body(lua_State *L, lua_CFunction body, void *arg, body_kind kind) {
  goroutine *g = pool_zalloc(sizeof *g);
  run_join *j = join_new();
  if (!g || !j) {
    pool_free(g);
    free(j);
    if (kind == BODY_FOR_HOST) return BODY_NOMEM;
    fprintf(stderr, "lugo: not enough memory\n");
    exit(1);
  }
  g->body = body;
  g->body_arg = arg;
  g->home = L;
  g->join = j;
  g->task.kind = TASK_GOROUTINE;
  g->parent = 0;
  park_install_wrappers(L);
  if (kind == BODY_FOR_HOST) {
    g->id = atomic_fetch_add(&next_id, 1);
  } else {
    g->id = 1;
    park_main_started(g);
    atomic_store(&main_is_goroutine, true);
  }
  if (kind != BODY_MAIN_UNCOUNTED) sched_register_thread();
  /* This thread waits as a thread outside the runtime that dumps do not
  ** list (L NULL): the goroutine is the one on the worker. */
  outside_op wait;
  sched_thread_task_init(&wait.tt);
  wait.L = NULL;
  wait.op.task = &wait.tt.task;
  wait.op.w.task = &wait.tt.task;
  if (kind == BODY_FOR_HOST) sched_spawn(&g->task); else sched_spawn_main(&g->task);
  int result = BODY_OK;
  pthread_mutex_lock(&j->mu);
  if (!j->done) {
    j->waiting = &wait.tt.task;
    sched_blocked(&wait.tt.task);
    wait.tt.task.unlock = join_unlock;
    wait.tt.task.unlock_arg = j;
    sched_block(&wait.tt);
    /* Closing: the body fails, or never starts; either way it finishes
    ** the join. */
    if (wait.tt.aborted) sched_wait_woken(&wait.tt);
    else if (wait.tt.deadlock && join_cancel(j, &wait.op.w)) {
      /* The report needs a state of this thread's own: L is the body's. */
      if (kind != BODY_FOR_HOST) park_report_deadlock(luaL_newstate(), NULL);
      result = BODY_DEADLOCK;   /* the goroutine stays parked; j is its */
    }
  } else {
    pthread_mutex_unlock(&j->mu);
  }
  sched_thread_task_destroy(&wait.tt);
  if (result == BODY_DEADLOCK) return result;
  if (j->error) {            /* raised outside body's own protection */
    if (kind == BODY_FOR_HOST) {
      result = BODY_ERROR;
      embed_set_error(LUGO_ELUA, "%s", j->error);
    } else {
      fprintf(stderr, "lugo: %s\n", j->error);
      fflush(stderr);
      exit(1);
    }
  }
  join_release(j);
  return result;
}

bool gor_main_is_goroutine(void) {
  return atomic_load(&main_is_goroutine);
}

const sched_hooks gor_hooks = {
  .worker_start = gor_worker_start,
  .run = gor_run,
  .done = gor_done,
  .preempt = gor_preempt,
  .worker_stop = gor_worker_stop,
};

/* goroutine.c: the goroutine driver: worker VMs, starting and resuming
** goroutines, parking them in blocking calls, and panics. */
#include "goroutine.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>

#include "coroutine_lua.h"   /* generated from lua/lugo/coroutine.lua */
#include "module.h"

/* Why the goroutine's coroutine yielded back to its worker. */
typedef enum yield_reason {
  YIELD_GOSCHED,     /* lugo.yield, or a bare coroutine.yield at top level */
  YIELD_PARK         /* a blocking call queued a waiter */
} yield_reason;

typedef struct goroutine {
  sched_task task;           /* first: the scheduler sees only this */
  long id;
  long parent;
  char created_at[LUA_IDSIZE + 24];   /* "source:line" of the lugo.go call */
  codec_msg start;           /* fn and its arguments until started */
  struct shared_str *path, *cpath;   /* creator's package.path and cpath */
  lua_State *co;             /* the coroutine, once started (owner's VM) */
  int co_ref, env_ref;       /* registry anchors in the owner's VM */
  yield_reason reason;
  const char *wait_reason;   /* what it waits for while parked (a literal) */
  bool parked;               /* owner only: in a blocking call */
  lua_State *volatile running_co;  /* nested coroutine running, or NULL */
  volatile bool preempted;   /* set by the preemption hook before it yields */
  struct goroutine *prev, *next;  /* owner only: the VM's started goroutines */
  lugo_op op;                /* the blocking call in progress */
  void *scratch;             /* gor_scratch's memory */
  size_t scratch_size;
} goroutine;

/* Yielded by a blocking call: tells wrappers of nested coroutines to pass
** the yield up (lua/lugo/coroutine.lua). Only its address matters. */
static char park_sentinel;

static atomic_long next_id = 2;        /* 1 is the main goroutine */
static atomic_flag panicking = ATOMIC_FLAG_INIT;

static goroutine *running(void) {
  return (goroutine *)sched_running();
}

long gor_id(void) {
  goroutine *g = running();
  return g ? g->id : 1;
}

void gor_push_env(lua_State *L) {
  goroutine *g = running();
  if (g) lua_rawgeti(L, LUA_REGISTRYINDEX, g->env_ref);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
}

/* ---- blocking calls ---- */

lugo_op *op_begin(lua_State *L, outside_op *storage) {
  goroutine *g = running();
  if (!g) {
    sched_register_thread();
    sched_thread_task_init(&storage->tt);
    storage->L = NULL;
    storage->op.task = &storage->tt.task;
    return &storage->op;
  }
  if (!lua_isyieldable(L))
    luaL_error(L, "lugo: cannot block here (attempt to yield across a C-call boundary)");
  g->op.task = &g->task;
  return &g->op;
}

static const char deadlock_msg[] = "fatal error: all goroutines are asleep - deadlock!";
static atomic_bool exit_on_deadlock;

void gor_exit_on_deadlock(void) {
  atomic_store(&exit_on_deadlock, true);
}

/* Prints the deadlock report (main's wait first) and ends the process. */
static void report_deadlock(lua_State *L, const char *reason) {
  char state[64];
  snprintf(state, sizeof state, "%s", reason);
  gor_push_dump(L, state);
  fflush(stdout);
  fprintf(stderr, "%s\n\n%s", deadlock_msg, lua_tostring(L, -1));
  fflush(stderr);
  _exit(2);
}

int op_park(lua_State *L, lugo_op *op, const park_ops *ops, void *obj,
            lua_KFunction k) {
  op->task->unlock = ops->unlock;
  op->task->unlock_arg = obj;
  if (op->task->kind == TASK_THREAD) {
    sched_thread_task *tt = (sched_thread_task *)op->task;
    outside_op *outside = (outside_op *)tt;
    outside->L = L;
    outside->reason = ops->reason;
    sched_block(tt);
    bool deadlock = tt->deadlock;
    sched_thread_task_destroy(tt);
    if (deadlock && ops->cancel(obj, &op->w)) {
      if (atomic_load(&exit_on_deadlock)) report_deadlock(L, ops->reason);
      return luaL_error(L, "%s", deadlock_msg);
    }
    return k(L, LUA_YIELD, (lua_KContext)op);
  }
  goroutine *g = running();
  g->reason = YIELD_PARK;
  g->wait_reason = ops->reason;
  lua_pushlightuserdata(L, &park_sentinel);
  return lua_yieldk(L, 1, (lua_KContext)op, k);
}

/* ---- module functions ---- */

int op_done_nothing(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}

int gor_l_yield(lua_State *L) {
  goroutine *g = running();
  if (!g) {
    sched_yield();
    return 0;
  }
  if (!lua_isyieldable(L)) return 0;   /* nothing else can run here anyway */
  g->reason = YIELD_GOSCHED;
  lua_pushlightuserdata(L, &park_sentinel);
  return lua_yieldk(L, 1, 0, op_done_nothing);
}

int gor_l_id(lua_State *L) {
  lua_pushinteger(L, gor_id());
  return 1;
}

/* An immutable string shared by reference: the package paths every
** goroutine carries are almost always the same few. */
typedef struct shared_str {
  atomic_int refs;
  size_t len;
  char text[];
} shared_str;

static void shared_release(shared_str *s) {
  if (s && atomic_fetch_sub(&s->refs, 1) == 1) free(s);
}

/* Registry key caching this VM's package table. */
static char package_key;

/* Pushes package[field] (nil if there is none). */
static int push_package_field(lua_State *L, const char *field) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &package_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "package");
    lua_remove(L, -2);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_pushnil(L);
      return 0;
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &package_key);
  }
  bool found = lua_getfield(L, -1, field) == LUA_TSTRING;
  lua_remove(L, -2);
  if (!found) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  return found;
}

/* package[field] of the caller as a shared string (one reference for the
** caller), reusing this thread's last one when the text is the same. */
static shared_str *package_path(lua_State *L, const char *field, int which) {
  static _Thread_local shared_str *last[2];
  if (!push_package_field(L, field)) {
    lua_pop(L, 1);
    return NULL;
  }
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  shared_str *s = last[which];
  if (!s || s->len != len || memcmp(s->text, text, len) != 0) {
    s = malloc(sizeof *s + len + 1);
    if (s) {
      atomic_init(&s->refs, 1);   /* the thread's cache */
      s->len = len;
      memcpy(s->text, text, len + 1);
    }
    shared_release(last[which]);
    last[which] = s;
  }
  lua_pop(L, 1);
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
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

static void gor_free(goroutine *g) {
  codec_free(&g->start);
  free(g->scratch);
  shared_release(g->path);
  shared_release(g->cpath);
  free(g);
}

/* "source:line" of the nearest Lua function calling us (pcall(lugo.go, f)
** puts a C frame in between). */
static void where_called(lua_State *L, char *buf, size_t size) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0) {
      snprintf(buf, size, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
  snprintf(buf, size, "?");
}

int gor_l_go(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int n = lua_gettop(L);
  codec_msg start;
  gor_push_env(L);
  codec_encode(L, 1, n, n + 1, "argument #%d", &start);   /* may raise */
  lua_pop(L, 1);
  goroutine *g = calloc(1, sizeof *g);
  if (!g) {
    codec_free(&start);
    return luaL_error(L, "lugo.go: out of memory");
  }
  g->start = start;
  where_called(L, g->created_at, sizeof g->created_at);
  g->path = package_path(L, "path", 0);
  g->cpath = package_path(L, "cpath", 1);
  g->task.kind = TASK_GOROUTINE;
  g->id = atomic_fetch_add(&next_id, 1);
  g->parent = gor_id();
  long id = g->id;
  sched_spawn(&g->task);      /* g may run, and finish, from here on */
  lua_pushinteger(L, id);
  return 1;
}

/* ---- worker VMs ---- */

/* Body of every goroutine's coroutine: decode fn and args, call fn. */
static int gor_entry(lua_State *L) {
  goroutine *g = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->env_ref);
  int n = codec_decode_owned(L, &g->start, 1);
  lua_remove(L, 1);
  lua_callk(L, n - 1, 0, 0, op_done_nothing);
  return 0;
}

/* Registry key of the metatable {__index = _G} shared by goroutine envs. */
static char env_meta_key;

/* Per-VM state of the driver, in the VM's extra space; owner thread only.
** Finished coroutines are kept for reuse: creating a thread costs more than
** resetting one. */
typedef struct vm_state {
  int *refs;                 /* registry refs of idle threads */
  int count, cap;
  goroutine *started;        /* started goroutines of this VM, for dumps */
  shared_str *applied[2];    /* package.path and cpath last set (a ref each) */
} vm_state;

#define POOL_MAX 1024

static vm_state *vm_of(lua_State *L) {
  return *(vm_state **)lua_getextraspace(L);
}

/* Pushes an idle coroutine of this VM (reused or new); sets *ref. */
static lua_State *pool_get(lua_State *L, int *ref) {
  vm_state *p = vm_of(L);
  if (p->count > 0) {
    *ref = p->refs[--p->count];
    lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
    lua_State *co = lua_tothread(L, -1);
    lua_pop(L, 1);
    return co;
  }
  lua_State *co = lua_newthread(L);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return co;
}

/* Takes back a finished coroutine; frees it if it cannot be reset. */
static void pool_put(lua_State *L, lua_State *co, int ref) {
  vm_state *p = vm_of(L);
  if (lua_resetthread(co) == LUA_OK && p->count < POOL_MAX) {
    if (p->count == p->cap) {
      int cap = p->cap ? p->cap * 2 : 64;
      int *refs = realloc(p->refs, (size_t)cap * sizeof *refs);
      if (!refs) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        return;
      }
      p->refs = refs;
      p->cap = cap;
    }
    p->refs[p->count++] = ref;
    return;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

/* Registry keys of the Lua strings last set as package.path and cpath. */
static char applied_keys[2];

/* Sets package[field] to value unless it still holds what we set last time
** from this same value (the common case: one string, no Lua work). */
static void apply_path(lua_State *L, vm_state *vm, int which, const char *field,
                       shared_str *value) {
  if (!value) return;
  push_package_field(L, field);
  if (value == vm->applied[which]) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &applied_keys[which]);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (same) return;
  } else {
    lua_pop(L, 1);
  }
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &package_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_pushlstring(L, value->text, value->len);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &applied_keys[which]);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
  atomic_fetch_add(&value->refs, 1);
  shared_release(vm->applied[which]);
  vm->applied[which] = value;
}

static void gor_prepare(lua_State *L, goroutine *g, sched_worker *w) {
  g->task.owner = w;
  apply_path(L, vm_of(L), 0, "path", g->path);
  apply_path(L, vm_of(L), 1, "cpath", g->cpath);
  lua_newtable(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &env_meta_key);
  lua_setmetatable(L, -2);
  g->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  g->co = pool_get(L, &g->co_ref);
  vm_state *vm = vm_of(L);
  g->next = vm->started;
  if (g->next) g->next->prev = g;
  vm->started = g;
  lua_pushcfunction(g->co, gor_entry);
  lua_pushlightuserdata(g->co, g);
}

/* An uncaught error: print as Go does and end the process with status 2. */
static void gor_panic(lua_State *L, goroutine *g) {
  const char *msg = lua_tostring(g->co, -1);
  if (!msg) {
    if (luaL_callmeta(g->co, -1, "__tostring") && lua_type(g->co, -1) == LUA_TSTRING)
      msg = lua_tostring(g->co, -1);
    else
      msg = lua_pushfstring(g->co, "(error object is a %s value)",
                            luaL_typename(g->co, -1));
  }
  luaL_traceback(L, g->co, NULL, 0);
  const char *tb = lua_tostring(L, -1);
  if (atomic_flag_test_and_set(&panicking)) {
    for (;;) pause();          /* another goroutine is already reporting */
  }
  fflush(stdout);
  fprintf(stderr, "panic: %s\n\ngoroutine %ld [running]:\n%s\ncreated by goroutine %ld at %s\n",
          msg, g->id, tb, g->parent, g->created_at);
  fflush(stderr);
  _exit(2);
}

static run_result gor_run(sched_worker *w, void *vm, sched_task *t) {
  lua_State *L = vm;
  goroutine *g = (goroutine *)t;
  int nargs = 0, nres;
  if (!t->owner) {
    gor_prepare(L, g, w);
    nargs = 1;
  }
  g->parked = false;
  int status = lua_resume(g->co, L, nargs, &nres);
  g->preempted = false;
  if (status == LUA_YIELD) {
    lua_pop(g->co, nres);
    yield_reason reason = g->reason;
    g->reason = YIELD_GOSCHED;
    g->parked = (reason == YIELD_PARK);
    return g->parked ? RUN_PARKED : RUN_YIELDED;
  }
  if (status != LUA_OK) gor_panic(L, g);
  return RUN_DONE;
}

static void gor_done(sched_worker *w, void *vm, sched_task *t) {
  (void)w;
  lua_State *L = vm;
  goroutine *g = (goroutine *)t;
  vm_state *state = vm_of(L);
  if (g->prev) g->prev->next = g->next; else state->started = g->next;
  if (g->next) g->next->prev = g->prev;
  pool_put(L, g->co, g->co_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, g->env_ref);
  gor_free(g);
}

/* Runs at the next count event of a preempted goroutine: give way. */
static void preempt_hook(lua_State *L, lua_Debug *ar) {
  lua_sethook(L, NULL, 0, 0);
  goroutine *g = running();
  if (g && ar->event == LUA_HOOKCOUNT && lua_isyieldable(L)) {
    g->preempted = true;   /* nested: the resume wrapper passes it up */
    lua_yield(L, 0);       /* at the top: the worker sees RUN_YIELDED */
  }
}

/* In a signal handler on the goroutine's worker: lua_sethook is safe there
** (lua.c arms its SIGINT hook the same way). The hook goes on whichever
** coroutine of the goroutine runs now. */
static void gor_preempt(sched_worker *w, sched_task *t) {
  (void)w;
  goroutine *g = (goroutine *)t;
  lua_State *co = g->running_co ? g->running_co : g->co;
  if (co) lua_sethook(co, preempt_hook, LUA_MASKCOUNT, 1);
}

/* For lua/lugo/coroutine.lua: enter(co) notes that co runs and returns
** what ran before; leave(prev) restores it; preempted() takes the flag. */
static int co_enter(lua_State *L) {
  goroutine *g = running();
  lua_pushlightuserdata(L, g ? (void *)g->running_co : NULL);
  if (g) g->running_co = lua_tothread(L, 1);
  return 1;
}

static int co_leave(lua_State *L) {
  goroutine *g = running();
  if (g) g->running_co = lua_touserdata(L, 1);
  return 0;
}

static int co_preempted(lua_State *L) {
  goroutine *g = running();
  lua_pushboolean(L, g && g->preempted);
  if (g) g->preempted = false;
  return 1;
}

static void *gor_worker_start(sched_worker *w, int index) {
  (void)w; (void)index;
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "lugo: cannot create a Lua state for a worker\n");
    abort();
  }
  vm_state *vm = calloc(1, sizeof *vm);
  if (!vm) abort();
  *(vm_state **)lua_getextraspace(L) = vm;
  luaL_openlibs(L);
  luaL_requiref(L, "lugo", luaopen_lugo, 0);
  lua_pop(L, 1);
  /* Goroutine globals: reads fall back to this VM's standard library. */
  lua_newtable(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_setfield(L, -2, "__index");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &env_meta_key);
  if (luaL_loadbuffer(L, coroutine_lua, sizeof coroutine_lua - 1,
                      "=lugo/coroutine.lua") != LUA_OK) {
    fprintf(stderr, "lugo: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlightuserdata(L, &park_sentinel);
  lua_pushcfunction(L, co_enter);
  lua_pushcfunction(L, co_leave);
  lua_pushcfunction(L, co_preempted);
  lua_call(L, 4, 0);
  return L;
}

/* ---- goroutine dumps ---- */

static void add_goroutine(luaL_Buffer *b, lua_State *co, goroutine *g,
                          const char *state) {
  lua_State *L = b->L;
  lua_pushfstring(L, "goroutine %d [%s]:\n", (int)g->id, state);
  luaL_addvalue(b);
  luaL_traceback(L, co, NULL, 0);
  luaL_addvalue(b);
  lua_pushfstring(L, "\ncreated by goroutine %d at %s\n\n", (int)g->parent,
                  g->created_at);
  luaL_addvalue(b);
}

typedef struct dump_request {
  pthread_mutex_t mu;        /* guards text */
  char *text;                /* malloc'd, grows as workers append */
  size_t len;
} dump_request;

/* Moves the string on top of L to the end of req's text. */
static void append_top(dump_request *req, lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  pthread_mutex_lock(&req->mu);
  char *text = realloc(req->text, req->len + len + 1);
  if (text) {
    memcpy(text + req->len, s, len + 1);
    req->text = text;
    req->len += len;
  }
  pthread_mutex_unlock(&req->mu);
  lua_pop(L, 1);
}

/* On each worker's own thread: append the dump of its goroutines. */
static void dump_worker(sched_worker *w, void *vm, void *arg) {
  (void)w;
  dump_request *req = arg;
  lua_State *L = vm;
  goroutine *self = running();
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (goroutine *g = vm_of(L)->started; g; g = g->next) {
    if (g == self) continue;   /* the caller is listed first */
    add_goroutine(&b, g->co, g, g->parked ? g->wait_reason : "runnable");
  }
  luaL_pushresult(&b);
  append_top(req, L);
}

/* Appends the traceback of a blocked outside thread (the main goroutine):
** it is frozen while we run, so its own state can build the text. */
static void dump_outside(sched_thread_task *tt, void *arg) {
  dump_request *req = arg;
  outside_op *outside = (outside_op *)tt;
  lua_State *L = outside->L;
  if (!L || !lua_checkstack(L, 4)) return;
  lua_pushfstring(L, "goroutine 1 [%s]:\n", outside->reason);
  luaL_traceback(L, L, NULL, 0);
  lua_pushliteral(L, "\n\n");
  lua_concat(L, 3);
  append_top(req, L);
}

void gor_push_dump(lua_State *L, const char *caller_state) {
  luaL_Buffer b;
  goroutine *self = running();
  luaL_buffinit(L, &b);
  if (!caller_state) {
    /* not asked from a goroutine or the main thread (a signal) */
  } else if (self) {
    add_goroutine(&b, L, self, caller_state);
  } else {
    lua_pushfstring(L, "goroutine 1 [%s]:\n", caller_state);
    luaL_addvalue(&b);
    luaL_traceback(L, L, NULL, 0);   /* 0: show the blocking call too */
    luaL_addvalue(&b);
    luaL_addstring(&b, "\n\n");
  }
  luaL_pushresult(&b);
  dump_request req = {.text = NULL, .len = 0};
  pthread_mutex_init(&req.mu, NULL);
  sched_each_blocked_thread(dump_outside, &req);
  if (!caller_state && req.len == 0) {
    /* Asked by a signal while the main goroutine runs: no safe traceback. */
    lua_pushliteral(L, "goroutine 1 [running]:\n\t(running: no traceback)\n\n");
    lua_concat(L, 2);
  }
  sched_each_worker(dump_worker, &req);
  pthread_mutex_destroy(&req.mu);
  if (req.text) lua_pushlstring(L, req.text, req.len);
  else lua_pushliteral(L, "");
  free(req.text);
  lua_concat(L, 2);
}

const sched_hooks gor_hooks = {
  .worker_start = gor_worker_start,
  .run = gor_run,
  .done = gor_done,
  .preempt = gor_preempt,
};

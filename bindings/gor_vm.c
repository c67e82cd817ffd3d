/* gor_vm.c: a worker's VM (made by gor_worker_start), its pool of idle
** coroutines and the preemption hooks. All of it is its owner thread's only. */
#include "goroutine_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <lualib.h>

#include "embed.h"
#include "module.h"
#include "vmalloc.h"

/* ---- the coroutine pool ---- */

#define POOL_MAX 1024

/* Gives g a coroutine of this VM (idle or new) and a registry reference for its
** env. */
void copool_get(lua_State *L, vm_state *p, goroutine *g) {
  if (p->count > 0) {
    idle_co *idle = &p->idle[--p->count];
    g->co = idle->co;
    g->co_ref = idle->co_ref;
    g->env_ref = idle->env_ref;
    return;
  }
  g->co = lua_newthread(L);
  g->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 0);
  g->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Takes back the coroutine and env reference of g, finished; frees them if the
** pool is full or the coroutine cannot be reset. */
void copool_put(lua_State *L, vm_state *p, goroutine *g) {
  lua_State *co = g->co;
  /* A coroutine that returned is back at its base level and can run the
  ** next function as it is. lua_resetthread would also shrink its stack,
  ** only for the next goroutine to grow it again (the collector shrinks
  ** the stacks of idle threads anyway). */
  bool reusable;
  if (lua_status(co) == LUA_OK) {
    lua_settop(co, 0);
    reusable = true;
  } else {
    reusable = lua_resetthread(co) == LUA_OK;
  }
  if (reusable && p->count == p->cap && p->cap < POOL_MAX) {
    int cap = p->cap ? p->cap * 2 : 64;
    idle_co *idle = realloc(p->idle, (size_t)cap * sizeof *idle);
    if (idle) {
      p->idle = idle;
      p->cap = cap;
    }
  }
  if (reusable && p->count < p->cap) {
    lua_pushboolean(L, 0);   /* lets the env go, keeps the reference */
    lua_rawseti(L, LUA_REGISTRYINDEX, g->env_ref);
    p->idle[p->count++] = (idle_co){co, g->co_ref, g->env_ref};
    return;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, g->co_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, g->env_ref);
}

/* ---- preemption ---- */

#ifdef LUGO_UNDER_TSAN
/* ThreadSanitizer holds an asynchronous signal back until its thread next
** enters an intercepted libc call, which a pure Lua loop never does, so the
** preemption signal would never arrive. In such builds a count hook makes
** one such call every 1000 instructions (the signal's handler then replaces
** this hook by preempt_hook). */
void gor_signal_point(lua_State *L, lua_Debug *ar) {
  (void)L; (void)ar;
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
}
#endif

/* Runs at the next count event of a preempted goroutine: give way. */
static void preempt_hook(lua_State *L, lua_Debug *ar) {
  lua_sethook(L, NULL, 0, 0);
  goroutine *g = running();
  park_interrupt_check(L, g);   /* may raise: the REPL's Ctrl-C */
  if (g && gor_close_phase() == CLOSE_FAILING) {
    /* Give way first (the close's control task must reach this worker),
    ** then fail at the resume (gor_run arms this hook again). */
    if (g->fail_pending || !lua_isyieldable(L)) luaL_error(L, CLOSING_MSG);
    g->fail_pending = true;
  }
  if (g && ar->event == LUA_HOOKCOUNT && lua_isyieldable(L)) {
    g->preempted = true;   /* nested: the resume wrapper passes it up */
    lua_yield(L, 0);       /* at the top: the worker sees RUN_YIELDED */
  }
}

/* In a signal handler on the goroutine's worker: lua_sethook is safe there
** (lua.c arms its SIGINT hook the same way). The hook goes on whichever
** coroutine of the goroutine runs now. */
void gor_preempt(sched_worker *w, sched_task *t) {
  (void)w;
  goroutine *g = (goroutine *)t;
  lua_State *co = g->running_co ? g->running_co : g->co;
  if (co) lua_sethook(co, preempt_hook, LUA_MASKCOUNT, 1);
}

/* ---- the worker's VM ---- */

/* On the worker's thread as it stops (lugo_close): closes its VM (every
** coroutine in it is finished or idle) and frees the driver's state. */
void gor_worker_stop(sched_worker *w, void *vm) {
  (void)w;
  lua_State *L = vm;
  vm_state *state = vm_of(L);
  vmalloc_close(L);
  for (int i = 0; i < 2; i++) shared_release(state->path_known[i]);
  free(state->idle);
  free(state);
}

/* On a new worker's thread: its VM, with lugo loaded, the env metatable of
** its goroutines, the package table's ref and the coroutine wrappers. */
void *gor_worker_start(sched_worker *w, int index) {
  (void)w;
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "lugo: cannot create a Lua state for a worker\n");
    abort();
  }
  vmalloc_install(L);   /* only this worker's thread uses L */
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
  vm->env_meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* Refs, not light userdata keys: an integer key is the cheaper lookup. */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "package");
  if (lua_istable(L, -1)) {
    vm->package_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    vm->package_ref = LUA_NOREF;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  park_install_wrappers(L);
  if (embed_run_on_state(L) != LUGO_OK)   /* it passed in lugo_open */
    fprintf(stderr, "lugo: worker %d: %s\n", index, lugo_errmsg());
  return L;
}


/* gor_dump.c: goroutine dumps (lugo.stack, reports) and lugo.goroutines.
** A record is read on its owner's thread only, or while the world stands. */
#include "goroutine_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "source:line" of g's lugo.go call, or "?" if no Lua function made it. */
const char *gor_created_at(const goroutine *g, char *buf, size_t size) {
  if (g->created_line <= 0) return "?";
  snprintf(buf, size, "%s:%d", g->created_src, g->created_line);
  return buf;
}

int gor_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Pushes on L the traceback of g's coroutine (stopped) with msg first: built
** in the coroutine's own state, which for the main goroutine is not L's. */
const char *gor_push_traceback(lua_State *L, goroutine *g, const char *msg) {
  lua_State *home = g->body ? g->home : L;
  luaL_traceback(home, g->co, msg, 0);
  if (home != L) {
    lua_pushstring(L, lua_tostring(home, -1));
    lua_pop(home, 1);
  }
  return lua_tostring(L, -1);
}

/* ---- goroutine dumps ---- */

/* lugo.stack(): every goroutine's state and traceback, the caller first. */
int gor_l_stack(lua_State *L) {
  gor_push_dump(L, "running");
  return 1;
}

static void add_goroutine(luaL_Buffer *b, lua_State *co, goroutine *g,
                          const char *state) {
  lua_State *L = b->L;
  lua_pushfstring(L, "goroutine %d [%s]:\n", (int)g->id, state);
  luaL_addvalue(b);
  if (co == g->co) gor_push_traceback(L, g, NULL);   /* stopped */
  else luaL_traceback(L, co, NULL, 0);           /* the caller itself */
  luaL_addvalue(b);
  if (g->parent == 0) {      /* the main goroutine: created by no one */
    luaL_addstring(b, "\n\n");
    return;
  }
  char where[LUA_IDSIZE + 24];
  lua_pushfstring(L, "\ncreated by goroutine %d at %s\n\n", (int)g->parent,
                  gor_created_at(g, where, sizeof where));
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
  /* Goroutine 1 first, as Go lists it; the caller is listed before all. */
  for (int main_pass = 1; main_pass >= 0; main_pass--) {
    for (goroutine *g = vm_of(L)->started; g; g = g->next) {
      if (g == self || (g->id == 1) != main_pass) continue;
      add_goroutine(&b, g->co, g, g->parked ? g->wait_ops->reason : "runnable");
    }
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
  } else if (!gor_main_is_goroutine()) {
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
  if (!caller_state && req.len == 0 && !gor_main_is_goroutine()) {
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

/* ---- lugo.goroutines ---- */

typedef struct gor_info {
  long id, parent;           /* parent 0: the main goroutine */
  const char *state, *wait;  /* literals */
  char created[LUA_IDSIZE + 24];
} gor_info;

/* The goroutines seen while the world stands still: plain C data, made
** without the Lua API (the caller's VM is the only one it may use). */
typedef struct snapshot {
  gor_info *items;
  size_t n, cap;
  goroutine *self;
  bool main_listed;
  bool failed;               /* out of memory */
} snapshot;

static void snap_add(snapshot *s, const goroutine *g, long id, const char *state,
                     const char *wait) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    gor_info *items = realloc(s->items, cap * sizeof *items);
    if (!items) {
      s->failed = true;
      return;
    }
    s->items = items;
    s->cap = cap;
  }
  gor_info *info = &s->items[s->n++];
  info->id = id;
  info->parent = g ? g->parent : 0;
  info->state = state;
  info->wait = wait;
  info->created[0] = '\0';
  if (g && g->parent != 0) gor_created_at(g, info->created, sizeof info->created);
  if (id == 1) s->main_listed = true;
}

static void snap_vm(sched_worker *w, void *vm, void *arg) {
  (void)w;
  snapshot *s = arg;
  for (goroutine *g = vm_of(vm)->started; g; g = g->next) {
    if (g == s->self) snap_add(s, g, g->id, "running", NULL);
    else if (g->parked) snap_add(s, g, g->id, "waiting", g->wait_ops->reason);
    else snap_add(s, g, g->id, "runnable", NULL);
  }
}

static void snap_new_task(sched_task *t, void *arg) {
  goroutine *g = (goroutine *)t;
  snap_add(arg, g, g->id, "runnable", NULL);
}

static void snap_world(void *arg) {
  sched_each_vm(snap_vm, arg);
  sched_each_new_task(snap_new_task, arg);
}

/* A thread outside the runtime blocked in a lugo call: the main goroutine
** of stock lua5.4 or a host (the lugo command's own waiting thread is not
** listed: it has no L). */
static void snap_outside(sched_thread_task *tt, void *arg) {
  outside_op *outside = (outside_op *)tt;
  if (outside->L) snap_add(arg, NULL, 1, "waiting", outside->reason);
}

static int by_id(const void *a, const void *b) {
  long x = ((const gor_info *)a)->id, y = ((const gor_info *)b)->id;
  return (x > y) - (x < y);
}

int gor_l_goroutines(lua_State *L) {
  snapshot s = {.self = running()};
  sched_stop_the_world(snap_world, &s);
  if (!gor_main_is_goroutine()) {
    sched_each_blocked_thread(snap_outside, &s);
    if (!s.main_listed) snap_add(&s, NULL, 1, "running", NULL);
  }
  if (s.failed) {
    free(s.items);
    return luaL_error(L, "lugo.goroutines: out of memory");
  }
  qsort(s.items, s.n, sizeof *s.items, by_id);
  lua_createtable(L, (int)s.n, 0);
  for (size_t i = 0; i < s.n; i++) {
    const gor_info *info = &s.items[i];
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, info->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, info->state);
    lua_setfield(L, -2, "state");
    if (info->wait) {
      lua_pushstring(L, info->wait);
      lua_setfield(L, -2, "wait");
    }
    if (info->parent != 0) {
      lua_pushstring(L, info->created);
      lua_setfield(L, -2, "created");
      lua_pushinteger(L, info->parent);
      lua_setfield(L, -2, "parent");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(s.items);
  return 1;
}

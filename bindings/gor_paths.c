/* gor_paths.c: a new goroutine takes its creator's package.path and cpath.
** Paths are shared_str, immutable once made, freed by their last release. */
#include "goroutine_impl.h"

#include <stdlib.h>
#include <string.h>

/* An immutable string shared by reference: the package paths every
** goroutine carries are almost always the same few. */
typedef struct shared_str {
  atomic_int refs;
  size_t len;
  char text[];
} shared_str;

static shared_str *shared_new(const char *text, size_t len) {
  shared_str *s = malloc(sizeof *s + len + 1);
  if (s) {
    atomic_init(&s->refs, 1);
    s->len = len;
    memcpy(s->text, text, len);
    s->text[len] = '\0';
  }
  return s;
}

static bool shared_equals(const shared_str *s, const char *text, size_t len) {
  return s && s->len == len && memcmp(s->text, text, len) == 0;
}

void shared_release(shared_str *s) {
  if (s && atomic_fetch_sub(&s->refs, 1) == 1) free(s);
}

static const char *const path_fields[2] = {"path", "cpath"};

/* Registry keys of the Lua strings at path_seen. */
static char applied_keys[2];

/* Registry key caching the package table of a VM that is not a worker's. */
static char package_key;

/* Pushes the package table (nil if there is none); vm: a worker's VM. */
static bool push_package(lua_State *L, vm_state *vm) {
  if (vm) return lua_rawgeti(L, LUA_REGISTRYINDEX, vm->package_ref) == LUA_TTABLE;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &package_key) == LUA_TTABLE) return true;
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "package");
  lua_remove(L, -2);
  if (!lua_istable(L, -1)) return false;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &package_key);
  return true;
}

/* Pushes field of the package table on top (at -1) and returns its text,
** or pushes nil and returns NULL if it is not a string. */
static const char *push_path(lua_State *L, const char *field, size_t *len) {
  if (lua_getfield(L, -1, field) == LUA_TSTRING) return lua_tolstring(L, -1, len);
  lua_pop(L, 1);
  lua_pushnil(L);
  return NULL;
}

/* Notes that the Lua string on top of L, whose text is at seen, holds
** known's text; anchors it so that no other string can take that address. */
static void remember_path(lua_State *L, vm_state *vm, int which,
                          const char *seen, shared_str *known) {
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &applied_keys[which]);
  vm->path_seen[which] = seen;
  if (known != vm->path_known[which]) {
    atomic_fetch_add(&known->refs, 1);
    shared_release(vm->path_known[which]);
    vm->path_known[which] = known;
  }
}

/* The package path (which: 0 path, 1 cpath) of a lugo.go caller in a
** worker's VM, the table on top of L: one reference for the caller. */
static shared_str *worker_path(lua_State *L, vm_state *vm, int which) {
  size_t len;
  const char *text = push_path(L, path_fields[which], &len);
  shared_str *s = NULL;
  if (text && text == vm->path_seen[which]) {
    s = vm->path_known[which];
  } else if (text) {
    bool same = shared_equals(vm->path_known[which], text, len);
    s = same ? vm->path_known[which] : shared_new(text, len);
    if (s) remember_path(L, vm, which, text, s);
    if (s && !same) shared_release(s);   /* vm took its own reference */
  }
  lua_pop(L, 1);
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
}

/* A thread's last paths (outside_path), released when it exits. */
static pthread_key_t last_key;
static pthread_once_t last_key_once = PTHREAD_ONCE_INIT;

static void release_last(void *last) {
  shared_release(((shared_str **)last)[0]);
  shared_release(((shared_str **)last)[1]);
  free(last);
}

static void make_last_key(void) {
  pthread_key_create(&last_key, release_last);
}

/* The same for a caller outside the workers (or a body goroutine: its
** state is not the worker's VM), reusing this thread's last one when the
** text is the same. */
static shared_str *outside_path(lua_State *L, int which) {
  pthread_once(&last_key_once, make_last_key);
  shared_str **last = pthread_getspecific(last_key);
  if (!last) {
    last = calloc(2, sizeof *last);
    if (!last || pthread_setspecific(last_key, last) != 0) {
      free(last);
      return NULL;   /* no memory: the goroutine keeps the default paths */
    }
  }
  size_t len;
  const char *text = push_path(L, path_fields[which], &len);
  shared_str *s = NULL;
  if (text) {
    s = last[which];
    if (!shared_equals(s, text, len)) {
      s = shared_new(text, len);   /* its reference is the thread's cache */
      shared_release(last[which]);
      last[which] = s;
    }
  }
  lua_pop(L, 1);
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
}

/* Gives g its creator's package.path and cpath; vm: the caller's VM if it
** is a worker's. */
void paths_take(lua_State *L, vm_state *vm, goroutine *g) {
  g->path = g->cpath = NULL;
  if (push_package(L, vm)) {
    g->path = vm ? worker_path(L, vm, 0) : outside_path(L, 0);
    g->cpath = vm ? worker_path(L, vm, 1) : outside_path(L, 1);
  }
  lua_pop(L, 1);
}

/* Sets package[field] (which: 0 path, 1 cpath; the table on top of L) to
** value unless it already holds that text. */
static void apply_path(lua_State *L, vm_state *vm, int which, shared_str *value) {
  if (!value) return;
  size_t len;
  const char *text = push_path(L, path_fields[which], &len);
  bool same = false;
  if (text && text == vm->path_seen[which]) {   /* the usual case */
    same = value == vm->path_known[which] ||
           shared_equals(vm->path_known[which], value->text, value->len);
  } else if (text && shared_equals(value, text, len)) {
    remember_path(L, vm, which, text, value);
    same = true;
  }
  lua_pop(L, 1);
  if (same) return;
  lua_pushlstring(L, value->text, value->len);
  remember_path(L, vm, which, lua_tostring(L, -1), value);
  lua_setfield(L, -2, path_fields[which]);
}

void paths_apply(lua_State *L, vm_state *vm, goroutine *g) {
  if (!g->path && !g->cpath) return;
  if (push_package(L, vm)) {
    apply_path(L, vm, 0, g->path);
    apply_path(L, vm, 1, g->cpath);
  }
  lua_pop(L, 1);
}

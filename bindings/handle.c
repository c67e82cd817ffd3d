/* handle.c: Lua handles of core objects: one userdata per object, view and
** VM (a weak cache keeps them unique), metatables, handle_test/handle_push. */
#include "handle.h"

#include <lauxlib.h>

/* Registry keys: only their addresses matter. */
static char cache_key;                 /* weak-valued: key -> handle */
static char meta_keys[OBJ_KINDS];      /* one metatable per kind */
static const char *const kind_names[OBJ_KINDS] = {
  [OBJ_CHAN] = "channel",
  [OBJ_WAITGROUP] = "waitgroup",
  [OBJ_MUTEX] = "mutex",
  [OBJ_TIMER] = "timer",
  [OBJ_ATOMIC] = "atomic",
  [OBJ_RWMUTEX] = "rwmutex",
  [OBJ_ONCE] = "once",
  [OBJ_COND] = "cond",
  [OBJ_TABLE] = "shared table",
  [OBJ_LISTENER] = "listener",
  [OBJ_CONN] = "connection",
  [OBJ_PROCESS] = "process",
  [OBJ_NOTIFIER] = "signal notifier",
};

static lhandle *to_handle(lua_State *L, int idx) {
  /* A light userdata has raw length 0: the size check rules it out. */
  lhandle *h = lua_touserdata(L, idx);
  if (h && lua_rawlen(L, idx) == sizeof(lhandle) && h->magic == HANDLE_MAGIC)
    return h;
  return NULL;
}

int handle_test(lua_State *L, int idx, lugo_obj **obj, int *flags) {
  lhandle *h = to_handle(L, idx);
  if (!h) return 0;
  *obj = h->obj;
  *flags = h->flags;
  return 1;
}

lhandle *handle_check(lua_State *L, int idx, obj_kind kind) {
  lhandle *h = to_handle(L, idx);
  if (!h || h->obj->kind != kind) {
    luaL_typeerror(L, idx, kind_names[kind]);
  }
  return h;
}

/* Pushes the cache table, creating it on first use. */
static void push_cache(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
}

/* Objects are at least 8-aligned, so the view flags fit in the low bits. */
static void *handle_cache_key(lugo_obj *obj, int flags) {
  return (void *)((uintptr_t)obj | (uintptr_t)flags);
}

static void push_handle(lua_State *L, lugo_obj *obj, int flags) {
  /* One user value: a cache for the kind's bindings (a channel keeps its
  ** handler-less receive case there, see lselect.c). */
  lhandle *h = lua_newuserdatauv(L, sizeof(lhandle), 1);
  h->magic = HANDLE_MAGIC;
  h->flags = flags;
  h->obj = obj;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_keys[obj->kind]);
  lua_setmetatable(L, -2);
}

void handle_push(lua_State *L, lugo_obj *obj, int flags) {
  push_cache(L);
  void *key = handle_cache_key(obj, flags);
  if (lua_rawgetp(L, -1, key) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  obj_retain(obj);
  push_handle(L, obj, flags);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, key);
  lua_remove(L, -2);
}

void handle_push_new(lua_State *L, lugo_obj *obj) {
  push_cache(L);
  push_handle(L, obj, 0);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, handle_cache_key(obj, 0));
  lua_remove(L, -2);
}

static int handle_gc(lua_State *L) {
  lhandle *h = to_handle(L, 1);
  if (h && h->obj) {
    lugo_obj *obj = h->obj;
    h->obj = NULL;
    obj_release(obj);
  }
  return 0;
}

static int handle_eq(lua_State *L) {
  lhandle *a = to_handle(L, 1), *b = to_handle(L, 2);
  lua_pushboolean(L, a && b && a->obj == b->obj);
  return 1;
}

static int handle_tostring(lua_State *L) {
  lhandle *h = to_handle(L, 1);
  const char *view = h->flags & HANDLE_SENDONLY ? " (send-only)"
                   : h->flags & HANDLE_RECVONLY ? " (receive-only)" : "";
  lua_pushfstring(L, "%s%s: %p", kind_names[h->obj->kind], view, (void *)h->obj);
  return 1;
}

void handle_register(lua_State *L, obj_kind kind, const luaL_Reg *methods,
                     const luaL_Reg *metamethods) {
  lua_newtable(L);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  luaL_setfuncs(L, metamethods, 0);   /* may replace __index */
  lua_pushcfunction(L, handle_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, handle_eq);
  lua_setfield(L, -2, "__eq");
  lua_pushcfunction(L, handle_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushstring(L, kind_names[kind]);
  lua_setfield(L, -2, "__name");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &meta_keys[kind]);
}

void handle_push_metatable(lua_State *L, obj_kind kind) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_keys[kind]);
}

/* lselect.c: the Lua face of select: ch:case_recv, ch:case_send and
** lugo.select{...} with default. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "../core/chan.h"
#include "../core/select.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

#define CASE_MAGIC 0x63617365u   /* "case" */

/* A case built by case_recv/case_send. User values: 1 the channel handle
** (keeps the channel alive), 2 the handler or nil. */
typedef struct lcase {
  uint32_t magic;
  sel_dir dir;
  bool has_handler;          /* user value 2 is a function */
  chan *c;
  codec_msg value;           /* send: the value copied when built */
} lcase;

static char case_meta_key;        /* send cases: __gc frees the value */
static char recv_case_meta_key;   /* receive cases: nothing to free */

static int case_gc(lua_State *L) {
  lcase *k = lua_touserdata(L, 1);
  codec_free(&k->value);
  return 0;
}

static lcase *to_case(lua_State *L, int idx) {
  lcase *k = lua_touserdata(L, idx);
  if (k && lua_type(L, idx) == LUA_TUSERDATA &&
      lua_rawlen(L, idx) == sizeof(lcase) && k->magic == CASE_MAGIC)
    return k;
  return NULL;
}

/* Builds a case of chan handle 1 with handler at fnidx (0: none). */
static lcase *new_case(lua_State *L, sel_dir dir, int fnidx) {
  lua_settop(L, fnidx);
  if (!lua_isnil(L, fnidx)) luaL_checktype(L, fnidx, LUA_TFUNCTION);
  lcase *k = lua_newuserdatauv(L, sizeof(lcase), 2);
  memset(k, 0, sizeof *k);
  k->magic = CASE_MAGIC;
  k->dir = dir;
  k->has_handler = !lua_isnil(L, fnidx);
  k->c = (chan *)((lhandle *)lua_touserdata(L, 1))->obj;
  lua_rawgetp(L, LUA_REGISTRYINDEX, dir == SEL_SEND ? &case_meta_key : &recv_case_meta_key);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, fnidx);
  lua_setiuservalue(L, -2, 2);
  return k;
}

int lselect_case_recv(lua_State *L) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  if (h->flags & HANDLE_SENDONLY) return luaL_error(L, "receive from send-only channel");
  if (!lua_isnoneornil(L, 2)) {
    new_case(L, SEL_RECV, 2);
    return 1;
  }
  /* Without a handler the case is the same every time: built once per
  ** handle, kept in its user value (a select in a loop allocates none). */
  if (lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA) return 1;
  lua_pop(L, 1);
  new_case(L, SEL_RECV, 2);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
  return 1;
}

int lselect_case_send(lua_State *L) {
  lhandle *h = handle_check(L, 1, OBJ_CHAN);
  if (h->flags & HANDLE_RECVONLY) return luaL_error(L, "send on receive-only channel");
  lua_settop(L, 3);
  codec_msg value;
  if (!codec_encode_scalar(L, 2, &value)) {
    gor_push_env(L);
    codec_encode(L, 2, 1, 4, "value sent", &value);  /* may raise: nothing built yet */
    lua_pop(L, 1);
  }
  if (!lua_isnil(L, 3) && !lua_isfunction(L, 3)) {
    codec_free(&value);
    luaL_checktype(L, 3, LUA_TFUNCTION);
  }
  lcase *k = new_case(L, SEL_SEND, 3);
  k->value = value;
  return 1;
}

/* One select in progress, at stack index 2 so that it survives a park: in
** the goroutine's scratch memory, or in a userdata for an outside thread. */
typedef struct lselect {
  sel_state s;
  int has_default;
  bool *handlers;            /* per case: it has a handler function */
  int *index;                /* per case: its index in the table (false
                             ** entries, never ready, are left out of s) */
  _Alignas(max_align_t) unsigned char mem[];  /* cases, values, lockorder, pollorder, index */
} lselect;

static int select_gc(lua_State *L) {
  lselect *sel = lua_touserdata(L, 1);
  for (int i = 0; i < sel->s.n; i++) codec_free(sel->s.cases[i].elem);
  return 0;
}

static char select_meta_key;

static unsigned thread_rand(void) {
  static _Thread_local unsigned state;
  if (state == 0) state = (unsigned)(uintptr_t)&state ^ 0x9e3779b9u;
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

/* Reads the cases of table 1 into a new lselect pushed at index 2 (one
** pass: a bad case raises after freeing what was copied before it). */
static lselect *build(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  int n = (int)lua_rawlen(L, 1);
  int t = lua_getfield(L, 1, "default");
  int has_default = 0;
  if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
    has_default = 0;
  else if (t == LUA_TFUNCTION || t == LUA_TBOOLEAN)
    has_default = 1;
  else
    luaL_error(L, "bad argument #1 to 'select' (default must be a function "
               "or true, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1);
  size_t size = sizeof(lselect) + (size_t)n * (sizeof(sel_case) + sizeof(chan *) +
                                                2 * sizeof(int) + sizeof(codec_msg) +
                                                sizeof(bool));
  /* A goroutine's select lives in its scratch memory (no allocation, it
  ** survives the park); an outside thread's in a userdata. Either way it
  ** is at stack index 2 for the continuation. */
  lselect *sel = gor_scratch(size);
  if (sel) {
    lua_pushlightuserdata(L, sel);
  } else {
    sel = lua_newuserdatauv(L, size, 0);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &select_meta_key);
    lua_setmetatable(L, 2);
  }
  memset(sel, 0, size);
  sel->has_default = has_default;
  sel->s.cases = (sel_case *)sel->mem;
  codec_msg *values = (codec_msg *)(sel->s.cases + n);
  sel->s.lockorder = (chan **)(values + n);
  sel->s.pollorder = (int *)(sel->s.lockorder + n);
  sel->index = sel->s.pollorder + n;
  sel->handlers = (bool *)(sel->index + n);
  int used = 0;
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);   /* Go's nil channel: never ready, keeps its index */
      continue;
    }
    lcase *k = to_case(L, -1);
    if (!k) {
      for (int j = 0; j < used; j++) codec_free(&values[j]);   /* clones so far */
      luaL_error(L, "bad argument #1 to 'select' (case #%d is a %s, not a case "
                 "built by case_recv or case_send)", i + 1, luaL_typename(L, -1));
    }
    sel->s.cases[used].c = k->c;
    sel->s.cases[used].dir = k->dir;
    sel->handlers[used] = k->has_handler;
    sel->index[used] = i;
    sel->s.cases[used].elem = &values[used];
    /* a send case keeps its own value, so that it can be used again */
    if (k->dir == SEL_SEND) codec_clone(&values[used], &k->value);
    lua_pop(L, 1);
    used++;
  }
  sel->s.n = used;   /* finish() frees the clones; for a userdata, __gc too */
  return sel;
}

static int results_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return lua_gettop(L) - 2;
}

/* Pushes the select's results for case i (0-based, of s): index then the
** handler's results, or v, ok for a receive without handler. */
static int finish(lua_State *L, lselect *sel, int i, bool ok) {
  sel_case *k = &sel->s.cases[i];
  lua_settop(L, 2);
  if (k->dir == SEL_SEND && ok)
    memset(k->elem, 0, sizeof(codec_msg));   /* the channel owns it now */
  for (int j = 0; j < sel->s.n; j++)         /* values not sent */
    if (sel->s.cases[j].dir == SEL_SEND) codec_free(sel->s.cases[j].elem);
  if (k->dir == SEL_SEND && !ok) return luaL_error(L, "send on closed channel");
  lua_pushinteger(L, sel->index[i] + 1);
  bool has_fn = sel->handlers[i];
  if (has_fn) {
    lua_rawgeti(L, 1, sel->index[i] + 1);
    lua_getiuservalue(L, -1, 2);
    lua_remove(L, -2);
  }
  int nargs = 0;
  if (k->dir == SEL_RECV) {
    if (ok && codec_decode_scalar(L, k->elem)) {
      memset(k->elem, 0, sizeof(codec_msg));
    } else if (ok) {
      gor_push_env(L);
      int env = lua_gettop(L);
      int n = codec_decode_owned(L, k->elem, env);
      if (n == 0) lua_pushnil(L);
      lua_remove(L, env);
    } else {
      lua_pushnil(L);
    }
    lua_pushboolean(L, ok);
    nargs = 2;
  }
  if (!has_fn) return lua_gettop(L) - 2;
  lua_callk(L, nargs, LUA_MULTRET, 0, results_done);
  return results_done(L, LUA_OK, 0);
}

static int select_woken(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lselect *sel = lua_touserdata(L, 2);
  int chosen;
  bool ok;
  sel_finish(&sel->s, &chosen, &ok);
  return finish(L, sel, chosen, ok);
}

static bool cancel(void *s, waiter *w) {
  (void)w;
  int chosen;
  bool ok;
  return sel_cancel(s, &chosen, &ok);
}

static const park_ops select_ops = {"select", sel_unlock, cancel};
static const park_ops forever_ops = {"select (no cases)", NULL, cancel};

static int l_select(lua_State *L) {
  lselect *sel = build(L);
  int chosen;
  bool ok;
  if (sel->has_default) {
    if (sel_select(&sel->s, NULL, thread_rand(), &chosen, &ok) == SEL_READY)
      return finish(L, sel, chosen, ok);
    lua_settop(L, 2);
    lua_pushnil(L);
    lua_getfield(L, 1, "default");
    if (lua_isboolean(L, -1)) {
      lua_pop(L, 1);
      return 1;
    }
    lua_callk(L, 0, LUA_MULTRET, 0, results_done);
    return results_done(L, LUA_OK, 0);
  }
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (sel_select(&sel->s, op->task, thread_rand(), &chosen, &ok) == SEL_READY)
    return finish(L, sel, chosen, ok);
  /* Parked with every channel locked (none for select{}: parks for ever). */
  if (sel->s.n == 0)
    return op_park(L, op, &forever_ops, &sel->s, select_woken);
  return op_park(L, op, &select_ops, &sel->s, select_woken);
}

/* Registers the metatables of cases and selects, and adds lugo.select to
** the module table at the top. */
void lselect_open(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, case_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "select case");
  lua_setfield(L, -2, "__name");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &case_meta_key);
  lua_newtable(L);
  lua_pushliteral(L, "select case");
  lua_setfield(L, -2, "__name");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &recv_case_meta_key);
  lua_newtable(L);
  lua_pushcfunction(L, select_gc);
  lua_setfield(L, -2, "__gc");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &select_meta_key);
  lua_pushcfunction(L, l_select);
  lua_setfield(L, -2, "select");
}

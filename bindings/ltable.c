/* ltable.c: the Lua face of shared tables (lugo.table, lugo.update,
** lugo.inc): values stored as codec messages in core's shared_table. */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "../core/sharedtable.h"
#include "codec.h"
#include "goroutine.h"
#include "handle.h"
#include "module.h"

/* Locking rule: between shared_table_lock and _unlock nothing may raise a
** Lua error or yield (a longjmp would leave the lock held), so only plain C
** runs there: keys are made before, messages are copied out (codec_copy)
** and decoded after. lugo.update is the one exception: fn runs under the
** lock inside lua_pcall, and the lock is released before any error goes
** on. */

static void drop_msg(void *value) {
  codec_free(value);
}

static shared_table *check_table(lua_State *L, int idx) {
  return (shared_table *)handle_check(L, idx, OBJ_TABLE)->obj;
}

/* The tables that lugo.update calls on this thread hold locked, innermost
** first: fn runs synchronously (it cannot yield), so per thread is per
** goroutine. Touching one of them would deadlock on its lock. */
typedef struct update_frame {
  shared_table *t;
  struct update_frame *outer;
} update_frame;

static _Thread_local update_frame *updating;

/* Lock order. An update holds its table's lock while fn runs, and fn may
** use other shared tables: two updates doing so in opposite orders would
** wait for each other for ever, on two worker threads. So a thread inside
** an update takes a busy lock by polling, and meanwhile publishes the
** table it waits for; each table held by an update names its holder (this
** record). Following "held by, waits for" from the wanted table back to
** the caller is a cycle: the caller raises instead of waiting. */
typedef struct update_thread {
  _Atomic(shared_table *) waits_for;
} update_thread;

static _Thread_local update_thread this_thread;

#define CYCLE_WALK_MAX 1024

static bool waits_in_cycle(shared_table *wanted) {
  shared_table *t = wanted;
  for (int i = 0; t != NULL && i < CYCLE_WALK_MAX; i++) {
    update_thread *holder = shared_table_holder(t);
    if (holder == NULL) return false;       /* a short hold: it ends */
    if (holder == &this_thread) return true;
    t = atomic_load(&holder->waits_for);
  }
  return false;
}

/* Takes t's lock (see "Lock order"). */
static void lock_table(lua_State *L, shared_table *t) {
  if (updating == NULL) {
    shared_table_lock(t);
    return;
  }
  for (unsigned spins = 0; !shared_table_trylock(t); spins++) {
    atomic_store(&this_thread.waits_for, t);
    if (waits_in_cycle(t)) {
      atomic_store(&this_thread.waits_for, NULL);
      luaL_error(L, "lugo.update: deadlock: two updates wait for each other's shared table");
    }
    if (spins > 100) sched_yield();
  }
  atomic_store(&this_thread.waits_for, NULL);
}

bool ltable_in_update(void) {
  return updating != NULL;
}

static void check_not_updating(lua_State *L, shared_table *t) {
  for (update_frame *f = updating; f; f = f->outer)
    if (f->t == t)
      luaL_error(L, "lugo.update: shared table is locked by this update");
}

/* ---- keys ---- */

enum { KEY_OK, KEY_NAN };

/* The key at idx as core wants it (strings point into the Lua string, so
** it must stay on the stack). A float with an integer value is that
** integer. Raises on a key type that cannot be stored. */
static int to_key(lua_State *L, int idx, shared_key *k) {
  memset(k, 0, sizeof *k);
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      k->type = SKEY_BOOL;
      k->i = lua_toboolean(L, idx);
      return KEY_OK;
    case LUA_TNUMBER: {
      int isint;
      lua_Integer n = lua_tointegerx(L, idx, &isint);
      if (isint) {
        k->type = SKEY_INT;
        k->i = n;
        return KEY_OK;
      }
      k->type = SKEY_FLOAT;
      k->f = lua_tonumber(L, idx);
      return isnan(k->f) ? KEY_NAN : KEY_OK;
    }
    case LUA_TSTRING:
      k->type = SKEY_STR;
      k->s = lua_tolstring(L, idx, &k->len);
      return KEY_OK;
    default:
      return luaL_error(L, "lugo: shared table key must be a boolean, number or string, got %s",
                        luaL_typename(L, idx));
  }
}

static void push_key(lua_State *L, const shared_key *k) {
  switch (k->type) {
    case SKEY_BOOL: lua_pushboolean(L, (int)k->i); break;
    case SKEY_INT: lua_pushinteger(L, (lua_Integer)k->i); break;
    case SKEY_FLOAT: lua_pushnumber(L, (lua_Number)k->f); break;
    case SKEY_STR: lua_pushlstring(L, k->s, k->len); break;
  }
}

/* ---- values ---- */

/* Encodes the value at idx into msg (may raise: a value that cannot
** cross). */
static void encode_value(lua_State *L, int idx, codec_msg *msg) {
  if (codec_encode_scalar(L, idx, msg)) return;
  idx = lua_absindex(L, idx);
  gor_push_env(L);
  codec_encode(L, idx, 1, -1, "value stored", msg);
  lua_pop(L, 1);
}

/* Pushes the value of msg, which it takes over (freed even if it raises). */
static void push_value(lua_State *L, codec_msg *msg) {
  if (codec_decode_scalar(L, msg)) return;
  gor_push_env(L);
  int env = lua_gettop(L);
  codec_decode_owned(L, msg, env);
  lua_remove(L, env);
}

/* Stores msg (taken over) under k; NULL msg or one holding nil removes k.
** Raises only after unlocking, when out of memory. */
static void store(lua_State *L, shared_table *t, const shared_key *k,
                  codec_msg *msg) {
  codec_msg old;
  bool had = false, created = true;
  lock_table(L, t);
  if (msg == NULL) {
    had = shared_table_remove(t, k, &old);
  } else {
    codec_msg *stored = shared_table_insert(t, k, &created);
    if (stored == NULL) {
      shared_table_unlock(t);
      codec_free(msg);
      luaL_error(L, "lugo: not enough memory for a shared table entry");
      return;
    }
    if (!created) {
      old = *stored;
      had = true;
    }
    *stored = *msg;
  }
  shared_table_unlock(t);
  if (had) codec_free(&old);
}

/* Copies the value under k into out; returns whether there is one. */
static bool fetch(lua_State *L, shared_table *t, const shared_key *k,
                  codec_msg *out) {
  lock_table(L, t);
  codec_msg *v = shared_table_find(t, k);
  bool ok = v != NULL && codec_copy(out, v);
  shared_table_unlock(t);
  if (v != NULL && !ok)
    luaL_error(L, "lugo: not enough memory to read a shared table");
  return ok;
}

/* ---- metamethods ---- */

static int l_index(lua_State *L) {
  shared_table *t = check_table(L, 1);
  shared_key k;
  check_not_updating(L, t);
  if (to_key(L, 2, &k) == KEY_NAN) {   /* as t[0/0]: nothing there */
    lua_pushnil(L);
    return 1;
  }
  codec_msg v;
  if (!fetch(L, t, &k, &v)) {
    lua_pushnil(L);
    return 1;
  }
  push_value(L, &v);
  return 1;
}

static int l_newindex(lua_State *L) {
  shared_table *t = check_table(L, 1);
  shared_key k;
  check_not_updating(L, t);
  if (to_key(L, 2, &k) == KEY_NAN)
    return luaL_error(L, "lugo: shared table key is NaN");
  if (lua_isnil(L, 3)) {
    store(L, t, &k, NULL);
    return 0;
  }
  codec_msg msg;
  encode_value(L, 3, &msg);
  store(L, t, &k, &msg);
  return 0;
}

static int l_len(lua_State *L) {
  shared_table *t = check_table(L, 1);
  check_not_updating(L, t);
  lock_table(L, t);
  long long n = shared_table_border(t);
  shared_table_unlock(t);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* ---- snapshots for pairs and ipairs ---- */

/* The entries as they were when a loop started: keys (strings copied) and
** values (messages copied); next is the first not yet handed out. The
** userdata's __gc frees what the loop did not take. */
typedef struct snapshot {
  size_t count, next;
  shared_key *keys;
  codec_msg *values;
} snapshot;

static const char snapshot_mt = 0;

static void snapshot_clear(snapshot *s) {
  for (size_t i = 0; i < s->count; i++) {
    if (s->keys[i].type == SKEY_STR) free((char *)s->keys[i].s);
    if (i >= s->next) codec_free(&s->values[i]);
  }
  free(s->keys);
  free(s->values);
  s->keys = NULL;
  s->values = NULL;
  s->count = s->next = 0;
}

static int snapshot_gc(lua_State *L) {
  snapshot_clear(lua_touserdata(L, 1));
  return 0;
}

/* Copies one entry into entry i of snapshot s; false when out of memory. */
static bool snapshot_take(snapshot *s, size_t i, const shared_key *k,
                          const codec_msg *v) {
  s->keys[i] = *k;
  if (k->type == SKEY_STR) {
    char *copy = malloc(k->len ? k->len : 1);
    if (!copy) return false;
    memcpy(copy, k->s, k->len);
    s->keys[i].s = copy;
  }
  if (!codec_copy(&s->values[i], v)) {
    if (k->type == SKEY_STR) free((char *)s->keys[i].s);
    return false;
  }
  s->count = i + 1;
  return true;
}

/* Pushes a snapshot of t: all its entries, or (ipairs) those of keys 1..n
** up to the first absent one. */
static snapshot *push_snapshot(lua_State *L, shared_table *t, bool sequence) {
  snapshot *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &snapshot_mt) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, snapshot_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &snapshot_mt);
  }
  lua_setmetatable(L, -2);
  bool ok = true;
  lock_table(L, t);
  size_t n = sequence ? (size_t)shared_table_border(t) : shared_table_count(t);
  if (n > 0) {
    s->keys = malloc(n * sizeof *s->keys);
    s->values = malloc(n * sizeof *s->values);
    ok = s->keys && s->values;
  }
  for (size_t i = 0; ok && i < n; i++) {
    shared_key k = {SKEY_INT, (long long)i + 1, 0, NULL, 0};
    void *v;
    if (sequence) {
      v = shared_table_find(t, &k);
      if (v == NULL) break;   /* a border need not follow a full sequence */
    } else {
      shared_table_entry(t, i, &k, &v);
    }
    ok = snapshot_take(s, i, &k, v);
  }
  shared_table_unlock(t);
  if (!ok) {
    snapshot_clear(s);
    luaL_error(L, "lugo: not enough memory to iterate a shared table");
  }
  return s;
}

/* The iterator: upvalue 1 is the snapshot. */
static int snapshot_next(lua_State *L) {
  snapshot *s = lua_touserdata(L, lua_upvalueindex(1));
  if (s->next >= s->count) return 0;
  size_t i = s->next++;
  push_key(L, &s->keys[i]);
  push_value(L, &s->values[i]);
  return 2;
}

static int push_loop(lua_State *L, bool sequence) {
  shared_table *t = check_table(L, 1);
  check_not_updating(L, t);
  push_snapshot(L, t, sequence);
  lua_pushcclosure(L, snapshot_next, 1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

static int l_pairs(lua_State *L) {
  return push_loop(L, false);
}

/* ipairs: Lua 5.4 has no __ipairs, so every state that opens lugo gets an
** ipairs that snapshots a shared table and hands anything else to the
** standard one (upvalue 1). */
static int l_ipairs(lua_State *L) {
  lugo_obj *o;
  int flags;
  if (handle_test(L, 1, &o, &flags) && o->kind == OBJ_TABLE)
    return push_loop(L, true);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* ---- lugo.table, lugo.update, lugo.inc ---- */

static int l_table(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  shared_table *t = shared_table_new(sizeof(codec_msg), drop_msg);
  if (!t) return luaL_error(L, "lugo.table: out of memory");
  handle_push_new(L, (lugo_obj *)t);
  if (lua_istable(L, 1)) {
    int top = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      shared_key k;
      codec_msg msg;
      to_key(L, top + 1, &k);     /* NaN cannot be a Lua table key */
      encode_value(L, top + 2, &msg);
      store(L, t, &k, &msg);
      lua_settop(L, top + 1);
    }
  }
  return 1;
}

typedef struct update_call {
  codec_msg *current;       /* s[k] before, or NULL */
  codec_msg result;         /* fn's result, encoded */
} update_call;

/* Run under lua_pcall with the lock held: fn(s[k]) at index 3, its result
** left on top and encoded into call->result. */
static int update_body(lua_State *L) {
  update_call *call = lua_touserdata(L, 1);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));   /* fn */
  if (call->current) {
    codec_msg copy;
    if (!codec_copy(&copy, call->current))
      return luaL_error(L, "lugo.update: not enough memory");
    push_value(L, &copy);
  } else {
    lua_pushnil(L);
  }
  lua_call(L, 1, 1);
  encode_value(L, -1, &call->result);
  return 1;
}

static int l_update(lua_State *L) {
  shared_table *t = check_table(L, 1);
  shared_key k;
  luaL_checkany(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  check_not_updating(L, t);
  if (to_key(L, 2, &k) == KEY_NAN)
    return luaL_error(L, "lugo: shared table key is NaN");
  update_call call;
  memset(&call, 0, sizeof call);
  lua_pushvalue(L, 3);
  lua_pushcclosure(L, update_body, 1);
  lua_pushlightuserdata(L, &call);
  update_frame frame = {t, updating};
  lock_table(L, t);
  shared_table_set_holder(t, &this_thread);
  updating = &frame;
  call.current = shared_table_find(t, &k);
  int status = lua_pcall(L, 1, 1, 0);
  updating = frame.outer;
  codec_msg old;
  bool had = false, nomem = false;
  if (status == LUA_OK) {
    if (lua_isnil(L, -1)) {
      had = shared_table_remove(t, &k, &old);
    } else {
      bool created;
      codec_msg *stored = shared_table_insert(t, &k, &created);
      if (stored == NULL) {
        nomem = true;
      } else {
        if (!created) {
          old = *stored;
          had = true;
        }
        *stored = call.result;
      }
    }
  }
  shared_table_set_holder(t, NULL);
  shared_table_unlock(t);
  if (had) codec_free(&old);
  if (status != LUA_OK) return lua_error(L);
  if (nomem) {
    codec_free(&call.result);
    return luaL_error(L, "lugo.update: not enough memory");
  }
  return 1;
}

static int l_inc(lua_State *L) {
  shared_table *t = check_table(L, 1);
  shared_key k;
  luaL_checkany(L, 2);
  lua_Integer ni = 1;
  lua_Number nf = 0;
  bool int_delta = true;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TNUMBER);
    int isint;
    ni = lua_tointegerx(L, 3, &isint);
    if (!lua_isinteger(L, 3)) {
      int_delta = false;
      nf = lua_tonumber(L, 3);
    }
  }
  check_not_updating(L, t);
  if (to_key(L, 2, &k) == KEY_NAN)
    return luaL_error(L, "lugo: shared table key is NaN");
  codec_msg result, copy;
  bool created, not_number = false;
  long long i = 0;
  double f = 0;
  int kind;
  lock_table(L, t);
  codec_msg *stored = shared_table_insert(t, &k, &created);
  if (stored == NULL) {
    shared_table_unlock(t);
    return luaL_error(L, "lugo.inc: not enough memory");
  }
  kind = created ? 1 : codec_number(stored, &i, &f);
  if (kind == 0) {
    /* not a number: copy it out to name its type after unlocking */
    not_number = codec_copy(&copy, stored);
  } else {
    if (kind == 1 && int_delta) {
      i = (long long)((unsigned long long)i + (unsigned long long)ni);  /* wraps as Lua */
      codec_encode_integer(&result, i);
    } else {
      f = (kind == 1 ? (double)i : f) + (int_delta ? (double)ni : nf);
      codec_encode_float(&result, f);
    }
    *stored = result;         /* numbers own no memory: nothing to free */
  }
  shared_table_unlock(t);
  if (kind == 0) {
    luaL_tolstring(L, 2, NULL);
    if (not_number) push_value(L, &copy);
    else lua_pushnil(L);
    return luaL_error(L, "lugo.inc: value at key %s is a %s, not a number",
                      lua_tostring(L, -2), not_number ? luaL_typename(L, -1) : "value");
  }
  if (kind == 1 && int_delta) lua_pushinteger(L, (lua_Integer)i);
  else lua_pushnumber(L, (lua_Number)f);
  return 1;
}

static const luaL_Reg table_methods[] = {
  {NULL, NULL}
};

static const luaL_Reg table_metamethods[] = {
  {"__index", l_index},
  {"__newindex", l_newindex},
  {"__len", l_len},
  {"__pairs", l_pairs},
  {NULL, NULL}
};

static const luaL_Reg table_functions[] = {
  {"table", l_table},
  {"update", l_update},
  {"inc", l_inc},
  {NULL, NULL}
};

void ltable_open(lua_State *L) {
  handle_register(L, OBJ_TABLE, table_methods, table_metamethods);
  luaL_setfuncs(L, table_functions, 0);
  /* ipairs that knows shared tables (see l_ipairs); once per state. */
  lua_getglobal(L, "ipairs");
  if (lua_tocfunction(L, -1) != l_ipairs) {
    lua_pushcclosure(L, l_ipairs, 1);
    lua_setglobal(L, "ipairs");
  } else {
    lua_pop(L, 1);
  }
}

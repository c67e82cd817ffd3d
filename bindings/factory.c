/* factory.c: closure factories. A factory is a tiny function built around
** the received function's prototype: N parameters, then
**   CLOSURE R[N] <the prototype>; RETURN R[N] (closing upvalues)
** with the prototype's upvalue i rewritten to capture parameter i, so each
** call makes a new closure with its own fresh upvalues. One is built (from
** the dump bytes, in Lua 5.4's binary chunk format, see ldump.c) and loaded
** per function and VM; calling it costs far less than lua_load. */
#include "factory.h"
#include "dump.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>

/* Off when the self-test failed: every function is then lua_loaded. */
static atomic_bool factories_off;

/* Lua 5.4 opcodes (lopcodes.h) and instruction layout: op in bits 0-6, A in
** 7-14, k in 15, B in 16-23, C in 24-31; Bx in 15-31. */
#define OP_RETURN 70
#define OP_CLOSURE 79
#define MAX_PARAMS 250

/* Registry key of this VM's cache: integer (hash and length) -> {dump,
** factory}; key 0 holds the count. Emptied when it reaches CACHE_MAX, so
** a program making endless distinct functions does not grow it for ever. */
static const char cache_key = 0;
#define CACHE_MAX 1024

static void put_size(luaL_Buffer *b, size_t x) {
  unsigned char buf[16];
  int n = 0;
  do {
    buf[sizeof buf - (++n)] = (unsigned char)(x & 0x7f);
    x >>= 7;
  } while (x != 0);
  buf[sizeof buf - 1] |= 0x80;
  luaL_addlstring(b, (const char *)buf + sizeof buf - n, (size_t)n);
}

static void put_instruction(luaL_Buffer *b, uint32_t i) {
  luaL_addlstring(b, (const char *)&i, sizeof i);
}

/* Pushes the factory chunk for dump, or returns 0 if it cannot be built. */
static int build_chunk(lua_State *L, const unsigned char *dump, size_t n) {
  if (n <= DUMP_HEADER_SIZE + 1) return 0;
  dump_reader r = {dump + DUMP_HEADER_SIZE + 1, dump + n, 1};   /* + its upvalue count */
  const unsigned char *proto = r.p;
  dump_skip_string(&r);                 /* source */
  dump_read_size(&r);                   /* linedefined */
  dump_read_size(&r);                   /* lastlinedefined */
  dump_skip(&r, 3);                     /* numparams, is_vararg, maxstacksize */
  dump_skip(&r, 4 * dump_read_size(&r));     /* code */
  dump_skip_constants(&r);
  const unsigned char *upvals_at = r.p;
  size_t nups = dump_read_size(&r);
  const unsigned char *descs = r.p;
  dump_skip(&r, 3 * nups);
  if (!r.ok || nups > MAX_PARAMS) return 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, (const char *)dump, DUMP_HEADER_SIZE);
  luaL_addchar(&b, 0);                       /* the factory has no upvalues */
  put_size(&b, sizeof "=lugo");              /* source "=lugo" (size + 1) */
  luaL_addlstring(&b, "=lugo", sizeof "=lugo" - 1);
  put_size(&b, 0);                           /* linedefined */
  put_size(&b, 0);                           /* lastlinedefined */
  luaL_addchar(&b, (char)nups);              /* numparams */
  luaL_addchar(&b, 0);                       /* is_vararg */
  luaL_addchar(&b, (char)(nups + 1 < 2 ? 2 : nups + 1));   /* maxstacksize */
  put_size(&b, 2);
  put_instruction(&b, OP_CLOSURE | ((uint32_t)nups << 7));
  /* RETURN with k set closes the captured parameters, so the next call
  ** gets fresh upvalues (B = 2: one result). */
  put_instruction(&b, OP_RETURN | ((uint32_t)nups << 7) | (1u << 15) | (2u << 16));
  put_size(&b, 0);                           /* constants */
  put_size(&b, 0);                           /* upvalues */
  put_size(&b, 1);                           /* protos: the function */
  luaL_addlstring(&b, (const char *)proto, (size_t)(upvals_at - proto));
  put_size(&b, nups);
  for (size_t i = 0; i < nups; i++) {        /* capture parameter i */
    luaL_addchar(&b, 1);                     /* instack */
    luaL_addchar(&b, (char)i);               /* idx */
    luaL_addchar(&b, (char)descs[3 * i + 2]);   /* kind, unchanged */
  }
  luaL_addlstring(&b, (const char *)r.p, (size_t)(dump + n - r.p));
  put_size(&b, 0);                           /* lineinfo */
  put_size(&b, 0);                           /* abslineinfo */
  put_size(&b, 0);                           /* locvars */
  put_size(&b, 0);                           /* upvalue names */
  luaL_pushresult(&b);
  return 1;
}

/* Pushes this VM's cache table, creating it (or a fresh one, once it holds
** CACHE_MAX factories) as needed; *count is its number of factories. */
static void push_cache(lua_State *L, lua_Integer *count) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 0);
    *count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (*count < CACHE_MAX) return;
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
  *count = 0;
}

static lua_Integer cache_entry_key(size_t n, uint32_t hash) {
  return (lua_Integer)(((uint64_t)n << 32) | hash);
}

/* Calls the factory on top: a new closure with fresh upvalues (all nil,
** since no parameters are passed). */
static void make_closure(lua_State *L) {
  lua_call(L, 0, 1);
}

int factory_push_cached(lua_State *L, const unsigned char *dump, size_t n,
                        uint32_t hash, int *nups) {
  if (atomic_load_explicit(&factories_off, memory_order_relaxed)) return 0;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_rawgeti(L, -1, cache_entry_key(n, hash)) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  size_t len;
  lua_rawgeti(L, -1, 1);
  const char *known = lua_tolstring(L, -1, &len);
  if (!known || len != n || memcmp(known, dump, n) != 0) {
    lua_pop(L, 3);
    return 0;
  }
  lua_rawgeti(L, -2, 2);
  lua_replace(L, -4);
  lua_pop(L, 2);
  make_closure(L);
  *nups = dump[DUMP_HEADER_SIZE];   /* the dump's upvalue count (ldump.c dumpFunction) */
  return 1;
}

int factory_push(lua_State *L, const unsigned char *dump, size_t n, uint32_t hash) {
  int nups;
  if (atomic_load_explicit(&factories_off, memory_order_relaxed)) return 0;
  if (factory_push_cached(L, dump, n, hash, &nups)) return 1;
  lua_Integer count;
  push_cache(L, &count);
  lua_Integer key = cache_entry_key(n, hash);
  if (lua_rawgeti(L, -1, key) != LUA_TNIL) {
    lua_pop(L, 2);
    return 0;        /* a hash collision: rare, just lua_load */
  }
  lua_pop(L, 1);
  if (!build_chunk(L, dump, n)) {
    lua_pop(L, 1);
    return 0;
  }
  size_t len;
  const char *chunk = lua_tolstring(L, -1, &len);
  if (luaL_loadbufferx(L, chunk, len, "=lugo", "b") != LUA_OK) {
    lua_pop(L, 3);
    return 0;
  }
  lua_remove(L, -2);                          /* the chunk */
  lua_createtable(L, 2, 0);
  lua_pushlstring(L, (const char *)dump, n);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, -3, key);
  lua_pushinteger(L, count + 1);
  lua_rawseti(L, -3, 0);
  lua_remove(L, -2);                          /* the cache */
  make_closure(L);
  return 1;
}

/* ---- self-test ---- */

static int collect_dump(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  luaL_addlstring((luaL_Buffer *)ud, (const char *)p, n);
  return 0;
}

/* Builds the factory of a known function, calls it twice and checks that
** each closure works with upvalues of its own. Leaves L's stack as it was. */
static bool factory_works(lua_State *L) {
  static const char source[] =
      "local a, b = 0, 0\n"
      "return function(x) a = a + x; return a * 100 + b end";
  int top = lua_gettop(L);
  bool ok = false;
  if (luaL_loadbuffer(L, source, sizeof source - 1, "=lugo self-test") == LUA_OK &&
      lua_pcall(L, 0, 1, 0) == LUA_OK) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushvalue(L, -2);               /* the function, on top for lua_dump */
    lua_dump(L, collect_dump, &b, 0);
    lua_pop(L, 1);
    luaL_pushresult(&b);
    size_t n;
    const unsigned char *dump = (const unsigned char *)lua_tolstring(L, -1, &n);
    if (build_chunk(L, dump, n)) {
      size_t len;
      const char *chunk = lua_tolstring(L, -1, &len);
      if (luaL_loadbufferx(L, chunk, len, "=lugo", "b") == LUA_OK) {
        int factory = lua_gettop(L);
        ok = true;
        for (int i = 1; i <= 2 && ok; i++) {   /* two closures, fresh upvalues */
          lua_pushvalue(L, factory);
          ok = lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isfunction(L, -1);
          if (ok) {
            lua_pushinteger(L, 1);
            lua_setupvalue(L, -2, 1);          /* a = 1 */
            lua_pushinteger(L, i);
            lua_setupvalue(L, -2, 2);          /* b = i */
            lua_pushinteger(L, 2);
            ok = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_tointeger(L, -1) == 300 + i;
          }
          lua_pop(L, 1);
        }
      }
    }
  }
  lua_settop(L, top);
  return ok;
}

void factory_self_test(lua_State *L) {
  static atomic_flag tested = ATOMIC_FLAG_INIT;
  if (atomic_flag_test_and_set(&tested)) return;
  if (factory_works(L)) return;
  atomic_store(&factories_off, true);
  fprintf(stderr, "lugo: warning: closure factories failed their self-test "
                  "(%s): functions are copied with lua_load, more slowly\n",
          LUA_RELEASE);
  fflush(stderr);
}

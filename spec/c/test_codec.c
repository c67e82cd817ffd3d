/* test_codec.c: checks bindings/codec.c between two independent Lua states
** A (sender) and B (receiver): round trips of every kind of value, the exact
** errors for values that cannot cross, no leaks, and a decoder fuzz run.
** Exits 0 on success, 1 after any failure.
**
**   gcc -std=c11 -g -O1 -fsanitize=address,undefined -I/usr/include/lua5.4 \
**     bindings/codec_*.c bindings/factory.c bindings/dump.c core/pool.c \
**     spec/c/codec_test_objects.c spec/c/test_codec.c \
**     -llua5.4 -lm -o /tmp/tc && /tmp/tc [FUZZ_ITERATIONS [SEED]]
**
** The crafted corrupt messages below know the tag numbers of codec_wire.h. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "../../bindings/codec.h"
#include "../../bindings/handle.h"

enum { TAG_NIL, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_FLOAT, TAG_STR, TAG_TABLE };

static lua_State *A, *B;
static int failures = 0;

static void check(int ok, const char *what, int line) {
  if (!ok) {
    fprintf(stderr, "test_codec.c:%d: FAILED: %s\n", line, what);
    failures++;
  }
}

#define CHECK(c) check((c) != 0, #c, __LINE__)

/* ---- allocation counting ---- */

static size_t nalloc = 0;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (ptr == NULL || nsize > osize)
    nalloc++;
  return realloc(ptr, nsize);
}

/* ---- test objects (see codec_test_objects.c) ---- */

typedef struct TestObj {
  lugo_obj base;
  int id;
} TestObj;

static int created = 0, destroyed = 0;

static void testobj_destroy(lugo_obj *o) {
  destroyed++;
  free(o);
}

static int l_newobj(lua_State *L) {
  TestObj *t = (TestObj *)malloc(sizeof(TestObj));
  obj_init(&t->base, OBJ_CHAN, testobj_destroy);
  t->id = (int)luaL_checkinteger(L, 1);
  created++;
  handle_push(L, &t->base, 0);
  obj_release(&t->base);
  return 1;
}

static int l_view(lua_State *L) {
  lugo_obj *o;
  int flags;
  if (!handle_test(L, 1, &o, &flags))
    return luaL_error(L, "not a handle");
  handle_push(L, o, (int)luaL_checkinteger(L, 2));
  return 1;
}

static int l_objinfo(lua_State *L) {
  lugo_obj *o;
  int flags;
  if (!handle_test(L, 1, &o, &flags))
    return luaL_error(L, "not a handle");
  lua_pushinteger(L, ((TestObj *)o)->id);
  lua_pushinteger(L, flags);
  return 2;
}

static int l_lightud(lua_State *L) {
  lua_pushlightuserdata(L, &created);
  return 1;
}

static int l_double(lua_State *L) {
  lua_pushinteger(L, 2 * luaL_checkinteger(L, 1));
  return 1;
}

static int l_triple(lua_State *L) {
  lua_pushinteger(L, 3 * luaL_checkinteger(L, 1));
  return 1;
}

static int l_onlya(lua_State *L) {
  lua_pushliteral(L, "only in A");
  return 1;
}

static int open_testmod(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_double);
  lua_setfield(L, -2, "double");
  return 1;
}

/* ---- running code ---- */

static void run(lua_State *L, const char *code, int line) {
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "test_codec.c:%d: FAILED: %s\n", line,
            lua_tostring(L, -1));
    failures++;
    lua_pop(L, 1);
  }
}

#define RUN(L, code) run(L, code, __LINE__)

static lua_State *new_state(int sender) {
  lua_State *L = lua_newstate(count_alloc, NULL);
  luaL_openlibs(L);
  lua_register(L, "newobj", l_newobj);
  lua_register(L, "view", l_view);
  lua_register(L, "objinfo", l_objinfo);
  lua_register(L, "lightud", l_lightud);
  luaL_requiref(L, "testmod", open_testmod, 1);
  lua_pop(L, 1);
  /* a goroutine-style global table: EA in the sender, EB in the receiver */
  (void)luaL_dostring(L, sender ? "EA = setmetatable({}, {__index = _G})"
                          : "EB = setmetatable({}, {__index = _G})");
  return L;
}

/* ---- encode in A, decode in B ---- */

static char errbuf[512];

/* enc(env, values...) with upvalues msg and what */
static int enc_cf(lua_State *L) {
  codec_msg *m = (codec_msg *)lua_touserdata(L, lua_upvalueindex(1));
  const char *what = lua_tostring(L, lua_upvalueindex(2));
  codec_encode(L, 2, lua_gettop(L) - 1, 1, what, m);
  return 0;
}

/* dec(env) with upvalue msg: returns the values */
static int dec_cf(lua_State *L) {
  const codec_msg *m = (const codec_msg *)lua_touserdata(L, lua_upvalueindex(1));
  return codec_decode(L, m, 1);
}

/* Runs code in A (with EA as its globals if in_ea) and encodes its results
** into m, with EA or A's _G as env. Returns 1, or 0 with the error message
** in errbuf (m must then be zeroed). */
static int encode(const char *code, int in_ea, const char *what,
                  codec_msg *m) {
  int base = lua_gettop(A), n, ok;
  if (luaL_loadbufferx(A, code, strlen(code), "=codeA", "t") != LUA_OK) {
    snprintf(errbuf, sizeof errbuf, "load: %s", lua_tostring(A, -1));
    lua_settop(A, base);
    return 0;
  }
  if (in_ea) {
    lua_getglobal(A, "EA");
    lua_setupvalue(A, -2, 1);
  }
  if (lua_pcall(A, 0, LUA_MULTRET, 0) != LUA_OK) {
    snprintf(errbuf, sizeof errbuf, "run: %s", lua_tostring(A, -1));
    lua_settop(A, base);
    return 0;
  }
  n = lua_gettop(A) - base;
  lua_pushlightuserdata(A, m);
  lua_pushstring(A, what);
  lua_pushcclosure(A, enc_cf, 2);
  lua_insert(A, base + 1);
  if (in_ea)
    lua_getglobal(A, "EA");
  else
    lua_pushglobaltable(A);
  lua_insert(A, base + 2);
  ok = lua_pcall(A, n + 1, 0, 0) == LUA_OK;
  if (!ok)
    snprintf(errbuf, sizeof errbuf, "%s", lua_tostring(A, -1));
  lua_settop(A, base);
  return ok;
}

/* Decodes m in B (env EB if in_eb, else B's _G) into the global table V
** (V.n values). Returns 1, or 0 with the error in errbuf. */
static int decode(const codec_msg *m, int in_eb) {
  int base = lua_gettop(B), n, i;
  lua_pushlightuserdata(B, (void *)m);
  lua_pushcclosure(B, dec_cf, 1);
  if (in_eb)
    lua_getglobal(B, "EB");
  else
    lua_pushglobaltable(B);
  if (lua_pcall(B, 1, LUA_MULTRET, 0) != LUA_OK) {
    snprintf(errbuf, sizeof errbuf, "%s", lua_tostring(B, -1));
    lua_settop(B, base);
    return 0;
  }
  n = lua_gettop(B) - base;
  lua_createtable(B, n, 1);
  for (i = 1; i <= n; i++) {
    lua_pushvalue(B, base + i);
    lua_rawseti(B, -2, i);
  }
  lua_pushinteger(B, n);
  lua_setfield(B, -2, "n");
  lua_setglobal(B, "V");
  lua_settop(B, base);
  return 1;
}

/* Sends what code returns from A to B and runs check in B. */
static void roundtrip(const char *code, int env, const char *checks,
                      int line) {
  codec_msg m;
  if (!encode(code, env, "argument #%d", &m)) {
    fprintf(stderr, "test_codec.c:%d: FAILED: encode: %s\n", line, errbuf);
    failures++;
    return;
  }
  if (!decode(&m, env)) {
    fprintf(stderr, "test_codec.c:%d: FAILED: decode: %s\n", line, errbuf);
    failures++;
  }
  else
    run(B, checks, line);
  codec_free(&m);
}

#define ROUNDTRIP(code, env, checks) roundtrip(code, env, checks, __LINE__)

static int is_zeroed(const codec_msg *m) {
  return m->len == 0 && m->heap == NULL && m->objs == NULL && m->nobjs == 0;
}

/* Encoding code must fail with exactly msg, leaving m freed. */
static void encode_error(const char *code, const char *what, const char *msg,
                         int line) {
  codec_msg m;
  memset(&m, 0xAB, sizeof m);   /* "uninitialised" */
  if (encode(code, 0, what, &m)) {
    fprintf(stderr, "test_codec.c:%d: FAILED: no error, wanted %s\n", line,
            msg);
    failures++;
    codec_free(&m);
    return;
  }
  if (strcmp(errbuf, msg) != 0) {
    fprintf(stderr, "test_codec.c:%d: FAILED: error\n  got:  %s\n  want: %s\n",
            line, errbuf, msg);
    failures++;
  }
  check(is_zeroed(&m), "msg freed after error", line);
}

#define ENCODE_ERROR(code, what, msg) encode_error(code, what, msg, __LINE__)

/* ---- the tests ---- */

static void test_scalars(void) {
  ROUNDTRIP("return nil, true, false, 0, -1, math.maxinteger, math.mininteger,"
            " 1.5, -0.0, 1/0, -1/0, 0/0, 2^53, 3.0, '', 'abc',"
            " ('x'):rep(100000), 'a\\0b\\255', 63, 64, -64, -65, nil",
            0,
            "assert(V.n == 23)\n"
            "assert(V[1] == nil and V[2] == true and V[3] == false)\n"
            "assert(math.type(V[4]) == 'integer' and V[4] == 0)\n"
            "assert(V[5] == -1 and V[6] == math.maxinteger)\n"
            "assert(V[7] == math.mininteger and math.type(V[7]) == 'integer')\n"
            "assert(V[8] == 1.5)\n"
            "assert(math.type(V[9]) == 'float' and 1/V[9] == -1/0)\n"
            "assert(V[10] == 1/0 and V[11] == -1/0)\n"
            "assert(V[12] ~= V[12])\n"
            "assert(V[13] == 2^53 and math.type(V[13]) == 'float')\n"
            "assert(V[14] == 3 and math.type(V[14]) == 'float')\n"
            "assert(V[15] == '' and V[16] == 'abc')\n"
            "assert(V[17] == ('x'):rep(100000))\n"
            "assert(V[18] == 'a\\0b\\255' and #V[18] == 4)\n"
            "assert(V[19] == 63 and V[20] == 64 and V[21] == -64)\n"
            "assert(V[22] == -65 and V[23] == nil)\n");
}

/* Scalars and short strings: inline, no malloc, no Lua allocation; decoding
** numbers allocates nothing either. */
static void test_inline(void) {
  codec_msg m;
  size_t before;
  int n;
  lua_pushinteger(A, 1);                    /* warm up: creates the state */
  codec_encode(A, -1, 1, 0, "value sent", &m);
  codec_free(&m);
  lua_settop(A, 0);
  lua_pushinteger(A, 1);
  lua_pushnumber(A, 2.5);
  lua_pushboolean(A, 1);
  lua_pushinteger(A, -1000000);
  lua_pushliteral(A, "hello");
  before = nalloc;
  codec_encode(A, 1, 5, 0, "value sent", &m);
  CHECK(nalloc == before);
  CHECK(m.len <= CODEC_INLINE && m.heap == NULL && m.objs == NULL);
  lua_settop(A, 0);
  lua_settop(B, 0);
  before = nalloc;
  n = codec_decode(B, &m, 0);
  CHECK(n == 5);
  CHECK(lua_tointeger(B, 1) == 1 && lua_isinteger(B, 1));
  CHECK(lua_tonumber(B, 2) == 2.5 && !lua_isinteger(B, 2));
  CHECK(lua_toboolean(B, 3));
  CHECK(lua_tointeger(B, 4) == -1000000);
  lua_settop(B, 0);
  codec_free(&m);
  lua_pushinteger(A, 42);
  codec_encode(A, 1, 1, 0, "value sent", &m);
  before = nalloc;
  CHECK(codec_decode(B, &m, 0) == 1 && lua_tointeger(B, -1) == 42);
  CHECK(nalloc == before);
  codec_free(&m);
  codec_free(&m);   /* safe twice */
  lua_settop(A, 0);
  lua_settop(B, 0);
  /* nothing at all */
  codec_encode(A, 1, 0, 0, "value sent", &m);
  CHECK(m.len == 0 && codec_decode(B, &m, 0) == 0 && lua_gettop(B) == 0);
  codec_free(&m);
}

static void test_tables(void) {
  ROUNDTRIP("local shared = {1, 2}\n"
            "local t = {1, 2, nil, 4, x = 'y', [1.5] = 'f', [true] = 'T',\n"
            "  [false] = 'F', sub = {a = shared, b = shared}}\n"
            "t.self = t\n"
            "t[shared] = 'tablekey'\n"
            "local holes = {}; holes[1] = 1; holes[3] = 3; holes[100] = 100\n"
            "local big = {}\n"
            "for i = 1, 1000 do big[i] = i * 2 end\n"
            "for i = 1, 500 do big['k' .. i] = i end\n"
            "local sparse = {}\n"
            "for i = 1, 64 do sparse[i] = i end\n"
            "for i = 1, 63 do sparse[i] = nil end\n"
            "return t, shared, holes, big, {}, sparse, {{{{'deep'}}}}\n",
            0,
            "local t, shared, holes, big, empty, sparse = table.unpack(V, 1, 6)\n"
            "assert(t.self == t)\n"
            "assert(t.sub.a == t.sub.b and t.sub.a == shared)\n"
            "assert(shared[1] == 1 and shared[2] == 2 and #shared == 2)\n"
            "assert(t[shared] == 'tablekey')\n"
            "assert(t[1] == 1 and t[2] == 2 and t[3] == nil and t[4] == 4)\n"
            "assert(t.x == 'y' and t[1.5] == 'f')\n"
            "assert(t[true] == 'T' and t[false] == 'F')\n"
            "local c = 0 for _ in pairs(holes) do c = c + 1 end\n"
            "assert(c == 3 and holes[1] == 1 and holes[3] == 3)\n"
            "assert(holes[100] == 100)\n"
            "for i = 1, 1000 do assert(big[i] == i * 2) end\n"
            "assert(#big == 1000 and big.k500 == 500 and big.k1 == 1)\n"
            "assert(next(empty) == nil)\n"
            "c = 0 for k, v in pairs(sparse) do c = c + 1; assert(k == 64) end\n"
            "assert(c == 1)\n"
            "assert(V[7][1][1][1][1] == 'deep')\n");
  /* a table reached from two arguments arrives as one */
  ROUNDTRIP("local s = {} return s, {s}, s",
            0, "assert(V[1] == V[2][1] and V[1] == V[3])");
}

static void test_metatables(void) {
  ROUNDTRIP("local mt = {__index = function(t, k) return k .. '!' end}\n"
            "local Class = {}\n"
            "Class.__index = Class\n"
            "function Class.hello(self) return 'hi ' .. self.name end\n"
            "local a = setmetatable({name = 'a'}, Class)\n"
            "local b = setmetatable({name = 'b'}, Class)\n"
            "return setmetatable({}, mt), a, b, Class\n",
            0,
            "assert(V[1].foo == 'foo!')\n"
            "assert(V[2]:hello() == 'hi a' and V[3]:hello() == 'hi b')\n"
            "assert(getmetatable(V[2]) == V[4])\n"
            "assert(getmetatable(V[3]) == V[4] and V[4].__index == V[4])\n");
}

static void test_functions(void) {
  ROUNDTRIP("local n = 0\n"
            "local function inc() n = n + 1; return n end\n"
            "local function get() return n end\n"
            "local function fact(k) if k <= 1 then return 1 end\n"
            "  return k * fact(k - 1) end\n"
            "local fmt = string.format\n"
            "local function show(x) return fmt('<%d>', x) end\n"
            "local function setg() x_from_a = 42; return print, string end\n"
            "local function fails() local a = nil; return a.b end\n"
            "return inc, get, fact, show, setg, inc, fails\n",
            0,
            "assert(V[1]() == 1 and V[1]() == 2)\n"
            "assert(V[2]() == 2)      -- the upvalue n is still shared\n"
            "assert(V[6] == V[1])\n"
            "assert(V[3](5) == 120)\n"
            "assert(V[4](3) == '<3>')\n"
            "local p, s = V[5]()\n"
            "assert(p == print and s == string)\n"
            "assert(x_from_a == 42)   -- A's _G became B's _G\n"
            "x_from_a = nil\n"
            "local ok, err = pcall(V[7])\n"
            "assert(not ok and err:find('^codeA:9: .*local .a.'), err)\n"
            "assert(debug.getinfo(V[7], 'S').source == '=codeA')\n"
            "assert(debug.getinfo(V[7], 'S').linedefined == 9)\n");
  /* an upvalue shared through a cycle; a function reached twice */
  ROUNDTRIP("local t\n"
            "local function g() return t end\n"
            "t = {g = g}\n"
            "local function f() return t end\n"
            "return f, g\n",
            0,
            "local t = V[1]()\n"
            "assert(type(t) == 'table' and t.g == V[2] and t.g() == t)\n"
            "assert(V[2]() == t)\n");
  /* a goroutine-style env (EA) and the real _G both become EB */
  ROUNDTRIP("y_global = 5\n"
            "return function() y_global = (y_global or 0) + 1\n"
            "  return y_global, _ENV end, _ENV, _G\n",
            1,
            "local v, env = V[1]()\n"
            "assert(v == 1 and env == EB and EB.y_global == 1)\n"
            "assert(rawget(_G, 'y_global') == nil)\n"
            "assert(V[2] == EB and V[3] == EB)\n");
  /* functions in tables, tables in upvalues, a function as a key */
  ROUNDTRIP("local cfg = {k = 10}\n"
            "local function get(x) return cfg.k + x end\n"
            "return {get = get, [get] = 'fkey', cfg = cfg}\n",
            0,
            "local t = V[1]\n"
            "assert(t.get(1) == 11 and t[t.get] == 'fkey')\n"
            "t.cfg.k = 20\n"
            "assert(t.get(1) == 21)\n");
}

/* package.loaded[name] = {[field] = f} */
static void add_module(lua_State *L, const char *name, const char *field,
                       lua_CFunction f) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable(L);
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, field);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void test_named(void) {
  codec_msg m;
  ROUNDTRIP("return string.format, print, string, package.loaded.testmod,\n"
            "  testmod.double, require, math.pi, package.loaded, io.write,\n"
            "  table, {fmt = string.format, s = string}, _G\n",
            0,
            "assert(V[1] == string.format and V[2] == print)\n"
            "assert(V[3] == string and V[4] == package.loaded.testmod)\n"
            "assert(V[5] == testmod.double and V[5](4) == 8)\n"
            "assert(V[6] == require and V[7] == math.pi)\n"
            "assert(V[8] == package.loaded and V[9] == io.write)\n"
            "assert(V[10] == table)\n"
            "assert(V[11].fmt == string.format and V[11].s == string)\n"
            "assert(V[12] == _G)\n");
  /* absent in the receiver */
  add_module(A, "onlyA", "f", l_onlya);
  CHECK(encode("return package.loaded.onlyA", 0, "argument #%d", &m));
  CHECK(!decode(&m, 0));
  CHECK(strncmp(errbuf, "lugo: cannot resolve 'onlyA' (module 'onlyA' not "
                        "found", 47) == 0);
  codec_free(&m);
  CHECK(encode("return package.loaded.onlyA.f", 0, "argument #%d", &m));
  CHECK(!decode(&m, 0));
  CHECK(strncmp(errbuf, "lugo: cannot resolve 'onlyA' (module 'onlyA' not "
                        "found", 47) == 0);
  codec_free(&m);
  /* aliases: the name does not depend on traversal order */
  RUN(A, "package.loaded.aaa = {double = testmod.double, str = string,\n"
         "  fmt = string.format}");
  RUN(B, "package.loaded.aaa = {double = testmod.double}");
  ROUNDTRIP("return testmod.double, string, string.format", 0,
            "assert(V[1] == testmod.double and V[2] == string)\n"
            "assert(V[3] == string.format)\n");
  /* a module loaded after the names were built */
  add_module(A, "late", "cf", l_double);
  add_module(B, "late", "cf", l_double);
  ROUNDTRIP("return package.loaded.late, package.loaded.late.cf", 0,
            "assert(V[1] == package.loaded.late)\n"
            "assert(V[2] == package.loaded.late.cf and V[2](2) == 4)\n");
  /* a C function added to a loaded module later: found by a rebuild */
  lua_getglobal(A, "testmod");
  lua_pushcfunction(A, l_triple);
  lua_setfield(A, -2, "triple");
  lua_pop(A, 1);
  lua_getglobal(B, "testmod");
  lua_pushcfunction(B, l_triple);
  lua_setfield(B, -2, "triple");
  lua_pop(B, 1);
  ROUNDTRIP("return {testmod.triple}", 0,
            "assert(V[1][1] == testmod.triple and V[1][1](2) == 6)\n");
  /* gone from the receiver */
  RUN(B, "package.loaded.late = nil");
  CHECK(encode("return package.loaded.late.cf", 0, "argument #%d", &m));
  CHECK(!decode(&m, 0));
  CHECK(strncmp(errbuf, "lugo: cannot resolve 'late' (module 'late' not "
                        "found", 45) == 0);
  codec_free(&m);
  /* loaded, but without the field */
  RUN(B, "package.loaded.late = {}");
  CHECK(encode("return package.loaded.late.cf", 0, "argument #%d", &m));
  CHECK(!decode(&m, 0));
  CHECK(strcmp(errbuf, "lugo: cannot resolve 'late.cf' (absent in the "
                       "receiving state)") == 0);
  codec_free(&m);
  /* not loaded in the receiver yet: required there */
  RUN(A, "package.loaded.lazy = {x = 1, double = testmod.double}");
  RUN(B, "lazy_runs = 0\n"
         "package.preload.lazy = function(name)\n"
         "  lazy_runs = lazy_runs + 1\n"
         "  return {x = 2, name = name}\n"
         "end");
  ROUNDTRIP("return package.loaded.lazy, package.loaded.lazy", 0,
            "assert(V[1] == package.loaded.lazy and V[1] == V[2])\n"
            "assert(V[1].x == 2 and V[1].name == 'lazy' and lazy_runs == 1)\n");
  RUN(B, "package.preload.broken = function() error('boom', 0) end");
  RUN(A, "package.loaded.broken = {}");
  CHECK(encode("return package.loaded.broken", 0, "argument #%d", &m));
  CHECK(!decode(&m, 0));
  CHECK(strcmp(errbuf, "lugo: cannot resolve 'broken' (boom)") == 0);
  codec_free(&m);
}

static void test_objects(void) {
  ROUNDTRIP("local h = newobj(7)\n"
            "local so = view(h, 1)\n"
            "return h, h, so, {h = h, list = {h, so}}\n",
            0,
            "assert(V[1] == V[2] and V[1] ~= V[3])\n"
            "local id, fl = objinfo(V[1])\n"
            "assert(id == 7 and fl == 0)\n"
            "id, fl = objinfo(V[3])\n"
            "assert(id == 7 and fl == 1)\n"
            "assert(V[4].h == V[1] and V[4].list[1] == V[1])\n"
            "assert(V[4].list[2] == V[3])\n"
            "V = nil\n");
}

static void test_errors(void) {
  const char *arg = "argument #%d";
  ENCODE_ERROR("return coroutine.create(print)", arg,
               "lugo: cannot transfer thread (argument #1)");
  ENCODE_ERROR("return coroutine.create(print)", "value sent",
               "lugo: cannot transfer thread (value sent)");
  ENCODE_ERROR("local f = io.tmpfile()\n return function() return f end", arg,
               "lugo: cannot transfer userdata (upvalue 'f' of argument #1)");
  ENCODE_ERROR("return 1, {a = {b = {io.tmpfile()}}}", arg,
               "lugo: cannot transfer userdata (field 'a.b[1]' of "
               "argument #2)");
  ENCODE_ERROR("return {[coroutine.create(print)] = 1}", arg,
               "lugo: cannot transfer thread (key in argument #1)");
  ENCODE_ERROR("return {[{coroutine.create(print)}] = 1}", arg,
               "lugo: cannot transfer thread (field '[1]' of key in "
               "argument #1)");
  ENCODE_ERROR("return setmetatable({}, {__index = io.tmpfile()})", arg,
               "lugo: cannot transfer userdata (field '__index' of "
               "metatable of argument #1)");
  ENCODE_ERROR("return string.gmatch('a', 'a')", arg,
               "lugo: cannot transfer C function (argument #1)");
  ENCODE_ERROR("return lightud()", arg,
               "lugo: cannot transfer light userdata (argument #1)");
  ENCODE_ERROR("return {['a b'] = {[2.5] = {[true] = io.tmpfile()}}}", arg,
               "lugo: cannot transfer userdata (field '[\"a b\"][2.5][true]' "
               "of argument #1)");
  ENCODE_ERROR("local cfg = {x = io.tmpfile()}\n"
               "return function() return cfg end", arg,
               "lugo: cannot transfer userdata (field 'x' of upvalue 'cfg' "
               "of argument #1)");
  ENCODE_ERROR("local out = io.tmpfile()\n"
               "return 1, 2, {handlers = {function() return out end}}", arg,
               "lugo: cannot transfer userdata (upvalue 'out' of field "
               "'handlers[1]' of argument #3)");
  ENCODE_ERROR("local t = {} for i = 2, 1001 do t = {t} end return t", arg,
               "lugo: cannot transfer table (nested too deeply in "
               "argument #1)");
  ENCODE_ERROR("local f = function() end\n"
               "for i = 2, 1001 do local g = f; f = function() return g end end\n"
               "return 0, f", arg,
               "lugo: cannot transfer function (nested too deeply in "
               "argument #2)");
  /* after the heap buffer and an object were taken: freed, not leaked */
  ENCODE_ERROR("return ('x'):rep(100), newobj(1), {newobj(2)},\n"
               "  function() end, coroutine.create(print)", arg,
               "lugo: cannot transfer thread (argument #5)");
  /* and encoding works again afterwards */
  ROUNDTRIP("local t = {} for i = 2, 200 do t = {t} end return t", 0,
            "local t, d = V[1], 1\n"
            "while t[1] do t = t[1]; d = d + 1 end\n"
            "assert(d == 200)\n");
}

/* A finalizer that sends while an encode is running in the same VM. */
static int in_outer = 0, nested = 0;

static int l_reenter(lua_State *L) {
  codec_msg m;
  lua_newtable(L);
  lua_pushinteger(L, 5);
  lua_setfield(L, -2, "x");
  codec_encode(L, -1, 1, 0, "value sent", &m);
  codec_free(&m);
  nested += in_outer;
  return 0;
}

static void test_reentrancy(void) {
  int i;
  lua_register(A, "reenter", l_reenter);
  RUN(A, "collectgarbage('incremental', 10, 400)");
  for (i = 0; i < 300; i++) {
    codec_msg m;
    int ok;
    RUN(A, "for i = 1, 20 do\n"
           "  setmetatable({}, {__gc = function() reenter() end})\n"
           "end");
    in_outer = 1;
    ok = encode("local t = {}\n"
                "for i = 1, 20 do local u = {i}\n"
                "  t[i] = function() return u, i end end\n"
                "return t", 0, "argument #%d", &m);
    in_outer = 0;
    CHECK(ok);
    if (ok) {
      CHECK(decode(&m, 0));
      RUN(B, "for i = 1, 20 do local u, j = V[1][i]()\n"
             "  assert(u[1] == i and j == i) end");
      codec_free(&m);
    }
  }
  RUN(A, "collectgarbage('incremental', 200, 100)");
  printf("reentrancy: %d finalizers sent during an encode\n", nested);
}

/* ---- corrupt input ---- */

static int decode_bytes(const unsigned char *p, size_t n, lugo_obj **objs,
                        unsigned nobjs) {
  codec_msg m;
  int ok;
  memset(&m, 0, sizeof m);
  m.len = n;
  if (n > CODEC_INLINE) {
    m.heap = (unsigned char *)malloc(n);
    memcpy(m.heap, p, n);
  }
  else if (n > 0)
    memcpy(m.inline_buf, p, n);
  m.objs = objs;
  m.nobjs = nobjs;
  ok = decode(&m, 0);
  free(m.heap);
  return ok;
}

static void test_crafted(void) {
  static unsigned char b[16384];
  size_t n = 0;
  int i;
  /* 1050 nested tables: past CODEC_MAXDEPTH */
  for (i = 0; i < 1050; i++) {   /* tag, u32 narr = 1, u32 nhash = 0 */
    memset(b + n, 0, 9);
    b[n] = TAG_TABLE;
    b[n + 1] = 1;
    n += 9;
  }
  b[n++] = TAG_NIL;
  CHECK(!decode_bytes(b, n, NULL, 0));
  CHECK(strcmp(errbuf, "lugo: corrupt message (nested too deeply)") == 0);
  /* a string longer than the message */
  n = 0;
  b[n++] = TAG_STR;
  for (i = 0; i < 9; i++)
    b[n++] = 0xff;
  b[n++] = 0x01;
  CHECK(!decode_bytes(b, n, NULL, 0));
  CHECK(strcmp(errbuf, "lugo: corrupt message (truncated)") == 0);
  /* a table claiming 2^31 entries */
  n = 0;
  b[n++] = TAG_TABLE;
  b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0x80;
  b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0;
  b[n++] = TAG_NIL;
  CHECK(!decode_bytes(b, n, NULL, 0));
  CHECK(strncmp(errbuf, "lugo: corrupt message (", 23) == 0);
  /* a float cut short, a bad tag */
  b[0] = TAG_FLOAT;
  CHECK(!decode_bytes(b, 5, NULL, 0));
  b[0] = 0x3f;
  CHECK(!decode_bytes(b, 1, NULL, 0));
  CHECK(strcmp(errbuf, "lugo: corrupt message (bad tag)") == 0);
  /* a heap message without its heap */
  {
    codec_msg m;
    memset(&m, 0, sizeof m);
    m.len = 100;
    CHECK(!decode(&m, 0));
  }
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Mutates a copy of src into dst (room for n + 64); returns the new length. */
static size_t mutate(const unsigned char *src, size_t n, unsigned char *dst) {
  size_t len = n, i, k;
  memcpy(dst, src, n);
  switch (rng() % 7) {
    case 0:   /* flip bits */
      for (k = 1 + rng() % 4; k > 0 && len > 0; k--)
        dst[rng() % len] ^= (unsigned char)(1u << (rng() % 8));
      break;
    case 1:   /* random bytes */
      for (k = 1 + rng() % 4; k > 0 && len > 0; k--)
        dst[rng() % len] = (unsigned char)rng();
      break;
    case 2:   /* truncate */
      len = n ? rng() % n : 0;
      break;
    case 3:   /* append */
      for (k = 1 + rng() % 16; k > 0; k--)
        dst[len++] = (unsigned char)rng();
      break;
    case 4:   /* delete a byte */
      if (len > 0) {
        i = rng() % len;
        memmove(dst + i, dst + i + 1, len - i - 1);
        len--;
      }
      break;
    case 5:   /* small numbers where lengths and indices live */
      for (k = 1 + rng() % 3; k > 0 && len > 0; k--)
        dst[rng() % len] = (unsigned char)(rng() % 8);
      break;
    default:  /* pure noise */
      len = rng() % 64;
      for (i = 0; i < len; i++)
        dst[i] = (unsigned char)rng();
      break;
  }
  return len;
}

static void fuzz(const char *code, long iterations) {
  codec_msg m;
  const unsigned char *bytes;
  unsigned char *buf;
  long i, ok = 0;
  if (!encode(code, 0, "argument #%d", &m)) {
    fprintf(stderr, "test_codec.c: FAILED: fuzz seed: %s\n", errbuf);
    failures++;
    return;
  }
  CHECK(decode(&m, 0));
  bytes = m.len > CODEC_INLINE ? m.heap : m.inline_buf;
  buf = (unsigned char *)malloc(m.len + 64);
  for (i = 0; i < iterations; i++) {
    size_t n = mutate(bytes, m.len, buf);
    ok += decode_bytes(buf, n, m.objs, m.nobjs);
    if (i % 2000 == 0)
      lua_gc(B, LUA_GCCOLLECT);
  }
  printf("fuzz: %ld of %ld mutations of a %zu-byte message decoded\n", ok,
         iterations, m.len);
  free(buf);
  codec_free(&m);
}

static const char *rich =
    "local h = newobj(99)\n"
    "local shared = {1, 'two', 3.0}\n"
    "local n = 0\n"
    "local function inc() n = n + 1 return n end\n"
    "local function get() return n, shared end\n"
    "local t = {shared, shared, inc, get, h, view(h, 2), string.format,\n"
    "  print, string, s = ('long string '):rep(10), f = 1.5,\n"
    "  i = -123456789, b = true, [2.5] = false, [shared] = shared}\n"
    "t.self = t\n"
    "setmetatable(t, {__index = t, __tostring = get})\n"
    "return t, inc, 'tail', 42, _G\n";

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 40000;
  if (argc > 2)
    rng_state = strtoull(argv[2], NULL, 10) | 1;
  A = new_state(1);
  B = new_state(0);
  test_scalars();
  test_inline();
  test_tables();
  test_metatables();
  test_functions();
  test_named();
  test_objects();
  test_errors();
  test_reentrancy();
  test_crafted();
  fuzz(rich, iterations);
  fuzz("return 1, 2.5, 'short', true", iterations / 4);
  fuzz("local a, b = {}, {} a.b = b b.a = a\n"
       "return function() return a, b end, a", iterations / 4);
  lua_close(A);
  lua_close(B);
  CHECK(created > 0 && destroyed == created);
  if (failures) {
    fprintf(stderr, "test_codec: %d FAILED\n", failures);
    return 1;
  }
  printf("test_codec: ok\n");
  return 0;
}

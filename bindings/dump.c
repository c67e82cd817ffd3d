/* dump.c: reading Lua 5.4 binary chunks (ldump.c's format): the reader that
** factory.c builds on, and the free global names of a dumped function. */
#include "dump.h"

#include <stdint.h>
#include <string.h>
#include <lauxlib.h>

size_t dump_read_size(dump_reader *r) {
  size_t x = 0;
  for (;;) {
    if (r->p >= r->end || x > (SIZE_MAX >> 7)) {
      r->ok = 0;
      return 0;
    }
    int b = *r->p++;
    x = (x << 7) | (size_t)(b & 0x7f);
    if (b & 0x80) return x;
  }
}

void dump_skip(dump_reader *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->ok = 0;
    r->p = r->end;
  } else {
    r->p += n;
  }
}

/* A string is its size + 1 (0: NULL), then its bytes. */
void dump_skip_string(dump_reader *r) {
  size_t n = dump_read_size(r);
  if (n > 0) dump_skip(r, n - 1);
}

/* Constant type tags of ldump.c (variant tags of lobject.h). */
#define VNIL 0x00
#define VFALSE 0x01
#define VTRUE 0x11
#define VNUMINT 0x03
#define VNUMFLT 0x13
#define VSHRSTR 0x04
#define VLNGSTR 0x14

static void skip_constant(dump_reader *r) {
  if (r->p >= r->end) {
    r->ok = 0;
    return;
  }
  switch (*r->p++) {
    case VNIL: case VFALSE: case VTRUE: break;
    case VNUMINT: dump_skip(r, sizeof(lua_Integer)); break;
    case VNUMFLT: dump_skip(r, sizeof(lua_Number)); break;
    case VSHRSTR: case VLNGSTR: dump_skip_string(r); break;
    default: r->ok = 0;
  }
}

void dump_skip_constants(dump_reader *r) {
  size_t n = dump_read_size(r);
  for (size_t i = 0; i < n && r->ok; i++)
    skip_constant(r);
}

/* ---- free global names ---- */

/* Lua 5.4 opcodes (lopcodes.h) and fields: op in bits 0-6, A in 7-14,
** B in 16-23, C in 24-31. GETTABUP: R[A] := Upvalue[B][K[C]];
** SETTABUP: Upvalue[A][K[B]] := RK(C). Keys are short-string constants. */
#define OP_GETTABUP 11
#define OP_SETTABUP 15
#define MAX_NESTING 200         /* Lua's own limit on nested functions */

/* Registry key of this VM's cache: dump string -> names array. Dropped
** when it reaches CACHE_MAX entries. */
static const char cache_key = 0;
#define CACHE_MAX 1024

typedef struct Scan {
  lua_State *L;
  int set, out;               /* stack indices: name -> true, the array */
  lua_Integer count;
} Scan;

/* Adds constant number k (of nk, offsets in ks) if it is a string. */
static void add_name(Scan *s, const unsigned char **ks, size_t nk,
                     const unsigned char *end, unsigned k) {
  if (k >= nk || (ks[k][0] != VSHRSTR && ks[k][0] != VLNGSTR)) return;
  dump_reader r = {ks[k] + 1, end, 1};
  size_t n = dump_read_size(&r);
  if (!r.ok || n == 0 || (size_t)(end - r.p) < n - 1) return;
  lua_pushlstring(s->L, (const char *)r.p, n - 1);
  if (lua_rawget(s->L, s->set) == LUA_TNIL) {
    lua_pushlstring(s->L, (const char *)r.p, n - 1);
    lua_pushboolean(s->L, 1);
    lua_rawset(s->L, s->set);
    lua_pushlstring(s->L, (const char *)r.p, n - 1);
    lua_rawseti(s->L, s->out, ++s->count);
  }
  lua_pop(s->L, 1);
}

/* Reads one function (ldump.c dumpFunction). env_up is the index of its
** upvalue that is the globals, or -1; if is_main, it is given, else it is
** the upvalue captured from the enclosing function's env_up. */
static void scan_function(Scan *s, dump_reader *r, int env_up, int is_main,
                          int depth) {
  if (depth > MAX_NESTING) {
    r->ok = 0;
    return;
  }
  dump_skip_string(r);            /* source */
  dump_read_size(r);              /* linedefined */
  dump_read_size(r);              /* lastlinedefined */
  dump_skip(r, 3);                /* numparams, is_vararg, maxstacksize */
  size_t ncode = dump_read_size(r);
  const unsigned char *code = r->p;
  if (ncode > (size_t)(r->end - r->p) / 4) {
    r->ok = 0;
    return;
  }
  dump_skip(r, 4 * ncode);
  size_t nk = dump_read_size(r);
  if (!r->ok || nk > (size_t)(r->end - r->p)) {   /* a byte each at least */
    r->ok = 0;
    return;
  }
  const unsigned char **ks =
      lua_newuserdatauv(s->L, (nk ? nk : 1) * sizeof *ks, 0);
  for (size_t i = 0; i < nk && r->ok; i++) {
    ks[i] = r->p;
    skip_constant(r);
  }
  size_t nups = dump_read_size(r);
  const unsigned char *ups = r->p;   /* instack, idx, kind each */
  dump_skip(r, 3 * nups);
  if (!r->ok) {
    lua_pop(s->L, 1);
    return;
  }
  if (!is_main) {
    int outer = env_up;
    env_up = -1;
    for (size_t i = 0; outer >= 0 && i < nups; i++)
      if (ups[3 * i] == 0 && ups[3 * i + 1] == outer) {
        env_up = (int)i;
        break;
      }
  }
  for (size_t pc = 0; env_up >= 0 && pc < ncode; pc++) {
    uint32_t i;
    memcpy(&i, code + 4 * pc, sizeof i);
    unsigned op = i & 0x7f, a = (i >> 7) & 0xff, b = (i >> 16) & 0xff,
             c = (i >> 24) & 0xff;
    if (op == OP_GETTABUP && b == (unsigned)env_up)
      add_name(s, ks, nk, r->end, c);
    else if (op == OP_SETTABUP && a == (unsigned)env_up)
      add_name(s, ks, nk, r->end, b);
  }
  lua_pop(s->L, 1);
  size_t nprotos = dump_read_size(r);
  for (size_t i = 0; i < nprotos && r->ok; i++)
    scan_function(s, r, env_up, 0, depth + 1);
  /* debug: lineinfo, abslineinfo, locvars, upvalue names */
  dump_skip(r, dump_read_size(r));
  size_t nabs = dump_read_size(r);
  for (size_t i = 0; i < nabs && r->ok; i++) {
    dump_read_size(r);
    dump_read_size(r);
  }
  size_t nloc = dump_read_size(r);
  for (size_t i = 0; i < nloc && r->ok; i++) {
    dump_skip_string(r);
    dump_read_size(r);
    dump_read_size(r);
  }
  size_t nnames = dump_read_size(r);
  for (size_t i = 0; i < nnames && r->ok; i++)
    dump_skip_string(r);
}

static void push_cache(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 0);
    lua_Integer count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (count < CACHE_MAX) return;
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
}

void dump_push_global_names(lua_State *L, int dumpidx, size_t offset, int env_up) {
  luaL_checkstack(L, 8, NULL);
  dumpidx = lua_absindex(L, dumpidx);
  size_t n;
  const unsigned char *dump = (const unsigned char *)lua_tolstring(L, dumpidx, &n) + offset;
  n -= offset;
  push_cache(L);
  int cache = lua_gettop(L);
  lua_pushvalue(L, dumpidx);       /* the key: the caller's string, no copy */
  lua_pushvalue(L, -1);
  if (lua_rawget(L, cache) == LUA_TTABLE) {
    lua_replace(L, cache);
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  Scan s = {L, 0, 0, 0};
  lua_newtable(L);
  s.set = lua_gettop(L);
  lua_newtable(L);
  s.out = lua_gettop(L);
  if (n > DUMP_HEADER_SIZE) {
    dump_reader r = {dump + DUMP_HEADER_SIZE + 1, dump + n, 1};
    scan_function(&s, &r, env_up, 1, 0);
    if (!r.ok) {                  /* cannot happen with lua_dump's bytes */
      lua_newtable(L);
      lua_replace(L, s.out);
    }
  }
  lua_remove(L, s.set);           /* cache, dump, names */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_rawset(L, cache);
  lua_rawgeti(L, cache, 0);
  lua_pushinteger(L, lua_tointeger(L, -1) + 1);
  lua_rawseti(L, cache, 0);
  lua_pop(L, 1);
  lua_replace(L, cache);
  lua_pop(L, 1);
}

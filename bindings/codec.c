/* codec.c: the value codec. Owns the wire format of messages between VMs and
** the per-VM encoder state (scratch buffer, reference map, name and dump caches).
** The wire format: codec_wire.h.
*/

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "codec.h"
#include "codec_wire.h"
#include "../core/pool.h"
#include "dump.h"
#include "factory.h"
#include "object.h"

/* Registry keys (their addresses) of the per-VM state and caches. */
static const char cstate_key = 0;
static const char names_key = 0;
static const char dumps_key = 0;

#define CSTATE_MT "lugo.codec"


/*
** {======================================================
** Per-VM encoder state
** =======================================================
*/

/* One entry of the reference map: a table or function already encoded
** (up == 0), or an upvalue already encoded as upvalue up of object ord. */
typedef struct Slot {
  const void *key;
  unsigned gen;           /* live only when equal to CState.gen */
  unsigned ord;           /* object number (for an upvalue: its owner's) */
  unsigned up;
  size_t pos;             /* offset of the object's (owner's) tag byte */
} Slot;

/* Kept in a userdata anchored in the registry, so that what an encode owns
** when it raises is freed by the next encode or by __gc, never leaked. */
typedef struct CState {
  int busy;               /* an encode is using this state */
  unsigned char *heap;    /* message being built, once past inline_buf */
  lugo_obj **objs;        /* objects retained for the message being built */
  unsigned nobjs, objcap;
  Slot *slots;            /* open addressing; clearing bumps gen */
  unsigned nslots, nused, gen;
} CState;

static void cstate_drop(CState *cs) {
  unsigned i;
  pool_free(cs->heap);
  cs->heap = NULL;
  for (i = 0; i < cs->nobjs; i++)
    obj_release(cs->objs[i]);
  pool_free(cs->objs);
  cs->objs = NULL;
  cs->nobjs = cs->objcap = 0;
}

static int cstate_gc(lua_State *L) {
  CState *cs = (CState *)lua_touserdata(L, 1);
  cstate_drop(cs);
  free(cs->slots);
  cs->slots = NULL;
  cs->nslots = 0;
  return 0;
}

/* Pushes this VM's state and marks it busy. A busy one is in use by an
** encode further down the C stack (a finalizer can send), or was left busy
** by a memory error: either way a new one replaces it in the registry; the
** old one stays anchored on its encode's stack. */
static CState *cstate_open(lua_State *L) {
  CState *cs = NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cstate_key) == LUA_TUSERDATA)
    cs = (CState *)lua_touserdata(L, -1);
  if (cs == NULL || cs->busy) {
    lua_pop(L, 1);
    cs = (CState *)lua_newuserdatauv(L, sizeof(CState), 0);
    memset(cs, 0, sizeof(CState));
    if (luaL_newmetatable(L, CSTATE_MT)) {
      lua_pushcfunction(L, cstate_gc);
      lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &cstate_key);
  }
  cstate_drop(cs);  /* leftovers of an encode that raised */
  cs->nused = 0;
  if (++cs->gen == 0) {  /* wrapped: stale entries would look live */
    if (cs->slots)
      memset(cs->slots, 0, cs->nslots * sizeof(Slot));
    cs->gen = 1;
  }
  cs->busy = 1;
  return cs;
}

/* }====================================================== */


/*
** {======================================================
** Encoder
** =======================================================
*/

/* Where a value sits, for error messages; one frame per step, on the C
** stack, rendered only when an error is raised. */
enum { P_ROOT, P_FIELD, P_INDEX, P_KEY, P_UPVAL, P_META, P_GLOBAL };

typedef struct Path {
  const struct Path *up;
  int kind;
  int idx;                /* P_ROOT: position; P_FIELD: stack index of key;
                             P_GLOBAL: the global's number */
  lua_Integer n;          /* P_INDEX: the integer key */
  const char *name;       /* P_UPVAL, P_GLOBAL: the upvalue's, global's name */
} Path;

typedef struct Enc {
  lua_State *L;
  CState *cs;
  codec_msg *msg;
  unsigned char *buf;     /* msg->inline_buf, then cs->heap */
  size_t len, cap;
  const char *what;
  int envidx;             /* stack index of the sender's globals, or 0 */
  const void *env;        /* tables that travel as GLOBALS, once known */
  const void *globals;
  unsigned nobj;          /* tables and functions numbered so far */
  int depth;
  int names_rebuilt;      /* names map built anew in this encode */
  /* Carrying globals (codec_encode_carrying): the global names met in the
  ** functions encoded, numbered 1, 2... in order: gnames[name] = number,
  ** gnames[number] = name, gnames[-number] = what met it first (a global's
  ** number, or minus a root value's position). gfrom is what is being
  ** encoded now, in the same terms. */
  int carry;
  int gnames;             /* stack index of that table, or 0: none yet */
  int gnames_slot;        /* where it goes once made */
  lua_Integer gcount, gfrom;
} Enc;

static void push_where(Enc *e, const Path *p);

/* Every error of an encode goes through here: frees the state for the next
** encode (what it owns stays in it until then) and raises. */
static void enc_error(Enc *e, const char *tname, const char *why,
                      const Path *p) {
  lua_State *L = e->L;
  e->cs->busy = 0;
  if (p == NULL)
    luaL_error(L, "lugo: %s", why);
  push_where(e, p);
  if (why)
    luaL_error(L, "lugo: cannot transfer %s (%s %s)", tname, why,
               lua_tostring(L, -1));
  luaL_error(L, "lugo: cannot transfer %s (%s)", tname, lua_tostring(L, -1));
}

static void enc_nomem(Enc *e) {
  enc_error(e, NULL, "not enough memory", NULL);
}

/* ---- where: "field 'a.b[3]' of upvalue 'cfg' of argument #1" ---- */

static int is_name(const char *s, size_t n) {
  size_t i;
  if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9')))
      return 0;
  }
  return 1;
}

static int is_field(const Path *p) {
  return p != NULL && (p->kind == P_FIELD || p->kind == P_INDEX);
}

/* Pushes one step of a field chain, as Lua source would write it. */
static void push_key(Enc *e, const Path *p, int first) {
  lua_State *L = e->L;
  size_t n;
  const char *s;
  if (p->kind == P_INDEX) {
    lua_pushfstring(L, "[%I]", (LUAI_UACINT)p->n);
    return;
  }
  switch (lua_type(L, p->idx)) {
    case LUA_TSTRING:
      s = lua_tolstring(L, p->idx, &n);
      if (is_name(s, n))
        lua_pushfstring(L, first ? "%s" : ".%s", s);
      else
        lua_pushfstring(L, "[\"%s\"]", s);
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, p->idx))
        lua_pushfstring(L, "[%I]", (LUAI_UACINT)lua_tointeger(L, p->idx));
      else
        lua_pushfstring(L, "[%f]", (LUAI_UACNUMBER)lua_tonumber(L, p->idx));
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, p->idx) ? "[true]" : "[false]");
      break;
    default:
      lua_pushfstring(L, "[%s]", luaL_typename(L, p->idx));
      break;
  }
}

/* Pushes the chain of field steps ending at p, outermost first. */
static void push_fields(Enc *e, const Path *p) {
  luaL_checkstack(e->L, 3, NULL);
  if (is_field(p->up)) {
    push_fields(e, p->up);
    push_key(e, p, 0);
    lua_concat(e->L, 2);
  }
  else
    push_key(e, p, 1);
}

/* "global 'g' of global 'f' of argument #1": global number i and what met
** it first. */
static void push_global_where(Enc *e, lua_Integer i) {
  lua_State *L = e->L;
  luaL_checkstack(L, 3, NULL);
  lua_rawgeti(L, e->gnames, i);
  lua_pushfstring(L, "global '%s' of ", lua_tostring(L, -1));
  lua_remove(L, -2);
  lua_rawgeti(L, e->gnames, -i);
  lua_Integer from = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (from < 0)
    lua_pushfstring(L, e->what, (int)-from);
  else
    push_global_where(e, from);
  lua_concat(L, 2);
}

static void push_where(Enc *e, const Path *p) {
  lua_State *L = e->L;
  const Path *q;
  luaL_checkstack(L, 3, NULL);
  switch (p->kind) {
    case P_ROOT:
      lua_pushfstring(L, e->what, p->idx);
      return;
    case P_KEY:
      lua_pushstring(L, "key in ");
      break;
    case P_UPVAL:
      lua_pushfstring(L, "upvalue '%s' of ", p->name);
      break;
    case P_META:
      lua_pushstring(L, "metatable of ");
      break;
    case P_GLOBAL:
      push_global_where(e, p->idx);
      return;
    default:  /* a chain of fields, shown as one expression */
      lua_pushstring(L, "field '");
      push_fields(e, p);
      lua_pushstring(L, "' of ");
      lua_concat(L, 3);
      for (q = p; is_field(q->up); q = q->up) {}
      push_where(e, q->up);
      lua_concat(L, 2);
      return;
  }
  push_where(e, p->up);
  lua_concat(L, 2);
}

static const Path *path_root(const Path *p) {
  while (p->up)
    p = p->up;
  return p;
}

/* ---- output buffer ---- */

/* Moves the message to the heap (first time) or enlarges it. The heap block
** is always in cs->heap, so an error frees it. */
static void grow(Enc *e, size_t n) {
  size_t cap = e->cap < 64 ? 64 : e->cap;
  unsigned char *p;
  if (n > SIZE_MAX / 2 - e->len)
    enc_nomem(e);
  while (cap < e->len + n)
    cap *= 2;
  if (e->buf == e->msg->inline_buf) {
    p = (unsigned char *)pool_alloc(cap);
    if (p != NULL)
      memcpy(p, e->buf, e->len);
  }
  else
    p = (unsigned char *)pool_realloc(e->buf, cap);
  if (p == NULL)
    enc_nomem(e);
  e->buf = e->cs->heap = p;
  e->cap = cap;
}

/* Reserves exactly what is written, so that the message leaves inline_buf
** only when its final length exceeds CODEC_INLINE. */
static void put(Enc *e, const void *p, size_t n) {
  if (n > e->cap - e->len)
    grow(e, n);
  memcpy(e->buf + e->len, p, n);
  e->len += n;
}

static void put_byte(Enc *e, int b) {
  unsigned char c = (unsigned char)b;
  if (e->len < e->cap)   /* the common case, kept out of put */
    e->buf[e->len++] = c;
  else
    put(e, &c, 1);
}

static void put_varint(Enc *e, lua_Unsigned v) {
  unsigned char b[WIRE_VARINT_MAX];
  put(e, b, wire_put_varint(b, v));
}

static void put_u32(Enc *e, uint32_t v) {
  unsigned char b[4];
  wire_put_u32(b, v);
  put(e, b, 4);
}

/* ---- reference map ---- */

static unsigned slot_hash(const void *key, unsigned nslots) {
  uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
  return (unsigned)(h ^ (h >> 32)) & (nslots - 1);
}

static Slot *map_find(Enc *e, const void *key) {
  CState *cs = e->cs;
  unsigned i;
  if (cs->nused == 0)
    return NULL;
  for (i = slot_hash(key, cs->nslots); cs->slots[i].gen == cs->gen;
       i = (i + 1) & (cs->nslots - 1)) {
    if (cs->slots[i].key == key)
      return &cs->slots[i];
  }
  return NULL;
}

static void map_grow(Enc *e) {
  CState *cs = e->cs;
  unsigned n = cs->nslots ? cs->nslots * 2 : 64;
  unsigned i, j;
  Slot *ns = (Slot *)calloc(n, sizeof(Slot));
  if (ns == NULL)
    enc_nomem(e);
  for (i = 0; i < cs->nslots; i++) {
    if (cs->slots[i].gen == cs->gen) {
      for (j = slot_hash(cs->slots[i].key, n); ns[j].gen == cs->gen;
           j = (j + 1) & (n - 1)) {}
      ns[j] = cs->slots[i];
    }
  }
  free(cs->slots);
  cs->slots = ns;
  cs->nslots = n;
}

/* Adds key (absent) and returns its slot, valid until the next map_add. */
static Slot *map_add(Enc *e, const void *key, unsigned ord, unsigned up,
                     size_t pos) {
  CState *cs = e->cs;
  Slot *s;
  unsigned i;
  if ((cs->nused + 1) * 2 > cs->nslots)
    map_grow(e);
  for (i = slot_hash(key, cs->nslots); cs->slots[i].gen == cs->gen;
       i = (i + 1) & (cs->nslots - 1)) {}
  s = &cs->slots[i];
  s->key = key;
  s->gen = cs->gen;
  s->ord = ord;
  s->up = up;
  s->pos = pos;
  cs->nused++;
  return s;
}

/* ---- names of C functions and module tables ---- */

static void push_name_record(lua_State *L, int mod, int field) {
  luaL_Buffer b;
  unsigned char v[WIRE_VARINT_MAX];
  size_t n;
  const char *s;
  int i;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, (char)TAG_NAMED);
  for (i = 0; i < 2; i++) {
    int idx = (i == 0) ? mod : field;
    lua_Unsigned len;
    if (idx == 0) {
      luaL_addchar(&b, 0);
      break;
    }
    s = lua_tolstring(L, idx, &n);
    len = (lua_Unsigned)n + (lua_Unsigned)i;   /* field: length + 1 */
    luaL_addlstring(&b, (const char *)v, wire_put_varint(v, len));
    luaL_addlstring(&b, s, n);
  }
  luaL_pushresult(&b);
}

/* Modules every VM has: their names are the safest to resolve. */
static const char *const common_modules[] = {
  "_G", "package", "coroutine", "table", "io", "os", "string", "math",
  "utf8", "debug", "lugo", NULL
};

static int module_rank(lua_State *L, int mod) {
  const char *s = lua_tostring(L, mod);
  int i;
  for (i = 0; common_modules[i] != NULL; i++) {
    if (strcmp(s, common_modules[i]) == 0)
      return 0;
  }
  return 1;
}

/* Whether record rec (of module mod) names a value better than oldrec (of
** oldmod): common modules first, then the shorter, then the smaller record,
** so that the choice never depends on the order of traversal. */
static int name_better(lua_State *L, int rec, int mod, int oldrec,
                       int oldmod) {
  int r = module_rank(L, mod), oldr = module_rank(L, oldmod);
  size_t n, oldn;
  const char *s = lua_tolstring(L, rec, &n);
  const char *olds = lua_tolstring(L, oldrec, &oldn);
  if (r != oldr)
    return r < oldr;
  if (n != oldn)
    return n < oldn;
  return memcmp(s, olds, n) < 0;
}

/* Names value mod[.field] in map unless it has a better name already. owner
** maps the values named in this pass to their module; a value named in an
** earlier pass (a module beats a field) keeps its name. */
static void names_add(lua_State *L, int map, int owner, int value, int mod,
                      int field) {
  int top = lua_gettop(L);
  push_name_record(L, mod, field);                 /* top + 1 */
  lua_pushvalue(L, value);
  lua_rawget(L, owner);                            /* top + 2 */
  lua_pushvalue(L, value);
  lua_rawget(L, map);                              /* top + 3 */
  if (lua_isnil(L, top + 3) ||
      (!lua_isnil(L, top + 2) &&
       name_better(L, top + 1, mod, top + 3, top + 2))) {
    lua_pushvalue(L, value);
    lua_pushvalue(L, top + 1);
    lua_rawset(L, map);
    lua_pushvalue(L, value);
    lua_pushvalue(L, mod);
    lua_rawset(L, owner);
  }
  lua_settop(L, top);
}

/* Names the fields of module table mod (its key at modkey): C functions,
** tables and userdata (io.stdout). The fields of _G that are tables or
** userdata are user globals, copied (or refused) rather than named. */
static void names_add_fields(lua_State *L, int map, int owner, int modkey,
                             int mod, int globals) {
  int isglobals = lua_rawequal(L, mod, globals);
  lua_pushnil(L);
  while (lua_next(L, mod)) {
    int t = lua_type(L, -1);
    int top = lua_gettop(L);
    if (lua_type(L, -2) == LUA_TSTRING &&
        (lua_iscfunction(L, -1) || (t == LUA_TUSERDATA && !isglobals) ||
         (t == LUA_TTABLE && !isglobals && !lua_rawequal(L, -1, globals))))
      names_add(L, map, owner, top, modkey, top - 1);
    lua_pop(L, 1);
  }
}

/* __newindex of package.loaded: a module was just loaded (require sets it
** with lua_setfield), so the names map is stale. A check per encode instead
** would cost a traversal of package.loaded on every send of a table. */
static int loaded_newindex(lua_State *L) {
  lua_settop(L, 3);
  lua_rawset(L, 1);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
  return 0;
}

/* Builds the names map (weak keys) from package.loaded and pushes it:
** modules first, so "string" names the string table rather than _G.string
** would; then one level of fields. The global table is never named: it
** travels as GLOBALS. */
static void names_build(lua_State *L) {
  int loaded, map, globals, owner;
  luaL_checkstack(L, 20, NULL);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  loaded = lua_gettop(L);
  if (!lua_istable(L, loaded)) {   /* no package library: no names */
    lua_newtable(L);
    lua_replace(L, loaded);
  }
  else if (!lua_getmetatable(L, loaded)) {  /* left alone if it has one */
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, loaded_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, loaded);
  }
  lua_settop(L, loaded);
  lua_newtable(L);
  map = lua_gettop(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, map);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  globals = lua_gettop(L);
  lua_newtable(L);
  owner = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING &&
        (lua_iscfunction(L, -1) ||
         (lua_istable(L, -1) && !lua_rawequal(L, -1, globals))))
      names_add(L, map, owner, lua_gettop(L), lua_gettop(L) - 1, 0);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  lua_replace(L, owner);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1))
      names_add_fields(L, map, owner, lua_gettop(L) - 1, lua_gettop(L),
                       globals);
    lua_pop(L, 1);
  }
  lua_settop(L, map);
  lua_pushvalue(L, map);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
  lua_remove(L, loaded);
}

/* Writes the NAMED record of the value at idx and returns 1, or returns 0
** if it has no name. rebuild: build the map anew first (a C function may
** have been added to a module since). */
static int encode_named(Enc *e, int idx, int rebuild) {
  lua_State *L = e->L;
  const char *s;
  size_t n;
  if (rebuild || lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) != LUA_TTABLE) {
    if (!rebuild)
      lua_pop(L, 1);
    names_build(L);
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TSTRING) {
    lua_pop(L, 2);
    return 0;
  }
  s = lua_tolstring(L, -1, &n);
  put(e, s, n);
  lua_pop(L, 2);
  return 1;
}

/* ---- function dumps ---- */

typedef struct DumpState {
  int init;
  luaL_Buffer b;
} DumpState;

/* The buffer starts inside the first call, as in string.dump: lua_dump
** wants the function on top when it starts. */
static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
  DumpState *ds = (DumpState *)ud;
  if (!ds->init) {
    ds->init = 1;
    luaL_buffinit(L, &ds->b);
    luaL_addlstring(&ds->b, "\0\0\0\0", 4);   /* room for the hash */
  }
  luaL_addlstring(&ds->b, (const char *)p, n);
  return 0;
}

/* Pushes the u32 hash (4 bytes, little endian) followed by the dump of the
** Lua function at idx. */
static void push_dump(lua_State *L, int idx) {
  DumpState ds;
  unsigned char *p;
  uint32_t h;
  ds.init = 0;
  lua_pushvalue(L, idx);
  lua_dump(L, dump_writer, &ds, 0);
  if (!ds.init)   /* cannot happen: a dump has a header */
    dump_writer(L, "", 0, &ds);
  p = (unsigned char *)luaL_buffaddr(&ds.b);
  h = wire_fnv1a(p + 4, luaL_bufflen(&ds.b) - 4);
  wire_put_u32(p, h);
  luaL_pushresult(&ds.b);
  lua_remove(L, -2);
}

/* Writes length, hash and dump of the function at idx and leaves that
** string (hash, then dump) on top. lua_dump is costly, so dumps are cached
** per function (weak keys) in the registry. */
static void put_dump(Enc *e, int idx) {
  lua_State *L = e->L;
  const char *s;
  size_t n;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &dumps_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &dumps_key);
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TSTRING) {
    lua_pop(L, 1);
    push_dump(L, idx);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  s = lua_tolstring(L, -1, &n);
  put_varint(e, (lua_Unsigned)(n - 4));
  put(e, s, n);
  lua_remove(L, -2);
}

/* ---- values ---- */

static void encode_value(Enc *e, int idx, int type, const Path *p);

/* Entering a table or function: bounds the recursion (and the decoder's). */
static void enter(Enc *e, const char *tname, const Path *p) {
  if (e->depth >= CODEC_MAXDEPTH || !lua_checkstack(e->L, 8))
    enc_error(e, tname, "nested too deeply in", path_root(p));
  e->depth++;
}

/* A table or function met before: REF to it, and flag its tag so the
** decoder keeps it. */
static void put_ref(Enc *e, const Slot *s) {
  e->buf[s->pos] |= TAG_SHARED;
  put_byte(e, TAG_REF);
  put_varint(e, s->ord);
}

static void encode_number(Enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_isinteger(L, idx)) {
    put_byte(e, TAG_INT);
    put_varint(e, wire_zigzag(lua_tointeger(L, idx)));
  }
  else {
    lua_Number x = lua_tonumber(L, idx);
    put_byte(e, TAG_FLOAT);
    put(e, &x, sizeof(x));
  }
}

static void encode_string(Enc *e, int idx) {
  size_t n;
  const char *s = lua_tolstring(e->L, idx, &n);
  put_byte(e, TAG_STR);
  put_varint(e, (lua_Unsigned)n);
  put(e, s, n);
}

/* Whether the table ptr is the sender's env or its VM's _G. Both are looked
** up at the first table of the message: most messages have none. */
static int is_globals(Enc *e, const void *ptr) {
  lua_State *L = e->L;
  if (e->globals == NULL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    e->globals = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (e->envidx != 0 && lua_type(L, e->envidx) == LUA_TTABLE)
      e->env = lua_topointer(L, e->envidx);
  }
  return ptr == e->globals || ptr == e->env;
}

/* Writes the entries of the table at idx in one traversal: the run of keys
** 1, 2, 3... that lua_next gives first (the array part) as bare values, the
** rest as pairs; both counts are patched in at the end. */
static void encode_entries(Enc *e, int idx, const Path *p) {
  lua_State *L = e->L;
  int top = lua_gettop(L);   /* key at top + 1, value at top + 2 */
  lua_Integer narr = 0;
  lua_Unsigned nhash = 0;
  size_t cpos = e->len;
  put_u32(e, 0);
  put_u32(e, 0);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int kt = lua_type(L, top + 1);
    if (nhash == 0 && kt == LUA_TNUMBER) {
      int isint;
      lua_Integer k = lua_tointegerx(L, top + 1, &isint);
      if (isint && k == narr + 1) {
        Path f = {p, P_INDEX, 0, k, NULL};
        encode_value(e, top + 2, lua_type(L, top + 2), &f);
        narr++;
        lua_settop(L, top + 1);
        continue;
      }
    }
    {
      Path k = {p, P_KEY, 0, 0, NULL};
      Path f = {p, P_FIELD, top + 1, 0, NULL};
      encode_value(e, top + 1, kt, &k);
      encode_value(e, top + 2, lua_type(L, top + 2), &f);
      lua_settop(L, top + 1);
      nhash++;
    }
  }
  if ((lua_Unsigned)narr > UINT32_MAX || nhash > UINT32_MAX)
    enc_error(e, "table", "too many entries in", path_root(p));
  wire_put_u32(e->buf + cpos, (uint32_t)narr);
  wire_put_u32(e->buf + cpos + 4, (uint32_t)nhash);
}

static void encode_table(Enc *e, int idx, const Path *p) {
  lua_State *L = e->L;
  const void *ptr = lua_topointer(L, idx);
  const Slot *s;
  if (is_globals(e, ptr)) {
    put_byte(e, TAG_GLOBALS);
    return;
  }
  if ((s = map_find(e, ptr)) != NULL) {
    put_ref(e, s);
    return;
  }
  if (encode_named(e, idx, 0))
    return;
  enter(e, "table", p);
  map_add(e, ptr, ++e->nobj, 0, e->len);
  if (lua_getmetatable(L, idx)) {
    Path m = {p, P_META, 0, 0, NULL};
    int mt = lua_gettop(L);
    put_byte(e, TAG_TABLE | TAG_META);
    encode_entries(e, idx, p);
    encode_value(e, mt, LUA_TTABLE, &m);
    lua_pop(L, 1);
  }
  else {
    put_byte(e, TAG_TABLE);
    encode_entries(e, idx, p);
  }
  e->depth--;
}

/* Upvalue i of function f (object ord, tag at pos), its value on top. An
** upvalue met before in this message is joined to, not copied. */
static void encode_upvalue(Enc *e, int f, int i, unsigned ord, size_t pos,
                           const Path *p) {
  lua_State *L = e->L;
  const void *id = lua_upvalueid(L, f, i);
  const Slot *s = map_find(e, id);
  if (s != NULL) {
    e->buf[s->pos] |= TAG_SHARED;
    put_byte(e, TAG_UPJOIN);
    put_varint(e, s->ord);
    put_varint(e, s->up);
    return;
  }
  map_add(e, id, ord, (unsigned)i, pos);
  encode_value(e, lua_gettop(L), lua_type(L, -1), p);
}

/* Numbers the global names that the Lua function at idx (its dump at
** dumpidx: hash, then bytes) reads or assigns, if its _ENV is the sender's
** globals; encode_globals copies their values. */
static void note_globals(Enc *e, int idx, int dumpidx) {
  lua_State *L = e->L;
  const char *name;
  int env_up = -1, i;
  for (i = 1; env_up < 0 && (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    if (strcmp(name, "_ENV") == 0 && lua_type(L, -1) == LUA_TTABLE &&
        is_globals(e, lua_topointer(L, -1)))
      env_up = i - 1;
    lua_pop(L, 1);
  }
  if (env_up < 0)
    return;
  size_t n;
  const char *dump = lua_tolstring(L, dumpidx, &n);
  if (e->gnames == 0) {     /* made at the first such function */
    lua_newtable(L);
    lua_replace(L, e->gnames_slot);
    e->gnames = e->gnames_slot;
  }
  dump_push_global_names(L, (const unsigned char *)dump + 4, n - 4, env_up);
  lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer k = 1; k <= count; k++) {
    lua_rawgeti(L, -1, k);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, e->gnames) == LUA_TNIL) {
      e->gcount++;
      lua_pushvalue(L, -2);
      lua_pushinteger(L, e->gcount);
      lua_rawset(L, e->gnames);
      lua_pushvalue(L, -2);
      lua_rawseti(L, e->gnames, e->gcount);
      lua_pushinteger(L, e->gfrom);
      lua_rawseti(L, e->gnames, -e->gcount);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}

static void encode_function(Enc *e, int idx, const Path *p) {
  lua_State *L = e->L;
  const void *ptr = lua_topointer(L, idx);
  const Slot *s;
  const char *name;
  unsigned ord;
  size_t pos;
  int i;
  if ((s = map_find(e, ptr)) != NULL) {
    put_ref(e, s);
    return;
  }
  enter(e, "function", p);
  pos = e->len;
  ord = ++e->nobj;
  map_add(e, ptr, ord, 0, pos);
  put_byte(e, TAG_FUNC);
  put_dump(e, idx);
  if (e->carry)
    note_globals(e, idx, lua_gettop(L));
  lua_pop(L, 1);
  for (i = 1; (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    Path u = {p, P_UPVAL, 0, 0, name};
    encode_upvalue(e, idx, i, ord, pos, &u);
    lua_pop(L, 1);
  }
  e->depth--;
}

/* A C function travels by name. The names map may predate the function
** (added to a module after its require): if so, one rebuild per encode. */
static void encode_cfunction(Enc *e, int idx, const Path *p) {
  if (encode_named(e, idx, 0))
    return;
  if (!e->names_rebuilt) {
    e->names_rebuilt = 1;
    if (encode_named(e, idx, 1))
      return;
  }
  enc_error(e, "C function", NULL, p);
}

static void encode_object(Enc *e, int idx, const Path *p) {
  CState *cs = e->cs;
  lugo_obj *o;
  int flags;
  if (!lobj_test(e->L, idx, &o, &flags)) {
    /* Not ours: it may be reachable from package.loaded (io.stdout). */
    if (encode_named(e, idx, 0) || (!e->names_rebuilt && (e->names_rebuilt = 1) &&
                                    encode_named(e, idx, 1)))
      return;
    enc_error(e, "userdata", NULL, p);
  }
  if (cs->nobjs == cs->objcap) {
    unsigned n = cs->objcap ? cs->objcap * 2 : 4;
    lugo_obj **a = (lugo_obj **)pool_realloc(cs->objs, n * sizeof(lugo_obj *));
    if (a == NULL)
      enc_nomem(e);
    cs->objs = a;
    cs->objcap = n;
  }
  obj_retain(o);
  cs->objs[cs->nobjs] = o;
  put_byte(e, TAG_OBJ);
  put_varint(e, cs->nobjs++);
  put_byte(e, flags);
}

static void encode_value(Enc *e, int idx, int type, const Path *p) {
  lua_State *L = e->L;
  switch (type) {
    case LUA_TNIL:
      put_byte(e, TAG_NIL);
      break;
    case LUA_TBOOLEAN:
      put_byte(e, lua_toboolean(L, idx) ? TAG_TRUE : TAG_FALSE);
      break;
    case LUA_TNUMBER:
      encode_number(e, idx);
      break;
    case LUA_TSTRING:
      encode_string(e, idx);
      break;
    case LUA_TTABLE:
      encode_table(e, idx, p);
      break;
    case LUA_TFUNCTION:
      if (lua_iscfunction(L, idx))
        encode_cfunction(e, idx, p);
      else
        encode_function(e, idx, p);
      break;
    case LUA_TUSERDATA:
      encode_object(e, idx, p);
      break;
    case LUA_TLIGHTUSERDATA:
      enc_error(e, "light userdata", NULL, p);
      break;
    default:
      enc_error(e, lua_typename(L, type), NULL, p);
      break;
  }
}

/* After the values, when carrying globals: one more table, global name ->
** value, of the names noted (values that are nil left out), or nil if no
** name was. Encoding a value may note more names: they are taken in turn
** until none is left. */
static void encode_globals(Enc *e) {
  lua_State *L = e->L;
  size_t cpos;
  lua_Unsigned count = 0;
  if (e->gcount == 0) {
    put_byte(e, TAG_NIL);
    return;
  }
  e->nobj++;                /* numbered as every table, never referenced */
  put_byte(e, TAG_TABLE);
  cpos = e->len;
  put_u32(e, 0);
  put_u32(e, 0);
  for (lua_Integer i = 1; i <= e->gcount; i++) {
    int top = lua_gettop(L);
    lua_rawgeti(L, e->gnames, i);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, e->envidx) != LUA_TNIL) {
      Path g = {NULL, P_GLOBAL, (int)i, 0, lua_tostring(L, top + 1)};
      e->gfrom = i;
      encode_string(e, top + 1);
      encode_value(e, top + 2, lua_type(L, top + 2), &g);
      count++;
    }
    lua_settop(L, top);
  }
  if (count > UINT32_MAX)
    enc_error(e, NULL, "too many globals", NULL);
  wire_put_u32(e->buf + cpos + 4, (uint32_t)count);
}

static void encode_message(lua_State *L, int first, int n, int env,
                           const char *what, int carry, codec_msg *msg) {
  int base = lua_gettop(L);
  int i;
  Enc e;
  msg->len = 0;
  msg->heap = NULL;
  msg->objs = NULL;
  msg->nobjs = 0;
  if (first < 0 && first > LUA_REGISTRYINDEX)
    first += base + 1;
  if (env < 0 && env > LUA_REGISTRYINDEX)
    env += base + 1;
  luaL_checkstack(L, 8, "lugo: too many values");
  e.L = L;
  e.msg = msg;
  e.buf = msg->inline_buf;
  e.len = 0;
  e.cap = CODEC_INLINE;
  e.what = what ? what : "value #%d";
  e.envidx = env;
  e.env = e.globals = NULL;
  e.nobj = 0;
  e.depth = 0;
  e.names_rebuilt = 0;
  e.carry = carry && env != 0;
  e.gcount = e.gfrom = 0;
  e.cs = cstate_open(L);   /* stays on the stack as an anchor */
  e.gnames = 0;
  if (e.carry) {
    lua_pushnil(L);
    e.gnames_slot = lua_gettop(L);
  }
  for (i = 0; i < n; i++) {
    Path root = {NULL, P_ROOT, i + 1, 0, NULL};
    e.gfrom = -(i + 1);
    encode_value(&e, first + i, lua_type(L, first + i), &root);
  }
  if (e.carry)
    encode_globals(&e);
  msg->len = e.len;
  if (e.buf != msg->inline_buf) {
    msg->heap = e.buf;
    e.cs->heap = NULL;
  }
  msg->objs = e.cs->objs;
  msg->nobjs = e.cs->nobjs;
  e.cs->objs = NULL;
  e.cs->nobjs = e.cs->objcap = 0;
  if (e.cs->nslots > 1024) {   /* a huge message: do not keep its map */
    free(e.cs->slots);
    e.cs->slots = NULL;
    e.cs->nslots = 0;
  }
  e.cs->busy = 0;
  lua_settop(L, base);
}

void codec_encode(lua_State *L, int first, int n, int env, const char *what,
                  codec_msg *msg) {
  encode_message(L, first, n, env, what, 0, msg);
}

void codec_encode_carrying(lua_State *L, int first, int n, int env,
                           const char *what, codec_msg *msg) {
  encode_message(L, first, n, env, what, 1, msg);
}

void codec_free(codec_msg *msg) {
  unsigned i;
  for (i = 0; i < msg->nobjs; i++)
    obj_release(msg->objs[i]);
  pool_free(msg->objs);
  pool_free(msg->heap);
  msg->objs = NULL;
  msg->nobjs = 0;
  msg->heap = NULL;
  msg->len = 0;
}

/* }====================================================== */


/*
** {======================================================
** Decoder
** =======================================================
*/

typedef struct Dec {
  lua_State *L;
  const codec_msg *msg;
  const unsigned char *p, *end;
  int env;                /* receiver's globals */
  int refs;               /* slot of the table of shared objects, or nil */
  unsigned nobj;
  int depth;
} Dec;

static void corrupt(Dec *d, const char *why) {
  luaL_error(d->L, "lugo: corrupt message (%s)", why);
}

static size_t left(const Dec *d) {
  return (size_t)(d->end - d->p);
}

static int get_byte(Dec *d) {
  if (d->p >= d->end)
    corrupt(d, "truncated");
  return *d->p++;
}

static lua_Unsigned get_varint(Dec *d) {
  lua_Unsigned v = 0;
  int r = wire_get_varint(&d->p, d->end, &v);
  if (r <= 0) corrupt(d, r == 0 ? "truncated" : "bad varint");
  return v;
}

static uint32_t get_u32(Dec *d) {
  if (left(d) < 4) corrupt(d, "truncated");
  uint32_t v = wire_get_u32(d->p);
  d->p += 4;
  return v;
}

/* A length of bytes that must follow. */
static size_t get_len(Dec *d) {
  lua_Unsigned n = get_varint(d);
  if (n > left(d))
    corrupt(d, "truncated");
  return (size_t)n;
}

static void decode_value(Dec *d);

static void enter_dec(Dec *d) {
  if (d->depth >= CODEC_MAXDEPTH || !lua_checkstack(d->L, 8))
    corrupt(d, "nested too deeply");
  d->depth++;
}

/* Numbers the table or function on top; keeps it if a REF will name it. */
static void keep(Dec *d, int tag) {
  lua_State *L = d->L;
  d->nobj++;
  if (tag & TAG_SHARED) {
    if (lua_isnil(L, d->refs)) {
      lua_newtable(L);
      lua_replace(L, d->refs);
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->refs, (lua_Integer)d->nobj);
  }
}

/* Pushes shared object ord; raises unless it is one. */
static void push_ref(Dec *d, lua_Unsigned ord) {
  if (ord == 0 || ord > d->nobj || lua_isnil(d->L, d->refs) ||
      lua_rawgeti(d->L, d->refs, (lua_Integer)ord) == LUA_TNIL)
    corrupt(d, "bad reference");
}

static void decode_table(Dec *d, int tag) {
  lua_State *L = d->L;
  lua_Unsigned narr, nhash, i;
  int t;
  enter_dec(d);
  narr = get_u32(d);
  nhash = get_u32(d);
  /* each entry takes a byte at least: no huge tables from a few bytes */
  if (narr > left(d) || nhash > left(d) / 2 || narr > INT_MAX ||
      nhash > INT_MAX)
    corrupt(d, "bad table size");
  lua_createtable(L, (int)narr, (int)nhash);
  t = lua_gettop(L);
  keep(d, tag);
  for (i = 1; i <= narr; i++) {
    decode_value(d);
    if (lua_isnil(L, -1))
      lua_pop(L, 1);
    else
      lua_rawseti(L, t, (lua_Integer)i);
  }
  for (i = 0; i < nhash; i++) {
    decode_value(d);
    if (lua_isnil(L, -1) ||
        (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) !=
         lua_tonumber(L, -1)))
      corrupt(d, "bad key");
    decode_value(d);
    lua_rawset(L, t);
  }
  if (tag & TAG_META) {
    decode_value(d);
    if (!lua_istable(L, -1))
      corrupt(d, "bad metatable");
    lua_setmetatable(L, t);
  }
  d->depth--;
}

typedef struct Blob {
  const char *p;
  size_t n;
} Blob;

static const char *blob_reader(lua_State *L, void *ud, size_t *size) {
  Blob *b = (Blob *)ud;
  (void)L;
  *size = b->n;
  b->n = 0;
  return b->p;
}

/* Upvalue i of function f becomes the one of an earlier function. */
static void join_upvalue(Dec *d, int f, int i) {
  lua_State *L = d->L;
  lua_Unsigned ord = get_varint(d);
  lua_Unsigned up = get_varint(d);
  push_ref(d, ord);
  if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1) ||
      up == 0 || up > 255 || lua_getupvalue(L, -1, (int)up) == NULL)
    corrupt(d, "bad upvalue");
  lua_pop(L, 1);
  lua_upvaluejoin(L, f, i, -1, (int)up);
  lua_pop(L, 1);
}

/* lua_load trusts its input and can crash on corrupt bytecode: a dump is
** loaded only if its length and hash match what the encoder wrote. */
static void decode_function(Dec *d, int tag) {
  lua_State *L = d->L;
  lua_Debug ar;
  Blob b;
  uint32_t h;
  int f, i, nups;
  enter_dec(d);
  b.n = (size_t)get_varint(d);
  h = get_u32(d);
  if (b.n > left(d))
    corrupt(d, "truncated");
  b.p = (const char *)d->p;
  d->p += b.n;
  /* A function received before is recognised by its bytes, checked then:
  ** no checksum (hashing every byte costs more than the rest). */
  if (!factory_push_cached(L, (const unsigned char *)b.p, b.n, h, &nups)) {
    if (wire_fnv1a((const unsigned char *)b.p, b.n) != h)
      corrupt(d, "bad checksum");
    if (!factory_push(L, (const unsigned char *)b.p, b.n, h)) {
      if (lua_load(L, blob_reader, &b, "=(lugo message)", "b") != LUA_OK) {
        lua_pop(L, 1);
        corrupt(d, "bad function");
      }
      lua_pushliteral(L, "");   /* lua_load never runs the collector: this does */
      lua_pop(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">u", &ar);
    nups = ar.nups;
  }
  f = lua_gettop(L);
  keep(d, tag);
  for (i = 1; i <= nups; i++) {
    if (d->p < d->end && *d->p == TAG_UPJOIN) {
      d->p++;
      join_upvalue(d, f, i);
    }
    else {
      decode_value(d);
      if (lua_setupvalue(L, f, i) == NULL)
        corrupt(d, "bad upvalue");
    }
  }
  d->depth--;
}

/* Raises "lugo: cannot resolve 'mod[.field]' (why)". */
static void unresolved(Dec *d, const char *mod, size_t mlen,
                       const char *field, size_t flen, const char *why) {
  lua_State *L = d->L;
  lua_pushlstring(L, mod, mlen);
  if (field != NULL) {
    lua_pushliteral(L, ".");
    lua_pushlstring(L, field, flen);
    lua_concat(L, 3);
  }
  luaL_error(L, "lugo: cannot resolve '%s' (%s)", lua_tostring(L, -1), why);
}

/* Pushes package.loaded[mod] of the receiver, requiring mod if it is not
** loaded: a goroutine's VM has not run its creator's requires (package.path
** travels with lugo.go so that require finds the same file). */
static void push_module(Dec *d, const char *mod, size_t mlen) {
  lua_State *L = d->L;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushlstring(L, mod, mlen);
  if (lua_istable(L, -2)) {
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
  }
  else
    lua_pushnil(L);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "require");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1))
      unresolved(d, mod, mlen, NULL, 0, "not loaded in the receiving state");
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      unresolved(d, mod, mlen, NULL, 0, msg ? msg : "require failed");
    }
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Pushes package.loaded[mod][field] of the receiver; raises if absent. */
static void decode_named(Dec *d) {
  lua_State *L = d->L;
  size_t mlen = get_len(d);
  const char *mod = (const char *)d->p;
  const char *field = NULL;
  size_t flen = 0;
  lua_Unsigned f;
  d->p += mlen;
  f = get_varint(d);
  if (f > 0) {
    if (f - 1 > left(d))
      corrupt(d, "truncated");
    flen = (size_t)(f - 1);
    field = (const char *)d->p;
    d->p += flen;
  }
  push_module(d, mod, mlen);
  if (field == NULL)
    return;
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, field, flen);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  else
    lua_pushnil(L);
  if (lua_isnil(L, -1))
    unresolved(d, mod, mlen, field, flen, "absent in the receiving state");
}

static void decode_object(Dec *d) {
  lua_Unsigned i = get_varint(d);
  int flags = get_byte(d);
  if (i >= d->msg->nobjs || d->msg->objs == NULL || d->msg->objs[i] == NULL)
    corrupt(d, "bad object");
  if (flags != 0 && flags != LOBJ_SENDONLY && flags != LOBJ_RECVONLY)
    corrupt(d, "bad object");
  lobj_push(d->L, d->msg->objs[i], flags);
}

static void decode_value(Dec *d) {
  lua_State *L = d->L;
  int tag = get_byte(d);
  int kind = tag & TAG_MASK;
  if ((tag & TAG_META) ? kind != TAG_TABLE
                       : (tag & TAG_SHARED) && kind != TAG_TABLE &&
                         kind != TAG_FUNC)
    corrupt(d, "bad tag");
  switch (kind) {
    case TAG_NIL:
      lua_pushnil(L);
      break;
    case TAG_FALSE:
    case TAG_TRUE:
      lua_pushboolean(L, kind == TAG_TRUE);
      break;
    case TAG_INT: {
      lua_pushinteger(L, wire_unzigzag(get_varint(d)));
      break;
    }
    case TAG_FLOAT: {
      lua_Number x;
      if (left(d) < sizeof(x))
        corrupt(d, "truncated");
      memcpy(&x, d->p, sizeof(x));
      d->p += sizeof(x);
      lua_pushnumber(L, x);
      break;
    }
    case TAG_STR: {
      size_t n = get_len(d);
      lua_pushlstring(L, (const char *)d->p, n);
      d->p += n;
      break;
    }
    case TAG_TABLE:
      decode_table(d, tag);
      break;
    case TAG_FUNC:
      decode_function(d, tag);
      break;
    case TAG_REF:
      push_ref(d, get_varint(d));
      break;
    case TAG_GLOBALS:
      if (d->env != 0)
        lua_pushvalue(L, d->env);
      else
        lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      break;
    case TAG_NAMED:
      decode_named(d);
      break;
    case TAG_OBJ:
      decode_object(d);
      break;
    default:  /* UPJOIN outside an upvalue, or garbage */
      corrupt(d, "bad tag");
      break;
  }
}

int codec_decode(lua_State *L, const codec_msg *msg, int env) {
  const unsigned char *bytes =
      (msg->len > CODEC_INLINE) ? msg->heap : msg->inline_buf;
  int n = 0;
  Dec d;
  d.L = L;
  d.msg = msg;
  if (bytes == NULL)
    corrupt(&d, "no bytes");
  d.p = bytes;
  d.end = bytes + msg->len;
  d.env = (env != 0) ? lua_absindex(L, env) : 0;
  d.nobj = 0;
  d.depth = 0;
  luaL_checkstack(L, 2, "lugo: too many values");
  lua_pushnil(L);
  d.refs = lua_gettop(L);
  while (d.p < d.end) {
    if (!lua_checkstack(L, 4))
      corrupt(&d, "too many values");
    decode_value(&d);
    n++;
  }
  lua_remove(L, d.refs);
  return n;
}

/* }====================================================== */

/*
** {======================================================
** Decoding a message the caller hands over
** =======================================================
*/

static int box_gc(lua_State *L) {
  codec_free((codec_msg *)lua_touserdata(L, 1));
  return 0;
}

/* Registry key of the metatable of message boxes. */
static const char box_meta_key = 0;

/* This VM's slot for the message being decoded (a userdata anchored in the
** registry whose __gc frees what a raising decode left there). */
typedef struct Pending {
  int busy;               /* a decode is using msg, or one raised */
  codec_msg msg;
} Pending;

static const char pending_key = 0;

static int pending_gc(lua_State *L) {
  codec_free(&((Pending *)lua_touserdata(L, 1))->msg);
  return 0;
}

static Pending *pending_slot(lua_State *L) {
  Pending *p;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key) == LUA_TUSERDATA) {
    p = lua_touserdata(L, -1);
  } else {
    lua_pop(L, 1);
    p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    lua_newtable(L);
    lua_pushcfunction(L, pending_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  }
  lua_pop(L, 1);   /* the registry keeps it */
  return p;
}

/* A message in a box that the collector frees if decoding raises. */
static int decode_boxed(lua_State *L, codec_msg *msg, int env) {
  codec_msg *box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = *msg;
  memset(msg, 0, sizeof *msg);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_meta_key) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &box_meta_key);
  }
  lua_setmetatable(L, -2);
  int boxidx = lua_gettop(L);
  int n = codec_decode(L, box, env);
  codec_free(box);
  lua_remove(L, boxidx);
  return n;
}

int codec_decode_owned(lua_State *L, codec_msg *msg, int env) {
  if (msg->len <= CODEC_INLINE && msg->nobjs == 0) {
    /* Nothing to leak if decoding raises: no heap bytes, no objects. */
    int n = codec_decode(L, msg, env);
    codec_free(msg);
    return n;
  }
  /* Decoding may raise (a module that fails to load): the message waits in
  ** the VM's pending slot, freed by the next use or the state's close. A
  ** nested decode (a module decoding while it loads), or every decode after
  ** one raised, uses a box instead. */
  env = env ? lua_absindex(L, env) : 0;
  Pending *p = pending_slot(L);
  if (p->busy) return decode_boxed(L, msg, env);
  p->busy = 1;
  p->msg = *msg;
  memset(msg, 0, sizeof *msg);
  int n = codec_decode(L, &p->msg, env);
  codec_free(&p->msg);
  p->busy = 0;
  return n;
}

/* }====================================================== */

/* A float alone, built without a Lua state (timers run on their own
** thread): the same bytes codec_encode writes for it. */
void codec_encode_float(codec_msg *msg, double x) {
  lua_Number n = (lua_Number)x;
  memset(msg, 0, sizeof *msg);
  msg->inline_buf[0] = TAG_FLOAT;
  memcpy(msg->inline_buf + 1, &n, sizeof n);
  msg->len = 1 + sizeof n;
}

/*
** {======================================================
** Fast paths: one scalar, the common channel value
** =======================================================
*/

int codec_encode_scalar(lua_State *L, int idx, codec_msg *msg) {
  unsigned char *b = msg->inline_buf;
  size_t n = 0;
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      b[n++] = TAG_NIL;
      break;
    case LUA_TBOOLEAN:
      b[n++] = lua_toboolean(L, idx) ? TAG_TRUE : TAG_FALSE;
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        b[n++] = TAG_INT;
        n += wire_put_varint(b + n, wire_zigzag(lua_tointeger(L, idx)));
      } else {
        lua_Number x = lua_tonumber(L, idx);
        b[n++] = TAG_FLOAT;
        memcpy(b + n, &x, sizeof x);
        n += sizeof x;
      }
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (len > CODEC_INLINE - 3) return 0;    /* tag + 2-byte length */
      b[n++] = TAG_STR;
      n += wire_put_varint(b + n, (lua_Unsigned)len);
      memcpy(b + n, s, len);
      n += len;
      break;
    }
    default:
      return 0;
  }
  msg->len = n;
  msg->heap = NULL;
  msg->objs = NULL;
  msg->nobjs = 0;
  return 1;
}

int codec_decode_scalar(lua_State *L, codec_msg *msg) {
  if (msg->nobjs != 0 || msg->len == 0 || msg->len > CODEC_INLINE) return 0;
  const unsigned char *p = msg->inline_buf + 1, *end = msg->inline_buf + msg->len;
  lua_Unsigned v;
  switch (msg->inline_buf[0]) {
    case TAG_NIL:
      if (p != end) return 0;
      lua_pushnil(L);
      return 1;
    case TAG_FALSE:
    case TAG_TRUE:
      if (p != end) return 0;
      lua_pushboolean(L, msg->inline_buf[0] == TAG_TRUE);
      return 1;
    case TAG_INT:
      if (wire_get_varint(&p, end, &v) != 1 || p != end) return 0;
      lua_pushinteger(L, wire_unzigzag(v));
      return 1;
    case TAG_FLOAT: {
      lua_Number x;
      if ((size_t)(end - p) != sizeof x) return 0;
      memcpy(&x, p, sizeof x);
      lua_pushnumber(L, x);
      return 1;
    }
    case TAG_STR:
      if (wire_get_varint(&p, end, &v) != 1 || v != (lua_Unsigned)(end - p)) return 0;
      lua_pushlstring(L, (const char *)p, (size_t)v);
      return 1;
    default:
      return 0;
  }
}

/* }====================================================== */

/*
** {======================================================
** Plain C helpers for stored messages (shared tables)
** =======================================================
*/

int codec_copy(codec_msg *dst, const codec_msg *src) {
  *dst = *src;
  dst->heap = NULL;
  dst->objs = NULL;
  if (src->len > CODEC_INLINE) {
    dst->heap = pool_alloc(src->len);
    if (dst->heap == NULL) return 0;
    memcpy(dst->heap, src->heap, src->len);
  }
  if (src->nobjs > 0) {
    dst->objs = (lugo_obj **)pool_alloc(src->nobjs * sizeof(lugo_obj *));
    if (dst->objs == NULL) {
      pool_free(dst->heap);
      dst->heap = NULL;
      return 0;
    }
    for (unsigned i = 0; i < src->nobjs; i++) {
      obj_retain(src->objs[i]);
      dst->objs[i] = src->objs[i];
    }
  }
  return 1;
}

void codec_encode_integer(codec_msg *msg, long long i) {
  memset(msg, 0, sizeof *msg);
  msg->inline_buf[0] = TAG_INT;
  msg->len = 1 + wire_put_varint(msg->inline_buf + 1, wire_zigzag((lua_Integer)i));
}

int codec_number(const codec_msg *msg, long long *i, double *f) {
  if (msg->nobjs != 0 || msg->len == 0 || msg->len > CODEC_INLINE) return 0;
  const unsigned char *p = msg->inline_buf + 1, *end = msg->inline_buf + msg->len;
  lua_Unsigned v;
  if (msg->inline_buf[0] == TAG_INT) {
    if (wire_get_varint(&p, end, &v) != 1 || p != end) return 0;
    *i = (long long)wire_unzigzag(v);
    return 1;
  }
  if (msg->inline_buf[0] == TAG_FLOAT && (size_t)(end - p) == sizeof(lua_Number)) {
    lua_Number x;
    memcpy(&x, p, sizeof x);
    *f = (double)x;
    return 2;
  }
  return 0;
}

/* }====================================================== */

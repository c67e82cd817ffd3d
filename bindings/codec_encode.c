/* codec_encode.c: the encoder (values -> codec_msg), its dump cache, carried
** globals. What it builds belongs to codec_state.c until it succeeds. */
#include <stdint.h>
#include <string.h>
#include <lauxlib.h>

#include "../core/pool.h"
#include "codec_impl.h"
#include "dump.h"
#include "handle.h"

/* Registry key (its address) of the dump cache. */
static const char dumps_key = 0;

/*
** {======================================================
** Encoder
** =======================================================
*/

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
  int gnames_index;        /* where it goes once made */
  lua_Integer gcount, gfrom;
} Enc;

/* Every error of an encode goes through here: frees the state for the next
** encode (what it owns stays in it until then) and raises. */
static void enc_error(Enc *e, const char *tname, const char *why,
                      const Path *p) {
  lua_State *L = e->L;
  e->cs->busy = 0;
  if (p == NULL) luaL_error(L, "lugo: %s", why);
  codec_push_where(L, e->what, e->gnames, p);
  if (why)
    luaL_error(L, "lugo: cannot transfer %s (%s %s)", tname, why,
               lua_tostring(L, -1));
  luaL_error(L, "lugo: cannot transfer %s (%s)", tname, lua_tostring(L, -1));
}

static void enc_nomem(Enc *e) {
  enc_error(e, NULL, "not enough memory", NULL);
}

static const Path *path_root(const Path *p) {
  while (p->up) p = p->up;
  return p;
}

/* ---- output buffer ---- */

/* Moves the message to the heap (first time) or enlarges it. The heap block
** is always in cs->heap, so an error frees it. */
static void grow(Enc *e, size_t n) {
  if (n > SIZE_MAX / 2 - e->len) enc_nomem(e);
  size_t cap = e->cap < 64 ? 64 : e->cap;
  while (cap < e->len + n) cap *= 2;
  unsigned char *p;
  if (e->buf == e->msg->inline_buf) {
    p = (unsigned char *)pool_alloc(cap);
    if (p != NULL) memcpy(p, e->buf, e->len);
  } else {
    p = (unsigned char *)pool_realloc(e->buf, cap);
  }
  if (p == NULL) enc_nomem(e);
  e->buf = e->cs->heap = p;
  e->cap = cap;
}

/* Reserves exactly what is written, so that the message leaves inline_buf
** only when its final length exceeds CODEC_INLINE. */
static void put(Enc *e, const void *p, size_t n) {
  if (n > e->cap - e->len) grow(e, n);
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

/* Writes a table's two u32 counts as zeros, for patch_counts; returns
** where they are. */
static size_t put_counts(Enc *e) {
  static const unsigned char zeros[8];
  size_t pos = e->len;
  put(e, zeros, sizeof zeros);
  return pos;
}

static void patch_counts(Enc *e, size_t pos, uint32_t narr, uint32_t nhash) {
  wire_put_u32(e->buf + pos, narr);
  wire_put_u32(e->buf + pos + 4, nhash);
}

/* ---- values with a name in package.loaded ---- */

/* Writes the NAMED record of the value at idx and returns 1, or returns 0
** if it has no name (codec_names_push). */
static int encode_named(Enc *e, int idx, int rebuild) {
  if (!codec_names_push(e->L, idx, rebuild)) return 0;
  size_t n;
  const char *s = lua_tolstring(e->L, -1, &n);
  put(e, s, n);
  lua_pop(e->L, 1);
  return 1;
}

/* The value at idx by name, or 0. The names map may predate it (a C
** function added to a module after its require): if so, one rebuild per
** encode. */
static int encode_named_or_rebuild(Enc *e, int idx) {
  if (encode_named(e, idx, 0)) return 1;
  if (e->names_rebuilt) return 0;
  e->names_rebuilt = 1;
  return encode_named(e, idx, 1);
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

/* Pushes the u32 hash followed by the dump of the Lua function at idx. */
static void push_dump(lua_State *L, int idx) {
  DumpState ds;
  ds.init = 0;
  lua_pushvalue(L, idx);
  lua_dump(L, dump_writer, &ds, 0);
  if (!ds.init)   /* cannot happen: a dump has a header */
    dump_writer(L, "", 0, &ds);
  unsigned char *p = (unsigned char *)luaL_buffaddr(&ds.b);
  wire_put_u32(p, wire_fnv1a(p + 4, luaL_bufflen(&ds.b) - 4));
  luaL_pushresult(&ds.b);
  lua_remove(L, -2);
}

/* Writes length, hash and dump of the function at idx and leaves that
** string (hash, then dump) on top. lua_dump is costly, so dumps are cached
** per function (weak keys) in the registry. */
static void put_dump(Enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &dumps_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    codec_push_weak_table(L);
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
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  put_varint(e, (lua_Unsigned)(n - 4));
  put(e, s, n);
  lua_remove(L, -2);
}

/* ---- values ---- */

/* Notes the table, function or upvalue key (codec_state_add). */
static void remember(Enc *e, const void *key, unsigned ord, unsigned up,
                     size_t pos) {
  if (codec_state_add(e->cs, key, ord, up, pos) == NULL) enc_nomem(e);
}

static void encode_value(Enc *e, int idx, int type, const Path *p);

/* Entering a table or function: bounds the recursion (and the decoder's). */
static void enter(Enc *e, const char *tname, const Path *p) {
  if (e->depth >= CODEC_MAXDEPTH || !lua_checkstack(e->L, 8))
    enc_error(e, tname, "nested too deeply in", path_root(p));
  e->depth++;
}

/* A table, function or upvalue met before: flags its (owner's) tag so the
** decoder keeps it, and writes tag and object number. */
static void put_ref(Enc *e, const Slot *s, int tag) {
  e->buf[s->pos] |= TAG_SHARED;
  put_byte(e, tag);
  put_varint(e, s->ord);
}

static void encode_number(Enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_isinteger(L, idx)) {
    put_byte(e, TAG_INT);
    put_varint(e, wire_zigzag(lua_tointeger(L, idx)));
  } else {
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
  size_t cpos = put_counts(e);
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
    Path k = {p, P_KEY, 0, 0, NULL};
    Path f = {p, P_FIELD, top + 1, 0, NULL};
    encode_value(e, top + 1, kt, &k);
    encode_value(e, top + 2, lua_type(L, top + 2), &f);
    lua_settop(L, top + 1);
    nhash++;
  }
  if ((lua_Unsigned)narr > UINT32_MAX || nhash > UINT32_MAX)
    enc_error(e, "table", "too many entries in", path_root(p));
  patch_counts(e, cpos, (uint32_t)narr, (uint32_t)nhash);
}

static void encode_table(Enc *e, int idx, const Path *p) {
  lua_State *L = e->L;
  const void *ptr = lua_topointer(L, idx);
  if (is_globals(e, ptr)) {
    put_byte(e, TAG_GLOBALS);
    return;
  }
  const Slot *s = codec_state_find(e->cs, ptr);
  if (s != NULL) {
    put_ref(e, s, TAG_REF);
    return;
  }
  if (encode_named(e, idx, 0)) return;
  enter(e, "table", p);
  remember(e, ptr, ++e->nobj, 0, e->len);
  if (lua_getmetatable(L, idx)) {
    Path m = {p, P_META, 0, 0, NULL};
    int mt = lua_gettop(L);
    put_byte(e, TAG_TABLE | TAG_META);
    encode_entries(e, idx, p);
    encode_value(e, mt, LUA_TTABLE, &m);
    lua_pop(L, 1);
  } else {
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
  const Slot *s = codec_state_find(e->cs, id);
  if (s != NULL) {
    put_ref(e, s, TAG_UPJOIN);
    put_varint(e, s->up);
    return;
  }
  remember(e, id, ord, (unsigned)i, pos);
  encode_value(e, lua_gettop(L), lua_type(L, -1), p);
}

/* Numbers the global names that the Lua function at idx (its dump at
** dumpidx: hash, then bytes) reads or assigns, if its _ENV is the sender's
** globals; encode_globals copies their values. */
static void note_globals(Enc *e, int idx, int dumpidx) {
  lua_State *L = e->L;
  const char *name;
  int env_up = -1;
  for (int i = 1; env_up < 0 && (name = lua_getupvalue(L, idx, i)) != NULL;
       i++) {
    if (strcmp(name, "_ENV") == 0 && lua_type(L, -1) == LUA_TTABLE &&
        is_globals(e, lua_topointer(L, -1)))
      env_up = i - 1;
    lua_pop(L, 1);
  }
  if (env_up < 0) return;
  if (e->gnames == 0) {     /* made at the first such function */
    lua_newtable(L);
    lua_replace(L, e->gnames_index);
    e->gnames = e->gnames_index;
  }
  dump_push_global_names(L, dumpidx, 4, env_up);   /* after the u32 hash */
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
  const Slot *s = codec_state_find(e->cs, ptr);
  if (s != NULL) {
    put_ref(e, s, TAG_REF);
    return;
  }
  enter(e, "function", p);
  size_t pos = e->len;
  unsigned ord = ++e->nobj;
  remember(e, ptr, ord, 0, pos);
  put_byte(e, TAG_FUNC);
  put_dump(e, idx);
  if (e->carry) note_globals(e, idx, lua_gettop(L));
  lua_pop(L, 1);
  const char *name;
  for (int i = 1; (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    Path u = {p, P_UPVAL, 0, 0, name};
    encode_upvalue(e, idx, i, ord, pos, &u);
    lua_pop(L, 1);
  }
  e->depth--;
}

/* A lugo object travels out of band, retained in msg->objs; other userdata
** may be reachable from package.loaded (io.stdout). */
static void encode_object(Enc *e, int idx, const Path *p) {
  lugo_obj *o;
  int flags;
  if (!handle_test(e->L, idx, &o, &flags)) {
    if (encode_named_or_rebuild(e, idx)) return;
    enc_error(e, "userdata", NULL, p);
  }
  long i = codec_state_add_obj(e->cs, o);
  if (i < 0) enc_nomem(e);
  put_byte(e, TAG_OBJ);
  put_varint(e, (lua_Unsigned)i);
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
      if (!lua_iscfunction(L, idx))
        encode_function(e, idx, p);
      else if (!encode_named_or_rebuild(e, idx))   /* C functions: by name */
        enc_error(e, "C function", NULL, p);
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
  if (e->gcount == 0) {
    put_byte(e, TAG_NIL);
    return;
  }
  e->nobj++;                /* numbered as every table, never referenced */
  put_byte(e, TAG_TABLE);
  size_t cpos = put_counts(e);
  lua_Unsigned count = 0;
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
  if (count > UINT32_MAX) enc_error(e, NULL, "too many globals", NULL);
  patch_counts(e, cpos, 0, (uint32_t)count);
}

static void encode_message(lua_State *L, int first, int n, int env,
                           const char *what, int carry, codec_msg *msg) {
  int base = lua_gettop(L);
  msg->len = 0;
  msg->heap = NULL;
  msg->objs = NULL;
  msg->nobjs = 0;
  if (first < 0 && first > LUA_REGISTRYINDEX) first += base + 1;
  if (env < 0 && env > LUA_REGISTRYINDEX) env += base + 1;
  luaL_checkstack(L, 8, "lugo: too many values");
  Enc e;
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
  e.cs = codec_state_open(L);   /* stays on the stack as an anchor */
  e.gnames = 0;
  if (e.carry) {
    lua_pushnil(L);
    e.gnames_index = lua_gettop(L);
  }
  for (int i = 0; i < n; i++) {
    Path root = {NULL, P_ROOT, i + 1, 0, NULL};
    e.gfrom = -(i + 1);
    encode_value(&e, first + i, lua_type(L, first + i), &root);
  }
  if (e.carry) encode_globals(&e);
  msg->len = e.len;
  codec_state_finish(e.cs, msg);
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

/* }====================================================== */

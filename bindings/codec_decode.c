/* codec_decode.c: the decoder, codec_msg -> Lua values. Every read stops at
** the message's end; bad bytes raise, and the message stays its caller's. */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <lauxlib.h>

#include "codec_impl.h"
#include "factory.h"
#include "handle.h"

typedef struct Dec {
  lua_State *L;
  const codec_msg *msg;
  const unsigned char *p, *end;
  int env;                /* receiver's globals */
  int refs;               /* stack index of the table of shared objects, or nil */
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
  if (d->p >= d->end) corrupt(d, "truncated");
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
  if (n > left(d)) corrupt(d, "truncated");
  return (size_t)n;
}

static void decode_value(Dec *d);

static void enter(Dec *d) {
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
  enter(d);
  lua_Unsigned narr = get_u32(d);
  lua_Unsigned nhash = get_u32(d);
  /* each entry takes a byte at least: no huge tables from a few bytes */
  if (narr > left(d) || nhash > left(d) / 2 || narr > INT_MAX ||
      nhash > INT_MAX)
    corrupt(d, "bad table size");
  lua_createtable(L, (int)narr, (int)nhash);
  int t = lua_gettop(L);
  keep(d, tag);
  for (lua_Unsigned i = 1; i <= narr; i++) {
    decode_value(d);
    if (lua_isnil(L, -1))
      lua_pop(L, 1);
    else
      lua_rawseti(L, t, (lua_Integer)i);
  }
  for (lua_Unsigned i = 0; i < nhash; i++) {
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
    if (!lua_istable(L, -1)) corrupt(d, "bad metatable");
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
  enter(d);
  Blob b;
  b.n = (size_t)get_varint(d);
  uint32_t h = get_u32(d);
  if (b.n > left(d)) corrupt(d, "truncated");
  b.p = (const char *)d->p;
  d->p += b.n;
  /* A function received before is recognised by its bytes, checked then:
  ** no checksum (hashing every byte costs more than the rest). */
  int nups;
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
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">u", &ar);
    nups = ar.nups;
  }
  int f = lua_gettop(L);
  keep(d, tag);
  for (int i = 1; i <= nups; i++) {
    if (d->p < d->end && *d->p == TAG_UPJOIN) {
      d->p++;
      join_upvalue(d, f, i);
    } else {
      decode_value(d);
      if (lua_setupvalue(L, f, i) == NULL) corrupt(d, "bad upvalue");
    }
  }
  d->depth--;
}

/* Pushes package.loaded[mod][field] of the receiver; raises if absent. */
static void decode_named(Dec *d) {
  size_t mlen = get_len(d);
  const char *mod = (const char *)d->p;
  d->p += mlen;
  const char *field = NULL;
  size_t flen = 0;
  lua_Unsigned f = get_varint(d);
  if (f > 0) {
    if (f - 1 > left(d)) corrupt(d, "truncated");
    flen = (size_t)(f - 1);
    field = (const char *)d->p;
    d->p += flen;
  }
  codec_names_resolve(d->L, mod, mlen, field, flen);
}

static void decode_object(Dec *d) {
  lua_Unsigned i = get_varint(d);
  int flags = get_byte(d);
  if (i >= d->msg->nobjs || d->msg->objs == NULL || d->msg->objs[i] == NULL)
    corrupt(d, "bad object");
  if (flags != 0 && flags != HANDLE_SENDONLY && flags != HANDLE_RECVONLY)
    corrupt(d, "bad object");
  handle_push(d->L, d->msg->objs[i], flags);
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
    case TAG_INT:
      lua_pushinteger(L, wire_unzigzag(get_varint(d)));
      break;
    case TAG_FLOAT: {
      lua_Number x;
      if (left(d) < sizeof(x)) corrupt(d, "truncated");
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
  Dec d;
  d.L = L;
  d.msg = msg;
  if (bytes == NULL) corrupt(&d, "no bytes");
  d.p = bytes;
  d.end = bytes + msg->len;
  d.env = (env != 0) ? lua_absindex(L, env) : 0;
  d.nobj = 0;
  d.depth = 0;
  luaL_checkstack(L, 2, "lugo: too many values");
  lua_pushnil(L);
  d.refs = lua_gettop(L);
  int n = 0;
  while (d.p < d.end) {
    if (!lua_checkstack(L, 4)) corrupt(&d, "too many values");
    decode_value(&d);
    n++;
  }
  lua_remove(L, d.refs);
  return n;
}

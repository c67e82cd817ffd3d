/* codec_msg.c: message ownership (free, copy, clone, decode_owned), scalar fast
** paths, registry helpers. A msg owns its heap bytes and one ref per object. */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "../core/pool.h"
#include "codec_impl.h"

/*
** {======================================================
** Registry helpers
** =======================================================
*/

void *codec_gc_udata(lua_State *L, size_t size, const void *meta_key,
                     lua_CFunction gc) {
  void *u = lua_newuserdatauv(L, size, 0);
  memset(u, 0, size);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, meta_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, meta_key);
  }
  lua_setmetatable(L, -2);
  return u;
}

void codec_push_weak_table(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
}

/* }====================================================== */


/*
** {======================================================
** Owning messages
** =======================================================
*/

void codec_free(codec_msg *msg) {
  for (unsigned i = 0; i < msg->nobjs; i++) obj_release(msg->objs[i]);
  pool_free(msg->objs);
  pool_free(msg->heap);
  msg->objs = NULL;
  msg->nobjs = 0;
  msg->heap = NULL;
  msg->len = 0;
}

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

void codec_clone(codec_msg *dst, const codec_msg *src) {
  if (!codec_copy(dst, src)) abort();
}

/* Registry keys (their addresses): the pending box, and the metatables of
** pending boxes and of message boxes. */
static const char pending_key = 0;
static const char pending_meta_key = 0;
static const char box_meta_key = 0;

static int box_gc(lua_State *L) {
  codec_free((codec_msg *)lua_touserdata(L, 1));
  return 0;
}

/* This VM's box for the message being decoded (a userdata anchored in the
** registry whose __gc frees what a raising decode left there). */
typedef struct Pending {
  int busy;               /* a decode is using msg, or one raised */
  codec_msg msg;
} Pending;

static int pending_gc(lua_State *L) {
  codec_free(&((Pending *)lua_touserdata(L, 1))->msg);
  return 0;
}

static Pending *pending_box(lua_State *L) {
  Pending *p;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key) == LUA_TUSERDATA) {
    p = lua_touserdata(L, -1);
  } else {
    lua_pop(L, 1);
    p = codec_gc_udata(L, sizeof *p, &pending_meta_key, pending_gc);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  }
  lua_pop(L, 1);   /* the registry keeps it */
  return p;
}

/* A message in a box that the collector frees if decoding raises. */
static int decode_boxed(lua_State *L, codec_msg *msg, int env) {
  codec_msg *box = codec_gc_udata(L, sizeof *box, &box_meta_key, box_gc);
  *box = *msg;
  memset(msg, 0, sizeof *msg);
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
  ** the VM's pending box, freed by the next use or the state's close. A
  ** nested decode (a module decoding while it loads), or every decode after
  ** one raised, uses a box instead. */
  env = env ? lua_absindex(L, env) : 0;
  Pending *p = pending_box(L);
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


/*
** {======================================================
** Fast paths: one scalar, the common channel value; the same bytes
** codec_encode writes. Plain C but for the Lua values themselves.
** =======================================================
*/

/* Whether msg may hold one scalar: inline bytes, no objects. */
static int maybe_scalar(const codec_msg *msg) {
  return msg->nobjs == 0 && msg->len != 0 && msg->len <= CODEC_INLINE;
}

/* A float alone, built without a Lua state (timers run on their own
** thread). */
void codec_encode_float(codec_msg *msg, double x) {
  memset(msg, 0, sizeof *msg);
  msg->len = wire_put_float(msg->inline_buf, (lua_Number)x);
}

void codec_encode_integer(codec_msg *msg, long long i) {
  memset(msg, 0, sizeof *msg);
  msg->len = wire_put_int(msg->inline_buf, (lua_Integer)i);
}

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
      if (lua_isinteger(L, idx))
        n = wire_put_int(b, lua_tointeger(L, idx));
      else
        n = wire_put_float(b, lua_tonumber(L, idx));
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
  if (!maybe_scalar(msg)) return 0;
  int tag = msg->inline_buf[0];
  const unsigned char *p = msg->inline_buf + 1, *end = msg->inline_buf + msg->len;
  switch (tag) {
    case TAG_NIL:
      if (p != end) return 0;
      lua_pushnil(L);
      return 1;
    case TAG_FALSE:
    case TAG_TRUE:
      if (p != end) return 0;
      lua_pushboolean(L, tag == TAG_TRUE);
      return 1;
    case TAG_INT: {
      lua_Integer i;
      if (!wire_get_int(p, end, &i)) return 0;
      lua_pushinteger(L, i);
      return 1;
    }
    case TAG_FLOAT: {
      lua_Number x;
      if (!wire_get_float(p, end, &x)) return 0;
      lua_pushnumber(L, x);
      return 1;
    }
    case TAG_STR: {
      lua_Unsigned v;
      if (wire_get_varint(&p, end, &v) != 1 || v != (lua_Unsigned)(end - p))
        return 0;
      lua_pushlstring(L, (const char *)p, (size_t)v);
      return 1;
    }
    default:
      return 0;
  }
}

int codec_number(const codec_msg *msg, long long *i, double *f) {
  if (!maybe_scalar(msg)) return 0;
  const unsigned char *p = msg->inline_buf + 1, *end = msg->inline_buf + msg->len;
  lua_Integer li;
  lua_Number x;
  if (msg->inline_buf[0] == TAG_INT && wire_get_int(p, end, &li)) {
    *i = (long long)li;
    return 1;
  }
  if (msg->inline_buf[0] == TAG_FLOAT && wire_get_float(p, end, &x)) {
    *f = (double)x;
    return 2;
  }
  return 0;
}

/* }====================================================== */

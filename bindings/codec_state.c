/* codec_state.c: the encoder's per-VM state: the message being built (heap,
** objects) and the reference map, whose slots live only at the state's gen. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/pool.h"
#include "codec_impl.h"

/* Registry keys (their addresses) of the state and of its metatable. */
static const char cstate_key = 0;
static const char cstate_meta_key = 0;

static void cstate_drop(CState *cs) {
  pool_free(cs->heap);
  cs->heap = NULL;
  for (unsigned i = 0; i < cs->nobjs; i++) obj_release(cs->objs[i]);
  pool_free(cs->objs);
  cs->objs = NULL;
  cs->nobjs = cs->objcap = 0;
}

static void cstate_drop_map(CState *cs) {
  free(cs->slots);
  cs->slots = NULL;
  cs->nslots = 0;
}

static int cstate_gc(lua_State *L) {
  CState *cs = (CState *)lua_touserdata(L, 1);
  cstate_drop(cs);
  cstate_drop_map(cs);
  return 0;
}

/* A busy state is in use by an encode further down the C stack (a
** finalizer can send), or was left busy by a memory error: either way a new
** one replaces it in the registry; the old one stays anchored on its
** encode's stack. */
CState *codec_state_open(lua_State *L) {
  CState *cs = NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cstate_key) == LUA_TUSERDATA)
    cs = (CState *)lua_touserdata(L, -1);
  if (cs == NULL || cs->busy) {
    lua_pop(L, 1);
    cs = codec_gc_udata(L, sizeof(CState), &cstate_meta_key, cstate_gc);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &cstate_key);
  }
  cstate_drop(cs);  /* leftovers of an encode that raised */
  cs->nused = 0;
  if (++cs->gen == 0) {  /* wrapped: stale entries would look live */
    if (cs->slots) memset(cs->slots, 0, cs->nslots * sizeof(Slot));
    cs->gen = 1;
  }
  cs->busy = 1;
  return cs;
}

void codec_state_finish(CState *cs, codec_msg *msg) {
  msg->heap = cs->heap;
  cs->heap = NULL;
  msg->objs = cs->objs;
  msg->nobjs = cs->nobjs;
  cs->objs = NULL;
  cs->nobjs = cs->objcap = 0;
  if (cs->nslots > 1024)   /* a huge message: do not keep its map */
    cstate_drop_map(cs);
  cs->busy = 0;
}

static unsigned slot_hash(const void *key, unsigned nslots) {
  uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
  return (unsigned)(h ^ (h >> 32)) & (nslots - 1);
}

/* The free slot for key in slots[0..n) (a power of two). */
static Slot *free_slot(Slot *slots, unsigned n, unsigned gen,
                       const void *key) {
  unsigned i = slot_hash(key, n);
  while (slots[i].gen == gen) i = (i + 1) & (n - 1);
  return &slots[i];
}

Slot *codec_state_find(CState *cs, const void *key) {
  if (cs->nused == 0) return NULL;
  for (unsigned i = slot_hash(key, cs->nslots); cs->slots[i].gen == cs->gen;
       i = (i + 1) & (cs->nslots - 1)) {
    if (cs->slots[i].key == key) return &cs->slots[i];
  }
  return NULL;
}

static int map_grow(CState *cs) {
  unsigned n = cs->nslots ? cs->nslots * 2 : 64;
  Slot *ns = (Slot *)calloc(n, sizeof(Slot));
  if (ns == NULL) return 0;
  for (unsigned i = 0; i < cs->nslots; i++) {
    if (cs->slots[i].gen == cs->gen)
      *free_slot(ns, n, cs->gen, cs->slots[i].key) = cs->slots[i];
  }
  free(cs->slots);
  cs->slots = ns;
  cs->nslots = n;
  return 1;
}

Slot *codec_state_add(CState *cs, const void *key, unsigned ord, unsigned up,
                      size_t pos) {
  if ((cs->nused + 1) * 2 > cs->nslots && !map_grow(cs)) return NULL;
  Slot *s = free_slot(cs->slots, cs->nslots, cs->gen, key);
  s->key = key;
  s->gen = cs->gen;
  s->ord = ord;
  s->up = up;
  s->pos = pos;
  cs->nused++;
  return s;
}

long codec_state_add_obj(CState *cs, lugo_obj *o) {
  if (cs->nobjs == cs->objcap) {
    unsigned n = cs->objcap ? cs->objcap * 2 : 4;
    lugo_obj **a = (lugo_obj **)pool_realloc(cs->objs, n * sizeof(lugo_obj *));
    if (a == NULL) return -1;
    cs->objs = a;
    cs->objcap = n;
  }
  obj_retain(o);
  cs->objs[cs->nobjs] = o;
  return (long)cs->nobjs++;
}

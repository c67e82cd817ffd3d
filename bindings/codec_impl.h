/* codec_impl.h: what the codec's files share and nothing else includes: the
** encoder's state, the paths of its errors, the names map, registry helpers. */
#ifndef LUGO_CODEC_IMPL_H
#define LUGO_CODEC_IMPL_H

#include <stddef.h>
#include <lua.h>

#include "codec.h"
#include "codec_wire.h"

/* ---- per-VM encoder state (codec_state.c) ---- */

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

/* Pushes this VM's state, empty, and marks it busy; an encode that raises
** clears busy and leaves what it built in the state. */
CState *codec_state_open(lua_State *L);

/* Hands the heap bytes and objects built over to msg; clears busy. */
void codec_state_finish(CState *cs, codec_msg *msg);

/* The slot of key in the reference map, or NULL. */
Slot *codec_state_find(CState *cs, const void *key);

/* Adds key (absent) and returns its slot, valid until the next add; NULL
** when out of memory. */
Slot *codec_state_add(CState *cs, const void *key, unsigned ord, unsigned up,
                      size_t pos);

/* Retains o for the message and returns its index in msg->objs, or -1 when
** out of memory (o then not retained). */
long codec_state_add_obj(CState *cs, lugo_obj *o);

/* ---- paths (codec_path.c) ---- */

/* Where a value sits, for error messages; one frame per step, on the C
** stack of the encoder, rendered only when an error is raised. */
enum { P_ROOT, P_FIELD, P_INDEX, P_KEY, P_UPVAL, P_META, P_GLOBAL };

typedef struct Path {
  const struct Path *up;
  int kind;
  int idx;                /* P_ROOT: position; P_FIELD: stack index of key;
                             P_GLOBAL: the global's number */
  lua_Integer n;          /* P_INDEX: the integer key */
  const char *name;       /* P_UPVAL, P_GLOBAL: the upvalue's, global's name */
} Path;

/* Pushes where p is: "field 'a.b[3]' of upvalue 'cfg' of argument #1".
** what: the printf format of a root value's position (codec_encode's).
** gnames: stack index of the encoder's table of global names (P_GLOBAL
** frames only; see codec_encode.c). */
void codec_push_where(lua_State *L, const char *what, int gnames,
                      const Path *p);

/* ---- names of C functions and module tables (codec_names.c) ---- */

/* If the value at idx has a name in package.loaded, pushes its NAMED
** record (tag byte included) and returns 1; else pushes nothing, returns 0.
** rebuild: build the names map anew first (a C function may have been added
** to a module since). */
int codec_names_push(lua_State *L, int idx, int rebuild);

/* Pushes package.loaded[mod] of this VM, requiring mod if it is not loaded,
** or with field (not NULL) package.loaded[mod][field]; raises "lugo: cannot
** resolve 'mod.field' (...)" if that fails. */
void codec_names_resolve(lua_State *L, const char *mod, size_t mlen,
                         const char *field, size_t flen);

/* ---- registry helpers (codec_msg.c) ---- */

/* Pushes a new zeroed userdata of size bytes whose metatable has __gc = gc;
** that metatable is made once per VM and kept in the registry at meta_key. */
void *codec_gc_udata(lua_State *L, size_t size, const void *meta_key,
                     lua_CFunction gc);

/* Pushes a new table with weak keys (a cache keyed by values). */
void codec_push_weak_table(lua_State *L);

#endif

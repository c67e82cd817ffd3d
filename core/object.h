/* object.h: the reference-counted header shared by every core object
** (channels, waitgroups, ...) so that bindings can hold and transfer them. */
#ifndef LUGO_OBJECT_H
#define LUGO_OBJECT_H

#include <stdatomic.h>

typedef enum obj_kind {
  OBJ_CHAN = 1,
  OBJ_WAITGROUP = 2,
  OBJ_MUTEX = 3,
  OBJ_TIMER = 4,
  OBJ_ATOMIC = 5,
  OBJ_RWMUTEX = 6,
  OBJ_ONCE = 7,
  OBJ_COND = 8,
  OBJ_TABLE = 9,
  OBJ_LISTENER = 10,       /* lugo.net (bindings/lnet.c) */
  OBJ_CONN = 11,
  OBJ_PROCESS = 12,        /* lugo.exec (bindings/lexec.c) */
  OBJ_NOTIFIER = 13,       /* lugo.signal (bindings/lsignal.c) */
  OBJ_KINDS                /* one past the last kind */
} obj_kind;

/* First member of every core object. refs is atomic: handles live in many
** threads. destroy runs once, when the last reference is released. */
typedef struct lugo_obj {
  atomic_int refs;
  obj_kind kind;
  void (*destroy)(struct lugo_obj *o);
} lugo_obj;

static inline void obj_init(lugo_obj *o, obj_kind kind,
                            void (*destroy)(lugo_obj *o)) {
  atomic_init(&o->refs, 1);
  o->kind = kind;
  o->destroy = destroy;
}

static inline void obj_retain(lugo_obj *o) {
  atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

/* Drops one reference; the last one destroys the object. */
static inline void obj_release(lugo_obj *o) {
  if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
    o->destroy(o);
}

#endif

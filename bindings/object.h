/* object.h: Lua handles (userdata) for core objects; one Lua value per object
** and per VM, so handles compare equal and work as table keys. */
#ifndef LUGO_BINDINGS_OBJECT_H
#define LUGO_BINDINGS_OBJECT_H

#include <lua.h>
#include "../core/object.h"

/* View flags of a channel handle; 0 for a full handle and other objects. */
#define LOBJ_SENDONLY 1
#define LOBJ_RECVONLY 2

/* If the value at idx is a lugo handle, stores its object and flags and
** returns 1 (no reference is taken); otherwise returns 0. */
int lobj_test(lua_State *L, int idx, lugo_obj **obj, int *flags);

/* Pushes the handle of obj with flags for this VM, creating it (and taking a
** reference for it) if this VM has none yet; the caller keeps its own ref. */
void lobj_push(lua_State *L, lugo_obj *obj, int flags);

#endif

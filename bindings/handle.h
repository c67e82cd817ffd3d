/* handle.h: the userdata behind every Lua handle of a core object (one Lua
** value per object, view and VM, so handles compare equal and work as table
** keys), and the checks the method functions use. */
#ifndef LUGO_HANDLE_H
#define LUGO_HANDLE_H

#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>
#include "../core/object.h"

/* View flags of a channel handle; 0 for a full handle and other objects. */
#define HANDLE_SENDONLY 1
#define HANDLE_RECVONLY 2

/* If the value at idx is a lugo handle, stores its object and flags and
** returns 1 (no reference is taken); otherwise returns 0. */
int handle_test(lua_State *L, int idx, lugo_obj **obj, int *flags);

/* Pushes the handle of obj with flags for this VM, creating it (and taking a
** reference for it) if this VM has none yet; the caller keeps its own ref. */
void handle_push(lua_State *L, lugo_obj *obj, int flags);

/* Tells our userdata from foreign ones without a registry lookup. */
#define HANDLE_MAGIC 0x6c75676fu   /* "lugo" */

typedef struct lhandle {
  uint32_t magic;
  int flags;                 /* HANDLE_SENDONLY / HANDLE_RECVONLY for views */
  lugo_obj *obj;             /* one reference, dropped by __gc */
} lhandle;

/* The handle at idx if it is one of kind; else raises the usual
** "bad argument #idx to 'fname' (<kind name> expected, got <type>)". */
lhandle *handle_check(lua_State *L, int idx, obj_kind kind);

/* Registers the metatable of kind: methods (its __index table) plus
** metamethods (__gc, __eq, __tostring and __name are added here; an
** __index among them replaces the methods). Call once per VM. */
void handle_register(lua_State *L, obj_kind kind, const luaL_Reg *methods,
                     const luaL_Reg *metamethods);

/* Pushes the metatable of kind (after handle_register). */
void handle_push_metatable(lua_State *L, obj_kind kind);

/* Pushes a new handle of obj (taking over the caller's reference). */
void handle_push_new(lua_State *L, lugo_obj *obj);

#endif

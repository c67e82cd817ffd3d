/* handle.h: the userdata behind every Lua handle of a core object, and the
** checks the method functions use. */
#ifndef LUGO_HANDLE_H
#define LUGO_HANDLE_H

#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>
#include "object.h"

/* Tells our userdata from foreign ones without a registry lookup. */
#define HANDLE_MAGIC 0x6c75676fu   /* "lugo" */

typedef struct lhandle {
  uint32_t magic;
  int flags;                 /* LOBJ_SENDONLY / LOBJ_RECVONLY for views */
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

/* codec_test_objects.c: a stand-in for bindings/handle.c in test_codec.c:
** a handle is a full userdata holding a lugo_obj* and view flags. */

#include <lua.h>
#include <lauxlib.h>

#include "../../bindings/handle.h"

#define HANDLE_MT "codec_test.handle"

typedef struct Handle {
  lugo_obj *obj;
  int flags;
} Handle;

static int handle_gc(lua_State *L) {
  Handle *h = (Handle *)luaL_checkudata(L, 1, HANDLE_MT);
  if (h->obj != NULL) {
    obj_release(h->obj);
    h->obj = NULL;
  }
  return 0;
}

int handle_test(lua_State *L, int idx, lugo_obj **obj, int *flags) {
  Handle *h = (Handle *)luaL_testudata(L, idx, HANDLE_MT);
  if (h == NULL || h->obj == NULL)
    return 0;
  *obj = h->obj;
  *flags = h->flags;
  return 1;
}

/* One handle per (object, flags) and VM, cached with weak values. */
void handle_push(lua_State *L, lugo_obj *obj, int flags) {
  Handle *h;
  if (luaL_getsubtable(L, LUA_REGISTRYINDEX, HANDLE_MT ".cache") == 0) {
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  lua_pushfstring(L, "%p/%d", (void *)obj, flags);
  if (lua_rawget(L, -2) == LUA_TUSERDATA) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  h = (Handle *)lua_newuserdatauv(L, sizeof(Handle), 0);
  h->obj = NULL;
  h->flags = flags;
  if (luaL_newmetatable(L, HANDLE_MT)) {
    lua_pushcfunction(L, handle_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  obj_retain(obj);
  h->obj = obj;
  lua_pushfstring(L, "%p/%d", (void *)obj, flags);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
}

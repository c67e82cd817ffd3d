/* module.h: luaopen_lugo and the registration functions of each object
** kind's bindings, called by it. */
#ifndef LUGO_MODULE_H
#define LUGO_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

int luaopen_lugo(lua_State *L);

/* Each registers its metatable in L and adds its constructors to the
** module table at the top of the stack. */
void lchan_open(lua_State *L);
void lwaitgroup_open(lua_State *L);
void lselect_open(lua_State *L);
void lmutex_open(lua_State *L);
void ltime_open(lua_State *L);
void latomic_open(lua_State *L);
void lrwmutex_open(lua_State *L);
void lonce_open(lua_State *L);
void lcond_open(lua_State *L);
void ltable_open(lua_State *L);
void lnet_open(lua_State *L);
void lexec_open(lua_State *L);
void lsignal_open(lua_State *L);

/* The standard io library's waiting calls, in goroutines, off the workers
** (lio.c); in the state L, once. */
void lio_install(lua_State *L);

/* Whether this thread runs the fn of a lugo.update (which holds a shared
** table's lock): no call may block there (ltable.c). */
bool ltable_in_update(void);

/* A channel of Lua values (codec messages), as lugo.chan(cap) makes; NULL
** when out of memory. One reference for the caller (lchan.c). */
struct chan *lchan_new(size_t cap);

/* Channel methods that build select cases (lselect.c). */
int lselect_case_recv(lua_State *L);
int lselect_case_send(lua_State *L);

#endif

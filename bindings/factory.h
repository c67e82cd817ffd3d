/* factory.h: cheap copies of a Lua function received many times: instead of
** lua_load for each copy, one "factory" per function per VM makes them. */
#ifndef LUGO_FACTORY_H
#define LUGO_FACTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <lua.h>

/* Pushes a new closure of the function whose lua_dump bytes are dump[0..n)
** (hash: their FNV-1a, already checked), with fresh upvalues all nil.
** Returns 0 (pushing nothing) when it cannot: the caller then lua_loads. */
int factory_push(lua_State *L, const unsigned char *dump, size_t n, uint32_t hash);

/* Like factory_push, but only from this VM's cache: pushes a closure and
** returns 1 when dump[0..n) is byte for byte a dump this VM already built a
** factory for (so the bytes need no checksum: they were checked then);
** returns 0, pushing nothing, otherwise. Cheap: no hashing. On success
** *nups is the function's number of upvalues. */
int factory_push_cached(lua_State *L, const unsigned char *dump, size_t n,
                        uint32_t hash, int *nups);

/* Once per process: builds, loads and calls one factory; if that fails
** (a Lua whose bytecode differs from what this file writes), prints a
** warning and turns factories off, so functions travel by lua_load. */
void factory_self_test(lua_State *L);

#endif

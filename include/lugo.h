/* lugo.h: the embedding API of lugo, a Go-style concurrency runtime for
** Lua 5.4. A host opens the module in its state with luaopen_lugo. */
#ifndef LUGO_H
#define LUGO_H

#include <lua.h>

#define LUGO_VERSION "0.1.0"

#ifndef LUGO_API
#define LUGO_API __attribute__((visibility("default")))
#endif

/* Opens the module (as require "lugo" does) and pushes its table. Safe to
** call in any number of states and threads of one process: they share one
** runtime (worker threads start on the first lugo.go). */
LUGO_API int luaopen_lugo(lua_State *L);

#endif

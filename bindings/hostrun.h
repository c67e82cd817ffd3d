/* hostrun.h: the host globals of lugo_setglobal, for the states that run
** goroutines (bindings/hostrun.c). */
#ifndef LUGO_HOSTRUN_H
#define LUGO_HOSTRUN_H

#include <lua.h>

/* Sets the host globals in L's global table if they changed since *seen
** (0 at first); updates *seen. L's thread only. */
void hostrun_apply_globals(lua_State *L, unsigned *seen);

/* Drops every host global (lugo_close). */
void hostrun_free_globals(void);

#endif

/* repl.h: the interactive loop of the `lugo` command. */
#ifndef LUGO_REPL_H
#define LUGO_REPL_H

#include <lua.h>

/* Reads lines until end of input, running each in L (the main goroutine)
** and printing the values of expressions; sets the global lugo. Line
** editing and history when readline can be loaded and stdin is a terminal. */
void repl_run(lua_State *L, const char *progname);

#endif

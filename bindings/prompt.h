/* prompt.h: the REPL of the `lugo` command at a terminal (prompt.c): lines
** read on the calling thread and run in the main goroutine. */
#ifndef LUGO_PROMPT_H
#define LUGO_PROMPT_H

#include <lua.h>

/* Blocks SIGINT in the calling thread, before any other thread starts
** (they inherit the mask): the REPL waits for it on a thread of its own. */
void prompt_block_sigint(void);

/* Runs the REPL with L (lugo opened, `arg` set) as the main goroutine's
** state: first the -e chunks of argv before index script and the script
** argv[script] if script < argc, then lines from the terminal until Ctrl-D.
** Returns the exit status: 0, or 1 if a chunk or the script failed. */
int prompt_run(lua_State *L, const char *progname, char **argv, int argc,
               int script);

#endif

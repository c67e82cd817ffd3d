/* repllink.h: how the REPL's input thread (prompt.c) hands goroutine 1
** its requests (repllink.c): one at a time, each waited for. */
#ifndef LUGO_REPLLINK_H
#define LUGO_REPLLINK_H

#include <stdbool.h>
#include <lua.h>

/* Starts goroutine 1 on L (lugo opened) running the REPL's loop; false if
** it cannot. */
bool repl_link_start(lua_State *L, const char *progname);

/* Tells goroutine 1 to return, and waits for it. */
void repl_link_finish(void);

/* Hands goroutine 1 a request ("line", "chunk", "script", "complete") and
** waits for its reply: a string (malloc'd) or NULL (nil). A deadlock while
** it waits ends the line with the report (repl_interrupt_line). */
char *repl_request(const char *kind, const char *a, const char *b);

/* Runs a line, chunk or script; true if it succeeded. Ctrl-C may
** interrupt it meanwhile (repl_line_running). */
bool repl_run_request(const char *kind, const char *a);
bool repl_line_running(void);

/* Ends the running line with the error msg, retrying until it is raised
** or the line is over. */
void repl_interrupt_line(const char *msg);

/* Is chunk an incomplete statement (more lines wanted)? As lua.c decides. */
bool repl_incomplete(const char *chunk);

#endif

/* embed.h: the runtime's life for hosts (bindings/embed.c): whether it is
** open, the host's options, and the per-thread error message of lugo.h. */
#ifndef LUGO_EMBED_H
#define LUGO_EMBED_H

#include <stdbool.h>
#include <lua.h>

#include "../include/lugo.h"

/* Opens the runtime with defaults unless it is open (luaopen_lugo).
** Returns LUGO_OK or lugo_open's error. */
int embed_ensure_open(void);

/* Is the runtime open (lugo_open done, lugo_close not)? */
bool embed_is_open(void);

/* Records code's message for the calling thread (printf format) and
** returns code. */
int embed_set_error(int code, const char *fmt, ...);

/* Runs the host's on_state hook in L (a new state, on its own thread):
** LUGO_OK, or LUGO_ELUA with the message recorded. */
int embed_run_on_state(lua_State *L);

/* The host's panic callback: true and *fn, *ud if it set one. */
bool embed_panic_handler(void (**fn)(const char *report, void *ud), void **ud);

#endif

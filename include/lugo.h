/* lugo.h: the embedding API of lugo, a Go-style concurrency runtime for
** Lua 5.4: open the runtime, run Lua as goroutines, exchange values with
** them over channels from any host thread, close it (docs/embedding.md). */
#ifndef LUGO_H
#define LUGO_H

#include <stddef.h>
#include <lua.h>

#define LUGO_VERSION "0.1.0"

#ifndef LUGO_API
#define LUGO_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Every int function returns LUGO_OK or one of these (negative). */
enum {
  LUGO_OK = 0,
  LUGO_EINVAL = -1,     /* a bad argument, or a value that is not plain */
  LUGO_ENOMEM = -2,
  LUGO_ESTATE = -3,     /* the runtime is not open, or already is */
  LUGO_ECLOSED = -4,    /* the channel is closed */
  LUGO_ETIMEDOUT = -5,  /* the timeout passed (or a try could not proceed) */
  LUGO_ELUA = -6,       /* Lua code raised an error (lugo_errmsg: it and its traceback) */
  LUGO_EDEADLOCK = -7,  /* the call would wait for ever: nothing can wake it */
  LUGO_EBUSY = -8       /* the runtime could not stop in time */
};

typedef struct lugo_options {
  int workers;          /* 0: LUGO_WORKERS, else online CPUs */
  /* Called in every worker's Lua state before it runs a goroutine (and in
  ** the state of each lugo_dofile/lugo_dostring), on that state's thread:
  ** register the host's C modules here (luaL_requiref, package.preload).
  ** Non-zero fails lugo_open with LUGO_ELUA. */
  int (*on_state)(lua_State *L, void *ud);
  /* A goroutine panicked: report is the text the lugo command prints.
  ** NULL: print it and exit 2 (the lugo command's behaviour). */
  void (*on_panic)(const char *report, void *ud);
  void *ud;
  int preempt_signal;   /* 0: SIGURG (the host's handler is chained), -1: no preemption */
} lugo_options;

LUGO_API void lugo_options_init(lugo_options *o);   /* defaults */
/* Starts the runtime (one per process); o NULL: defaults. */
LUGO_API int lugo_open(const lugo_options *o);
/* Stops new goroutines, waits up to grace seconds for the live ones to
** return, fails the waits of the others ("lugo: runtime closing"), joins
** every thread and frees the runtime's memory; then lugo_open works again.
** LUGO_EBUSY: a goroutine did not give way; the runtime is still usable. */
LUGO_API int lugo_close(double grace);
/* The calling thread's message for its last failed call (never NULL). */
LUGO_API const char *lugo_errmsg(void);
LUGO_API const char *lugo_strerror(int code);

/* Run Lua as a goroutine and wait for it (like lugo.run), from any host
** thread. The chunk gets a Lua state of its own (with the standard
** libraries, lugo, and what on_state adds); argv becomes `arg` and `...`. */
LUGO_API int lugo_dofile(const char *path, int argc, const char *const *argv);
LUGO_API int lugo_dostring(const char *chunk, const char *chunkname);

/* Values a host exchanges with goroutines: plain values and channels. */
enum { LUGO_TNIL, LUGO_TBOOLEAN, LUGO_TINTEGER, LUGO_TNUMBER, LUGO_TSTRING, LUGO_TCHAN };
typedef struct lugo_chan lugo_chan;
typedef struct lugo_value {
  int type;
  union {
    int b;
    long long i;
    double n;
    struct { const char *ptr; size_t len; } s;
    lugo_chan *ch;
  } u;
} lugo_value;
/* Frees what lugo_recv put in v (a string's bytes, a channel's reference)
** and sets it to nil. */
LUGO_API void lugo_value_free(lugo_value *v);

/* NULL on failure; the caller owns one reference. */
LUGO_API lugo_chan *lugo_chan_new(size_t cap);
LUGO_API void lugo_chan_retain(lugo_chan *c);
LUGO_API void lugo_chan_release(lugo_chan *c);
LUGO_API int lugo_chan_close(lugo_chan *c);
/* Any thread. timeout in seconds: < 0 waits for ever, 0 only tries; a try
** that cannot proceed, or a timeout, returns LUGO_ETIMEDOUT. */
LUGO_API int lugo_send(lugo_chan *c, const lugo_value *v, double timeout);  /* copies v */
/* LUGO_ECLOSED once closed and drained; a value that is not plain:
** LUGO_EINVAL (the value is dropped). */
LUGO_API int lugo_recv(lugo_chan *c, lugo_value *v, double timeout);
/* A file descriptor that polls readable while a lugo_recv(c, v, 0) would
** succeed (a value or the close is waiting): for hosts with their own
** event loop. Owned by c; -1 with LUGO_ENOMEM in lugo_errmsg on failure. */
LUGO_API int lugo_chan_pollfd(lugo_chan *c);
/* Lua side: push a channel as a handle in any Lua state that opened lugo;
** borrow the channel of a handle (NULL if not a channel). */
LUGO_API void lugo_pushchan(lua_State *L, lugo_chan *c);
LUGO_API lugo_chan *lugo_tochan(lua_State *L, int idx);
/* A global every goroutine started afterwards sees (a nil value removes it). */
LUGO_API int lugo_setglobal(const char *name, const lugo_value *v);

/* require "lugo": opens the module (and the runtime with defaults if the
** host did not) and pushes its table. Any number of states and threads of
** one process share the one runtime. */
LUGO_API int luaopen_lugo(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif

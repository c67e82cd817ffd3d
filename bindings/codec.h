/* codec.h: the value codec. Encodes Lua values into a flat message in the
** sending VM and decodes them in the receiving VM (docs/api.md, Isolation).
** Wire format: codec_wire.h; the codec's files share codec_impl.h. */
#ifndef LUGO_CODEC_H
#define LUGO_CODEC_H

#include <stddef.h>
#include <lua.h>
#include "../core/object.h"

#define CODEC_INLINE 24

/* One encoded value graph. Fixed size and free of self-pointers so that
** channels can store it by value (core moves it with memcpy). Graphs of at
** most CODEC_INLINE bytes live in inline_buf with no allocation, longer ones
** in heap; lugo objects are kept out of band in objs (each retained), so no
** pointer is ever read from the bytes. */
typedef struct codec_msg {
  size_t len;              /* encoded bytes */
  unsigned char *heap;     /* malloc'd bytes when len > CODEC_INLINE */
  lugo_obj **objs;         /* retained objects referenced by index; may be NULL */
  unsigned nobjs;
  unsigned char inline_buf[CODEC_INLINE];
} codec_msg;

/* Encodes the n values at stack index first..first+n-1 into msg, which must
** be uninitialised or freed. env is the stack index of the sender's global
** table, or 0: that table and the VM's _G travel as "the receiver's
** globals", wherever met (a function's _ENV upvalue, a value, a field).
** what names the values in error messages: "argument #%d",
** "value sent"... as a printf format taking the 1-based position (%d).
** On a value that cannot cross, raises
** "lugo: cannot transfer <type> (<where>)" and leaves msg freed. */
void codec_encode(lua_State *L, int first, int n, int env, const char *what,
                  codec_msg *msg);

/* Like codec_encode, and carries globals (docs/api.md, Isolation): the global
** names that the Lua functions among the values read or assign (through an
** _ENV that is env, nested functions included) are looked up raw in env;
** one more value follows the n: a table of those that are not nil, encoded
** in the same graph (so shared identity holds), which may carry more names
** (a global function's own globals), taken in turn. A value that cannot
** cross is named "global 'g' of argument #1". */
void codec_encode_carrying(lua_State *L, int first, int n, int env,
                           const char *what, codec_msg *msg);

/* Decodes msg, pushing its values; returns how many. env is the stack index
** of the receiver's global table (0: the VM's _G). A corrupt or truncated
** msg raises a Lua error ("lugo: corrupt message (...)"), never crashes. A
** module named in msg but not loaded here is required (it may run Lua code);
** if that fails, or a field is absent, raises "lugo: cannot resolve 'mod.f'
** (...)". msg is not freed, also when this raises: the caller owns it. */
int codec_decode(lua_State *L, const codec_msg *msg, int env);

/* Like codec_decode, but takes msg over: it is freed (and zeroed) whether
** decoding succeeds or raises. */
int codec_decode_owned(lua_State *L, codec_msg *msg, int env);

/* Fast paths for one scalar (nil, boolean, number, short string), the
** usual channel value: no per-VM state, no allocation, no env needed.
** codec_encode_scalar fills msg (uninitialised or freed) and returns 1, or
** returns 0 for anything else (use codec_encode). codec_decode_scalar
** pushes the value of such a msg and returns 1 (msg then needs no free), or
** returns 0 for anything else (use codec_decode_owned). Same wire format. */
int codec_encode_scalar(lua_State *L, int idx, codec_msg *msg);
int codec_decode_scalar(lua_State *L, codec_msg *msg);

/* Encodes the float x alone into msg; needs no Lua state. */
void codec_encode_float(codec_msg *msg, double x);

/* Makes dst (uninitialised or freed) an independent copy of src: its own
** bytes, one more reference to each object. Plain C, never raises: returns
** 0 when out of memory (dst then needs no free). */
int codec_copy(codec_msg *dst, const codec_msg *src);

/* codec_copy for callers with no way out: aborts when out of memory. */
void codec_clone(codec_msg *dst, const codec_msg *src);

/* Encodes the integer i alone into msg; needs no Lua state. */
void codec_encode_integer(codec_msg *msg, long long i);

/* If msg holds one number: 1 and *i for an integer, 2 and *f for a float;
** else 0. Plain C. */
int codec_number(const codec_msg *msg, long long *i, double *f);

/* Releases msg's buffer and object references; safe on a zeroed msg. */
void codec_free(codec_msg *msg);

#endif

/* dump.h: reading Lua 5.4 binary chunks, the bytes lua_dump writes (ldump.c).
** The reader never reads past end; a malformed chunk clears ok. */
#ifndef LUGO_DUMP_H
#define LUGO_DUMP_H

#include <stddef.h>
#include <lua.h>

/* The chunk format, the opcodes and the header size below are Lua 5.4's. */
#if LUA_VERSION_NUM != 504
#error "lugo reads Lua 5.4 binary chunks (bindings/dump.c, factory.c): build against Lua 5.4"
#endif

/* Signature .. LUAC_NUM: ldump.c's dumpHeader for Lua 5.4. Followed by one
** byte, the main function's upvalue count, then the main function. */
#define DUMP_HEADER_SIZE 31

typedef struct dump_reader {
  const unsigned char *p, *end;
  int ok;
} dump_reader;

size_t dump_read_size(dump_reader *r);     /* ldump.c dumpSize */
void dump_skip(dump_reader *r, size_t n);
void dump_skip_string(dump_reader *r);
void dump_skip_constants(dump_reader *r);

/* Pushes an array of the global names that the function dumped in the
** string at dumpidx (its bytes from offset on) reads or assigns through its upvalue env_up (0-based; the
** function's _ENV), functions nested in it included: the keys of its
** GETTABUP and SETTABUP instructions on _ENV. Each name once. Cached per
** VM with that string as the key (equal bytes, equal key: each prototype
** is read once). A chunk it cannot read gives an empty array. */
void dump_push_global_names(lua_State *L, int dumpidx, size_t offset, int env_up);

#endif

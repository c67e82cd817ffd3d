/* vmalloc.h: the memory allocator of worker VMs. A worker's Lua state is
** used by one thread only, so small blocks come from free lists with no
** lock; everything else goes to the C library. */
#ifndef LUGO_VMALLOC_H
#define LUGO_VMALLOC_H

#include <lua.h>

/* Makes L (new, used by the calling thread only from now on) allocate small
** blocks from its own free lists, and count its bytes for the limit. Blocks
** L allocated before stay valid. Without the free lists (the address space
** cannot be reserved, or AddressSanitizer, which must see every allocation)
** every block comes from the C library, still counted. */
void vmalloc_install(lua_State *L);

/* Every worker VM's memory limit in bytes (0: none), from now on: an
** allocation past it fails (lugo.config{memory = n}). Any thread. */
void vmalloc_set_limit(size_t bytes);

/* Closes L (lua_close) and releases its free lists and address range. */
void vmalloc_close(lua_State *L);

#endif

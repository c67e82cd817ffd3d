/* vmalloc.h: the memory allocator of worker VMs. A worker's Lua state is
** used by one thread only, so small blocks come from free lists with no
** lock; everything else goes to the C library. */
#ifndef LUGO_VMALLOC_H
#define LUGO_VMALLOC_H

#include <lua.h>

/* Makes L (new, used by the calling thread only from now on) allocate small
** blocks from its own free lists. Blocks L allocated before stay valid. Does
** nothing if the address space cannot be reserved, or under AddressSanitizer
** (which must see every allocation). */
void vmalloc_install(lua_State *L);

/* Closes L (lua_close) and releases its free lists and address range. */
void vmalloc_close(lua_State *L);

#endif

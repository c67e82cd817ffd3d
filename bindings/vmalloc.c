/* vmalloc.c: size-classed free lists over one reserved address range per
** worker VM (small tables, strings, closures, coroutines), C library beyond;
** and the VM's byte count, held under lugo.config{memory = n}. */
#include "vmalloc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Lua tells the allocator every block's size when it frees or resizes it,
** so blocks need no header: the class follows from the size, and whether a
** block is ours from its address (inside the reserved range or not). */
#define GRAIN 16                 /* class c holds blocks of (c + 1) * GRAIN bytes */
#define NCLASSES 32              /* up to 512 bytes */
#define MAX_SMALL (GRAIN * NCLASSES)
/* Address space reserved per VM; pages are only used once touched. Small
** blocks past it come from the C library like large ones. */
#define RESERVE ((size_t)4 << 30)

/* Off under AddressSanitizer (gcc says so with __SANITIZE_ADDRESS__, clang
** with __has_feature): it must see every block, and its leak check does
** not scan our mapped range for pointers. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LUGO_VMALLOC_OFF 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(LUGO_VMALLOC_OFF)
static const bool enabled = false;
#else
static const bool enabled = true;
#endif

typedef struct free_block {
  struct free_block *next;
} free_block;

typedef struct vm_heap {
  char *base, *top, *end;        /* the range (NULL if none: every block from
                                 ** the C library); top: first byte never handed out */
  size_t used;                   /* bytes of live blocks, as Lua counts them */
  free_block *free[NCLASSES];
  lua_Alloc next_alloc;          /* the allocator L had, for blocks not ours */
  void *next_ud;
} vm_heap;

static int class_of(size_t size) {
  return (int)((size - 1) / GRAIN);
}

static bool owns(const vm_heap *h, const void *p) {
  return h->base && (uintptr_t)p - (uintptr_t)h->base < (uintptr_t)(h->end - h->base);
}

static void *small_alloc(vm_heap *h, size_t size) {
  if (!h->base) return NULL;
  int c = class_of(size);
  free_block *b = h->free[c];
  if (b) {
    h->free[c] = b->next;
    return b;
  }
  size_t bytes = (size_t)(c + 1) * GRAIN;
  if ((size_t)(h->end - h->top) < bytes) return NULL;
  void *p = h->top;
  h->top += bytes;
  return p;
}

static void small_free(vm_heap *h, void *p, size_t size) {
  free_block *b = p;
  int c = class_of(size);
  b->next = h->free[c];
  h->free[c] = b;
}

/* lugo.config{memory = n}: each VM's limit in bytes; 0: none. */
static atomic_size_t limit;

void vmalloc_set_limit(size_t bytes) {
  atomic_store_explicit(&limit, bytes, memory_order_relaxed);
}

static void *place(vm_heap *h, void *p, size_t osize, size_t nsize);

/* lua_Alloc (see the manual, lua_Alloc): osize is the block's size when p
** is not NULL (else the kind of object). A shrink must not fail; a growth
** past the limit fails, and Lua then collects and tries again before it
** raises "not enough memory" in the goroutine that allocates. */
static void *vm_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  vm_heap *h = ud;
  size_t old = p ? osize : 0;
  size_t max = atomic_load_explicit(&limit, memory_order_relaxed);
  if (max && nsize > old && h->used - old + nsize > max) return NULL;
  void *q = place(h, p, osize, nsize);
  if (q || nsize == 0) h->used = h->used - old + nsize;
  return q;
}

static void *place(vm_heap *h, void *p, size_t osize, size_t nsize) {
  bool ours = p != NULL && owns(h, p);
  if (p != NULL && !ours) {      /* a C library block: it stays there */
    if (nsize == 0 || nsize > MAX_SMALL) return h->next_alloc(h->next_ud, p, osize, nsize);
    void *q = small_alloc(h, nsize);
    if (!q) return h->next_alloc(h->next_ud, p, osize, nsize);
    memcpy(q, p, nsize < osize ? nsize : osize);
    h->next_alloc(h->next_ud, p, osize, 0);
    return q;
  }
  if (nsize == 0) {
    if (ours) small_free(h, p, osize);
    return NULL;
  }
  if (p == NULL) {
    if (nsize <= MAX_SMALL) {
      void *q = small_alloc(h, nsize);
      if (q) return q;
    }
    return h->next_alloc(h->next_ud, NULL, 0, nsize);
  }
  /* resizing one of ours */
  if (nsize <= MAX_SMALL && class_of(nsize) == class_of(osize)) return p;
  void *q = nsize <= MAX_SMALL ? small_alloc(h, nsize) : NULL;
  if (!q) q = h->next_alloc(h->next_ud, NULL, 0, nsize);
  if (!q) return nsize < osize ? p : NULL;   /* shrinking: keep the block */
  memcpy(q, p, nsize < osize ? nsize : osize);
  small_free(h, p, osize);
  return q;
}

void vmalloc_install(lua_State *L) {
  vm_heap *h = calloc(1, sizeof *h);
  if (!h) return;
  void *base = enabled ? mmap(NULL, RESERVE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                       : MAP_FAILED;
  if (base != MAP_FAILED) {
    h->base = h->top = base;
    h->end = h->base + RESERVE;
  }
  h->used = lua_gc(L, LUA_GCCOUNT, 0) * (size_t)1024 + lua_gc(L, LUA_GCCOUNTB, 0);
  h->next_alloc = lua_getallocf(L, &h->next_ud);
  lua_setallocf(L, vm_alloc, h);
}

void vmalloc_close(lua_State *L) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  lua_close(L);
  if (f != vm_alloc) return;
  vm_heap *h = ud;
  if (h->base) munmap(h->base, RESERVE);
  free(h);
}

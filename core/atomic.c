/* atomic.c: lugo.atomic's cell: every operation is one C11 atomic
** operation (sequentially consistent, as Go's sync/atomic). */
#include "atomic.h"

#include <stdlib.h>

static void atomic_cell_destroy(lugo_obj *o) {
  free(o);
}

lugo_atomic *atomic_cell_new(long long value) {
  lugo_atomic *a = malloc(sizeof *a);
  if (!a) return NULL;
  obj_init(&a->obj, OBJ_ATOMIC, atomic_cell_destroy);
  atomic_init(&a->value, value);
  return a;
}

long long atomic_cell_load(lugo_atomic *a) {
  return atomic_load(&a->value);
}

void atomic_cell_store(lugo_atomic *a, long long value) {
  atomic_store(&a->value, value);
}

long long atomic_cell_add(lugo_atomic *a, long long delta) {
  /* Unsigned arithmetic: wraps around as Lua's integer addition does. */
  unsigned long long old = (unsigned long long)atomic_fetch_add(&a->value, delta);
  return (long long)(old + (unsigned long long)delta);
}

long long atomic_cell_swap(lugo_atomic *a, long long value) {
  return atomic_exchange(&a->value, value);
}

bool atomic_cell_cas(lugo_atomic *a, long long expected, long long desired) {
  return atomic_compare_exchange_strong(&a->value, &expected, desired);
}

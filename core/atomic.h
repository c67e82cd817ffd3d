/* atomic.h: an integer cell shared by reference (lugo.atomic), read and
** written with C11 atomics only: no lock, no waiting. */
#ifndef LUGO_ATOMIC_H
#define LUGO_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include "object.h"

typedef struct lugo_atomic {
  lugo_obj obj;              /* first: OBJ_ATOMIC */
  _Atomic long long value;
} lugo_atomic;

/* A new cell holding value, with one reference; NULL when out of memory. */
lugo_atomic *atomic_cell_new(long long value);

long long atomic_cell_load(lugo_atomic *a);
void atomic_cell_store(lugo_atomic *a, long long value);
/* Adds delta (wrapping, as Lua integers do) and returns the new value. */
long long atomic_cell_add(lugo_atomic *a, long long delta);
/* Stores value and returns the one it replaced. */
long long atomic_cell_swap(lugo_atomic *a, long long value);
/* Stores desired if the cell holds expected; says whether it did. */
bool atomic_cell_cas(lugo_atomic *a, long long expected, long long desired);

#endif

/* sharedtable.h: the store behind lugo.table: a hash map from scalar keys
** to fixed-size values that the bindings encode and core never interprets. */
#ifndef LUGO_SHAREDTABLE_H
#define LUGO_SHAREDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include "object.h"

typedef enum shared_key_type {
  SKEY_BOOL, SKEY_INT, SKEY_FLOAT, SKEY_STR
} shared_key_type;

/* A key as the bindings hand it over: a float key is never NaN and never
** has an integer value (the bindings make those SKEY_INT, as Lua does). */
typedef struct shared_key {
  shared_key_type type;
  long long i;              /* SKEY_BOOL (0 or 1), SKEY_INT */
  double f;                 /* SKEY_FLOAT */
  const char *s;            /* SKEY_STR: len bytes, owned by the caller */
  size_t len;
} shared_key;

typedef struct shared_table shared_table;

/* A new, empty table (one reference) whose values are value_size bytes;
** drop frees a value the table still holds when it is destroyed. NULL when
** out of memory. */
shared_table *shared_table_new(size_t value_size, void (*drop)(void *value));

/* Every call below but shared_table_new needs the table's lock, held by
** the caller: lock, a few calls, unlock, and nothing that can block or
** longjmp in between (so that no other thread waits long). */
void shared_table_lock(shared_table *t);
bool shared_table_trylock(shared_table *t);
void shared_table_unlock(shared_table *t);

/* A tag the bindings keep on a table whose lock is held for long (an
** update running Lua code): who holds it, or NULL. Atomic, read without
** the lock (lock-order cycle detection, see ltable.c). */
void shared_table_set_holder(shared_table *t, void *holder);
void *shared_table_holder(shared_table *t);

/* The value stored under k, or NULL. Valid until the next change. */
void *shared_table_find(shared_table *t, const shared_key *k);

/* The value under k, inserted (zeroed, *created set) if absent: the caller
** fills it. NULL when out of memory (nothing changed). */
void *shared_table_insert(shared_table *t, const shared_key *k, bool *created);

/* Removes k; its value is moved to old (value_size bytes) for the caller
** to drop after unlocking. False if k was absent. */
bool shared_table_remove(shared_table *t, const shared_key *k, void *old);

/* Number of entries. */
size_t shared_table_count(shared_table *t);

/* Entry i (0 <= i < count) in storage order: its key (strings point into
** the table) and its value. Any change reorders the entries. */
void shared_table_entry(shared_table *t, size_t i, shared_key *k, void **value);

/* A border of the integer keys, as Lua's # defines one: 0 if key 1 is
** absent, else some n with n present and n + 1 absent. */
long long shared_table_border(shared_table *t);

#endif

/* sharedtable.c: lugo.table's store. Entries are kept dense in one array
** (entry i is stride bytes: header, then the value) so iteration is a walk;
** index is an open-addressing table of entry numbers + 1 (0: empty slot),
** linear probing, at most half full, deletions shift back (no tombstones).
** Every field but holder is guarded by mu. */
#include "sharedtable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

typedef struct entry {
  uint64_t hash;
  shared_key key;           /* a string key's bytes are owned (malloc'd) */
} entry;

struct shared_table {
  lugo_obj obj;
  pthread_mutex_t mu;
  _Atomic(void *) holder;   /* not guarded: see shared_table_set_holder */
  size_t value_size, stride;
  void (*drop)(void *value);
  unsigned char *entries;   /* count entries of stride bytes */
  size_t count, capacity;   /* capacity: entries allocated */
  uint32_t *index;          /* nslots (a power of two) entry numbers + 1 */
  size_t nslots;
};

#define MIN_SLOTS 16

static entry *entry_at(shared_table *t, size_t i) {
  return (entry *)(t->entries + i * t->stride);
}

static void *value_of(shared_table *t, entry *e) {
  (void)t;
  return (unsigned char *)e + sizeof(entry);
}

/* ---- hashing ---- */

static uint64_t mix(uint64_t x) {      /* splitmix64's finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint64_t key_hash(const shared_key *k) {
  switch (k->type) {
    case SKEY_BOOL: return mix(0x9e3779b97f4a7c15ULL + (uint64_t)k->i);
    case SKEY_INT: return mix((uint64_t)k->i);
    case SKEY_FLOAT: {
      uint64_t bits;
      double f = k->f == 0 ? 0 : k->f;   /* cannot happen: 0.0 is integral */
      memcpy(&bits, &f, sizeof bits);
      return mix(bits ^ 0x5555555555555555ULL);
    }
    case SKEY_STR: {
      uint64_t h = 14695981039346656037ULL;   /* FNV-1a */
      for (size_t i = 0; i < k->len; i++) {
        h ^= (unsigned char)k->s[i];
        h *= 1099511628211ULL;
      }
      return mix(h);
    }
  }
  return 0;
}

static bool key_equal(const shared_key *a, const shared_key *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
    case SKEY_BOOL: case SKEY_INT: return a->i == b->i;
    case SKEY_FLOAT: return a->f == b->f;
    case SKEY_STR:
      return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
  }
  return false;
}

/* ---- the index ---- */

/* The slot holding k, or the empty slot where it would go. */
static size_t probe(shared_table *t, const shared_key *k, uint64_t h) {
  size_t mask = t->nslots - 1, s = (size_t)h & mask;
  for (;;) {
    uint32_t n = t->index[s];
    if (n == 0) return s;
    entry *e = entry_at(t, n - 1);
    if (e->hash == h && key_equal(&e->key, k)) return s;
    s = (s + 1) & mask;
  }
}

static bool rebuild_index(shared_table *t, size_t nslots) {
  uint32_t *index = calloc(nslots, sizeof *index);
  if (!index) return false;
  free(t->index);
  t->index = index;
  t->nslots = nslots;
  for (size_t i = 0; i < t->count; i++) {
    size_t s = (size_t)entry_at(t, i)->hash & (nslots - 1);
    while (index[s] != 0) s = (s + 1) & (nslots - 1);
    index[s] = (uint32_t)(i + 1);
  }
  return true;
}

/* Empties slot s, shifting later slots of the same run back so that every
** key stays reachable from its home slot. */
static void clear_slot(shared_table *t, size_t s) {
  size_t mask = t->nslots - 1, j = s;
  for (;;) {
    t->index[s] = 0;
    for (;;) {
      j = (j + 1) & mask;
      if (t->index[j] == 0) return;
      size_t home = (size_t)entry_at(t, t->index[j] - 1)->hash & mask;
      /* j's entry may move to s unless its home lies cyclically in (s, j] */
      bool stays = (s <= j) ? (s < home && home <= j) : (s < home || home <= j);
      if (!stays) break;
    }
    t->index[s] = t->index[j];
    s = j;
  }
}

/* ---- the table ---- */

static void shared_table_destroy(lugo_obj *o) {
  shared_table *t = (shared_table *)o;
  for (size_t i = 0; i < t->count; i++) {
    entry *e = entry_at(t, i);
    if (e->key.type == SKEY_STR) free((char *)e->key.s);
    t->drop(value_of(t, e));
  }
  free(t->entries);
  free(t->index);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

shared_table *shared_table_new(size_t value_size, void (*drop)(void *value)) {
  shared_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->index = calloc(MIN_SLOTS, sizeof *t->index);
  if (!t->index) {
    free(t);
    return NULL;
  }
  t->nslots = MIN_SLOTS;
  t->value_size = value_size;
  t->stride = (sizeof(entry) + value_size + 7) & ~(size_t)7;
  t->drop = drop;
  pthread_mutex_init(&t->mu, NULL);
  obj_init(&t->obj, OBJ_TABLE, shared_table_destroy);
  return t;
}

void shared_table_lock(shared_table *t) {
  pthread_mutex_lock(&t->mu);
}

bool shared_table_trylock(shared_table *t) {
  return pthread_mutex_trylock(&t->mu) == 0;
}

void shared_table_unlock(shared_table *t) {
  pthread_mutex_unlock(&t->mu);
}

void shared_table_set_holder(shared_table *t, void *holder) {
  atomic_store(&t->holder, holder);
}

void *shared_table_holder(shared_table *t) {
  return atomic_load(&t->holder);
}

void *shared_table_find(shared_table *t, const shared_key *k) {
  uint64_t h = key_hash(k);
  uint32_t n = t->index[probe(t, k, h)];
  return n ? value_of(t, entry_at(t, n - 1)) : NULL;
}

void *shared_table_insert(shared_table *t, const shared_key *k, bool *created) {
  uint64_t h = key_hash(k);
  size_t s = probe(t, k, h);
  *created = false;
  if (t->index[s] != 0) return value_of(t, entry_at(t, t->index[s] - 1));
  if (t->count == UINT32_MAX - 1) return NULL;
  if (t->count == t->capacity) {
    size_t cap = t->capacity ? t->capacity * 2 : 8;
    unsigned char *grown = realloc(t->entries, cap * t->stride);
    if (!grown) return NULL;
    t->entries = grown;
    t->capacity = cap;
  }
  char *copy = NULL;
  if (k->type == SKEY_STR) {
    copy = malloc(k->len ? k->len : 1);
    if (!copy) return NULL;
    if (k->len) memcpy(copy, k->s, k->len);   /* s may be NULL when empty */
  }
  if ((t->count + 1) * 2 > t->nslots) {
    if (!rebuild_index(t, t->nslots * 2)) {
      free(copy);
      return NULL;
    }
    s = probe(t, k, h);
  }
  entry *e = entry_at(t, t->count);
  e->hash = h;
  e->key = *k;
  if (copy) e->key.s = copy;
  memset(value_of(t, e), 0, t->value_size);
  t->index[s] = (uint32_t)(++t->count);
  *created = true;
  return value_of(t, e);
}

bool shared_table_remove(shared_table *t, const shared_key *k, void *old) {
  uint64_t h = key_hash(k);
  size_t s = probe(t, k, h);
  if (t->index[s] == 0) return false;
  size_t i = t->index[s] - 1, last = t->count - 1;
  entry *e = entry_at(t, i);
  memcpy(old, value_of(t, e), t->value_size);
  if (e->key.type == SKEY_STR) free((char *)e->key.s);
  clear_slot(t, s);
  if (i != last) {          /* the last entry moves into the hole */
    entry *moved = entry_at(t, last);
    size_t ms = probe(t, &moved->key, moved->hash);
    memcpy(e, moved, t->stride);
    t->index[ms] = (uint32_t)(i + 1);
  }
  t->count--;
  return true;
}

size_t shared_table_count(shared_table *t) {
  return t->count;
}

void shared_table_entry(shared_table *t, size_t i, shared_key *k, void **value) {
  entry *e = entry_at(t, i);
  *k = e->key;
  *value = value_of(t, e);
}

long long shared_table_border(shared_table *t) {
  shared_key k = {SKEY_INT, 1, 0, NULL, 0};
  if (!shared_table_find(t, &k)) return 0;
  /* as luaH_getn's hash_search: double j while present, then bisect */
  long long i = 1, j = 2;
  for (;;) {
    k.i = j;
    if (!shared_table_find(t, &k)) break;
    i = j;
    if (j > LLONG_MAX / 2) {       /* pathological: walk linearly */
      k.i = 1;
      while (k.i < LLONG_MAX && (k.i++, shared_table_find(t, &k))) {}
      return k.i - 1;
    }
    j *= 2;
  }
  while (j - i > 1) {            /* i present, j absent */
    long long m = i + (j - i) / 2;
    k.i = m;
    if (shared_table_find(t, &k)) i = m;
    else j = m;
  }
  return i;
}

/* test_sharedtable.c: checks core/sharedtable.c: key types, random ops vs a model,
** growth, entries, border, drop, trylock, holder; threads under the table lock. */

#include "../../core/object.h"
#include "../../core/sharedtable.h"

#include "harness.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long scale;

/* ---- keys and values -------------------------------------------------- */

static shared_key kint(long long i) {
  shared_key k = {SKEY_INT, i, 0, NULL, 0};
  return k;
}

static shared_key kbool(bool b) {
  shared_key k = {SKEY_BOOL, b ? 1 : 0, 0, NULL, 0};
  return k;
}

static shared_key kflt(double f) {
  shared_key k = {SKEY_FLOAT, 0, f, NULL, 0};
  return k;
}

static shared_key kstr(const char *s, size_t len) {
  shared_key k = {SKEY_STR, 0, 0, s, len};
  return k;
}

static bool same_key(const shared_key *a, const shared_key *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
    case SKEY_BOOL: case SKEY_INT: return a->i == b->i;
    case SKEY_FLOAT: return a->f == b->f;
    case SKEY_STR:
      return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
  }
  return false;
}

/* A 12-byte value (not a multiple of 8: the entry stride rounds up). */
typedef struct val12 {
  uint32_t idx, version, check;
} val12;

static void no_drop(void *value) {
  (void)value;
}

static bool has(shared_table *t, shared_key k) {
  return shared_table_find(t, &k) != NULL;
}

/* Inserts k with v, returning whether it was created. */
static bool put(shared_table *t, shared_key k, val12 v) {
  bool created = false;
  val12 *p = shared_table_insert(t, &k, &created);
  CHECK(p != NULL);
  if (p) memcpy(p, &v, sizeof v);
  return created;
}

/* ---- every key type ------------------------------------------------- */

static void test_key_types(void) {
  shared_table *t = shared_table_new(sizeof(val12), no_drop);
  CHECK(t != NULL);
  CHECK(((lugo_obj *)t)->kind == OBJ_TABLE);
  shared_table_lock(t);
  CHECK(shared_table_count(t) == 0);

  /* keys that look alike but differ in type or bytes: all distinct */
  static const char bin1[] = {'a', 0, 'b'}, bin2[] = {'a', 0, 'c'}, nul1[] = {0},
                    nul2[] = {0, 0}, a0[] = {'a', 0};
  char longs[300];
  for (int i = 0; i < 300; i++) longs[i] = (char)(i * 7 + 1);
  shared_key keys[] = {
    kbool(false), kbool(true),
    kint(0), kint(1), kint(-1), kint(2), kint(LLONG_MAX), kint(LLONG_MIN), kint(1LL << 40),
    kflt(0.5), kflt(-0.5), kflt(1.5), kflt(1e300), kflt(-1e300), kflt(INFINITY),
    kflt(-INFINITY), kflt(5e-324), kflt(0.1),
    kstr("", 0), kstr(nul1, 1), kstr(nul2, 2), kstr("a", 1), kstr(a0, 2), kstr(bin1, 3),
    kstr(bin2, 3), kstr("1", 1), kstr("true", 4), kstr("0.5", 3), kstr(longs, 300),
    kstr(longs, 299),
  };
  enum { NK = sizeof keys / sizeof keys[0] };

  for (int i = 0; i < NK; i++) {
    CHECK(!has(t, keys[i]));
    bool created = false;
    val12 *p = shared_table_insert(t, &keys[i], &created);
    CHECK(p != NULL && created);
    CHECK(p->idx == 0 && p->version == 0 && p->check == 0);   /* zeroed */
    p->idx = (uint32_t)i;
    p->version = 1;
    p->check = ~(uint32_t)i;
    CHECK(shared_table_count(t) == (size_t)i + 1);
  }
  for (int i = 0; i < NK; i++) {
    val12 *p = shared_table_find(t, &keys[i]);
    CHECK(p != NULL && p->idx == (uint32_t)i && p->check == ~(uint32_t)i);
  }
  /* near misses are absent */
  CHECK(!has(t, kint(3)));
  CHECK(!has(t, kflt(0.25)));
  CHECK(!has(t, kstr("b", 1)));
  /* a prefix of bin1 is the key a0 ("a\0"), found through other bytes */
  CHECK(shared_table_find(t, &(shared_key){SKEY_STR, 0, 0, bin1, 2}) ==
        shared_table_find(t, &keys[22]));
  CHECK(keys[22].s == a0 && keys[22].len == 2);
  CHECK(!has(t, kstr("a\0d", 3)));
  CHECK(!has(t, kstr(longs, 298)));

  /* inserting a present key: same value, not created, content kept */
  for (int i = 0; i < NK; i++) {
    bool created = true;
    val12 *p = shared_table_insert(t, &keys[i], &created);
    CHECK(p != NULL && !created);
    CHECK(p == shared_table_find(t, &keys[i]));
    CHECK(p->idx == (uint32_t)i && p->version == 1);
  }
  CHECK(shared_table_count(t) == NK);

  /* the table copies string keys: the caller's buffer may go */
  char *tmp = malloc(5);
  memcpy(tmp, "te\0mp", 5);
  CHECK(put(t, kstr(tmp, 5), (val12){999, 1, 0}));
  memset(tmp, 'x', 5);
  free(tmp);
  val12 *p = shared_table_find(t, &(shared_key){SKEY_STR, 0, 0, "te\0mp", 5});
  CHECK(p != NULL && p->idx == 999);
  CHECK(!has(t, kstr("xxxxx", 5)));

  /* remove each (the value comes back), every other key stays */
  val12 old;
  CHECK(shared_table_remove(t, &(shared_key){SKEY_STR, 0, 0, "te\0mp", 5}, &old));
  CHECK(old.idx == 999);
  for (int i = 0; i < NK; i += 2) {
    memset(&old, 0xff, sizeof old);
    CHECK(shared_table_remove(t, &keys[i], &old));
    CHECK(old.idx == (uint32_t)i && old.check == ~(uint32_t)i);
    CHECK(!has(t, keys[i]));
    memset(&old, 0x5a, sizeof old);
    CHECK(!shared_table_remove(t, &keys[i], &old));      /* absent: false */
    CHECK(old.idx == 0x5a5a5a5a);                         /* old untouched */
  }
  CHECK(shared_table_count(t) == NK / 2);
  for (int i = 0; i < NK; i++) {
    val12 *q = shared_table_find(t, &keys[i]);
    if (i % 2) CHECK(q != NULL && q->idx == (uint32_t)i);
    else CHECK(q == NULL);
  }
  /* reinsert: zeroed again */
  for (int i = 0; i < NK; i += 2) {
    bool created = false;
    val12 *q = shared_table_insert(t, &keys[i], &created);
    CHECK(q && created && q->idx == 0 && q->version == 0);
    q->idx = (uint32_t)i;
  }
  CHECK(shared_table_count(t) == NK);

  /* entries: each key once, strings point into the table, value = find's */
  bool seen[NK] = {false};
  for (size_t e = 0; e < shared_table_count(t); e++) {
    shared_key k;
    void *v;
    shared_table_entry(t, e, &k, &v);
    val12 *q = v;
    CHECK(q->idx < NK);
    if (q->idx >= NK) continue;
    CHECK(!seen[q->idx]);
    seen[q->idx] = true;
    CHECK(same_key(&k, &keys[q->idx]));
    if (k.type == SKEY_STR && k.len > 0) CHECK(k.s != keys[q->idx].s);
    CHECK(shared_table_find(t, &k) == v);
  }
  for (int i = 0; i < NK; i++) CHECK(seen[i]);

  for (int i = 0; i < NK; i++) CHECK(shared_table_remove(t, &keys[i], &old));
  CHECK(shared_table_count(t) == 0);
  for (int i = 0; i < NK; i++) CHECK(!has(t, keys[i]));
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);

  /* zero-byte values: a set */
  shared_table *s = shared_table_new(0, no_drop);
  shared_table_lock(s);
  bool created;
  CHECK(shared_table_insert(s, &keys[3], &created) != NULL && created);
  CHECK(shared_table_insert(s, &keys[3], &created) != NULL && !created);
  CHECK(has(s, keys[3]) && !has(s, keys[4]));
  char none[1];
  CHECK(shared_table_remove(s, &keys[3], none));
  CHECK(shared_table_count(s) == 0);
  shared_table_unlock(s);
  obj_release((lugo_obj *)s);
}

/* ---- random operations against a model -------------------------------- */

typedef struct model_key {
  shared_key k;
  bool present;
  val12 v;
} model_key;

static model_key *pool;
static int npool;

static void pool_add(shared_key k) {
  pool[npool++].k = k;
}

/* About 2,100 keys of every type; string bytes in malloc'd buffers of
** their exact length (ASan: no read past them). */
static void make_pool(void) {
  pool = calloc(2200, sizeof *pool);
  npool = 0;
  pool_add(kbool(false));
  pool_add(kbool(true));
  for (int i = -200; i < 600; i++) pool_add(kint(i));
  for (int i = 0; i < 40; i++) pool_add(kint((long long)i << 36));
  pool_add(kint(LLONG_MAX));
  pool_add(kint(LLONG_MIN));
  for (int i = 0; i < 400; i++) pool_add(kflt(i + 0.5));
  for (int i = 0; i < 100; i++) pool_add(kflt(-i - 0.25));
  pool_add(kflt(1e300));
  pool_add(kflt(-INFINITY));
  pool_add(kflt(5e-324));
  for (int i = 0; i < 700; i++) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "s%d", i);
    if (i % 7 == 0) buf[1] = 0;                 /* NUL inside */
    if (i % 11 == 0) len = 1 + i % 3;           /* a prefix (may repeat: see below) */
    char *s = malloc(len ? (size_t)len : 1);
    memcpy(s, buf, (size_t)len);
    pool_add(kstr(s, (size_t)len));
  }
  /* drop exact duplicates among the strings (the model needs unique keys) */
  int n = 0;
  for (int i = 0; i < npool; i++) {
    bool dup = false;
    for (int j = 0; j < n && !dup; j++) dup = same_key(&pool[j].k, &pool[i].k);
    if (dup) free((char *)pool[i].k.s);
    else pool[n++] = pool[i];
  }
  npool = n;
  char *e = malloc(1);                          /* the empty string */
  pool_add(kstr(e, 0));
}

static void free_pool(void) {
  for (int i = 0; i < npool; i++)
    if (pool[i].k.type == SKEY_STR) free((char *)pool[i].k.s);
  free(pool);
}

static unsigned long long rng_state = 0x853c49e6748fea9bULL;

static unsigned rnd(unsigned n) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)((rng_state >> 33) % n);
}

/* The keys in use: pool[0..nused-1]. */
static int nused;

/* The whole table against the model: count, every key, every entry once. */
static void check_model(shared_table *t, const char *when) {
  size_t want = 0;
  long bad = 0;
  for (int i = 0; i < nused; i++) {
    val12 *p = shared_table_find(t, &pool[i].k);
    if (pool[i].present) {
      want++;
      if (!p || memcmp(p, &pool[i].v, sizeof *p) != 0) bad++;
    } else if (p) {
      bad++;
    }
  }
  CHECK(shared_table_count(t) == want);
  unsigned char *seen = calloc((size_t)nused, 1);
  for (size_t e = 0; e < shared_table_count(t); e++) {
    shared_key k;
    void *v;
    shared_table_entry(t, e, &k, &v);
    val12 *p = v;
    if (p->idx >= (uint32_t)nused || seen[p->idx] || !pool[p->idx].present ||
        !same_key(&k, &pool[p->idx].k) || shared_table_find(t, &k) != v) {
      bad++;
      continue;
    }
    seen[p->idx] = 1;
  }
  free(seen);
  if (bad) fprintf(stderr, "  model mismatch (%s): %ld\n", when, bad);
  CHECK(bad == 0);
}

/* nops random operations on a fresh table with `keys` keys of the pool (a
** random subset, or all): few keys keep the index small, and each subset
** has its own home slots, some near the end of the index, so that probe
** runs wrap around it. */
static void test_random_ops(long nops, int keys, bool quiet) {
  double t0 = now();
  for (int i = npool - 1; i > 0; i--) {         /* shuffle: a random subset first */
    int j = (int)rnd((unsigned)i + 1);
    model_key tmp = pool[i];
    pool[i] = pool[j];
    pool[j] = tmp;
  }
  nused = keys < npool ? keys : npool;
  for (int i = 0; i < npool; i++) {
    pool[i].present = false;
    memset(&pool[i].v, 0, sizeof pool[i].v);
  }
  shared_table *t = shared_table_new(sizeof(val12), no_drop);
  shared_table_lock(t);
  long inserts = 0, removes = 0, finds = 0, bad = 0;
  size_t max_count = 0;
  for (long op = 0; op < nops; op++) {
    /* phases: grow (mostly inserts), then shrink (mostly removes) */
    bool growing = (op / (nused > 100 ? 20000 : 50)) % 2 == 0;
    unsigned r = rnd(100);
    int i = (int)rnd((unsigned)nused);
    model_key *mk = &pool[i];
    if (r < (growing ? 55u : 25u)) {
      inserts++;
      bool created = false;
      val12 *p = shared_table_insert(t, &mk->k, &created);
      if (!p || created == mk->present) bad++;
      if (p && !created && memcmp(p, &mk->v, sizeof *p) != 0) bad++;
      if (p && created && (p->idx || p->version || p->check)) bad++;
      mk->present = true;
      mk->v.idx = (uint32_t)i;
      mk->v.version++;
      mk->v.check = (uint32_t)rnd(1u << 30);
      if (p) memcpy(p, &mk->v, sizeof *p);
    } else if (r < 80) {
      removes++;
      val12 old = {0, 0, 0};
      bool removed = shared_table_remove(t, &mk->k, &old);
      if (removed != mk->present) bad++;
      if (removed && memcmp(&old, &mk->v, sizeof old) != 0) bad++;
      mk->present = false;
    } else {
      finds++;
      val12 *p = shared_table_find(t, &mk->k);
      if ((p != NULL) != mk->present) bad++;
      if (p && memcmp(p, &mk->v, sizeof *p) != 0) bad++;
    }
    if (shared_table_count(t) > max_count) max_count = shared_table_count(t);
    if (op % (nused > 100 ? 5000 : 500) == 499) check_model(t, "periodic");
  }
  CHECK(bad == 0);
  check_model(t, "end");
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);
  if (!quiet)
    printf("  %ld random ops over %d keys: %ld inserts, %ld removes, %ld finds, up to %zu "
           "entries, %.2f s\n",
           nops, nused, inserts, removes, finds, max_count, now() - t0);
}

/* ---- growth ------------------------------------------------------------ */

static void test_growth(long n) {
  double t0 = now();
  shared_table *t = shared_table_new(sizeof(val12), no_drop);
  shared_table_lock(t);
  /* keys whose low bits collide (multiples of 2^20) and plain ones */
  for (long i = 0; i < n; i++) {
    long long key = i % 2 ? i : (long long)i << 20;
    CHECK(put(t, kint(key), (val12){(uint32_t)i, 7, (uint32_t)~i}));
    if (shared_table_count(t) != (size_t)i + 1) {
      CHECK(shared_table_count(t) == (size_t)i + 1);
      break;
    }
  }
  long bad = 0;
  for (long i = 0; i < n; i++) {
    long long key = i % 2 ? i : (long long)i << 20;
    val12 *p = shared_table_find(t, &(shared_key){SKEY_INT, key, 0, NULL, 0});
    if (!p || p->idx != (uint32_t)i || p->check != (uint32_t)~i) bad++;
  }
  CHECK(bad == 0);
  /* remove all but every seventh, then check again */
  for (long i = 0; i < n; i++) {
    if (i % 7 == 0) continue;
    long long key = i % 2 ? i : (long long)i << 20;
    val12 old;
    if (!shared_table_remove(t, &(shared_key){SKEY_INT, key, 0, NULL, 0}, &old) ||
        old.idx != (uint32_t)i)
      bad++;
  }
  CHECK(bad == 0);
  CHECK(shared_table_count(t) == (size_t)((n + 6) / 7));
  for (long i = 0; i < n; i++) {
    long long key = i % 2 ? i : (long long)i << 20;
    val12 *p = shared_table_find(t, &(shared_key){SKEY_INT, key, 0, NULL, 0});
    if (i % 7 == 0 ? (!p || p->idx != (uint32_t)i) : p != NULL) bad++;
  }
  CHECK(bad == 0);
  /* grow again through the emptied slots */
  for (long i = 0; i < n; i++) {
    if (i % 7 == 0) continue;
    long long key = i % 2 ? i : (long long)i << 20;
    if (!put(t, kint(key), (val12){(uint32_t)i, 8, 0})) bad++;
  }
  CHECK(bad == 0);
  CHECK(shared_table_count(t) == (size_t)n);
  for (long i = 0; i < n; i++) {
    long long key = i % 2 ? i : (long long)i << 20;
    val12 *p = shared_table_find(t, &(shared_key){SKEY_INT, key, 0, NULL, 0});
    if (!p || p->idx != (uint32_t)i || p->version != (i % 7 == 0 ? 7u : 8u)) bad++;
  }
  CHECK(bad == 0);
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);
  printf("  growth: %ld keys, %.2f s\n", n, now() - t0);
}

/* ---- border ------------------------------------------------------------ */

static bool is_border(shared_table *t, long long b) {
  if (b == 0) return !has(t, kint(1));
  return has(t, kint(b)) && (b == LLONG_MAX || !has(t, kint(b + 1)));
}

static void test_border(void) {
  shared_table *t = shared_table_new(sizeof(val12), no_drop);
  shared_table_lock(t);
  val12 v = {0, 0, 0};
  CHECK(shared_table_border(t) == 0);            /* empty */
  put(t, kint(2), v);
  put(t, kint(3), v);
  put(t, kint(0), v);
  put(t, kint(-1), v);
  CHECK(shared_table_border(t) == 0);            /* 1 absent */
  /* other key types with "1"-like values do not count */
  put(t, kbool(true), v);
  put(t, kflt(1.5), v);
  put(t, kstr("1", 1), v);
  CHECK(shared_table_border(t) == 0);
  put(t, kint(1), v);
  CHECK(shared_table_border(t) == 3);            /* 1, 2, 3 */
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);

  /* full sequences 1..n give n */
  t = shared_table_new(sizeof(val12), no_drop);
  shared_table_lock(t);
  long bad = 0;
  for (long long n = 1; n <= 3000; n++) {
    put(t, kint(n), v);
    if (shared_table_border(t) != n) bad++;
  }
  CHECK(bad == 0);
  /* then remove from the top: n - 1 each time */
  val12 old;
  for (long long n = 3000; n >= 1; n--) {
    CHECK(shared_table_remove(t, &(shared_key){SKEY_INT, n, 0, NULL, 0}, &old));
    if (shared_table_border(t) != n - 1) bad++;
  }
  CHECK(bad == 0);
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);

  /* with gaps: some border, n present and n + 1 absent */
  for (int round = 0; round < 200; round++) {
    t = shared_table_new(sizeof(val12), no_drop);
    shared_table_lock(t);
    int top = 1 + (int)rnd(2000);
    unsigned density = 50 + rnd(50);
    put(t, kint(1), v);
    for (int i = 2; i <= top; i++)
      if (rnd(100) < density) put(t, kint(i), v);
    long long b = shared_table_border(t);
    if (b < 1 || !is_border(t, b)) bad++;
    shared_table_unlock(t);
    obj_release((lugo_obj *)t);
  }
  CHECK(bad == 0);

  /* pathological: 1, 2, 4, ..., 2^62 (doubling reaches the overflow guard) */
  t = shared_table_new(sizeof(val12), no_drop);
  shared_table_lock(t);
  for (int e = 0; e <= 62; e++) put(t, kint(1LL << e), v);
  long long b = shared_table_border(t);
  CHECK(is_border(t, b) && b >= 1);
  /* and a long run 1..100 plus LLONG_MAX */
  for (long long i = 1; i <= 100; i++) put(t, kint(i), v);
  put(t, kint(LLONG_MAX), v);
  b = shared_table_border(t);
  CHECK(is_border(t, b) && b >= 1);
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);
}

/* ---- drop ---------------------------------------------------------- */

typedef struct dval {
  int id;
  char *payload;                 /* malloc'd: drop frees it */
} dval;

#define NDROP 1000
static int dropped[NDROP];
static int drop_calls;

static void drop_dval(void *value) {
  dval *d = value;
  drop_calls++;
  if (d->id >= 0 && d->id < NDROP) dropped[d->id]++;
  free(d->payload);
}

static void test_drop(void) {
  memset(dropped, 0, sizeof dropped);
  drop_calls = 0;
  shared_table *t = shared_table_new(sizeof(dval), drop_dval);
  shared_table_lock(t);
  for (int i = 0; i < NDROP; i++) {
    char name[16];
    int len = snprintf(name, sizeof name, "k%d", i);
    shared_key k = i % 2 ? kint(i) : kstr(name, (size_t)len);
    bool created;
    dval *d = shared_table_insert(t, &k, &created);
    CHECK(d && created);
    d->id = i;
    d->payload = malloc(32);
    snprintf(d->payload, 32, "payload %d", i);
  }
  /* removed values are the caller's to drop, not the table's */
  for (int i = 0; i < NDROP; i += 3) {
    char name[16];
    int len = snprintf(name, sizeof name, "k%d", i);
    shared_key k = i % 2 ? kint(i) : kstr(name, (size_t)len);
    dval old;
    CHECK(shared_table_remove(t, &k, &old));
    CHECK(old.id == i);
    free(old.payload);
  }
  /* an overwrite in place: the caller replaces (and frees) the payload */
  bool created;
  dval *d = shared_table_insert(t, &(shared_key){SKEY_INT, 1, 0, NULL, 0}, &created);
  CHECK(d && !created && d->id == 1);
  free(d->payload);
  d->payload = malloc(8);
  size_t held = shared_table_count(t);
  shared_table_unlock(t);
  CHECK(drop_calls == 0);

  /* a release that is not the last drops nothing */
  obj_retain((lugo_obj *)t);
  obj_release((lugo_obj *)t);
  CHECK(drop_calls == 0);
  shared_table_lock(t);
  CHECK(shared_table_count(t) == held);
  shared_table_unlock(t);

  /* the last one drops each value still held, once */
  obj_release((lugo_obj *)t);
  CHECK(drop_calls == (int)held);
  long bad = 0;
  for (int i = 0; i < NDROP; i++)
    if (dropped[i] != (i % 3 == 0 ? 0 : 1)) bad++;
  CHECK(bad == 0);

  /* an emptied table drops nothing */
  drop_calls = 0;
  t = shared_table_new(sizeof(dval), drop_dval);
  shared_table_lock(t);
  d = shared_table_insert(t, &(shared_key){SKEY_STR, 0, 0, "x", 1}, &created);
  d->id = -1;
  d->payload = NULL;
  dval old;
  CHECK(shared_table_remove(t, &(shared_key){SKEY_STR, 0, 0, "x", 1}, &old));
  shared_table_unlock(t);
  obj_release((lugo_obj *)t);
  CHECK(drop_calls == 0);
}

/* ---- lock, trylock, holder -------------------------------------------- */

static struct {
  shared_table *t;
  bool got;
} tl;

static void *trylock_main(void *arg) {
  (void)arg;
  tl.got = shared_table_trylock(tl.t);
  if (tl.got) shared_table_unlock(tl.t);
  return NULL;
}

static void test_trylock_holder(void) {
  tl.t = shared_table_new(8, no_drop);
  pthread_t th;
  shared_table_lock(tl.t);
  CHECK(pthread_create(&th, NULL, trylock_main, NULL) == 0);
  pthread_join(th, NULL);
  CHECK(!tl.got);                               /* held here */
  shared_table_unlock(tl.t);
  CHECK(pthread_create(&th, NULL, trylock_main, NULL) == 0);
  pthread_join(th, NULL);
  CHECK(tl.got);                                /* free */
  CHECK(shared_table_trylock(tl.t));
  shared_table_unlock(tl.t);

  int a, b;
  CHECK(shared_table_holder(tl.t) == NULL);
  shared_table_set_holder(tl.t, &a);
  CHECK(shared_table_holder(tl.t) == &a);
  shared_table_set_holder(tl.t, &b);
  CHECK(shared_table_holder(tl.t) == &b);
  shared_table_set_holder(tl.t, NULL);
  CHECK(shared_table_holder(tl.t) == NULL);
  obj_release((lugo_obj *)tl.t);
}

/* ---- threads ---------------------------------------------------------- */

/* NT threads, each with its own int keys (disjoint: only it changes them,
** its model is private) and all sharing NSHARED string keys and NSHARED
** small int keys (overlapping: their model is guarded by the table lock).
** Every operation is checked against the models; at the end the whole
** table must match them. */
#define NT 4
#define NSHARED 64
#define OWN_KEYS 1500

typedef struct tval {
  int writer;                    /* thread id */
  int seq;
} tval;

static struct {
  shared_table *t;
  long ops;
  /* guarded by the table lock */
  bool shared_present[2 * NSHARED];
  tval shared_val[2 * NSHARED];
  char shared_names[NSHARED][16];
  size_t shared_len[NSHARED];
  /* per thread, private until joined */
  bool own_present[NT][OWN_KEYS];
  tval own_val[NT][OWN_KEYS];
  atomic_long bad, try_spins;
} th;

static shared_key shared_key_of(int s) {
  if (s < NSHARED) return kstr(th.shared_names[s], th.shared_len[s]);
  return kint(s - NSHARED);     /* ints 0..NSHARED-1 */
}

static shared_key own_key_of(int id, int i) {
  return kint(1000000LL * (id + 1) + i);
}

static void *table_thread(void *arg) {
  int id = (int)(uintptr_t)arg;
  unsigned long long seed = 0x9e3779b97f4a7c15ULL * (unsigned long long)(id + 1);
  long bad = 0;
  for (long op = 0; op < th.ops; op++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned r = (unsigned)(seed >> 33);
    if (r % 16 == 0) {
      while (!shared_table_trylock(th.t)) {
        atomic_fetch_add_explicit(&th.try_spins, 1, memory_order_relaxed);
        sched_yield();
      }
    } else {
      shared_table_lock(th.t);
    }
    bool own = (r >> 4) % 2;
    int kind = (int)((r >> 5) % 3);             /* 0 insert, 1 remove, 2 find */
    bool *present;
    tval *val;
    shared_key k;
    if (own) {
      int i = (int)((r >> 7) % OWN_KEYS);
      k = own_key_of(id, i);
      present = &th.own_present[id][i];
      val = &th.own_val[id][i];
    } else {
      int s = (int)((r >> 7) % (2 * NSHARED));
      k = shared_key_of(s);
      present = &th.shared_present[s];
      val = &th.shared_val[s];
    }
    if (kind == 0) {
      bool created;
      tval *p = shared_table_insert(th.t, &k, &created);
      if (!p || created == *present) bad++;
      else if (!created && (p->writer != val->writer || p->seq != val->seq)) bad++;
      if (p) {
        p->writer = id;
        p->seq = (int)op;
      }
      *present = true;
      val->writer = id;
      val->seq = (int)op;
    } else if (kind == 1) {
      tval old;
      bool removed = shared_table_remove(th.t, &k, &old);
      if (removed != *present) bad++;
      else if (removed && (old.writer != val->writer || old.seq != val->seq)) bad++;
      *present = false;
    } else {
      tval *p = shared_table_find(th.t, &k);
      if ((p != NULL) != *present) bad++;
      else if (p && (p->writer != val->writer || p->seq != val->seq)) bad++;
    }
    if (op % 997 == 0) {
      /* a walk over the entries sees count distinct, findable keys */
      size_t n = shared_table_count(th.t);
      for (size_t e = 0; e < n; e++) {
        shared_key ek;
        void *v;
        shared_table_entry(th.t, e, &ek, &v);
        if (shared_table_find(th.t, &ek) != v) bad++;
      }
    }
    shared_table_unlock(th.t);
    if (op % 64 == 0) sched_yield();
  }
  atomic_fetch_add(&th.bad, bad);
  return NULL;
}

static void test_threads(long ops) {
  double t0 = now();
  memset(&th, 0, sizeof th);
  th.t = shared_table_new(sizeof(tval), no_drop);
  th.ops = ops;
  for (int s = 0; s < NSHARED; s++) {
    int len = snprintf(th.shared_names[s], sizeof th.shared_names[s], "sh%d", s);
    if (s % 5 == 0) th.shared_names[s][1] = 0;  /* NUL inside: "s\0h5" */
    th.shared_len[s] = (size_t)len;
  }
  pthread_t t[NT];
  for (int i = 0; i < NT; i++)
    CHECK(pthread_create(&t[i], NULL, table_thread, (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  CHECK(atomic_load(&th.bad) == 0);

  /* the final contents match the models exactly */
  shared_table_lock(th.t);
  size_t want = 0;
  long bad = 0;
  for (int s = 0; s < 2 * NSHARED; s++) {
    shared_key k = shared_key_of(s);
    tval *p = shared_table_find(th.t, &k);
    if (th.shared_present[s]) {
      want++;
      tval *want_v = &th.shared_val[s];
      if (!p || p->writer != want_v->writer || p->seq != want_v->seq) bad++;
    } else if (p) {
      bad++;
    }
  }
  for (int id = 0; id < NT; id++)
    for (int i = 0; i < OWN_KEYS; i++) {
      shared_key k = own_key_of(id, i);
      tval *p = shared_table_find(th.t, &k);
      if (th.own_present[id][i]) {
        want++;
        if (!p || p->writer != id || p->seq != th.own_val[id][i].seq) bad++;
      } else if (p) {
        bad++;
      }
    }
  CHECK(bad == 0);
  CHECK(shared_table_count(th.t) == want);
  shared_table_unlock(th.t);
  obj_release((lugo_obj *)th.t);
  printf("  %d threads x %ld ops: %zu entries at the end, %ld trylock spins, %.2f s\n", NT,
         ops, want, atomic_load(&th.try_spins), now() - t0);
}

int main(void) {
  scale = test_scale(4);
  harness_begin("test_sharedtable");

  printf("test_sharedtable: single thread\n");
  set_phase("test_key_types");
  test_key_types();
  set_phase("test_random_ops");
  make_pool();
  test_random_ops(100000, 1 << 30, false);
  /* 100 small tables of 24 random keys: each key set has its own home
  ** slots, some near the end of the index */
  for (int r = 0; r < 100; r++) test_random_ops(1000, 24, true);
  free_pool();
  printf("  100 x 1000 random ops over 24 random keys\n");
  set_phase("test_growth");
  test_growth(100000 / scale);
  set_phase("test_border");
  test_border();
  set_phase("test_drop");
  test_drop();
  set_phase("test_trylock_holder");
  test_trylock_holder();

  printf("test_sharedtable: threads (stress counts / %ld)\n", scale);
  set_phase("test_threads");
  test_threads(200000 / scale);

  return harness_end();
}

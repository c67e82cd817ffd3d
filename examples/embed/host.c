/* host.c: a C program that embeds lugo (docs/embedding.md walks through it).
** It opens the runtime with a C module of its own in every Lua state, runs
** worker.lua (four goroutines), feeds them the lines of a file from a thread
** of its own, collects their results in its own poll(2) event loop, checks
** them, closes the runtime, and opens it once more.
** Usage: embed_host [file]   (default: input.txt, beside worker.lua) */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lugo.h>

/* ---- the host's C module: require "host" in any goroutine ---- */

static int host_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

static int open_host(lua_State *L) {
  static const luaL_Reg funcs[] = {{"clock", host_clock}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

/* lugo calls this in every Lua state it makes (each worker's, and the one of
** each lugo_dofile), on that state's thread. */
static int on_state(lua_State *L, void *ud) {
  (void)ud;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_host);
  lua_setfield(L, -2, "host");
  lua_pop(L, 1);
  return 0;
}

static void on_panic(const char *report, void *ud) {
  (void)ud;
  fprintf(stderr, "a goroutine failed (the host goes on):\n%s", report);
}

static int fail(const char *what) {
  fprintf(stderr, "embed_host: %s: %s\n", what, lugo_errmsg());
  return 1;
}

/* ---- the feeder: a host thread sending lines ---- */

typedef struct feeder {
  const char *path;
  lugo_chan *lines;
  long sent, words, chars;   /* what it sent, to check the results by */
  int rc;
} feeder;

static long count_words(const char *s) {
  long n = 0;
  for (const char *p = s; *p; p++)
    if (*p != ' ' && *p != '\t' && (p == s || p[-1] == ' ' || p[-1] == '\t')) n++;
  return n;
}

static void *feed(void *arg) {
  feeder *f = arg;
  FILE *in = fopen(f->path, "r");
  if (!in) {
    fprintf(stderr, "embed_host: cannot open %s: %s\n", f->path, strerror(errno));
    f->rc = 1;
  }
  char buf[4096];
  while (in && fgets(buf, sizeof buf, in)) {
    buf[strcspn(buf, "\n")] = '\0';
    lugo_value v = {.type = LUGO_TSTRING};
    v.u.s.ptr = buf;                 /* lugo_send copies it */
    v.u.s.len = strlen(buf);
    if (lugo_send(f->lines, &v, -1) != LUGO_OK) {
      f->rc = fail("lugo_send");
      break;
    }
    f->sent++;
    f->words += count_words(buf);
    f->chars += (long)v.u.s.len;
  }
  if (in) fclose(in);
  lugo_chan_close(f->lines);         /* the workers' range loops end */
  return NULL;
}

/* ---- the host's event loop: poll(2) on the results channel ---- */

typedef struct totals {
  long lines, words, chars;
  long per_worker[5];
} totals;

/* Takes every result waiting now; returns 1 once results is closed. */
static int drain(lugo_chan *results, totals *t) {
  for (;;) {
    lugo_value v;
    int rc = lugo_recv(results, &v, 0);
    if (rc == LUGO_ETIMEDOUT) return 0;   /* nothing more for now */
    if (rc == LUGO_ECLOSED) return 1;
    if (rc != LUGO_OK) return fail("lugo_recv"), 1;
    int worker;
    long words, chars;
    if (v.type == LUGO_TSTRING && sscanf(v.u.s.ptr, "%d %ld %ld", &worker, &words, &chars) == 3) {
      t->lines++;
      t->words += words;
      t->chars += chars;
      if (worker >= 1 && worker <= 4) t->per_worker[worker]++;
    } else if (v.type == LUGO_TSTRING) {
      printf("worker.lua: %s\n", v.u.s.ptr);
    }
    lugo_value_free(&v);
  }
}

static int run(const char *path) {
  lugo_chan *lines = lugo_chan_new(16), *results = lugo_chan_new(16);
  if (!lines || !results) return fail("lugo_chan_new");
  lugo_value vl = {.type = LUGO_TCHAN}, vr = {.type = LUGO_TCHAN};
  vl.u.ch = lines;
  vr.u.ch = results;
  if (lugo_setglobal("lines", &vl) != LUGO_OK || lugo_setglobal("results", &vr) != LUGO_OK)
    return fail("lugo_setglobal");
  if (lugo_dofile("worker.lua", 0, NULL) != LUGO_OK) return fail("worker.lua");

  feeder f = {.path = path, .lines = lines};
  pthread_t thread;
  pthread_create(&thread, NULL, feed, &f);

  totals t = {0};
  struct pollfd p = {.fd = lugo_chan_pollfd(results), .events = POLLIN};
  int closed = 0;
  while (!closed) {
    if (poll(&p, 1, 10000) <= 0) {   /* a real host watches its sockets here too */
      fprintf(stderr, "embed_host: no result for 10 s\n");
      break;
    }
    closed = drain(results, &t);
  }
  pthread_join(thread, NULL);
  lugo_chan_release(lines);
  lugo_chan_release(results);

  printf("lines: %ld, words: %ld, chars: %ld (by worker: %ld %ld %ld %ld)\n", t.lines, t.words,
         t.chars, t.per_worker[1], t.per_worker[2], t.per_worker[3], t.per_worker[4]);
  if (f.rc || t.lines != f.sent || t.words != f.words || t.chars != f.chars) {
    fprintf(stderr, "embed_host: sent %ld lines, %ld words, %ld chars: results differ\n",
            f.sent, f.words, f.chars);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "input.txt";
  lugo_options o;
  lugo_options_init(&o);
  o.on_state = on_state;
  o.on_panic = on_panic;
  if (lugo_open(&o) != LUGO_OK) return fail("lugo_open");
  int rc = run(path);
  if (lugo_close(1.0) != LUGO_OK) return fail("lugo_close");
  /* Once more, to show that a closed runtime opens again. */
  if (lugo_open(&o) != LUGO_OK) return fail("lugo_open again");
  if (lugo_dostring("local lugo = require 'lugo'\n"
                    "local c = lugo.chan()\n"
                    "lugo.go(function() c:send(require('host').clock()) end)\n"
                    "print(('reopened: a goroutine read the host clock (%s)'):format(c:recv() > 0))",
                    "=reopened") != LUGO_OK)
    rc = fail("lugo_dostring");
  if (lugo_close(1.0) != LUGO_OK) return fail("lugo_close again");
  return rc;
}

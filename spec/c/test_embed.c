/* test_embed.c: a C host of liblugo, through lugo.h only: every function of
** the embedding API, host threads on channels, the pollfd, panics, the
** on_state hook, signals, and lugo_close with goroutines in every state,
** then lugo_open again. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lugo.h"

static int failures;

#define CHECK(c) check((c) != 0, #c, __LINE__)
static void check(int ok, const char *what, int line) {
  if (!ok) {
    fprintf(stderr, "test_embed.c:%d: FAILED: %s (lugo_errmsg: %s)\n", line, what, lugo_errmsg());
    failures++;
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Scaled down under the sanitizers (LUGO_TEST_SCALE divides). */
static long scale(long n) {
  const char *s = getenv("LUGO_TEST_SCALE");
  long d = s && atol(s) > 0 ? atol(s) : 1;
  return n / d > 0 ? n / d : 1;
}

static lugo_value integer(long long i) {
  lugo_value v = {.type = LUGO_TINTEGER};
  v.u.i = i;
  return v;
}

static lugo_value chan_value(lugo_chan *c) {
  lugo_value v = {.type = LUGO_TCHAN};
  v.u.ch = c;
  return v;
}

static lugo_value string_value(const char *s) {
  lugo_value v = {.type = LUGO_TSTRING};
  v.u.s.ptr = s;
  v.u.s.len = strlen(s);
  return v;
}

/* ---- the host module, registered by on_state in every state ---- */

static atomic_int states_hooked;
static atomic_int worker_states;   /* hooked on a thread not the test's main one */
static pthread_t main_thread;
static atomic_int marks;   /* host.mark(): <close> handlers that ran */

static int host_state_id(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(uintptr_t)lua_topointer(L, lua_upvalueindex(1)));
  return 1;
}

static int host_mark(lua_State *L) {
  (void)L;
  atomic_fetch_add(&marks, 1);
  return 0;
}

static int host_clock(lua_State *L) {
  lua_pushnumber(L, now());
  return 1;
}

/* host.block(s): a long C call, which no preemption interrupts. */
static int host_block(lua_State *L) {
  double until = now() + luaL_checknumber(L, 1);
  while (now() < until) nap_ms(10);   /* a signal cuts a nap short, not this */
  return 0;
}

static int open_host(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, host_block);
  lua_setfield(L, -2, "block");
  lua_pushcfunction(L, host_clock);
  lua_setfield(L, -2, "clock");
  lua_pushcfunction(L, host_mark);
  lua_setfield(L, -2, "mark");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);   /* the state's identity */
  lua_pushcclosure(L, host_state_id, 1);
  lua_setfield(L, -2, "state");
  return 1;
}

static int on_state(lua_State *L, void *ud) {
  (void)ud;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_host);
  lua_setfield(L, -2, "host");
  lua_pop(L, 1);
  atomic_fetch_add(&states_hooked, 1);
  if (!pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&worker_states, 1);
  return 0;
}

static pthread_mutex_t panic_mu = PTHREAD_MUTEX_INITIALIZER;
static char *panic_report;

static void on_panic(const char *report, void *ud) {
  (void)ud;
  pthread_mutex_lock(&panic_mu);
  free(panic_report);
  panic_report = strdup(report);
  pthread_mutex_unlock(&panic_mu);
}

/* ---- the host's own SIGURG handler ---- */

static volatile sig_atomic_t host_sigurg;

static void host_sigurg_handler(int sig) {
  (void)sig;
  host_sigurg++;
}

static int open_runtime(void) {
  lugo_options o;
  lugo_options_init(&o);
  o.workers = 2;
  o.on_state = on_state;
  o.on_panic = on_panic;
  return lugo_open(&o);
}

/* ---- tests ---- */

static void test_errors_and_state(void) {
  CHECK(strcmp(lugo_strerror(LUGO_ECLOSED), "channel closed") == 0);
  CHECK(strcmp(lugo_strerror(12345), "unknown error code") == 0);
  CHECK(lugo_open(NULL) == LUGO_ESTATE);   /* already open */
  CHECK(strstr(lugo_errmsg(), "already open") != NULL);
  lugo_options bad;
  lugo_options_init(&bad);
  bad.workers = -3;
  CHECK(lugo_open(&bad) == LUGO_EINVAL);
  CHECK(lugo_send(NULL, NULL, 0) == LUGO_EINVAL);
  CHECK(lugo_dostring("this is not lua", "=bad") == LUGO_ELUA);
  CHECK(strstr(lugo_errmsg(), "syntax error") != NULL || strstr(lugo_errmsg(), "near") != NULL);
  CHECK(lugo_dostring("error('from lua')", "=chunk") == LUGO_ELUA);
  CHECK(strstr(lugo_errmsg(), "from lua") != NULL);
  CHECK(strstr(lugo_errmsg(), "stack traceback") != NULL);
  CHECK(lugo_dostring("local lugo = require 'lugo'; assert(lugo.id() > 1)", "=id") == LUGO_OK);
}

/* 4 host threads x N values into one channel, read by 4 goroutines. */
typedef struct sender {
  lugo_chan *c;
  long first, count;
  int rc;
} sender;

static void *send_range(void *arg) {
  sender *s = arg;
  s->rc = LUGO_OK;
  for (long i = 0; i < s->count && s->rc == LUGO_OK; i++) {
    lugo_value v = integer(s->first + i);
    s->rc = lugo_send(s->c, &v, -1);
  }
  return NULL;
}

static void test_host_threads(void) {
  long per = scale(250000);
  lugo_chan *in = lugo_chan_new(64), *out = lugo_chan_new(8);
  CHECK(in && out);
  lugo_value vin = chan_value(in), vout = chan_value(out);
  CHECK(lugo_setglobal("input", &vin) == LUGO_OK);
  CHECK(lugo_setglobal("output", &vout) == LUGO_OK);
  CHECK(lugo_dostring(
      "local lugo = require 'lugo'\n"
      "for _ = 1, 4 do lugo.go(function()\n"
      "  local n, sum = 0, 0\n"
      "  for v in input:range() do n = n + 1; sum = sum + v end\n"
      "  output:send(n); output:send(sum)\n"
      "end) end", "=consumers") == LUGO_OK);
  pthread_t threads[4];
  sender senders[4];
  for (int i = 0; i < 4; i++) {
    senders[i] = (sender){in, i * per, per, 0};
    pthread_create(&threads[i], NULL, send_range, &senders[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    CHECK(senders[i].rc == LUGO_OK);
  }
  CHECK(lugo_chan_close(in) == LUGO_OK);
  long long count = 0, sum = 0;
  for (int i = 0; i < 8; i++) {
    lugo_value v;
    CHECK(lugo_recv(out, &v, -1) == LUGO_OK);
    CHECK(v.type == LUGO_TINTEGER);
    if (i % 2 == 0) count += v.u.i; else sum += v.u.i;
  }
  long long n = 4 * per;
  CHECK(count == n);
  CHECK(sum == n * (n - 1) / 2);   /* every value once: 0 .. n-1 */
  lugo_chan_release(in);
  lugo_chan_release(out);
}

static void test_values_and_timeouts(void) {
  lugo_chan *c = lugo_chan_new(0), *b = lugo_chan_new(2);
  lugo_value v = integer(7), got;
  CHECK(lugo_recv(c, &got, 0) == LUGO_ETIMEDOUT);
  CHECK(got.type == LUGO_TNIL);
  CHECK(lugo_send(c, &v, 0) == LUGO_ETIMEDOUT);     /* no receiver */
  double t0 = now();
  CHECK(lugo_recv(c, &got, 0.05) == LUGO_ETIMEDOUT);
  CHECK(now() - t0 >= 0.049);
  CHECK(lugo_send(c, &v, 0.02) == LUGO_ETIMEDOUT);
  /* A buffered channel: tries that can proceed do. */
  lugo_value s = string_value("a string longer than the inline buffer of a message");
  CHECK(lugo_send(b, &s, 0) == LUGO_OK);
  lugo_value f = {.type = LUGO_TNUMBER};
  f.u.n = 2.5;
  CHECK(lugo_send(b, &f, 0.5) == LUGO_OK);
  CHECK(lugo_send(b, &v, 0) == LUGO_ETIMEDOUT);     /* full */
  CHECK(lugo_recv(b, &got, 0) == LUGO_OK);
  CHECK(got.type == LUGO_TSTRING && got.u.s.len == s.u.s.len &&
        memcmp(got.u.s.ptr, s.u.s.ptr, s.u.s.len) == 0);
  lugo_value_free(&got);
  CHECK(got.type == LUGO_TNIL);
  CHECK(lugo_recv(b, &got, -1) == LUGO_OK && got.type == LUGO_TNUMBER && got.u.n == 2.5);
  /* A goroutine answers within a positive timeout; values round-trip. */
  lugo_value vc = chan_value(c);
  CHECK(lugo_setglobal("echo", &vc) == LUGO_OK);
  CHECK(lugo_dostring("local lugo = require 'lugo'\n"
                      "lugo.go(function() local x = echo:recv(); echo:send(x * 2)\n"
                      "  echo:send({1, 2}); echo:send(true); echo:send(nil) end)", "=echo") == LUGO_OK);
  CHECK(lugo_send(c, &v, 5) == LUGO_OK);
  CHECK(lugo_recv(c, &got, 5) == LUGO_OK && got.type == LUGO_TINTEGER && got.u.i == 14);
  CHECK(lugo_recv(c, &got, 5) == LUGO_EINVAL);      /* a table is not plain */
  CHECK(strstr(lugo_errmsg(), "not plain") != NULL);
  CHECK(lugo_recv(c, &got, 5) == LUGO_OK && got.type == LUGO_TBOOLEAN && got.u.b == 1);
  CHECK(lugo_recv(c, &got, 5) == LUGO_OK && got.type == LUGO_TNIL);
  /* Closed. */
  CHECK(lugo_chan_close(b) == LUGO_OK);
  CHECK(lugo_chan_close(b) == LUGO_ECLOSED);
  CHECK(lugo_send(b, &v, -1) == LUGO_ECLOSED);
  CHECK(lugo_recv(b, &got, -1) == LUGO_ECLOSED);
  CHECK(lugo_recv(b, &got, 0) == LUGO_ECLOSED);
  lugo_chan_release(c);
  lugo_chan_release(b);
}

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_pollfd(void) {
  lugo_chan *b = lugo_chan_new(2), *u = lugo_chan_new(0);
  int fd = lugo_chan_pollfd(b);
  CHECK(fd >= 0);
  CHECK(lugo_chan_pollfd(b) == fd);   /* one per channel */
  CHECK(!readable(fd));
  lugo_value v = integer(1), got;
  CHECK(lugo_send(b, &v, 0) == LUGO_OK);
  CHECK(readable(fd));
  CHECK(lugo_send(b, &v, 0) == LUGO_OK);
  CHECK(lugo_recv(b, &got, 0) == LUGO_OK);
  CHECK(readable(fd));                /* one left */
  CHECK(lugo_recv(b, &got, 0) == LUGO_OK);
  CHECK(!readable(fd));
  CHECK(lugo_chan_close(b) == LUGO_OK);
  CHECK(readable(fd));                /* a receive returns at once: closed */
  CHECK(lugo_recv(b, &got, 0) == LUGO_ECLOSED);
  CHECK(readable(fd));
  /* Unbuffered: readable while a goroutine waits to send. */
  int ufd = lugo_chan_pollfd(u);
  lugo_value vu = chan_value(u);
  CHECK(lugo_setglobal("unbuffered", &vu) == LUGO_OK);
  CHECK(!readable(ufd));
  CHECK(lugo_dostring("require('lugo').go(function() unbuffered:send(99) end)", "=sender") == LUGO_OK);
  struct pollfd p = {.fd = ufd, .events = POLLIN};
  CHECK(poll(&p, 1, 10000) == 1);     /* the host's own event loop waits */
  CHECK(lugo_recv(u, &got, 0) == LUGO_OK && got.u.i == 99);
  CHECK(!readable(ufd));
  lugo_chan_release(b);
  lugo_chan_release(u);
}

static lua_State *host_state;   /* a state of the host's own, kept across a close */

static void test_lua_side(void) {
  /* A host state that opened lugo: push a channel, take it back. */
  lua_State *L = host_state = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "lugo", luaopen_lugo, 1);
  lua_pop(L, 1);
  lugo_chan *c = lugo_chan_new(1);
  lugo_pushchan(L, c);
  CHECK(lugo_tochan(L, -1) == c);
  lua_setglobal(L, "c");
  CHECK(luaL_dostring(L, "c:send('from lua'); assert(c:len() == 1)") == LUA_OK);
  lugo_value got;
  CHECK(lugo_recv(c, &got, 0) == LUGO_OK && got.type == LUGO_TSTRING &&
        strcmp(got.u.s.ptr, "from lua") == 0);
  lugo_value_free(&got);
  lua_pushinteger(L, 3);
  CHECK(lugo_tochan(L, -1) == NULL);
  CHECK(luaL_dostring(L, "return lugo.chan()") == LUA_OK);
  CHECK(lugo_tochan(L, -1) != NULL);
  lua_settop(L, 0);
  lugo_chan_release(c);
  /* lugo_dofile: arg and ... */
  char path[] = "/tmp/lugo_test_embedXXXXXX";
  int fd = mkstemp(path);
  const char *script = "local a, b = ...\nassert(a == 'x' and b == 'y' and arg[1] == 'x' and arg[0])\n"
                       "assert(require('host').clock() > 0)\n";
  CHECK(fd >= 0 && write(fd, script, strlen(script)) == (ssize_t)strlen(script));
  close(fd);
  const char *args[] = {"x", "y"};
  CHECK(lugo_dofile(path, 2, args) == LUGO_OK);
  CHECK(lugo_dofile("/nonexistent/script.lua", 0, NULL) == LUGO_ELUA);
  CHECK(strstr(lugo_errmsg(), "cannot open") != NULL);
  unlink(path);
}

static void test_panic(void) {
  CHECK(lugo_dostring("require('lugo').go(function() error('boom in a goroutine') end)", "=panics") == LUGO_OK);
  char *report = NULL;
  for (int i = 0; i < 5000 && !report; i++) {
    pthread_mutex_lock(&panic_mu);
    report = panic_report;
    panic_report = NULL;
    pthread_mutex_unlock(&panic_mu);
    if (!report) nap_ms(2);
  }
  CHECK(report != NULL);
  if (report) {
    CHECK(strstr(report, "panic: ") == report);
    CHECK(strstr(report, "boom in a goroutine") != NULL);
    CHECK(strstr(report, "goroutine ") != NULL);
  }
  free(report);
  /* The host and the runtime go on. */
  CHECK(lugo_dostring("local lugo = require 'lugo'; local c = lugo.chan(); "
                      "lugo.go(function() c:send(1) end); assert(c:recv() == 1)", "=after") == LUGO_OK);
}

/* Every worker's state has the host module: each of the 2 workers ran
** on_state on its own thread (the probe and the dostring states are made
** on this one), and goroutines can require it. Which worker runs a given
** goroutine is the scheduler's business (valgrind serializes threads), so
** the check counts the workers' hooks rather than where goroutines ran. */
static void test_on_state_everywhere(void) {
  int before = atomic_load(&states_hooked);
  lugo_chan *out = lugo_chan_new(64);
  lugo_value vo = chan_value(out);
  CHECK(lugo_setglobal("states", &vo) == LUGO_OK);
  CHECK(lugo_dostring(
      "local lugo = require 'lugo'\n"
      "local wg = lugo.waitgroup()\n"
      "for _ = 1, 8 do wg:add(1); lugo.go(function()\n"
      "  local host = require 'host'\n"
      "  local t = host.clock(); while host.clock() - t < 0.005 do end\n"
      "  states:send(host.state()); wg:done() end) end\n"
      "wg:wait()", "=spread") == LUGO_OK);
  for (int i = 0; i < 8; i++) {
    lugo_value v;
    CHECK(lugo_recv(out, &v, 30) == LUGO_OK && v.type == LUGO_TINTEGER);
  }
  /* The workers started with the runtime's first goroutine, each making
  ** its state on its own thread. */
  double until = now() + 30;
  while (atomic_load(&worker_states) < 2 && now() < until) nap_ms(5);
  CHECK(atomic_load(&worker_states) == 2);
  CHECK(atomic_load(&states_hooked) > before);   /* this dostring's own state */
  lugo_chan_release(out);
}

/* lugo.net.serve accepts on every worker (API.md: "the handler goroutines
** spread over all workers"): 100 clients at once, each handler answering
** with its state's identity after 2 ms of work that keeps its worker busy.
** Accepting on one worker only, all 100 ran there. */
static void test_serve_on_every_worker(void) {
  lugo_chan *out = lugo_chan_new(1);
  lugo_value vo = chan_value(out);
  CHECK(lugo_setglobal("distinct_states", &vo) == LUGO_OK);
  CHECK(lugo_dostring(
      "local lugo = require 'lugo'\n"
      "local ln = assert(lugo.net.listen('127.0.0.1:0'))\n"
      "local addr, served, states = ln:addr(), lugo.chan(1), lugo.chan(100)\n"
      "lugo.go(function() served:send(lugo.net.serve(ln, function(c)\n"
      "  local host = require 'host'\n"
      "  local t = host.clock(); while host.clock() - t < 0.002 do end\n"
      "  c:write(host.state(), '\\n'); c:close() end)) end)\n"
      "for _ = 1, 100 do lugo.go(function()\n"
      "  local c = assert(lugo.net.dial(addr))\n"
      "  states:send(assert(c:read('l'))); c:close() end) end\n"
      "local seen, distinct = {}, 0\n"
      "for _ = 1, 100 do\n"
      "  local state = states:recv()\n"
      "  if not seen[state] then seen[state] = true; distinct = distinct + 1 end\n"
      "end\n"
      "ln:close()\n"
      "assert(served:recv() == true)\n"
      "distinct_states:send(distinct)", "=serve") == LUGO_OK);
  lugo_value v;
  CHECK(lugo_recv(out, &v, 30) == LUGO_OK && v.type == LUGO_TINTEGER);
  CHECK(v.u.i == 2);   /* both workers' states, and nothing else */
  lugo_chan_release(out);
}

static void test_sigurg_chained(void) {
  int before = host_sigurg;
  kill(getpid(), SIGURG);               /* to the process: not lugo's */
  for (int i = 0; i < 1000 && host_sigurg == before; i++) nap_ms(1);
  CHECK(host_sigurg > before);
  before = host_sigurg;
  pthread_kill(pthread_self(), SIGURG); /* to a host thread */
  for (int i = 0; i < 1000 && host_sigurg == before; i++) nap_ms(1);
  CHECK(host_sigurg > before);
}

/* lugo_close with goroutines parked, sleeping and computing: each runs its
** <close> handler (host.mark), then the runtime opens again. */
static void test_close_and_reopen(void) {
  atomic_store(&marks, 0);
  lugo_chan *held = lugo_chan_new(0);
  lugo_value vh = chan_value(held);
  CHECK(lugo_setglobal("held", &vh) == LUGO_OK);
  CHECK(lugo_dostring(
      "local lugo = require 'lugo'\n"
      "local function guarded(f) return function()\n"
      "  local host = require 'host'\n"
      "  local _ <close> = setmetatable({}, {__close = function() host.mark() end})\n"
      "  f() end end\n"
      "local c = lugo.chan()\n"
      "lugo.go(guarded(function() c:recv() end))\n"
      "lugo.go(guarded(function() held:recv() end))\n"
      "lugo.go(guarded(function() lugo.sleep(1000) end))\n"
      "lugo.go(guarded(function() lugo.select{c:case_recv(function() end)} end))\n"
      "lugo.go(guarded(function() local x = 0; while true do x = x + 1 end end))\n",
      "=to close") == LUGO_OK);
  nap_ms(50);
  CHECK(lugo_close(0.05) == LUGO_OK);
  CHECK(atomic_load(&marks) == 5);
  /* Closed: channels stay valid, their operations say so. */
  lugo_value v = integer(1), got;
  CHECK(lugo_send(held, &v, 0) == LUGO_ESTATE);
  CHECK(lugo_recv(held, &got, -1) == LUGO_ESTATE);
  CHECK(lugo_close(0) == LUGO_ESTATE);
  CHECK(lugo_dostring("return 1", "=closed") == LUGO_ESTATE);
  /* The host's own state outlives the runtime: its channels still work
  ** without waiting; starting a goroutine says why it cannot. */
  CHECK(luaL_dostring(host_state, "local c = lugo.chan(1); c:send(1); assert(c:recv() == 1)") == LUA_OK);
  CHECK(luaL_dostring(host_state, "lugo.go(print)") != LUA_OK);
  CHECK(strstr(lua_tostring(host_state, -1), "the runtime is closed") != NULL);
  lua_close(host_state);
  /* Open again: everything works as before. */
  CHECK(open_runtime() == LUGO_OK);
  CHECK(lugo_dostring("local lugo = require 'lugo'; local c = lugo.chan(1); "
                      "lugo.go(function() c:send(require('host').clock()) end); assert(c:recv() > 0)",
                      "=again") == LUGO_OK);
  CHECK(lugo_send(held, &v, 0) == LUGO_ETIMEDOUT);   /* usable again: no receiver */
  lugo_chan_release(held);
}

/* A goroutine in a long C call: the close gives up, the runtime goes on. */
static void test_close_busy(void) {
  lugo_chan *done = lugo_chan_new(1);
  lugo_value vd = chan_value(done);
  CHECK(lugo_setglobal("done", &vd) == LUGO_OK);
  CHECK(lugo_dostring("require('lugo').go(function() require('host').block(3); done:send(true) end)",
                      "=busy") == LUGO_OK);
  nap_ms(50);
  CHECK(lugo_close(0) == LUGO_EBUSY);
  CHECK(strstr(lugo_errmsg(), "1 goroutine did not stop") != NULL);
  CHECK(lugo_dostring("local lugo = require 'lugo'; local c = lugo.chan(); "
                      "lugo.go(function() c:send(5) end); assert(c:recv() == 5)", "=still") == LUGO_OK);
  lugo_value got;
  CHECK(lugo_recv(done, &got, 10) == LUGO_OK && got.type == LUGO_TBOOLEAN);
  lugo_chan_release(done);
}

int main(void) {
  main_thread = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = host_sigurg_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGURG, &sa, NULL);        /* before lugo installs its own */
  CHECK(lugo_send(NULL, NULL, 0) == LUGO_EINVAL);
  CHECK(open_runtime() == LUGO_OK);
  CHECK(atomic_load(&states_hooked) >= 1);   /* tried at open */
  test_errors_and_state();
  test_host_threads();
  test_values_and_timeouts();
  test_pollfd();
  test_lua_side();
  test_panic();
  test_on_state_everywhere();
  test_serve_on_every_worker();
  test_sigurg_chained();
  test_close_and_reopen();
  test_sigurg_chained();              /* after a close and an open too */
  test_close_busy();
  CHECK(lugo_close(1) == LUGO_OK);
  if (failures) {
    fprintf(stderr, "test_embed: %d failed\n", failures);
    return 1;
  }
  printf("test_embed: all passed\n");
  return 0;
}

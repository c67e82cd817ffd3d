/* host-send: a C host thread sends integers through lugo_send into a
** channel (capacity 128) that one goroutine sums; the goroutine sends the
** sum back. Its Go twin: bench/go/host-send (main sends, a goroutine sums).
** Usage: host-send [count]   (default 1,000,000); workers: LUGO_WORKERS;
** CAP=n sets the channel's capacity (default 128, as the Go twin's). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <lugo.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what) {
  fprintf(stderr, "host-send: %s: %s\n", what, lugo_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  long long n = argc > 1 ? atoll(argv[1]) : 1000000;
  if (lugo_open(NULL) != LUGO_OK) return fail("lugo_open");
  size_t cap = getenv("CAP") ? (size_t)atol(getenv("CAP")) : 128;
  lugo_chan *in = lugo_chan_new(cap), *out = lugo_chan_new(1);
  lugo_value vin = {.type = LUGO_TCHAN}, vout = {.type = LUGO_TCHAN};
  vin.u.ch = in;
  vout.u.ch = out;
  if (lugo_setglobal("input", &vin) != LUGO_OK || lugo_setglobal("output", &vout) != LUGO_OK)
    return fail("lugo_setglobal");
  double t0 = now();
  if (lugo_dostring("require('lugo').go(function()\n"
                    "  local sum = 0\n"
                    "  for v in input:range() do sum = sum + v end\n"
                    "  output:send(sum)\n"
                    "end)", "=summer") != LUGO_OK)
    return fail("lugo_dostring");
  for (long long i = 1; i <= n; i++) {
    lugo_value v = {.type = LUGO_TINTEGER};
    v.u.i = i;
    if (lugo_send(in, &v, -1) != LUGO_OK) return fail("lugo_send");
  }
  lugo_chan_close(in);
  lugo_value sum;
  if (lugo_recv(out, &sum, -1) != LUGO_OK) return fail("lugo_recv");
  double elapsed = now() - t0;
  if (sum.type != LUGO_TINTEGER || sum.u.i != n * (n + 1) / 2) {
    fprintf(stderr, "host-send: FAIL: sum %lld, want %lld\n", sum.u.i, n * (n + 1) / 2);
    return 1;
  }
  printf("host-send ok: %lld integers\ntime %.6f\n", n, elapsed);
  lugo_chan_release(in);
  lugo_chan_release(out);
  return lugo_close(1) == LUGO_OK ? 0 : fail("lugo_close");
}

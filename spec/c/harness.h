/* harness.h: shared by the C unit tests in spec/c: CHECK and the failure count, time,
** stress scale, a per-phase hang alarm, and helpers for blocking outside-thread tasks. */

#ifndef LUGO_SPEC_HARNESS_H
#define LUGO_SPEC_HARNESS_H

#include "../../core/scheduler.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- checks ----------------------------------------------------------- */

static atomic_int failures;

static inline void check(int ok, const char *what, const char *file, int line) {
  if (!ok) {
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
    atomic_fetch_add(&failures, 1);
  }
}

#define CHECK(c) check((c) != 0, #c, __FILE__, __LINE__)

/* ---- time ------------------------------------------------------------- */

static inline double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void nap(void) {
  struct timespec ts = {0, 200000};  /* 0.2 ms */
  nanosleep(&ts, NULL);
}

/* ---- stress scale ----------------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

/* The divisor of the stress counts: LUGO_TEST_SCALE if set (> 0), else
** tsan_divisor under ThreadSanitizer, else 1. */
static inline long test_scale(long tsan_divisor) {
  const char *s = getenv("LUGO_TEST_SCALE");
  if (s && atol(s) > 0) return atol(s);
#ifdef TSAN_BUILD
  return tsan_divisor;
#else
  (void)tsan_divisor;
  return 1;
#endif
}

/* ---- phases, hang alarm, result --------------------------------------- */

/* A hang (lost wake-up, stuck lock) must fail the test, not stall CI: each
** phase gets PHASE_SECONDS. */
#define PHASE_SECONDS 60
static const char *test_name = "test";
static const char *volatile phase = "start";

static inline void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = ".c: FAILED: timed out (hang?) in ";
  const char *p = phase;
  size_t n = 0, k = 0;
  while (p[n]) n++;
  while (test_name[k]) k++;
  (void)!write(2, test_name, k);
  (void)!write(2, msg, sizeof msg - 1);
  (void)!write(2, p, n);
  (void)!write(2, "\n", 1);
  _exit(1);
}

static inline void set_phase(const char *name) {
  phase = name;
  alarm(PHASE_SECONDS);
}

/* name: "test_chan" etc., for the messages. */
static inline void harness_begin(const char *name) {
  test_name = name;
  signal(SIGALRM, on_alarm);
  setvbuf(stdout, NULL, _IONBF, 0);
}

/* main's return value: 1 after any failed check. */
static inline int harness_end(void) {
  int f = atomic_load(&failures);
  if (f) {
    fprintf(stderr, "%s: %d check(s) FAILED\n", test_name, f);
    return 1;
  }
  printf("%s: ok\n", test_name);
  return 0;
}

/* ---- outside-thread tasks --------------------------------------------- */

/* A thread task of this very thread that some operation should have woken:
** sched_block then returns at once. If it was not woken, blocking would
** hang and its waiter is still queued: fail now. */
static inline void settle(sched_thread_task *tt, const char *file, int line) {
  if (!tt->woken) {
    fprintf(stderr, "%s:%d: FAILED: task not woken; stopping\n", file, line);
    exit(1);
  }
  sched_block(tt);
  check(!tt->woken, "woken flag cleared by sched_block", file, line);
}

#define SETTLE(tt) settle((tt), __FILE__, __LINE__)

/* Counts a waiter as parked, then runs the real unlock: the waiter is
** already queued (the lock is held until this runs). */
typedef struct park_note {
  void (*unlock)(void *arg);
  void *arg;
  atomic_int *parked;
} park_note;

static inline void note_unlock(void *arg) {
  park_note *p = arg;
  atomic_fetch_add(p->parked, 1);
  p->unlock(p->arg);
}

/* Blocks tt, whose waiter an operation just queued with the lock that
** unlock(arg) releases still held; *parked (optional) counts it once it is
** queued and the lock is released. */
static inline void block_on(sched_thread_task *tt, void (*unlock)(void *arg), void *arg,
                            atomic_int *parked) {
  park_note note = {unlock, arg, parked};
  if (parked) {
    tt->task.unlock = note_unlock;
    tt->task.unlock_arg = &note;
  } else {
    tt->task.unlock = unlock;
    tt->task.unlock_arg = arg;
  }
  sched_block(tt);
}

/* Waits (napping) until *n reaches want; false after `seconds`. */
static inline bool wait_count(atomic_int *n, int want, double seconds) {
  double end = now() + seconds;
  while (atomic_load(n) < want) {
    if (now() > end) return false;
    nap();
  }
  return true;
}

/* Waits (napping) until no task is live; false, with a message, after
** `seconds`. */
static inline bool wait_live_zero(double seconds) {
  double end = now() + seconds;
  while (sched_live() != 0) {
    if (now() > end) {
      fprintf(stderr, "sched_live() still %ld after %.0f s\n", sched_live(), seconds);
      return false;
    }
    nap();
  }
  return true;
}

#endif

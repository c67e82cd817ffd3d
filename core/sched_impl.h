/* sched_impl.h: what the scheduler's files (sched.c, deadlock.c) share and
** nothing else may use: see sched.c's protocol comment. */
#ifndef LUGO_SCHED_IMPL_H
#define LUGO_SCHED_IMPL_H

#include "scheduler.h"

/* Wakes an outside thread blocked in sched_block (deadlock.c). */
void thread_wake(sched_thread_task *t);

/* Reports a deadlock if the awake count is zero now (a task just parked). */
void deadlock_check(void);

/* A CPU's spin-wait hint, n times. */
static inline void cpu_pause(int n) {
  for (int i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
}

#endif

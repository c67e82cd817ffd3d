/* tasklist.h: FIFO lists of tasks linked through sched_task.next. A task is
** in at most one list; each list is guarded by whoever owns it (sched_impl.h). */
#ifndef LUGO_TASKLIST_H
#define LUGO_TASKLIST_H

#include "scheduler.h"

typedef struct task_list {
  sched_task *head, *tail;
} task_list;

static inline void list_push(task_list *l, sched_task *t) {
  t->next = NULL;
  if (l->tail) l->tail->next = t; else l->head = t;
  l->tail = t;
}

static inline sched_task *list_pop(task_list *l) {
  sched_task *t = l->head;
  if (t) {
    l->head = t->next;
    if (!l->head) l->tail = NULL;
    t->next = NULL;
  }
  return t;
}

static inline void list_append(task_list *dst, task_list *src) {
  if (!src->head) return;
  if (dst->tail) dst->tail->next = src->head; else dst->head = src->head;
  dst->tail = src->tail;
  src->head = src->tail = NULL;
}

static inline void list_push_front(task_list *l, sched_task *t) {
  t->next = l->head;
  l->head = t;
  if (!l->tail) l->tail = t;
}

#endif

/* lnet.h: what lugo.net's files share (lnet.c: addresses, listeners,
** dialing, serve; lnetconn.c: connections and their buffered I/O). */
#ifndef LUGO_LNET_H
#define LUGO_LNET_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

#include <stdatomic.h>

#include "../core/mutex.h"
#include "../core/netpoll.h"
#include "../core/object.h"

/* A socket of lugo.net: a listener or a connection. The fd closes once
** closed is set and no operation uses it (users), so that no call ever
** works on a number the system gave to another file meanwhile. */
typedef struct net_sock {
  lugo_obj obj;
  int fd;                    /* -1 once closed */
  netpoll_desc *pd;
  pthread_mutex_t mu;        /* guards closing the fd (close_if_done) */
  atomic_bool closed;
  atomic_int users;          /* operations in progress */
  lugo_mutex *dir_lock[2];   /* reads in order, writes in order */
  /* Connections: bytes read and not yet consumed: buf[start..end). */
  char *buf;
  size_t start, end, size;
  /* The write in progress (under dir_lock[WRITE]): argument, offset. */
  int write_arg;
  size_t write_off;
  bool eof;                  /* the peer ended its stream (under the read lock) */
} net_sock;

/* A new socket object for fd (non-blocking), registered with the poller;
** NULL with errno. */
net_sock *net_sock_new(int fd, obj_kind kind);

/* Starts an operation (false: the socket is closed); net_sock_leave ends it. */
bool net_sock_enter(net_sock *s);
void net_sock_leave(net_sock *s);

/* Closes the socket: waiters wake with "closed"; the fd closes with the
** last operation. False if it was closed already. */
bool net_sock_close(net_sock *s);

/* Pushes nil, message, name for errno value err (as Lua's io does, with
** libuv's names), and returns 3. */
int net_push_error(lua_State *L, int err);

/* Pushes "host:port" (or "unix:/path") for a socket address. */
void net_push_addr(lua_State *L, const void *sockaddr, unsigned len);

/* lnetconn.c: registers the connection metatable; close and setdeadline
** serve listeners too. */
void lnetconn_open(lua_State *L);
int net_l_close(lua_State *L);
int net_l_setdeadline(lua_State *L);

/* Parks the caller on dir of s until it is ready; k continues (k gets
** the usual (L, status, ctx)); returns op_park's result or k's. For
** lnet.c's accept and connect. */
int net_wait(lua_State *L, net_sock *s, int dir, lua_KFunction k);

/* After a net_wait: 0 if ready (try again), else pushes the error result
** (timeout or closed) and returns 3. */
int net_wait_result(lua_State *L, lua_KContext ctx, net_sock *s, int dir);

#endif

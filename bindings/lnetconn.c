/* lnetconn.c: lugo.net sockets and connections: the socket object, waiting
** for readiness (goroutines park on the netpoller; threads outside the
** runtime poll(2)), buffered reads in file:read's formats, and writes. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <uv.h>
#include <lauxlib.h>

#include "../core/timer.h"
#include "goroutine.h"
#include "handle.h"
#include "lnet.h"

/* ---- the socket object ---- */

static void sock_destroy(lugo_obj *o) {
  net_sock *s = (net_sock *)o;
  if (s->pd) netpoll_close(s->pd);
  if (s->fd >= 0) close(s->fd);
  for (int i = 0; i < 2; i++)
    if (s->dir_lock[i]) obj_release((lugo_obj *)s->dir_lock[i]);
  pthread_mutex_destroy(&s->mu);
  free(s->buf);
  free(s);
}

net_sock *net_sock_new(int fd, obj_kind kind) {
  net_sock *s = calloc(1, sizeof *s);
  if (!s) {
    errno = ENOMEM;
    return NULL;
  }
  obj_init(&s->obj, kind, sock_destroy);
  pthread_mutex_init(&s->mu, NULL);
  s->fd = fd;
  s->dir_lock[0] = mutex_new();
  s->dir_lock[1] = mutex_new();
  /* Before the poll sets are chosen: a listener goes in every worker's;
  ** and a worker polls for a waiting thread outside, too. */
  sched_start();
  s->pd = kind == OBJ_LISTENER ? netpoll_open_everywhere(fd) : netpoll_open(fd);
  if (!s->pd || !s->dir_lock[0] || !s->dir_lock[1]) {
    int err = s->pd ? ENOMEM : errno;
    s->fd = -1;              /* the caller closes fd */
    sock_destroy(&s->obj);
    errno = err;
    return NULL;
  }
  return s;
}

/* Enter and leave take no lock (two atomics each way, Dekker's pattern):
** an operation counts itself in users before it looks at closed, and a
** close sets closed before it looks at users, so either the operation
** sees the close or the close sees the operation (and the last to leave
** closes the fd). */
bool net_sock_enter(net_sock *s) {
  atomic_fetch_add(&s->users, 1);
  if (!atomic_load(&s->closed)) return true;
  net_sock_leave(s);
  return false;
}

/* Closes the fd if the socket is closed and unused; under s->mu. */
static void close_if_done(net_sock *s) {
  if (atomic_load(&s->closed) && atomic_load(&s->users) == 0 && s->fd >= 0) {
    netpoll_close(s->pd);
    s->pd = NULL;
    close(s->fd);
    s->fd = -1;
  }
}

void net_sock_leave(net_sock *s) {
  if (atomic_fetch_sub(&s->users, 1) == 1 && atomic_load(&s->closed)) {
    pthread_mutex_lock(&s->mu);
    close_if_done(s);
    pthread_mutex_unlock(&s->mu);
  }
}

bool net_sock_close(net_sock *s) {
  pthread_mutex_lock(&s->mu);
  bool was_open = !atomic_exchange(&s->closed, true);
  /* Waiters wake with "closed"; the fd closes with the last user. */
  if (was_open && s->pd) netpoll_evict(s->pd);
  close_if_done(s);
  pthread_mutex_unlock(&s->mu);
  return was_open;
}

int net_push_error(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, uv_strerror(-err));
  lua_pushstring(L, uv_err_name(-err));
  return 3;
}

/* ---- waiting for readiness ---- */

static const park_ops wait_ops = {"IO wait", netpoll_unlock, netpoll_cancel};

/* A thread outside the runtime waits in poll(2), in slices, so that a
** close or a deadline from another thread is seen within 10 ms. */
static netpoll_status thread_wait(net_sock *s, int dir) {
  for (;;) {
    netpoll_status st = netpoll_check(s->pd, dir);
    if (st != NETPOLL_PARKED) return st;
    struct pollfd p = {.fd = s->fd, .events = dir == NETPOLL_READ ? POLLIN : POLLOUT};
    if (poll(&p, 1, 10) > 0) return NETPOLL_READY;
  }
}

int net_wait(lua_State *L, net_sock *s, int dir, lua_KFunction k) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (op->task->kind == TASK_THREAD) {
    op->w.elem = (void *)(intptr_t)thread_wait(s, dir);
    return k(L, LUA_YIELD, (lua_KContext)op);
  }
  netpoll_status st = netpoll_arm(s->pd, dir, op->task, &op->w);
  if (st == NETPOLL_PARKED) return op_park(L, op, &wait_ops, s->pd, k);
  op->w.elem = (void *)(intptr_t)st;
  return k(L, LUA_YIELD, (lua_KContext)op);
}

int net_wait_result(lua_State *L, lua_KContext ctx, net_sock *s, int dir) {
  lugo_op *op = (lugo_op *)ctx;
  netpoll_status st = (netpoll_status)(intptr_t)op->w.elem;
  (void)s; (void)dir;
  if (st == NETPOLL_READY) return 0;
  if (st == NETPOLL_CLOSED) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushliteral(L, "ECANCELED");
    return 3;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  lua_pushliteral(L, "ETIMEDOUT");
  return 3;
}

/* ---- reading ---- */

#define READ_CHUNK 65536

static net_sock *check_sock(lua_State *L, int idx, obj_kind kind) {
  return (net_sock *)handle_check(L, idx, kind)->obj;
}

/* Makes room for READ_CHUNK more bytes at buf[end]; false if out of memory. */
static bool make_room(net_sock *s) {
  if (s->start > 0 && s->start == s->end) s->start = s->end = 0;
  if (s->size - s->end >= READ_CHUNK) return true;
  if (s->start > 0) {
    memmove(s->buf, s->buf + s->start, s->end - s->start);
    s->end -= s->start;
    s->start = 0;
    if (s->size - s->end >= READ_CHUNK) return true;
  }
  size_t size = s->end + READ_CHUNK;
  char *buf = realloc(s->buf, size);
  if (!buf) return false;
  s->buf = buf;
  s->size = size;
  return true;
}

/* One recv into the buffer: > 0 bytes, 0 at the end of the stream, or
** -errno (-EAGAIN: nothing now). */
static long fill(net_sock *s) {
  if (!make_room(s)) return -ENOMEM;
  ssize_t n = read(s->fd, s->buf + s->end, s->size - s->end);   /* sockets and pipes */
  if (n < 0) return errno == EINTR ? fill(s) : -errno;
  s->end += (size_t)n;
  return (long)n;
}

/* Tries format f (at stack index fmt) on the buffered bytes: pushes its
** result and returns 1; returns 0 if more bytes are needed (eof: none will
** come, so push what end of stream gives). */
static int take(lua_State *L, net_sock *s, int fmt, bool eof) {
  const char *p = s->buf ? s->buf + s->start : "";
  size_t have = s->end - s->start;
  if (lua_type(L, fmt) == LUA_TNUMBER) {
    size_t want = (size_t)lua_tointeger(L, fmt);
    if (want == 0) {           /* file:read(0): "" unless at the end */
      if (have == 0 && !eof) return 0;
      if (have > 0) lua_pushliteral(L, ""); else lua_pushnil(L);
      return 1;
    }
    if (have < want && !eof) return 0;
    if (have == 0) {
      lua_pushnil(L);
      return 1;
    }
    size_t n = have < want ? have : want;
    lua_pushlstring(L, p, n);
    s->start += n;
    return 1;
  }
  const char *f = luaL_checkstring(L, fmt);
  if (*f == '*') f++;   /* Lua 5.3's "*l" */
  if (*f == 'a') {
    if (!eof) return 0;
    lua_pushlstring(L, p, have);
    s->start = s->end;
    return 1;
  }
  if (*f == 'l' || *f == 'L') {
    const char *nl = memchr(p, '\n', have);
    if (!nl && !eof) return 0;
    if (!nl && have == 0) {
      lua_pushnil(L);
      return 1;
    }
    size_t n = nl ? (size_t)(nl - p) + 1 : have;
    size_t keep = (*f == 'L' || !nl) ? n : n - 1;
    if (*f == 'l' && keep > 0 && p[keep - 1] == '\r' && nl) keep--;   /* CRLF lines */
    lua_pushlstring(L, p, keep);
    s->start += n;
    return 1;
  }
  return luaL_argerror(L, fmt, "invalid format");
}

/* The read lock of s, then k; parks for it if another read is under way
** (reads are served in the order they began). */
static const park_ops lock_ops = {"IO wait", mutex_unlock_internal, mutex_cancel};

static int with_lock(lua_State *L, net_sock *s, int dir, lua_KFunction k) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if (mutex_lock(s->dir_lock[dir], op->task, &op->w)) return k(L, LUA_OK, (lua_KContext)op);
  return op_park(L, op, &lock_ops, s->dir_lock[dir], k);
}

/* Ends an operation of dir: unlock, leave; returns n (results on top). */
static int done(net_sock *s, int dir, int n) {
  mutex_unlock(s->dir_lock[dir]);
  net_sock_leave(s);
  return n;
}

static net_sock *sock_at1(lua_State *L) {
  return (net_sock *)((lhandle *)lua_touserdata(L, 1))->obj;
}

/* The stack of a read: conn, nf (negative: a lines iterator, which
** raises on errors), the nf formats, then the results so far. */
static int read_loop(lua_State *L);

static int read_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  net_sock *s = sock_at1(L);
  int r = net_wait_result(L, ctx, s, NETPOLL_READ);
  if (r > 0) {
    if (lua_tointeger(L, 2) < 0) {
      done(s, NETPOLL_READ, 0);
      return luaL_error(L, "%s", lua_tostring(L, -2));
    }
    return done(s, NETPOLL_READ, r);
  }
  return read_loop(L);
}

static int read_loop(lua_State *L) {
  net_sock *s = sock_at1(L);
  lua_Integer nf = lua_tointeger(L, 2);
  bool iterator = nf < 0;
  if (iterator) nf = -nf;
  for (;;) {
    int got = lua_gettop(L) - (int)(nf + 2);
    if (got == nf) break;
    if (got > 0 && lua_isnil(L, -1)) break;   /* as file:read: stop at the first failure */
    int fmt = 3 + got;
    luaL_checkstack(L, 3, "too many results");
    if (take(L, s, fmt, s->eof)) continue;
    long n = fill(s);
    if (n > 0) continue;
    if (n == 0) {
      s->eof = true;
      continue;
    }
    if (n == -EAGAIN || n == -EWOULDBLOCK) return net_wait(L, s, NETPOLL_READ, read_resumed);
    done(s, NETPOLL_READ, 0);
    if (iterator) return luaL_error(L, "%s", uv_strerror((int)n));
    return net_push_error(L, (int)-n);
  }
  int got = lua_gettop(L) - (int)(nf + 2);
  return done(s, NETPOLL_READ, got);
}

static int read_locked(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return read_loop(L);
}

/* Checks the formats at first..top before anything starts. */
static void check_formats(lua_State *L, int first) {
  for (int i = first; i <= lua_gettop(L); i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      if (luaL_checkinteger(L, i) < 0) luaL_argerror(L, i, "negative byte count");
      continue;
    }
    const char *f = luaL_checkstring(L, i);
    if (*f == '*') f++;
    if (*f != 'l' && *f != 'L' && *f != 'a') luaL_argerror(L, i, "invalid format");
  }
}

static int closed_result(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  lua_pushliteral(L, "ECANCELED");
  return 3;
}

/* Starts a read with the stack [conn, nf, formats...]. */
static int read_begin(lua_State *L, net_sock *s) {
  if (!net_sock_enter(s)) return closed_result(L);
  return with_lock(L, s, NETPOLL_READ, read_locked);
}

static int l_read(lua_State *L) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  if (lua_gettop(L) == 1) lua_pushliteral(L, "l");
  check_formats(L, 2);
  lua_pushinteger(L, lua_gettop(L) - 1);
  lua_insert(L, 2);
  return read_begin(L, s);
}

static int lines_step(lua_State *L) {
  int n = (int)lua_tointeger(L, lua_upvalueindex(2));
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushinteger(L, -n);
  for (int i = 1; i <= n; i++) lua_pushvalue(L, lua_upvalueindex(2 + i));
  return read_begin(L, (net_sock *)((lhandle *)lua_touserdata(L, 1))->obj);
}

static int l_lines(lua_State *L) {
  check_sock(L, 1, OBJ_CONN);
  if (lua_gettop(L) == 1) lua_pushliteral(L, "l");
  check_formats(L, 2);
  int n = lua_gettop(L) - 1;
  luaL_argcheck(L, n <= 250, 252, "too many formats");
  lua_pushinteger(L, n);
  lua_insert(L, 2);
  lua_pushcclosure(L, lines_step, n + 2);
  return 1;
}

/* readsome([max]): the stack [conn, max]. */
static int readsome_loop(lua_State *L);

static int readsome_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  net_sock *s = sock_at1(L);
  int r = net_wait_result(L, ctx, s, NETPOLL_READ);
  if (r > 0) return done(s, NETPOLL_READ, r);
  return readsome_loop(L);
}

static int readsome_loop(lua_State *L) {
  net_sock *s = sock_at1(L);
  size_t max = (size_t)lua_tointeger(L, 2);
  for (;;) {
    size_t have = s->end - s->start;
    if (have > 0) {
      size_t n = have < max ? have : max;
      lua_pushlstring(L, s->buf + s->start, n);
      s->start += n;
      return done(s, NETPOLL_READ, 1);
    }
    if (s->eof) {
      lua_pushnil(L);
      return done(s, NETPOLL_READ, 1);
    }
    long n = fill(s);
    if (n == 0) s->eof = true;
    if (n >= 0) continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK) return net_wait(L, s, NETPOLL_READ, readsome_resumed);
    done(s, NETPOLL_READ, 0);
    return net_push_error(L, (int)-n);
  }
}

static int readsome_locked(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return readsome_loop(L);
}

static int l_readsome(lua_State *L) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  lua_Integer max = luaL_optinteger(L, 2, 65536);
  luaL_argcheck(L, max >= 1, 2, "max must be at least 1");
  lua_settop(L, 1);
  lua_pushinteger(L, max);
  if (!net_sock_enter(s)) return closed_result(L);
  return with_lock(L, s, NETPOLL_READ, readsome_locked);
}

/* ---- writing ---- */

static int write_loop(lua_State *L);

static int write_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  net_sock *s = sock_at1(L);
  int r = net_wait_result(L, ctx, s, NETPOLL_WRITE);
  if (r > 0) return done(s, NETPOLL_WRITE, r);
  return write_loop(L);
}

/* Sends every argument in full, all at once where it can (writev with one
** buffer per argument: sockets and pipes; SIGPIPE is ignored, lnet_open);
** s->write_arg, write_off: the progress. */
#define WRITE_IOV 64

static int write_loop(lua_State *L) {
  net_sock *s = sock_at1(L);
  int top = lua_gettop(L);
  while (s->write_arg <= top) {
    struct iovec iov[WRITE_IOV];
    int n = 0;
    for (int i = s->write_arg; i <= top && n < WRITE_IOV; i++) {
      size_t len;
      const char *data = lua_tolstring(L, i, &len);
      size_t skip = i == s->write_arg ? s->write_off : 0;
      iov[n].iov_base = (void *)(data + skip);
      iov[n].iov_len = len - skip;
      n++;
    }
    ssize_t sent = writev(s->fd, iov, n);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return net_wait(L, s, NETPOLL_WRITE, write_resumed);
      int err = errno;
      done(s, NETPOLL_WRITE, 0);
      return net_push_error(L, err);
    }
    /* Advance past what went out: whole arguments, then part of one. */
    size_t left = (size_t)sent;
    for (int k = 0; k < n && left > 0; k++) {
      if (left >= iov[k].iov_len) {
        left -= iov[k].iov_len;
        s->write_arg++;
        s->write_off = 0;
      } else {
        s->write_off += left;
        left = 0;
      }
    }
    while (s->write_arg <= top && lua_rawlen(L, s->write_arg) == 0) s->write_arg++;
  }
  lua_pushvalue(L, 1);
  return done(s, NETPOLL_WRITE, 1);
}

static int write_locked(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  net_sock *s = sock_at1(L);
  s->write_arg = 2;
  s->write_off = 0;
  return write_loop(L);
}

static int l_write(lua_State *L) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  for (int i = 2; i <= lua_gettop(L); i++) {
    luaL_checklstring(L, i, NULL);   /* numbers become strings, in place */
  }
  if (!net_sock_enter(s)) return closed_result(L);
  return with_lock(L, s, NETPOLL_WRITE, write_locked);
}

/* ---- the rest ---- */

static int l_closewrite(lua_State *L) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  if (!net_sock_enter(s)) return closed_result(L);
  int rc = shutdown(s->fd, SHUT_WR);
  int err = errno;
  net_sock_leave(s);
  if (rc != 0 && err == ENOTSOCK) {   /* a process's pipe: closing is its end */
    net_sock_close(s);
    rc = 0;
  }
  if (rc != 0) return net_push_error(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

int net_l_close(lua_State *L) {
  lhandle *h = lua_touserdata(L, 1);
  if (!h || (h->obj->kind != OBJ_CONN && h->obj->kind != OBJ_LISTENER))
    return luaL_argerror(L, 1, "lugo.net socket expected");
  lua_pushboolean(L, net_sock_close((net_sock *)h->obj));
  return 1;
}

static int set_deadline(lua_State *L, int first, int last) {
  lhandle *h = lua_touserdata(L, 1);
  if (!h || (h->obj->kind != OBJ_CONN && h->obj->kind != OBJ_LISTENER))
    return luaL_argerror(L, 1, "lugo.net socket expected");
  net_sock *s = (net_sock *)h->obj;
  uint64_t when = 0;
  if (!lua_isnoneornil(L, 2)) {
    lua_Number t = luaL_checknumber(L, 2);
    when = t <= 0 ? 1 : (uint64_t)(t * 1e9);   /* lugo.now()'s clock */
    if (when == 0) when = 1;
  }
  if (!net_sock_enter(s)) return closed_result(L);
  for (int dir = first; dir <= last; dir++) netpoll_set_deadline(s->pd, dir, when);
  net_sock_leave(s);
  lua_pushvalue(L, 1);
  return 1;
}

int net_l_setdeadline(lua_State *L) {
  return set_deadline(L, NETPOLL_READ, NETPOLL_WRITE);
}

static int l_setreaddeadline(lua_State *L) {
  return set_deadline(L, NETPOLL_READ, NETPOLL_READ);
}

static int l_setwritedeadline(lua_State *L) {
  return set_deadline(L, NETPOLL_WRITE, NETPOLL_WRITE);
}

static int push_name(lua_State *L, bool peer) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  if (!net_sock_enter(s)) return closed_result(L);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = peer ? getpeername(s->fd, (struct sockaddr *)&ss, &len)
                : getsockname(s->fd, (struct sockaddr *)&ss, &len);
  int err = errno;
  net_sock_leave(s);
  if (rc != 0) return net_push_error(L, err);
  net_push_addr(L, &ss, len);
  return 1;
}

static int l_localaddr(lua_State *L) {
  return push_name(L, false);
}

static int l_remoteaddr(lua_State *L) {
  return push_name(L, true);
}

static int l_setoption(lua_State *L) {
  net_sock *s = check_sock(L, 1, OBJ_CONN);
  static const char *const names[] = {"nodelay", "keepalive", NULL};
  int which = luaL_checkoption(L, 2, NULL, names);
  luaL_checktype(L, 3, LUA_TBOOLEAN);
  int on = lua_toboolean(L, 3);
  if (!net_sock_enter(s)) return closed_result(L);
  int rc = which == 0 ? setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on)
                      : setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  int err = errno;
  net_sock_leave(s);
  if (rc != 0) return net_push_error(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg conn_methods[] = {
  {"read", l_read},
  {"readsome", l_readsome},
  {"lines", l_lines},
  {"write", l_write},
  {"closewrite", l_closewrite},
  {"close", net_l_close},
  {"setdeadline", net_l_setdeadline},
  {"setreaddeadline", l_setreaddeadline},
  {"setwritedeadline", l_setwritedeadline},
  {"localaddr", l_localaddr},
  {"remoteaddr", l_remoteaddr},
  {"setoption", l_setoption},
  {NULL, NULL}
};

static const luaL_Reg conn_metamethods[] = {
  {"__close", net_l_close},
  {NULL, NULL}
};

void lnetconn_open(lua_State *L) {
  handle_register(L, OBJ_CONN, conn_methods, conn_metamethods);
}

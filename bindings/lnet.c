/* lnet.c: lugo.net: addresses, listeners (listen, accept, serve), dialing
** and lookup. Connections and their I/O: lnetconn.c. Sockets are
** non-blocking; a call that would block parks on the netpoller; a name
** lookup runs on a helper thread (core/offload.h) while its caller parks. */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <uv.h>
#include <lauxlib.h>

#include "../core/offload.h"
#include "../core/timer.h"
#include "goroutine.h"
#include "handle.h"
#include "lnet.h"
#include "module.h"

/* ---- addresses ---- */

void net_push_addr(lua_State *L, const void *sa, unsigned len) {
  const struct sockaddr *a = sa;
  char host[INET6_ADDRSTRLEN];
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *in = sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    lua_pushfstring(L, "%s:%d", host, (int)ntohs(in->sin_port));
  } else if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    lua_pushfstring(L, "[%s]:%d", host, (int)ntohs(in6->sin6_port));
  } else if (a->sa_family == AF_UNIX) {
    const struct sockaddr_un *un = sa;
    size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    lua_pushfstring(L, "unix:%s", n ? un->sun_path : "");
  } else {
    lua_pushliteral(L, "?");
  }
}

/* An address of lugo.net ("host:port", "[v6]:port", ":port", "*:port",
** "unix:/path") resolved: 0, an errno value (> 0), or getaddrinfo's error
** (glibc's EAI_ codes are < 0). */
typedef struct net_addr {
  struct addrinfo *list;     /* TCP: getaddrinfo's */
  struct sockaddr_un un;     /* unix: */
  bool is_unix;
} net_addr;

/* The host part of "host:port" (brackets of an IPv6 address taken off) in
** buf; NULL if it does not fit. */
static char *host_of(const char *address, char *buf, size_t size) {
  const char *colon = strrchr(address, ':');
  size_t n = colon ? (size_t)(colon - address) : strlen(address);
  if (n >= size) return NULL;
  memcpy(buf, address, n);
  buf[n] = '\0';
  if (n >= 2 && buf[0] == '[' && buf[n - 1] == ']') {
    buf[n - 1] = '\0';
    return buf + 1;
  }
  return buf;
}

static int resolve(const char *address, bool passive, net_addr *out) {
  memset(out, 0, sizeof *out);
  if (strncmp(address, "unix:", 5) == 0) {
    const char *path = address + 5;
    if (strlen(path) >= sizeof out->un.sun_path) return ENAMETOOLONG;
    out->is_unix = true;
    out->un.sun_family = AF_UNIX;
    strcpy(out->un.sun_path, path);
    return 0;
  }
  const char *colon = strrchr(address, ':');
  if (!colon) return EINVAL;
  char host[256];
  char *h = host_of(address, host, sizeof host);
  if (!h) return ENAMETOOLONG;
  if (*h == '\0' || strcmp(h, "*") == 0) h = NULL;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  if (!h && !passive) h = "localhost";
  return getaddrinfo(h, colon + 1, &hints, &out->list);
}

/* Pushes the error of resolve's rc. */
static int push_resolve_error(lua_State *L, int rc) {
  if (rc > 0) return net_push_error(L, rc);
  if (rc == EAI_SYSTEM) return net_push_error(L, errno);
  const char *name;
  switch (rc) {
    case EAI_NONAME: name = "EAI_NONAME"; break;
    case EAI_SERVICE: name = "EAI_SERVICE"; break;
    case EAI_AGAIN: name = "EAI_AGAIN"; break;
    case EAI_FAMILY: name = "EAI_FAMILY"; break;
    case EAI_MEMORY: name = "EAI_MEMORY"; break;
    default: name = "EAI_FAIL"; break;
  }
  lua_pushnil(L);
  lua_pushstring(L, gai_strerror(rc));
  lua_pushstring(L, name);
  return 3;
}

static int new_socket(int family) {
  return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* Pushes a handle for fd (a new socket object of kind), or the error.
** TCP connections send at once (TCP_NODELAY, as Go's net does): else a
** write of two small pieces waits for the peer's delayed ACK (40 ms). */
static int push_sock(lua_State *L, int fd, obj_kind kind) {
  if (kind == OBJ_CONN) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);   /* fails on unix: fine */
  }
  net_sock *s = net_sock_new(fd, kind);
  if (!s) {
    int err = errno;
    close(fd);
    return net_push_error(L, err);
  }
  handle_push_new(L, &s->obj);
  return 1;
}

/* ---- listen ---- */

static int l_listen(lua_State *L) {
  const char *address = luaL_checkstring(L, 1);
  int backlog = 511;
  if (lua_istable(L, 2) && lua_getfield(L, 2, "backlog") != LUA_TNIL)
    backlog = (int)luaL_checkinteger(L, -1);
  net_addr a;
  int rc = resolve(address, true, &a);
  if (rc != 0) return push_resolve_error(L, rc);
  int fd = -1, err = 0;
  if (a.is_unix) {
    fd = new_socket(AF_UNIX);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&a.un, sizeof a.un) != 0 || listen(fd, backlog) != 0)) {
      err = errno;
      close(fd);
      fd = -1;
    }
  } else {
    for (struct addrinfo *ai = a.list; ai && fd < 0; ai = ai->ai_next) {
      fd = new_socket(ai->ai_family);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int on = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        err = errno;
        close(fd);
        fd = -1;
      }
    }
    freeaddrinfo(a.list);
  }
  if (fd < 0) return net_push_error(L, err ? err : EINVAL);
  return push_sock(L, fd, OBJ_LISTENER);
}

/* ---- accept ---- */

static net_sock *check_listener(lua_State *L) {
  return (net_sock *)handle_check(L, 1, OBJ_LISTENER)->obj;
}

static int accept_loop(lua_State *L);

static int accept_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  net_sock *s = (net_sock *)((lhandle *)lua_touserdata(L, 1))->obj;
  int r = net_wait_result(L, ctx, s, NETPOLL_READ);
  if (r > 0) {
    net_sock_leave(s);
    return r;
  }
  return accept_loop(L);
}

static int accept_loop(lua_State *L) {
  net_sock *s = (net_sock *)((lhandle *)lua_touserdata(L, 1))->obj;
  for (;;) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      net_sock_leave(s);
      return push_sock(L, fd, OBJ_CONN);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return net_wait(L, s, NETPOLL_READ, accept_resumed);
    int err = errno;
    net_sock_leave(s);
    return net_push_error(L, err);
  }
}

static int l_accept(lua_State *L) {
  net_sock *s = check_listener(L);
  lua_settop(L, 1);
  if (!net_sock_enter(s)) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushliteral(L, "ECANCELED");
    return 3;
  }
  return accept_loop(L);
}

static int l_addr(lua_State *L) {
  net_sock *s = check_listener(L);
  if (!net_sock_enter(s)) return luaL_error(L, "lugo.net: the listener is closed");
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = getsockname(s->fd, (struct sockaddr *)&ss, &len);
  int err = errno;
  net_sock_leave(s);
  if (rc != 0) return net_push_error(L, err);
  net_push_addr(L, &ss, len);
  return 1;
}

/* ---- name resolution, off the workers ---- */

/* A resolution in progress: a userdata on the caller's stack (it survives
** the park), filled by a helper thread (core/offload.h). */
typedef struct lookup {
  offload_job job;
  char address[320];
  bool passive;
  bool host_only;            /* lugo.net.lookup: a host, no port */
  net_addr a;
  int rc;
  uint64_t started;          /* timer_now when asked: dial's timeout counts from it */
} lookup;

static void lookup_fn(void *arg) {
  lookup *k = arg;
  if (!k->host_only) {
    k->rc = resolve(k->address, k->passive, &k->a);
    return;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  memset(&k->a, 0, sizeof k->a);
  k->rc = getaddrinfo(k->address, NULL, &hints, &k->a.list);
}

/* Whether resolving address asks nobody (a unix path, a numeric host). */
static bool is_numeric(const char *address) {
  if (strncmp(address, "unix:", 5) == 0) return true;
  char host[INET6_ADDRSTRLEN + 2];
  const char *h = host_of(address, host, sizeof host);
  if (!h) return false;
  unsigned char buf[sizeof(struct in6_addr)];
  return *h == '\0' || strcmp(h, "*") == 0 || inet_pton(AF_INET, h, buf) == 1 ||
         inet_pton(AF_INET6, h, buf) == 1;
}

static const park_ops lookup_ops = {"IO wait", offload_unlock, offload_cancel};

/* Pushes a lookup for address, resolves it (on a helper thread if it may
** wait: the goroutine parks meanwhile), then continues in k. */
static int resolve_then(lua_State *L, const char *address, bool passive, bool host_only,
                        lua_KFunction k) {
  size_t len = strlen(address);
  lookup *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  if (len >= sizeof r->address) {
    r->rc = ENAMETOOLONG;
    return k(L, LUA_OK, 0);
  }
  memcpy(r->address, address, len + 1);
  r->passive = passive;
  r->host_only = host_only;
  r->started = timer_now();
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  if ((!host_only && is_numeric(address)) || op->task->kind == TASK_THREAD) {
    lookup_fn(r);   /* asks nobody, or a thread outside the runtime may wait */
    return k(L, LUA_OK, (lua_KContext)op);
  }
  r->job.fn = lookup_fn;
  r->job.arg = r;
  r->job.task = op->task;
  if (!offload_submit(&r->job)) {
    lookup_fn(r);
    return k(L, LUA_OK, (lua_KContext)op);
  }
  return op_park(L, op, &lookup_ops, &r->job, k);
}

/* ---- dial ---- */

/* The addresses a dial tries in turn (as Go's dialSerial), copied out of
** getaddrinfo's list so that nothing leaks if the dialer never resumes;
** a userdata at stack index 3, after the lookup's. */
#define DIAL_MAX_ADDRESSES 8

typedef struct dial_plan {
  struct sockaddr_storage addr[DIAL_MAX_ADDRESSES];
  socklen_t len[DIAL_MAX_ADDRESSES];
  int count, next;
  int last_error;
  uint64_t deadline;         /* timer_now ns; 0: none */
} dial_plan;

static int dial_next(lua_State *L);

/* Stack: address, opts, the plan, the connection's handle. */
static int connect_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  dial_plan *plan = lua_touserdata(L, 3);
  net_sock *s = (net_sock *)((lhandle *)lua_touserdata(L, 4))->obj;
  lua_settop(L, 4);
  int r = net_wait_result(L, ctx, s, NETPOLL_WRITE);
  int err = 0;
  socklen_t len = sizeof err;
  if (r == 0 && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (r == 0 && err == 0) {
    /* Writable yet not connected: a stale wake-up (an event taken for the
    ** descriptor's earlier socket): still connecting, as Go's connect
    ** checks with getpeername. */
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    if (getpeername(s->fd, (struct sockaddr *)&peer, &peer_len) != 0 && errno == ENOTCONN)
      return net_wait(L, s, NETPOLL_WRITE, connect_resumed);
  }
  netpoll_set_deadline(s->pd, NETPOLL_WRITE, 0);   /* while still a user: pd stays */
  net_sock_leave(s);
  if (r > 0) {   /* the deadline passed, or the connection was closed */
    net_sock_close(s);
    return r;
  }
  if (err) {   /* refused, unreachable: the next address, if any */
    net_sock_close(s);
    plan->last_error = err;
    lua_settop(L, 3);
    return dial_next(L);
  }
  lua_pushvalue(L, 4);
  return 1;
}

/* Starts connecting to the plan's next address (stack: address, opts,
** plan); the last error once none is left. */
static int dial_next(lua_State *L) {
  dial_plan *plan = lua_touserdata(L, 3);
  while (plan->next < plan->count) {
    int i = plan->next++;
    const struct sockaddr *sa = (const struct sockaddr *)&plan->addr[i];
    int fd = new_socket(sa->sa_family);
    if (fd < 0) {
      plan->last_error = errno;
      continue;
    }
    if (connect(fd, sa, plan->len[i]) != 0 && errno != EINPROGRESS) {
      plan->last_error = errno;
      close(fd);
      continue;
    }
    if (push_sock(L, fd, OBJ_CONN) != 1) return 3;
    net_sock *s = (net_sock *)((lhandle *)lua_touserdata(L, 4))->obj;
    if (plan->deadline) netpoll_set_deadline(s->pd, NETPOLL_WRITE, plan->deadline);
    net_sock_enter(s);
    return net_wait(L, s, NETPOLL_WRITE, connect_resumed);
  }
  return net_push_error(L, plan->last_error ? plan->last_error : EINVAL);
}

/* Stack: address, opts, the lookup (resolved). */
static int dial_resolved(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lookup *r = lua_touserdata(L, 3);
  double timeout = -1;
  if (lua_istable(L, 2) && lua_getfield(L, 2, "timeout") != LUA_TNIL) timeout = lua_tonumber(L, -1);
  lua_settop(L, 3);
  if (r->rc != 0) return push_resolve_error(L, r->rc);
  dial_plan *plan = lua_newuserdatauv(L, sizeof *plan, 0);
  memset(plan, 0, sizeof *plan);
  if (r->a.is_unix) {
    memcpy(&plan->addr[0], &r->a.un, sizeof r->a.un);
    plan->len[0] = (socklen_t)sizeof r->a.un;
    plan->count = 1;
  } else {
    for (struct addrinfo *ai = r->a.list; ai && plan->count < DIAL_MAX_ADDRESSES; ai = ai->ai_next) {
      memcpy(&plan->addr[plan->count], ai->ai_addr, ai->ai_addrlen);
      plan->len[plan->count++] = ai->ai_addrlen;
    }
    freeaddrinfo(r->a.list);
  }
  if (timeout >= 0) plan->deadline = r->started + (uint64_t)(timeout * 1e9) + 1;
  lua_replace(L, 3);   /* the plan in the lookup's place */
  return dial_next(L);
}

static int l_dial(lua_State *L) {
  const char *address = luaL_checkstring(L, 1);
  lua_settop(L, 2);
  if (lua_istable(L, 2) && lua_getfield(L, 2, "timeout") != LUA_TNIL) luaL_checknumber(L, -1);
  lua_settop(L, 2);
  return resolve_then(L, address, false, false, dial_resolved);
}

/* ---- lookup ---- */

static int lookup_resolved(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lookup *r = lua_touserdata(L, 2);
  if (r->rc != 0) return push_resolve_error(L, r->rc);
  lua_newtable(L);
  int n = 0;
  for (struct addrinfo *ai = r->a.list; ai; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN];
    const void *addr = ai->ai_family == AF_INET
        ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
        : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    if (!inet_ntop(ai->ai_family, addr, text, sizeof text)) continue;
    lua_pushstring(L, text);
    lua_rawseti(L, -2, ++n);
  }
  freeaddrinfo(r->a.list);
  return 1;
}

static int l_lookup(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  return resolve_then(L, host, false, true, lookup_resolved);
}

/* ---- serve: accept until closed, a goroutine per connection ---- */

/* Every worker accepts (API.md: the handler goroutines spread over all
** workers): the caller, and a goroutine pinned to each other worker, all
** waiting on the one listening socket; a handler starts on the worker
** that accepted it. Running out of descriptors is waited out as Go's
** net/http does (5 ms, doubling up to 1 s); any other error ends the
** acceptor, and the caller raises it. */
static const char serve_lua[] =
    "local go, go_on_other_workers, sleep, check_arguments = ...\n"
    "local function accept_all(ln, handler)\n"
    "  local backoff = 0\n"
    "  while true do\n"
    "    local c, err, name = ln:accept()\n"
    "    if c then\n"
    "      backoff = 0\n"
    "      go(handler, c)\n"
    "    elseif name == 'ECANCELED' then\n"
    "      return true\n"
    "    elseif name == 'EMFILE' or name == 'ENFILE' or name == 'ENOBUFS' or name == 'ENOMEM' then\n"
    "      backoff = math.min(backoff == 0 and 0.005 or backoff * 2, 1)\n"
    "      sleep(backoff)\n"
    "    else\n"
    "      return false, err\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return function(ln, handler)\n"
    "  local bad = check_arguments(ln, handler)\n"
    "  if bad then error(bad, 2) end\n"
    "  go_on_other_workers(accept_all, ln, handler)\n"
    "  local ok, err = accept_all(ln, handler)\n"
    "  if not ok then error('lugo.net.serve: ' .. err, 2) end\n"
    "  return true\n"
    "end\n";

/* serve's arguments, checked in the caller (not in the goroutines that
** take copies of them): nothing, or the message for serve to raise. */
static int l_serve_check(lua_State *L) {
  handle_push_metatable(L, OBJ_LISTENER);
  bool is_listener = lua_getmetatable(L, 1) && lua_rawequal(L, -1, -2);
  if (!is_listener)
    lua_pushfstring(L, "bad argument #1 to 'serve' (listener expected, got %s)", luaL_typename(L, 1));
  else if (lua_type(L, 2) != LUA_TFUNCTION)
    lua_pushfstring(L, "bad argument #2 to 'serve' (function expected, got %s)", luaL_typename(L, 2));
  else
    return 0;
  return 1;
}

static const luaL_Reg listener_methods[] = {
  {"accept", l_accept},
  {"addr", l_addr},
  {"close", net_l_close},
  {"setdeadline", net_l_setdeadline},
  {NULL, NULL}
};

static const luaL_Reg listener_metamethods[] = {
  {"__close", net_l_close},
  {NULL, NULL}
};

/* A server holds a descriptor per connection: like Go (1.19), raise the
** soft limit on open files to the hard one, once, as the runtime starts. */
static void raise_open_files_limit(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);   /* failing leaves the old limit: fine */
  }
}

/* SIGPIPE: a write to a closed peer must return EPIPE, not end the
** process. A handler that does nothing, rather than SIG_IGN, as Go does:
** a caught signal goes back to its default in an exec'd child (an
** ignored one stays ignored, and `yes | head -1` run by a child would
** complain of a broken pipe). A host's own handler or SIG_IGN is kept. */
static void on_sigpipe(int sig) { (void)sig; }

static void ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
      (old.sa_flags & SA_SIGINFO))
    return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigpipe;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

void lnet_open(lua_State *L) {
  ignore_sigpipe();
  raise_open_files_limit();
  handle_register(L, OBJ_LISTENER, listener_methods, listener_metamethods);
  lnetconn_open(L);
  lua_newtable(L);
  static const luaL_Reg funcs[] = {
    {"listen", l_listen}, {"dial", l_dial}, {"lookup", l_lookup}, {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
  if (luaL_loadbuffer(L, serve_lua, sizeof serve_lua - 1, "=lugo.net.serve") != LUA_OK)
    lua_error(L);
  lua_getfield(L, -3, "go");
  lua_pushcfunction(L, gor_l_go_on_other_workers);
  lua_getfield(L, -5, "sleep");
  lua_pushcfunction(L, l_serve_check);
  lua_call(L, 4, 1);
  lua_setfield(L, -2, "serve");
  lua_setfield(L, -2, "net");
}

/* hostrun.c: Lua run for C hosts (lugo.h): lugo_dofile and lugo_dostring run
** a chunk as a goroutine in a state of their own; lugo_setglobal's table of
** host globals (plain values, owned here, under globals_mu). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>

#include "embed.h"
#include "goroutine.h"
#include "handle.h"
#include "hostrun.h"
#include "module.h"

/* ---- host globals ---- */

typedef struct host_global {
  char *name;
  lugo_value value;          /* owns its string copy or channel reference */
} host_global;

static pthread_mutex_t globals_mu = PTHREAD_MUTEX_INITIALIZER;
static host_global *globals;  /* a removed global stays, as nil, so that */
static int nglobals, cap_globals;   /* states that saw it drop it too */
static atomic_uint globals_version;  /* bumped by every change */

/* Copies v into *out (its own string bytes, a channel reference). */
static int copy_value(lugo_value *out, const lugo_value *v) {
  *out = *v;
  switch (v->type) {
    case LUGO_TNIL: case LUGO_TBOOLEAN: case LUGO_TINTEGER: case LUGO_TNUMBER:
      return LUGO_OK;
    case LUGO_TSTRING: {
      if (!v->u.s.ptr && v->u.s.len) return LUGO_EINVAL;
      char *s = malloc(v->u.s.len + 1);
      if (!s) return LUGO_ENOMEM;
      if (v->u.s.len) memcpy(s, v->u.s.ptr, v->u.s.len);
      s[v->u.s.len] = '\0';
      out->u.s.ptr = s;
      return LUGO_OK;
    }
    case LUGO_TCHAN:
      if (!v->u.ch) return LUGO_EINVAL;
      lugo_chan_retain(v->u.ch);
      return LUGO_OK;
    default:
      return LUGO_EINVAL;
  }
}

static host_global *find_global(const char *name) {
  for (int i = 0; i < nglobals; i++)
    if (strcmp(globals[i].name, name) == 0) return &globals[i];
  return NULL;
}

static host_global *add_global(const char *name) {
  if (nglobals == cap_globals) {
    int cap = cap_globals ? cap_globals * 2 : 8;
    host_global *more = realloc(globals, (size_t)cap * sizeof *more);
    if (!more) return NULL;
    globals = more;
    cap_globals = cap;
  }
  char *copy = strdup(name);
  if (!copy) return NULL;
  host_global *g = &globals[nglobals++];
  g->name = copy;
  g->value.type = LUGO_TNIL;
  return g;
}

LUGO_API int lugo_setglobal(const char *name, const lugo_value *v) {
  if (!name || !*name) return embed_set_error(LUGO_EINVAL, "lugo_setglobal: the name is empty");
  if (!v) return embed_set_error(LUGO_EINVAL, "lugo_setglobal: the value is NULL");
  if (!embed_is_open()) return embed_set_error(LUGO_ESTATE, "lugo_setglobal: the runtime is not open");
  lugo_value copy;
  int rc = copy_value(&copy, v);
  if (rc != LUGO_OK)
    return embed_set_error(rc, rc == LUGO_ENOMEM ? "lugo_setglobal: not enough memory"
                                                 : "lugo_setglobal: bad value for '%s' (type %d)",
                           name, v->type);
  pthread_mutex_lock(&globals_mu);
  host_global *g = find_global(name);
  if (!g) g = add_global(name);
  if (g) {
    lugo_value_free(&g->value);
    g->value = copy;
    atomic_fetch_add(&globals_version, 1);
  }
  pthread_mutex_unlock(&globals_mu);
  if (!g) {
    lugo_value_free(&copy);
    return embed_set_error(LUGO_ENOMEM, "lugo_setglobal: not enough memory");
  }
  return LUGO_OK;
}

static void push_value(lua_State *L, const lugo_value *v) {
  switch (v->type) {
    case LUGO_TBOOLEAN: lua_pushboolean(L, v->u.b); break;
    case LUGO_TINTEGER: lua_pushinteger(L, (lua_Integer)v->u.i); break;
    case LUGO_TNUMBER: lua_pushnumber(L, (lua_Number)v->u.n); break;
    case LUGO_TSTRING: lua_pushlstring(L, v->u.s.ptr, v->u.s.len); break;
    case LUGO_TCHAN: lugo_pushchan(L, v->u.ch); break;
    default: lua_pushnil(L); break;
  }
}

void hostrun_apply_globals(lua_State *L, unsigned *seen) {
  unsigned version = atomic_load_explicit(&globals_version, memory_order_acquire);
  if (version == *seen) return;
  pthread_mutex_lock(&globals_mu);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  for (int i = 0; i < nglobals; i++) {
    push_value(L, &globals[i].value);
    lua_setfield(L, -2, globals[i].name);
  }
  lua_pop(L, 1);
  *seen = atomic_load(&globals_version);
  pthread_mutex_unlock(&globals_mu);
}

void hostrun_free_globals(void) {
  pthread_mutex_lock(&globals_mu);
  for (int i = 0; i < nglobals; i++) {
    free(globals[i].name);
    lugo_value_free(&globals[i].value);
  }
  free(globals);
  globals = NULL;
  nglobals = cap_globals = 0;
  atomic_fetch_add(&globals_version, 1);
  pthread_mutex_unlock(&globals_mu);
}

/* ---- lugo_dofile, lugo_dostring ---- */

/* What the goroutine runs, and how it went. */
typedef struct host_plan {
  const char *path;          /* lugo_dofile: the file (NULL: stdin) */
  const char *chunk, *chunkname;   /* lugo_dostring */
  int argc;
  const char *const *argv;
  bool failed;
  char *error;               /* its message and traceback (malloc'd) */
} host_plan;

static int plan_failed(lua_State *L, host_plan *p) {
  const char *msg = lua_tostring(L, -1);
  p->failed = true;
  p->error = strdup(msg ? msg : "(error object is not a string)");
  return 0;
}

static int host_done(lua_State *L, int status, lua_KContext ctx) {
  host_plan *p = (host_plan *)ctx;
  if (status != LUA_OK && status != LUA_YIELD) return plan_failed(L, p);
  return 0;
}

/* The goroutine's body: loads the chunk, sets `arg`, calls it with the
** arguments as `...` under gor_msghandler (it may park: lua_pcallk). */
static int host_body(lua_State *L) {
  host_plan *p = lua_touserdata(L, 1);
  lua_settop(L, 0);
  int status = p->chunk
      ? luaL_loadbuffer(L, p->chunk, strlen(p->chunk), p->chunkname ? p->chunkname : "=lugo_dostring")
      : luaL_loadfile(L, p->path);
  if (status != LUA_OK) return plan_failed(L, p);
  if (!p->chunk) {
    lua_createtable(L, p->argc, 1);
    lua_pushstring(L, p->path ? p->path : "-");
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < p->argc; i++) {
      lua_pushstring(L, p->argv[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
  }
  int nargs = p->chunk ? 0 : p->argc;
  luaL_checkstack(L, nargs + 1, "too many arguments to the script");
  for (int i = 0; i < nargs; i++) lua_pushstring(L, p->argv[i]);
  lua_pushcfunction(L, gor_msghandler);
  lua_insert(L, 1);
  status = lua_pcallk(L, nargs, 0, 1, (lua_KContext)p, host_done);
  return host_done(L, status, (lua_KContext)p);
}

/* A state of the calling thread for one run: the standard libraries, lugo,
** the host globals, the host's on_state. NULL with the error recorded. */
static lua_State *new_host_state(void) {
  lua_State *L = luaL_newstate();
  if (!L) {
    embed_set_error(LUGO_ENOMEM, "cannot create a Lua state");
    return NULL;
  }
  luaL_openlibs(L);
  luaL_requiref(L, "lugo", luaopen_lugo, 0);
  lua_pop(L, 1);
  unsigned seen = 0;
  hostrun_apply_globals(L, &seen);
  if (embed_run_on_state(L) != LUGO_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

static int run_plan(host_plan *p, const char *fn) {
  if (!embed_is_open())
    return embed_set_error(LUGO_ESTATE, "%s: the runtime is not open (lugo_open first)", fn);
  int rc = LUGO_OK;
  lua_State *L = new_host_state();
  if (!L) return LUGO_ELUA;
  switch (gor_run_body(L, host_body, p, BODY_FOR_HOST)) {
    case BODY_DEADLOCK:
      /* The goroutine stays parked in L: L stays open. */
      return embed_set_error(LUGO_EDEADLOCK, "%s: all goroutines are asleep - deadlock!", fn);
    case BODY_NOMEM:
      rc = embed_set_error(LUGO_ENOMEM, "%s: not enough memory", fn);
      break;
    case BODY_ERROR:
      rc = LUGO_ELUA;    /* recorded by gor_run_body */
      break;
    default:
      if (p->failed) rc = embed_set_error(LUGO_ELUA, "%s", p->error ? p->error : "error");
      break;
  }
  free(p->error);
  lua_close(L);
  return rc;
}

LUGO_API int lugo_dofile(const char *path, int argc, const char *const *argv) {
  if (argc < 0 || (argc > 0 && !argv))
    return embed_set_error(LUGO_EINVAL, "lugo_dofile: bad argc/argv");
  host_plan plan = {.path = path, .argc = argc, .argv = argv};
  return run_plan(&plan, "lugo_dofile");
}

LUGO_API int lugo_dostring(const char *chunk, const char *chunkname) {
  if (!chunk) return embed_set_error(LUGO_EINVAL, "lugo_dostring: the chunk is NULL");
  host_plan plan = {.chunk = chunk, .chunkname = chunkname};
  return run_plan(&plan, "lugo_dostring");
}

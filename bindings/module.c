/* module.c: luaopen_lugo, the module table, and the calls about the
** runtime itself (numgoroutine, workers, config). */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <lauxlib.h>

#include "../core/scheduler.h"
#include "embed.h"
#include "factory.h"
#include "goroutine.h"
#include "module.h"
#include "../include/lugo.h"
#include "output.h"
#include "vmalloc.h"

static int l_numgoroutine(lua_State *L) {
  /* Goroutine 1 is live among the others, or is the thread outside. */
  lua_pushinteger(L, (lua_Integer)sched_live() + (gor_main_is_goroutine() ? 0 : 1));
  return 1;
}

static int l_workers(lua_State *L) {
  lua_pushinteger(L, sched_workers());
  return 1;
}

static int l_config(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getfield(L, 1, "workers") != LUA_TNIL) {
    int isint;
    lua_Integer n = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -1) != LUA_TNUMBER || !isint || n < 1 || n > 1024)
      return luaL_error(L, "lugo.config: workers must be an integer from 1 to 1024, got %s",
                        luaL_tolstring(L, -1, NULL));
    if (!sched_set_workers((int)n))
      return luaL_error(L, "lugo.config: workers already started");
  }
  lua_pop(L, 1);
  int type = lua_getfield(L, 1, "memory");
  if (type != LUA_TNIL) {
    int isint;
    lua_Integer n = lua_tointegerx(L, -1, &isint);
    if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) n = 0, isint = 1;   /* false: no limit */
    else if (type != LUA_TNUMBER || !isint || n < 1)
      return luaL_error(L, "lugo.config: memory must be an integer number of bytes >= 1 "
                        "(or false: no limit), got %s", luaL_tolstring(L, -1, NULL));
    vmalloc_set_limit((size_t)n);
  }
  return 0;
}

/* print as the standard library's, but each call's whole line goes out in
** one fwrite (atomic under stdout's lock) and one flush, so that lines
** printed by goroutines on different workers never mix (docs/api.md, Output). */
static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);   /* __tostring and __name, as print does */
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *line = lua_tolstring(L, -1, &len);
  output_write(stdout, line, len);   /* above the REPL's prompt, if one shows */
  return 0;
}

/* Replaces the global print of L (every state that opens lugo). */
static void install_print(lua_State *L) {
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");
}

static const luaL_Reg lugo_funcs[] = {
  {"go", gor_l_go},
  {"yield", gor_l_yield},
  {"id", gor_l_id},
  {"run", gor_l_run},
  {"goroutines", gor_l_goroutines},
  {"numgoroutine", l_numgoroutine},
  {"workers", l_workers},
  {"config", l_config},
  {"stack", gor_l_stack},
  {NULL, NULL}
};

/* Keeps lugo.so mapped for the life of the process: lua_close unloads C
** modules, but worker threads keep running our code until exit. */
static void pin_module(void) {
  Dl_info info;
  if (dladdr((void *)pin_module, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

LUGO_API int luaopen_lugo(lua_State *L) {
  static pthread_once_t pinned = PTHREAD_ONCE_INIT;
  pthread_once(&pinned, pin_module);
  if (embed_ensure_open() != LUGO_OK) return luaL_error(L, "lugo: %s", lugo_errmsg());
  factory_self_test(L);
  sched_register_thread();   /* no-op on workers */
  install_print(L);
  lio_install(L);
  luaL_newlib(L, lugo_funcs);
  lua_pushliteral(L, LUGO_VERSION);
  lua_setfield(L, -2, "version");
  lchan_open(L);
  lwaitgroup_open(L);
  lselect_open(L);
  lmutex_open(L);
  ltime_open(L);
  latomic_open(L);
  lrwmutex_open(L);
  lonce_open(L);
  lcond_open(L);
  ltable_open(L);
  lnet_open(L);
  lexec_open(L);
  lsignal_open(L);
  return 1;
}

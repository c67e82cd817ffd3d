/* repl.c: the interactive loop of the `lugo` command, as lua.c's: a line
** is tried as `return <line>` first, continued while incomplete. */
#include "repl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>

#define REPL_LINE_MAX 4096

/* Line editing and history come from GNU readline when the system has it
** (lua5.4 itself needs it, so it usually does), loaded at run time so that
** building lugo needs no readline headers; else plain fgets. */
static char *(*rl_readline)(const char *prompt);
static void (*rl_add_history)(const char *line);

static void load_readline(void) {
  if (!isatty(0)) return;
  const char *names[] = {"libreadline.so.8", "libreadline.so.7", "libedit.so.2"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) continue;
    rl_readline = (char *(*)(const char *))dlsym(lib, "readline");
    rl_add_history = (void (*)(const char *))dlsym(lib, "add_history");
    if (rl_readline && rl_add_history) return;
    rl_readline = NULL;
    dlclose(lib);
  }
}

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static int read_line(lua_State *L, int first) {
  const char *prompt = first ? "> " : ">> ";
  if (rl_readline) {
    char *line = rl_readline(prompt);
    if (!line) return 0;
    if (line[0]) rl_add_history(line);
    lua_pushstring(L, line);
    free(line);
    return 1;
  }
  char buf[REPL_LINE_MAX];
  fputs(prompt, stdout);
  fflush(stdout);
  if (!fgets(buf, sizeof buf, stdin)) return 0;
  size_t len = strlen(buf);
  if (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0';
  lua_pushlstring(L, buf, len);
  return 1;
}

/* Compiles the line at the top, reading more lines while incomplete. */
static int load_line(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *ret = lua_pushfstring(L, "return %s", line);
  if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
    lua_remove(L, -2);
    lua_remove(L, -2);
    return LUA_OK;
  }
  lua_pop(L, 2);
  for (;;) {
    size_t len;
    const char *code = lua_tolstring(L, -1, &len);
    int status = luaL_loadbuffer(L, code, len, "=stdin");
    if (!incomplete(L, status)) {
      lua_remove(L, -2);
      return status;
    }
    if (!read_line(L, 0)) return status;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

void repl_run(lua_State *L, const char *progname) {
  load_readline();
  /* At the prompt, lugo is at hand without a require. */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "lugo");
  lua_setglobal(L, "lugo");
  lua_pop(L, 1);
  while (read_line(L, 1)) {
    int status = load_line(L);
    if (status == LUA_OK) {
      int base = lua_gettop(L);
      lua_pushcfunction(L, traceback);
      lua_insert(L, base);
      status = lua_pcall(L, 0, LUA_MULTRET, base);
      lua_remove(L, base);
      int n = lua_gettop(L) - base + 1;
      if (status == LUA_OK && n > 0) {
        lua_getglobal(L, "print");
        lua_insert(L, -n - 1);
        if (lua_pcall(L, n, 0, 0) != LUA_OK) status = LUA_ERRRUN;
      }
    }
    if (status != LUA_OK) {
      fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
      fflush(stderr);
    }
    lua_settop(L, 0);
  }
  fputs("\n", stdout);
  fflush(stdout);
}

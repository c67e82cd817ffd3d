/* main.c: the `lugo` command: runs a script, a chunk or stdin as the main
** goroutine (id 1), or a REPL; exit statuses as lua's, panics exit 2. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>

#include "../include/lugo.h"
#include "goroutine.h"
#include "output.h"
#include "prompt.h"
#include "repl.h"

static const char *progname = "lugo";

static void usage(FILE *out) {
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e chunk  execute string 'chunk'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -v        show version information\n"
          "  -h        show this help\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n"
          "With no script on a terminal, or with -i, %s starts a REPL.\n",
          progname, progname);
  fflush(out);
}

/* Calls the function under the message handler; reports an error and
** returns its status. */
static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, gor_msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

/* Sets 'arg' in the table on top of L as lua.c does: script at 0, options
** below. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;   /* no script: progname at 0 */
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setfield(L, -2, "arg");
}

static int run_chunk(lua_State *L, const char *chunk) {
  int status = luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)");
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* Runs the script (NULL or "-": stdin) with the remaining args as '...'. */
static int run_script(lua_State *L, const char *fname, char **args, int nargs) {
  if (fname && strcmp(fname, "-") == 0) fname = NULL;
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    luaL_checkstack(L, nargs, "too many arguments to script");
    for (int i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
    status = docall(L, nargs, 0);
  }
  return report(L, status);
}

/* ---- the main goroutine ---- */

/* What goroutine 1 runs: the -e chunks and the script of the command line,
** in order, in one global table; and how it went. */
typedef struct main_plan {
  char **argv;
  int argc;
  int script;                /* index of the script in argv; argc: none */
  bool read_stdin;           /* no script, no chunk: run stdin */
  int status;                /* out: LUA_OK, or the failed step's status */
  char *error;               /* out: its message (malloc), if any */
} main_plan;

/* Notes the error on top of L as the outcome of the main goroutine. */
static int main_failed(lua_State *L, main_plan *p, int status) {
  const char *msg = lua_tostring(L, -1);
  p->status = status;
  p->error = strdup(msg ? msg : "(error object is not a string)");
  return 0;
}

static int main_steps(lua_State *L, main_plan *p, int from);

/* Continues after a chunk that parked or gave way; from: the next step. */
static int main_continue(lua_State *L, int status, lua_KContext from) {
  main_plan *p = lua_touserdata(L, 1);
  if (status != LUA_OK && status != LUA_YIELD) return main_failed(L, p, status);
  return main_steps(L, p, (int)from);
}

/* Runs the function on top of L (a loaded chunk) with nargs arguments above
** it, in the main goroutine's globals (at index 2), under gor_msghandler. */
static int main_call(lua_State *L, main_plan *p, int nargs, int next) {
  int fn = lua_gettop(L) - nargs;
  lua_pushvalue(L, 2);
  if (!lua_setupvalue(L, fn, 1)) lua_pop(L, 1);   /* _ENV */
  lua_pushcfunction(L, gor_msghandler);
  lua_insert(L, fn);
  int status = lua_pcallk(L, nargs, 0, fn, next, main_continue);
  lua_remove(L, fn);
  return main_continue(L, status, next);
}

/* Runs the steps from argv index `from` on: each -e chunk, then the script
** (from == argc: the script; argc + 1: done). Stack: plan, globals. */
static int main_steps(lua_State *L, main_plan *p, int from) {
  for (int i = from; i < p->script; i++) {
    if (strcmp(p->argv[i], "-e") != 0) continue;
    const char *chunk = p->argv[++i];
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)") != LUA_OK)
      return main_failed(L, p, LUA_ERRSYNTAX);
    return main_call(L, p, 0, i + 1);
  }
  if (from > p->argc) return 0;
  const char *fname = NULL;
  int nargs = 0;
  if (p->script < p->argc) {
    fname = p->argv[p->script];
    if (strcmp(fname, "-") == 0) fname = NULL;
    nargs = p->argc - p->script - 1;
  } else if (!p->read_stdin) {
    return 0;
  }
  if (luaL_loadfile(L, fname) != LUA_OK) return main_failed(L, p, LUA_ERRSYNTAX);
  luaL_checkstack(L, nargs, "too many arguments to script");
  for (int i = 0; i < nargs; i++) lua_pushstring(L, p->argv[p->script + 1 + i]);
  return main_call(L, p, nargs, p->argc + 1);
}

/* The body of goroutine 1: sets `arg` in its globals, then runs the steps. */
static int main_body(lua_State *L) {
  main_plan *p = lua_touserdata(L, 1);
  lua_settop(L, 1);
  gor_push_env(L);
  create_arg_table(L, p->argv, p->argc, p->script);
  return main_steps(L, p, 1);
}

/* Runs the command line's chunks and script as goroutine 1 and returns the
** exit status (an error is reported as lua.c does). */
static int run_main_goroutine(lua_State *L, char **argv, int argc, int script,
                              bool read_stdin) {
  main_plan plan = {.argv = argv, .argc = argc, .script = script,
                    .read_stdin = read_stdin, .status = LUA_OK, .error = NULL};
  gor_run_body(L, main_body, &plan, BODY_MAIN);
  if (plan.status == LUA_OK) return 0;
  fprintf(stderr, "%s: %s\n", progname, plan.error ? plan.error : "(no message)");
  fflush(stderr);
  free(plan.error);
  return 1;
}

static void print_version(void) {
  printf("lugo %s (%s)\n", LUGO_VERSION, LUA_RELEASE);
  fflush(stdout);
}

/* Ends the process: the main goroutine returned, so, as in Go, the
** program ends whatever other goroutines are doing. */
static int finish(lua_State *L, int status) {
  lua_close(L);
  fflush(stdout);
  return status;
}

/* SIGQUIT prints every goroutine's state and traceback to stderr without
** stopping, as Go does. A thread waits for it: a handler could not take
** the dump (it needs locks and the workers' help). */
static void *sigquit_main(void *arg) {
  sigset_t *set = arg;
  lua_State *L = luaL_newstate();
  for (;;) {
    int sig;
    if (sigwait(set, &sig) != 0 || !L) continue;
    gor_push_dump(L, NULL);
    const char *dump = lua_pushfstring(L, "SIGQUIT: goroutine dump\n\n%s", lua_tostring(L, -1));
    output_write(stderr, dump, strlen(dump));   /* above the REPL's prompt */
    lua_settop(L, 0);
  }
  return NULL;
}

/* Blocks SIGQUIT in every thread (workers inherit the mask) and starts the
** thread that waits for it. */
static void handle_sigquit(void) {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGQUIT);
  pthread_t thread;
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 &&
      pthread_create(&thread, NULL, sigquit_main, &set) == 0)
    pthread_detach(thread);
}

int main(int argc, char **argv) {
  if (argv[0] && argv[0][0]) progname = argv[0];
  int interactive = 0, version = 0, script = argc;
  int i;
  /* First pass: validate options and find the script. */
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') { script = i; break; }
    if (strcmp(a, "-") == 0) { script = i; break; }
    if (strcmp(a, "--") == 0) { if (i + 1 < argc) script = i + 1; break; }
    if (strcmp(a, "-i") == 0) { interactive = 1; version = 1; continue; }
    if (strcmp(a, "-v") == 0) { version = 1; continue; }
    if (strcmp(a, "-h") == 0) { usage(stdout); return 0; }
    if (strcmp(a, "-e") == 0) {
      if (++i >= argc) { fprintf(stderr, "%s: '-e' needs argument\n", progname); usage(stderr); return 1; }
      continue;
    }
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
    usage(stderr);
    return 1;
  }
  bool has_chunk = false;
  for (i = 1; i < script; i++)
    if (strcmp(argv[i], "-e") == 0) has_chunk = true;
  /* At a terminal the REPL runs its lines in the main goroutine (prompt.c);
  ** SIGINT must be blocked before the runtime starts its threads. */
  bool terminal_repl = isatty(STDIN_FILENO) &&
      (interactive || (script == argc && !has_chunk && !version));
  if (terminal_repl) prompt_block_sigint();
  lua_State *L = luaL_newstate();
  if (!L) { fprintf(stderr, "%s: cannot create state: not enough memory\n", progname); return 1; }
  gor_exit_on_deadlock();
  handle_sigquit();
  luaL_openlibs(L);
  luaL_requiref(L, "lugo", luaopen_lugo, 0);
  lua_pop(L, 1);
  if (version && !interactive) print_version();
  if (terminal_repl) {
    lua_pushglobaltable(L);
    create_arg_table(L, argv, argc, script);
    lua_pop(L, 1);
    print_version();
    return finish(L, prompt_run(L, progname, argv, argc, script));
  }
  if (!interactive) {
    bool read_stdin = script == argc && !has_chunk && !version && !isatty(0);
    if (script < argc || has_chunk || read_stdin)
      return finish(L, run_main_goroutine(L, argv, argc, script, read_stdin));
    if (script == argc && !has_chunk && !version) {
      print_version();
      repl_run(L, progname);
    }
    return finish(L, 0);
  }
  /* -i with stdin not a terminal: lines run on this thread (outside the
  ** runtime), as lua -i reads a file; the chunks and script it follows
  ** run here too, in its globals. */
  lua_pushglobaltable(L);
  create_arg_table(L, argv, argc, script);
  lua_pop(L, 1);
  for (i = 1; i < script; i++) {
    if (strcmp(argv[i], "-e") == 0) {
      if (run_chunk(L, argv[++i]) != LUA_OK) return finish(L, 1);
    }
  }
  if (script < argc) {
    if (run_script(L, argv[script], argv + script + 1, argc - script - 1) != LUA_OK)
      return finish(L, 1);
  }
  print_version();
  repl_run(L, progname);
  return finish(L, 0);
}

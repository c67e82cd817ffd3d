/* prompt.c: the REPL at a terminal. This thread reads lines (GNU readline's
** callback interface when built with it) and the main goroutine runs them
** (lua/lugo/replmain.lua), so the prompt holds no worker; Ctrl-C, deadlocks
** and panics end a line, never the session; goroutines print above the
** prompt. */
#include "prompt.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>

#ifdef LUGO_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "../core/chan.h"
#include "goroutine.h"
#include "object.h"
#include "output.h"
#include "repl_lua.h"       /* generated from lua/lugo/repl.lua */
#include "replmain_lua.h"   /* generated from lua/lugo/replmain.lua */

#define HISTORY_MAX 1000

/*
** {======================================================
** The link: requests from this thread to goroutine 1, replies back
** =======================================================
** One request at a time: this thread sets it and waits for the reply.
** Goroutine 1 parks while no request is there (its waker is this thread,
** which counts as awake at the prompt: no false deadlock). This thread
** waits for the reply as a registered thread outside the runtime, so a
** line that deadlocks the runtime wakes it with the deadlock flag: it then
** ends the line with the report (gor_interrupt_main).
*/
typedef struct repl_link {
  pthread_mutex_t mu;        /* guards every field */
  bool has_request;
  char kind[16];             /* "line", "chunk", "script", "complete", "quit" */
  char *a, *b;               /* its strings (malloc'd), or NULL */
  sched_task *goroutine;     /* goroutine 1, parked for a request */
  bool replied;
  char *reply;               /* the reply's string (malloc'd), or NULL: nil */
  sched_task *thread;        /* this thread, parked for the reply */
} repl_link;

static repl_link the_link = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under the link's lock: takes the task parked in *slot (NULL if none),
** counting it unblocked; the caller wakes it after unlocking. */
static sched_task *take_parked(sched_task **slot) {
  sched_task *t = *slot;
  *slot = NULL;
  if (t) sched_unblocked(t);
  return t;
}

static void link_unlock(void *l) {
  pthread_mutex_unlock(&((repl_link *)l)->mu);
}

/* Gives up goroutine 1's wait for a request (only an interrupt could ask:
** goroutine 1 is not interruptible while it waits here). */
static bool link_cancel(void *l, waiter *w) {
  repl_link *k = l;
  pthread_mutex_lock(&k->mu);
  bool waiting = k->goroutine == w->task;
  if (waiting) {
    k->goroutine = NULL;
    sched_unblocked(w->task);
  }
  pthread_mutex_unlock(&k->mu);
  return waiting;
}

static const park_ops input_ops = {"waiting for input", link_unlock, link_cancel};

/* Under the_link.mu, with a request: pushes kind, a, b and unlocks. */
static int push_request(lua_State *L) {
  lua_pushstring(L, the_link.kind);
  if (the_link.a) lua_pushstring(L, the_link.a); else lua_pushnil(L);
  if (the_link.b) lua_pushstring(L, the_link.b); else lua_pushnil(L);
  free(the_link.a);
  free(the_link.b);
  the_link.a = the_link.b = NULL;
  the_link.has_request = false;
  pthread_mutex_unlock(&the_link.mu);
  return 3;
}

static int next_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  pthread_mutex_lock(&the_link.mu);
  return push_request(L);
}

/* next_request() in goroutine 1: kind, a, b of the next request. */
static int l_next_request(lua_State *L) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  pthread_mutex_lock(&the_link.mu);
  if (the_link.has_request) return push_request(L);
  op->w.task = op->task;
  the_link.goroutine = op->task;
  sched_blocked(op->task);
  return op_park(L, op, &input_ops, &the_link, next_resumed);
}

/* reply([s]) in goroutine 1: the answer to the current request. */
static int l_reply(lua_State *L) {
  const char *s = luaL_optstring(L, 1, NULL);
  char *copy = s ? strdup(s) : NULL;
  pthread_mutex_lock(&the_link.mu);
  the_link.replied = true;
  the_link.reply = copy;
  sched_task *t = take_parked(&the_link.thread);
  pthread_mutex_unlock(&the_link.mu);
  if (t) sched_wake(t);
  return 0;
}

static int l_interruptible(lua_State *L) {
  gor_main_interruptible(lua_toboolean(L, 1));
  return 0;
}

/* For lugo.repl's show: whether the channel at 1 is closed. */
static int l_chan_closed(lua_State *L) {
  lugo_obj *o;
  int flags;
  lua_pushboolean(L, lobj_test(L, 1, &o, &flags) && o->kind == OBJ_CHAN &&
                     chan_closed((chan *)o));
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** This thread's side of a request
** =======================================================
*/

static atomic_bool line_running;     /* a line (or script) runs: Ctrl-C interrupts */
static lua_State *scratch;           /* this thread's own state: syntax, dumps */

/* Ends the running line with the error msg. A try is refused before the
** line becomes interruptible, and can miss while goroutine 1 moves between
** states: repeat until the message was raised or the line is over. */
static void interrupt_line(const char *msg) {
  for (int i = 0; i < 2000 && atomic_load(&line_running); i++) {
    if (gor_interrupt_main(msg) && !gor_main_interrupt_pending()) return;
    nanosleep(&(struct timespec){0, 2000000}, NULL);
  }
}

static const char deadlock_text[] = "fatal error: all goroutines are asleep - deadlock!\n\n";

/* The runtime is deadlocked while goroutine 1 runs a line: end the line
** with the report as its error (docs/api.md). */
static void end_line_with_deadlock(void) {
  gor_push_dump(scratch, NULL);
  lua_pushstring(scratch, deadlock_text);
  lua_insert(scratch, -2);
  lua_concat(scratch, 2);
  interrupt_line(lua_tostring(scratch, -1));
  lua_pop(scratch, 1);
}

/* Hands goroutine 1 a request. */
static void send_request(const char *kind, const char *a, const char *b) {
  pthread_mutex_lock(&the_link.mu);
  snprintf(the_link.kind, sizeof the_link.kind, "%s", kind);
  the_link.a = a ? strdup(a) : NULL;
  the_link.b = b ? strdup(b) : NULL;
  the_link.has_request = true;
  the_link.replied = false;
  sched_task *t = take_parked(&the_link.goroutine);
  pthread_mutex_unlock(&the_link.mu);
  if (t) sched_wake(t);
}

/* Hands goroutine 1 a request and waits for its reply; returns the reply
** (malloc'd) or NULL (nil). */
static char *request(const char *kind, const char *a, const char *b) {
  send_request(kind, a, b);
  for (;;) {
    /* An outside_op, as dumps expect of every blocked thread; L NULL: not
    ** listed (goroutine 1 is the one that waits, on the worker). */
    outside_op wait;
    sched_thread_task *tt = &wait.tt;
    sched_thread_task_init(tt);
    wait.L = NULL;
    wait.reason = NULL;
    pthread_mutex_lock(&the_link.mu);
    if (the_link.replied) {
      char *reply = the_link.reply;
      the_link.reply = NULL;
      pthread_mutex_unlock(&the_link.mu);
      sched_thread_task_destroy(tt);
      return reply;
    }
    the_link.thread = &tt->task;
    sched_blocked(&tt->task);
    tt->task.unlock = link_unlock;
    tt->task.unlock_arg = &the_link;
    sched_block(tt);
    bool deadlock = tt->deadlock;
    sched_thread_task_destroy(tt);
    if (!deadlock) continue;
    pthread_mutex_lock(&the_link.mu);
    bool still_waiting = the_link.thread == &tt->task;
    if (still_waiting) {
      the_link.thread = NULL;
      sched_unblocked(&tt->task);
    }
    pthread_mutex_unlock(&the_link.mu);
    if (still_waiting) end_line_with_deadlock();
  }
}

/* Runs a chunk of the kind given in goroutine 1; true if it succeeded
** (for "line", the REPL reports errors itself and this is always true). */
static bool run_request(const char *kind, const char *a) {
  atomic_store(&line_running, true);
  char *reply = request(kind, a, NULL);
  atomic_store(&line_running, false);
  bool ok = reply != NULL;
  free(reply);
  return ok;
}

/* Is chunk an incomplete statement (more lines wanted)? As lua.c decides. */
static bool incomplete(const char *chunk) {
  lua_State *S = scratch;
  lua_pushfstring(S, "return %s", chunk);
  int status = luaL_loadbuffer(S, lua_tostring(S, -1), lua_rawlen(S, -1), "=stdin");
  lua_settop(S, 0);
  if (status == LUA_OK) return false;
  status = luaL_loadbuffer(S, chunk, strlen(chunk), "=stdin");
  bool more = false;
  if (status == LUA_ERRSYNTAX) {
    size_t n;
    const char *msg = lua_tolstring(S, -1, &n);
    more = n >= 5 && strcmp(msg + n - 5, "<eof>") == 0;
  }
  lua_settop(S, 0);
  return more;
}

/* }====================================================== */


/*
** {======================================================
** Signals and the terminal
** =======================================================
*/

static int wake_pipe[2] = {-1, -1};  /* to this thread: 'o' output, 'i' Ctrl-C */
static atomic_bool prompt_active;   /* this thread shows a prompt */
static sigset_t sigint_set;
static struct termios saved_tio;
static bool have_tio;

static void restore_terminal(void) {
  if (have_tio) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
}

/* SIGINT is blocked in every thread (prompt_block_sigint) and waited for
** here: at the prompt it discards the typed line; while a line runs it
** interrupts it. */
static void *sigint_main(void *arg) {
  (void)arg;
  for (;;) {
    int sig;
    if (sigwait(&sigint_set, &sig) != 0) continue;
    /* Between the prompt and the line (Enter was just pressed, or the
    ** line just ended) neither flag is set: wait for one, briefly. */
    for (int i = 0; i < 200; i++) {
      if (atomic_load(&prompt_active)) {
        ssize_t ignored = write(wake_pipe[1], "i", 1);
        (void)ignored;
        break;
      }
      if (atomic_load(&line_running)) {
        interrupt_line("interrupted!");
        break;
      }
      nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
  }
  return NULL;
}

void prompt_block_sigint(void) {
  sigemptyset(&sigint_set);
  sigaddset(&sigint_set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint_set, NULL);
}

/* }====================================================== */


/*
** {======================================================
** Output above the prompt
** =======================================================
** While the prompt shows, print's lines (any thread) are queued and this
** thread writes them above the prompt, then redraws the typed line. While a
** line runs, output goes straight out. out_mu orders both.
*/
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static bool prompt_showing;         /* guarded by out_mu */
static char *queued;                /* records: stream byte, then text, NUL */
static size_t queued_len, queued_cap;

static bool queue_output(FILE *stream, const char *s, size_t n) {
  pthread_mutex_lock(&out_mu);
  if (!prompt_showing) {
    fwrite(s, 1, n, stream);
    fflush(stream);
    pthread_mutex_unlock(&out_mu);
    return true;
  }
  size_t need = queued_len + n + 2;
  if (need > queued_cap) {
    size_t cap = queued_cap ? queued_cap * 2 : 4096;
    while (cap < need) cap *= 2;
    char *grown = realloc(queued, cap);
    if (!grown) {
      pthread_mutex_unlock(&out_mu);
      return false;            /* written directly: garbled, but not lost */
    }
    queued = grown;
    queued_cap = cap;
  }
  queued[queued_len++] = stream == stderr ? 'e' : 'o';
  memcpy(queued + queued_len, s, n);
  queued_len += n;
  queued[queued_len++] = '\0';
  pthread_mutex_unlock(&out_mu);
  ssize_t ignored = write(wake_pipe[1], "o", 1);
  (void)ignored;
  return true;
}

#ifdef LUGO_HAVE_READLINE
/* Writes the queued records; under out_mu. Text holding a NUL byte was cut
** there (print's lines rarely do). */
static void write_queued(void) {
  for (size_t i = 0; i < queued_len;) {
    FILE *stream = queued[i] == 'e' ? stderr : stdout;
    const char *text = queued + i + 1;
    size_t n = strlen(text);
    fwrite(text, 1, n, stream);
    fflush(stream);
    i += n + 2;
  }
  queued_len = 0;
}
#endif

/* }====================================================== */


/*
** {======================================================
** Reading lines
** =======================================================
*/

#ifdef LUGO_HAVE_READLINE

static char *history_file;          /* NULL: no history */

static char *history_path(void) {
  const char *env = getenv("LUGO_HISTORY");
  if (env) return env[0] ? strdup(env) : NULL;
  const char *home = getenv("HOME");
  if (!home || !home[0]) return NULL;
  size_t n = strlen(home) + sizeof "/.lugo_history";
  char *path = malloc(n);
  if (path) snprintf(path, n, "%s/.lugo_history", home);
  return path;
}

static char *accepted;              /* the line readline handed over */
static bool line_done, at_eof;
static bool handler_installed;      /* readline's callback handler is */

static void hide_prompt(void);

/* Removing the handler here, in the callback, keeps readline from showing
** the prompt again for a next line. */
static void on_line(char *line) {
  line_done = true;
  if (line == NULL) at_eof = true;
  accepted = line;
  hide_prompt();
}

static void show_prompt(const char *prompt) {
  pthread_mutex_lock(&out_mu);
  rl_callback_handler_install(prompt, on_line);
  handler_installed = true;
  prompt_showing = true;
  atomic_store(&prompt_active, true);
  write_queued();
  pthread_mutex_unlock(&out_mu);
}

static void hide_prompt(void) {
  pthread_mutex_lock(&out_mu);
  atomic_store(&prompt_active, false);
  prompt_showing = false;
  if (handler_installed) rl_callback_handler_remove();
  handler_installed = false;
  pthread_mutex_unlock(&out_mu);
}

static void redraw_with_output(void) {
  pthread_mutex_lock(&out_mu);
  if (prompt_showing && queued_len > 0) {
    rl_clear_visible_line();
    fflush(rl_outstream);           /* before stderr records: in order */
    write_queued();
    rl_forced_update_display();
  } else {
    write_queued();
  }
  pthread_mutex_unlock(&out_mu);
}

/* Completion: goroutine 1 lists the candidates (lugo.repl's complete). */
static char **candidates;
static size_t ncandidates, next_candidate;

static char *candidate(const char *text, int state) {
  (void)text;
  if (state == 0) next_candidate = 0;
  if (next_candidate >= ncandidates) return NULL;
  return strdup(candidates[next_candidate++]);
}

static char **complete(const char *text, int start, int end) {
  (void)start; (void)end;
  rl_attempted_completion_over = 1;   /* no file names */
  rl_completion_append_character = '\0';   /* reset by readline each time */
  for (size_t i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = 0;
  char *reply = request("complete", text, rl_line_buffer);
  if (!reply || !reply[0]) {
    free(reply);
    return NULL;
  }
  size_t n = 1;
  for (const char *p = reply; *p; p++) n += *p == '\n';
  candidates = calloc(n, sizeof *candidates);
  if (candidates) {
    for (char *save = NULL, *w = strtok_r(reply, "\n", &save); w;
         w = strtok_r(NULL, "\n", &save))
      candidates[ncandidates++] = strdup(w);
  }
  free(reply);
  return rl_completion_matches(text, candidate);
}

static void setup_readline(void) {
  rl_catch_signals = 0;             /* SIGINT is ours (sigint_main) */
  rl_readline_name = "lugo";
  rl_attempted_completion_function = complete;
  rl_completion_append_character = '\0';
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~[]#";
  rl_completer_word_break_characters = rl_basic_word_break_characters;
  using_history();
  stifle_history(HISTORY_MAX);
  history_file = history_path();
  if (history_file && read_history(history_file) == ENOENT)
    write_history(history_file);    /* so that append_history has a file */
}

static void remember(const char *chunk) {
  if (!chunk[0]) return;
  add_history(chunk);
  if (history_file) {
    append_history(1, history_file);
    history_truncate_file(history_file, HISTORY_MAX);
  }
}

/* Reads one line with the prompt shown; NULL at end of input. Goroutine
** output and Ctrl-C are handled meanwhile; *discarded is set when Ctrl-C
** threw the typed text away (the chunk so far must go too). */
static char *read_line(const char *prompt, bool *discarded) {
  line_done = at_eof = false;
  accepted = NULL;
  *discarded = false;
  show_prompt(prompt);
  while (!line_done) {
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & POLLIN) {
      char events[64];
      ssize_t n = read(wake_pipe[0], events, sizeof events);
      bool interrupted = n > 0 && memchr(events, 'i', (size_t)n) != NULL;
      redraw_with_output();
      if (interrupted) {            /* Ctrl-C at the prompt: drop the line */
        hide_prompt();
        fputs("\n", stdout);
        fflush(stdout);
        *discarded = true;
        prompt = "> ";
        show_prompt(prompt);
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
      rl_callback_read_char();
  }
  hide_prompt();
  if (!line_done) return NULL;
  return at_eof ? NULL : accepted;
}

static void finish_readline(void) {
  if (history_file) history_truncate_file(history_file, HISTORY_MAX);
  free(history_file);
}

#else  /* no readline: plain lines, output as it comes */

static void setup_readline(void) {}
static void remember(const char *chunk) { (void)chunk; }
static void finish_readline(void) {}

static char *read_line(const char *prompt, bool *discarded) {
  *discarded = false;
  atomic_store(&prompt_active, true);
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  for (;;) {
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) {
      char events[64];
      ssize_t k = read(wake_pipe[0], events, sizeof events);
      if (k > 0 && memchr(events, 'i', (size_t)k)) {
        fputs("\n", stdout);
        fputs(prompt = "> ", stdout);
        fflush(stdout);
        *discarded = true;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) break;
  }
  n = getline(&line, &cap, stdin);
  atomic_store(&prompt_active, false);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  return line;
}

#endif

/* }====================================================== */


/* The body of goroutine 1: lugo.repl's module, then replmain's loop. */
static int repl_body(lua_State *L) {
  const char *progname = lua_touserdata(L, 1);
  lua_settop(L, 0);
  luaL_loadbuffer(L, repl_lua, sizeof repl_lua - 1, "=lugo.repl");
  lua_call(L, 0, 1);
  lua_pushcfunction(L, l_chan_closed);
  lua_setfield(L, -2, "chan_closed");
  int module = lua_gettop(L);
  luaL_loadbuffer(L, replmain_lua, sizeof replmain_lua - 1, "=lugo.replmain");
  lua_pushcfunction(L, l_next_request);
  lua_pushcfunction(L, l_reply);
  lua_pushcfunction(L, l_interruptible);
  lua_pushvalue(L, module);
  lua_pushstring(L, progname);
  lua_callk(L, 5, 0, 0, op_done_nothing);
  return 0;
}

typedef struct body_start {
  lua_State *L;
  const char *progname;
} body_start;

/* Runs goroutine 1 and waits for it, uncounted: the input thread is the
** one that can wake it (see "The link"). */
static void *main_goroutine_thread(void *arg) {
  body_start *start = arg;
  gor_run_main(start->L, repl_body, (void *)start->progname, false);
  return NULL;
}

int prompt_run(lua_State *L, const char *progname, char **argv, int argc,
               int script) {
  int status = 0;
  scratch = luaL_newstate();
  if (!scratch || pipe(wake_pipe) != 0) {
    fprintf(stderr, "%s: cannot start the REPL\n", progname);
    return 1;
  }
  have_tio = tcgetattr(STDIN_FILENO, &saved_tio) == 0;
  atexit(restore_terminal);         /* also after os.exit in a line */
  gor_survive_panics();
  output_set_sink(queue_output);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "lugo");
  lua_setglobal(L, "lugo");        /* at hand without a require */
  lua_pop(L, 1);
  pthread_t sigint_thread, main_thread;
  pthread_create(&sigint_thread, NULL, sigint_main, NULL);
  pthread_detach(sigint_thread);
  body_start start = {L, progname};
  pthread_create(&main_thread, NULL, main_goroutine_thread, &start);
  /* lugo -i [-e chunk] [script]: those first, as lua -i does. */
  for (int i = 1; i < script && status == 0; i++)
    if (strcmp(argv[i], "-e") == 0 && !run_request("chunk", argv[++i])) status = 1;
  if (status == 0 && script < argc &&
      !run_request("script", strcmp(argv[script], "-") == 0 ? "" : argv[script]))
    status = 1;
  if (status == 0) {
    setup_readline();
    char *chunk = NULL;
    for (;;) {
      bool discarded;
      char *line = read_line(chunk ? ">> " : "> ", &discarded);
      if (discarded) {
        free(chunk);
        chunk = NULL;
      }
      if (!line) break;
      if (chunk) {
        size_t n = strlen(chunk) + strlen(line) + 2;
        char *joined = malloc(n);
        if (joined) snprintf(joined, n, "%s\n%s", chunk, line);
        free(chunk);
        chunk = joined;
      } else {
        chunk = strdup(line);
      }
      free(line);
      if (!chunk || incomplete(chunk)) continue;
      remember(chunk);
      run_request("line", chunk);
      free(chunk);
      chunk = NULL;
    }
    free(chunk);
    fputs("\n", stdout);
    fflush(stdout);
    finish_readline();
  }
  send_request("quit", NULL, NULL);   /* goroutine 1 returns: no reply */
  pthread_join(main_thread, NULL);
  output_set_sink(NULL);
  restore_terminal();
  lua_close(scratch);
  return status;
}

/* prompt.c: the REPL at a terminal. This thread reads lines (GNU readline's
** callback interface when built with it) and the main goroutine runs them
** (through repllink.c), so the prompt holds no worker; Ctrl-C, deadlocks
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

#include "goroutine.h"
#include "output.h"
#include "repllink.h"

#define HISTORY_MAX 1000

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
      if (repl_line_running()) {
        repl_interrupt_line("interrupted!");
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
  char *reply = repl_request("complete", text, rl_line_buffer);
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


int prompt_run(lua_State *L, const char *progname, char **argv, int argc,
               int script) {
  int status = 0;
  if (pipe(wake_pipe) != 0) {
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
  pthread_t sigint_thread;
  pthread_create(&sigint_thread, NULL, sigint_main, NULL);
  pthread_detach(sigint_thread);
  if (!repl_link_start(L, progname)) {
    fprintf(stderr, "%s: cannot start the REPL\n", progname);
    return 1;
  }
  /* lugo -i [-e chunk] [script]: those first, as lua -i does. */
  for (int i = 1; i < script && status == 0; i++)
    if (strcmp(argv[i], "-e") == 0 && !repl_run_request("chunk", argv[++i])) status = 1;
  if (status == 0 && script < argc &&
      !repl_run_request("script", strcmp(argv[script], "-") == 0 ? "" : argv[script]))
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
      if (!chunk || repl_incomplete(chunk)) continue;
      remember(chunk);
      repl_run_request("line", chunk);
      free(chunk);
      chunk = NULL;
    }
    free(chunk);
    fputs("\n", stdout);
    fflush(stdout);
    finish_readline();
  }
  repl_link_finish();
  output_set_sink(NULL);
  restore_terminal();
  return status;
}

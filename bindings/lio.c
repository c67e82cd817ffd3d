/* lio.c: the standard io library in goroutines: file:read, file:lines,
** file:write, file:flush, io.read, io.lines, io.write (opens and closes
** that wait: liofile.c; os.execute: lexecute.c). In a goroutine the stdio
** calls run on a helper thread (core/offload.h) while it parks, so a read
** of a pipe or a terminal never holds a worker; the FILE* and its buffer
** are the library's own, so mixing with its other calls works; results and
** errors are the library's. Outside the runtime the library's originals run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include <lualib.h>

#include "../core/offload.h"
#include "goroutine.h"
#include "module.h"

#define MAXFORMATS 64
#define NUMERAL_MAX 200          /* as liolib's L_MAXLENNUM */

enum { F_LINE, F_LINE_KEEP, F_ALL, F_COUNT, F_NUMBER, F_EOF_TEST };

typedef struct piece {
  char *data;                /* malloc'd */
  size_t len;
  int ok;                    /* the format succeeded */
} piece;

/* One read or write, in a userdata on the caller's stack (it survives the
** park); the helper thread fills the results. */
typedef struct io_job {
  offload_job job;
  FILE *f;
  bool write;
  int n;                     /* formats (read) or strings (write; -1: a flush) */
  int kind[MAXFORMATS];
  size_t count[MAXFORMATS];
  const char *out[MAXFORMATS];   /* write: the strings, anchored on the stack */
  size_t outlen[MAXFORMATS];
  piece res[MAXFORMATS];     /* read: one per format done */
  int done;                  /* formats done (read: stops at the first failure) */
  int err;                   /* errno of a stdio error, or 0 */
  bool failed;               /* ferror */
} io_job;

/* ---- on the helper thread: stdio only ---- */

static bool grow(piece *p, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : 128;
  while (c < need) c *= 2;
  char *d = realloc(p->data, c);
  if (!d) return false;
  p->data = d;
  *cap = c;
  return true;
}

static bool read_line(FILE *f, piece *p, bool keep) {
  size_t cap = 0;
  int c = EOF;
  while ((c = getc(f)) != EOF && c != '\n') {
    if (!grow(p, &cap, p->len + 1)) return false;
    p->data[p->len++] = (char)c;
  }
  if (c == '\n' && keep) {
    if (!grow(p, &cap, p->len + 1)) return false;
    p->data[p->len++] = '\n';
  }
  p->ok = c == '\n' || p->len > 0;
  return true;
}

static bool read_chars(FILE *f, piece *p, size_t n) {
  size_t cap = 0;
  if (!grow(p, &cap, n ? n : 1)) return false;
  p->len = fread(p->data, 1, n, f);
  p->ok = p->len > 0;
  return true;
}

static bool read_all(FILE *f, piece *p) {
  size_t cap = 0;
  for (;;) {
    if (!grow(p, &cap, p->len + 4096)) return false;
    size_t got = fread(p->data + p->len, 1, cap - p->len, f);
    p->len += got;
    if (got == 0) break;
  }
  p->ok = 1;
  return true;
}

/* A numeral's characters (as liolib's read_number reads them, simplified:
** sign, hex prefix, digits, point, exponent); the worker converts. */
static bool read_numeral(FILE *f, piece *p) {
  size_t cap = 0;
  if (!grow(p, &cap, NUMERAL_MAX + 1)) return false;
  int c;
  do c = getc(f); while (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v');
  bool hex = false;
  int prev = 0;
  while (c != EOF && p->len < NUMERAL_MAX) {
    bool take = (c >= '0' && c <= '9') || c == '.' ||
                ((c == '+' || c == '-') && (p->len == 0 || prev == 'e' || prev == 'E' ||
                                            (hex && (prev == 'p' || prev == 'P')))) ||
                ((c == 'x' || c == 'X') && p->len > 0 && p->data[p->len - 1] == '0') ||
                (hex ? ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == 'p' || c == 'P')
                     : (c == 'e' || c == 'E'));
    if (!take) break;
    if (c == 'x' || c == 'X') hex = true;
    p->data[p->len++] = (char)c;
    prev = c;
    c = getc(f);
  }
  if (c != EOF) ungetc(c, f);
  p->data[p->len] = '\0';
  p->ok = 1;   /* the worker decides */
  return true;
}

static void run_job(void *arg) {
  io_job *j = arg;
  clearerr(j->f);
  errno = 0;
  if (j->write) {
    for (int i = 0; i < j->n; i++) {
      if (fwrite(j->out[i], 1, j->outlen[i], j->f) != j->outlen[i]) {
        j->failed = true;
        j->err = errno;
        return;
      }
    }
    if (j->n < 0 && fflush(j->f) != 0) {
      j->failed = true;
      j->err = errno;
    }
    return;
  }
  for (j->done = 0; j->done < j->n; j->done++) {
    piece *p = &j->res[j->done];
    bool mem;
    switch (j->kind[j->done]) {
      case F_LINE: mem = read_line(j->f, p, false); break;
      case F_LINE_KEEP: mem = read_line(j->f, p, true); break;
      case F_ALL: mem = read_all(j->f, p); break;
      case F_COUNT: mem = read_chars(j->f, p, j->count[j->done]); break;
      case F_NUMBER: mem = read_numeral(j->f, p); break;
      default: {   /* read(0): "" unless at the end */
        int c = getc(j->f);
        if (c != EOF) ungetc(c, j->f);
        p->ok = c != EOF;
        mem = true;
        break;
      }
    }
    if (!mem) {
      j->failed = true;
      j->err = ENOMEM;
      return;
    }
    if (ferror(j->f)) {
      j->failed = true;
      j->err = errno;
      j->done++;
      return;
    }
    if (!p->ok) {
      j->done++;
      return;
    }
  }
}

/* ---- on the worker ---- */

static FILE *tofile(lua_State *L, int idx) {
  luaL_Stream *s = luaL_checkudata(L, idx, LUA_FILEHANDLE);
  if (s->closef == NULL) luaL_error(L, "attempt to use a closed file");
  return s->f;
}

static void free_pieces(io_job *j) {
  for (int i = 0; i < j->n; i++) {
    free(j->res[i].data);
    j->res[i].data = NULL;
  }
}

/* Pushes a read's results as g_read does; returns their number. */
static int push_read(lua_State *L, io_job *j) {
  if (j->failed) {
    free_pieces(j);
    return luaL_fileresult(L, 0, NULL);   /* errno is the helper's: set it back */
  }
  for (int i = 0; i < j->done; i++) {
    piece *p = &j->res[i];
    if (j->kind[i] == F_NUMBER) {
      if (p->len == 0 || lua_stringtonumber(L, p->data) == 0) {
        lua_pushnil(L);
        p->ok = 0;
      }
    } else if (!p->ok) {
      lua_pushnil(L);
    } else if (j->kind[i] == F_EOF_TEST) {
      lua_pushliteral(L, "");
    } else {
      lua_pushlstring(L, p->data ? p->data : "", p->len);
    }
    if (!p->ok) {
      free_pieces(j);
      return i + 1;
    }
  }
  free_pieces(j);
  return j->done;
}

static int read_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  io_job *j = lua_touserdata(L, -1);
  if (j->failed) errno = j->err;
  return push_read(L, j);
}

/* Parses the formats at first..top into j. */
static void parse_formats(lua_State *L, io_job *j, int first) {
  int top = lua_gettop(L);
  j->n = 0;
  if (top < first) {
    j->kind[j->n++] = F_LINE;
    return;
  }
  luaL_argcheck(L, top - first + 1 <= MAXFORMATS, first, "too many formats");
  for (int i = first; i <= top; i++) {
    int k = j->n++;
    if (lua_type(L, i) == LUA_TNUMBER) {
      lua_Integer n = luaL_checkinteger(L, i);
      j->kind[k] = n == 0 ? F_EOF_TEST : F_COUNT;
      j->count[k] = n < 0 ? 0 : (size_t)n;
      continue;
    }
    const char *p = luaL_checkstring(L, i);
    if (*p == '*') p++;
    switch (*p) {
      case 'n': j->kind[k] = F_NUMBER; break;
      case 'l': j->kind[k] = F_LINE; break;
      case 'L': j->kind[k] = F_LINE_KEEP; break;
      case 'a': j->kind[k] = F_ALL; break;
      default: luaL_argerror(L, i, "invalid format");
    }
  }
}

static const park_ops io_ops = {"IO wait", offload_unlock, offload_cancel};

static bool can_run_here(io_job *j);

/* Runs j (a userdata on top of L) on a helper thread, parked; then k. */
static int offload_then(lua_State *L, io_job *j, lua_KFunction k) {
  outside_op storage;
  lugo_op *op = op_begin(L, &storage);
  j->job.fn = run_job;
  j->job.arg = j;
  j->job.task = op->task;
  if (can_run_here(j) || !offload_submit(&j->job)) {
    run_job(j);
    return k(L, LUA_OK, 0);
  }
  return op_park(L, op, &io_ops, &j->job, k);
}

/* Calls the library's function (upvalue 1) with the stack's values. */
static int call_original(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* In a goroutine that can park? Else the library's original runs. */
static bool offloading(lua_State *L) {
  return sched_running() != NULL && lua_isyieldable(L);
}

/* Whether j can run right here: what it reads is in the FILE*'s buffer
** already (glibc's read pointers), or the file is a regular one, whose
** reads and writes never wait long (as Go's os.File runs them on its
** thread). Pipes, FIFOs, terminals and sockets go to a helper thread. A
** goroutine reading a big file this way still gives way at preemption. */
static bool can_run_here(io_job *j) {
#ifdef __GLIBC__
  if (!j->write && j->n == 1 && j->f->_IO_read_ptr < j->f->_IO_read_end) {
    size_t avail = (size_t)(j->f->_IO_read_end - j->f->_IO_read_ptr);
    int k = j->kind[0];
    if ((k == F_LINE || k == F_LINE_KEEP) && memchr(j->f->_IO_read_ptr, '\n', avail)) return true;
    if (k == F_COUNT && avail >= j->count[0]) return true;
  }
#endif
  struct stat st;
  return fstat(fileno(j->f), &st) == 0 && S_ISREG(st.st_mode);
}

static io_job *new_job(lua_State *L, FILE *f, bool write) {
  io_job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  j->f = f;
  j->write = write;
  return j;
}

/* The library's own file:read, kept in the registry by lio_install. */
static const char orig_read_key = 0;

/* Whether a read of the formats first..top of f can run right here: the
** FILE*'s buffer holds what one line or count format needs (glibc's read
** pointers: no system call), or f is a regular file, whose reads never
** wait long (as Go's os.File reads on its own thread); then the library's
** own read runs, at its own speed. A goroutine reading a big file this way
** still gives way at preemption. Pipes, FIFOs, terminals: a helper. */
static bool read_here(lua_State *L, FILE *f, int first) {
#ifdef __GLIBC__
  int top = lua_gettop(L);
  if (top <= first && f->_IO_read_ptr < f->_IO_read_end) {
    size_t avail = (size_t)(f->_IO_read_end - f->_IO_read_ptr);
    if (top < first) return memchr(f->_IO_read_ptr, '\n', avail) != NULL;
    if (lua_type(L, first) == LUA_TNUMBER) {
      lua_Integer n = lua_tointeger(L, first);
      if (n >= 0 && (size_t)n <= avail) return true;
    } else {
      const char *p = lua_tostring(L, first);
      if (p && *p == '*') p++;
      if (p && (*p == 'l' || *p == 'L') && memchr(f->_IO_read_ptr, '\n', avail)) return true;
    }
  }
#endif
  struct stat st;
  return fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
}

/* A read of one line ("l" or "L", the only format at first, or none)
** whose end the FILE*'s buffer already holds: pushes the line, copied
** straight from the buffer, and returns true; else false, having done
** nothing. What liolib's read_line gives, with its clearerr first, but
** without a locked getc per byte (Debian's liblua calls getc, where the
** lua5.4 command inlines getc_unlocked: io.lines ran 1.75 times slower). */
static bool line_from_buffer(lua_State *L, FILE *f, int first) {
#ifdef __GLIBC__
  int top = lua_gettop(L);
  bool keep_newline = false;
  if (top > first) return false;
  if (top == first) {
    const char *p = lua_type(L, first) == LUA_TSTRING ? lua_tostring(L, first) : NULL;
    if (!p) return false;
    if (*p == '*') p++;
    if (*p != 'l' && *p != 'L') return false;
    keep_newline = *p == 'L';
  }
  flockfile(f);
  char *start = f->_IO_read_ptr;
  char *newline = start < f->_IO_read_end ? memchr(start, '\n', (size_t)(f->_IO_read_end - start)) : NULL;
  funlockfile(f);
  if (!newline) return false;
  /* Room for the line first (that may raise), then the copy under the
  ** FILE's lock (nothing there raises), if the next line is still one of
  ** that length (another thread may have read meanwhile). */
  size_t len = (size_t)(newline - start) + keep_newline;
  luaL_Buffer b;   /* one value above the arguments, whichever way it ends */
  char *room = luaL_buffinitsize(L, &b, len);
  flockfile(f);
  /* The pointer alone may be back where it was after another thread's
  ** refill: the line's end is checked again too. */
  bool unmoved = f->_IO_read_ptr == start && newline < f->_IO_read_end &&
                 memchr(start, '\n', (size_t)(newline - start) + 1) == newline;
  if (unmoved) {
    clearerr_unlocked(f);
    memcpy(room, start, len);
    f->_IO_read_ptr = newline + 1;
  }
  funlockfile(f);
  if (!unmoved) {
    lua_pop(L, 1);   /* the buffer's: the stack is as it came */
    return false;    /* the caller reads as usual */
  }
  luaL_pushresultsize(&b, len);
  return true;
#else
  (void)L; (void)f; (void)first;
  return false;
#endif
}

/* Calls the library's read with the stack's values; returns its results. */
static int orig_read(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &orig_read_key);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* A read job for f with the formats at 2..top, pushed on top. */
static io_job *read_job(lua_State *L, FILE *f) {
  io_job formats;
  parse_formats(L, &formats, 2);   /* before the push: they end at the top */
  io_job *j = new_job(L, f, false);
  memcpy(j->kind, formats.kind, sizeof formats.kind);
  memcpy(j->count, formats.count, sizeof formats.count);
  j->n = formats.n;
  return j;
}

/* file:read(...) */
static int f_read(lua_State *L) {
  FILE *f = tofile(L, 1);
  if (line_from_buffer(L, f, 2)) return 1;
  if (!offloading(L) || read_here(L, f, 2)) return orig_read(L);
  return offload_then(L, read_job(L, f), read_done);
}

static int write_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  io_job *j = lua_touserdata(L, -1);
  if (j->failed) {
    errno = j->err;
    return luaL_fileresult(L, 0, NULL);
  }
  if (j->n < 0) lua_pushboolean(L, 1); else lua_pushvalue(L, 1);   /* as liolib: true, the file */
  return 1;
}

/* file:write(...) and, with flush, file:flush() (n == -1). */
static int do_write(lua_State *L, int first, bool flush) {
  FILE *f = tofile(L, 1);
  int top = lua_gettop(L);
  luaL_argcheck(L, top - first + 1 <= MAXFORMATS, first, "too many arguments");
  for (int i = first; i <= top; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {   /* as liolib: "%.14g" or the integer */
      char buf[64];
      if (lua_isinteger(L, i))
        snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i));
      else
        snprintf(buf, sizeof buf, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
      lua_pushstring(L, buf);
      lua_replace(L, i);
    } else {
      luaL_checklstring(L, i, NULL);
    }
  }
  io_job *j = new_job(L, f, true);
  j->n = flush ? -1 : top - first + 1;
  for (int i = 0; i < j->n; i++) j->out[i] = lua_tolstring(L, first + i, &j->outlen[i]);
  return offload_then(L, j, write_done);
}

static int f_write(lua_State *L) {
  if (!offloading(L)) return call_original(L);
  return do_write(L, 2, false);
}

static int f_flush(lua_State *L) {
  if (!offloading(L)) return call_original(L);
  lua_settop(L, 1);
  return do_write(L, 2, true);
}

/* io.read(...), io.write(...): file:read and file:write on the default
** files (the registry's, as liolib keeps them), called as plain C so that
** they can still park: through lua_call they could not yield, and a read
** of a pipe would hold the worker. io_write's upvalue is the library's
** write, as f_write's is. */
static int with_default(lua_State *L, const char *key, lua_CFunction fn) {
  lua_getfield(L, LUA_REGISTRYINDEX, key);
  lua_insert(L, 1);
  return fn(L);
}

static int io_read(lua_State *L) {
  return with_default(L, "_IO_input", f_read);
}

static int io_write(lua_State *L) {
  return with_default(L, "_IO_output", f_write);
}

/* file:lines(...) and io.lines([filename, ...]): an iterator over our read,
** raising on errors as the library's does; a file io.lines opened closes
** at the end. Upvalues: the file, the count of formats, whether to close,
** the formats. */
/* The iterator's answer for n read results at base+1.. (as liolib's
** io_readline: an error raises; the end closes a file io.lines opened). */
static int lines_results(lua_State *L, int base, int n) {
  if (n > 0 && lua_toboolean(L, base + 1)) return n;
  if (n > 1) return luaL_error(L, "%s", lua_tostring(L, base + 2));
  if (lua_toboolean(L, lua_upvalueindex(3))) {
    lua_getfield(L, lua_upvalueindex(1), "close");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_call(L, 1, 0);
  }
  return 0;
}

static int lines_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  io_job *j = lua_touserdata(L, -1);
  int base = lua_gettop(L);
  if (j->failed) errno = j->err;
  return lines_results(L, base, push_read(L, j));
}

static int lines_iter(lua_State *L) {
  int n = (int)lua_tointeger(L, lua_upvalueindex(2));
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  FILE *f = tofile(L, 1);
  for (int i = 1; i <= n; i++) lua_pushvalue(L, lua_upvalueindex(3 + i));
  if (line_from_buffer(L, f, 2)) return 1;
  if (!offloading(L) || read_here(L, f, 2)) return lines_results(L, 0, orig_read(L));
  return offload_then(L, read_job(L, f), lines_done);
}

/* Pushes the iterator for the file at idx, formats first..top. */
static void push_lines(lua_State *L, int idx, int first, bool toclose) {
  int n = lua_gettop(L) - first + 1;
  if (n < 0) n = 0;
  luaL_argcheck(L, n <= 250, first + 250, "too many arguments");
  lua_pushvalue(L, idx);
  lua_pushinteger(L, n);
  lua_pushboolean(L, toclose);
  for (int i = 0; i < n; i++) lua_pushvalue(L, first + i);
  lua_pushcclosure(L, lines_iter, 3 + n);
}

static int f_lines(lua_State *L) {
  tofile(L, 1);
  push_lines(L, 1, 2, false);
  return 1;
}

static int io_lines(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, lua_gettop(L) < 1 ? 1 : lua_gettop(L));
    lua_getfield(L, LUA_REGISTRYINDEX, "_IO_input");
    lua_replace(L, 1);
    tofile(L, 1);
    push_lines(L, 1, 2, false);
    return 1;
  }
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "io");
  lua_getfield(L, -1, "open");
  lua_pushstring(L, name);
  lua_call(L, 1, 3);
  if (lua_isnil(L, -3))   /* as liolib's opencheckfile */
    return luaL_error(L, "cannot open file '%s' (%s)", name, strerror((int)lua_tointeger(L, -1)));
  lua_pop(L, 2);
  lua_replace(L, 1);   /* the file, where the name was */
  lua_pop(L, 1);       /* io */
  push_lines(L, 1, 2, true);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 1);   /* the to-be-closed value, as Lua 5.4's io.lines */
  return 4;
}

void liofile_install(lua_State *L, int methods);   /* liofile.c: opens, closes */
void lexecute_install(lua_State *L);                /* lexecute.c: os.execute */

/* Replaces name in the table at idx by fn with the old value as upvalue. */
static void wrap(lua_State *L, int idx, const char *name, lua_CFunction fn) {
  lua_getfield(L, idx, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, idx, name);
}

void lio_install(lua_State *L) {
  if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE) {   /* no io library */
    lua_pop(L, 1);
    return;
  }
  if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
    int methods = lua_gettop(L);
    lua_getfield(L, methods, "read");
    if (lua_tocfunction(L, -1) != f_read) {   /* once per state */
      lua_rawsetp(L, LUA_REGISTRYINDEX, &orig_read_key);
      lua_getfield(L, methods, "write");   /* the library's, for io_write */
      int orig_write = lua_gettop(L);
      wrap(L, methods, "read", f_read);
      wrap(L, methods, "write", f_write);
      wrap(L, methods, "flush", f_flush);
      liofile_install(L, methods);
      lua_pushcfunction(L, f_lines);
      lua_setfield(L, methods, "lines");
      lua_getglobal(L, "io");
      if (lua_istable(L, -1)) {
        lua_pushcfunction(L, io_lines);
        lua_setfield(L, -2, "lines");
        lua_pushcfunction(L, io_read);
        lua_setfield(L, -2, "read");
        lua_pushvalue(L, orig_write);
        lua_pushcclosure(L, io_write, 1);
        lua_setfield(L, -2, "write");
      }
      lua_pop(L, 2);   /* io, the library's write */
      lexecute_install(L);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

/* output.c: the one path of print and panic reports to the terminal, so
** that the REPL can keep them off the line being typed (output.h). */
#include "output.h"

#include <stdatomic.h>

static _Atomic(output_sink) current_sink;

void output_set_sink(output_sink sink) {
  atomic_store(&current_sink, sink);
}

void output_write(FILE *stream, const char *s, size_t n) {
  output_sink sink = atomic_load(&current_sink);
  if (sink && sink(stream, s, n)) return;
  fwrite(s, 1, n, stream);
  fflush(stream);
}

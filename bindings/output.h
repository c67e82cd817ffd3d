/* output.h: where print's lines and panic reports go: straight to their
** stream, or through the sink the REPL sets while it shows a prompt. */
#ifndef LUGO_OUTPUT_H
#define LUGO_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Takes n bytes for stream (stdout or stderr) and returns true if it wrote
** or queued them; false: output_write writes them itself. Any thread. */
typedef bool (*output_sink)(FILE *stream, const char *s, size_t n);

/* Installs sink (NULL: none). */
void output_set_sink(output_sink sink);

/* Writes s[0..n) to stream in one write and flushes it, or hands it to the
** sink. */
void output_write(FILE *stream, const char *s, size_t n);

#endif

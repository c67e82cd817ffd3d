/* lsignal.h: lugo.signal's dispatcher thread, for the runtime's close
** (bindings/lsignal.c). */
#ifndef LUGO_LSIGNAL_H
#define LUGO_LSIGNAL_H

/* Stops and joins the dispatcher thread, if it runs. */
void lsignal_shutdown(void);

#endif

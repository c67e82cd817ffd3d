/* codec_plain.h: the host API's plain values (lugo_value) to and from
** codec messages, with no Lua state (bindings/codec_plain.c). */
#ifndef LUGO_CODEC_PLAIN_H
#define LUGO_CODEC_PLAIN_H

#include "../include/lugo.h"
#include "codec.h"

/* Encodes v into msg (uninitialised): LUGO_OK, LUGO_EINVAL (bad type or
** pointer) or LUGO_ENOMEM; msg needs codec_free only on LUGO_OK. A channel
** travels retained. */
int codec_from_value(codec_msg *msg, const lugo_value *v);

/* Decodes msg (one plain value) into v: LUGO_OK (v then owns a string's
** bytes or a channel's reference: lugo_value_free), LUGO_EINVAL for any
** other value, LUGO_ENOMEM. msg stays the caller's. */
int codec_to_value(const codec_msg *msg, lugo_value *v);

#endif

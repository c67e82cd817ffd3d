/* codec_plain.c: the host API's values (lugo_value: nil, booleans, numbers,
** strings, channels) to and from messages, with no Lua state. Same wire. */
#include <stdlib.h>
#include <string.h>

#include "../core/chan.h"
#include "../core/pool.h"
#include "../include/lugo.h"
#include "codec.h"
#include "codec_plain.h"
#include "codec_wire.h"

/* A string: inline when it fits, else in pool memory. */
static int encode_string(codec_msg *msg, const char *s, size_t len) {
  unsigned char head[1 + WIRE_VARINT_MAX];
  head[0] = TAG_STR;
  size_t n = 1 + wire_put_varint(head + 1, (lua_Unsigned)len);
  if (len > (size_t)-1 - n) return LUGO_ENOMEM;
  msg->len = n + len;
  unsigned char *b = msg->inline_buf;
  if (msg->len > CODEC_INLINE) {
    b = msg->heap = pool_alloc(msg->len);
    if (!b) return LUGO_ENOMEM;
  }
  memcpy(b, head, n);
  if (len) memcpy(b + n, s, len);
  return LUGO_OK;
}

static int encode_chan(codec_msg *msg, lugo_chan *ch) {
  msg->objs = (lugo_obj **)pool_alloc(sizeof(lugo_obj *));
  if (!msg->objs) return LUGO_ENOMEM;
  obj_retain((lugo_obj *)ch);
  msg->objs[0] = (lugo_obj *)ch;
  msg->nobjs = 1;
  msg->inline_buf[0] = TAG_OBJ;
  msg->inline_buf[1] = 0;   /* object 0 */
  msg->inline_buf[2] = 0;   /* no view flags */
  msg->len = 3;
  return LUGO_OK;
}

int codec_from_value(codec_msg *msg, const lugo_value *v) {
  memset(msg, 0, sizeof *msg);
  switch (v->type) {
    case LUGO_TNIL:
      msg->inline_buf[0] = TAG_NIL;
      msg->len = 1;
      return LUGO_OK;
    case LUGO_TBOOLEAN:
      msg->inline_buf[0] = v->u.b ? TAG_TRUE : TAG_FALSE;
      msg->len = 1;
      return LUGO_OK;
    case LUGO_TINTEGER:
      codec_encode_integer(msg, v->u.i);
      return LUGO_OK;
    case LUGO_TNUMBER:
      codec_encode_float(msg, v->u.n);
      return LUGO_OK;
    case LUGO_TSTRING:
      if (!v->u.s.ptr && v->u.s.len) return LUGO_EINVAL;
      return encode_string(msg, v->u.s.ptr, v->u.s.len);
    case LUGO_TCHAN:
      if (!v->u.ch) return LUGO_EINVAL;
      return encode_chan(msg, v->u.ch);
    default:
      return LUGO_EINVAL;
  }
}

int codec_to_value(const codec_msg *msg, lugo_value *v) {
  const unsigned char *p = msg->len > CODEC_INLINE ? msg->heap : msg->inline_buf;
  if (!p || msg->len == 0) return LUGO_EINVAL;
  const unsigned char *end = p + msg->len;
  int tag = *p++;
  memset(v, 0, sizeof *v);
  switch (tag) {
    case TAG_NIL:
    case TAG_FALSE:
    case TAG_TRUE:
      if (p != end) return LUGO_EINVAL;   /* more than one value */
      v->type = tag == TAG_NIL ? LUGO_TNIL : LUGO_TBOOLEAN;
      v->u.b = tag == TAG_TRUE;
      return LUGO_OK;
    case TAG_INT: {
      lua_Integer i;
      if (!wire_get_int(p, end, &i)) return LUGO_EINVAL;
      v->type = LUGO_TINTEGER;
      v->u.i = (long long)i;
      return LUGO_OK;
    }
    case TAG_FLOAT: {
      lua_Number x;
      if (!wire_get_float(p, end, &x)) return LUGO_EINVAL;
      v->type = LUGO_TNUMBER;
      v->u.n = (double)x;
      return LUGO_OK;
    }
    case TAG_STR: {
      lua_Unsigned len;
      if (wire_get_varint(&p, end, &len) != 1 || len != (lua_Unsigned)(end - p))
        return LUGO_EINVAL;
      char *s = malloc((size_t)len + 1);   /* freed by lugo_value_free */
      if (!s) return LUGO_ENOMEM;
      memcpy(s, p, (size_t)len);
      s[len] = '\0';
      v->type = LUGO_TSTRING;
      v->u.s.ptr = s;
      v->u.s.len = (size_t)len;
      return LUGO_OK;
    }
    case TAG_OBJ: {
      lua_Unsigned i;
      if (wire_get_varint(&p, end, &i) != 1 || end - p != 1 || i >= msg->nobjs ||
          msg->objs[i]->kind != OBJ_CHAN)
        return LUGO_EINVAL;   /* a view, a mutex...: not a plain channel */
      obj_retain(msg->objs[i]);
      v->type = LUGO_TCHAN;
      v->u.ch = (lugo_chan *)msg->objs[i];
      return LUGO_OK;
    }
    default:
      return LUGO_EINVAL;     /* a table, a function... */
  }
}

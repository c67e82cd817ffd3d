/* codec_wire.h: the codec's wire format: tags, limits, and the one set of
** varint, zigzag, u32 and hash helpers that every encoder and decoder uses. */

/* A message is its values one after the other, each a tag byte then a
** payload. A u32 is 4 bytes, little endian; a varint is LEB128.
**   NIL FALSE TRUE     no payload
**   INT                zigzag varint
**   FLOAT              the lua_Number's bytes (messages stay in-process)
**   STR                varint length, the bytes
**   TABLE              u32 narr, u32 nhash, then the values of t[1..narr],
**                      nhash key/value pairs, then the metatable if the
**                      tag has TAG_META
**   FUNC               varint length n, u32 FNV-1a of the dump, the n bytes
**                      of lua_dump (with debug info), then one entry per
**                      upvalue: a value, or UPJOIN
**   UPJOIN             varint object, varint index: this upvalue is that
**                      function's upvalue (lua_upvaluejoin); upvalues only
**   REF                varint object: a table or function met before
**   GLOBALS            the sender's global table: the receiver's env
**   NAMED              varint length, module name, then varint 0, or field
**                      length + 1 and the field: package.loaded[mod][field]
**   OBJ                varint index into msg->objs, a byte of view flags
** A message made by codec_encode_carrying ends with one more value (not
** counted among its values by the sender): a TABLE, global name -> value,
** or NIL when there are none.
** Tables and functions copied are numbered 1, 2... in the order their tags
** appear. TAG_SHARED on such a tag says that a later REF or UPJOIN names it,
** so the decoder keeps only those in its reference table. Both sides stop at
** CODEC_MAXDEPTH nested tables and functions.
*/
#ifndef LUGO_CODEC_WIRE_H
#define LUGO_CODEC_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <lua.h>

#define CODEC_MAXDEPTH 1000

enum {
  TAG_NIL, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_FLOAT, TAG_STR, TAG_TABLE,
  TAG_FUNC, TAG_UPJOIN, TAG_REF, TAG_GLOBALS, TAG_NAMED, TAG_OBJ
};

#define TAG_MASK    0x3f
#define TAG_META    0x40    /* TABLE: a metatable follows the entries */
#define TAG_SHARED  0x80    /* TABLE, FUNC: named later by REF or UPJOIN */

/* The most bytes a varint takes (64 bits, 7 a byte). */
#define WIRE_VARINT_MAX 10

/* Writes v as a varint at b (room for WIRE_VARINT_MAX); returns the bytes
** used. */
static inline size_t wire_put_varint(unsigned char *b, lua_Unsigned v) {
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (unsigned char)v;
  return n;
}

/* Reads a varint from [*p, end) into *v, advancing *p. Returns 1; 0 if the
** bytes end before it does; -1 if it runs past WIRE_VARINT_MAX bytes. */
static inline int wire_get_varint(const unsigned char **p,
                                  const unsigned char *end, lua_Unsigned *v) {
  lua_Unsigned r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    int b = *(*p)++;
    r |= (lua_Unsigned)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 1;
    }
  }
  return -1;
}

/* Zigzag: integers of small magnitude, negative ones too, stay small. */
static inline lua_Unsigned wire_zigzag(lua_Integer i) {
  lua_Unsigned u = (lua_Unsigned)i;
  return (u << 1) ^ (0 - (u >> 63));
}

static inline lua_Integer wire_unzigzag(lua_Unsigned z) {
  return (lua_Integer)((z >> 1) ^ (0 - (z & 1)));
}

static inline void wire_put_u32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)v;
  b[1] = (unsigned char)(v >> 8);
  b[2] = (unsigned char)(v >> 16);
  b[3] = (unsigned char)(v >> 24);
}

static inline uint32_t wire_get_u32(const unsigned char *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
}


/* Write INT i, FLOAT x at b (room for both); return the bytes used. */
static inline size_t wire_put_int(unsigned char *b, lua_Integer i) {
  b[0] = TAG_INT;
  return 1 + wire_put_varint(b + 1, wire_zigzag(i));
}

static inline size_t wire_put_float(unsigned char *b, lua_Number x) {
  b[0] = TAG_FLOAT;
  memcpy(b + 1, &x, sizeof x);
  return 1 + sizeof x;
}

/* Read an INT, FLOAT payload that is all of [p, end); return 0 if not. */
static inline int wire_get_int(const unsigned char *p, const unsigned char *end,
                               lua_Integer *i) {
  lua_Unsigned v;
  if (wire_get_varint(&p, end, &v) != 1 || p != end) return 0;
  *i = wire_unzigzag(v);
  return 1;
}

static inline int wire_get_float(const unsigned char *p, const unsigned char *end,
                                 lua_Number *x) {
  if ((size_t)(end - p) != sizeof *x) return 0;
  memcpy(x, p, sizeof *x);
  return 1;
}

/* FNV-1a: the hash of a function's dump (FUNC). */
static inline uint32_t wire_fnv1a(const unsigned char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

#endif

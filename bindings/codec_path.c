/* codec_path.c: renders where a value that cannot cross sits, for the
** encoder's errors. Paths are chains of frames on the encoder's C stack. */
#include <lauxlib.h>

#include "codec_impl.h"

static int is_name(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9')))
      return 0;
  }
  return 1;
}

static int is_field(const Path *p) {
  return p != NULL && (p->kind == P_FIELD || p->kind == P_INDEX);
}

/* Pushes one step of a field chain, as Lua source would write it. */
static void push_key(lua_State *L, const Path *p, int first) {
  if (p->kind == P_INDEX) {
    lua_pushfstring(L, "[%I]", (LUAI_UACINT)p->n);
    return;
  }
  switch (lua_type(L, p->idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, p->idx, &n);
      if (is_name(s, n))
        lua_pushfstring(L, first ? "%s" : ".%s", s);
      else
        lua_pushfstring(L, "[\"%s\"]", s);
      break;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, p->idx))
        lua_pushfstring(L, "[%I]", (LUAI_UACINT)lua_tointeger(L, p->idx));
      else
        lua_pushfstring(L, "[%f]", (LUAI_UACNUMBER)lua_tonumber(L, p->idx));
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, p->idx) ? "[true]" : "[false]");
      break;
    default:
      lua_pushfstring(L, "[%s]", luaL_typename(L, p->idx));
      break;
  }
}

/* Pushes the chain of field steps ending at p, outermost first. */
static void push_fields(lua_State *L, const Path *p) {
  luaL_checkstack(L, 3, NULL);
  if (is_field(p->up)) {
    push_fields(L, p->up);
    push_key(L, p, 0);
    lua_concat(L, 2);
  } else {
    push_key(L, p, 1);
  }
}

/* "global 'g' of global 'f' of argument #1": global number i and what met
** it first (gnames[-i]: a global's number, or minus a root's position). */
static void push_global_where(lua_State *L, const char *what, int gnames,
                              lua_Integer i) {
  luaL_checkstack(L, 3, NULL);
  lua_rawgeti(L, gnames, i);
  lua_pushfstring(L, "global '%s' of ", lua_tostring(L, -1));
  lua_remove(L, -2);
  lua_rawgeti(L, gnames, -i);
  lua_Integer from = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (from < 0)
    lua_pushfstring(L, what, (int)-from);
  else
    push_global_where(L, what, gnames, from);
  lua_concat(L, 2);
}

void codec_push_where(lua_State *L, const char *what, int gnames,
                      const Path *p) {
  luaL_checkstack(L, 3, NULL);
  switch (p->kind) {
    case P_ROOT:
      lua_pushfstring(L, what, p->idx);
      return;
    case P_KEY:
      lua_pushstring(L, "key in ");
      break;
    case P_UPVAL:
      lua_pushfstring(L, "upvalue '%s' of ", p->name);
      break;
    case P_META:
      lua_pushstring(L, "metatable of ");
      break;
    case P_GLOBAL:
      push_global_where(L, what, gnames, p->idx);
      return;
    default: {  /* a chain of fields, shown as one expression */
      lua_pushstring(L, "field '");
      push_fields(L, p);
      lua_pushstring(L, "' of ");
      lua_concat(L, 3);
      const Path *q = p;
      while (is_field(q->up)) q = q->up;
      codec_push_where(L, what, gnames, q->up);
      lua_concat(L, 2);
      return;
    }
  }
  codec_push_where(L, what, gnames, p->up);
  lua_concat(L, 2);
}

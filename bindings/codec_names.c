/* codec_names.c: the names map, value -> NAMED record "mod[.field]" (weak keys,
** per VM, dropped when package.loaded gains a module), and resolving names. */
#include <string.h>
#include <lauxlib.h>

#include "codec_impl.h"

/* Registry key (its address) of the names map. */
static const char names_key = 0;

/* Pushes the NAMED record of mod (stack index), or of mod's field (stack
** index, or 0 for none). */
static void push_name_record(lua_State *L, int mod, int field) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, (char)TAG_NAMED);
  for (int i = 0; i < 2; i++) {
    int idx = (i == 0) ? mod : field;
    if (idx == 0) {
      luaL_addchar(&b, 0);
      break;
    }
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    lua_Unsigned len = (lua_Unsigned)n + (lua_Unsigned)i;  /* field: +1 */
    unsigned char v[WIRE_VARINT_MAX];
    luaL_addlstring(&b, (const char *)v, wire_put_varint(v, len));
    luaL_addlstring(&b, s, n);
  }
  luaL_pushresult(&b);
}

/* Modules every VM has: their names are the safest to resolve. */
static const char *const common_modules[] = {
  "_G", "package", "coroutine", "table", "io", "os", "string", "math",
  "utf8", "debug", "lugo", NULL
};

static int module_rank(lua_State *L, int mod) {
  const char *s = lua_tostring(L, mod);
  for (int i = 0; common_modules[i] != NULL; i++) {
    if (strcmp(s, common_modules[i]) == 0) return 0;
  }
  return 1;
}

/* Whether record rec (of module mod) names a value better than oldrec (of
** oldmod): common modules first, then the shorter, then the smaller record,
** so that the choice never depends on the order of traversal. */
static int name_better(lua_State *L, int rec, int mod, int oldrec,
                       int oldmod) {
  int r = module_rank(L, mod), oldr = module_rank(L, oldmod);
  size_t n, oldn;
  const char *s = lua_tolstring(L, rec, &n);
  const char *olds = lua_tolstring(L, oldrec, &oldn);
  if (r != oldr) return r < oldr;
  if (n != oldn) return n < oldn;
  return memcmp(s, olds, n) < 0;
}

/* Names value mod[.field] in map unless it has a better name already. owner
** maps the values named in this pass to their module; a value named in an
** earlier pass (a module beats a field) keeps its name. */
static void names_add(lua_State *L, int map, int owner, int value, int mod,
                      int field) {
  int top = lua_gettop(L);
  push_name_record(L, mod, field);                 /* top + 1 */
  lua_pushvalue(L, value);
  lua_rawget(L, owner);                            /* top + 2 */
  lua_pushvalue(L, value);
  lua_rawget(L, map);                              /* top + 3 */
  if (lua_isnil(L, top + 3) ||
      (!lua_isnil(L, top + 2) &&
       name_better(L, top + 1, mod, top + 3, top + 2))) {
    lua_pushvalue(L, value);
    lua_pushvalue(L, top + 1);
    lua_rawset(L, map);
    lua_pushvalue(L, value);
    lua_pushvalue(L, mod);
    lua_rawset(L, owner);
  }
  lua_settop(L, top);
}

/* Names the fields of module table mod (its key at modkey): C functions,
** tables and userdata (io.stdout). The fields of _G that are tables or
** userdata are user globals, copied (or refused) rather than named. */
static void names_add_fields(lua_State *L, int map, int owner, int modkey,
                             int mod, int globals) {
  int isglobals = lua_rawequal(L, mod, globals);
  lua_pushnil(L);
  while (lua_next(L, mod)) {
    int t = lua_type(L, -1);
    int top = lua_gettop(L);
    if (lua_type(L, -2) == LUA_TSTRING &&
        (lua_iscfunction(L, -1) || (t == LUA_TUSERDATA && !isglobals) ||
         (t == LUA_TTABLE && !isglobals && !lua_rawequal(L, -1, globals))))
      names_add(L, map, owner, top, modkey, top - 1);
    lua_pop(L, 1);
  }
}

/* __newindex of package.loaded: a module was just loaded (require sets it
** with lua_setfield), so the names map is stale. A check per encode instead
** would cost a traversal of package.loaded on every send of a table. */
static int loaded_newindex(lua_State *L) {
  lua_settop(L, 3);
  lua_rawset(L, 1);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
  return 0;
}

/* Builds the names map (weak keys) from package.loaded and pushes it:
** modules first, so "string" names the string table rather than _G.string
** would; then one level of fields. The global table is never named: it
** travels as GLOBALS. */
static void names_build(lua_State *L) {
  luaL_checkstack(L, 20, NULL);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  if (!lua_istable(L, loaded)) {   /* no package library: no names */
    lua_newtable(L);
    lua_replace(L, loaded);
  } else if (!lua_getmetatable(L, loaded)) {  /* left alone if it has one */
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, loaded_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, loaded);
  }
  lua_settop(L, loaded);
  codec_push_weak_table(L);
  int map = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  int globals = lua_gettop(L);
  lua_newtable(L);
  int owner = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING &&
        (lua_iscfunction(L, -1) ||
         (lua_istable(L, -1) && !lua_rawequal(L, -1, globals))))
      names_add(L, map, owner, lua_gettop(L), lua_gettop(L) - 1, 0);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  lua_replace(L, owner);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1))
      names_add_fields(L, map, owner, lua_gettop(L) - 1, lua_gettop(L),
                       globals);
    lua_pop(L, 1);
  }
  lua_settop(L, map);
  lua_pushvalue(L, map);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
  lua_remove(L, loaded);
}

int codec_names_push(lua_State *L, int idx, int rebuild) {
  if (rebuild || lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) != LUA_TTABLE) {
    if (!rebuild) lua_pop(L, 1);
    names_build(L);
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TSTRING) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

/* Raises "lugo: cannot resolve 'mod[.field]' (why)". */
static void unresolved(lua_State *L, const char *mod, size_t mlen,
                       const char *field, size_t flen, const char *why) {
  lua_pushlstring(L, mod, mlen);
  if (field != NULL) {
    lua_pushliteral(L, ".");
    lua_pushlstring(L, field, flen);
    lua_concat(L, 3);
  }
  luaL_error(L, "lugo: cannot resolve '%s' (%s)", lua_tostring(L, -1), why);
}

/* Pushes package.loaded[mod] of the receiver, requiring mod if it is not
** loaded: a goroutine's VM has not run its creator's requires (package.path
** travels with lugo.go so that require finds the same file). */
static void push_module(lua_State *L, const char *mod, size_t mlen) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushlstring(L, mod, mlen);
  if (lua_istable(L, -2)) {
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
  } else {
    lua_pushnil(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "require");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1))
      unresolved(L, mod, mlen, NULL, 0, "not loaded in the receiving state");
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      unresolved(L, mod, mlen, NULL, 0, msg ? msg : "require failed");
    }
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

void codec_names_resolve(lua_State *L, const char *mod, size_t mlen,
                         const char *field, size_t flen) {
  push_module(L, mod, mlen);
  if (field == NULL) return;
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, field, flen);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  } else {
    lua_pushnil(L);
  }
  if (lua_isnil(L, -1))
    unresolved(L, mod, mlen, field, flen, "absent in the receiving state");
}

/* lugo_module.c: the Lua module lugo.so. It holds no code: it is linked
** to liblugo, where Lua's loader finds luaopen_lugo (one runtime per
** process, whether a host linked liblugo or Lua required "lugo"). */
typedef int lugo_module_has_no_code;

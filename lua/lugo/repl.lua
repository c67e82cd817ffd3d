-- repl.lua: the REPL's pure-Lua helpers: show() renders an expression's
-- results as a person reads them, complete() lists Tab completions.
--
-- Everything runs in the user's Lua state (the REPL's main goroutine), so the
-- library functions are captured here, once: a user who redefines `pairs` or
-- `tostring` at the prompt must not change how results are shown.
local type, next, pairs, ipairs, pcall, select = type, next, pairs, ipairs, pcall, select
local tostring, rawget, getmetatable = tostring, rawget, getmetatable
local math_type = math.type
local concat, sort = table.concat, table.sort
local format, byte = string.format, string.byte
local G = _G    -- the user's globals, the root of completion

local MAX_DEPTH = 2     -- levels of braces shown; deeper tables print {...}
local MAX_ITEMS = 20    -- entries shown per table before a final `...`

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return",
  "then", "true", "until", "while",
}
local IS_KEYWORD = {}
for _, k in ipairs(KEYWORDS) do IS_KEYWORD[k] = true end

-- The kinds lugo's objects name in their tostring ("<kind>: 0x...").
local LUGO_KINDS = {
  channel = true, waitgroup = true, mutex = true, timer = true, atomic = true,
  rwmutex = true, once = true, cond = true, ["shared table"] = true,
}

-- Fields of lugo objects whose __index is a function, so completion cannot
-- list them from a table; each is checked on the object before it is offered.
local HIDDEN_FIELDS = { timer = { "c", "reset", "stop" } }

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
    and not IS_KEYWORD[s]
end

-- tostring that cannot raise: a __tostring that errors or returns a
-- non-string must not break the prompt.
local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "<" .. type(v) .. ">"
end

-- The lugo kind of v ("channel", "shared table", ...), or nil when v is not
-- a lugo object; only these get methods called on them.
local function lugo_kind(v)
  if type(v) ~= "userdata" then return nil end
  local kind = safe_tostring(v):match("^(%a[%a ]*%a)[^:]*: 0x")
  if kind and LUGO_KINDS[kind] then return kind end
  return nil
end

-- Calls obj:method() guarded; nil if it raises.
local function try_method(obj, method)
  local ok, r = pcall(function() return obj[method](obj) end)
  if ok then return r end
  return nil
end

-- A string as a Lua literal, readable: escapes quotes, backslashes and
-- control characters, leaves other bytes (UTF-8 text) as they are.
local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                  ['"'] = '\\"', ["\\"] = "\\\\" }
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or format("\\%03d", byte(c))
  end) .. '"'
end

-- Key order for the non-sequence part: numbers, strings, booleans, then the
-- rest; within a type by value (others by their tostring).
local TYPE_RANK = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = TYPE_RANK[ta] or 4, TYPE_RANK[tb] or 4
  if ra ~= rb then return ra < rb end
  if ta == "number" or ta == "string" then return a < b end
  if ta == "boolean" then return not a and b end
  return safe_tostring(a) < safe_tostring(b)
end

local show_value    -- forward: tables and values render each other

-- Renders the entries of t (a plain table, read raw) as `{...}` items.
-- The sequence 1..n comes first, then the other keys in key_less order; only
-- the first MAX_ITEMS are rendered, so of the other keys just the smallest
-- MAX_ITEMS + 1 are kept (sorted insertion), not the whole key set.
local function show_entries(t, depth, seen)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local items = {}
  for i = 1, n < MAX_ITEMS and n or MAX_ITEMS do
    items[#items + 1] = show_value(rawget(t, i), depth, seen)
  end
  local room = MAX_ITEMS - #items
  local keys, others = {}, 0
  for k in next, t do
    if not (math_type(k) == "integer" and k >= 1 and k <= n) then
      others = others + 1
      if room > 0 and (#keys < room or key_less(k, keys[#keys])) then
        local i = #keys
        while i > 0 and key_less(k, keys[i]) do keys[i + 1] = keys[i]; i = i - 1 end
        keys[i + 1] = k
        keys[room + 1] = nil
      end
    end
  end
  for _, k in ipairs(keys) do
    local name = is_identifier(k) and k or "[" .. show_value(k, depth, seen) .. "]"
    items[#items + 1] = name .. " = " .. show_value(rawget(t, k), depth, seen)
  end
  if n + others > #items then items[#items + 1] = "..." end
  return "{" .. concat(items, ", ") .. "}"
end

-- A table at nesting level `depth` (1 at top); `seen` holds the tables on
-- the way here and already shown, which print as <cycle>.
local function show_table(t, depth, seen)
  local mt = getmetatable(t)
  if mt ~= nil and (type(mt) ~= "table" or rawget(mt, "__tostring")
                    or rawget(mt, "__name")) then
    return safe_tostring(t)
  end
  if seen[t] then return "<cycle>" end
  if next(t) == nil then return "{}" end
  if depth > MAX_DEPTH then return "{...}" end
  seen[t] = true
  return show_entries(t, depth + 1, seen)
end

-- A shared table: its entries as pairs() gives them (a snapshot), copied
-- into a plain table so they sort and cut like any table's.
local function show_shared(s, depth, seen)
  if seen[s] then return "<cycle>" end
  local copy = {}
  local ok = pcall(function()
    for k, v in pairs(s) do copy[k] = v end
  end)
  if not ok then return "lugo.table{?}" end
  if next(copy) == nil then return "lugo.table{}" end
  if depth > MAX_DEPTH then return "lugo.table{...}" end
  seen[s] = true
  return "lugo.table" .. show_entries(copy, depth + 1, seen)
end

-- A lugo object by kind: a channel with its fill, an atomic with its value,
-- a shared table with its entries, the rest by name.
local M = {}

local function show_lugo(v, kind, depth, seen)
  -- whether a channel is closed is no method's business: the REPL that
  -- embeds this module may set M.chan_closed(ch) to tell
  if kind == "channel" and M.chan_closed and M.chan_closed(v) then
    return "chan(closed)"
  elseif kind == "channel" then
    local parts = { "cap=" .. safe_tostring(try_method(v, "cap")),
                    "len=" .. safe_tostring(try_method(v, "len")) }
    local view = safe_tostring(v):match("^channel %((%a+)%-only%)")
    if view == "send" then parts[3] = "send-only"
    elseif view == "receive" then parts[3] = "receive-only" end
    return "chan(" .. concat(parts, ", ") .. ")"
  elseif kind == "atomic" then
    return "atomic(" .. safe_tostring(try_method(v, "load")) .. ")"
  elseif kind == "shared table" then
    return show_shared(v, depth, seen)
  end
  return kind
end

-- One value inside a result: strings quoted, tables and lugo objects
-- rendered, everything else as tostring writes it.
function show_value(v, depth, seen)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "table" then return show_table(v, depth, seen) end
  local kind = lugo_kind(v)
  if kind then return show_lugo(v, kind, depth, seen) end
  return safe_tostring(v)
end

-- show(...): the results of an expression line, tab-separated as lua.c's
-- print writes them; a top-level string prints raw. No results: "".
local function show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = type(v) == "string" and v or show_value(v, 1, {})
  end
  return concat(out, "\t")
end

-- v[k] with metamethods, but an __index that raises gives nil.
local function index(v, k)
  local ok, r = pcall(function() return v[k] end)
  if ok then return r end
  return nil
end

-- Adds to `set` the identifier keys of table t and of the tables its
-- metatables' __index chain leads to; with methods_only, only functions.
local function add_table_keys(set, t, methods_only)
  for _ = 1, 10 do    -- bounded: an __index chain may loop
    for k, v in next, t do
      if is_identifier(k) and (not methods_only or type(v) == "function") then
        set[k] = true
      end
    end
    local mt = getmetatable(t)
    t = type(mt) == "table" and rawget(mt, "__index")
    if type(t) ~= "table" then return end
  end
end

-- The names (without the prefix) that may follow `v.` or `v:`.
local function member_names(v, sep)
  local set, methods_only = {}, sep == ":"
  if type(v) == "table" then
    add_table_keys(set, v, methods_only)
    return set
  end
  local kind = lugo_kind(v)
  if kind == "shared table" then
    if not methods_only then    -- a shared table's entries, never methods
      pcall(function()
        for k in pairs(v) do if is_identifier(k) then set[k] = true end end
      end)
    end
    return set
  end
  if type(v) == "userdata" or type(v) == "string" then
    local mt = getmetatable(v)
    local methods = type(mt) == "table" and rawget(mt, "__index")
    if type(methods) == "table" then add_table_keys(set, methods, methods_only) end
    for _, name in ipairs(HIDDEN_FIELDS[kind] or {}) do
      local f = index(v, name)
      if f ~= nil and (not methods_only or type(f) == "function") then
        set[name] = true
      end
    end
  end
  return set
end

-- The global names: keys of the globals and of their __index table.
local function global_names(env)
  local set = {}
  add_table_keys(set, env, false)
  for _, k in ipairs(KEYWORDS) do set[k] = true end
  return set
end

-- complete(text, line [, env]): the completions of the word `text` (a name
-- path such as `lugo.ti`, `ch:re`, `pri`), each the whole new word, sorted.
-- `line` is the whole input line (unused); `env` defaults to the globals.
local function complete(text, line, env)   -- luacheck: ignore line
  env = env or G
  local path, sep, partial = text:match("^(.-)([.:])([%w_]*)$")
  local names, prefix
  if not path then
    if not text:match("^[%w_]*$") then return {} end
    names, prefix, partial = global_names(env), "", text
  else
    local v = env
    for name in (path .. "."):gmatch("(.-)%.") do
      if not is_identifier(name) then return {} end
      v = index(v, name)
      if v == nil then return {} end
    end
    names, prefix = member_names(v, sep), path .. sep
  end
  local out = {}
  for name in next, names do
    if name:sub(1, #partial) == partial then out[#out + 1] = prefix .. name end
  end
  sort(out)
  return out
end

M.show = show
M.complete = complete
return M

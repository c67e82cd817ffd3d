-- isolation_spec.lua: what crosses into a goroutine and along a channel,
-- and how (API.md, Isolation: what crosses into a goroutine).
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table, which travels as "the receiver's globals".
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local GUARD = support.GUARD
-- child_ok(source, env): runs a script in a child lugo, checks it exits 0
-- with empty stderr and returns its stdout.
local child_ok = support.child_ok
-- Runs fn(...) in a goroutine; returns a table of its results (with n), or
-- raises its error.
local in_goroutine = support.packed_in_goroutine

-- A canonical text for a value graph: number subtypes and bits, string
-- bytes, table shapes with sharing and cycles, metatables. Table keys must
-- not be tables. Pure Lua, so it travels into goroutines as well.
local function dump(v)
  local ids, n = {}, 0
  local function key_order(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" then
      if a == b then return math.type(a) < math.type(b) end
      return a < b
    end
    if ta == "boolean" then return (not a) and b end
    return a < b
  end
  local function walk(x)
    local t = type(x)
    if t == "number" then
      if math.type(x) == "integer" then return "i" .. string.format("%d", x) end
      if x ~= x then return "nan" end
      return "f" .. string.format("%a", x)
    elseif t == "string" then
      return "s" .. string.format("%q", x)
    elseif t == "table" then
      if ids[x] then return "@" .. ids[x] end
      n = n + 1
      ids[x] = n
      local keys = {}
      for k in next, x do keys[#keys + 1] = k end
      table.sort(keys, key_order)
      local parts = {}
      for i, k in ipairs(keys) do
        parts[i] = walk(k) .. "=" .. walk(rawget(x, k))
      end
      local mt = getmetatable(x)
      return "#" .. n .. "{" .. table.concat(parts, ",") .. "}" ..
        (mt ~= nil and ("mt" .. walk(mt)) or "")
    elseif t == "function" then
      return "fn"
    else
      return tostring(x == nil and "nil" or t == "boolean" and tostring(x) or t)
    end
  end
  return walk(v)
end

-- Each goroutine below reports with a single send; these collect it.

-- v as an argument of lugo.go: the goroutine's dump of it.
local function dump_as_argument(v)
  local out = lugo.chan()
  lugo.go(function(o, x) o:send(dump(x)) end, out, v)
  return (out:recv())
end

-- v sent on a channel from main to a goroutine: the goroutine's dump.
local function dump_as_sent(v)
  local inp, out = lugo.chan(), lugo.chan()
  lugo.go(function(i, o) o:send(dump((i:recv()))) end, inp, out)
  inp:send(v)
  return (out:recv())
end

-- v built in a goroutine by builder and sent to main.
local function built_in_goroutine(builder)
  local out = lugo.chan()
  lugo.go(function(o) o:send((builder())) end, out)
  return (out:recv())
end

-- v sent into a goroutine and sent back: a copy of a copy.
local function echo(v)
  local out = lugo.chan()
  lugo.go(function(o, x) o:send(x) end, out, v)
  return (out:recv())
end

local function temp_dir()
  local dir = os.tmpname()
  os.remove(dir)
  assert.is_true(os.execute("mkdir -p " .. support.quote(dir)))
  return dir
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Runs body, then cleanup whatever happened, then rethrows body's error.
local function with_cleanup(cleanup, body)
  local ok, err = pcall(body)
  cleanup()
  if not ok then error(err, 0) end
end

local function remove_dir(dir)
  os.execute("rm -rf " .. support.quote(dir))
end

-- ---------------------------------------------------------------------

describe("copies", function()
  it("a goroutine's change to an argument table is invisible to the parent", function()
    local t = { x = 1, sub = { y = 2 } }
    local out = lugo.chan()
    lugo.go(function(o, tt)
      tt.x = 10
      tt.sub.y = 20
      tt.new = true
      o:send({ tt.x, tt.sub.y })
    end, out, t)
    assert.are.same({ 10, 20 }, out:recv())
    assert.are.same({ x = 1, sub = { y = 2 } }, t)
  end)

  it("a goroutine's change to an upvalue table is invisible to the parent", function()
    local t = { x = 1 }
    local out = lugo.chan()
    lugo.go(function(o)
      t.x = 10
      t[1] = "added"
      o:send(t.x)
    end, out)
    assert.are.equal(10, out:recv())
    assert.are.same({ x = 1 }, t)
  end)

  it("a goroutine's assignment to an upvalue is invisible to the parent", function()
    local n = 1
    local out = lugo.chan()
    lugo.go(function(o)
      n = 2
      o:send(n)
    end, out)
    assert.are.equal(2, out:recv())
    assert.are.equal(1, n)
  end)

  it("a goroutine's change is invisible to a sibling given the same table", function()
    local t = { x = 1 }
    local step, out = lugo.chan(), lugo.chan()
    lugo.go(function(s, tt)
      tt.x = 2
      s:send(tt.x)                       -- changed before the sibling looks
    end, step, t)
    lugo.go(function(s, o, tt)
      local seen_change = s:recv()
      o:send({ seen_change, tt.x })
    end, step, out, t)
    assert.are.same({ 2, 1 }, out:recv())
  end)

  it("a goroutine's change to an upvalue is invisible to a sibling", function()
    local t = { x = 1 }
    local step, out = lugo.chan(), lugo.chan()
    lugo.go(function() t.x = 2; step:send(t.x) end)
    lugo.go(function() local c = step:recv(); out:send({ c, t.x }) end)
    assert.are.same({ 2, 1 }, out:recv())
  end)

  it("the parent's later change is invisible to the goroutine", function()
    local t = { x = 1 }
    local n = 1
    local gate, out = lugo.chan(), lugo.chan()
    lugo.go(function(g, o, tt)
      g:recv()
      o:send({ tt.x, t.x, n })
    end, gate, out, t)
    t.x = 99
    n = 99
    gate:send()
    assert.are.same({ 1, 1, 1 }, out:recv())
  end)

  it("a value sent on a channel is copied at the send", function()
    -- main to goroutine: main changes the table after sending it
    local ch, out = lugo.chan(1), lugo.chan()
    local t = { x = 1 }
    ch:send(t)
    t.x = 2
    lugo.go(function(c, o) local r = c:recv(); r.y = 3; o:send(r) end, ch, out)
    assert.are.same({ x = 1, y = 3 }, out:recv())
    assert.are.same({ x = 2 }, t)
    -- goroutine to main: the goroutine changes it after sending
    local back = lugo.chan(1)
    lugo.go(function(b, o)
      local mine = { x = 1 }
      b:send(mine)
      mine.x = 2
      o:send(mine.x)
    end, back, out)
    assert.are.equal(2, out:recv())
    assert.are.same({ x = 1 }, back:recv())
  end)

  it("two transfers of one table arrive as two tables", function()
    local t = { 1 }
    local ch, out = lugo.chan(2), lugo.chan()
    ch:send(t)
    ch:send(t)
    lugo.go(function(c, o, arg)
      local a, b = c:recv(), c:recv()
      o:send({ a == b, a == arg, b == arg, a[1] + b[1] + arg[1] })
    end, ch, out, t)
    assert.are.same({ false, false, false, 3 }, out:recv())
  end)
end)

describe("globals", function()
  it("a global set in a goroutine is not seen by main", function()
    local out = lugo.chan()
    lugo.go(function(o)
      iso_global_a = "goroutine"
      o:send(iso_global_a)
    end, out)
    assert.are.equal("goroutine", out:recv())
    assert.is_nil(rawget(_G, "iso_global_a"))
  end)

  it("a global set in a goroutine is not seen by a sibling", function()
    for _ = 1, 20 do
      local step, out = lugo.chan(), lugo.chan()
      lugo.go(function(s)
        iso_global_b = "first"
        s:send(iso_global_b)
      end, step)
      lugo.go(function(s, o)
        local first = s:recv()
        o:send({ first, iso_global_b == nil })
      end, step, out)
      assert.are.same({ "first", true }, out:recv())
    end
  end)

  it("a global set in a goroutine is not seen by later goroutines on the same worker", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local out = lugo.chan()
      for i = 1, 5 do
        lugo.go(function(o)
          local before = iso_counter
          iso_counter = (iso_counter or 0) + 1
          string = nil             -- shadows the library for this goroutine only
          print = 42
          o:send(tostring(before) .. "/" .. tostring(iso_counter))
        end, out)
        io.write((out:recv()), " ")
      end
      local check = lugo.chan()
      lugo.go(function(o) o:send(type(string) .. " " .. type(print) .. " " .. string.rep("x", 2)) end, check)
      print((check:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("nil/1 nil/1 nil/1 nil/1 nil/1 table function xx\n", out)
  end)

  it("every goroutine starts with a fresh global table", function()
    local out = lugo.chan()
    for _ = 1, 30 do
      lugo.go(function(o)
        local before = iso_global_c
        iso_global_c = true
        o:send(before == nil)
      end, out)
    end
    for _ = 1, 30 do assert.is_true(out:recv()) end
  end)

  it("a global set in main after the go call is not seen by the goroutine", function()
    local gate, out = lugo.chan(), lugo.chan()
    lugo.go(function(g, o)
      g:recv()
      o:send(iso_main_global == nil)
    end, gate, out)
    rawset(_G, "iso_main_global", "main")
    with_cleanup(function() rawset(_G, "iso_main_global", nil) end, function()
      gate:send(true)
      assert.is_true(out:recv())
    end)
  end)

  it("reads fall back to the standard library", function()
    local r = in_goroutine(function()
      return string.rep("ab", 2), math.floor(2.5), table.concat({ 1, 2 }, ","),
        type(print), tostring(12), select("#", 1, 2, 3), type(require),
        type(coroutine.wrap), type(io.write), type(os.time), utf8.char(72),
        type(debug.traceback), type(package.loaded), type(_G)
    end)
    assert.are.same({ "abab", 2, "1,2", "function", "12", 3, "function",
      "function", "function", "function", "H", "function", "table", "table",
      n = 14 }, r)
  end)

  it("a goroutine's globals persist across its blocking calls", function()
    local gate, out = lugo.chan(), lugo.chan()
    lugo.go(function(g, o)
      iso_global_d = "kept"
      g:recv()
      lugo.yield()
      o:send(iso_global_d)
    end, gate, out)
    gate:send()
    assert.are.equal("kept", out:recv())
  end)

  it("a function from main uses the goroutine's globals", function()
    local function reader() return iso_global_e end
    local function writer(v) iso_global_e = v end
    local out = lugo.chan()
    lugo.go(function(o)
      writer("written")
      o:send({ reader(), iso_global_e })
    end, out)
    assert.are.same({ "written", "written" }, out:recv())
    assert.is_nil(rawget(_G, "iso_global_e"))
    -- a sibling using the same functions sees none of it
    lugo.go(function(o) o:send(reader() == nil) end, out)
    assert.is_true(out:recv())
  end)

  it("a function from main that sets globals does not leak between goroutines of one worker", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local function writer(v) leak = v end
      local function reader() return leak end
      local out = lugo.chan()
      lugo.go(function(o) writer("one"); o:send(reader()) end, out)
      local a = out:recv()
      lugo.go(function(o) o:send(tostring(reader())) end, out)
      local b = out:recv()
      print(a, b, tostring(leak))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("one\tnil\tnil\n", out)
  end)

  it("a function sent from a goroutine does not carry the goroutine's globals", function()
    local f = built_in_goroutine(function()
      iso_global_f = "goroutine"
      return function() return iso_global_f, string.upper("ok") end
    end)
    local a, b = f()
    assert.is_nil(a)
    assert.are.equal("OK", b)
    rawset(_G, "iso_global_f", "main")
    with_cleanup(function() rawset(_G, "iso_global_f", nil) end, function()
      assert.are.equal("main", (f()))
    end)
  end)
end)

describe("numbers", function()
  local numbers = {
    0, 0.0, -0.0, 1, 1.0, -1, -1.0, 3.5, -7, math.pi,
    2^53, 1 << 53, (1 << 53) + 1, 2^53 + 2, 2^63, -2^63,
    math.maxinteger, math.mininteger, math.maxinteger + 0.0,
    math.huge, -math.huge, 1e308, -1e308, 5e-324, 2.2250738585072014e-308,
  }

  it("keep integer and float apart, with every bit, as go arguments", function()
    local out = lugo.chan()
    lugo.go(function(o, ...)
      local r = table.pack(...)
      local types, texts = {}, {}
      for i = 1, r.n do
        types[i] = math.type(r[i])
        texts[i] = dump(r[i])
      end
      o:send({ types, texts })
    end, out, table.unpack(numbers))
    local r = out:recv()
    for i, x in ipairs(numbers) do
      assert.are.equal(math.type(x), r[1][i])
      assert.are.equal(dump(x), r[2][i])
    end
  end)

  it("keep integer and float apart, with every bit, both ways on channels", function()
    for _, x in ipairs(numbers) do
      assert.are.equal(dump(x), dump_as_sent(x))
      local back = echo(x)
      assert.are.equal(math.type(x), math.type(back))
      assert.are.equal(dump(x), dump(back))
    end
  end)

  it("keep -0.0 negative", function()
    local z = echo(-0.0)
    assert.are.equal("float", math.type(z))
    assert.are.equal(-math.huge, 1 / z)
    assert.are.equal(math.huge, 1 / echo(0.0))
  end)

  it("keep nan, inf and the integer extremes", function()
    local nan = echo(0 / 0)
    assert.are.equal("float", math.type(nan))
    assert.is_true(nan ~= nan)
    assert.are.equal(math.huge, echo(math.huge))
    assert.are.equal(-math.huge, echo(-math.huge))
    assert.are.equal("integer", math.type(echo(math.mininteger)))
    assert.are.equal(math.mininteger, echo(math.mininteger))
    assert.are.equal(math.maxinteger, echo(math.maxinteger))
    assert.are.equal("float", math.type(echo(2^53)))
    assert.are.equal("integer", math.type(echo(1 << 53)))
    assert.are.equal(9007199254740993, echo((1 << 53) + 1))
  end)

  it("built in a goroutine arrive in main intact", function()
    local r = built_in_goroutine(function()
      return { 1, 1.0, -0.0, 0 / 0, math.mininteger, 2^53, 1 << 53, math.huge }
    end)
    assert.are.equal("integer", math.type(r[1]))
    assert.are.equal("float", math.type(r[2]))
    assert.are.equal(-math.huge, 1 / r[3])
    assert.is_true(r[4] ~= r[4])
    assert.are.equal(math.mininteger, r[5])
    assert.are.equal("float", math.type(r[6]))
    assert.are.equal("integer", math.type(r[7]))
    assert.are.equal(math.huge, r[8])
  end)

  it("keep integer and float keys apart in tables", function()
    local t = { [1] = "one", [1.5] = "one and a half", [-3] = "minus three",
      [math.mininteger] = "min", [math.huge] = "inf", ["1"] = "string one" }
    assert.are.equal(dump(t), dump_as_argument(t))
    local r = echo(t)
    assert.are.equal("one", r[1])
    assert.are.equal("one and a half", r[1.5])
    assert.are.equal("min", r[math.mininteger])
    assert.are.equal("inf", r[math.huge])
    assert.are.equal("string one", r["1"])
  end)
end)

describe("strings", function()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local all_bytes = table.concat(bytes)

  it("keep embedded zeros and every byte", function()
    for _, s in ipairs({ "", "\0", "a\0b\0\0c", "\0\0\0", all_bytes }) do
      local back = echo(s)
      assert.are.equal(#s, #back)
      assert.are.equal(s, back)
      assert.are.equal(dump(s), dump_as_argument(s))
      assert.are.equal(dump(s), dump_as_sent(s))
    end
  end)

  it("carry 1 MB strings both ways", function()
    local big = string.rep("ab\0c", 262144)
    assert.are.equal(1048576, #big)
    local out = lugo.chan()
    lugo.go(function(o, s)
      o:send({ #s, s == string.rep("ab\0c", 262144), s:sub(-4) })
    end, out, big)
    assert.are.same({ 1048576, true, "ab\0c" }, out:recv())
    assert.are.equal(big, echo(big))
    local made = built_in_goroutine(function()
      local t = {}
      for i = 0, 1048575 do t[#t + 1] = string.char(i % 256) end
      return table.concat(t)
    end)
    assert.are.equal(1048576, #made)
    assert.are.equal(all_bytes, made:sub(1, 256))
    assert.are.equal(all_bytes, made:sub(-256))
  end)

  it("carry strings as table keys", function()
    local t = { ["a\0b"] = 1, [all_bytes] = 2, [""] = 3 }
    local r = echo(t)
    assert.are.equal(1, r["a\0b"])
    assert.are.equal(2, r[all_bytes])
    assert.are.equal(3, r[""])
  end)
end)

describe("tables", function()
  it("are copied deeply", function()
    local t = { 1, 2, { 3, { 4, { 5, { x = "deep" } } } }, k = { v = true } }
    assert.are.equal(dump(t), dump_as_argument(t))
    assert.are.equal(dump(t), dump_as_sent(t))
    assert.are.same(t, echo(t))
  end)

  it("survive a hundred and fifty levels of nesting", function()
    local root = {}
    local node = root
    for i = 1, 150 do
      node.depth = i
      node.next = {}
      node = node.next
    end
    node.last = true
    local out = lugo.chan()
    lugo.go(function(o, r)
      local n, d = r, 0
      while n.next do d = n.depth; n = n.next end
      o:send({ d, n.last })
    end, out, root)
    assert.are.same({ 150, true }, out:recv())
    local back = echo(root)
    local n = back
    for _ = 1, 150 do n = n.next end
    assert.is_true(n.last)
  end)

  it("nested beyond any limit arrive intact or raise a clean error", function()
    local root = {}
    local node = root
    for _ = 1, 100000 do
      node.next = {}
      node = node.next
    end
    local ch = lugo.chan(1)
    local ok, err = pcall(ch.send, ch, root)
    if ok then
      local back = ch:recv()
      local n, d = back, 0
      while n.next do d = d + 1; n = n.next end
      assert.are.equal(100000, d)
    else
      assert.are.equal("string", type(err))
      assert.are.equal("lugo: cannot transfer table (", err:sub(1, 29))
      assert.are.equal(0, ch:len())
    end
  end)

  it("keep cycles", function()
    local t = { name = "t" }
    t.self = t
    local a, b = { name = "a" }, { name = "b" }
    a.b, b.a = b, a
    local out = lugo.chan()
    lugo.go(function(o, x, y)
      o:send({ x.self == x, x.self.self.name, y.b.a == y, y.b.name })
    end, out, t, a)
    assert.are.same({ true, "t", true, "b" }, out:recv())
    local back = echo(t)
    assert.are.equal(back, back.self)
    local ab = echo(a)
    assert.are.equal(ab, ab.b.a)
    local made = built_in_goroutine(function()
      local c = {}
      c.me = c
      c.list = { c, c }
      return c
    end)
    assert.are.equal(made, made.me)
    assert.are.equal(made, made.list[1])
    assert.are.equal(made, made.list[2])
  end)

  it("keep shared subtables as one table", function()
    local s = { shared = true }
    local t = { a = s, b = s, list = { s, s } }
    local out = lugo.chan()
    lugo.go(function(o, x)
      x.a.changed = true
      o:send({ x.a == x.b, x.list[1] == x.a, x.list[2] == x.b, x.b.changed })
    end, out, t)
    assert.are.same({ true, true, true, true }, out:recv())
    local back = echo(t)
    assert.are.equal(back.a, back.b)
    assert.are.equal(back.a, back.list[2])
    assert.are_not.equal(s, back.a)
  end)

  it("keep a table used as key and value as one table", function()
    local k = { "key" }
    local t = { [k] = "by key", k = k }
    local out = lugo.chan()
    lugo.go(function(o, x) o:send({ x[x.k], x.k[1] }) end, out, t)
    assert.are.same({ "by key", "key" }, out:recv())
    local back = echo(t)
    assert.are.equal("by key", back[back.k])
  end)

  it("reached from two arguments arrive as one table", function()
    local s = { 1 }
    local t = { sub = s }
    local out = lugo.chan()
    lugo.go(function(o, a, b, c, d)
      o:send({ a == b, c.sub == a, c.sub == d })
    end, out, s, s, t, s)
    assert.are.same({ true, true, true }, out:recv())
  end)

  it("reached from an argument and an upvalue arrive as one table", function()
    local s = { 1 }
    local out = lugo.chan()
    lugo.go(function(o, a) o:send(a == s) end, out, s)
    assert.is_true(out:recv())
    local function get() return s end
    lugo.go(function(o, f, a) o:send(f() == a) end, out, get, s)
    assert.is_true(out:recv())
  end)

  it("copy their metatables, so methods work", function()
    local Point = {}
    Point.__index = Point
    function Point.new(x, y) return setmetatable({ x = x, y = y }, Point) end
    function Point:norm2() return self.x * self.x + self.y * self.y end
    Point.__add = function(a, b) return Point.new(a.x + b.x, a.y + b.y) end
    Point.__tostring = function(p) return "(" .. p.x .. "," .. p.y .. ")" end
    Point.__eq = function(a, b) return a.x == b.x and a.y == b.y end
    Point.__len = function() return 2 end
    Point.__call = function(p, k) return p[k] end
    local p, q = Point.new(3, 4), Point.new(1, 1)
    local out = lugo.chan()
    lugo.go(function(o, a, b)
      local sum = a + b
      o:send({ a:norm2(), tostring(sum), sum == Point.new(4, 5), #a, a("y"),
        getmetatable(a) == getmetatable(b), getmetatable(sum) == getmetatable(a),
        getmetatable(a) == Point })
    end, out, p, q)
    assert.are.same({ 25, "(4,5)", true, 2, 4, true, true, true }, out:recv())
    local back = echo(p)
    assert.are.equal(25, back:norm2())
    assert.are.equal("(3,4)", tostring(back))
    assert.are_not.equal(Point, getmetatable(back))
    local pair = echo({ p, q })
    assert.are.equal(getmetatable(pair[1]), getmetatable(pair[2]))
  end)

  it("copy metatables of objects built in a goroutine", function()
    local obj = built_in_goroutine(function()
      local mt = { __index = function(_, k) return "missing " .. k end }
      return setmetatable({ here = 1 }, mt)
    end)
    assert.are.equal(1, obj.here)
    assert.are.equal("missing x", obj.x)
  end)
end)

describe("functions", function()
  it("carry their upvalues", function()
    local k, name = 10, "add"
    local function add(x) return x + k, name end
    local r = in_goroutine(function(f) return f(5) end, add)
    assert.are.same({ 15, "add", n = 2 }, r)
    assert.are.same({ 15, "add", n = 2 }, in_goroutine(function() return add(5) end))
  end)

  it("work when recursive", function()
    local function fact(n)
      if n <= 1 then return 1 end
      return n * fact(n - 1)
    end
    local is_even, is_odd
    function is_even(n) if n == 0 then return true end return is_odd(n - 1) end
    function is_odd(n) if n == 0 then return false end return is_even(n - 1) end
    local r = in_goroutine(function(f, e) return f(10), e(10), e(7) end, fact, is_even)
    assert.are.same({ 3628800, true, false, n = 3 }, r)
  end)

  it("keep an upvalue shared by two closures shared between the copies", function()
    local function counter()
      local n = 0
      return function() n = n + 1; return n end, function() return n end
    end
    local inc, get = counter()
    local r = in_goroutine(function(i, g)
      i(); i()
      return g()
    end, inc, get)
    assert.are.same({ 2, n = 1 }, r)
    assert.are.equal(0, get())
    -- one closure as an argument, the other reached as an upvalue
    local out = lugo.chan()
    lugo.go(function(o, g) inc(); inc(); inc(); o:send(g()) end, out, get)
    assert.are.equal(3, out:recv())
    assert.are.equal(0, get())
    -- a shared upvalue of closures sent on a channel, and back again
    local pair = echo({ inc = inc, get = get })
    pair.inc()
    assert.are.equal(1, pair.get())
    assert.are.equal(0, get())
  end)

  it("built in a goroutine arrive in main working", function()
    local f = built_in_goroutine(function()
      local total = 100
      return {
        add = function(x) total = total + x; return total end,
        get = function() return total end,
        fmt = function(x) return string.format("%05d", x) end,
      }
    end)
    assert.are.equal(105, f.add(5))
    assert.are.equal(105, f.get())
    assert.are.equal("00042", f.fmt(42))
  end)

  it("keep varargs, multiple results and a table upvalue", function()
    local acc = { 1, 2 }
    local function f(...) return select("#", ...), #acc, ... end
    local r = in_goroutine(function(g) return g(nil, "x", nil) end, f)
    assert.are.same({ 3, 2, nil, "x", nil, n = 5 }, r)
  end)
end)

describe("lugo objects", function()
  it("travel by reference: a channel passed in is the same channel", function()
    local ch, out = lugo.chan(3), lugo.chan()
    lugo.go(function(o, c)
      c:send("through the copy")
      o:send({ c:cap(), c })
    end, out, ch)
    local r = out:recv()
    assert.are.equal(3, r[1])
    assert.are.equal("through the copy", ch:recv())
    assert.is_true(r[2] == ch)
    assert.are.equal(0, ch:len())
  end)

  it("compare == with the original", function()
    local ch = lugo.chan()
    local out = lugo.chan()
    lugo.go(function(o, a, other) o:send({ a, a == other }) end, out, ch, lugo.chan())
    local r = out:recv()
    assert.is_true(r[1] == ch)
    assert.is_false(r[2])
    assert.is_false(lugo.chan() == lugo.chan())
  end)

  it("are the same Lua value for the same channel inside one goroutine", function()
    local ch, via, out = lugo.chan(), lugo.chan(1), lugo.chan()
    lugo.go(function(o, v, a, b, t)
      local got = v:recv()
      local keyed = { [a] = "a" }
      o:send({ rawequal(a, b), rawequal(a, t.inner), rawequal(a, got),
        keyed[b], keyed[t.inner], keyed[got] })
    end, out, via, ch, ch, { inner = ch })
    via:send(ch)
    assert.are.same({ true, true, true, "a", "a", "a" }, out:recv())
  end)

  it("are the same Lua value for the same channel in main", function()
    local ch = lugo.chan()
    local back = echo(ch)
    assert.is_true(rawequal(ch, back))
    local keyed = { [ch] = 1 }
    assert.are.equal(1, keyed[back])
    local t = echo({ ch, ch })
    assert.is_true(rawequal(t[1], ch))
    assert.is_true(rawequal(t[2], ch))
  end)

  it("a channel made in a goroutine works in main", function()
    local made = built_in_goroutine(function()
      local c = lugo.chan(2)
      c:send("queued")
      return c
    end)
    assert.are.equal(2, made:cap())
    assert.are.equal(1, made:len())
    assert.are.equal("queued", made:recv())
  end)

  it("waitgroups travel by reference", function()
    local wg = lugo.waitgroup()
    local results = lugo.chan(10)
    for i = 1, 10 do
      wg:add()
      lugo.go(function(w, r, n) r:send(n); w:done() end, wg, results, i)
    end
    wg:wait()
    assert.are.equal(10, results:len())
    local out = lugo.chan()
    lugo.go(function(o, a, t) o:send(rawequal(a, t[1])) end, out, wg, { wg })
    assert.is_true(out:recv())
    assert.is_true(echo(wg) == wg)
  end)
end)

describe("C functions and modules", function()
  it("travel by name into a goroutine", function()
    local r = in_goroutine(function(p, fmt, s, l, fl, conc)
      return p == print, fmt == string.format, s == string,
        l == require("lugo"), fl == math.floor, conc == table.concat,
        fmt("%d-%s", 7, "x"), s.rep("a", 3), l.id() > 1
    end, print, string.format, string, lugo, math.floor, table.concat)
    assert.are.same({ true, true, true, true, true, true, "7-x", "aaa", true, n = 9 }, r)
  end)

  it("travel by name as upvalues and inside tables", function()
    local fmt, up = string.format, string.upper
    local t = { f = string.format, lib = table }
    local r = in_goroutine(function(x)
      return fmt == string.format, up("q"), x.f == string.format, x.lib == table
    end, t)
    assert.are.same({ true, "Q", true, true, n = 4 }, r)
  end)

  it("travel by name back to main", function()
    local r = built_in_goroutine(function()
      return { print, string.format, string, lugo, require("lugo"), io.write }
    end)
    assert.is_true(rawequal(print, r[1]))
    assert.is_true(rawequal(string.format, r[2]))
    assert.is_true(rawequal(string, r[3]))
    assert.is_true(rawequal(lugo, r[4]))
    assert.is_true(rawequal(lugo, r[5]))
    assert.is_true(rawequal(io.write, r[6]))
  end)

  -- These run in a child: a module that fails to resolve in a goroutine's
  -- arguments would be a panic, which would end this whole spec file.
  local function child_with_modules(modules, source)
    local dir = temp_dir()
    local out, err, code
    with_cleanup(function() remove_dir(dir) end, function()
      for name, text in pairs(modules) do
        write_file(dir .. "/" .. name .. ".lua", text)
      end
      out, err, code = support.run_script(source, { dir }, { env = GUARD })
    end)
    return out, err, code, dir
  end

  it("a required pure-Lua module travels by name", function()
    local out, err, code = child_with_modules({
      isomod = [[
        local M = { name = ..., upper = string.upper }
        function M.twice(x) return 2 * x end
        return M
      ]],
    }, [[
      local lugo = require "lugo"
      local dir = ...
      package.path = dir .. "/?.lua;" .. package.path
      local m = require "isomod"
      local out = lugo.chan()
      lugo.go(function(o, mod)
        o:send({ mod == require("isomod"), mod.twice(21), mod.name, mod.upper("m") })
      end, out, m)
      print(table.unpack((out:recv())))
      lugo.go(function(o) o:send(require("isomod")) end, out)
      print(rawequal((out:recv()), m))
    ]])
    assert.are.equal("", err)
    assert.are.equal("true\t42\tisomod\tM\ntrue\n", out)
    assert.are.equal(0, code)
  end)

  it("package.path travels with go, so require finds what the creator finds", function()
    local out, err, code = child_with_modules({
      late = "return { late = true, who = ... }",
    }, [[
      local lugo = require "lugo"
      local dir = ...
      package.path = dir .. "/?.lua;" .. package.path
      local out = lugo.chan()
      lugo.go(function(o)
        local ok, mod = pcall(require, "late")
        o:send({ ok and mod.late, ok and mod.who, package.path })
      end, out)
      local r = out:recv()
      print(r[1], r[2], r[3] == package.path, package.loaded.late)
    ]])
    assert.are.equal("", err)
    assert.are.equal("true\tlate\ttrue\tnil\n", out)
    assert.are.equal(0, code)
  end)

  it("package.path and cpath travel from a goroutine to the goroutines it starts", function()
    local out, err, code, dir = child_with_modules({
      nested = "return { found = true }",
    }, [[
      local lugo = require "lugo"
      local dir = ...
      local out = lugo.chan()
      lugo.go(function(o, d)
        package.path = d .. "/?.lua;" .. package.path
        package.cpath = d .. "/?.so;" .. package.cpath
        lugo.go(function(o2)
          local ok, mod = pcall(require, "nested")
          o2:send({ ok and mod.found, package.path, package.cpath })
        end, o)
      end, out, dir)
      local r = out:recv()
      print(r[1])
      print(r[2])
      print(r[3])
      print(package.path:find(dir, 1, true), package.loaded.nested)
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local lines = {}
    for l in out:gmatch("[^\n]*") do lines[#lines + 1] = l end
    assert.are.equal("true", lines[1])
    assert.are.equal(dir .. "/?.lua;", lines[2]:sub(1, #dir + 7))
    assert.are.equal(dir .. "/?.so;", lines[3]:sub(1, #dir + 6))
    assert.are.equal("nil\tnil", lines[4])
  end)
end)

describe("values that cannot cross", function()
  it("a coroutine argument raises in the sender", function()
    local co = coroutine.create(function() end)
    local ok, err = pcall(lugo.go, function() end, co)
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer thread (argument #2)", err)
  end)

  it("a userdata argument raises in the sender", function()
    local ok, err = pcall(lugo.go, function() end, io.tmpfile())
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer userdata (argument #2)", err)
    ok, err = pcall(lugo.go, function() end, 1, "two", io.tmpfile())
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer userdata (argument #4)", err)
  end)

  it("a light userdata argument raises in the sender", function()
    local up = 0
    local function g() return up end
    local light = debug.upvalueid(g, 1)      -- a light userdata
    assert.are.equal("userdata", type(light))
    local ok, err = pcall(lugo.go, function() end, light)
    assert.is_false(ok)
    -- API.md leaves the name to the codec: "userdata" or "light userdata"
    local kind = err:match("^lugo: cannot transfer (.-) %(argument #2%)$")
    assert.is_truthy(kind == "userdata" or kind == "light userdata", err)
  end)

  it("an unreachable C function raises in the sender", function()
    local iter = string.gmatch("a b", "%a")
    local ok, err = pcall(lugo.go, function() end, iter)
    assert.is_false(ok)
    -- API.md leaves the name to the codec: "function" or "C function"
    local kind = err:match("^lugo: cannot transfer (.-) %(argument #2%)$")
    assert.is_truthy(kind == "function" or kind == "C function", err)
  end)

  it("a userdata upvalue raises, naming the upvalue", function()
    local f = io.tmpfile()
    local ok, err = pcall(lugo.go, function() return f end)
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer userdata (upvalue 'f' of argument #1)", err)
    local co = coroutine.create(print)
    local function uses() return co end
    ok, err = pcall(lugo.go, function() end, uses)
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer thread (upvalue 'co' of argument #2)", err)
  end)

  it("a value deep inside a table or function raises, naming where", function()
    local ok, err = pcall(lugo.go, function() end, { a = { b = io.tmpfile() } })
    assert.is_false(ok)
    assert.are.equal("string", type(err))
    assert.are.equal("lugo: cannot transfer userdata (", err:sub(1, 32))
    assert.is_truthy(err:find("argument #2", 1, true))
    assert.are.equal(")", err:sub(-1))
    local u = io.tmpfile()
    local function inner() return u end
    local function outer() return inner() end
    ok, err = pcall(lugo.go, outer)
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer userdata (", err:sub(1, 32))
    assert.is_truthy(err:find("upvalue 'u'", 1, true))
    assert.is_truthy(err:find("argument #1", 1, true))
  end)

  it("a failed go starts no goroutine", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local before = lugo.numgoroutine()
      local ok = pcall(lugo.go, function() end, io.tmpfile())
      print(ok, before, lugo.numgoroutine())
    ]])
    assert.are.equal("false\t1\t1\n", out)
  end)

  it("a value that cannot be sent raises in the sender and sends nothing", function()
    local ch = lugo.chan(2)
    local ok, err = pcall(ch.send, ch, coroutine.create(print))
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer thread (", err:sub(1, 30))
    assert.are.equal(")", err:sub(-1))
    ok, err = pcall(ch.send, ch, { io.tmpfile() })
    assert.is_false(ok)
    assert.are.equal("lugo: cannot transfer userdata (", err:sub(1, 32))
    assert.are.equal(0, ch:len())
    ch:send("still works")
    assert.are.equal("still works", ch:recv())
  end)

  it("a goroutine sending a value that cannot cross gets the error", function()
    local out = lugo.chan()
    lugo.go(function(o)
      local ok, err = pcall(o.send, o, coroutine.create(print))
      o:send({ ok, err })
    end, out)
    local r = out:recv()
    assert.is_false(r[1])
    assert.are.equal("lugo: cannot transfer thread (", r[2]:sub(1, 30))
  end)
end)

describe("every kind of value", function()
  local function kitchen_sink()
    local shared = { "shared" }
    local t = {
      n = nil, yes = true, no = false,
      int = 42, float = 42.0, neg0 = -0.0, nan = 0 / 0, inf = math.huge,
      min = math.mininteger, big = 2^53,
      str = "with\0zero", empty = "",
      list = { 1, 2.5, "three", false, { 4 } },
      a = shared, b = shared,
      nested = { deeper = { deepest = { "bottom" } } },
    }
    t.cycle = t
    t.obj = setmetatable({ v = 1 }, { __index = { kind = "obj" } })
    return t
  end

  it("crosses from main to a goroutine intact", function()
    local t = kitchen_sink()
    assert.are.equal(dump(t), dump_as_argument(t))
    assert.are.equal(dump(t), dump_as_sent(t))
  end)

  it("crosses from a goroutine to main intact", function()
    local got = built_in_goroutine(kitchen_sink)
    assert.are.equal(dump(kitchen_sink()), dump(got))
    assert.are.equal(got, got.cycle)
    assert.are.equal(got.a, got.b)
    assert.are.equal("obj", got.obj.kind)
  end)

  it("crosses as a series of single values, nil included", function()
    local values = { nil, true, false, 0, -0.0, 1.5, "s", "\0", {}, { 1 } }
    local ch, out = lugo.chan(), lugo.chan()
    lugo.go(function(c, o)
      local texts = {}
      for i = 1, 10 do
        local v, ok = c:recv()
        texts[i] = dump(v) .. (ok and "" or "!")
      end
      o:send(texts)
    end, ch, out)
    for i = 1, 10 do ch:send(values[i]) end
    local texts = out:recv()
    for i = 1, 10 do assert.are.equal(dump(values[i]), texts[i]) end
    -- and back
    lugo.go(function(c)
      local vals = { nil, true, false, 0, -0.0, 1.5, "s", "\0", {}, { 1 } }
      for i = 1, 10 do c:send(vals[i]) end
    end, ch)
    for i = 1, 10 do
      local v, ok = ch:recv()
      assert.is_true(ok)
      assert.are.equal(dump(values[i]), dump(v))
    end
  end)
end)

describe("userdata reachable from package.loaded", function()
  it("io.stdout, io.stderr and io.stdin travel by name, as upvalues, arguments and channel values", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      local out = io.stdout
      local done = lugo.chan()
      lugo.go(function(e, i)
        out:write("upvalue\n")
        e:write("argument\n")
        done:send({ out == io.stdout, e == io.stderr, i == io.stdin })
      end, io.stderr, io.stdin)
      local r = done:recv()
      print(r[1], r[2], r[3])
      local ch = lugo.chan(1)
      ch:send(io.stdout)
      print(ch:recv() == io.stdout)
    ]])
    assert.are.equal("argument\n", err)
    assert.are.equal(0, code)
    assert.are.equal("upvalue\ntrue\ttrue\ttrue\ntrue\n", out)
  end)

  it("other files still cannot cross, and the error names them", function()
    local f = io.tmpfile()
    local ok, err = pcall(lugo.go, function() return f end)
    f:close()
    assert.is_false(ok)
    assert.is_true(support.has(err, "lugo: cannot transfer userdata (upvalue 'f' of argument #1)"), err)
  end)
end)

describe("globals travel like upvalues", function()
  it("a top-level function can be called from a goroutine, with the functions it calls", function()
    local out = child_ok([[
      local lugo = require "lugo"
      function square(x) return x * x end
      function worker(id, results) results:send(id .. "=" .. square(id)) end
      local results = lugo.chan(3)
      for i = 1, 3 do lugo.go(worker, i, results) end
      local t = {}
      for i = 1, 3 do t[i] = results:recv() end
      table.sort(t)
      print(table.concat(t, " "))
    ]])
    assert.are.equal("1=1 2=4 3=9\n", out)
  end)

  it("copies each global's value at the go call; later changes stay on their side", function()
    local out = child_ok([[
      local lugo = require "lugo"
      count = 10
      local gate, done = lugo.chan(), lugo.chan()
      lugo.go(function()
        count = count + 1          -- the goroutine's own copy
        gate:recv()
        done:send(count)
      end)
      count = 100                  -- after the go call: not seen
      gate:send(true)
      print((done:recv()), count)
    ]])
    assert.are.equal("11\t100\n", out)
  end)

  it("globals reached from nested functions, upvalues and arguments travel too", function()
    local out = child_ok([[
      local lugo = require "lugo"
      prefix, suffix, from_arg = "<", ">", "arg"
      local function wrap(s) return prefix .. s .. suffix end
      local done = lugo.chan()
      lugo.go(function(f)
        local function inner() return wrap("x") end
        done:send(inner() .. f())
      end, function() return from_arg end)
      print((done:recv()))
    ]])
    assert.are.equal("<x>arg\n", out)
  end)

  it("keeps identity: a table that is both a global and an upvalue arrives as one table", function()
    local out = child_ok([[
      local lugo = require "lugo"
      config = {n = 1}
      local same = config
      local done = lugo.chan()
      lugo.go(function() same.n = 2; done:send(config.n .. " " .. tostring(rawequal(same, config))) end)
      print((done:recv()))
    ]])
    assert.are.equal("2 true\n", out)
  end)

  it("standard library globals and a global lugo resolve by name", function()
    local out = child_ok([[
      lugo = require "lugo"
      local done = lugo.chan()
      lugo.go(function()
        lugo.yield()
        done:send(string.rep("a", 2) .. " " .. type(print) .. " " .. math.max(1, 2))
      end)
      print((done:recv()))
    ]])
    assert.are.equal("aa function 2\n", out)
  end)

  it("a global that cannot cross raises in the creator, naming it", function()
    local out = child_ok([[
      local lugo = require "lugo"
      f = io.tmpfile()
      function helper() return f end
      print(select(2, pcall(lugo.go, function() return f end)))
      print(select(2, pcall(lugo.go, function() return helper() end)))
      print(select(2, pcall(lugo.go, print, {1, function() return f end})))
    ]])
    assert.are.equal(
      "lugo: cannot transfer userdata (global 'f' of argument #1)\n" ..
      "lugo: cannot transfer userdata (global 'f' of global 'helper' of argument #1)\n" ..
      "lugo: cannot transfer userdata (global 'f' of argument #2)\n", out)
  end)

  it("a global nil in the creator is left out; one the goroutine assigns stays its own", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local done = lugo.chan()
      lugo.go(function() done:send(missing == nil); made_here = 1 end)
      print((done:recv()))
      require("support").settle(1)   -- it has assigned made_here and ended
      print(made_here)
    ]])
    assert.are.equal("true\nnil\n", out)
  end)

  it("functions sent on a channel do not carry globals", function()
    local out = child_ok([[
      local lugo = require "lugo"
      secret = "main's"
      local fns, done = lugo.chan(), lugo.chan()
      lugo.go(function() local f = fns:recv(); done:send(tostring(f())) end)
      fns:send(function() return secret end)
      print((done:recv()))
    ]])
    assert.are.equal("nil\n", out)
  end)

  it("lugo.run carries globals as lugo.go does", function()
    local out = child_ok([[
      local lugo = require "lugo"
      base = 40
      function add(n) return base + n end
      print(lugo.run(function() return add(2) end))
    ]])
    assert.are.equal("42\n", out)
  end)
end)

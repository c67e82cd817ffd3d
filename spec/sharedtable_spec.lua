-- sharedtable_spec.lua: API.md "Shared state": lugo.table (a table shared
-- by reference, each read and write atomic), lugo.update, lugo.inc.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"
local has = support.has

local err_of = support.error_of

-- Runs body(i) in n goroutines and waits for all of them.
local function in_parallel(n, body)
  local wg = lugo.waitgroup()
  for i = 1, n do
    wg:add(1)
    lugo.go(function() body(i); wg:done() end)
  end
  wg:wait()
end

local function sorted_pairs(s)
  local out = {}
  for k, v in pairs(s) do out[#out + 1] = tostring(k) .. "=" .. tostring(v) end
  table.sort(out)
  return table.concat(out, " ")
end

describe("lugo.table", function()
  it("starts empty, or with a copy of t's entries", function()
    assert.are.equal("", sorted_pairs(lugo.table()))
    local t = { 10, 20, x = "a", [true] = false }
    local s = lugo.table(t)
    t.x = "changed"
    assert.are.equal("1=10 2=20 true=false x=a", sorted_pairs(s))
  end)

  it("reads a copy of the value stored, nil when absent; storing nil removes", function()
    local s = lugo.table()
    s.k = "v"
    assert.are.equal("v", s.k)
    assert.is_nil(s.absent)
    s.k = nil
    assert.is_nil(s.k)
    assert.are.equal("", sorted_pairs(s))
  end)

  it("deep-copies tables in and out", function()
    local s = lugo.table()
    local list = { 1, 2, { 3 } }
    s.list = list
    list[1] = "after"
    local got = s.list
    assert.are.same({ 1, 2, { 3 } }, got)
    got[1] = "copy"
    assert.are.equal(1, s.list[1])
    assert.are_not.equal(s.list, s.list)
  end)

  it("stores lugo objects, shared tables included, by reference", function()
    local s, inner, ch = lugo.table(), lugo.table(), lugo.chan(1)
    s.inner, s.ch = inner, ch
    assert.are.equal(inner, s.inner)
    assert.are.equal(ch, s.ch)
    s.inner.x = 1
    assert.are.equal(1, inner.x)
  end)

  it("normalises float keys with integer values, as Lua does", function()
    local s = lugo.table()
    s[2.0] = "two"
    assert.are.equal("two", s[2])
    for k in pairs(lugo.table({ [3.0] = 1 })) do assert.are.equal("integer", math.type(k)) end
    s[1.5] = "half"
    assert.are.equal("half", s[1.5])
  end)

  it("raises on keys that are not booleans, numbers or strings", function()
    local s = lugo.table()
    assert.are.equal("lugo: shared table key must be a boolean, number or string, got table",
      err_of(function() s[{}] = 1 end):match("lugo: .*"))
    assert.are.equal("lugo: shared table key must be a boolean, number or string, got function",
      err_of(function() return s[print] end):match("lugo: .*"))
    assert.are.equal("lugo: shared table key must be a boolean, number or string, got nil",
      err_of(function() return s[nil] end):match("lugo: .*"))
    assert.is_true(has(err_of(function() s[0 / 0] = 1 end), "NaN"))
    assert.is_nil(s[0 / 0])
  end)

  it("# gives a border of the integer keys", function()
    local s = lugo.table({ 1, 2, 3 })
    assert.are.equal(3, #s)
    s[4] = 4
    assert.are.equal(4, #s)
    s[4] = nil
    assert.are.equal(3, #s)
    assert.are.equal(0, #lugo.table({ x = 1 }))
    local big = lugo.table()
    for i = 1, 1000 do big[i] = i end
    assert.are.equal(1000, #big)
  end)

  it("pairs and ipairs iterate over the entries as they were when the loop started", function()
    local s = lugo.table({ 1, 2, 3 })
    local seen = {}
    for i, v in ipairs(s) do
      s[i + 3] = "added"      -- not seen by this loop
      seen[#seen + 1] = v
    end
    assert.are.same({ 1, 2, 3 }, seen)
    local n = 0
    for k in pairs(s) do
      s[k] = nil              -- removing while iterating is fine
      n = n + 1
    end
    assert.are.equal(6, n)
    assert.are.equal("", sorted_pairs(s))
  end)

  it("ipairs stops at the first absent index", function()
    local s = lugo.table({ 1, 2, nil, 4 })
    local seen = {}
    for i, v in ipairs(s) do seen[i] = v end
    assert.are.same({ 1, 2 }, seen)
  end)

  it("leaves ipairs of plain tables as the standard one (with __index)", function()
    local t = setmetatable({}, { __index = function(_, i) if i <= 2 then return i * 10 end end })
    local seen = {}
    for i, v in ipairs(t) do seen[i] = v end
    assert.are.same({ 10, 20 }, seen)
  end)

  it("is one table for every goroutine: upvalue, argument, channel", function()
    local s, ch = lugo.table(), lugo.chan(1)
    in_parallel(1, function() s.from_upvalue = true end)
    lugo.run(function(t) t.from_argument = true end, s)
    ch:send(s)
    lugo.run(function() ch:recv().from_channel = true end)
    assert.are.equal("from_argument=true from_channel=true from_upvalue=true", sorted_pairs(s))
  end)

  it("with a mutex, read-modify-write from many goroutines loses no update", function()
    local s, mu = lugo.table(), lugo.mutex()
    in_parallel(8, function()
      for _ = 1, 500 do
        mu:lock()
        s.n = (s.n or 0) + 1
        mu:unlock()
        if _ % 50 == 0 then lugo.yield() end
      end
    end)
    assert.are.equal(4000, s.n)
  end)

  it("a value that cannot cross raises and leaves the entry as it was", function()
    local s = lugo.table({ k = 1 })
    assert.is_true(has(err_of(function() s.k = coroutine.create(print) end),
      "lugo: cannot transfer thread"))
    assert.are.equal(1, s.k)
  end)
end)

describe("lugo.table under load", function()
  it("8 goroutines on 2 workers: 1,000,000 lugo.inc lose nothing", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local s, wg = lugo.table(), lugo.waitgroup()
      for g = 1, 8 do
        wg:add(1)
        lugo.go(function()
          for _ = 1, 125000 do lugo.inc(s, "n") end
          lugo.inc(s, g)
          wg:done()
        end)
      end
      wg:wait()
      print(s.n, #s)
    ]], "LUGO_WORKERS=2")
    assert.are.equal("1000000\t8\n", out)
  end)

  it("stores values of every kind and reads them back equal", function()
    local s = lugo.table()
    local cyclic = { name = "c" }
    cyclic.self = cyclic
    local values = {
      true, false, 0, -1, math.maxinteger, math.mininteger, 1.5, -0.0,
      1 / 0, -1 / 0, "", "text", "bin\0ary\255", string.rep("long", 1000),
      { 1, 2, { 3, { 4 } } }, { a = 1, [true] = "t", [2.5] = "f" },
    }
    for i, v in ipairs(values) do s[i] = v end
    for i, v in ipairs(values) do
      if type(v) == "table" then
        assert.are.same(v, s[i])
      else
        assert.are.equal(v, s[i])
        assert.are.equal(math.type(v), math.type(s[i]))
      end
    end
    s.nan = 0 / 0
    assert.is_true(s.nan ~= s.nan)
    s.cyclic = cyclic
    local back = s.cyclic
    assert.are.equal(back, back.self)
    assert.are.equal("c", back.name)
    local base = 10
    s.fn = function(x) return x + base end
    assert.are.equal(15, s.fn(5))
    local mt = { __index = function() return "meta" end }
    s.withmeta = setmetatable({}, mt)
    assert.are.equal("meta", s.withmeta.anything)
  end)

  it("pairs over a table another goroutine changes never fails", function()
    local s, stop = lugo.table(), lugo.atomic()
    for i = 1, 100 do s[i] = i end
    local done = lugo.chan()
    lugo.go(function()
      local i = 0
      while stop:load() == 0 do
        i = i + 1
        s[i % 200 + 1] = (i % 3 == 0) and nil or { i }
        s["k" .. (i % 50)] = i
        if i % 100 == 0 then lugo.yield() end
      end
      done:send(true)
    end)
    for _ = 1, 200 do
      local n = 0
      for k, v in pairs(s) do
        assert.is_not_nil(v)
        assert.is_true(type(k) == "number" or type(k) == "string")
        n = n + 1
      end
      for i, v in ipairs(s) do assert.is_not_nil(v) end
      assert.is_true(n >= 0)
      lugo.yield()
    end
    stop:store(1)
    assert.is_true(done:recv())
  end)
end)

describe("lugo.update", function()
  it("replaces s[k] with fn(s[k]) and returns the new value", function()
    local s = lugo.table()
    assert.are.equal(1, lugo.update(s, "n", function(v) return (v or 0) + 1 end))
    assert.are.equal(11, lugo.update(s, "n", function(v) return v + 10 end))
    assert.are.equal(11, s.n)
    assert.is_nil(lugo.update(s, "n", function() return nil end))
    assert.is_nil(s.n)
  end)

  it("is atomic across goroutines", function()
    local s = lugo.table()
    in_parallel(4, function()
      for _ = 1, 1000 do
        lugo.update(s, "list", function(l)
          l = l or {}
          l[#l + 1] = true
          return l
        end)
      end
    end)
    assert.are.equal(4000, #s.list)
  end)

  it("raises when fn touches the table, and the table stays usable", function()
    local s = lugo.table({ n = 1 })
    assert.is_true(has(err_of(lugo.update, s, "n", function() return s.n end),
      "lugo.update: shared table is locked by this update"))
    assert.is_true(has(err_of(lugo.update, s, "n", function() s.m = 1 end),
      "lugo.update: shared table is locked by this update"))
    assert.are.equal(1, s.n)
    s.n = 2
    assert.are.equal(2, s.n)
  end)

  it("raises when fn blocks", function()
    local s = lugo.table()
    assert.is_true(has(err_of(lugo.update, s, "n", function() lugo.sleep(0.001) end),
      "cannot block here"))
    assert.is_nil(s.n)
  end)

  it("passes fn's error on and keeps the old value", function()
    local s = lugo.table({ n = 5 })
    assert.is_true(has(err_of(lugo.update, s, "n", function() error("boom") end), "boom"))
    assert.are.equal(5, s.n)
  end)

  it("two updates waiting for each other's table raise instead of hanging", function()
    -- Each fn holds its table and, once the other holds its own, reads the
    -- other table: a lock-order cycle on two workers.
    local out = support.child_ok([[
      local lugo = require "lugo"
      local a, b = lugo.table({ x = 1 }), lugo.table({ x = 2 })
      local inside = lugo.atomic()
      local results, wg = lugo.table(), lugo.waitgroup()
      local function cross(mine, other, name)
        wg:add(1)
        lugo.go(function()
          local ok, err = pcall(lugo.update, mine, "x", function(v)
            inside:add(1)
            for _ = 1, 1e7 do if inside:load() == 2 then break end end
            return v + other.x
          end)
          results[name] = ok and "ok" or err:match("lugo%.update: .*")
          wg:done()
        end)
      end
      cross(a, b, "a")
      cross(b, a, "b")
      wg:wait()
      print(results.a)
      print(results.b)
    ]], "LUGO_WORKERS=2")
    assert.is_true(has(out, "lugo.update: deadlock: two updates wait for each other's shared table"), out)
  end)

  it("may update another shared table inside fn", function()
    local a, b = lugo.table(), lugo.table()
    lugo.update(a, "x", function()
      lugo.update(b, "y", function() return 2 end)
      return 1
    end)
    assert.are.equal(1, a.x)
    assert.are.equal(2, b.y)
  end)
end)

describe("lugo.inc", function()
  it("adds n (default 1) to s[k] (absent counts as 0) and returns the new value", function()
    local s = lugo.table()
    assert.are.equal(1, lugo.inc(s, "a"))
    assert.are.equal(6, lugo.inc(s, "a", 5))
    assert.are.equal(4, lugo.inc(s, "a", -2))
    assert.are.equal(0.5, lugo.inc(s, "f", 0.5))
    assert.are.equal(1.5, lugo.inc(s, "f"))
    assert.are.equal("integer", math.type(s.a))
  end)

  it("is atomic across goroutines and workers", function()
    local s = lugo.table()
    in_parallel(4, function()
      for _ = 1, 10000 do lugo.inc(s, "n") end
    end)
    assert.are.equal(40000, s.n)
  end)

  it("raises on a value that is not a number, naming the key as tostring does", function()
    local s = lugo.table({ name = "x", [1.5] = {}, [true] = false })
    assert.are.equal("lugo.inc: value at key name is a string, not a number",
      err_of(lugo.inc, s, "name"):match("lugo%.inc: .*"))
    assert.are.equal("lugo.inc: value at key 1.5 is a table, not a number",
      err_of(lugo.inc, s, 1.5):match("lugo%.inc: .*"))
    assert.are.equal("lugo.inc: value at key true is a boolean, not a number",
      err_of(lugo.inc, s, true):match("lugo%.inc: .*"))
    assert.are.equal("x", s.name)
  end)

  it("checks its arguments", function()
    assert.is_true(has(err_of(lugo.inc, {}, "k"), "shared table expected"))
    assert.is_true(has(err_of(lugo.inc, lugo.table(), "k", "2"), "number expected"))
  end)
end)

-- run_spec.lua: lugo.run(fn, ...) (API.md, Goroutines): runs fn(...) in a
-- new goroutine and waits for it; returns its results, copied back as
-- channel values are; an error in fn is raised in the caller (the
-- goroutine's message, then its traceback) instead of being a panic; from
-- a goroutine the caller parks; lugo.goroutines() shows a caller waiting
-- with the reason "lugo.run".
--
-- Most cases run in this busted process (the main goroutine under the
-- `lugo` command); those about exit statuses, exact goroutine counts and a
-- single worker run in a child `lugo`, guarded by support.GUARD.
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua). Functions given to lugo.run must not capture
-- `assert` (busted's luassert cannot cross into a goroutine).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local find, has = support.find, support.has

-- This file's name as tracebacks and `created` show it.
local SRC = debug.getinfo(1, "S").short_src

local function line()
  return debug.getinfo(2, "l").currentline
end

-- Runs a script in a child lugo; checks it exits 0 with empty stderr and
-- returns its stdout.
local function child_ok(source, env)
  local out, err, code = support.child(source, env)
  assert.are.equal("", err, "stdout:\n" .. out)
  assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  return out
end

local field = support.field

-- The lugo.goroutines() entry of goroutine id, or nil.
local function entry(list, id)
  for _, g in ipairs(list) do
    if g.id == id then return g end
  end
end

-- Polls lugo.goroutines() (yielding, 30 s at most) until pred(entry of id)
-- holds; returns that entry (possibly not matching pred: the caller checks).
local function wait_entry(id, pred)
  local deadline = os.time() + 30
  local g
  repeat
    lugo.yield()
    g = entry(lugo.goroutines(), id)
  until (g and pred(g)) or os.time() > deadline
  return g
end

describe("lugo.run results", function()
  it("returns the function's results", function()
    local r = table.pack(lugo.run(function() return 1, "two", true, 4.5 end))
    assert.are.same({ 1, "two", true, 4.5, n = 4 }, r)
  end)

  it("returns no results for a function that returns none", function()
    assert.are.equal(0, select("#", lugo.run(function() end)))
    assert.are.equal(0, select("#", lugo.run(function() return end)))
  end)

  it("keeps nils in the middle and at the end of the results", function()
    local r = table.pack(lugo.run(function() return nil, 2, nil, 4, nil end))
    assert.are.equal(5, r.n)
    assert.is_nil(r[1])
    assert.are.equal(2, r[2])
    assert.is_nil(r[3])
    assert.are.equal(4, r[4])
    assert.is_nil(r[5])
  end)

  it("keeps integers and floats apart", function()
    local a, b, c = lugo.run(function() return 3, 3.0, 2^53 end)
    assert.are.equal("integer", math.type(a))
    assert.are.equal("float", math.type(b))
    assert.are.equal("float", math.type(c))
    assert.are.equal(3, a)
    assert.are.equal(2^53, c)
  end)

  it("returns many results", function()
    local r = table.pack(lugo.run(function()
      local t = {}
      for i = 1, 250 do t[i] = i * 2 end
      return table.unpack(t, 1, 250)
    end))
    assert.are.equal(250, r.n)
    for i = 1, 250 do assert.are.equal(i * 2, r[i]) end
  end)

  it("returns tables as copies, with shared references, cycles and metatables kept", function()
    local arg_t = { 1, nested = { 2 } }
    local r, same, s2 = lugo.run(function(t)
      t[1] = 99
      t.nested[2] = 3
      t.self = t
      local shared = { "shared" }
      t.a, t.b = shared, shared
      local m = setmetatable({}, { __index = function(_, k) return "mt:" .. k end })
      return t, t, m
    end, arg_t)
    -- the caller's table is untouched
    assert.are.same({ 1, nested = { 2 } }, arg_t)
    assert.is_false(rawequal(r, arg_t))
    -- the copy has the changes
    assert.are.equal(99, r[1])
    assert.are.same({ 2, 3 }, r.nested)
    assert.is_true(rawequal(r.self, r))
    assert.is_true(rawequal(r.a, r.b))
    assert.are.same({ "shared" }, r.a)
    -- one result graph: the same table twice arrives as one table
    assert.is_true(rawequal(r, same))
    assert.are.equal("mt:x", s2.x)
  end)

  it("returns strings with any bytes, and functions with their upvalues", function()
    local s, f = lugo.run(function()
      local n = 21
      return "a\0b\255", function(k) return n * k end
    end)
    assert.are.equal("a\0b\255", s)
    assert.are.equal("function", type(f))
    assert.are.equal(42, f(2))
  end)

  it("returns lugo objects by reference", function()
    local ch = lugo.chan(1)
    local same, made = lugo.run(function(c)
      local m = lugo.chan(1)
      m:send("inside")
      c:send("from run")
      return c, m
    end, ch)
    assert.is_true(same == ch)
    assert.are.equal("from run", (ch:recv()))
    assert.are.equal("inside", (made:recv()))
    assert.are.equal(1, made:cap())
  end)

  it("raises an error when a result cannot cross (a coroutine)", function()
    local ok, err = pcall(lugo.run, function() return coroutine.create(print) end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer thread"), tostring(err))
    -- also nested in a table
    ok, err = pcall(lugo.run, function() return 1, { co = coroutine.create(print) } end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer thread"), tostring(err))
    -- and lugo.run still works afterwards
    assert.are.equal(7, lugo.run(function() return 7 end))
  end)
end)

describe("lugo.run arguments", function()
  it("passes the arguments", function()
    local r = table.pack(lugo.run(function(a, b, c, d) return d, c, b, a end, 1, "two", true, 4.5))
    assert.are.same({ 4.5, true, "two", 1, n = 4 }, r)
  end)

  it("passes nils in the middle and at the end, counted", function()
    local r = table.pack(lugo.run(function(...) return select("#", ...), ... end, nil, 2, nil))
    assert.are.equal(4, r.n)
    assert.are.equal(3, r[1])
    assert.is_nil(r[2])
    assert.are.equal(2, r[3])
    assert.is_nil(r[4])
  end)

  it("passes no arguments", function()
    assert.are.equal(0, lugo.run(function(...) return select("#", ...) end))
  end)

  it("copies table arguments: changes in fn stay in fn", function()
    local t = { 1, 2, 3 }
    local n = lugo.run(function(x)
      x[4] = 4
      return #x
    end, t)
    assert.are.equal(4, n)
    assert.are.same({ 1, 2, 3 }, t)
  end)

  it("copies upvalues of fn", function()
    local base, t = 40, { k = 2 }
    assert.are.equal(42, lugo.run(function() return base + t.k end))
  end)

  it("raises in the caller when an argument or an upvalue cannot cross", function()
    local co = coroutine.create(print)
    local ok, err = pcall(lugo.run, function() end, co)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer thread"), tostring(err))
    ok, err = pcall(lugo.run, function() return co end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer thread"), tostring(err))
    assert.is_true(has(err, "upvalue 'co'"), tostring(err))
  end)

  it("raises when fn is not a function", function()
    local ok, err = pcall(lugo.run, 42)
    assert.is_false(ok)
    assert.is_true(has(err, "bad argument #1 to 'run'"), tostring(err))
    ok, err = pcall(lugo.run)
    assert.is_false(ok)
    assert.is_true(has(err, "bad argument #1 to 'run'"), tostring(err))
  end)
end)

describe("lugo.run errors", function()
  it("raises fn's error in the caller: the message, then its traceback", function()
    local at = line() + 2
    local ok, err = pcall(lugo.run, function()
      error("run failed: 42")
    end)
    assert.is_false(ok)
    assert.are.equal("string", type(err))
    local a = find(err, SRC .. ":" .. at .. ": run failed: 42")
    local b = find(err, "stack traceback:", a)
    -- the traceback is the goroutine's: it shows fn's line
    find(err, SRC .. ":" .. at .. ":", b)
  end)

  it("starts with the message (a message without position stays as is)", function()
    local ok, err = pcall(lugo.run, function() error("plain message", 0) end)
    assert.is_false(ok)
    assert.are.equal("string", type(err))
    local a = find(err, "plain message\n")
    local prefix = err:sub(1, a - 1)
    assert.is_true(prefix == "" or prefix:match("^[^\n]*:%d+: $") ~= nil, err)
    find(err, "stack traceback:", a)
  end)

  it("shows the whole call chain of fn in the traceback", function()
    local base = line()
    local ok, err = pcall(lugo.run, function()
      local function inner()
        error("deep failure")                   -- base + 3
      end
      local function outer() inner(); return 1 end   -- base + 5
      return outer()
    end)
    assert.is_false(ok)
    local t = find(err, "stack traceback:")
    local p3 = find(err, SRC .. ":" .. (base + 3) .. ":", t)   -- innermost first
    local p5 = find(err, SRC .. ":" .. (base + 5) .. ":", t)
    assert.is_true(p3 < p5, err)
  end)

  it("is not a panic: the program goes on and the goroutine is gone", function()
    support.settle(1)
    local before = lugo.numgoroutine()
    for i = 1, 20 do
      local ok, err = pcall(lugo.run, function(k) error("failure " .. k) end, i)
      assert.is_false(ok)
      assert.is_true(has(err, "failure " .. i), tostring(err))
    end
    support.settle(before)
    assert.are.equal(before, lugo.numgoroutine())
    assert.are.equal(5, lugo.run(function() return 5 end))
  end)

  it("a runtime error in fn is raised too", function()
    local ok, err = pcall(lugo.run, function() local x = nil; return x.field end)
    assert.is_false(ok)
    find(err, "attempt to index a nil value")
    find(err, "stack traceback:")
  end)

  it("an error from a nested lugo.run reaches the outer caller", function()
    local ok, err = pcall(lugo.run, function()
      lugo.run(function() error("inner boom") end)
      return "not reached"
    end)
    assert.is_false(ok)
    find(err, "inner boom")
    find(err, "stack traceback:")
  end)

  it("an error caught inside fn is just a result", function()
    local ok, msg = lugo.run(function() return pcall(error, "caught", 0) end)
    assert.is_false(ok)
    assert.are.equal("caught", msg)
  end)
end)

describe("lugo.run goroutines", function()
  it("runs fn in a new goroutine: its id is not 1 and not the caller's", function()
    local inner, caller = lugo.run(function() return lugo.id() end), lugo.id()
    assert.are.equal("integer", math.type(inner))
    assert.are.equal(1, caller)
    assert.are_not.equal(1, inner)
    -- a new one each time
    local again = lugo.run(function() return lugo.id() end)
    assert.is_true(again > inner)
  end)

  it("from a goroutine, the id inside differs from the caller's", function()
    local r = support.packed_in_goroutine(function()
      return lugo.id(), lugo.run(function() return lugo.id() end)
    end)
    local caller, inner = r[1], r[2]
    assert.are_not.equal(1, caller)
    assert.are_not.equal(1, inner)
    assert.are_not.equal(caller, inner)
  end)

  it("works nested: lugo.run inside lugo.run", function()
    local o, i = lugo.run(function()
      local i2 = lugo.run(function() return lugo.id() end)
      return lugo.id(), i2
    end)
    assert.are_not.equal(1, o)
    assert.are_not.equal(1, i)
    assert.are_not.equal(o, i)
  end)

  it("works nested 50 deep", function()
    local function nest(n)
      if n == 0 then return 0 end
      return 1 + lugo.run(nest, n - 1)
    end
    assert.are.equal(50, lugo.run(nest, 50))
  end)

  it("fn may block: it waits for other goroutines", function()
    local ch = lugo.chan()
    lugo.go(function()
      for i = 1, 100 do ch:send(i) end
      ch:close()
    end)
    local sum = lugo.run(function(c)
      local s = 0
      for v in c:range() do s = s + v end
      return s
    end, ch)
    assert.are.equal(5050, sum)
  end)

  it("many goroutines each calling lugo.run at once all get their results", function()
    local out = lugo.chan()
    local n = 200
    for i = 1, n do
      lugo.go(function(k)
        -- caught: a failure must fail this test, not panic the process
        local ok, a, b = pcall(lugo.run, function(x) lugo.yield(); return x * x, lugo.id() end, k)
        out:send({ k, ok and a or tostring(a), b ~= lugo.id() })
      end, i)
    end
    local seen = {}
    for _ = 1, n do
      local r = out:recv()
      assert.are.equal(r[1] * r[1], r[2])
      assert.is_true(r[3])
      assert.is_nil(seen[r[1]])
      seen[r[1]] = true
    end
  end)

  it("lugo.goroutines() shows a goroutine caller waiting with 'lugo.run'", function()
    local gate, ids = lugo.chan(), lugo.chan(1)
    local caller = lugo.go(function()
      -- caught: a failure must fail this test, not panic the process
      local ok, err = pcall(lugo.run, function(g, o)
        o:send(lugo.id())
        g:recv()
      end, gate, ids)
      if not ok then ids:send("lugo.run failed: " .. tostring(err)) end
    end)
    local inner = ids:recv()
    assert.are.equal("integer", math.type(inner), tostring(inner))
    local c = wait_entry(caller, function(e) return e.wait == "lugo.run" end)
    local i = wait_entry(inner, function(e) return e.wait == "chan receive" end)
    assert.is_truthy(c, "caller not listed")
    assert.are.equal("waiting", c.state)
    assert.are.equal("lugo.run", c.wait)
    assert.is_truthy(i, "fn's goroutine not listed")
    assert.are.equal("waiting", i.state)
    assert.are.equal("chan receive", i.wait)
    assert.are.equal(caller, i.parent)
    gate:send()
  end)

  it("lugo.goroutines() from fn shows main waiting with 'lugo.run'", function()
    local state, wait, me = lugo.run(function()
      require("support").parked(1, "lugo.run")   -- bounded
      local m = entry(lugo.goroutines(), 1)
      local self = entry(lugo.goroutines(), lugo.id())
      return m and m.state, m and m.wait, self and self.state
    end)
    assert.are.equal("waiting", state)
    assert.are.equal("lugo.run", wait)
    assert.are.equal("running", me)
  end)

  it("fn's goroutine is created at the lugo.run call, by the caller", function()
    local at = line() + 1
    local created, parent = lugo.run(function()
      local g = entry(lugo.goroutines(), lugo.id())
      return g and g.created, g and g.parent
    end)
    assert.are.equal(SRC .. ":" .. at, created)
    assert.are.equal(1, parent)
  end)
end)

describe("lugo.run in a child lugo", function()
  it("from a goroutine parks the caller: on one worker, fn and others still run", function()
    local out = child_ok([[
      local lugo = require "lugo"
      assert(lugo.workers() == 1)
      local res, feed = lugo.chan(), lugo.chan()
      lugo.go(function()
        -- fn needs a third goroutine to run while the caller waits
        local v = lugo.run(function(f) return f:recv() * 2 end, feed)
        local w = lugo.run(function() return 1 end)
        res:send(v + w)
      end)
      lugo.go(function()
        lugo.sleep(0.01)
        feed:send(21)
      end)
      print("result", (res:recv()))
      -- nested on one worker
      local function nest(n)
        if n == 0 then return 0 end
        return 1 + lugo.run(nest, n - 1)
      end
      lugo.go(function() res:send(lugo.run(nest, 20)) end)
      print("nested", (res:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("43", field(out, "result"))
    assert.are.equal("20", field(out, "nested"))
  end)

  it("from main on one worker: fn and other goroutines run while main waits", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local feed = lugo.chan()
      lugo.go(function() for i = 1, 10 do feed:send(i) end end)
      print("sum", lugo.run(function(f)
        local s = 0
        for _ = 1, 10 do s = s + f:recv() end
        return s
      end, feed))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("55", field(out, "sum"))
  end)

  it("counts fn's goroutine in lugo.numgoroutine() while it runs", function()
    local out = child_ok([[
      local lugo = require "lugo"
      print("before", lugo.numgoroutine())
      print("inside", lugo.run(function() return lugo.numgoroutine() end))
      require("support").settle(1)   -- fn's goroutine may still be finishing
      print("after", lugo.numgoroutine())
    ]])
    assert.are.equal("1", field(out, "before"))
    assert.are.equal("2", field(out, "inside"))
    assert.are.equal("1", field(out, "after"))
  end)

  it("an uncaught error from lugo.run in the main chunk exits 1, not as a panic", function()
    local out, err, code, path = support.child([[
      local lugo = require "lugo"
      print("started")
      lugo.run(function()
        error("failed in run")
      end)
      print("not reached")
    ]])
    assert.are.equal("started\n", out)
    assert.are.equal(1, code, err)
    local a = find(err, path .. ":4: failed in run")
    find(err, "stack traceback:", a)
    assert.is_nil(err:find("panic:", 1, true), err)
  end)

  it("an uncaught error from lugo.run in a goroutine is that goroutine's panic (exit 2)", function()
    local out, err, code, path = support.child([[
      local lugo = require "lugo"
      local id = lugo.go(function()
        lugo.run(function() error("failed in run") end)
      end)
      print(id)
      io.stdout:flush()
      lugo.chan():recv()
    ]])
    assert.are.equal(2, code, err)
    local id = tonumber(out:match("^(%d+)\n"))
    assert.is_truthy(id, out)
    local first = err:match("^([^\n]*)\n") or err
    assert.is_truthy(first:find("^panic: .*failed in run"), err)
    find(err, "\ngoroutine " .. id .. " [running]:\n")
  end)

  it("main stuck in lugo.run with everything blocked is a deadlock (exit 2)", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      lugo.run(function()
        print(lugo.id())
        io.stdout:flush()
        lugo.chan():recv()
      end)
    ]])
    local id = tonumber(out:match("^(%d+)\n"))
    assert.is_truthy(id, "stdout:\n" .. out .. "\nstderr:\n" .. err)
    support.assert_deadlock(out, err, code, { { id, "chan receive" } })
  end)

  it("main's return ends the program while a goroutine waits in lugo.run", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      local started = lugo.chan()
      lugo.go(function()
        lugo.run(function() started:send(); lugo.sleep(3600) end)
      end)
      started:recv()
      print("done")
    ]])
    assert.are.equal("done\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)
end)

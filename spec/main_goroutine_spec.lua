-- main_goroutine_spec.lua: under the `lugo` command the main chunk is
-- goroutine 1, a coroutine scheduled like every other goroutine (API.md,
-- The main goroutine and threads outside the runtime; Goroutines;
-- Coroutines inside goroutines; Failure). It shows in lugo.goroutines()
-- and lugo.stack(); where Lua cannot yield a blocking call raises the
-- "cannot block here" error; it is preempted; it exchanges values with
-- goroutines without losing or repeating any; lugo.config{workers = N}
-- still works until its first lugo.go; exit statuses, `arg` and `...` are
-- as before; `lugo -e` and `lugo -` chunks run as goroutine 1 too.
--
-- Every case runs a script in a child `lugo` (guarded by support.GUARD, so
-- a hang ends as status 124 instead of hanging the suite). No check depends
-- on timing beyond "it happened".
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
-- busted's environment: its `pending`, looked up while a test runs, marks
-- that test pending (the one captured at load time would not).
local BUSTED_ENV = _ENV
local _ENV = _G

local support = require "support"

local GUARD = support.GUARD
local find, has = support.find, support.has
local assert_message = support.assert_message

local CANNOT_BLOCK = "lugo: cannot block here (attempt to yield across a C-call boundary)"

-- Runs a script in a child lugo (env: an environment prefix such as
-- "LUGO_WORKERS=1"); returns stdout, stderr, status and the script's path.
local function child(source, env, args)
  return support.child(source, env, args)
end

-- Runs a script like child and checks it exits 0 with empty stderr;
-- returns its stdout and the script's path.
local function child_ok(source, env, args)
  local out, err, code, path = child(source, env, args)
  assert.are.equal("", err, "stdout:\n" .. out)
  assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  return out, path
end

-- Runs `lugo <args>` guarded (opts as support.run's).
local function run(args, opts)
  opts = opts or {}
  opts.env = (opts.env or "") .. " " .. GUARD
  return support.run(args, opts)
end

local lines_of = support.lines_of

local field = support.field

-- A snippet for child scripts: entry(list, id) finds the lugo.goroutines()
-- entry of goroutine id; show(g) formats it as "state wait created parent";
-- wait_entry(id, pred) polls lugo.goroutines() (yielding, 30 s at most)
-- until pred(entry of id) holds, and returns that entry and the list.
local HELPERS = [[
local lugo = require "lugo"
local function entry(list, id)
  for _, g in ipairs(list) do
    if g.id == id then return g end
  end
end
local function show(g)
  if not g then return "absent" end
  return table.concat({ tostring(g.state), tostring(g.wait), tostring(g.created),
                        tostring(g.parent), math.type(g.id) or type(g.id) }, " ")
end
local function wait_entry(id, pred)
  local deadline = lugo.now() + 30
  local list, g
  repeat
    lugo.yield()
    list = lugo.goroutines()
    g = entry(list, id)
  until (g and pred(g)) or lugo.now() > deadline
  return g, list
end
]]

describe("the main goroutine (goroutine 1)", function()
  it("has id 1, and goroutines started from it have other ids", function()
    local out = child_ok([[
      local lugo = require "lugo"
      print("id", lugo.id(), math.type(lugo.id()))
      local c = lugo.chan()
      local g = lugo.go(function() c:send(lugo.id()) end)
      local got = c:recv()
      print("child", got == g, got ~= 1)
      lugo.sleep(0.01)                          -- parks main, then resumes it
      print("after", lugo.id())
    ]])
    assert.are.equal("id\t1\tinteger\nchild\ttrue\ttrue\nafter\t1\n", out)
  end)

  it("is listed by lugo.goroutines() as running when main calls it", function()
    local out = child_ok(HELPERS .. [[
      local list = lugo.goroutines()
      print("type", type(list))
      local m = entry(list, 1)
      print("main", m and m.state, m and tostring(m.wait))
      print("count", #list, lugo.numgoroutine())
    ]])
    assert.are.equal("table", field(out, "type"))
    assert.are.equal("running\tnil", field(out, "main"))
    assert.are.equal("1\t1", field(out, "count"))
  end)

  it("lists a goroutine blocked in recv as waiting on chan receive, created here by goroutine 1", function()
    local out, path = child_ok(HELPERS .. [[
      local c = lugo.chan()
      local line = debug.getinfo(1, "l").currentline + 1
      local id = lugo.go(function() c:recv() end)
      local g, list = wait_entry(id, function(e) return e.state == "waiting" end)
      print("line", line)
      print("g", show(g))
      print("main", show(entry(list, 1)))
      print("count", #list, lugo.numgoroutine())
      c:send("release")
    ]])
    local line = field(out, "line")
    assert.are.equal("waiting chan receive " .. path .. ":" .. line .. " 1 integer", field(out, "g"))
    -- main: running, no wait reason (its created/parent are not checked)
    assert.is_truthy(field(out, "main"):match("^running nil "), out)
    assert.are.equal("2\t2", field(out, "count"))
  end)

  it("lists a goroutine's child with that goroutine as parent, and drops finished ones", function()
    local out, path = child_ok(HELPERS .. [[
      local c, ids = lugo.chan(), lugo.chan(1)
      local parent = lugo.go(function()
        local l = debug.getinfo(1, "l").currentline + 1
        local kid = lugo.go(function() c:recv() end)
        ids:send({ kid, l })
        c:recv()
      end)
      local r = ids:recv()
      local kid = r[1]
      local g = wait_entry(kid, function(e) return e.state == "waiting" end)
      print("line", r[2])
      print("kid", show(g))
      print("parent_is", g and g.parent == parent)
      c:close()
      -- both finish: they leave the list
      local deadline = lugo.now() + 30
      local list
      repeat
        lugo.yield()
        list = lugo.goroutines()
      until (not entry(list, kid) and not entry(list, parent)) or lugo.now() > deadline
      print("gone", entry(list, kid) == nil, entry(list, parent) == nil, #list)
    ]])
    local line = field(out, "line")
    assert.is_truthy(field(out, "kid"):find("^waiting chan receive " .. path:gsub("%p", "%%%0") ..
      ":" .. line .. " %d+ integer$"), out)
    assert.are.equal("true", field(out, "parent_is"))
    assert.are.equal("true\ttrue\t1", field(out, "gone"))
  end)

  it("is listed as waiting on chan receive when a goroutine lists it while main is blocked", function()
    local out = child_ok(HELPERS .. [[
      local c = lugo.chan()
      lugo.go(function()
        local m = wait_entry(1, function(e) return e.state == "waiting" end)
        local self = entry(lugo.goroutines(), lugo.id())
        c:send({ show(m), self and self.state })
      end)
      local r = c:recv()
      print("main", (r[1]:match("^(%S+ %S+ %S+)")))
      print("self", r[2])
    ]])
    assert.are.equal("waiting chan receive", field(out, "main"))
    assert.are.equal("running", field(out, "self"))
  end)

  it("lists a goroutine that keeps yielding as runnable while main runs (one worker)", function()
    local out = child_ok(HELPERS .. [[
      local stop, started = lugo.chan(1), lugo.chan(1)
      local id = lugo.go(function()
        started:send(true)
        while lugo.select { stop:case_recv(), default = true } == nil do lugo.yield() end
      end)
      started:recv()
      print("g", entry(lugo.goroutines(), id).state)
      print("main", entry(lugo.goroutines(), 1).state)
      stop:send(true)
    ]], "LUGO_WORKERS=1")
    assert.are.equal("runnable", field(out, "g"))
    assert.are.equal("running", field(out, "main"))
  end)

  it("lugo.stack() called by main starts with goroutine 1's block, running", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local c = lugo.chan()
      local id = lugo.go(function() c:recv() end)
      lugo.sleep(0.01)
      local dump = lugo.stack()
      print("first", (dump:find("goroutine 1 [running]:\n", 1, true)))
      print("other", dump:find("goroutine " .. id .. " [", 1, true) ~= nil)
      c:send(1)
    ]])
    assert.are.equal("1", field(out, "first"))
    assert.are.equal("true", field(out, "other"))
  end)
end)

describe("a blocking call where the main chunk cannot yield", function()
  it("ch:recv() in a table.sort comparator raises 'cannot block here'", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
        ch:recv()
        return a < b
      end)
      print("ok", ok)
      print("err", err)
      -- blocking works again afterwards
      lugo.go(function() ch:send("after") end)
      print("then", (ch:recv()))
    ]])
    assert.are.equal("false", field(out, "ok"))
    assert_message(CANNOT_BLOCK, field(out, "err"))
    assert.are.equal("after", field(out, "then"))
  end)

  it("lugo.sleep in a table.sort comparator raises 'cannot block here'", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local ok, err = pcall(table.sort, { 2, 1 }, function(a, b)
        lugo.sleep(0.01)
        return a < b
      end)
      print("ok", ok)
      print("err", err)
    ]])
    assert.are.equal("false", field(out, "ok"))
    assert_message(CANNOT_BLOCK, field(out, "err"))
  end)

  it("ch:send() in a string.gsub callback raises 'cannot block here'", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      local ok, err = pcall(string.gsub, "ab", "%w", function(x) ch:send(x); return x end)
      print("ok", ok)
      print("err", err)
    ]])
    assert.are.equal("false", field(out, "ok"))
    assert_message(CANNOT_BLOCK, field(out, "err"))
  end)

  it("uncaught, it ends the script as an error in the main chunk (status 1)", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      table.sort({ 2, 1 }, function(a, b) lugo.sleep(0.01); return a < b end)
      print("not reached")
    ]])
    assert.are.equal("", out)
    assert.are.equal(1, code, err)
    find(err, CANNOT_BLOCK)
    find(err, "stack traceback:")
  end)
end)

describe("the main goroutine is preempted (LUGO_WORKERS=1)", function()
  it("a ticker goroutine keeps receiving ticks while main spins in pure Lua", function()
    local out = child_ok([[
      local lugo = require "lugo"
      assert(lugo.workers() == 1, "expected one worker")
      local ticks, started = lugo.chan(100000), lugo.chan(1)
      lugo.go(function()
        local t = lugo.ticker(0.01)
        started:send(true)
        local n = 0
        while true do
          t.c:recv()
          n = n + 1
          ticks:send(n)
        end
      end)
      started:recv()
      -- spin 0.3 s at least, then on until 5 ticks came (support.TIMEOUT
      -- more at most)
      local n = 0
      require("support").spin_until(function() return ticks:len() >= 5 end, 0.3, nil,
        function() n = n + 1 end)
      print("ticks", ticks:len())
      print("spun", n > 0)
    ]], "LUGO_WORKERS=1")
    local n = tonumber(field(out, "ticks"))
    assert.is_true(n > 3, "ticks received while main spun: " .. tostring(n))
    assert.are.equal("true", field(out, "spun"))
  end)

  it("a runnable goroutine runs while main spins without ever yielding", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local progress = lugo.chan(1000)
      lugo.go(function()
        for i = 1, 1000 do progress:send(i) end
      end)
      require("support").spin_until(function() return progress:len() >= 1000 end)
      print("progress", progress:len())
    ]], "LUGO_WORKERS=1")
    assert.are.equal("1000", field(out, "progress"))
  end)
end)

-- LUGO_SPEC_SCALE (a factor, default 1) shrinks the exchange sizes, e.g.
-- 0.1 under ThreadSanitizer (as in scale_spec.lua).
local SCALE = tonumber(os.getenv("LUGO_SPEC_SCALE") or "") or 1
local function size(n) return math.max(100, math.floor(n * SCALE)) end

-- main exchanges N values with two echo goroutines, three ways; each line
-- it prints counts what went wrong.
local EXCHANGE = [[
  local lugo = require "lugo"
  local N = math.tointeger(tonumber(arg[1]))
  -- round trips over unbuffered channels: main sends i and receives it
  -- back (from either echo) before sending i + 1
  do
    local req, resp = lugo.chan(), lugo.chan()
    for _ = 1, 2 do
      lugo.go(function() for v in req:range() do resp:send(v) end end)
    end
    local bad = 0
    for i = 1, N do
      req:send(i)
      if resp:recv() ~= i then bad = bad + 1 end
    end
    req:close()
    print("roundtrip_bad", bad)
  end
  -- streaming over small buffers: main sends and receives at once
  -- (select); values come back in any order, each must come back once
  do
    local req, resp = lugo.chan(4), lugo.chan(4)
    for _ = 1, 2 do
      lugo.go(function() for v in req:range() do resp:send(v) end end)
    end
    local seen = {}
    local sent, got, dup, wrong, sum = 0, 0, 0, 0, 0
    while got < N do
      local i, v
      if sent < N then
        i, v = lugo.select { req:case_send(sent + 1), resp:case_recv() }
        if i == 1 then sent = sent + 1 end
      else
        i, v = 2, resp:recv()
      end
      if i == 2 then
        got = got + 1
        if math.type(v) ~= "integer" or v < 1 or v > N then
          wrong = wrong + 1
        elseif seen[v] then
          dup = dup + 1
        else
          seen[v] = true
          sum = sum + v
        end
      end
    end
    req:close()
    local missing = 0
    for k = 1, N do if not seen[k] then missing = missing + 1 end end
    print("stream", got, dup, wrong, missing, sum == N * (N + 1) // 2)
  end
  -- plain sends: main sends a tenth of N on an unbuffered channel, the
  -- echoes put them in a channel with room for all, main takes them after
  do
    local M = N // 10
    local req, resp = lugo.chan(), lugo.chan(M)
    for _ = 1, 2 do
      lugo.go(function() for v in req:range() do resp:send(v) end end)
    end
    for i = 1, M do req:send(i) end
    req:close()
    local seen, dup = {}, 0
    for _ = 1, M do
      local v = resp:recv()
      if seen[v] then dup = dup + 1 end
      seen[v] = true
    end
    local missing = 0
    for k = 1, M do if not seen[k] then missing = missing + 1 end end
    print("plain", dup, missing, resp:len())
  end
]]

describe("main exchanging 1,000,000 values with goroutines", function()
  for _, workers in ipairs { 1, 2 } do
    it(("loses and repeats none (LUGO_WORKERS=%d)"):format(workers), function()
      local N = size(1000000)
      local out, err, code = support.run_script(EXCHANGE, { tostring(N) },
        { env = "LUGO_WORKERS=" .. workers .. " " .. GUARD })
      assert.are.equal("", err, "stdout:\n" .. out)
      assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
      assert.are.equal("0", field(out, "roundtrip_bad"))
      assert.are.equal(N .. "\t0\t0\t0\ttrue", field(out, "stream"))
      assert.are.equal("0\t0\t0", field(out, "plain"))
    end)
  end
end)

describe("lugo.config{workers = N} in the main chunk", function()
  it("sets the worker count before the first lugo.go, and raises after it", function()
    local out = child_ok([[
      local lugo = require "lugo"
      print("before", lugo.workers())
      lugo.config { workers = 3 }
      print("workers", lugo.workers())
      print("id", lugo.id())
      local c = lugo.chan()
      local n = 8
      for i = 1, n do lugo.go(function() c:send(i) end) end
      local sum = 0
      for _ = 1, n do sum = sum + c:recv() end
      print("sum", sum)
      local ok, err = pcall(lugo.config, { workers = 4 })
      print("ok", ok)
      print("err", err)
      print("still", lugo.workers(), lugo.id())
    ]], "LUGO_WORKERS=2")
    assert.are.equal("2", field(out, "before"))
    assert.are.equal("3", field(out, "workers"))
    assert.are.equal("1", field(out, "id"))
    assert.are.equal("36", field(out, "sum"))
    assert.are.equal("false", field(out, "ok"))
    assert_message("lugo.config: workers already started", field(out, "err"))
    assert.are.equal("3\t1", field(out, "still"))
  end)

  it("still works after main used channels, sleep and lugo.stack, before any lugo.go", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local c = lugo.chan(1)
      c:send(1)
      c:recv()
      lugo.sleep(0.01)
      lugo.yield()
      local _ = lugo.stack()
      lugo.config { workers = 3 }
      print("workers", lugo.workers())
      local d = lugo.chan()
      lugo.go(function() d:send(lugo.workers()) end)
      print("seen", (d:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("3", field(out, "workers"))
    assert.are.equal("3", field(out, "seen"))
  end)

  it("raises after a lugo.go even from a goroutine", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function()
        local ok, err = pcall(lugo.config, { workers = 3 })
        c:send({ ok, err })
      end)
      local r = c:recv()
      print("ok", r[1])
      print("err", r[2])
    ]], "LUGO_WORKERS=2")
    assert.are.equal("false", field(out, "ok"))
    assert_message("lugo.config: workers already started", field(out, "err"))
  end)
end)

describe("exit statuses with main as goroutine 1", function()
  it("main returning ends the program with 0, goroutines still blocked or spinning", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      for _ = 1, 3 do lugo.go(function() lugo.chan():recv() end) end
      lugo.go(function() while true do end end)
      lugo.go(function() while true do lugo.yield() end end)
      lugo.sleep(0.05)
      print("done")
    ]], "LUGO_WORKERS=2")
    assert.are.equal("done\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("an error in the main chunk (after main parked) prints message and traceback, status 1", function()
    local out, err, code, path = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function() c:send(1) end)
      c:recv()
      lugo.sleep(0.01)
      local function inner() error("main kaboom") end
      print("started")
      inner()
    ]])
    assert.are.equal("started\n", out)
    assert.are.equal(1, code, err)
    local a = find(err, path .. ":6: main kaboom")
    local b = find(err, "stack traceback:", a)
    find(err, path .. ":8:", b)
    assert.is_nil(err:find("panic:", 1, true), err)
  end)

  it("an error object that is not a string still exits 1", function()
    local _, err, code = child([[error({})]])
    assert.are.equal(1, code, err)
    find(err, "(error object is a table value)")
  end)

  it("a goroutine panic exits 2 while main is blocked", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      lugo.go(function() lugo.sleep(0.01); error("goroutine boom") end)
      lugo.chan():recv()
    ]])
    assert.are.equal("", out)
    assert.are.equal(2, code, err)
    assert.is_truthy(lines_of(err)[1]:find("^panic: .*goroutine boom$"), err)
  end)

  it("a goroutine panic exits 2 while main spins", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      lugo.go(function() error("goroutine boom") end)
      require("support").spin_until(nil, 60)
      print("not reached")
    ]], "LUGO_WORKERS=1")
    assert.are.equal("", out)
    assert.are.equal(2, code, err)
    assert.is_truthy(lines_of(err)[1]:find("^panic: .*goroutine boom$"), err)
  end)

  it("a deadlock exits 2 and reports goroutine 1's block", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      local id = lugo.go(function() lugo.chan():send(1) end)
      print(id)
      io.stdout:flush()
      c:recv()
    ]])
    local id = tonumber(out:match("^(%d+)\n"))
    assert.is_truthy(id, out)
    support.assert_deadlock(out, err, code, { { 1, "chan receive" }, { id, "chan send" } })
    local b = support.block_of(err, 1)
    find(b, "stack traceback:")
  end)

  it("os.exit(3) exits 3, also after main parked and with goroutines running", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      lugo.go(function() while true do lugo.yield() end end)
      lugo.go(function() lugo.chan():recv() end)
      lugo.sleep(0.01)
      print("before")
      local function deep() os.exit(3) end
      deep()
      print("not reached")
    ]])
    assert.are.equal("before\n", out)
    assert.are.equal("", err)
    assert.are.equal(3, code)
  end)

  it("os.exit(true) exits 0 and os.exit(false) exits 1", function()
    local _, _, code = child([[require("lugo").sleep(0.01); os.exit(true)]])
    assert.are.equal(0, code)
    _, _, code = child([[require("lugo").sleep(0.01); os.exit(false)]])
    assert.are.equal(1, code)
  end)
end)

describe("the main chunk's arguments", function()
  it("has arg and ... as lua sets them, before and after parking", function()
    local out, path = child_ok([[
      local lugo = require "lugo"
      print("arg0", arg[0])
      print("args", #arg, arg[1], arg[2], arg[3])
      print("dots", select("#", ...), ...)
      local dots = table.pack(...)
      lugo.sleep(0.01)
      print("later", arg[1], dots.n, dots[2])
      local c = lugo.chan()
      lugo.go(function(a) c:send(a[2]) end, arg)
      print("goroutine", (c:recv()))
    ]], nil, { "a", "b c", "" })
    assert.are.equal(path, field(out, "arg0"))
    assert.are.equal("3\ta\tb c\t", field(out, "args"))
    assert.are.equal("3\ta\tb c\t", field(out, "dots"))
    assert.are.equal("a\t3\tb c", field(out, "later"))
    assert.are.equal("b c", field(out, "goroutine"))
  end)
end)

-- A chunk checking that it runs as goroutine 1: prints its id and the
-- error a blocking call in a table.sort comparator raises.
local AS_MAIN = [[
  local lugo = require "lugo"
  print("id", lugo.id())
  local c = lugo.chan()
  local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b) c:recv(); return a < b end)
  print("ok", ok)
  print("err", err)
  lugo.go(function() c:send(lugo.id()) end)
  print("other", c:recv() ~= 1)
]]

describe("lugo -e", function()
  it("runs the chunk as goroutine 1", function()
    local out, err, code = run({ "-e", AS_MAIN })
    assert.are.equal("", err, out)
    assert.are.equal(0, code, out)
    assert.are.equal("1", field(out, "id"))
    assert.are.equal("false", field(out, "ok"))
    assert_message(CANNOT_BLOCK, field(out, "err"))
    assert.are.equal("true", field(out, "other"))
  end)

  it("runs -e chunks and the script after them all as goroutine 1, sharing globals", function()
    local base = os.tmpname()
    local path = base .. ".lua"
    local f = assert(io.open(path, "wb"))
    f:write([[
      local lugo = require "lugo"
      lugo.sleep(0.01)
      print("script", lugo.id(), x)
    ]])
    f:close()
    local out, err, code = run({ "-e", "x = require('lugo').id() + 41", "-e",
                                 "require('lugo').sleep(0.01); print('e2', require('lugo').id(), x)",
                                 path })
    os.remove(path)
    os.remove(base)
    assert.are.equal("", err, out)
    assert.are.equal(0, code)
    assert.are.equal("e2\t1\t42\nscript\t1\t42\n", out)
  end)

  it("keeps the exit statuses: error 1, panic 2", function()
    local _, err, code = run({ "-e", "require('lugo').sleep(0.01); error('e failed')" })
    assert.are.equal(1, code, err)
    find(err, "e failed")
    _, err, code = run({ "-e", "local l = require('lugo'); l.go(function() error('e panic') end); l.chan():recv()" })
    assert.are.equal(2, code, err)
    assert.is_truthy(lines_of(err)[1]:find("^panic: .*e panic$"), err)
  end)
end)

describe("lugo -", function()
  it("runs the script from stdin as goroutine 1", function()
    local out, err, code = run({ "-" }, { stdin = AS_MAIN })
    assert.are.equal("", err, out)
    assert.are.equal(0, code, out)
    assert.are.equal("1", field(out, "id"))
    assert.are.equal("false", field(out, "ok"))
    assert_message(CANNOT_BLOCK, field(out, "err"))
    assert.are.equal("true", field(out, "other"))
  end)

  it("passes arguments to the stdin script", function()
    local out, err, code = run({ "-", "x", "y" }, { stdin = [[
      local lugo = require "lugo"
      lugo.sleep(0.01)
      print(lugo.id(), arg[0], select("#", ...), ...)
    ]] })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("1\t-\t2\tx\ty\n", out)
  end)
end)

describe("require from the main goroutine", function()
  it("require 'lugo' gives the module, the same table each time", function()
    local out = child_ok([[
      local a = require "lugo"
      a.sleep(0.01)
      local b = require "lugo"
      print("same", rawequal(a, b), rawequal(a, package.loaded.lugo), type(a.go))
    ]])
    assert.are.equal("true\ttrue\tfunction", field(out, "same"))
  end)

  it("loads a C module from package.cpath (lfs) and uses it after parking", function()
    if not package.searchpath("lfs", package.cpath) then
      BUSTED_ENV.pending("lfs is not installed for this Lua")
      return
    end
    local out = child_ok([[
      local lugo = require "lugo"
      local lfs = require "lfs"
      local here = lfs.currentdir()
      lugo.sleep(0.01)
      local c = lugo.chan()
      lugo.go(function() c:send(require("lfs").currentdir()) end)
      local there = c:recv()
      print("lfs", type(here), here == lfs.currentdir(), here == there,
            rawequal(lfs, require "lfs"))
    ]])
    assert.are.equal("string\ttrue\ttrue\ttrue", field(out, "lfs"))
  end)
end)

-- time_spec.lua: lugo.sleep, lugo.now, lugo.after, lugo.timer and
-- lugo.ticker (API.md, Time): results, argument errors, receive-only
-- channels that are never closed, Go 1.23 stop/reset semantics (no stale
-- value after stop or reset returned), dropped ticks for a slow receiver,
-- sleeping goroutines holding no thread, timers shared between goroutines
-- and the main thread, pending timers in deadlock detection, and 100,000
-- sleeping goroutines.
--
-- Timing: machines are shared and noisy, and the specs also run under
-- sanitizers (many times slower), so no check has an upper bound on time.
-- Lower bounds are exact ("elapsed >= s - 0.001": a timer never fires
-- early); that something happens at all is checked with a bound that only
-- catches a hang (support.TIMEOUT); and wherever it can, a check is
-- structural (who made progress while whom slept) instead of timed. How
-- soon a timer fires after its time is a benchmark's business (bench/).
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table (see goroutine_spec.lua). Functions run in goroutines never
-- use busted's assert: they return what they saw and main checks it.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local assert_message, raises, raises_with =
  support.assert_message, support.raises, support.raises_with
local in_goroutine, child, child_ok = support.in_goroutine, support.child, support.child_ok
local assert_deadlock, fields = support.assert_deadlock, support.fields

-- The bound of a wait for something that must happen: it only catches a
-- hang ("never"), never mere slowness.
local HANG = support.TIMEOUT

-- A lower bound on elapsed time, allowing 1 ms for clock rounding.
local EPS = 0.001

local SCALE = tonumber(os.getenv("LUGO_SPEC_SCALE") or "") or 1


-- Receives from ch with a timeout of s seconds: returns true, v if a
-- value came, false if the timeout won. Fails on a closed channel (time
-- channels are never closed).
local function recv_within(ch, s)
  local i, v, ok = lugo.select{ ch:case_recv(), lugo.after(s):case_recv() }
  if i == 1 then
    assert.is_true(ok, "a time channel was closed")
    return true, v
  end
  return false
end

-- Receives from ch, which must deliver (bounded by HANG); returns the value.
local function recv_soon(ch, what)
  local got, v = recv_within(ch, HANG)
  assert.is_true(got, (what or "a time channel") .. " never delivered")
  return v
end

-- Checks that nothing arrives on ch within s seconds (default 0.2). Only
-- for channels on which nothing may ever arrive again (a stopped timer, a
-- fired one-shot timer whose value was received): however slow the
-- machine, the check cannot then fail spuriously.
local function assert_nothing(ch, s)
  local got, v = recv_within(ch, s or 0.2)
  assert.is_false(got, "unexpected value received: " .. tostring(v))
end

local NOT_NUMBERS = { "nil", "string", "table", "boolean", "function" }
local function bad_value(kind)
  if kind == "nil" then return nil
  elseif kind == "string" then return "0.01"
  elseif kind == "table" then return {}
  elseif kind == "boolean" then return true
  else return print end
end

describe("lugo.now", function()
  it("returns a float", function()
    assert.are.equal("float", math.type(lugo.now()))
    assert.are.equal("float", math.type(in_goroutine(lugo.now)))
  end)

  it("never goes backwards", function()
    local prev, back = lugo.now(), false
    for _ = 1, 100000 do
      local t = lugo.now()
      if t < prev then back = true end
      prev = t
    end
    assert.is_false(back, "lugo.now went backwards in main")
    local r = in_goroutine(function()
      local p, back = lugo.now(), false
      for _ = 1, 100000 do
        local t = lugo.now()
        if t < p then back = true end
        p = t
      end
      return back
    end)
    assert.is_false(r)
  end)

  it("advances with real time", function()
    local c0 = os.time()
    local t0 = lugo.now()
    lugo.sleep(0.1)
    local t1 = lugo.now()
    local c1 = os.time()
    assert.is_true(t1 - t0 >= 0.1 - EPS, tostring(t1 - t0))
    -- seconds, not milliseconds or nanoseconds: [t0, t1] lies inside
    -- [c0, c1], and os.time() counts whole seconds, so lugo's elapsed time
    -- is at most os.time()'s plus 1, however long the sleep really took.
    assert.is_true(t1 - t0 <= (c1 - c0) + 1, string.format("%f s by lugo.now, %d by os.time", t1 - t0, c1 - c0))
  end)

  it("is one clock for main and goroutines", function()
    for _ = 1, 20 do
      local before = lugo.now()
      local inside = in_goroutine(lugo.now)
      local after = lugo.now()
      assert.is_true(before <= inside and inside <= after,
        string.format("%.9f %.9f %.9f", before, inside, after))
    end
  end)
end)

describe("lugo.sleep", function()
  it("sleeps at least s seconds in main", function()
    for _, s in ipairs({ 0.001, 0.02, 0.15 }) do
      local t0 = lugo.now()
      lugo.sleep(s)
      local dt = lugo.now() - t0
      assert.is_true(dt >= s - EPS, s .. ": " .. dt)
    end
  end)

  it("sleeps at least s seconds in a goroutine", function()
    local r = in_goroutine(function()
      local out = {}
      for i, s in ipairs({ 0.001, 0.02, 0.15 }) do
        local t0 = lugo.now()
        lugo.sleep(s)
        out[i] = { s, lugo.now() - t0 }
      end
      return out
    end)
    for _, p in ipairs(r) do
      assert.is_true(p[2] >= p[1] - EPS, p[1] .. ": " .. p[2])
    end
  end)

  it("accepts integers and floats", function()
    -- zero, negative and NaN durations are at most a yield: in a goroutine,
    -- watched by main so that sleeping for ever fails instead of hanging
    local done = lugo.chan(1)
    lugo.go(function()
      lugo.sleep(0); lugo.sleep(-3); lugo.sleep(0.0); lugo.sleep(-0.01)
      lugo.sleep(1 / 0 - 1 / 0)
      done:send(true)
    end)
    recv_soon(done, "a goroutine's sleep(0), negative or NaN sleep")
    -- and in main (a sleep for ever here would hang the file)
    lugo.sleep(0)
    lugo.sleep(0.0)
    lugo.sleep(-1)
    lugo.sleep(-0.5)
    lugo.sleep(1 / 0 - 1 / 0)   -- NaN: at most a yield
  end)

  it("raises for an argument that is not a number, in main and in goroutines", function()
    for _, kind in ipairs(NOT_NUMBERS) do
      raises_with("bad argument #1 to 'sleep'", lugo.sleep, bad_value(kind))
    end
    raises_with("bad argument #1 to 'sleep'", lugo.sleep)
    local r = in_goroutine(function(kinds)
      local errs = {}
      for i, k in ipairs(kinds) do
        local v = (k == "string" and "0.01") or (k == "table" and {}) or
                  (k == "boolean" and true) or (k == "function" and print) or nil
        local ok, err = pcall(lugo.sleep, v)
        errs[i] = ok and "no error" or tostring(err)
      end
      return errs
    end, NOT_NUMBERS)
    for i, err in ipairs(r) do
      assert.is_truthy(err:find("bad argument #1 to 'sleep'", 1, true),
        NOT_NUMBERS[i] .. ": " .. err)
    end
  end)

  it("of many goroutines ends each after its own duration", function()
    local out = lugo.chan()
    local durations = { 0.3, 0.05, 0.2, 0.01, 0.1, 0.25, 0 }
    for i, s in ipairs(durations) do
      lugo.go(function()
        local t0 = lugo.now()
        lugo.sleep(s)
        out:send({ i, lugo.now() - t0 })
      end)
    end
    local seen = 0
    for _ = 1, #durations do
      local r = out:recv()
      local s = durations[r[1]]
      assert.is_true(r[2] >= s - EPS, s .. ": " .. r[2])
      seen = seen + 1
    end
    assert.are.equal(#durations, seen)
  end)

  it("in main lets goroutines run meanwhile", function()
    -- main does nothing but sleep (in steps, bounded): the goroutine's
    -- progress can only have happened during main's sleeps.
    local marks, gate = lugo.chan(1), lugo.chan(1)
    lugo.go(function()
      gate:recv()
      marks:send(true)
    end)
    gate:send(true)                  -- buffered: main does not block here
    local slept = 0
    while marks:len() == 0 and slept < 30 do
      lugo.sleep(0.1)
      slept = slept + 0.1
    end
    assert.are.equal(1, marks:len(), "the goroutine made no progress while main slept")
  end)
end)

describe("sleeping goroutines hold no thread (LUGO_WORKERS=1)", function()
  it("another goroutine makes progress while one sleeps", function()
    local out = child_ok([[
      local lugo = require "lugo"
      assert(lugo.workers() == 1)
      local a_done, result = lugo.chan(), lugo.chan()
      lugo.go(function()
        lugo.sleep(0.3)
        a_done:close()
      end)
      lugo.go(function()
        local n = 0
        while lugo.select{ a_done:case_recv(), default = true } == nil do
          n = n + 1
          lugo.sleep(0.01)
        end
        result:send(n)
      end)
      print("progress " .. result:recv())
    ]], "LUGO_WORKERS=1")
    local n = tonumber(fields(out).progress)
    assert.is_truthy(n, out)
    -- B made progress while A slept: without it B would start after A
    -- finished and count 0.
    assert.is_true(n >= 1, out)
  end)

  it("two goroutines sleep at the same time", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local spans = lugo.chan()
      for i = 1, 2 do
        lugo.go(function()
          local a = lugo.now()
          lugo.sleep(0.5)
          spans:send({ a, lugo.now() })
        end)
      end
      local x, y = spans:recv(), spans:recv()
      print("start " .. string.format("%.9f", math.max(x[1], y[1])))
      print("finish " .. string.format("%.9f", math.min(x[2], y[2])))
      print("total " .. string.format("%.9f", math.max(x[2], y[2]) - math.min(x[1], y[1])))
    ]], "LUGO_WORKERS=1")
    local f = fields(out)
    local start, finish = tonumber(f.start), tonumber(f.finish)
    assert.is_truthy(start and finish, out)
    -- The two sleeps overlap: the later one began before the earlier one
    -- ended (one thread held by a sleeper would serialise them).
    assert.is_true(start < finish, out)
    assert.is_true(tonumber(f.total) >= 0.5 - EPS, out)
  end)

  it("sleep(0) and a negative sleep yield to other goroutines", function()
    -- A pure yield: A's 100 zero sleeps take microseconds, far below a
    -- preemption slice, so B only runs if sleep(0) yields.
    local out = child_ok([[
      local lugo = require "lugo"
      local marks, stop, result = lugo.chan(1000000), lugo.chan(), lugo.chan()
      local ready = lugo.chan(1)
      lugo.go(function()
        ready:recv()
        for i = 1, 100 do
          if i % 2 == 0 then lugo.sleep(0) else lugo.sleep(-1) end
        end
        result:send(marks:len())
        stop:close()
      end)
      lugo.go(function()
        ready:send(true)
        while lugo.select{ stop:case_recv(), default = true } == nil do
          marks:send(true)
          lugo.yield()
        end
      end)
      print("marks " .. result:recv())
    ]], "LUGO_WORKERS=1")
    local n = tonumber(fields(out).marks)
    assert.is_truthy(n, out)
    assert.is_true(n >= 10, out)
  end)
end)

describe("lugo.after", function()
  it("returns a receive-only channel", function()
    local c = lugo.after(10)
    raises("send on receive-only channel", c.send, c, 1)
    raises("close of receive-only channel", c.close, c)
    raises("send on receive-only channel", c.case_send, c, 1)
    assert.are.equal(0, c:len())
  end)

  it("delivers lugo.now() once, after s seconds", function()
    for _, s in ipairs({ 0.02, 0.1 }) do
      local t0 = lugo.now()
      local v = recv_soon(lugo.after(s))
      local t1 = lugo.now()
      assert.are.equal("float", math.type(v))
      assert.is_true(v >= t0 + s - EPS, string.format("%f %f", v, t0))
      assert.is_true(v <= t1, string.format("%f %f", v, t1))
      assert.is_true(t1 - t0 >= s - EPS)
    end
  end)

  it("delivers exactly once and is never closed", function()
    local c = lugo.after(0.01)
    assert.is_true((recv_within(c, 30)))
    assert_nothing(c, 0.2)
    assert.are.equal(0, c:len())
  end)

  it("keeps its value until received", function()
    local t0 = lugo.now()
    local c = lugo.after(0.02)
    -- wait (bounded) until it has fired, then a while longer: it stays
    local deadline = lugo.now() + HANG
    while c:len() == 0 and lugo.now() < deadline do lugo.sleep(0.01) end
    lugo.sleep(0.15)
    assert.are.equal(1, c:len())
    local v, ok = c:recv()
    assert.is_true(ok)
    assert.is_true(v >= t0 + 0.02 - EPS)
    assert.is_true(v <= lugo.now())
  end)

  it("with 0 or a negative duration delivers promptly", function()
    for _, s in ipairs({ 0, -1, 0.0, -0.5 }) do
      local t0 = lugo.now()
      local v = recv_soon(lugo.after(s), "after(" .. s .. ")")
      assert.are.equal("float", math.type(v))
      assert.is_true(v >= t0 - EPS)
    end
  end)

  it("bounds a receive in select: the timeout wins on a silent channel", function()
    local ch = lugo.chan()
    local t0 = lugo.now()
    local i, v, ok = lugo.select{ ch:case_recv(), lugo.after(0.1):case_recv() }
    local dt = lugo.now() - t0
    assert.are.equal(2, i)
    assert.is_true(ok)
    assert.are.equal("float", math.type(v))
    assert.is_true(dt >= 0.1 - EPS, tostring(dt))
  end)

  it("bounds a receive in select: a value that comes in time wins", function()
    local ch = lugo.chan()
    lugo.go(function() lugo.sleep(0.01); ch:send("hi") end)
    local i, v, ok = lugo.select{ ch:case_recv(), lugo.after(30):case_recv() }
    assert.are.equal(1, i)
    assert.are.equal("hi", v)
    assert.is_true(ok)
  end)

  it("works with a case handler", function()
    local t0 = lugo.now()
    local i, r = lugo.select{
      lugo.chan():case_recv(function() return "value" end),
      lugo.after(0.05):case_recv(function(t, ok) return ok and t >= t0 + 0.05 - EPS end),
    }
    assert.are.equal(2, i)
    assert.is_true(r)
  end)

  it("is received by a goroutine it was passed to", function()
    local t0 = lugo.now()
    local c = lugo.after(0.05)
    local v, ok = in_goroutine(function(ch) return ch:recv() end, c)
    assert.is_true(ok)
    assert.is_true(v >= t0 + 0.05 - EPS)
  end)

  it("created in a goroutine is received by main", function()
    local box = lugo.chan(1)
    local t0 = lugo.now()
    lugo.go(function() box:send(lugo.after(0.05)) end)
    local c = box:recv()
    local v, ok = c:recv()
    assert.is_true(ok)
    assert.is_true(v >= t0 + 0.05 - EPS)
    raises("send on receive-only channel", c.send, c, 1)
  end)

  it("raises for a duration that is not a number", function()
    for _, kind in ipairs(NOT_NUMBERS) do
      raises_with("bad argument #1 to 'after'", lugo.after, bad_value(kind))
    end
  end)

  it("left unreceived is harmless (10,000 of them)", function()
    for _ = 1, 10000 do lugo.after(0.01) end
    collectgarbage()
    lugo.sleep(0.1)
    collectgarbage()
    local v, ok = lugo.after(0.01):recv()
    assert.is_true(ok)
    assert.are.equal("float", math.type(v))
  end)
end)

describe("lugo.timer", function()
  it("has t.c, a receive-only channel", function()
    local t = lugo.timer(10)
    local c = t.c
    raises("send on receive-only channel", c.send, c, 1)
    raises("close of receive-only channel", c.close, c)
    raises("send on receive-only channel", c.case_send, c, 1)
    assert.is_true(t.c == t.c)
    t:stop()
  end)

  it("fires once after s seconds with lugo.now()", function()
    local t0 = lugo.now()
    local t = lugo.timer(0.05)
    local v = recv_soon(t.c)
    local t1 = lugo.now()
    assert.are.equal("float", math.type(v))
    assert.is_true(v >= t0 + 0.05 - EPS)
    assert.is_true(v <= t1)
    assert_nothing(t.c, 0.15)
  end)

  it("stop before it fires returns true, and nothing is received", function()
    local t = lugo.timer(0.05)
    assert.is_true(t:stop())
    assert_nothing(t.c, 0.25)
    assert.is_false(t:stop())    -- stopped already
  end)

  it("stop after the value was received returns false", function()
    local t = lugo.timer(0.01)
    assert.is_true(t.c:recv() ~= nil)
    assert.is_false(t:stop())
    assert_nothing(t.c, 0.1)
  end)

  it("stop after it fired, value not received: no stale value", function()
    local t = lugo.timer(0.01)
    lugo.sleep(0.1)                  -- it has fired; its value is unreceived
    assert.are.equal("boolean", type(t:stop()))
    assert_nothing(t.c, 0.2)
  end)

  -- Go 1.23 drains an unreceived value in Stop and Reset and reports true:
  -- the fire had not been delivered, so it was still pending. This is what
  -- makes Go's idiom `if !t.Stop() { <-t.C }` safe.
  it("stop after it fired, value not received, returns true (as Go 1.23)", function()
    local t = lugo.timer(0.01)
    lugo.sleep(0.1)
    assert.is_true(t:stop())
    assert_nothing(t.c, 0.1)
    assert.is_false(t:stop())
  end)

  it("reset after it fired, value not received, returns true (as Go 1.23)", function()
    local t = lugo.timer(0.01)
    lugo.sleep(0.1)
    assert.is_true(t:reset(0.05))
    assert.is_true((recv_within(t.c, 30)))
  end)

  it("Go's idiom `if not t:stop() then t.c:recv() end` never blocks", function()
    -- pending, then fired but not received: the precondition of the idiom
    -- ("the program has not received from t.c already") holds in both.
    for _, wait in ipairs({ 0, 0.1 }) do
      local t = lugo.timer(0.01 + (wait == 0 and 10 or 0))
      lugo.sleep(wait)
      if not t:stop() then
        local got = recv_within(t.c, 1)
        assert.is_true(got, "the idiom's drain would block for ever (wait " .. wait .. ")")
      end
    end
  end)

  -- Nobody receives from these timers, so a stop() or reset() finds each
  -- one pending in the heap, firing at that very moment, or fired with the
  -- value undelivered: true every time (Go 1.23). The stops land around the
  -- common fire time, on all workers, while the fires are being run.
  for _, op in ipairs({ "stop", "reset" }) do
    it(op .. "() racing the fire of an unreceived timer always returns true", function()
      local n = math.max(200, math.floor(5000 * SCALE))
      local out = lugo.chan(n)
      local target = lugo.now() + 0.5
      local timers = {}
      for i = 1, n do timers[i] = lugo.timer(target - lugo.now()) end
      for i = 1, n do
        lugo.go(function(t)
          lugo.sleep(target - lugo.now() + ((i % 200) - 100) * 0.00002)
          local r
          if op == "stop" then r = t:stop() else r = t:reset(10); t:stop() end
          out:send(r)
        end, timers[i])
      end
      local falses = 0
      for _ = 1, n do
        if out:recv() ~= true then falses = falses + 1 end
      end
      assert.are.equal(0, falses, op .. "() returned false for a fire nobody received")
    end)
  end

  it("a concurrent stop and receive: never both a value and stop() == true", function()
    -- Each round one goroutine receives (bounded) while another stops the
    -- timer near its fire time, on all workers at once.
    local rounds = 200
    local out = lugo.chan()
    for r = 1, rounds do
      local t = lugo.timer(0.002 + (r % 5) * 0.001)
      local res = lugo.chan(2)
      lugo.go(function()
        local i = lugo.select{ t.c:case_recv(), lugo.after(0.2):case_recv() }
        res:send({ "recv", i == 1 })
      end)
      lugo.go(function()
        lugo.sleep((r % 7) * 0.001)
        res:send({ "stop", t:stop() })
      end)
      lugo.go(function()
        local a, b = res:recv(), res:recv()
        local got, stopped
        for _, x in ipairs({ a, b }) do
          if x[1] == "recv" then got = x[2] else stopped = x[2] end
        end
        out:send({ got = got, stopped = stopped })
      end)
    end
    local bad, both_false = 0, 0
    for _ = 1, rounds do
      local x = out:recv()
      if x.got and x.stopped then bad = bad + 1 end
      if not x.got and not x.stopped then both_false = both_false + 1 end
    end
    assert.are.equal(0, bad, "a value was received from a timer whose stop() returned true")
    -- a fire is either received or stopped (stop() true), never lost
    assert.are.equal(0, both_false, "a fire was neither received nor reported by stop()")
  end)

  it("reset of a pending timer returns true and restarts it", function()
    local t = lugo.timer(10)
    local r0 = lugo.now()
    assert.is_true(t:reset(0.05))
    local v = recv_soon(t.c)
    assert.is_true(v >= r0 + 0.05 - EPS)
  end)

  it("reset of a pending timer to later postpones its fire", function()
    local t = lugo.timer(0.05)
    local r0 = lugo.now()
    assert.is_true(t:reset(0.3))
    local v = t.c:recv()
    assert.is_true(v >= r0 + 0.3 - EPS, string.format("%f %f", v, r0))
    assert_nothing(t.c, 0.1)
  end)

  it("reset after the value was received returns false and fires again", function()
    local t = lugo.timer(0.01)
    t.c:recv()
    local r0 = lugo.now()
    assert.is_false(t:reset(0.05))
    local v = t.c:recv()
    assert.is_true(v >= r0 + 0.05 - EPS)
  end)

  it("reset of a stopped timer returns false and restarts it", function()
    local t = lugo.timer(10)
    assert.is_true(t:stop())
    local r0 = lugo.now()
    assert.is_false(t:reset(0.05))
    local v = t.c:recv()
    assert.is_true(v >= r0 + 0.05 - EPS)
    assert_nothing(t.c, 0.1)
  end)

  it("reset after it fired, value not received: the stale value is dropped", function()
    local t = lugo.timer(0.01)
    lugo.sleep(0.1)                  -- the value from before is waiting
    local r0 = lugo.now()
    assert.are.equal("boolean", type(t:reset(0.2)))
    local v, ok = t.c:recv()
    assert.is_true(ok)
    -- a stale value would carry a time around r0 - 0.09
    assert.is_true(v >= r0 + 0.2 - EPS, string.format("stale: %f < %f", v, r0 + 0.2))
    assert_nothing(t.c, 0.1)
  end)

  it("reset many times in a row fires once, after the last reset", function()
    local t = lugo.timer(0.01)
    local r0
    for _ = 1, 50 do
      r0 = lugo.now()
      t:reset(0.05)
    end
    local v = t.c:recv()
    assert.is_true(v >= r0 + 0.05 - EPS)
    assert_nothing(t.c, 0.15)
  end)

  it("reset with 0 fires promptly", function()
    local t = lugo.timer(10)
    local r0 = lugo.now()
    assert.is_true(t:reset(0))
    local v = recv_soon(t.c, "a timer reset to 0")
    assert.is_true(v >= r0 - EPS)
  end)

  it("with 0 or a negative duration fires promptly", function()
    for _, s in ipairs({ 0, -2 }) do
      local t0 = lugo.now()
      local v = recv_soon(lugo.timer(s).c, "timer(" .. s .. ")")
      assert.is_true(v >= t0 - EPS)
    end
  end)

  it("works as a select case", function()
    local t = lugo.timer(0.05)
    local i, v, ok = lugo.select{ lugo.chan():case_recv(), t.c:case_recv() }
    assert.are.equal(2, i)
    assert.is_true(ok)
    assert.are.equal("float", math.type(v))
  end)

  it("wakes a receiver blocked before a reset from another goroutine", function()
    local t = lugo.timer(60)
    local t0 = lugo.now()
    lugo.go(function(tm)
      lugo.sleep(0.05)
      tm:reset(0.05)
    end, t)
    local v = recv_soon(t.c, "a timer reset from another goroutine")
    assert.is_true(v >= t0 + 0.1 - EPS)
  end)

  it("passed to a goroutine is the same timer: stop there, nothing here", function()
    local t = lugo.timer(0.2)
    local stopped = in_goroutine(function(tm) return tm:stop() end, t)
    assert.is_true(stopped)
    assert_nothing(t.c, 0.4)
    assert.is_false(t:stop())
  end)

  it("passed to a goroutine: the goroutine receives its value", function()
    local t0 = lugo.now()
    local t = lugo.timer(0.05)
    local v, ok = in_goroutine(function(tm) return tm.c:recv() end, t)
    assert.is_true(ok)
    assert.is_true(v >= t0 + 0.05 - EPS)
    assert_nothing(t.c, 0.1)
  end)

  it("passed to a goroutine and back is the same handle", function()
    local t = lugo.timer(10)
    local back, same = in_goroutine(function(tm)
      local again = tm
      return tm, tm.c == again.c
    end, t)
    assert.is_true(back == t)
    assert.is_true(rawequal(back, t))
    assert.is_true(same)
    assert.is_true(back.c == t.c)
    assert.is_true(back:stop())
    assert.is_false(t:stop())
  end)

  it("created in a goroutine, stopped by main", function()
    local box = lugo.chan(1)
    lugo.go(function() box:send(lugo.timer(0.2)) end)
    local t = box:recv()
    assert.is_true(t:stop())
    assert_nothing(t.c, 0.4)
  end)

  it("stop and reset race with the fire without stale values (stress)", function()
    -- Each round: a short timer, a stop or reset near its fire time, then
    -- no value from before it may arrive.
    local stale = 0
    for round = 1, 40 do
      local t = lugo.timer(0.002)
      lugo.sleep(0.002 * (round % 3))
      if round % 2 == 0 then
        t:stop()
        local got = recv_within(t.c, 0.03)
        if got then stale = stale + 1 end
      else
        local r0 = lugo.now()
        t:reset(0.03)
        local v = t.c:recv()
        if v < r0 + 0.03 - EPS then stale = stale + 1 end
      end
    end
    assert.are.equal(0, stale)
  end)

  it("raises for durations that are not numbers", function()
    for _, kind in ipairs(NOT_NUMBERS) do
      raises_with("bad argument #1 to 'timer'", lugo.timer, bad_value(kind))
    end
    local t = lugo.timer(10)
    for _, kind in ipairs(NOT_NUMBERS) do
      local ok = pcall(t.reset, t, bad_value(kind))
      assert.is_false(ok, kind)
    end
    assert.is_true(t:stop())    -- the failed resets left it pending
  end)
end)

describe("lugo.ticker", function()
  it("has t.c, a receive-only channel", function()
    local t = lugo.ticker(10)
    local c = t.c
    raises("send on receive-only channel", c.send, c, 1)
    raises("close of receive-only channel", c.close, c)
    raises("send on receive-only channel", c.case_send, c, 1)
    assert.is_true(t.c == t.c)
    t:stop()
  end)

  it("delivers lugo.now() repeatedly, every s seconds", function()
    local p = 0.03
    local t0 = lugo.now()
    local t = lugo.ticker(p)
    local prev = t0
    for i = 1, 6 do
      local v, ok = t.c:recv()
      assert.is_true(ok)
      assert.are.equal("float", math.type(v))
      -- the i-th tick received is not before the i-th tick time
      assert.is_true(v >= t0 + i * p - EPS, i .. ": " .. (v - t0))
      assert.is_true(v > prev)
      assert.is_true(v <= lugo.now())
      prev = v
    end
    t:stop()
  end)

  it("drops the ticks a slow receiver misses: t.c holds at most one", function()
    local p = 0.02
    local t = lugo.ticker(p)
    local max = 0
    -- 10 periods at least, and on until a tick is waiting (bounded)
    local deadline = lugo.now() + HANG
    for i = 1, math.huge do
      lugo.sleep(2 * p)
      max = math.max(max, t.c:len())
      if i >= 5 and (t.c:len() > 0 or lugo.now() > deadline) then break end
    end
    assert.is_true(max <= 1, "t.c held " .. max)
    assert.are.equal(1, t.c:len())   -- it did tick meanwhile
    local v, ok = t.c:recv()
    assert.is_true(ok)
    assert.are.equal("float", math.type(v))
    -- and keeps ticking after the slow receiver caught up
    local got = recv_within(t.c, 30)
    assert.is_true(got)
    t:stop()
  end)

  it("drops missed ticks in a goroutine too", function()
    local max, ticked = in_goroutine(function()
      local t = lugo.ticker(0.02)
      local m = 0
      for _ = 1, 5 do
        lugo.sleep(0.04)
        m = math.max(m, t.c:len())
      end
      local v, ok = t.c:recv()
      t:stop()
      return m, ok and type(v) == "number"
    end)
    assert.is_true(max <= 1, "t.c held " .. max)
    assert.is_true(ticked)
  end)

  it("stop ends the ticks", function()
    local t = lugo.ticker(0.02)
    t.c:recv()
    t.c:recv()
    t:stop()
    assert_nothing(t.c, 0.2)
  end)

  it("stop drops a tick waiting in t.c (no stale value)", function()
    local t = lugo.ticker(0.01)
    lugo.sleep(0.1)                -- a tick is waiting
    t:stop()
    assert_nothing(t.c, 0.2)
  end)

  it("stop twice is harmless", function()
    local t = lugo.ticker(0.01)
    t:stop()
    t:stop()
    assert_nothing(t.c, 0.1)
  end)

  it("passed to a goroutine: ticks received there, stopped by main", function()
    local t = lugo.ticker(0.02)
    local got = in_goroutine(function(tk)
      local n = 0
      for _ = 1, 3 do
        local _, ok = tk.c:recv()
        if ok then n = n + 1 end
      end
      return n
    end, t)
    assert.are.equal(3, got)
    t:stop()
    assert_nothing(t.c, 0.2)
  end)

  it("stopped from a goroutine", function()
    local t = lugo.ticker(0.01)
    t.c:recv()
    in_goroutine(function(tk) tk:stop() end, t)
    assert_nothing(t.c, 0.2)
  end)

  it("works as a select case", function()
    local t = lugo.ticker(0.02)
    local n = 0
    for _ = 1, 3 do
      local i = lugo.select{ lugo.chan():case_recv(), t.c:case_recv() }
      if i == 2 then n = n + 1 end
    end
    t:stop()
    assert.are.equal(3, n)
  end)

  it("raises for an interval that is not a positive number (as Go does)", function()
    for _, kind in ipairs(NOT_NUMBERS) do
      raises_with("bad argument #1 to 'ticker'", lugo.ticker, bad_value(kind))
    end
    raises_with("bad argument #1 to 'ticker'", lugo.ticker, 0)
    raises_with("bad argument #1 to 'ticker'", lugo.ticker, -1)
  end)
end)

describe("timers are not goroutines", function()
  it("after, timer and ticker leave lugo.numgoroutine unchanged", function()
    support.settle(1)   -- goroutines of earlier tests may still be finishing
    local n0 = lugo.numgoroutine()
    local a, t, k = lugo.after(0.05), lugo.timer(0.05), lugo.ticker(0.05)
    assert.are.equal(n0, lugo.numgoroutine())
    a:recv(); t.c:recv(); k.c:recv(); k:stop()
    assert.are.equal(n0, lugo.numgoroutine())
  end)

  it("sleeping goroutines are counted until they finish", function()
    support.settle(1)   -- goroutines of earlier tests may still be finishing
    local n0 = lugo.numgoroutine()
    local done = lugo.chan()
    for _ = 1, 10 do lugo.go(function() lugo.sleep(0.2); done:send() end) end
    assert.are.equal(n0 + 10, lugo.numgoroutine())
    for _ = 1, 10 do done:recv() end
  end)
end)

describe("timers in goroutines", function()
  it("after, timer stop/reset and ticker behave as in main", function()
    local r = in_goroutine(function()
      local res = {}
      local t0 = lugo.now()
      local v = lugo.after(0.03):recv()
      res.after = v >= t0 + 0.03 - 0.001
      local t = lugo.timer(0.05)
      res.stop_pending = t:stop()
      local i = lugo.select{ t.c:case_recv(), lugo.after(0.15):case_recv() }
      res.stopped_silent = (i == 2)
      local r0 = lugo.now()
      res.reset_stopped = t:reset(0.03)
      res.reset_fires = t.c:recv() >= r0 + 0.03 - 0.001
      local u = lugo.timer(0.01)
      lugo.sleep(0.08)
      local r1 = lugo.now()
      u:reset(0.1)
      res.no_stale = u.c:recv() >= r1 + 0.1 - 0.001
      local tk = lugo.ticker(0.02)
      local a, b = tk.c:recv(), tk.c:recv()
      res.ticks = b > a
      tk:stop()
      i = lugo.select{ tk.c:case_recv(), lugo.after(0.15):case_recv() }
      res.ticker_silent = (i == 2)
      return res
    end)
    assert.are.same({
      after = true, stop_pending = true, stopped_silent = true,
      reset_stopped = false, reset_fires = true, no_stale = true,
      ticks = true, ticker_silent = true,
    }, r)
  end)
end)

describe("pending timers and deadlock detection", function()
  it("main blocked on lugo.after(s):recv() is not a deadlock", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local v, ok = lugo.after(0.3):recv()
      print("got", type(v), ok)
    ]])
    assert.are.equal("got\tnumber\ttrue\n", out)
  end)

  it("main blocked on a timer's channel is not a deadlock", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local t = lugo.timer(0.3)
      print("got", select(2, t.c:recv()))
      local tk = lugo.ticker(0.05)
      for i = 1, 3 do tk.c:recv() end
      print("ticks")
    ]])
    assert.are.equal("got\ttrue\nticks\n", out)
  end)

  it("main waiting on a channel that a sleeping goroutine will send on is not a deadlock", function()
    for _, env in ipairs({ "", "LUGO_WORKERS=1" }) do
      local out = child_ok([[
        local lugo = require "lugo"
        local ch = lugo.chan()
        lugo.go(function() lugo.sleep(0.3); ch:send(42) end)
        print(ch:recv())
      ]], env)
      assert.are.equal("42\ttrue\n", out)
    end
  end)

  it("goroutines waiting on timers while main waits on them are not a deadlock", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local wg = lugo.waitgroup()
      for i = 1, 10 do
        wg:add()
        lugo.go(function()
          if i % 3 == 0 then lugo.after(0.1 + i / 100):recv()
          elseif i % 3 == 1 then lugo.timer(0.1):reset(0.2)
            lugo.sleep(0.05 * i)
          else lugo.select{ lugo.chan():case_recv(), lugo.after(0.2):case_recv() } end
          wg:done()
        end)
      end
      wg:wait()
      print("done")
    ]], "LUGO_WORKERS=1")
    assert.are.equal("done\n", out)
  end)

  it("a goroutine blocked for ever while main sleeps then returns is not reported", function()
    local out = child_ok([[
      local lugo = require "lugo"
      lugo.go(function() lugo.chan():recv() end)
      lugo.sleep(0.3)
      print("end")
    ]])
    assert.are.equal("end\n", out)
  end)

  it("waiting only on a stopped timer is a deadlock", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local t = lugo.timer(0.2)
      t:stop()
      t.c:recv()
      print("unreachable")
    ]])
    assert_deadlock(out, err, code)
    assert.are.equal("", out)
  end)

  it("waiting only on a stopped ticker is a deadlock", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local t = lugo.ticker(0.05)
      t.c:recv()
      t:stop()
      t.c:recv()
      print("unreachable")
    ]])
    assert_deadlock(out, err, code)
    assert.are.equal("", out)
  end)

  it("goroutines on stopped timers with main on a channel is a deadlock", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      local ts = {}
      -- long timers: however slow the machine, they cannot fire before
      -- the stops (which must keep them from firing at all)
      for i = 1, 3 do ts[i] = lugo.timer(60) end
      local ids = {}
      for i = 1, 3 do
        ids[i] = lugo.go(function() ts[i].c:recv(); ch:send(i) end)
      end
      -- let them block (bounded): all three wait on their timers' channels
      local deadline = lugo.now() + 30
      repeat
        local n = 0
        for _, g in ipairs(lugo.goroutines()) do
          if g.wait == "chan receive" then n = n + 1 end
        end
        lugo.yield()
      until n == 3 or lugo.now() > deadline
      for i = 1, 3 do ts[i]:stop() end
      ch:recv()
      ch:recv()
      print("unreachable")
    ]])
    assert_deadlock(out, err, code)
    assert.are.equal("", out)
  end)

  it("a select on a stopped timer and a silent channel is a deadlock", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local t = lugo.timer(5)
      t:stop()
      lugo.go(function() lugo.select{ t.c:case_recv(), lugo.chan():case_recv() } end)
      lugo.chan():recv()
    ]])
    assert_deadlock(out, err, code)
    assert.is_truthy(err:find("[select]:", 1, true), err)
  end)

  it("is reported once the last timer has fired", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      lugo.after(0.1):recv()
      lugo.sleep(0.05)
      print("fired")
      lugo.chan():recv()
    ]])
    assert_deadlock(out, err, code)
    assert.are.equal("fired\n", out)
  end)

  it("an unreceived pending timer delays the report at most until it fires", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local keep = lugo.after(0.3)
      lugo.chan():recv()
    ]])
    assert_deadlock(out, err, code)
  end)
end)

describe("100,000 goroutines each sleeping 10 ms", function()
  it("all finish", function()
    local n = math.max(100, math.floor(100000 * SCALE))
    local done = lugo.chan()
    for i = 1, n do
      lugo.go(function()
        lugo.sleep(0.01)
        done:send(i)
      end)
    end
    local seen, count, sum = {}, 0, 0
    for _ = 1, n do
      local i = done:recv()
      if not seen[i] then
        seen[i] = true
        count = count + 1
      end
      sum = sum + i
    end
    assert.are.equal(n, count)
    assert.are.equal(n * (n + 1) // 2, sum)
  end)
end)

-- preempt_spec.lua: preemption. A goroutine computing in a pure Lua loop
-- for longer than its 10 ms slice, while other goroutines wait on the same
-- worker, is made to yield; a goroutine spinning alone finishes with the
-- right result; preemption never shows through (coroutines, pcall, C
-- boundaries such as table.sort comparators and string.gsub callbacks).
--
-- Every check about progress runs in a child with LUGO_WORKERS=1, so the
-- goroutines share one worker, and is structural: the spinner itself
-- records whether the others made progress while it was still spinning.
-- Without preemption those counts would be 0 (the others would only run
-- after the spinner finished). No check depends on precise timing: a
-- spinner spins (support.spin_until, which the children load from spec/ on
-- LUA_PATH) for its minimum time and then on until it has seen the
-- progress it waits for, support.TIMEOUT seconds more at most (reached
-- only without preemption, and reported as a failure).
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

-- Runs a script in a child lugo with one worker; checks it exits 0 with
-- empty stderr and returns its "key value" lines as a table (and stdout).
local function child1(source)
  local out, err, code = support.child(source, "LUGO_WORKERS=1")
  assert.are.equal("", err, "stdout:\n" .. out)
  assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  return support.fields(out), out
end

local function num(f, key, out)
  local n = tonumber(f[key])
  assert.is_truthy(n, "no " .. key .. " in:\n" .. out)
  return n
end

describe("preemption (LUGO_WORKERS=1)", function()
  it("lets a sleeping ticker goroutine run while another spins for 2 s", function()
    local f, out = child1([[
      local lugo = require "lugo"
      assert(lugo.workers() == 1, "expected one worker")
      local ticks, stop, result = lugo.chan(100000), lugo.chan(), lugo.chan()
      local started = lugo.chan(1)
      lugo.go(function()                       -- the ticker
        started:send(true)
        while lugo.select{ stop:case_recv(), default = true } == nil do
          lugo.sleep(0.05)
          ticks:send(true)
        end
      end)
      lugo.go(function()                       -- the spinner
        started:recv()
        local n = 0
        -- 2 s at least, then on until 10 ticks (about 35 come in 2 s)
        local uncapped = require("support").spin_until(
          function() return ticks:len() >= 10 end, 2, nil, function() n = n + 1 end)
        local seen = ticks:len()               -- ticks during the spin
        stop:close()
        result:send({ seen, n, uncapped })
      end)
      local r = result:recv()
      print("seen " .. r[1])
      print("loops " .. r[2])
      print("uncapped " .. tostring(r[3]))
    ]])
    local seen = num(f, "seen", out)
    assert.is_true(num(f, "loops", out) > 0)
    assert.is_true(seen >= 10, "ticks during the spin: " .. seen)
    assert.are.equal("true", f.uncapped, out)
  end)

  it("preempts a loop of pure arithmetic (no calls at all)", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local marks, stop, result = lugo.chan(100000), lugo.chan(), lugo.chan()
      local started = lugo.chan(1)
      lugo.go(function()
        started:send(true)
        while lugo.select{ stop:case_recv(), default = true } == nil do
          lugo.sleep(0.01)
          marks:send(true)
        end
      end)
      lugo.go(function()
        started:recv()
        local t0, x = lugo.now(), 0
        repeat
          for i = 1, 2000000 do x = x + i % 7 end   -- no call inside
          local dt = lugo.now() - t0
        until (dt >= 1 and marks:len() > 5) or dt >= 60
        local seen = marks:len()
        stop:close()
        result:send(seen)
      end)
      print("seen " .. result:recv())
    ]])
    assert.is_true(num(f, "seen", out) > 5, out)
  end)

  it("interleaves two spinners: each starts while the other still spins", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local started, result = lugo.chan(10), lugo.chan()
      for i = 1, 2 do
        lugo.go(function()
          started:send(i)
          require("support").spin_until(function() return started:len() >= 2 end, 0.5)
          result:send(started:len())           -- who had started by my end
        end)
      end
      print("first " .. result:recv())
      print("second " .. result:recv())
    ]])
    -- without preemption the first to finish saw only itself
    assert.are.equal(2, num(f, "first", out))
    assert.are.equal(2, num(f, "second", out))
  end)

  it("gives four spinners on one worker each a turn", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local started, result = lugo.chan(10), lugo.chan()
      for i = 1, 4 do
        lugo.go(function()
          started:send(i)
          require("support").spin_until(function() return started:len() >= 4 end, 0.4)
          result:send(started:len())
        end)
      end
      local min = math.huge
      for _ = 1, 4 do min = math.min(min, (result:recv())) end
      print("min " .. min)
    ]])
    assert.are.equal(4, num(f, "min", out))
  end)

  it("lets main receive from a goroutine blocked behind a spinner", function()
    -- main (outside the workers) waits on a channel that a goroutine on the
    -- same worker as a spinner sends to every 20 ms: main gets its values
    -- while the spinner spins (until main tells it to stop).
    local f, out = child1([[
      local lugo = require "lugo"
      local c, done, quit = lugo.chan(), lugo.chan(), lugo.chan(1)
      lugo.go(function()
        for i = 1, 10 do lugo.sleep(0.02); c:send(i) end
      end)
      lugo.go(function()
        require("support").spin_until(function() return quit:len() > 0 end)
        done:send(true)
      end)
      local got = 0
      for _ = 1, 10 do got = got + c:recv() end
      local spinning = lugo.select{ done:case_recv(), default = true } == nil
      quit:send(true)
      print("sum " .. got)
      print("spinning " .. tostring(spinning))
      done:recv()
    ]])
    assert.are.equal(55, num(f, "sum", out))
    assert.are.equal("true", f.spinning, out)
  end)

  it("a spinning goroutine alone finishes with the right result", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      local n = 30000000
      lugo.go(function()
        local sum, acc = 0, { count = 0 }
        local function bump(i) acc.count = acc.count + 1; return i end
        for i = 1, n do
          sum = sum + i
          if i % 1000 == 0 then sum = sum - bump(i) + i end
        end
        result:send({ sum, acc.count })
      end)
      local r = result:recv()
      print("sum " .. r[1])
      print("count " .. r[2])
      print("expect " .. n * (n + 1) // 2)
    ]])
    assert.are.equal(f.expect, f.sum, out)
    assert.are.equal(30000, num(f, "count", out))
  end)

  it("preempts a goroutine spinning inside a coroutine it resumed", function()
    -- The spin is still the goroutine computing: as a blocking call inside
    -- such a coroutine parks the whole goroutine (API.md, Coroutines inside
    -- goroutines), the slice's end must let the ticker run too.
    local f, out = child1([[
      local lugo = require "lugo"
      local ticks, stop, result = lugo.chan(100000), lugo.chan(), lugo.chan()
      local started = lugo.chan(1)
      lugo.go(function()
        started:send(true)
        while lugo.select{ stop:case_recv(), default = true } == nil do
          lugo.sleep(0.05)
          ticks:send(true)
        end
      end)
      lugo.go(function()
        started:recv()
        local gen = coroutine.wrap(function()
          require("support").spin_until(function() return ticks:len() >= 6 end, 1)
          coroutine.yield(ticks:len())
          return "end"
        end)
        local seen = gen()
        local last = gen()
        stop:close()
        result:send({ seen, last })
      end)
      local r = result:recv()
      print("seen " .. r[1])
      print("last " .. r[2])
    ]])
    assert.are.equal("end", f.last, out)
    assert.is_true(num(f, "seen", out) > 5, "ticks during the spin: " .. out)
  end)

  it("keeps locals, upvalues and varargs intact across many preemptions", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)  -- a waiter
      local function spin(a, ...)
        local extra = select("#", ...)
        local t, up = {}, 0
        local function inc() up = up + 1 end
        local t0 = lugo.now()
        local i = 0
        while lugo.now() - t0 < 1 do
          i = i + 1
          t[i % 100 + 1] = i
          inc()
        end
        return a, extra, up == i, t[(i % 100) + 1] == i, ...
      end
      lugo.go(function()
        result:send(table.pack(spin("a", 1, nil, 3)))
      end)
      local r = result:recv()
      print("r " .. table.concat({ r.n, r[1], r[2], tostring(r[3]), tostring(r[4]),
        tostring(r[5]), tostring(r[6]), tostring(r[7]) }, ","))
    ]])
    assert.are.equal("7,a,3,true,true,1,nil,3", f.r, out)
  end)

  it("runs a spawning loop's goroutines as it spawns, and a spinner too", function()
    -- A goroutine that only spawns is preempted like a spinner; the
    -- goroutines it queued then run before it resumes, so they do not pile
    -- up by the hundred thousand, and a spinning goroutine still gets turns.
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan(2)
      local counted = lugo.chan(1)             -- how many tiny goroutines ran
      counted:send(0)
      local function tick(counted) counted:send(counted:recv() + 1) end
      lugo.go(function()                       -- the spawner
        local n, backlog_max = 0, 0
        require("support").spin_until(function() return n >= 1000 end, 1, nil, function()
          lugo.go(tick, counted)
          n = n + 1
          if n % 1000 == 0 then
            local done = counted:recv()
            counted:send(done)
            if n - done > backlog_max then backlog_max = n - done end
          end
        end)
        result:send({ "spawner", n, backlog_max })
      end)
      lugo.go(function()                       -- the spinner
        local n = 0
        require("support").spin_until(nil, 1, nil, function() n = n + 1 end)
        result:send({ "spinner", n })
      end)
      for _ = 1, 2 do
        local r = result:recv()
        print(r[1] .. " " .. r[2])
        if r[3] then print("backlog " .. r[3]) end
      end
    ]])
    local spawned, backlog = num(f, "spawner", out), num(f, "backlog", out)
    assert.is_true(spawned >= 1000, out)
    assert.is_true(num(f, "spinner", out) > 0, out)
    -- Not a timing bound: left undrained, the backlog is nearly all that was
    -- spawned (thousands per 10 ms time slice, a hundred slices).
    assert.is_true(backlog < spawned / 2, "backlog " .. backlog .. " of " .. spawned)
  end)
end)

describe("preemption never shows through", function()
  it("a spin inside a coroutine of a goroutine: the coroutine sees no extra yields", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)  -- a waiter
      lugo.go(function()
        local co = coroutine.create(function(a)
          require("support").spin_until(nil, 0.5)
          local b = coroutine.yield(a + 1)
          require("support").spin_until(nil, 0.5)
          return b * 2
        end)
        local ok1, v1 = coroutine.resume(co, 10)
        local ok2, v2 = coroutine.resume(co, 21)
        result:send({ ok1, v1, ok2, v2, coroutine.status(co) })
      end)
      local r = result:recv()
      print("r " .. table.concat({ tostring(r[1]), r[2], tostring(r[3]), r[4], r[5] }, ","))
    ]])
    assert.are.equal("true,11,true,42,dead", f.r, out)
  end)

  it("a spinning coroutine's own empty yields are all seen, none added", function()
    -- coroutine.yield() with no values, between spins long enough to be
    -- preempted: the resumer must see exactly the yields the coroutine made.
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.002) end end)
      lugo.go(function()
        local N = 60
        local co = coroutine.create(function()
          for i = 1, N do
            require("support").spin_until(nil, 0.015)
            coroutine.yield()
          end
          return "done"
        end)
        local empty, other = 0, 0
        while true do
          local r = table.pack(coroutine.resume(co))
          if coroutine.status(co) == "dead" then
            result:send({ empty, other, tostring(r[1]), tostring(r[2]) })
            break
          end
          if r[1] and r.n == 1 then empty = empty + 1 else other = other + 1 end
        end
      end)
      local r = result:recv()
      print("r " .. table.concat(r, ","))
    ]])
    assert.are.equal("60,0,true,done", f.r, out)
  end)

  it("a spinning coroutine.wrap generator with empty yields loses none", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.002) end end)
      lugo.go(function()
        local gen = coroutine.wrap(function()
          for i = 1, 40 do
            require("support").spin_until(nil, 0.015)
            coroutine.yield()
          end
          return "last"
        end)
        local calls, last = 0, nil
        repeat
          calls = calls + 1
          last = gen()
        until last ~= nil
        result:send({ calls, last })
      end)
      local r = result:recv()
      print("r " .. r[1] .. "," .. r[2])
    ]])
    assert.are.equal("41,last", f.r, out)
  end)

  it("a spin inside coroutine.wrap iterators gives the right values", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)
      lugo.go(function()
        local gen = coroutine.wrap(function()
          for i = 1, 5 do
            require("support").spin_until(nil, 0.1)
            coroutine.yield(i)
          end
        end)
        local got = {}
        for v in gen do got[#got + 1] = v end
        result:send(table.concat(got, ","))
      end)
      print("r " .. result:recv())
    ]])
    assert.are.equal("1,2,3,4,5", f.r, out)
  end)

  it("a spin inside pcall returns pcall's results", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)
      lugo.go(function()
        local ok, a, b = pcall(function(x)
          require("support").spin_until(nil, 0.5)
          return x, "y"
        end, "x")
        local ok2, err = pcall(function()
          require("support").spin_until(nil, 0.5)
          error("boom", 0)
        end)
        result:send({ ok, a, b, ok2, err })
      end)
      local r = result:recv()
      print("r " .. table.concat({ tostring(r[1]), r[2], r[3], tostring(r[4]), r[5] }, ","))
    ]])
    assert.are.equal("true,x,y,false,boom", f.r, out)
  end)

  it("a spin inside a table.sort comparator (no yield possible) sorts correctly", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)
      lugo.go(function()
        local t = {}
        for i = 1, 200 do t[i] = (i * 7919) % 200 end
        local deadline = lugo.now() + 0.5
        table.sort(t, function(a, b)
          if lugo.now() < deadline then
            require("support").spin_until(nil, 0.02)
          end
          return a < b
        end)
        local sorted = true
        for i = 2, #t do if t[i - 1] > t[i] then sorted = false end end
        result:send({ sorted, #t })
      end)
      local r = result:recv()
      print("r " .. tostring(r[1]) .. "," .. r[2])
    ]])
    assert.are.equal("true,200", f.r, out)
  end)

  it("a spin inside a string.gsub callback gives the right string", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local result = lugo.chan()
      lugo.go(function() while true do lugo.sleep(0.005) end end)
      lugo.go(function()
        local s = string.gsub("abcde", "%a", function(c)
          require("support").spin_until(nil, 0.05)
          return c:upper()
        end)
        result:send(s)
      end)
      print("r " .. result:recv())
    ]])
    assert.are.equal("ABCDE", f.r, out)
  end)

  it("a spinning goroutine does not make main's wait look like a deadlock", function()
    local f, out = child1([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function()
        require("support").spin_until(nil, 1)
        c:send("late")
      end)
      print("r " .. c:recv())
    ]])
    assert.are.equal("late", f.r, out)
  end)
end)

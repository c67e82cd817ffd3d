-- mutex_spec.lua: lugo.mutex with lock, unlock and trylock (API.md, Sync):
-- results, the exact error of unlocking an unlocked mutex, mutual exclusion
-- between goroutines and main, waiting that parks the goroutine and not the
-- worker, and first-come first-served waiters.
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table (see goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local GUARD = support.GUARD
local has, assert_message = support.has, support.assert_message
local in_goroutine, wait_parked = support.in_goroutine, support.wait_parked
local child_ok = support.child_ok

describe("lugo.mutex", function()
  it("returns a new mutex with lock, unlock and trylock", function()
    local m = lugo.mutex()
    assert.are.equal("userdata", type(m))
    for _, name in ipairs { "lock", "unlock", "trylock" } do
      assert.are.equal("function", type(m[name]), name)
    end
    assert.is_false(m == lugo.mutex())
  end)

  it("lock and unlock return nothing", function()
    local m = lugo.mutex()
    assert.are.equal(0, select("#", m:lock()))
    assert.are.equal(0, select("#", m:unlock()))
  end)

  it("can be locked and unlocked again and again", function()
    local m = lugo.mutex()
    for _ = 1, 1000 do
      m:lock()
      m:unlock()
    end
    assert.is_true(m:trylock())
    m:unlock()
  end)

  it("is shared by reference: a handle that crossed is the same mutex", function()
    local m = lugo.mutex()
    local c = lugo.chan(1)
    c:send(m)
    local m2 = c:recv()
    assert.is_true(m == m2)
    m:lock()
    assert.is_false(m2:trylock())
    m2:unlock()
    assert.is_true(m:trylock())
    m:unlock()
  end)
end)

describe("trylock", function()
  it("returns true and takes a free mutex", function()
    local m = lugo.mutex()
    local r = table.pack(m:trylock())
    assert.are.same({ true, n = 1 }, r)
    assert.is_false(m:trylock())     -- now held
    m:unlock()
  end)

  it("returns false on a held mutex, and leaves it held", function()
    local m = lugo.mutex()
    m:lock()
    local r = table.pack(m:trylock())
    assert.are.same({ false, n = 1 }, r)
    assert.is_false(m:trylock())
    m:unlock()                       -- one unlock frees it
    assert.is_true(m:trylock())
    m:unlock()
    local ok, err = pcall(m.unlock, m)
    assert.is_false(ok)
    assert_message("unlock of unlocked mutex", err)
  end)

  it("sees a lock held by a goroutine, and main's lock from a goroutine", function()
    local m = lugo.mutex()
    local held, release, done = lugo.chan(), lugo.chan(), lugo.chan()
    lugo.go(function()
      m:lock()
      held:send()
      release:recv()
      m:unlock()
      done:send()
    end)
    held:recv()
    assert.is_false(m:trylock())
    release:send()
    done:recv()
    assert.is_true(m:trylock())
    -- main holds it now: a goroutine cannot take it
    assert.is_false(in_goroutine(function() return m:trylock() end))
    m:unlock()
    assert.is_true(in_goroutine(function()
      local ok = m:trylock()
      m:unlock()
      return ok
    end))
  end)
end)

describe("unlock of unlocked mutex", function()
  it("is raised, exactly, for a mutex never locked", function()
    local m = lugo.mutex()
    local ok, err = pcall(m.unlock, m)
    assert.is_false(ok)
    assert_message("unlock of unlocked mutex", err)
  end)

  it("is raised for a second unlock", function()
    local m = lugo.mutex()
    m:lock()
    m:unlock()
    local ok, err = pcall(function() m:unlock() end)
    assert.is_false(ok)
    assert_message("unlock of unlocked mutex", err)
    -- the mutex still works afterwards
    assert.is_true(m:trylock())
    m:unlock()
  end)

  it("is raised in a goroutine too", function()
    local ok, err = in_goroutine(function()
      local m = lugo.mutex()
      return pcall(m.unlock, m)
    end)
    assert.is_false(ok)
    assert_message("unlock of unlocked mutex", err)
  end)

  it("uncaught in a goroutine, it is a panic (exit 2)", function()
    local out, err, code = support.run_script([[
      local lugo = require "lugo"
      local done = lugo.chan()
      lugo.go(function() lugo.mutex():unlock() end)
      done:recv()
    ]], nil, { env = GUARD })
    assert.are.equal(2, code)
    assert.is_true(has(err, "panic: "), err)
    assert.is_true(has(err, "unlock of unlocked mutex"), err)
  end)
end)

describe("lock", function()
  it("blocks main until the goroutine holding it unlocks", function()
    local m = lugo.mutex()
    local held = lugo.chan()
    local log = lugo.chan(10)
    lugo.go(function()
      m:lock()
      held:send()
      require("support").parked(1, "mutex lock")   -- main waits on it (bounded)
      log:send("goroutine unlocks")
      m:unlock()
    end)
    held:recv()
    m:lock()
    log:send("main locked")
    m:unlock()
    assert.are.equal("goroutine unlocks", log:recv())
    assert.are.equal("main locked", log:recv())
  end)

  it("blocks a goroutine until main unlocks", function()
    local m = lugo.mutex()
    local log = lugo.chan(10)
    m:lock()
    local id = lugo.go(function()
      m:lock()
      log:send("goroutine locked")
      m:unlock()
    end)
    wait_parked(id, "mutex lock")
    log:send("main unlocks")
    m:unlock()
    assert.are.equal("main unlocks", log:recv())
    assert.are.equal("goroutine locked", log:recv())
  end)

  it("excludes: never two holders at once, N goroutines x M lock/unlock", function()
    -- `inside` holds one token per holder in the critical section: a
    -- second holder would see two. The count of passes is kept in a cap-1
    -- channel read and written back under the lock.
    local N, M = 8, 200
    local m = lugo.mutex()
    local inside = lugo.chan(N + 1)
    local counter = lugo.chan(1)
    counter:send(0)
    local wg = lugo.waitgroup()
    local violations = lugo.chan(N)
    wg:add(N)
    for g = 1, N do
      lugo.go(function()
        local bad = 0
        for i = 1, M do
          m:lock()
          inside:send(g)
          if #inside ~= 1 then bad = bad + 1 end
          local v = counter:recv()
          if i % 3 == 0 then lugo.yield() end
          counter:send(v + 1)
          if #inside ~= 1 then bad = bad + 1 end
          inside:recv()
          m:unlock()
          if i % 5 == 0 then lugo.yield() end
        end
        violations:send(bad)
        wg:done()
      end)
    end
    wg:wait()
    local bad = 0
    for _ = 1, N do bad = bad + violations:recv() end
    assert.are.equal(0, bad)
    assert.are.equal(N * M, counter:recv())
    assert.is_true(m:trylock())
    m:unlock()
  end)

  it("excludes between main and goroutines", function()
    local N, M = 4, 100
    local m = lugo.mutex()
    local inside = lugo.chan(N + 2)
    local wg = lugo.waitgroup()
    local bad = lugo.chan(N + 1)
    wg:add(N)
    for _ = 1, N do
      lugo.go(function()
        local b = 0
        for _ = 1, M do
          m:lock()
          inside:send()
          lugo.yield()
          if #inside ~= 1 then b = b + 1 end
          inside:recv()
          m:unlock()
        end
        bad:send(b)
        wg:done()
      end)
    end
    local b = 0
    for _ = 1, M do
      m:lock()
      inside:send()
      lugo.yield()
      if #inside ~= 1 then b = b + 1 end
      inside:recv()
      m:unlock()
    end
    wg:wait()
    for _ = 1, N do b = b + bad:recv() end
    assert.are.equal(0, b)
  end)

  it("raises 'lugo: cannot block here' where a goroutine cannot yield", function()
    local ok, err = in_goroutine(function()
      local m = lugo.mutex()
      m:lock()
      return pcall(table.sort, { 3, 1, 2 }, function(x, y)
        m:lock()
        return x < y
      end)
    end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot block here (attempt to yield across a C-call boundary)"),
      tostring(err))
  end)

  it("waiting parks the goroutine, not the worker (LUGO_WORKERS=1)", function()
    -- A holds the lock while it waits on a channel; B blocks on lock; main
    -- sends to A. With one worker, B holding the worker would hang A.
    local out = child_ok([[
      local lugo = require "lugo"
      local m = lugo.mutex()
      local toA, locked, log = lugo.chan(), lugo.chan(), lugo.chan(10)
      lugo.go(function()
        m:lock()
        locked:send()
        local v = toA:recv()
        log:send("A got " .. v)
        m:unlock()
      end)
      locked:recv()
      local b = lugo.go(function()
        m:lock()
        log:send("B locked")
        m:unlock()
      end)
      require("support").wait_parked(b, "mutex lock")
      toA:send("go")
      print((log:recv()))
      print((log:recv()))
      print(lugo.workers())
    ]], "LUGO_WORKERS=1")
    assert.are.equal("A got go\nB locked\n1\n", out)
  end)

  it("waiting parks the goroutine: many goroutines on one worker", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local m = lugo.mutex()
      local wg = lugo.waitgroup()
      local counter = lugo.chan(1)
      counter:send(0)
      m:lock()
      local ids = {}
      for i = 1, 50 do
        wg:add()
        ids[i] = lugo.go(function()
          m:lock()
          counter:send(counter:recv() + 1)
          m:unlock()
          wg:done()
        end)
      end
      -- all 50 wait on the lock at once, on the one worker
      for i = 1, 50 do require("support").wait_parked(ids[i], "mutex lock") end
      m:unlock()
      wg:wait()
      print((counter:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("50\n", out)
  end)
end)

-- FIFO: goroutines are started one at a time while main holds the lock,
-- each confirmed parked on it (support.wait_parked: [mutex lock]) before the
-- next starts, so their lock calls happen in a known order. Main then
-- unlocks; each waiter records its number when it gets the lock.
local FIFO = [[
  local lugo = require "lugo"
  local K = 6
  local m = lugo.mutex()
  local order = lugo.chan(K)
  m:lock()
  for k = 1, K do
    local id = lugo.go(function(n)
      m:lock()
      order:send(n)
      for _ = 1, 3 do lugo.yield() end
      m:unlock()
    end, k)
    require("support").wait_parked(id, "mutex lock")
  end
  m:unlock()
  -- the lock went to waiter 1 (not back to a free mutex): main cannot take it
  print(m:trylock())
  local got = {}
  for k = 1, K do got[k] = order:recv() end
  print(table.concat(got, " "))
  m:lock()
  m:unlock()
]]

describe("waiters", function()
  it("get the lock first come, first served (LUGO_WORKERS=1)", function()
    assert.are.equal("false\n1 2 3 4 5 6\n", child_ok(FIFO, "LUGO_WORKERS=1"))
  end)

  it("get the lock first come, first served (several workers)", function()
    assert.are.equal("false\n1 2 3 4 5 6\n", child_ok(FIFO, "LUGO_WORKERS=4"))
  end)

  it("get the lock first come, first served in this process", function()
    local K = 5
    local m = lugo.mutex()
    local order = lugo.chan(K)
    m:lock()
    for k = 1, K do
      local id = lugo.go(function(n)
        m:lock()
        order:send(n)
        m:unlock()
      end, k)
      wait_parked(id, "mutex lock")
    end
    m:unlock()
    local got = {}
    for k = 1, K do got[k] = order:recv() end
    assert.are.same({ 1, 2, 3, 4, 5 }, got)
  end)

  it("main waiting among goroutines gets its turn in order", function()
    -- holder keeps the lock; a helper waits until main shows queued on it
    -- ([mutex lock] in lugo.stack), then starts g1 and waits until g1 is
    -- queued behind main, then lets the holder unlock: main must come first.
    local m = lugo.mutex()
    local order = lugo.chan(4)
    local held, release = lugo.chan(), lugo.chan()
    lugo.go(function()
      m:lock()
      held:send()
      release:recv()
      m:unlock()
    end)
    held:recv()
    lugo.go(function()
      local function parked(id)
        if require("support").parked(id, "mutex lock") then return true end
        order:send("timeout " .. id)
        return false
      end
      if not parked(1) then return end
      local g1 = lugo.go(function()
        m:lock()
        order:send("g1")
        m:unlock()
      end)
      if not parked(g1) then return end
      release:send()
    end)
    m:lock()
    order:send("main")
    m:unlock()
    assert.are.equal("main", order:recv())
    assert.are.equal("g1", order:recv())
  end)
end)

-- API.md, Sync: "Waiting parks the goroutine, not the worker thread" holds
-- for waitgroups too (waitgroup_spec.lua covers their other lines).
describe("Sync waits park the goroutine, not the worker (LUGO_WORKERS=1)", function()
  it("waitgroup wait and mutex lock in goroutines, released by later goroutines", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local wg, m = lugo.waitgroup(), lugo.mutex()
      local log = lugo.chan(10)
      wg:add(1)
      m:lock()
      local wait_parked = require("support").wait_parked
      local w = lugo.go(function() wg:wait(); log:send("wg released") end)
      wait_parked(w, "waitgroup wait")
      local l = lugo.go(function() m:lock(); log:send("lock taken"); m:unlock() end)
      wait_parked(l, "mutex lock")
      -- the single worker is free: these run while the two wait
      lugo.go(function() wg:done() end)
      print((log:recv()))
      lugo.go(function() m:unlock() end)   -- unlocking from another goroutine
      print((log:recv()))
      print(lugo.workers())
    ]], "LUGO_WORKERS=1")
    assert.are.equal("wg released\nlock taken\n1\n", out)
  end)
end)

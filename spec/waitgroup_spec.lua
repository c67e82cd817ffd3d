-- waitgroup_spec.lua: lugo.waitgroup: add([n]) (n defaults to 1), done,
-- wait from main and from goroutines, several waiters, reuse, and the
-- `negative WaitGroup counter` error.
local lugo = require "lugo"

-- busted's proxy _ENV cannot cross into a goroutine: use the real globals
-- (see channel_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"
local has, settle, wait_parked = support.has, support.settle, support.wait_parked
-- Calls fn(...) and checks that it raises an error containing expected.
local raises = support.raises_with

local NEG = "negative WaitGroup counter"

describe("lugo.waitgroup", function()
  it("returns a new waitgroup with add, done and wait", function()
    local wg = lugo.waitgroup()
    assert.are.equal("function", type(wg.add))
    assert.are.equal("function", type(wg.done))
    assert.are.equal("function", type(wg.wait))
    assert.is_false(wg == lugo.waitgroup())
  end)

  it("wait at zero returns at once, with nothing", function()
    local wg = lugo.waitgroup()
    assert.are.equal(0, select("#", wg:wait()))
    wg:wait()                                    -- and again
  end)

  it("wait at zero returns at once in a goroutine", function()
    local wg, result = lugo.waitgroup(), lugo.chan()
    lugo.go(function()
      wg:wait()
      result:send("returned")
    end)
    assert.are.equal("returned", result:recv())
  end)

  it("add() adds exactly 1", function()
    local wg = lugo.waitgroup()
    wg:add()
    wg:done()
    wg:wait()                                    -- back at zero
    raises(NEG, wg.done, wg)                     -- so one more done is too many
  end)

  it("add(n) adds n", function()
    local wg = lugo.waitgroup()
    wg:add(3)
    wg:done()
    wg:done()
    wg:done()
    wg:wait()
    raises(NEG, wg.done, wg)
  end)

  it("add(0) changes nothing and add(-n) subtracts", function()
    local wg = lugo.waitgroup()
    wg:add(0)
    wg:wait()
    wg:add(5)
    wg:add(-4)
    wg:done()
    wg:wait()
    raises(NEG, wg.add, wg, -1)
  end)

  it("add, done and wait return nothing", function()
    local wg = lugo.waitgroup()
    assert.are.equal(0, select("#", wg:add(2)))
    assert.are.equal(0, select("#", wg:add()))
    assert.are.equal(0, select("#", wg:done()))
    assert.are.equal(0, select("#", wg:add(-2)))
    assert.are.equal(0, select("#", wg:wait()))
  end)
end)

describe("wait", function()
  it("in main returns only after every done", function()
    local wg = lugo.waitgroup()
    local marks = lugo.chan(10)
    wg:add(10)
    for i = 1, 10 do
      lugo.go(function()
        marks:send(i)                            -- before done
        wg:done()
      end)
    end
    wg:wait()
    assert.are.equal(10, marks:len())            -- every mark is in
    local seen = {}
    for _ = 1, 10 do seen[marks:recv()] = true end
    for i = 1, 10 do assert.is_true(seen[i]) end
  end)

  it("in main blocks until a goroutine calls done", function()
    local wg, gate = lugo.waitgroup(), lugo.chan()
    local marks = lugo.chan(1)
    wg:add()
    lugo.go(function()
      gate:recv()
      marks:send("done follows")
      wg:done()
    end)
    gate:send(true)
    wg:wait()
    assert.are.equal(1, marks:len())
  end)

  it("in a goroutine blocks until main calls done", function()
    local wg, result = lugo.waitgroup(), lugo.chan(1)
    wg:add(2)
    local id = lugo.go(function()
      wg:wait()
      result:send("released")
    end)
    wait_parked(id, "waitgroup wait")
    assert.are.equal(0, result:len())            -- counter is 2: still waiting
    wg:done()
    settle()                                     -- a wrong wake-up would show
    assert.are.equal(0, result:len())            -- counter is 1: still waiting
    wait_parked(id, "waitgroup wait")
    wg:done()
    assert.are.equal("released", result:recv())
  end)

  it("in a goroutine, with done from other goroutines", function()
    local wg, result = lugo.waitgroup(), lugo.chan()
    local marks = lugo.chan(20)
    wg:add(20)
    lugo.go(function()
      wg:wait()
      result:send(marks:len())
    end)
    for i = 1, 20 do
      lugo.go(function()
        marks:send(i)
        wg:done()
      end)
    end
    assert.are.equal(20, result:recv())
  end)

  it("releases every waiter, goroutines and main", function()
    local wg = lugo.waitgroup()
    local released = lugo.chan(10)
    local ids = {}
    wg:add()
    for i = 1, 10 do
      ids[i] = lugo.go(function()
        wg:wait()
        released:send(i)
      end)
    end
    for i = 1, 10 do wait_parked(ids[i], "waitgroup wait") end
    assert.are.equal(0, released:len())          -- all still waiting
    lugo.go(function() wg:done() end)
    wg:wait()                                    -- main waits too
    local seen = {}
    for _ = 1, 10 do seen[released:recv()] = true end
    for i = 1, 10 do assert.is_true(seen[i]) end
  end)

  it("works with add called by a goroutine for the goroutines it starts", function()
    local wg = lugo.waitgroup()
    local marks = lugo.chan(10)
    wg:add(1)
    lugo.go(function()
      for i = 1, 10 do
        wg:add()
        lugo.go(function()
          marks:send(i)
          wg:done()
        end)
      end
      wg:done()
    end)
    wg:wait()
    assert.are.equal(10, marks:len())
  end)

  it("works on a waitgroup carried inside a table and as an argument", function()
    local wg = lugo.waitgroup()
    local marks = lugo.chan(4)
    wg:add(4)
    for i = 1, 2 do
      lugo.go(function(box) marks:send(i); box.wg:done() end, { wg = wg })
      lugo.go(function(w) marks:send(-i); w:done() end, wg)
    end
    wg:wait()
    assert.are.equal(4, marks:len())
  end)

  it("a waitgroup crossing to a goroutine is the same waitgroup", function()
    local wg, result = lugo.waitgroup(), lugo.chan()
    lugo.go(function(w) result:send(w == wg and rawequal(w, wg)) end, wg)
    assert.is_true(result:recv())
  end)
end)

describe("reuse", function()
  it("a waitgroup is reusable after reaching zero", function()
    local wg = lugo.waitgroup()
    for round = 1, 5 do
      local marks = lugo.chan(round)
      wg:add(round)
      for i = 1, round do
        lugo.go(function()
          marks:send(i)
          wg:done()
        end)
      end
      wg:wait()
      assert.are.equal(round, marks:len())
    end
    raises(NEG, wg.done, wg)                     -- ends at zero
  end)

  it("goroutine waiters of one round do not see the next", function()
    local wg = lugo.waitgroup()
    local released = lugo.chan(6)
    for round = 1, 3 do
      wg:add()
      local ready = lugo.chan(2)
      for _ = 1, 2 do
        lugo.go(function()
          ready:send(true)
          wg:wait()
          released:send(round)
        end)
      end
      ready:recv()
      ready:recv()
      wg:done()
      assert.are.equal(round, released:recv())
      assert.are.equal(round, released:recv())
    end
  end)
end)

describe("negative WaitGroup counter", function()
  it("add(-1) at zero raises it", function()
    local wg = lugo.waitgroup()
    raises(NEG, wg.add, wg, -1)
    raises(NEG, function() wg:add(-1) end)
  end)

  it("done() at zero raises it", function()
    local wg = lugo.waitgroup()
    raises(NEG, wg.done, wg)
    raises(NEG, function() wg:done() end)
  end)

  it("add(-5) after add(2) raises it", function()
    local wg = lugo.waitgroup()
    wg:add(2)
    raises(NEG, wg.add, wg, -5)
  end)

  it("done() after the last done raises it", function()
    local wg = lugo.waitgroup()
    wg:add(2)
    wg:done()
    wg:done()
    raises(NEG, wg.done, wg)
  end)

  it("is raised in a goroutine too", function()
    local wg, result = lugo.waitgroup(), lugo.chan()
    lugo.go(function()
      local ok1, e1 = pcall(wg.done, wg)
      local ok2, e2 = pcall(wg.add, wg, -3)
      result:send({ ok1 = ok1, e1 = e1, ok2 = ok2, e2 = e2 })
    end)
    local r = result:recv()
    assert.is_false(r.ok1)
    assert.is_true(has(r.e1, NEG), tostring(r.e1))
    assert.is_false(r.ok2)
    assert.is_true(has(r.e2, NEG), tostring(r.e2))
  end)
end)

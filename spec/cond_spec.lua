-- cond_spec.lua: API.md "Sync": lugo.cond(m), Go's sync.Cond over a mutex
-- or an rwmutex's write lock: wait unlocks m, parks until signalled, and
-- locks m again before it returns.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"
local has = support.has

describe("lugo.cond", function()
  it("broadcast wakes every waiter, each holding the mutex when wait returns", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local m = lugo.mutex()
      local c = lugo.cond(m)
      local ready, woke, held = lugo.atomic(), lugo.atomic(), lugo.atomic()
      local done = lugo.chan(8)
      local ids = {}
      for i = 1, 8 do
        ids[i] = lugo.go(function()
          m:lock()
          while ready:load() == 0 do c:wait() end
          if not m:trylock() then held:add(1) end   -- ours: trylock fails
          woke:add(1)
          m:unlock()
          done:send(true)
        end)
      end
      -- all eight wait on c (bounded)
      for i = 1, 8 do require("support").wait_parked(ids[i], "cond wait") end
      m:lock(); ready:store(1); c:broadcast(); m:unlock()
      for _ = 1, 8 do done:recv() end
      print(woke:load(), held:load())
    ]], "LUGO_WORKERS=2")
    assert.are.equal("8\t8\n", out)
  end)

  it("signal wakes one waiter at a time (a queue of tokens over an rwmutex)", function()
    local rw = lugo.rwmutex()
    local c = lugo.cond(rw)
    local tokens, got = lugo.atomic(), lugo.chan(3)
    local ids = {}
    for i = 1, 3 do
      ids[i] = lugo.go(function()
        rw:lock()
        while tokens:load() == 0 do c:wait() end
        tokens:add(-1)
        rw:unlock()
        got:send(i)
      end)
    end
    for i = 1, 3 do support.wait_parked(ids[i], "cond wait") end
    local seen = {}
    for _ = 1, 3 do
      rw:lock(); tokens:add(1); c:signal(); rw:unlock()
      seen[#seen + 1] = got:recv()
      assert.are.equal(0, tokens:load())
    end
    table.sort(seen)
    assert.are.same({ 1, 2, 3 }, seen)
  end)

  it("signal and broadcast with no waiter do nothing", function()
    local c = lugo.cond(lugo.mutex())
    c:signal()
    c:broadcast()
  end)

  it("wait without holding the lock raises the lock's message", function()
    local c = lugo.cond(lugo.mutex())
    local ok, err = pcall(c.wait, c)
    assert.is_false(ok)
    assert.is_true(has(err, "unlock of unlocked mutex"), err)
    c = lugo.cond(lugo.rwmutex())
    ok, err = pcall(c.wait, c)
    assert.is_false(ok)
    assert.is_true(has(err, "unlock of unlocked RWMutex"), err)
    c:signal()   -- the aborted wait left no waiter behind
  end)

  it("needs a mutex or an rwmutex", function()
    local ok, err = pcall(lugo.cond, lugo.chan())
    assert.is_false(ok)
    assert.is_true(has(err, "bad argument #1 to 'cond' (mutex or rwmutex expected, got userdata)"), err)
    ok, err = pcall(lugo.cond)
    assert.is_false(ok)
    assert.is_true(has(err, "(mutex or rwmutex expected, got no value)"), err)
  end)

  it("waits show as 'cond wait' in deadlock reports", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      local m = lugo.mutex()
      local c = lugo.cond(m)
      m:lock()
      c:wait()
    ]])
    assert.are.equal(2, code)
    assert.is_true(has(err, "goroutine 1 [cond wait]:"), err)
  end)
end)

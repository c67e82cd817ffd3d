-- rwmutex_spec.lua: API.md "Sync": lugo.rwmutex, Go's sync.RWMutex: many
-- readers or one writer, a waiting writer stops new readers, waits park.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"
local has = support.has

describe("lugo.rwmutex", function()
  it("lets readers share it and keeps a writer out until they leave", function()
    local rw = lugo.rwmutex()
    rw:rlock()
    assert.is_true(rw:tryrlock())
    assert.is_false(rw:trylock())
    rw:runlock()
    rw:runlock()
    assert.is_true(rw:trylock())
    assert.is_false(rw:tryrlock())
    assert.is_false(rw:trylock())
    rw:unlock()
    assert.is_true(rw:tryrlock())
    rw:runlock()
  end)

  it("a blocked lock stops new readers; they follow the writer", function()
    local rw, log = lugo.rwmutex(), lugo.chan(10)
    rw:rlock()
    local w = lugo.go(function() rw:lock(); log:send("writer"); rw:unlock() end)
    support.wait_parked(w, "rwmutex lock")
    assert.is_false(rw:tryrlock())
    local r = lugo.go(function() rw:rlock(); log:send("late reader"); rw:runlock() end)
    support.wait_parked(r, "rwmutex rlock")
    log:send("first reader leaves")
    rw:runlock()
    assert.are.equal("first reader leaves", (log:recv()))
    assert.are.equal("writer", (log:recv()))
    assert.are.equal("late reader", (log:recv()))
  end)

  it("unlock lets every waiting reader in at once", function()
    local rw, inside, out = lugo.rwmutex(), lugo.atomic(), lugo.chan(3)
    rw:lock()
    local ids = {}
    for i = 1, 3 do
      ids[i] = lugo.go(function() rw:rlock(); inside:add(1); out:send(inside:load()); end)
    end
    for i = 1, 3 do support.wait_parked(ids[i], "rwmutex rlock") end
    rw:unlock()
    local seen = {}
    for _ = 1, 3 do seen[#seen + 1] = out:recv() end
    assert.are.equal(3, inside:load())
    assert.is_false(rw:trylock())    -- the three still hold it
    for _ = 1, 3 do rw:runlock() end
    assert.is_true(rw:trylock())
    rw:unlock()
  end)

  it("protects a counter from 4 goroutines on 2 workers", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local rw, wg = lugo.rwmutex(), lugo.waitgroup()
      local count, torn = lugo.atomic(), lugo.atomic()
      for _ = 1, 4 do
        wg:add()
        lugo.go(function()
          for _ = 1, 2000 do
            rw:lock()
            local v = count:load(); count:store(v + 1)   -- a read-modify-write
            rw:unlock()
            rw:rlock()
            local a = count:load(); local b = count:load()
            if a ~= b then torn:add(1) end              -- no writer inside
            rw:runlock()
          end
          wg:done()
        end)
      end
      wg:wait()
      print(count:load(), torn:load())
    ]], "LUGO_WORKERS=2")
    assert.are.equal("8000\t0\n", out)
  end)

  it("raises Go's messages when unlocking what is not held", function()
    local rw = lugo.rwmutex()
    local ok, err = pcall(rw.unlock, rw)
    assert.is_false(ok)
    assert.is_true(has(err, "unlock of unlocked RWMutex"), err)
    ok, err = pcall(rw.runlock, rw)
    assert.is_false(ok)
    assert.is_true(has(err, "runlock of unlocked RWMutex"), err)
    rw:lock()
    ok, err = pcall(rw.runlock, rw)
    assert.is_false(ok)
    assert.is_true(has(err, "runlock of unlocked RWMutex"), err)
    rw:unlock()
  end)

  it("waits show in deadlock reports as 'rwmutex lock' and 'rwmutex rlock'", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      local rw = lugo.rwmutex()
      rw:lock()
      local id = lugo.go(function() rw:rlock() end)
      require("support").wait_parked(id, "rwmutex rlock")
      rw:lock()
    ]])
    assert.are.equal(2, code)
    assert.is_true(has(err, "fatal error: all goroutines are asleep - deadlock!"), err)
    assert.is_true(has(err, "goroutine 1 [rwmutex lock]:"), err)
    assert.is_true(has(err, "[rwmutex rlock]:"), err)
  end)

  it("crosses channels by reference", function()
    local rw, ch = lugo.rwmutex(), lugo.chan(1)
    ch:send(rw)
    local same = ch:recv()
    assert.is_true(same == rw)
    same:lock()
    assert.is_false(rw:tryrlock())
    rw:unlock()
    assert.is_truthy(tostring(rw):match("^rwmutex: "))
  end)
end)

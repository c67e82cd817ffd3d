-- atomic_spec.lua: API.md "Shared state": lugo.atomic, an integer cell
-- shared by reference: load, store, add, swap, cas, and their errors.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"
local has = support.has

local err_of = support.error_of

describe("lugo.atomic", function()
  it("starts at 0 or at the given integer", function()
    assert.are.equal(0, lugo.atomic():load())
    assert.are.equal(-7, lugo.atomic(-7):load())
    assert.are.equal("integer", math.type(lugo.atomic(3.0):load()))
  end)

  it("store, add (new value), swap (old value), cas (whether it swapped)", function()
    local a = lugo.atomic(10)
    a:store(20)
    assert.are.equal(20, a:load())
    assert.are.equal(25, a:add(5))
    assert.are.equal(22, a:add(-3))
    assert.are.equal(22, a:swap(1))
    assert.are.equal(1, a:load())
    assert.is_true(a:cas(1, 2))
    assert.is_false(a:cas(1, 3))
    assert.are.equal(2, a:load())
  end)

  it("wraps around as Lua integers do", function()
    assert.are.equal(math.mininteger, lugo.atomic(math.maxinteger):add(1))
  end)

  it("is shared by reference: 4 goroutines x 100,000 adds on 2 workers lose none", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local a, wg = lugo.atomic(), lugo.waitgroup()
      for _ = 1, 4 do
        wg:add()
        lugo.go(function() for _ = 1, 100000 do a:add(1) end wg:done() end)
      end
      wg:wait()
      print(a:load())
    ]], "LUGO_WORKERS=2")
    assert.are.equal("400000\n", out)
  end)

  it("cas loops from goroutines count exactly", function()
    local a, wg = lugo.atomic(), lugo.waitgroup()
    for _ = 1, 4 do
      wg:add()
      lugo.go(function()
        for _ = 1, 1000 do
          repeat local v = a:load() until a:cas(v, v + 1)
        end
        wg:done()
      end)
    end
    wg:wait()
    assert.are.equal(4000, a:load())
  end)

  it("crosses channels as the same object", function()
    local a, ch = lugo.atomic(1), lugo.chan(1)
    ch:send(a)
    local b = ch:recv()
    assert.is_true(a == b)
    b:add(1)
    assert.are.equal(2, a:load())
    assert.is_truthy(tostring(a):match("^atomic: "))
  end)

  it("raises API.md's messages for arguments that are not integers", function()
    local a = lugo.atomic()
    assert.is_true(has(err_of(function() a:add(1.5) end),
      "bad argument #1 to 'add' (number has no integer representation)"))
    assert.is_true(has(err_of(a.store, a, "x"), "bad argument #1 to 'store' (integer expected, got string)"))
    assert.is_true(has(err_of(function() a:swap() end), "bad argument #1 to 'swap' (integer expected, got no value)"))
    assert.is_true(has(err_of(function() a:cas(1, {}) end), "bad argument #2 to 'cas' (integer expected, got table)"))
    assert.is_true(has(err_of(lugo.atomic, 2.5), "bad argument #1 to 'atomic' (number has no integer representation)"))
    assert.is_true(has(err_of(a.load, lugo.chan()), "atomic expected"))
  end)
end)

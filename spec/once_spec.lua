-- once_spec.lua: API.md "Sync": lugo.once, Go's sync.Once: the first call
-- runs fn (which may block), calls meanwhile wait for it, later ones pass.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"
local has = support.has

describe("lugo.once", function()
  it("runs fn once, with its arguments; the first call returns true, later ones false", function()
    local o, got = lugo.once(), {}
    assert.is_true(o:call(function(a, b) got[#got + 1] = a + b end, 1, 2))
    assert.is_false(o:call(function() got[#got + 1] = "again" end))
    assert.are.same({ 3 }, got)
  end)

  it("callers arriving while fn runs (and blocks) wait until it has returned", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local o, runs, finished = lugo.once(), lugo.atomic(), lugo.atomic()
      local results = lugo.chan(8)
      for i = 1, 8 do
        lugo.go(function()
          local first = o:call(function() runs:add(1); lugo.sleep(0.05); finished:store(1) end)
          -- every caller, first or not, sees fn finished when call returns
          results:send({ first, finished:load() })
        end)
      end
      local firsts, seen_done = 0, 0
      for _ = 1, 8 do
        local r = results:recv()
        if r[1] then firsts = firsts + 1 end
        seen_done = seen_done + r[2]
      end
      print(runs:load(), firsts, seen_done)
    ]], "LUGO_WORKERS=2")
    assert.are.equal("1\t1\t8\n", out)
  end)

  it("an error in fn goes to its caller, and the once still counts as done", function()
    local o = lugo.once()
    local ok, err = pcall(o.call, o, function() error("boom") end)
    assert.is_false(ok)
    assert.is_true(has(err, "boom"), err)
    assert.is_false(o:call(function() error("never runs") end))
  end)

  it("waits show as 'once' in deadlock reports", function()
    local out, err, code = support.child([[
      local lugo = require "lugo"
      local o, never = lugo.once(), lugo.chan()
      local id = lugo.go(function() o:call(function() never:recv() end) end)
      require("support").wait_parked(id, "chan receive")   -- inside fn
      o:call(function() end)
    ]])
    assert.are.equal(2, code)
    assert.is_true(has(err, "goroutine 1 [once]:"), err)
    assert.is_true(has(err, "[chan receive]:"), err)
  end)

  it("crosses channels by reference", function()
    local o, ch = lugo.once(), lugo.chan(1)
    ch:send(o)
    local same = ch:recv()
    assert.is_true(same == o)
    assert.is_true(same:call(function() end))
    assert.is_false(o:call(function() end))
  end)

  it("needs a function", function()
    local o = lugo.once()
    local ok, err = pcall(function() o:call(42) end)
    assert.is_false(ok)
    assert.is_true(has(err, "function expected, got number"), err)
  end)
end)

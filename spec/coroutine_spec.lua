-- coroutine_spec.lua: the coroutine library inside goroutines, and blocking
-- calls where Lua cannot yield (API.md, Coroutines inside goroutines).
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table, which travels as "the receiver's globals".
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local assert_message = support.assert_message
-- Runs fn(...) in a goroutine; returns a table of its results (with n), or
-- raises its error.
local in_goroutine = support.packed_in_goroutine

local CANNOT_BLOCK = "lugo: cannot block here (attempt to yield across a C-call boundary)"

-- A goroutine sending 1..n on an unbuffered channel, then closing it: each
-- receive on the other side really waits for it.
local function feeder(n)
  local ch = lugo.chan()
  lugo.go(function(c, count)
    for i = 1, count do c:send(i) end
    c:close()
  end, ch, n)
  return ch
end

describe("coroutines inside goroutines", function()
  it("a coroutine.wrap iterator may block on a channel", function()
    local ch = feeder(50)
    local r = in_goroutine(function(c)
      local items = coroutine.wrap(function()
        while true do
          local v, ok = c:recv()
          if not ok then return end
          coroutine.yield(v)
        end
      end)
      local sum, count = 0, 0
      for v in items do sum = sum + v; count = count + 1 end
      return sum, count
    end, ch)
    assert.are.same({ 1275, 50, n = 2 }, r)
  end)

  it("a coroutine.wrap iterator over range blocks fed by main", function()
    local ch, out = lugo.chan(), lugo.chan()
    lugo.go(function(c, o)
      local got = {}
      for v in coroutine.wrap(function()
        for x in c:range() do coroutine.yield(x * 10) end
      end) do
        got[#got + 1] = v
      end
      o:send(got)
    end, ch, out)
    for i = 1, 5 do ch:send(i) end
    ch:close()
    assert.are.same({ 10, 20, 30, 40, 50 }, out:recv())
  end)

  it("coroutine.yield still returns to its own resumer around blocking calls", function()
    local ch = lugo.chan()
    local out = lugo.chan()
    lugo.go(function(c, o)
      local log = {}
      local co = coroutine.create(function(a)
        local b = coroutine.yield(a + 1)        -- to the resumer, not the scheduler
        local v = c:recv()                      -- parks the whole goroutine
        local d = coroutine.yield(b * 2 + v)
        c:send("from inner")                    -- blocks until main receives
        return "end", d
      end)
      log[#log + 1] = { coroutine.resume(co, 1) }
      log[#log + 1] = coroutine.status(co)
      log[#log + 1] = { coroutine.resume(co, 5) }
      log[#log + 1] = coroutine.status(co)
      log[#log + 1] = { coroutine.resume(co, "d") }
      log[#log + 1] = coroutine.status(co)
      log[#log + 1] = { coroutine.resume(co) }
      o:send(log)
    end, ch, out)
    ch:send(100)
    assert.are.equal("from inner", ch:recv())
    assert.are.same({
      { true, 2 }, "suspended",
      { true, 110 }, "suspended",
      { true, "end", "d" }, "dead",
      { false, "cannot resume dead coroutine" },
    }, out:recv())
  end)

  it("lugo.yield inside a coroutine does not return to the resumer", function()
    local r = in_goroutine(function()
      local f = coroutine.wrap(function()
        lugo.yield()
        lugo.yield()
        coroutine.yield("first")
        lugo.yield()
        return "second"
      end)
      return f(), f()
    end)
    assert.are.same({ "first", "second", n = 2 }, r)
  end)

  it("coroutine.resume returns errors normally", function()
    local ch = feeder(1)
    local err_obj_check = in_goroutine(function(c)
      local ok1, e1 = coroutine.resume(coroutine.create(function() error("boom") end))
      local ok2, e2 = coroutine.resume(coroutine.create(function()
        c:recv()                                -- parks first, then fails
        error("after block", 0)
      end))
      local obj = { code = 7 }
      local ok3, e3 = coroutine.resume(coroutine.create(function()
        lugo.yield()
        error(obj)
      end))
      return ok1, e1, ok2, e2, ok3, e3 == obj, e3.code
    end, ch)
    assert.are.equal(false, err_obj_check[1])
    assert.matches("boom$", err_obj_check[2])
    assert.are.equal(false, err_obj_check[3])
    assert.are.equal("after block", err_obj_check[4])
    assert.are.equal(false, err_obj_check[5])
    assert.are.equal(true, err_obj_check[6])
    assert.are.equal(7, err_obj_check[7])
  end)

  it("coroutine.wrap propagates errors after a blocking call", function()
    local ch = feeder(1)
    local r = in_goroutine(function(c)
      local f = coroutine.wrap(function()
        c:recv()
        error("wrapped boom")
      end)
      local ok, e = pcall(f)
      local obj = {}
      local g = coroutine.wrap(function() lugo.yield(); error(obj) end)
      local ok2, e2 = pcall(g)
      return ok, e, ok2, e2 == obj
    end, ch)
    assert.are.equal(false, r[1])
    assert.matches("wrapped boom$", r[2])
    assert.are.equal(false, r[3])
    assert.are.equal(true, r[4])
  end)

  it("nested coroutines three deep may block at every level", function()
    local a, b, c = feeder(3), lugo.chan(), lugo.chan()
    local out = lugo.chan()
    lugo.go(function(ca, cb, cc, o)
      local trace = {}
      local level3 = coroutine.wrap(function()
        for _ = 1, 3 do
          local v = ca:recv()                   -- blocks, three levels down
          cb:send(v)                            -- blocks until main takes it
          coroutine.yield("l3:" .. v)
        end
      end)
      local level2 = coroutine.wrap(function()
        for _ = 1, 3 do
          local s = level3()
          local x = cc:recv()                   -- blocks, two levels down
          coroutine.yield(s .. "+" .. x)
        end
      end)
      local level1 = coroutine.create(function()
        for _ = 1, 3 do
          local s = level2()
          lugo.yield()
          coroutine.yield(s .. "!")
        end
        return "done"
      end)
      while true do
        local ok, v = coroutine.resume(level1)
        trace[#trace + 1] = tostring(ok) .. " " .. tostring(v)
        if coroutine.status(level1) == "dead" then break end
      end
      o:send(trace)
    end, a, b, c, out)
    for i = 1, 3 do
      assert.are.equal(i, b:recv())
      c:send("x" .. i)
    end
    assert.are.same({ "true l3:1+x1!", "true l3:2+x2!", "true l3:3+x3!", "true done" },
      out:recv())
  end)

  it("many goroutines each driving a blocking iterator all finish", function()
    local out = lugo.chan()
    for g = 1, 20 do
      local ch = feeder(20)
      lugo.go(function(c, o, id)
        local sum = 0
        for v in coroutine.wrap(function()
          for x in c:range() do coroutine.yield(x) end
        end) do
          sum = sum + v
        end
        o:send({ id, sum })
      end, ch, out, g)
    end
    local seen = {}
    for _ = 1, 20 do
      local r = out:recv()
      assert.are.equal(210, r[2])
      seen[r[1]] = true
    end
    for g = 1, 20 do assert.is_true(seen[g]) end
  end)

  it("a waitgroup wait inside a coroutine parks the goroutine", function()
    local wg = lugo.waitgroup()
    wg:add()
    local gate = lugo.chan()
    local r_ch = lugo.chan()
    lugo.go(function(w, o)
      local f = coroutine.wrap(function()
        w:wait()
        coroutine.yield("waited")
      end)
      o:send(f())
    end, wg, r_ch)
    lugo.go(function(w, g) g:recv(); w:done() end, wg, gate)
    gate:send()
    assert.are.equal("waited", r_ch:recv())
  end)

  it("coroutine.running, isyieldable and status behave inside a goroutine", function()
    local r = in_goroutine(function()
      local outer = coroutine.running()
      local inside_running, inside_yieldable
      local co = coroutine.create(function()
        inside_running = coroutine.running()
        inside_yieldable = coroutine.isyieldable()
        coroutine.yield()
      end)
      coroutine.resume(co)
      return inside_running == co, inside_yieldable, coroutine.status(co),
        outer ~= co
    end)
    assert.are.same({ true, true, "suspended", true, n = 4 }, r)
  end)
end)

describe("blocking where Lua cannot yield", function()
  it("a blocking call in a table.sort comparator raises", function()
    local ch = lugo.chan()
    local out = lugo.chan()
    lugo.go(function(c, o)
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(x, y)
        c:recv()
        return x < y
      end)
      o:send({ ok, err })
    end, ch, out)
    local r = out:recv()
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
  end)

  it("a send in a table.sort comparator raises", function()
    local r = in_goroutine(function()
      local c = lugo.chan()
      return pcall(table.sort, { 2, 1 }, function(x, y)
        c:send(1)
        return x < y
      end)
    end)
    assert.are.equal(2, r.n)
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
  end)

  it("a blocking call in a string.gsub callback raises", function()
    local r = in_goroutine(function()
      local c = lugo.chan()
      return pcall(string.gsub, "abc", "%w", function(x) c:recv(); return x end)
    end)
    assert.are.equal(2, r.n)
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
  end)

  it("a blocking call in a comparator inside a coroutine raises", function()
    local r = in_goroutine(function()
      local c = lugo.chan()
      local co = coroutine.wrap(function()
        return pcall(table.sort, { 2, 1 }, function(x, y)
          c:recv()
          return x < y
        end)
      end)
      return co()
    end)
    assert.are.equal(2, r.n)
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
  end)

  it("leaves the goroutine and the channel working", function()
    local ch = lugo.chan()
    local out = lugo.chan()
    lugo.go(function(c, o)
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(x, y)
        c:recv()
        return x < y
      end)
      local v = c:recv()                        -- blocking works again
      o:send({ ok, err, v })
    end, ch, out)
    ch:send("after")
    local r = out:recv()
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
    assert.are.equal("after", r[3])
  end)

  it("a blocking call in a coroutine resumed under a C boundary raises and leaves the channel usable", function()
    local r = in_goroutine(function()
      local ch = lugo.chan()
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
        local f = coroutine.wrap(function() return ch:recv() end)
        f()
        return a < b
      end)
      lugo.go(function() ch:send("after") end)
      return ok, err, (ch:recv())
    end)
    assert.are.equal(false, r[1])
    assert_message(CANNOT_BLOCK, r[2])
    assert.are.equal("after", r[3])
  end)
end)

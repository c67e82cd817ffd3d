-- select_spec.lua: lugo.select, ch:case_recv and ch:case_send (API.md,
-- Select): results, handlers, default, blocking and waking, exactly one case
-- performed, uniformly random choice, send cases on closed channels,
-- direction views, the same channel in several cases, the copy made by
-- case_send, select{} blocking for ever, and a stress run with a close.
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table (see goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local has, assert_message, raises = support.has, support.assert_message, support.raises
local in_goroutine, settle = support.in_goroutine, support.settle
local wait_parked = support.wait_parked

-- Runs a Lua source text under a child `lugo`; returns stdout, stderr, code.
local function child(source, args, env)
  return support.child(source, env, args)
end

-- Runs fn(...) in a goroutine and returns pcall's results: false and the
-- message when fn raised.
local function pcall_in_goroutine(fn, ...)
  local res = lugo.chan()
  lugo.go(function(...)
    res:send(table.pack(pcall(fn, ...)))
  end, ...)
  local r = res:recv()
  return table.unpack(r, 1, r.n)
end

describe("case_recv and case_send", function()
  it("build case values without touching the channel", function()
    local c = lugo.chan(2)
    c:send("kept")
    local r = c:case_recv()
    local s = c:case_send("not sent")
    assert.is_not_nil(r)
    assert.is_not_nil(s)
    assert.are.equal(1, c:len())        -- building a case moves nothing
    assert.are.equal("kept", c:recv())
    assert.are.equal(0, c:len())
  end)

  it("are available on channels and on their views", function()
    local c = lugo.chan(1)
    assert.are.equal("function", type(c.case_recv))
    assert.are.equal("function", type(c.case_send))
    assert.are.equal("function", type(c:sendonly().case_send))
    assert.are.equal("function", type(c:recvonly().case_recv))
  end)
end)

describe("lugo.select results", function()
  it("returns the index, then v, true for a receive without handler", function()
    local c = lugo.chan(1)
    c:send(42)
    local r = table.pack(lugo.select { c:case_recv() })
    assert.are.same({ 1, 42, true, n = 3 }, r)
  end)

  it("numbers cases by their position in the list", function()
    local a, b, c = lugo.chan(), lugo.chan(), lugo.chan(1)
    c:send("third")
    local r = table.pack(lugo.select { a:case_recv(), b:case_recv(), c:case_recv() })
    assert.are.same({ 3, "third", true, n = 3 }, r)
    b = lugo.chan(1)
    r = table.pack(lugo.select { a:case_recv(), b:case_send("x"), c:case_send("y") })
    -- a has no receiver; b and c (drained above) have room
    assert.is_true(r[1] == 2 or r[1] == 3)
    assert.are.equal(1, r.n)
  end)

  it("returns nil, false for a receive on a closed, drained channel", function()
    local c = lugo.chan(1)
    c:send("last")
    c:close()
    assert.are.same({ 1, "last", true, n = 3 }, table.pack(lugo.select { c:case_recv() }))
    assert.are.same({ 1, nil, false, n = 3 }, table.pack(lugo.select { c:case_recv() }))
    assert.are.same({ 1, nil, false, n = 3 }, table.pack(lugo.select { c:case_recv() }))
  end)

  it("returns nil, true for a nil value received", function()
    local c = lugo.chan(1)
    c:send(nil)
    assert.are.same({ 1, nil, true, n = 3 }, table.pack(lugo.select { c:case_recv() }))
  end)

  it("returns just the index for a send without handler", function()
    local c = lugo.chan(1)
    local r = table.pack(lugo.select { c:case_send("v") })
    assert.are.same({ 1, n = 1 }, r)
    assert.are.same({ "v", true }, { c:recv() })
  end)

  it("calls a receive handler as fn(v, ok) and returns the index and its results", function()
    local c = lugo.chan(1)
    c:send(7)
    local args
    local r = table.pack(lugo.select {
      c:case_recv(function(...) args = table.pack(...); return "a", nil, "c" end),
    })
    assert.are.same({ 7, true, n = 2 }, args)
    assert.are.same({ 1, "a", nil, "c", n = 4 }, r)
  end)

  it("calls a receive handler with nil, false on a closed channel", function()
    local c = lugo.chan()
    c:close()
    local args
    local r = table.pack(lugo.select {
      c:case_recv(function(...) args = table.pack(...); return "closed" end),
    })
    assert.are.same({ nil, false, n = 2 }, args)
    assert.are.same({ 1, "closed", n = 2 }, r)
  end)

  it("calls a send handler as fn() and returns the index and its results", function()
    local c = lugo.chan(1)
    local args
    local r = table.pack(lugo.select {
      c:case_send(5, function(...) args = table.pack(...); return 1, 2 end),
    })
    assert.are.same({ n = 0 }, args)
    assert.are.same({ 1, 1, 2, n = 3 }, r)
    assert.are.equal(5, c:recv())
  end)

  it("returns just the index when a handler returns nothing", function()
    local a, b = lugo.chan(1), lugo.chan(1)
    a:send(1)
    assert.are.same({ 1, n = 1 }, table.pack(lugo.select { a:case_recv(function() end) }))
    assert.are.same({ 1, n = 1 }, table.pack(lugo.select { b:case_send(1, function() end) }))
  end)

  it("does not call the handlers of cases not chosen", function()
    local ready, idle = lugo.chan(1), lugo.chan()
    ready:send("r")
    local called = {}
    local i = lugo.select {
      idle:case_recv(function() called[#called + 1] = "idle recv" end),
      idle:case_send(1, function() called[#called + 1] = "idle send" end),
      ready:case_recv(function() called[#called + 1] = "ready" end),
      default = function() called[#called + 1] = "default" end,
    }
    assert.are.equal(3, i)
    assert.are.same({ "ready" }, called)
  end)

  it("propagates an error raised by a handler", function()
    local c = lugo.chan(1)
    c:send(1)
    local ok, err = pcall(lugo.select, { c:case_recv(function() error("boom", 0) end) })
    assert.is_false(ok)
    assert.are.equal("boom", err)
    assert.are.equal(0, c:len())   -- the value was taken all the same
  end)

  it("gives the same results in a goroutine", function()
    local r = table.pack(in_goroutine(function()
      local c = lugo.chan(1)
      c:send("g")
      local out = {}
      out[1] = table.pack(lugo.select { c:case_recv() })
      out[2] = table.pack(lugo.select { c:case_send("s") })
      out[3] = table.pack(lugo.select { c:case_recv(function(v, ok) return v .. "!", ok end) })
      out[4] = table.pack(lugo.select { c:case_send("t", function() return "sent" end) })
      c:recv()
      c:close()
      out[5] = table.pack(lugo.select { c:case_recv() })
      out[6] = table.pack(lugo.select { default = true })
      out[7] = table.pack(lugo.select { default = function() return "d", 2 end })
      return out
    end))
    local out = r[1]
    assert.are.same({ 1, "g", true, n = 3 }, out[1])
    assert.are.same({ 1, n = 1 }, out[2])
    assert.are.same({ 1, "s!", true, n = 3 }, out[3])
    assert.are.same({ 1, "sent", n = 2 }, out[4])
    assert.are.same({ 1, nil, false, n = 3 }, out[5])
    assert.are.same({ nil, n = 1 }, out[6])
    assert.are.same({ nil, "d", 2, n = 3 }, out[7])
  end)

  it("carries tables and other values intact through cases", function()
    local c = lugo.chan(1)
    local shared = { 1, 2 }
    local v = { a = shared, b = shared, s = "str", f = 1.5, i = 3 }
    lugo.select { c:case_send(v) }
    local _, got, ok = lugo.select { c:case_recv() }
    assert.is_true(ok)
    assert.are.same(v, got)
    assert.is_true(rawequal(got.a, got.b))          -- sharing kept
    assert.are.equal("integer", math.type(got.i))
    assert.are.equal("float", math.type(got.f))
  end)

  it("raises an error for something that is not a case", function()
    local c = lugo.chan(1)
    assert.is_false((pcall(lugo.select, { c })))
    assert.is_false((pcall(lugo.select, { 1 })))
    assert.is_false((pcall(lugo.select, { c:case_recv(), "x" })))
    assert.is_false((pcall(lugo.select)))
  end)

  it("a bad case after send cases names it, sends nothing, and the channel still works", function()
    local c = lugo.chan(1)
    local big = { string.rep("x", 100), { 1, 2, 3 } }   -- heap-encoded values
    for _ = 1, 100 do
      local ok, err = pcall(lugo.select, { c:case_send(big), c:case_send("y"), 42 })
      assert.is_false(ok)
      assert.truthy(err:find("case #3 is a number", 1, true), err)
    end
    assert.are.equal(0, #c)
    c:send("z")
    assert.are.equal("z", c:recv())
  end)
end)

describe("default", function()
  it("default = true returns just nil when no case is ready", function()
    local a, b = lugo.chan(), lugo.chan()
    local r = table.pack(lugo.select { a:case_recv(), b:case_send(1), default = true })
    assert.are.same({ nil, n = 1 }, r)
  end)

  it("a default function returns nil followed by its results", function()
    local a = lugo.chan()
    local r = table.pack(lugo.select {
      a:case_recv(),
      default = function(...) return select("#", ...), "x", nil, "z" end,
    })
    assert.are.same({ nil, 0, "x", nil, "z", n = 5 }, r)
  end)

  it("a default function returning nothing gives just nil", function()
    local a = lugo.chan()
    assert.are.same({ nil, n = 1 }, table.pack(lugo.select {
      a:case_recv(), default = function() end }))
  end)

  it("with no case at all, default is taken", function()
    assert.are.same({ nil, n = 1 }, table.pack(lugo.select { default = true }))
    assert.are.same({ nil, "only", n = 2 },
      table.pack(lugo.select { default = function() return "only" end }))
  end)

  it("is not taken when a case is ready", function()
    local c = lugo.chan(1)
    c:send("v")
    local called = false
    local r = table.pack(lugo.select { c:case_recv(), default = function() called = true end })
    assert.are.same({ 1, "v", true, n = 3 }, r)
    assert.is_false(called)
    assert.are.same({ 1, n = 1 }, table.pack(lugo.select { c:case_send(1), default = true }))
    assert.are.equal(1, c:len())
  end)

  it("performs no case when taken: nothing is sent nor received", function()
    local full, empty = lugo.chan(1), lugo.chan(1)
    full:send("stay")
    assert.is_nil(lugo.select { full:case_send("no room"), empty:case_recv(), default = true })
    assert.are.equal(1, full:len())
    assert.are.equal(0, empty:len())
    assert.are.equal("stay", full:recv())
    -- an unbuffered channel with nobody waiting: the send does not linger
    local u = lugo.chan()
    assert.is_nil(lugo.select { u:case_send("ghost"), default = true })
    local got = lugo.chan(1)
    lugo.go(function()
      got:send(table.pack(lugo.select { u:case_recv(), default = true }))
    end)
    assert.are.same({ nil, n = 1 }, got:recv())
  end)

  it("never blocks, also in a goroutine and in a loop", function()
    local r = in_goroutine(function()
      local c = lugo.chan()
      local n = 0
      for _ = 1, 1000 do
        if lugo.select { c:case_recv(), c:case_send(1), default = true } == nil then
          n = n + 1
        end
      end
      return n
    end)
    assert.are.equal(1000, r)
  end)

  it("takes a ready case against a value sent by a blocked goroutine sender", function()
    local c = lugo.chan()
    local id = lugo.go(function() c:send("waiting") end)
    wait_parked(id, "chan send")
    assert.are.same({ 1, "waiting", true, n = 3 },
      table.pack(lugo.select { c:case_recv(), default = true }))
  end)

  it("takes a ready send case against a blocked goroutine receiver", function()
    local c, back = lugo.chan(), lugo.chan(1)
    local id = lugo.go(function() back:send(c:recv()) end)
    wait_parked(id, "chan receive")
    assert.are.same({ 1, n = 1 }, table.pack(lugo.select { c:case_send("to g"), default = true }))
    assert.are.equal("to g", back:recv())
  end)
end)

describe("blocking select", function()
  -- In these, the goroutine acts only once main is parked in its select
  -- (or, should main never park, sends something else: the check fails).
  it("in main blocks until a goroutine sends", function()
    local a, b = lugo.chan(), lugo.chan()
    lugo.go(function()
      b:send(require("support").parked(1, "select") and "late" or "main never parked")
    end)
    assert.are.same({ 2, "late", true, n = 3 },
      table.pack(lugo.select { a:case_recv(), b:case_recv() }))
  end)

  it("in main blocks until a goroutine receives", function()
    local a, b, back = lugo.chan(), lugo.chan(), lugo.chan(1)
    lugo.go(function()
      if not require("support").parked(1, "select") then back:send("main never parked") end
      back:send(a:recv())
    end)
    assert.are.same({ 1, n = 1 },
      table.pack(lugo.select { a:case_send("for a"), b:case_send("for b") }))
    assert.are.equal("for a", back:recv())
  end)

  it("in main is woken by a close (receive case gets nil, false)", function()
    local a, b = lugo.chan(), lugo.chan()
    lugo.go(function()
      if not require("support").parked(1, "select") then b:send("main never parked") end
      b:close()
    end)
    assert.are.same({ 2, "closed", nil, false, n = 4 }, table.pack(lugo.select {
      a:case_recv(),
      b:case_recv(function(v, ok) return "closed", v, ok end),
    }))
  end)

  it("in a goroutine is woken by main sending", function()
    local a, b, res = lugo.chan(), lugo.chan(), lugo.chan()
    local id = lugo.go(function()
      res:send(table.pack(lugo.select { a:case_recv(), b:case_recv() }))
    end)
    wait_parked(id, "select")
    a:send("from main")
    assert.are.same({ 1, "from main", true, n = 3 }, res:recv())
  end)

  it("in a goroutine is woken by main receiving from a send case", function()
    local a, b, res = lugo.chan(), lugo.chan(), lugo.chan()
    local id = lugo.go(function()
      res:send(table.pack(lugo.select { a:case_recv(), b:case_send("from g") }))
    end)
    wait_parked(id, "select")
    assert.are.same({ "from g", true }, { b:recv() })
    assert.are.same({ 2, n = 1 }, res:recv())
  end)

  it("in a goroutine is woken by a close, calling the handler with nil, false", function()
    local a, b, res = lugo.chan(), lugo.chan(), lugo.chan()
    local id = lugo.go(function()
      res:send(table.pack(lugo.select {
        a:case_recv(),
        b:case_recv(function(...) return table.pack(...) end),
      }))
    end)
    wait_parked(id, "select")
    b:close()
    assert.are.same({ 2, { nil, false, n = 2 }, n = 2 }, res:recv())
  end)

  it("between two goroutines, one selecting to send and one to receive", function()
    local a, b, res = lugo.chan(), lugo.chan(), lugo.chan()
    lugo.go(function()
      local sum = 0
      for _ = 1, 200 do
        local i, v = lugo.select { a:case_recv(), b:case_recv() }
        sum = sum + v * (i == 1 and 1 or 1000)
      end
      res:send(sum)
    end)
    lugo.go(function()
      local na, nb = 0, 0
      for _ = 1, 200 do
        local i = lugo.select { a:case_send(1), b:case_send(1) }
        if i == 1 then na = na + 1 else nb = nb + 1 end
      end
      res:send(na + nb * 1000)
    end)
    local x, y = res:recv(), res:recv()
    assert.are.equal(x, y)   -- each side saw the same case for every value
  end)

  it("a handler may block (in main and in a goroutine)", function()
    local a, b = lugo.chan(1), lugo.chan()
    a:send(1)
    -- the senders wait until the handler is blocked in its receive
    lugo.go(function() require("support").parked(1, "chan receive"); b:send(2) end)
    local r = table.pack(lugo.select { a:case_recv(function(v) return v + b:recv() end) })
    assert.are.same({ 1, 3, n = 2 }, r)
    r = table.pack(in_goroutine(function()
      local c, d = lugo.chan(1), lugo.chan()
      c:send(10)
      lugo.go(function(p) require("support").parked(p, "chan receive"); d:send(20) end, lugo.id())
      local x = table.pack(lugo.select { c:case_recv(function(v) return v + d:recv() end) })
      lugo.go(function() d:send(5) end)
      local y = table.pack(lugo.select { c:case_recv(), default = function() return (d:recv()) end })
      return x, y
    end))
    assert.are.same({ 1, 30, n = 2 }, r[1])
    assert.are.same({ nil, 5, n = 2 }, r[2])
  end)

  it("raises 'lugo: cannot block here' where a goroutine cannot yield", function()
    local ok, err = pcall_in_goroutine(function()
      local c = lugo.chan()
      table.sort({ 3, 1, 2 }, function(x, y)
        lugo.select { c:case_recv() }
        return x < y
      end)
    end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot block here (attempt to yield across a C-call boundary)"),
      tostring(err))
    -- with default nothing blocks: allowed there
    local r = in_goroutine(function()
      local c = lugo.chan()
      local n = 0
      table.sort({ 3, 1, 2 }, function(x, y)
        if lugo.select { c:case_recv(), default = true } == nil then n = n + 1 end
        return x < y
      end)
      return n > 0
    end)
    assert.is_true(r)
  end)
end)

describe("exactly one case", function()
  it("receives from exactly one of several ready buffered channels", function()
    for _ = 1, 100 do
      local a, b, c = lugo.chan(1), lugo.chan(1), lugo.chan(1)
      a:send("a"); b:send("b"); c:send("c")
      local i, v = lugo.select { a:case_recv(), b:case_recv(), c:case_recv() }
      assert.are.equal(({ "a", "b", "c" })[i], v)
      assert.are.equal(2, a:len() + b:len() + c:len())
      assert.are.equal(0, ({ a, b, c })[i]:len())
    end
  end)

  it("sends on exactly one of several ready buffered channels", function()
    for _ = 1, 100 do
      local a, b, c = lugo.chan(1), lugo.chan(1), lugo.chan(1)
      local i = lugo.select { a:case_send("a"), b:case_send("b"), c:case_send("c") }
      assert.are.equal(1, a:len() + b:len() + c:len())
      assert.are.equal(({ "a", "b", "c" })[i], ({ a, b, c })[i]:recv())
    end
  end)

  it("a parked select takes one of two senders; the other value stays with its sender", function()
    for _ = 1, 20 do
      local a, b, sent = lugo.chan(), lugo.chan(), lugo.chan(2)
      local res = lugo.chan(1)
      local sel = lugo.go(function()
        res:send(table.pack(lugo.select { a:case_recv(), b:case_recv() }))
      end)
      wait_parked(sel, "select")
      lugo.go(function() a:send("A"); sent:send("A") end)
      lugo.go(function() b:send("B"); sent:send("B") end)
      local r = res:recv()
      local first = sent:recv()
      assert.are.equal(r[1] == 1 and "A" or "B", r[2])
      assert.are.equal(r[2], first)
      -- the other sender is still blocked: its value was not consumed
      local other = r[1] == 1 and b or a
      assert.are.equal(r[1] == 1 and "B" or "A", other:recv())
      assert.are.equal(r[1] == 1 and "B" or "A", sent:recv())
    end
  end)

  it("a parked select with send cases delivers to exactly one receiver", function()
    for _ = 1, 20 do
      local a, b, got = lugo.chan(), lugo.chan(), lugo.chan(2)
      local res = lugo.chan(1)
      local sel = lugo.go(function()
        res:send((lugo.select { a:case_send("to a"), b:case_send("to b") }))
      end)
      wait_parked(sel, "select")
      local ga = lugo.go(function() got:send(a:recv()) end)
      local gb = lugo.go(function() got:send(b:recv()) end)
      local i = res:recv()
      local v = got:recv()
      assert.are.equal(i == 1 and "to a" or "to b", v)
      -- the receiver that lost still waits: serve it with a plain send
      local loser = i == 1 and b or a
      wait_parked(i == 1 and gb or ga, "chan receive")
      loser:send("plain")
      assert.are.equal("plain", got:recv())
    end
  end)
end)

describe("uniformly random choice", function()
  local N = 10000

  local function assert_fair(counts, k)
    local lo, hi = N / k * 0.8, N / k * 1.2   -- 40%..60% for two cases
    local total = 0
    for i = 1, k do
      local c = counts[i] or 0
      total = total + c
      assert.is_true(c >= lo and c <= hi,
        "case " .. i .. " chosen " .. c .. " times of " .. N .. " (" ..
        table.concat(counts, ", ") .. ")")
    end
    assert.are.equal(N, total)
  end

  it("between two closed channels: each chosen 40% to 60% of 10,000 selects", function()
    local a, b = lugo.chan(), lugo.chan()
    a:close()
    b:close()
    local counts = { 0, 0 }
    for _ = 1, N do
      local i = lugo.select { a:case_recv(), b:case_recv() }
      counts[i] = counts[i] + 1
    end
    assert_fair(counts, 2)
  end)

  it("between two buffered channels kept full", function()
    local chans = { lugo.chan(1), lugo.chan(1) }
    chans[1]:send(1)
    chans[2]:send(2)
    local counts = { 0, 0 }
    for _ = 1, N do
      local i, v = lugo.select { chans[1]:case_recv(), chans[2]:case_recv() }
      assert.are.equal(i, v)
      counts[i] = counts[i] + 1
      chans[i]:send(i)
    end
    assert_fair(counts, 2)
  end)

  it("between two send cases with room", function()
    local chans = { lugo.chan(1), lugo.chan(1) }
    local counts = { 0, 0 }
    for _ = 1, N do
      local i = lugo.select { chans[1]:case_send(1), chans[2]:case_send(2) }
      counts[i] = counts[i] + 1
      assert.are.equal(i, chans[i]:recv())
    end
    assert_fair(counts, 2)
  end)

  it("between a ready receive and a ready send", function()
    local r, s = lugo.chan(1), lugo.chan(1)
    r:send("x")
    local counts = { 0, 0 }
    for _ = 1, N do
      local i = lugo.select { r:case_recv(), s:case_send("y") }
      counts[i] = counts[i] + 1
      if i == 1 then r:send("x") else s:recv() end
    end
    assert_fair(counts, 2)
  end)

  it("between two cases on the same ready channel", function()
    local c = lugo.chan()
    c:close()
    local counts = { 0, 0 }
    for _ = 1, N do
      local i = lugo.select { c:case_recv(), c:case_recv() }
      counts[i] = counts[i] + 1
    end
    assert_fair(counts, 2)
  end)

  it("with default present, ready cases are still chosen evenly", function()
    local a, b = lugo.chan(), lugo.chan()
    a:close()
    b:close()
    local counts = { 0, 0 }
    for _ = 1, N do
      local i = lugo.select { a:case_recv(), b:case_recv(), default = true }
      counts[i] = counts[i] + 1
    end
    assert_fair(counts, 2)
  end)

  it("in a goroutine too", function()
    local counts = in_goroutine(function(n)
      local a, b = lugo.chan(), lugo.chan()
      a:close()
      b:close()
      local t = { 0, 0 }
      for _ = 1, n do
        local i = lugo.select { a:case_recv(), b:case_recv() }
        t[i] = t[i] + 1
      end
      return t
    end, N)
    assert_fair(counts, 2)
  end)

  it("among four ready cases each is chosen about a quarter of the time", function()
    local cs = {}
    for k = 1, 4 do cs[k] = lugo.chan(); cs[k]:close() end
    local counts = { 0, 0, 0, 0 }
    for _ = 1, N do
      local i = lugo.select { cs[1]:case_recv(), cs[2]:case_recv(),
                              cs[3]:case_recv(), cs[4]:case_recv() }
      counts[i] = counts[i] + 1
    end
    assert_fair(counts, 4)
  end)
end)

describe("send case on a closed channel", function()
  it("raises 'send on closed channel' when chosen", function()
    local c = lugo.chan(1)
    c:close()
    raises("send on closed channel", lugo.select, { c:case_send(1) })
  end)

  it("counts as ready and raises also with default present", function()
    local c = lugo.chan(1)
    c:close()
    local called = false
    raises("send on closed channel", lugo.select,
      { c:case_send(1), default = function() called = true end })
    assert.is_false(called)
    raises("send on closed channel", lugo.select, { c:case_send(1), default = true })
  end)

  it("counts as ready next to cases that are not", function()
    local c, idle = lugo.chan(), lugo.chan()
    c:close()
    for _ = 1, 20 do
      raises("send on closed channel", lugo.select,
        { idle:case_recv(), c:case_send(1), idle:case_send(2) })
    end
  end)

  it("is chosen at random among ready cases; when not chosen nothing is raised", function()
    local c, r = lugo.chan(), lugo.chan()
    c:close()
    r:close()
    local raised, received = 0, 0
    for _ = 1, 400 do
      local ok, i, v, rok = pcall(lugo.select, { c:case_send(1), r:case_recv() })
      if ok then
        assert.are.same({ 2, nil, false }, { i, v, rok })
        received = received + 1
      else
        assert_message("send on closed channel", i)
        raised = raised + 1
      end
    end
    assert.is_true(raised > 100 and received > 100, raised .. " / " .. received)
  end)

  it("raises in a parked select when the channel is closed meanwhile", function()
    local c, idle, res = lugo.chan(), lugo.chan(), lugo.chan()
    local id = lugo.go(function()
      res:send(table.pack(pcall(lugo.select, { idle:case_recv(), c:case_send("x") })))
    end)
    wait_parked(id, "select")
    c:close()
    local r = res:recv()
    assert.is_false(r[1])
    assert_message("send on closed channel", r[2])
  end)

  it("raises in a goroutine, with and without default", function()
    local r = table.pack(in_goroutine(function()
      local c = lugo.chan()
      c:close()
      local ok1, e1 = pcall(lugo.select, { c:case_send(1) })
      local ok2, e2 = pcall(lugo.select, { c:case_send(1), default = true })
      return ok1, e1, ok2, e2
    end))
    assert.is_false(r[1])
    assert_message("send on closed channel", r[2])
    assert.is_false(r[3])
    assert_message("send on closed channel", r[4])
  end)

  it("does not call the send handler", function()
    local c = lugo.chan()
    c:close()
    local called = false
    raises("send on closed channel", lugo.select,
      { c:case_send(1, function() called = true end) })
    assert.is_false(called)
  end)
end)

describe("direction views", function()
  it("case_recv on a send-only view raises 'receive from send-only channel'", function()
    local c = lugo.chan(1)
    local s = c:sendonly()
    raises("receive from send-only channel", function() return s:case_recv() end)
    raises("receive from send-only channel", function() return s:case_recv(function() end) end)
  end)

  it("case_send on a receive-only view raises 'send on receive-only channel'", function()
    local c = lugo.chan(1)
    local r = c:recvonly()
    raises("send on receive-only channel", function() return r:case_send(1) end)
    raises("send on receive-only channel", function() return r:case_send(1, function() end) end)
    assert.are.equal(0, c:len())
  end)

  it("the allowed cases on views work on the channel", function()
    local c = lugo.chan(1)
    assert.are.same({ 1, n = 1 }, table.pack(lugo.select { c:sendonly():case_send("via view") }))
    assert.are.same({ 1, "via view", true, n = 3 },
      table.pack(lugo.select { c:recvonly():case_recv() }))
  end)

  it("raise the same errors in a goroutine", function()
    local r = table.pack(in_goroutine(function(s, rv)
      local ok1, e1 = pcall(function() return s:case_recv() end)
      local ok2, e2 = pcall(function() return rv:case_send(1) end)
      local ok3 = pcall(function() return lugo.select { s:case_send("g") } end)
      return ok1, e1, ok2, e2, ok3
    end, lugo.chan(1):sendonly(), lugo.chan(1):recvonly()))
    assert.is_false(r[1])
    assert_message("receive from send-only channel", r[2])
    assert.is_false(r[3])
    assert_message("send on receive-only channel", r[4])
    assert.is_true(r[5])
  end)
end)

describe("the same channel in several cases", function()
  it("two receive cases on one ready channel: one value, either index", function()
    local seen = {}
    for _ = 1, 200 do
      local c = lugo.chan(2)
      c:send("v")
      local i, v, ok = lugo.select { c:case_recv(), c:case_recv() }
      assert.are.equal("v", v)
      assert.is_true(ok)
      assert.are.equal(0, c:len())
      seen[i] = true
    end
    assert.is_true(seen[1] and seen[2])
  end)

  it("a receive and a send case on one buffered channel: only the ready one", function()
    local c = lugo.chan(1)
    assert.are.same({ 2, n = 1 }, table.pack(lugo.select { c:case_recv(), c:case_send("s") }))
    -- now full: only the receive can proceed
    assert.are.same({ 1, "s", true, n = 3 },
      table.pack(lugo.select { c:case_recv(), c:case_send("t") }))
  end)

  it("main parked on one channel in two cases takes one value once", function()
    local c = lugo.chan()
    lugo.go(function()
      c:send(require("support").parked(1, "select") and "once" or "main never parked")
    end)
    local i, v = lugo.select { c:case_recv(), c:case_recv() }
    assert.is_true(i == 1 or i == 2)
    assert.are.equal("once", v)
    -- no waiter of that select is left behind on c
    assert.is_nil(lugo.select { c:case_send("stale?"), default = true })
  end)

  it("a goroutine parked on one channel in two cases takes one value once", function()
    for _ = 1, 20 do
      local c, res = lugo.chan(), lugo.chan(1)
      local id = lugo.go(function()
        res:send(table.pack(lugo.select { c:case_recv(), c:case_recv() }))
      end)
      wait_parked(id, "select")
      c:send("one")
      local r = res:recv()
      assert.are.equal("one", r[2])
      assert.is_nil(lugo.select { c:case_send("stale?"), default = true })
    end
  end)

  it("a goroutine parked with a send and a receive case on one unbuffered channel", function()
    -- served by a sender: the receive case wins
    local c, res = lugo.chan(), lugo.chan(1)
    local id = lugo.go(function()
      res:send(table.pack(lugo.select { c:case_send("out"), c:case_recv() }))
    end)
    wait_parked(id, "select")
    c:send("in")
    assert.are.same({ 2, "in", true, n = 3 }, res:recv())
    assert.is_nil(lugo.select { c:case_send("stale?"), c:case_recv(), default = true })
    -- served by a receiver: the send case wins
    id = lugo.go(function()
      res:send(table.pack(lugo.select { c:case_send("out"), c:case_recv() }))
    end)
    wait_parked(id, "select")
    assert.are.same({ "out", true }, { c:recv() })
    assert.are.same({ 1, n = 1 }, res:recv())
    assert.is_nil(lugo.select { c:case_send("stale?"), c:case_recv(), default = true })
  end)

  it("main parked with a send and a receive case on one unbuffered channel", function()
    local c = lugo.chan()
    lugo.go(function()
      c:send(require("support").parked(1, "select") and "from g" or "main never parked")
    end)
    assert.are.same({ 2, "from g", true, n = 3 },
      table.pack(lugo.select { c:case_send("from main"), c:case_recv() }))
  end)

  it("the same case value in two selects", function()
    local c = lugo.chan(2)
    local k = c:case_send("again")
    lugo.select { k }
    lugo.select { k }
    assert.are.equal(2, c:len())
    assert.are.equal("again", c:recv())
    assert.are.equal("again", c:recv())
  end)
end)

describe("case_send copies its value", function()
  it("when the case is built: later changes to the table are not seen", function()
    local c = lugo.chan(1)
    local t = { x = 1, inner = { y = 2 } }
    local k = c:case_send(t)
    t.x = 100
    t.inner.y = 200
    t.z = "new"
    lugo.select { k }
    local got = c:recv()
    assert.are.same({ x = 1, inner = { y = 2 } }, got)
    assert.is_false(rawequal(got, t))
  end)

  it("when the case is built, also for a parked select served later", function()
    local c = lugo.chan()
    local t = { n = 1 }
    local k = c:case_send(t)
    t.n = 2
    local res = lugo.chan(1)
    lugo.go(function() res:send(c:recv()) end)
    lugo.select { k }
    assert.are.same({ n = 1 }, res:recv())
  end)

  it("a value that cannot be transferred raises at case_send", function()
    local c = lugo.chan(1)
    local co = coroutine.create(function() end)
    local ok, err = pcall(function() return c:case_send(co) end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer"), tostring(err))
    ok, err = pcall(function() return c:case_send({ inner = { co } }) end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer"), tostring(err))
    assert.are.equal(0, c:len())
  end)

  it("an untransferable value raises at case_send in a goroutine too", function()
    local ok, err = pcall_in_goroutine(function()
      local c = lugo.chan(1)
      return c:case_send(coroutine.create(function() end))
    end)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer"), tostring(err))
  end)

  it("carries lugo objects by reference", function()
    local c = lugo.chan(1)
    local inner = lugo.chan(1)
    lugo.select { c:case_send(inner) }
    local _, got = lugo.select { c:case_recv() }
    assert.is_true(got == inner)
  end)
end)

describe("lugo.select{}", function()
  it("blocks for ever: in a child it ends as a deadlock with reason 'select (no cases)'", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      print("before")
      io.stdout:flush()
      lugo.select{}
      print("after")
    ]])
    assert.are.equal("before\n", out)
    assert.are.equal(2, code)
    assert.is_true(has(err, "fatal error: all goroutines are asleep - deadlock!"), err)
    assert.is_true(has(err, "goroutine 1 [select (no cases)]:"), err)
  end)

  it("blocks for ever in a goroutine while main goes on", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local started = lugo.chan()
      local id = lugo.go(function() started:send(); lugo.select{}; print("never") end)
      started:recv()
      print(require("support").parked(id, "select (no cases)"))
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("true\n", out)
  end)

  it("with default = true returns nil at once", function()
    assert.are.same({ nil, n = 1 }, table.pack(lugo.select { default = true }))
  end)
end)

describe("select with timers", function()
  it("a lugo.after case fires when nothing else is ready", function()
    local c = lugo.chan()
    local t0 = lugo.now()
    local i, v = lugo.select {
      c:case_recv(),
      lugo.after(0.05):case_recv(function() return "timeout" end),
    }
    assert.are.equal(2, i)
    assert.are.equal("timeout", v)
    assert.is_true(lugo.now() - t0 >= 0.04)
  end)
end)

-- Stress: 4 sender and 4 receiver goroutines select over 4 shared channels
-- (capacities 0, 1, 4 and 16). Senders send N unique values each, the
-- select choosing the channel; halfway, a closer closes channel 4 once every
-- sender has stopped using it, and the senders go on over channels 1 to 3.
-- Receivers select over every channel still open and drop a channel when
-- its case reports it closed; after the senders finish, the closer closes
-- the rest. Every value must be received exactly once.
local STRESS = [=[
local lugo = require "lugo"
local N = tonumber(arg[1])
local NS, NR = 4, 4
local chans = { lugo.chan(0), lugo.chan(1), lugo.chan(4), lugo.chan(16) }
local half_wg, done_wg = lugo.waitgroup(), lugo.waitgroup()
local gate = lugo.chan()
local results = lugo.chan(NR)
half_wg:add(NS)
done_wg:add(NS)
for s = 1, NS do
  lugo.go(function()
    local half = N // 2
    for i = 1, N do
      if i == half + 1 then
        half_wg:done()
        gate:recv()                 -- wait until channel 4 is closed
      end
      local v = s * 1000000 + i
      local last = i <= half and 4 or 3
      while true do
        local cases = {}
        for k = 1, last do cases[k] = chans[k]:case_send(v) end
        if i % 5 == 0 then cases.default = true end
        if lugo.select(cases) ~= nil then break end
        lugo.yield()
      end
    end
    done_wg:done()
  end)
end
for _ = 1, NR do
  lugo.go(function()
    local open = { 1, 2, 3, 4 }
    local got, per = {}, { 0, 0, 0, 0 }
    local n = 0
    while #open > 0 do
      local cases = {}
      for j, k in ipairs(open) do cases[j] = chans[k]:case_recv() end
      n = n + 1
      if n % 7 == 0 then cases.default = function() lugo.yield() end end
      local j, v, ok = lugo.select(cases)
      if j ~= nil then
        if ok then
          got[#got + 1] = v
          per[open[j]] = per[open[j]] + 1
        else
          table.remove(open, j)
        end
      end
    end
    results:send({ got = got, per = per })
  end)
end
lugo.go(function()
  half_wg:wait()
  chans[4]:close()
  gate:close()
  done_wg:wait()
  for k = 1, 3 do chans[k]:close() end
end)
local seen, count, sum, dup = {}, 0, 0, 0
local per = { 0, 0, 0, 0 }
for _ = 1, NR do
  local r = results:recv()
  for _, v in ipairs(r.got) do
    if seen[v] then dup = dup + 1 end
    seen[v] = true
    count = count + 1
    sum = sum + v
  end
  for k = 1, 4 do per[k] = per[k] + r.per[k] end
end
local want_sum = 0
local missing = 0
for s = 1, NS do
  for i = 1, N do
    want_sum = want_sum + s * 1000000 + i
    if not seen[s * 1000000 + i] then missing = missing + 1 end
  end
end
print(count, NS * N, sum == want_sum, dup, missing)
print(per[1] > 0, per[2] > 0, per[3] > 0, per[4] > 0)
]=]

describe("stress", function()
  local N = 2000
  for _, env in ipairs { "", "LUGO_WORKERS=1", "LUGO_WORKERS=3" } do
    it("8 goroutines select over 4 shared channels with a close" ..
       (env ~= "" and " (" .. env .. ")" or ""), function()
      local out, err, code = child(STRESS, { tostring(N) }, env)
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal(("%d\t%d\ttrue\t0\t0\ntrue\ttrue\ttrue\ttrue\n"):format(4 * N, 4 * N), out)
    end)
  end
end)

describe("lugo.select with false cases (Go's nil channel)", function()
  it("never chooses a false case and keeps the others' indices", function()
    local ch, quit = lugo.chan(), lugo.chan(1)
    quit:send("q")
    local ready = false
    local i, v, ok = lugo.select { ready and ch:case_recv() or false, quit:case_recv() }
    assert.are.same({ 2, "q", true }, { i, v, ok })
  end)

  it("calls the handler of the case at its own index", function()
    local c = lugo.chan(1)
    c:send(7)
    local i, a, b = lugo.select { false, false, c:case_recv(function(v, ok) return "got", v end) }
    assert.are.same({ 3, "got", 7 }, { i, a, b })
  end)

  it("waits for the real cases when the false ones come first and last", function()
    local ch = lugo.chan()
    lugo.go(function() lugo.sleep(0.02); ch:send(5) end)
    local i, v, ok = lugo.select { false, ch:case_recv(), false }
    assert.are.same({ 2, 5, true }, { i, v, ok })
  end)

  it("with only false cases and a default, returns nil at once", function()
    assert.are.same({ nil, "d" }, { lugo.select { false, false, default = function() return "d" end } })
    assert.is_nil((lugo.select { false, default = true }))
  end)

  it("a send case that is false sends nothing", function()
    local c = lugo.chan(1)
    local i = lugo.select { false and c:case_send(1) or false, default = true }
    assert.is_nil(i)
    assert.are.equal(0, #c)
  end)

  it("still rejects other values, naming the case", function()
    local ok, err = pcall(lugo.select, { false, 42 })
    assert.is_false(ok)
    assert.is_true(has(err, "bad argument #1 to 'select' (case #2 is a number, not a case built by case_recv or case_send)"), err)
    ok, err = pcall(lugo.select, { true })
    assert.is_false(ok)
    assert.is_true(has(err, "(case #1 is a boolean, not a case"), err)
  end)

  it("with only false cases blocks for ever: a deadlock in a child", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      print("before")
      io.stdout:flush()
      lugo.select { false, false }
      print("after")
    ]])
    assert.are.equal("before\n", out)
    assert.are.equal(2, code)
    assert.is_true(has(err, "goroutine 1 [select (no cases)]:"), err)
  end)
end)

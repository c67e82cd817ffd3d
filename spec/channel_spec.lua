-- channel_spec.lua: lugo.chan and everything API.md says about channels:
-- capacities, send/recv between goroutines and the main goroutine, close,
-- len/#/cap, range, direction views, <close>, nil as a signal, hand-off and
-- order, and values of every kind crossing intact.
local lugo = require "lugo"

-- busted runs this file with a proxy _ENV that cannot be copied into a
-- goroutine (it reaches busted's internals). Keep busted's names as locals
-- and give every function below the real globals: a goroutine function's
-- _ENV then travels as "the receiver's globals".
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"
local has, in_goroutine, wait_parked = support.has, support.in_goroutine, support.wait_parked
-- Calls fn(...) and checks that it raises an error containing expected.
local raises = support.raises_with

-- Sends v to a goroutine that sends it straight back: two crossings.
local function roundtrip(v)
  local to, back = lugo.chan(), lugo.chan()
  lugo.go(function()
    local x, ok = to:recv()
    back:send(x)
  end)
  to:send(v)
  local r, ok = back:recv()
  assert.is_true(ok)
  return r
end

describe("lugo.chan", function()
  it("makes an unbuffered channel by default", function()
    local c = lugo.chan()
    assert.are.equal(0, c:cap())
    assert.are.equal(0, c:len())
    assert.are.equal(0, #c)
  end)

  it("makes an unbuffered channel with capacity 0", function()
    local c = lugo.chan(0)
    assert.are.equal(0, c:cap())
    assert.are.equal(0, c:len())
  end)

  it("makes a buffered channel with capacity n", function()
    for _, n in ipairs { 1, 2, 7, 128, 100000 } do
      local c = lugo.chan(n)
      assert.are.equal(n, c:cap())
      assert.are.equal(0, c:len())
      assert.are.equal(0, #c)
    end
  end)

  it("returns a distinct channel every call", function()
    local a, b = lugo.chan(), lugo.chan()
    assert.is_false(a == b)
    a = lugo.chan(1)
    b = lugo.chan(1)
    a:send("only in a")
    assert.are.equal(1, a:len())
    assert.are.equal(0, b:len())
  end)

  it("raises bad argument #1 to 'chan' for a capacity that is not an integer >= 0", function()
    local bad = { -1, 1.5, "3", {}, true, false, -math.huge, math.huge, 0 / 0,
                  math.mininteger, print, lugo.chan() }
    for _, v in ipairs(bad) do
      local ok, err = pcall(function()
        local c = lugo.chan(v)   -- not a tail call: keeps the name 'chan'
        return c
      end)
      assert.is_false(ok, "lugo.chan(" .. tostring(v) .. ") did not raise")
      assert.is_true(has(err, "bad argument #1 to 'chan'"),
        "lugo.chan(" .. tostring(v) .. "): " .. tostring(err))
    end
  end)

  it("raises bad argument #1 to 'chan' also when called through pcall", function()
    for _, v in ipairs { -1, 1.5, "3", {}, true } do
      local ok, err = pcall(lugo.chan, v)
      assert.is_false(ok, "lugo.chan(" .. tostring(v) .. ") did not raise")
      assert.is_true(has(err, "bad argument #1 to 'chan'"),
        "pcall(lugo.chan, " .. tostring(v) .. "): " .. tostring(err))
    end
  end)
end)

describe("send and recv", function()
  it("buffer values in FIFO order in the main goroutine", function()
    local c = lugo.chan(3)
    c:send(1)
    c:send("two")
    c:send(3.5)
    local v, ok = c:recv()
    assert.are.equal(1, v)
    assert.is_true(ok)
    v, ok = c:recv()
    assert.are.equal("two", v)
    assert.is_true(ok)
    v, ok = c:recv()
    assert.are.equal(3.5, v)
    assert.is_true(ok)
  end)

  it("recv returns exactly v, true for a value", function()
    local c = lugo.chan(1)
    c:send(42)
    assert.are.equal(2, select("#", c:recv()))
    c:send(42)
    local r = table.pack(c:recv())
    assert.are.same({ 42, true, n = 2 }, r)
  end)

  it("send returns nothing", function()
    local c = lugo.chan(1)
    assert.are.equal(0, select("#", c:send(1)))
  end)

  it("carry values from a goroutine to main over an unbuffered channel", function()
    local c = lugo.chan()
    lugo.go(function()
      for i = 1, 100 do c:send(i) end
    end)
    for i = 1, 100 do
      local v, ok = c:recv()
      assert.are.equal(i, v)
      assert.is_true(ok)
    end
  end)

  it("carry values from main to a goroutine over an unbuffered channel", function()
    local input, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      local sum = 0
      for _ = 1, 100 do sum = sum + input:recv() end
      result:send(sum)
    end)
    for i = 1, 100 do input:send(i) end
    assert.are.equal(5050, result:recv())
  end)

  it("ping-pong between main and a goroutine", function()
    local ping, pong = lugo.chan(), lugo.chan()
    lugo.go(function()
      for _ = 1, 200 do
        local v = ping:recv()
        pong:send(v * 2)
      end
    end)
    for i = 1, 200 do
      ping:send(i)
      assert.are.equal(i * 2, pong:recv())
    end
  end)

  it("carry values between two goroutines", function()
    local c, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      for i = 1, 1000 do c:send(i) end
      c:close()
    end)
    lugo.go(function()
      local n, sum = 0, 0
      while true do
        local v, ok = c:recv()
        if not ok then break end
        n, sum = n + 1, sum + v
      end
      result:send({ n = n, sum = sum })
    end)
    assert.are.same({ n = 1000, sum = 500500 }, result:recv())
  end)

  it("work the same on a buffered channel between main and goroutines", function()
    local to, back = lugo.chan(4), lugo.chan(4)
    lugo.go(function()
      for _ = 1, 300 do back:send(to:recv() + 1) end
    end)
    local got = {}
    lugo.go(function()
      for i = 1, 300 do to:send(i) end
    end)
    for i = 1, 300 do got[i] = back:recv() end
    for i = 1, 300 do assert.are.equal(i + 1, got[i]) end
  end)

  it("block a goroutine receiver until main sends", function()
    local c, result = lugo.chan(), lugo.chan()
    local id = lugo.go(function()
      local v, ok = c:recv()
      result:send({ v = v, ok = ok })
    end)
    wait_parked(id, "chan receive")
    c:send("late")
    assert.are.same({ v = "late", ok = true }, result:recv())
  end)
end)

describe("close", function()
  it("makes recv return nil, false once the channel is drained", function()
    local c = lugo.chan()
    c:close()
    local r = table.pack(c:recv())
    assert.are.same({ nil, false, n = 2 }, r)
    r = table.pack(c:recv())                     -- and again
    assert.are.same({ nil, false, n = 2 }, r)
  end)

  it("still delivers buffered values, then nil, false", function()
    local c = lugo.chan(3)
    c:send("a")
    c:send("b")
    c:close()
    local v, ok = c:recv()
    assert.are.equal("a", v)
    assert.is_true(ok)
    v, ok = c:recv()
    assert.are.equal("b", v)
    assert.is_true(ok)
    v, ok = c:recv()
    assert.is_nil(v)
    assert.is_false(ok)
  end)

  it("delivers buffered values after close to a goroutine", function()
    local c = lugo.chan(5)
    for i = 1, 5 do c:send(i * 10) end
    c:close()
    local got = in_goroutine(function()
      local t = {}
      while true do
        local v, ok = c:recv()
        if not ok then break end
        t[#t + 1] = v
      end
      return t
    end)
    assert.are.same({ 10, 20, 30, 40, 50 }, got)
  end)

  it("returns nothing", function()
    local c = lugo.chan()
    assert.are.equal(0, select("#", c:close()))
  end)

  it("raises close of closed channel on a second close", function()
    local c = lugo.chan()
    c:close()
    raises("close of closed channel", c.close, c)
    local b = lugo.chan(2)
    b:send(1)
    b:close()
    raises("close of closed channel", function() b:close() end)
  end)

  it("makes send raise send on closed channel", function()
    local c = lugo.chan()
    c:close()
    raises("send on closed channel", c.send, c, 1)
    local b = lugo.chan(4)
    b:close()
    raises("send on closed channel", function() b:send("x") end)
    raises("send on closed channel", function() b:send(nil) end)
    assert.are.equal(0, b:len())                 -- nothing was buffered
  end)

  it("makes send raise send on closed channel in a goroutine", function()
    local c = lugo.chan(1)
    c:close()
    local ok, err = in_goroutine(function() return pcall(c.send, c, 1) end)
    assert.is_false(ok)
    assert.is_true(has(err, "send on closed channel"), tostring(err))
    ok, err = in_goroutine(function() return pcall(c.close, c) end)
    assert.is_false(ok)
    assert.is_true(has(err, "close of closed channel"), tostring(err))
  end)

  it("wakes every blocked receiver with nil, false", function()
    local c = lugo.chan()
    local results = lugo.chan(8)
    local ids = {}
    for i = 1, 8 do
      ids[i] = lugo.go(function()
        local v, ok = c:recv()
        results:send({ i = i, isnil = v == nil, ok = ok })
      end)
    end
    for i = 1, 8 do wait_parked(ids[i], "chan receive") end
    assert.are.equal(0, results:len())           -- nobody got anything yet
    c:close()
    local seen = {}
    for _ = 1, 8 do
      local r = results:recv()
      assert.is_true(r.isnil)
      assert.is_false(r.ok)
      seen[r.i] = true
    end
    for i = 1, 8 do assert.is_true(seen[i]) end
  end)

  it("wakes every blocked receiver of a buffered channel", function()
    local c = lugo.chan(3)
    local results = lugo.chan(6)
    local ids = {}
    for i = 1, 6 do
      ids[i] = lugo.go(function()
        local v, ok = c:recv()
        results:send({ isnil = v == nil, ok = ok })
      end)
    end
    for i = 1, 6 do wait_parked(ids[i], "chan receive") end
    c:close()
    for _ = 1, 6 do
      assert.are.same({ isnil = true, ok = false }, results:recv())
    end
  end)

  it("wakes every blocked sender with send on closed channel", function()
    local c = lugo.chan()
    local results = lugo.chan(8)
    local ids = {}
    for i = 1, 8 do
      ids[i] = lugo.go(function()
        local ok, err = pcall(c.send, c, i)
        results:send({ i = i, ok = ok, err = err })
      end)
    end
    for i = 1, 8 do wait_parked(ids[i], "chan send") end
    assert.are.equal(0, results:len())           -- every sender still blocked
    c:close()
    local seen = {}
    for _ = 1, 8 do
      local r = results:recv()
      assert.is_false(r.ok)
      assert.is_true(has(r.err, "send on closed channel"), tostring(r.err))
      seen[r.i] = true
    end
    for i = 1, 8 do assert.is_true(seen[i]) end
    local v, ok = c:recv()                       -- no value got through
    assert.is_nil(v)
    assert.is_false(ok)
  end)

  it("wakes a sender blocked on a full buffer; the buffered value stays", function()
    local c = lugo.chan(1)
    c:send("kept")
    local result = lugo.chan(1)
    local id = lugo.go(function()
      local ok, err = pcall(c.send, c, "refused")
      result:send({ ok = ok, err = err })
    end)
    wait_parked(id, "chan send")
    assert.are.equal(0, result:len())            -- blocked: the buffer is full
    c:close()
    local r = result:recv()
    assert.is_false(r.ok)
    assert.is_true(has(r.err, "send on closed channel"), tostring(r.err))
    local v, ok = c:recv()
    assert.are.equal("kept", v)
    assert.is_true(ok)
    v, ok = c:recv()
    assert.is_nil(v)
    assert.is_false(ok)
  end)

  it("wakes the main goroutine blocked in recv", function()
    local c, ready = lugo.chan(), lugo.chan()
    lugo.go(function()
      ready:recv()
      c:close()
    end)
    ready:send(true)
    local r = table.pack(c:recv())
    assert.are.same({ nil, false, n = 2 }, r)
  end)

  it("wakes the main goroutine blocked in send with send on closed channel", function()
    local c, ready = lugo.chan(), lugo.chan()
    lugo.go(function()
      ready:recv()
      c:close()
    end)
    ready:send(true)
    local ok, err = pcall(c.send, c, "never taken")
    assert.is_false(ok)
    assert.is_true(has(err, "send on closed channel"), tostring(err))
  end)

  it("works on a send-only view", function()
    local c = lugo.chan(1)
    local s = c:sendonly()
    s:send(1)
    s:close()
    assert.are.same({ 1, true, n = 2 }, table.pack(c:recv()))
    assert.are.same({ nil, false, n = 2 }, table.pack(c:recv()))
    raises("close of closed channel", s.close, s)
    raises("close of closed channel", c.close, c)
  end)
end)

describe("len, # and cap", function()
  it("count the values buffered now", function()
    local c = lugo.chan(4)
    assert.are.equal(0, c:len())
    c:send("a")
    assert.are.equal(1, c:len())
    assert.are.equal(1, #c)
    c:send("b")
    c:send("c")
    assert.are.equal(3, c:len())
    assert.are.equal(3, #c)
    c:recv()
    assert.are.equal(2, c:len())
    assert.are.equal(2, #c)
    c:send(nil)                                  -- a nil is a value too
    c:send(false)
    assert.are.equal(4, c:len())
    assert.are.equal(4, #c)
    assert.are.equal(4, c:cap())
  end)

  it("keep counting buffered values after close", function()
    local c = lugo.chan(3)
    c:send(1)
    c:send(2)
    c:close()
    assert.are.equal(2, c:len())
    assert.are.equal(2, #c)
    assert.are.equal(3, c:cap())
    c:recv()
    assert.are.equal(1, #c)
    c:recv()
    assert.are.equal(0, #c)
    c:recv()
    assert.are.equal(0, #c)
  end)

  it("return integers", function()
    local c = lugo.chan(2)
    c:send(1)
    assert.are.equal("integer", math.type(c:len()))
    assert.are.equal("integer", math.type(#c))
    assert.are.equal("integer", math.type(c:cap()))
  end)

  it("are 0 for an unbuffered channel with a blocked sender", function()
    local c = lugo.chan()
    local id = lugo.go(function()
      c:send("waiting")
    end)
    wait_parked(id, "chan send")
    assert.are.equal(0, c:len())
    assert.are.equal(0, #c)
    assert.are.equal(0, c:cap())
    assert.are.equal("waiting", c:recv())
  end)

  it("see the same channel from a goroutine", function()
    local c = lugo.chan(5)
    c:send(1)
    c:send(2)
    local len, hash, cap = in_goroutine(function() return c:len(), #c, c:cap() end)
    assert.are.equal(2, len)
    assert.are.equal(2, hash)
    assert.are.equal(5, cap)
  end)
end)

describe("range", function()
  it("iterates the values and ends when the channel is closed and drained", function()
    local c = lugo.chan(5)
    for i = 1, 5 do c:send(i) end
    c:close()
    local got = {}
    for v in c:range() do got[#got + 1] = v end
    assert.are.same({ 1, 2, 3, 4, 5 }, got)
    assert.are.same({ nil, false, n = 2 }, table.pack(c:recv()))
  end)

  it("ends at once on a closed empty channel", function()
    local c = lugo.chan()
    c:close()
    local n = 0
    for _ in c:range() do n = n + 1 end
    assert.are.equal(0, n)
  end)

  it("follows a producer goroutine in main until it closes", function()
    local c = lugo.chan()
    lugo.go(function()
      for i = 1, 500 do c:send(i) end
      c:close()
    end)
    local n = 0
    for v in c:range() do
      n = n + 1
      assert.are.equal(n, v)
    end
    assert.are.equal(500, n)
  end)

  it("runs in a goroutine fed by main", function()
    local c, result = lugo.chan(3), lugo.chan()
    lugo.go(function()
      local n, sum = 0, 0
      for v in c:range() do n, sum = n + 1, sum + v end
      result:send({ n = n, sum = sum })
    end)
    for i = 1, 100 do c:send(i) end
    c:close()
    assert.are.same({ n = 100, sum = 5050 }, result:recv())
  end)

  it("yields one value per step (the value, not v, ok)", function()
    local c = lugo.chan(2)
    c:send("x")
    c:send(false)
    c:close()
    local steps = {}
    for a, b in c:range() do steps[#steps + 1] = { a = a, b = b } end
    -- false stops a for loop only if it is nil: false is delivered
    assert.are.same({ { a = "x" }, { a = false } }, steps)
  end)

  it("ends early at a nil value; later values stay in the channel", function()
    local c = lugo.chan(4)
    c:send(1)
    c:send(nil)
    c:send(3)
    c:close()
    local got = {}
    for v in c:range() do got[#got + 1] = v end
    assert.are.same({ 1 }, got)
    assert.are.same({ 3, true, n = 2 }, table.pack(c:recv()))
    assert.are.same({ nil, false, n = 2 }, table.pack(c:recv()))
  end)

  it("two ranges over one channel share its values", function()
    local c, results = lugo.chan(), lugo.chan(2)
    for _ = 1, 2 do
      lugo.go(function()
        local n, sum = 0, 0
        for v in c:range() do n, sum = n + 1, sum + v end
        results:send({ n = n, sum = sum })
      end)
    end
    for i = 1, 1000 do c:send(i) end
    c:close()
    local a, b = results:recv(), results:recv()
    assert.are.equal(1000, a.n + b.n)
    assert.are.equal(500500, a.sum + b.sum)
  end)
end)

describe("views", function()
  local methods = { "send", "recv", "close", "len", "cap", "range", "sendonly", "recvonly",
                    "case_recv", "case_send" }

  it("have every channel method", function()
    local c = lugo.chan(1)
    for _, view in ipairs { c:sendonly(), c:recvonly() } do
      for _, name in ipairs(methods) do
        assert.are.equal("function", type(view[name]), name)
      end
    end
  end)

  it("are == their channel and each other", function()
    local c = lugo.chan()
    local s, r = c:sendonly(), c:recvonly()
    assert.is_true(s == c)
    assert.is_true(c == s)
    assert.is_true(r == c)
    assert.is_true(c == r)
    assert.is_true(s == r)
    assert.is_true(c:sendonly() == s)
    assert.is_true(c:recvonly() == r)
    local other = lugo.chan()
    assert.is_false(s == other)
    assert.is_false(r == other)
    assert.is_false(other:recvonly() == r)
  end)

  it("a send-only view sends into the channel and can close it", function()
    local c = lugo.chan(2)
    local s = c:sendonly()
    s:send("via view")
    assert.are.equal(1, c:len())
    assert.are.same({ "via view", true, n = 2 }, table.pack(c:recv()))
    s:close()
    assert.are.same({ nil, false, n = 2 }, table.pack(c:recv()))
    raises("send on closed channel", s.send, s, 1)
  end)

  it("a send-only view raises receive from send-only channel on recv and range", function()
    local c = lugo.chan(2)
    c:send(1)
    local s = c:sendonly()
    raises("receive from send-only channel", s.recv, s)
    raises("receive from send-only channel", function() s:recv() end)
    raises("receive from send-only channel", s.range, s)
    raises("receive from send-only channel", function()
      for _ in s:range() do end
    end)
    assert.are.equal(1, c:len())                 -- nothing was taken
    c:close()
    raises("receive from send-only channel", s.recv, s)  -- also once closed
  end)

  it("a send-only view raises receive from send-only channel on case_recv", function()
    local c = lugo.chan(1)
    local s = c:sendonly()
    raises("receive from send-only channel", s.case_recv, s)
    raises("receive from send-only channel", function() return s:case_recv(function() end) end)
    local i = lugo.select { s:case_send("by select") }  -- its own direction works
    assert.are.equal(1, i)
    assert.are.same({ "by select", true, n = 2 }, table.pack(c:recv()))
  end)

  it("a receive-only view raises send on receive-only channel on case_send", function()
    local c = lugo.chan(1)
    local r = c:recvonly()
    raises("send on receive-only channel", r.case_send, r, 1)
    raises("send on receive-only channel", function() return r:case_send(nil, function() end) end)
    c:send("for select")
    local got = table.pack(lugo.select { r:case_recv() })  -- its own direction works
    assert.are.same({ 1, "for select", true, n = 3 }, got)
  end)

  it("a receive-only view receives and ranges", function()
    local c = lugo.chan(3)
    local r = c:recvonly()
    c:send(1)
    c:send(2)
    c:send(3)
    assert.are.same({ 1, true, n = 2 }, table.pack(r:recv()))
    c:close()
    local got = {}
    for v in r:range() do got[#got + 1] = v end
    assert.are.same({ 2, 3 }, got)
    assert.are.same({ nil, false, n = 2 }, table.pack(r:recv()))
  end)

  it("a receive-only view raises on send and close", function()
    local c = lugo.chan(2)
    local r = c:recvonly()
    raises("send on receive-only channel", r.send, r, 1)
    raises("send on receive-only channel", function() r:send(nil) end)
    raises("close of receive-only channel", r.close, r)
    raises("close of receive-only channel", function() r:close() end)
    assert.are.equal(0, c:len())                 -- nothing was sent
    c:send("open")                               -- and the channel is open
    assert.are.equal("open", c:recv())
    c:close()
    raises("send on receive-only channel", r.send, r, 1)     -- also once closed
    raises("close of receive-only channel", r.close, r)
  end)

  it("support len, # and cap", function()
    local c = lugo.chan(3)
    c:send(1)
    c:send(2)
    for _, view in ipairs { c:sendonly(), c:recvonly() } do
      assert.are.equal(2, view:len())
      assert.are.equal(2, #view)
      assert.are.equal(3, view:cap())
    end
    local u = lugo.chan()
    assert.are.equal(0, #u:recvonly())
    assert.are.equal(0, u:sendonly():cap())
  end)

  it("of a view keep its direction", function()
    local c = lugo.chan(1)
    local s = c:sendonly():sendonly()
    local r = c:recvonly():recvonly()
    assert.is_true(s == c)
    assert.is_true(r == c)
    raises("receive from send-only channel", s.recv, s)
    raises("send on receive-only channel", r.send, r, 1)
  end)

  it("keep their direction in a goroutine and back", function()
    local c = lugo.chan(1)
    local res = lugo.chan(1)
    lugo.go(function(r, s)
      local ok1, e1 = pcall(r.send, r, 1)
      local ok2, e2 = pcall(r.close, r)
      local ok3, e3 = pcall(s.recv, s)
      s:send("from view")
      res:send({ ok1 = ok1, e1 = e1, ok2 = ok2, e2 = e2, ok3 = ok3, e3 = e3,
                 same = r == c and s == c, r = r })
    end, c:recvonly(), c:sendonly())
    local t = res:recv()
    assert.is_false(t.ok1)
    assert.is_true(has(t.e1, "send on receive-only channel"), tostring(t.e1))
    assert.is_false(t.ok2)
    assert.is_true(has(t.e2, "close of receive-only channel"), tostring(t.e2))
    assert.is_false(t.ok3)
    assert.is_true(has(t.e3, "receive from send-only channel"), tostring(t.e3))
    assert.is_true(t.same)
    assert.are.equal("from view", c:recv())
    assert.is_true(t.r == c)
    raises("send on receive-only channel", t.r.send, t.r, 1)  -- still receive-only
  end)

  it("returned by a function give a producer-consumer pipeline", function()
    local function generate(n)
      local out = lugo.chan()
      lugo.go(function()
        for i = 1, n do out:send(i) end
        out:close()
      end)
      return out:recvonly()
    end
    local sum = 0
    for v in generate(50):range() do sum = sum + v end
    assert.are.equal(1275, sum)
  end)
end)

describe("<close>", function()
  it("closes the channel when the scope ends", function()
    local outer
    do
      local ch <close> = lugo.chan(2)
      ch:send("buffered")
      outer = ch
    end
    assert.are.same({ "buffered", true, n = 2 }, table.pack(outer:recv()))
    assert.are.same({ nil, false, n = 2 }, table.pack(outer:recv()))
    raises("send on closed channel", outer.send, outer, 1)
    raises("close of closed channel", outer.close, outer)
  end)

  it("raises nothing when the channel is closed already", function()
    local outer
    local ok, err = pcall(function()
      local ch <close> = lugo.chan()
      ch:close()
      outer = ch
    end)
    assert.is_true(ok, tostring(err))
    assert.are.same({ nil, false, n = 2 }, table.pack(outer:recv()))
  end)

  it("closes the channel when the scope ends by an error", function()
    local outer
    local ok, err = pcall(function()
      local ch <close> = lugo.chan()
      outer = ch
      error("boom")
    end)
    assert.is_false(ok)
    assert.is_true(has(err, "boom"))
    raises("close of closed channel", outer.close, outer)
  end)

  it("ends a goroutine's range over the channel", function()
    local result = lugo.chan()
    do
      local ch <close> = lugo.chan()
      lugo.go(function()
        local n = 0
        for _ in ch:range() do n = n + 1 end
        result:send(n)
      end)
      for i = 1, 3 do ch:send(i) end
    end
    assert.are.equal(3, result:recv())
  end)

  it("works inside a goroutine", function()
    local got = in_goroutine(function()
      local outer
      do
        local ch <close> = lugo.chan(1)
        outer = ch
      end
      local ok, err = pcall(outer.close, outer)
      return err
    end)
    assert.is_true(has(got, "close of closed channel"), tostring(got))
  end)
end)

describe("nil values", function()
  it("done:send() from a goroutine is a signal: recv gives nil, true", function()
    local done = lugo.chan()
    lugo.go(function() done:send() end)
    local r = table.pack(done:recv())
    assert.are.same({ nil, true, n = 2 }, r)
  end)

  it("nil and no value are both buffered as values", function()
    local c = lugo.chan(2)
    c:send()
    c:send(nil)
    assert.are.equal(2, #c)
    assert.are.same({ nil, true, n = 2 }, table.pack(c:recv()))
    assert.are.same({ nil, true, n = 2 }, table.pack(c:recv()))
    assert.are.equal(0, #c)
  end)

  it("a goroutine waits for a signal from main", function()
    local go_ahead, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      local v, ok = go_ahead:recv()
      result:send({ isnil = v == nil, ok = ok })
    end)
    go_ahead:send()
    assert.are.same({ isnil = true, ok = true }, result:recv())
  end)
end)

describe("hand-off and order", function()
  it("an unbuffered send completes only when a receiver takes the value", function()
    local c, after = lugo.chan(), lugo.chan(1)
    local id = lugo.go(function()
      c:send("handed")
      after:send(true)
    end)
    wait_parked(id, "chan send")
    assert.are.equal(0, after:len())             -- still blocked in send
    assert.are.equal("handed", c:recv())
    assert.is_true(after:recv())
  end)

  it("a buffered send completes at once while there is room", function()
    local c, after = lugo.chan(3), lugo.chan(1)
    lugo.go(function()
      for i = 1, 3 do c:send(i) end
      after:send(true)
    end)
    assert.is_true(after:recv())                 -- nobody received yet
    assert.are.equal(3, c:len())
  end)

  it("a send on a full buffer waits for room", function()
    local c, after = lugo.chan(2), lugo.chan(1)
    local id = lugo.go(function()
      c:send(1)
      c:send(2)
      c:send(3)
      after:send(true)
    end)
    wait_parked(id, "chan send")
    assert.are.equal(0, after:len())
    assert.are.equal(2, c:len())
    assert.are.equal(1, c:recv())
    assert.is_true(after:recv())
    assert.are.equal(2, c:recv())
    assert.are.equal(3, c:recv())
  end)

  for _, case in ipairs({ { "unbuffered", 0 }, { "buffered", 7 } }) do
    it("keeps the order of many values from one sender (" .. case[1] .. ")", function()
      local c = lugo.chan(case[2])
      lugo.go(function()
        for i = 1, 2000 do c:send(i) end
        c:close()
      end)
      local expect = 1
      for v in c:range() do
        assert.are.equal(expect, v)
        expect = expect + 1
      end
      assert.are.equal(2001, expect)
    end)
  end

  it("keeps each sender's order when several send on one channel", function()
    local c = lugo.chan(3)
    local wg = lugo.waitgroup()
    for id = 1, 4 do
      wg:add(1)
      lugo.go(function()
        for seq = 1, 250 do c:send({ id = id, seq = seq }) end
        wg:done()
      end)
    end
    lugo.go(function() wg:wait(); c:close() end)
    local last, n = { 0, 0, 0, 0 }, 0
    for m in c:range() do
      assert.are.equal(last[m.id] + 1, m.seq)
      last[m.id] = m.seq
      n = n + 1
    end
    assert.are.equal(1000, n)
    assert.are.same({ 250, 250, 250, 250 }, last)
  end)

  it("keeps the order from main to a goroutine", function()
    local c, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      local expect, inorder = 1, true
      for v in c:range() do
        if v ~= expect then inorder = false end
        expect = expect + 1
      end
      result:send({ inorder = inorder, n = expect - 1 })
    end)
    for i = 1, 1000 do c:send(i) end
    c:close()
    assert.are.same({ inorder = true, n = 1000 }, result:recv())
  end)
end)

describe("values crossing a channel", function()
  it("keep integers and floats apart", function()
    local values = { 0, 1, -1, 42, math.maxinteger, math.mininteger,
                     0.0, 1.0, -1.0, 0.5, -2.25, 2^53, 2^63, 1e300, -1e-300,
                     math.pi, math.huge, -math.huge }
    for _, v in ipairs(values) do
      local r = roundtrip(v)
      assert.are.equal(math.type(v), math.type(r), tostring(v))
      assert.is_true(r == v, tostring(v))
    end
    local nan = roundtrip(0 / 0)
    assert.are.equal("float", math.type(nan))
    assert.is_true(nan ~= nan)
    local negzero = roundtrip(-0.0)
    assert.are.equal("float", math.type(negzero))
    assert.are.equal(-math.huge, 1 / negzero)
  end)

  it("keep integers and floats apart inside the goroutine", function()
    local types = in_goroutine(function(a, b, c)
      return { math.type(a), math.type(b), math.type(c) }
    end, 3, 3.0, 2^63)
    assert.are.same({ "integer", "float", "float" }, types)
    local c = lugo.chan(2)
    c:send(7)
    c:send(7.0)
    local seen = in_goroutine(function()
      return { math.type(c:recv()), math.type(c:recv()) }
    end)
    assert.are.same({ "integer", "float" }, seen)
  end)

  it("keep booleans", function()
    assert.are.equal(true, roundtrip(true))
    assert.are.equal(false, roundtrip(false))
  end)

  it("keep strings byte for byte, \\0 included", function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    local strings = { "", "abc", "a\0b", "\0", "\0\0\0", "tail\0",
                      table.concat(all), string.rep("x\0y", 10000),
                      string.rep("long string ", 100000) }
    for _, s in ipairs(strings) do
      local r = roundtrip(s)
      assert.are.equal("string", type(r))
      assert.are.equal(#s, #r)
      assert.is_true(r == s)
    end
  end)

  it("see \\0 inside strings in the goroutine", function()
    local len, byte = in_goroutine(function(s) return #s, s:byte(2) end, "a\0b")
    assert.are.equal(3, len)
    assert.are.equal(0, byte)
  end)

  it("copy nested tables", function()
    local t = { 1, 2, { 3, { 4, { 5 } } }, x = { y = { z = "deep" } },
                [true] = "yes", [1.5] = "float key", [-7] = "negative",
                mixed = { "a", nil, "c", n = 3 } }
    local r = roundtrip(t)
    assert.are.same(t, r)
    assert.is_false(rawequal(t, r))              -- a copy, not the same table
    r.x.y.z = "changed"
    assert.are.equal("deep", t.x.y.z)
  end)

  it("copy deeply nested tables", function()
    local t = {}
    local node = t
    for i = 1, 150 do
      node.next = { depth = i }
      node = node.next
    end
    local r = roundtrip(t)
    local n = 0
    node = r.next
    while node do
      n = n + 1
      assert.are.equal(n, node.depth)
      node = node.next
    end
    assert.are.equal(150, n)
  end)

  it("keep cycles and shared references inside one value", function()
    local t = { name = "root" }
    t.self = t
    t.child = { parent = t }
    local shared = { "shared" }
    t.a, t.b = shared, shared
    t.list = { shared, t.child }
    local r = roundtrip(t)
    assert.is_false(rawequal(r, t))
    assert.are.equal("root", r.name)
    assert.is_true(rawequal(r.self, r))
    assert.is_true(rawequal(r.child.parent, r))
    assert.is_true(rawequal(r.a, r.b))
    assert.is_true(rawequal(r.list[1], r.a))
    assert.is_true(rawequal(r.list[2], r.child))
    assert.are.equal("shared", r.a[1])
  end)

  it("keep tables used as keys", function()
    local k = { "key" }
    local t = { [k] = "value", k = k }
    local r = roundtrip(t)
    assert.are.equal("value", r[r.k])
    assert.are.equal("key", r.k[1])
  end)

  it("copy metatables", function()
    local mt = { __index = function(_, key) return key .. "!" end,
                 __tostring = function() return "custom" end }
    local t = setmetatable({ real = 1 }, mt)
    local r = roundtrip(t)
    assert.are.equal(1, r.real)
    assert.are.equal("foo!", r.foo)
    assert.are.equal("custom", tostring(r))
  end)

  it("copy functions with their upvalues", function()
    local k = 10
    local cfg = { mult = 3 }
    local function f(x) return (x + k) * cfg.mult end
    local r = roundtrip(f)
    assert.are.equal("function", type(r))
    assert.are.equal(45, r(5))
  end)

  it("copy a closure's state at send time; the copy is independent", function()
    local n = 0
    local function counter() n = n + 1; return n end
    counter()
    counter()
    local r = roundtrip(counter)
    assert.are.equal(3, r())
    assert.are.equal(4, r())
    assert.are.equal(3, counter())               -- the original is untouched
  end)

  it("keep an upvalue shared by two closures in one value", function()
    local n = 0
    local t = { inc = function() n = n + 1 end, get = function() return n end }
    local r = roundtrip(t)
    r.inc()
    r.inc()
    assert.are.equal(2, r.get())
    assert.are.equal(0, t.get())
  end)

  it("copy recursive and nested functions", function()
    local function fact(n)
      if n <= 1 then return 1 end
      return n * fact(n - 1)
    end
    assert.are.equal(3628800, roundtrip(fact)(10))
    local function adder(a) return function(b) return a + b end end
    local add5 = roundtrip(adder)(5)
    assert.are.equal(12, add5(7))
    local function vararg(...) return select("#", ...), ... end
    local n, x, y = roundtrip(vararg)("p", "q")
    assert.are.equal(2, n)
    assert.are.equal("p", x)
    assert.are.equal("q", y)
  end)

  it("run a function with upvalues in the goroutine", function()
    local base = 100
    local function f(x) return base + x, string.format("%03d", x) end
    local c = lugo.chan(1)
    c:send(f)
    local a, b = in_goroutine(function()
      local g = c:recv()
      return g(7)
    end)
    assert.are.equal(107, a)
    assert.are.equal("007", b)
  end)

  it("resolve C functions and modules by name", function()
    assert.is_true(rawequal(print, roundtrip(print)))
    assert.is_true(rawequal(string.format, roundtrip(string.format)))
    local r = roundtrip({ s = string, floor = math.floor, lugo = lugo })
    assert.is_true(rawequal(string, r.s))
    assert.is_true(rawequal(math.floor, r.floor))
    assert.is_true(rawequal(lugo, r.lugo))
  end)

  it("carry channels inside tables as the same channel", function()
    local ch = lugo.chan(1)
    local r = roundtrip({ c = ch, list = { ch, ch }, nested = { deeper = { ch } } })
    assert.is_true(r.c == ch)
    assert.is_true(r.list[1] == ch)
    assert.is_true(r.list[2] == ch)
    assert.is_true(r.nested.deeper[1] == ch)
    r.c:send("through the copy")
    assert.are.equal("through the copy", ch:recv())
  end)

  it("give back the same handle in one goroutine, usable as a table key", function()
    local ch = lugo.chan()
    local wg = lugo.waitgroup()
    local set = { [ch] = "chan", [wg] = "wg" }
    local r = roundtrip({ ch, wg })
    assert.is_true(rawequal(r[1], ch))
    assert.are.equal("chan", set[r[1]])
    assert.are.equal("wg", set[r[2]])
  end)

  it("carry a channel created in a goroutine to main", function()
    local chans = lugo.chan()
    lugo.go(function()
      local mine = lugo.chan()
      chans:send(mine)
      for i = 1, 3 do mine:send(i * i) end
      mine:close()
    end)
    local c = chans:recv()
    local got = {}
    for v in c:range() do got[#got + 1] = v end
    assert.are.same({ 1, 4, 9 }, got)
  end)

  it("refuse a value that cannot cross, in the sender, and deliver nothing", function()
    local c = lugo.chan(2)
    local co = coroutine.create(function() end)
    local ok, err = pcall(c.send, c, co)
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer"), tostring(err))
    ok, err = pcall(c.send, c, { inner = { co } })
    assert.is_false(ok)
    assert.is_true(has(err, "lugo: cannot transfer"), tostring(err))
    assert.are.equal(0, c:len())
    c:send("still works")
    assert.are.equal("still works", c:recv())
  end)
end)

describe("channels over channels", function()
  it("a channel sent on a channel is the same channel", function()
    local chch = lugo.chan(1)
    local c = lugo.chan()
    lugo.go(function()
      local got = chch:recv()
      got:send(got == c and "same" or "different")
    end)
    chch:send(c)
    assert.are.equal("same", c:recv())
  end)

  it("serve requests that carry their own reply channel", function()
    local requests = lugo.chan()
    lugo.go(function()
      for req in requests:range() do req.reply:send(req.x * 2) end
    end)
    for i = 1, 20 do
      local reply = lugo.chan()
      requests:send({ x = i, reply = reply })
      assert.are.equal(i * 2, reply:recv())
    end
    requests:close()
  end)

  it("pass a reply channel between goroutines", function()
    local requests, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      for req in requests:range() do req.reply:send(req.x + 1) end
    end)
    lugo.go(function()
      local sum = 0
      for i = 1, 50 do
        local reply = lugo.chan(1)
        requests:send({ x = i, reply = reply:sendonly() })
        sum = sum + reply:recv()
      end
      requests:close()
      result:send(sum)
    end)
    assert.are.equal(1275 + 50, result:recv())
  end)

  it("a channel of channels carries many channels in order", function()
    local chch = lugo.chan(10)
    local made = {}
    for i = 1, 10 do
      made[i] = lugo.chan(1)
      made[i]:send(i)
      chch:send(made[i])
    end
    chch:close()
    local sum = in_goroutine(function()
      local s = 0
      for c in chch:range() do s = s + c:recv() end
      return s
    end)
    assert.are.equal(55, sum)
    local i = 0
    -- they arrived as the same channels: each was drained by the goroutine
    for _, c in ipairs(made) do
      i = i + 1
      assert.are.equal(0, c:len())
    end
    assert.are.equal(10, i)
  end)
end)

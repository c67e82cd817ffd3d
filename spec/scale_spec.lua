-- scale_spec.lua: many goroutines and many values: 100,000 goroutines that
-- all finish, 1,000,000 values through one channel in order, an unbuffered
-- run of 100,000 values, and 4 producers with 4 consumers on one channel.
-- Nothing here depends on timing: every check counts or sums what arrived.
--
-- LUGO_SPEC_SCALE (a factor, default 1) shrinks the sizes, e.g. 0.1 under
-- ThreadSanitizer.
local lugo = require "lugo"

-- busted's proxy _ENV cannot cross into a goroutine: use the real globals
-- (see channel_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local SCALE = tonumber(os.getenv("LUGO_SPEC_SCALE") or "") or 1

local function size(n)
  return math.max(100, math.floor(n * SCALE))
end

local GOROUTINES = size(100000)
local VALUES = size(1000000)
local UNBUFFERED = size(100000)
local MPMC = size(400000) // 4 * 4           -- a multiple of the 4 producers

-- Sum of 1..n.
local function triangle(n) return n * (n + 1) // 2 end

describe("100,000 goroutines", function()
  it("started from main all finish (waitgroup), each exactly once", function()
    local n = GOROUTINES
    local wg = lugo.waitgroup()
    local marks = lugo.chan(n)                 -- room for all: sends never block
    wg:add(n)
    for i = 1, n do
      lugo.go(function()
        marks:send(i)
        wg:done()
      end)
    end
    wg:wait()
    assert.are.equal(n, marks:len())
    marks:close()
    local seen, count, sum = {}, 0, 0
    for i in marks:range() do
      assert.is_nil(seen[i], "goroutine " .. i .. " ran twice")
      seen[i] = true
      count, sum = count + 1, sum + i
    end
    assert.are.equal(n, count)
    assert.are.equal(triangle(n), sum)
  end)

  it("started from main all report to main over an unbuffered channel", function()
    local n = GOROUTINES
    local c = lugo.chan()
    local ids = {}
    for i = 1, n do
      ids[lugo.go(function() c:send(i) end)] = true
    end
    local seen, count, sum = {}, 0, 0
    for _ = 1, n do
      local i, ok = c:recv()
      assert.is_true(ok)
      assert.is_nil(seen[i], "value " .. tostring(i) .. " arrived twice")
      seen[i] = true
      count, sum = count + 1, sum + i
    end
    assert.are.equal(n, count)
    assert.are.equal(triangle(n), sum)
    local distinct = 0
    for _ in pairs(ids) do distinct = distinct + 1 end
    assert.are.equal(n, distinct)              -- every goroutine got its own id
  end)

  it("started from one goroutine all finish", function()
    local n = GOROUTINES
    local wg = lugo.waitgroup()
    local total = lugo.chan(n)
    wg:add(1)
    lugo.go(function()
      for i = 1, n do
        wg:add(1)
        lugo.go(function()
          total:send(i)
          wg:done()
        end)
      end
      wg:done()
    end)
    wg:wait()
    assert.are.equal(n, total:len())
    local sum = 0
    for _ = 1, n do sum = sum + total:recv() end
    assert.are.equal(triangle(n), sum)
  end)
end)

describe("1,000,000 values through one buffered channel", function()
  it("arrive in order in main, none lost or repeated", function()
    local n = VALUES
    local c = lugo.chan(128)
    lugo.go(function()
      for i = 1, n do c:send(i) end
      c:close()
    end)
    local count, sum, prev, inorder = 0, 0, 0, true
    for v in c:range() do
      count, sum = count + 1, sum + v
      if v ~= prev + 1 then inorder = false end
      prev = v
    end
    assert.are.equal(n, count)
    assert.are.equal(triangle(n), sum)
    assert.is_true(inorder)
    assert.are.equal(n, prev)
  end)

  it("arrive in order in a consumer goroutine, none lost or repeated", function()
    local n = VALUES
    local c, result = lugo.chan(128), lugo.chan()
    lugo.go(function()
      for i = 1, n do c:send(i) end
      c:close()
    end)
    lugo.go(function()
      local count, sum, prev, inorder = 0, 0, 0, true
      for v in c:range() do
        count, sum = count + 1, sum + v
        if v ~= prev + 1 then inorder = false end
        prev = v
      end
      result:send({ count = count, sum = sum, inorder = inorder, last = prev })
    end)
    assert.are.same({ count = n, sum = triangle(n), inorder = true, last = n },
                    result:recv())
  end)
end)

describe("100,000 values through one unbuffered channel", function()
  it("from a goroutine to main arrive in order", function()
    local n = UNBUFFERED
    local c = lugo.chan()
    lugo.go(function()
      for i = 1, n do c:send(i) end
      c:close()
    end)
    local count, sum, prev, inorder = 0, 0, 0, true
    for v in c:range() do
      count, sum = count + 1, sum + v
      if v ~= prev + 1 then inorder = false end
      prev = v
    end
    assert.are.equal(n, count)
    assert.are.equal(triangle(n), sum)
    assert.is_true(inorder)
  end)

  it("from main to a goroutine arrive in order", function()
    local n = UNBUFFERED
    local c, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      local count, sum, prev, inorder = 0, 0, 0, true
      for v in c:range() do
        count, sum = count + 1, sum + v
        if v ~= prev + 1 then inorder = false end
        prev = v
      end
      result:send({ count = count, sum = sum, inorder = inorder })
    end)
    for i = 1, n do c:send(i) end
    c:close()
    assert.are.same({ count = n, sum = triangle(n), inorder = true }, result:recv())
  end)

  it("between two goroutines arrive in order", function()
    local n = UNBUFFERED
    local c, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      for i = 1, n do c:send(i) end
      c:close()
    end)
    lugo.go(function()
      local count, sum, prev, inorder = 0, 0, 0, true
      for v in c:range() do
        count, sum = count + 1, sum + v
        if v ~= prev + 1 then inorder = false end
        prev = v
      end
      result:send({ count = count, sum = sum, inorder = inorder })
    end)
    assert.are.same({ count = n, sum = triangle(n), inorder = true }, result:recv())
  end)
end)

describe("4 producers and 4 consumers on one channel", function()
  -- Producer p (0..3) sends p, p + 4, p + 8, ...: together 0 .. n-1, each
  -- once. Each consumer checks that every producer's values reach it in
  -- increasing order (one channel is FIFO) and returns count, sum, sum of
  -- squares and xor; main compares the totals with the expected ones.
  local function run(cap)
    local n = MPMC
    local c, results = lugo.chan(cap), lugo.chan(4)
    local producers = lugo.waitgroup()
    producers:add(4)
    for p = 0, 3 do
      lugo.go(function()
        for v = p, n - 1, 4 do c:send(v) end
        producers:done()
      end)
    end
    lugo.go(function()
      producers:wait()
      c:close()
    end)
    for _ = 1, 4 do
      lugo.go(function()
        local count, sum, squares, xor = 0, 0, 0, 0
        local last, inorder = { [0] = -1, -1, -1, -1 }, true
        for v in c:range() do
          count, sum, squares, xor = count + 1, sum + v, squares + v * v, xor ~ v
          local p = v % 4
          if v <= last[p] then inorder = false end
          last[p] = v
        end
        results:send({ count = count, sum = sum, squares = squares, xor = xor,
                       inorder = inorder })
      end)
    end
    local count, sum, squares, xor = 0, 0, 0, 0
    for _ = 1, 4 do
      local r = results:recv()
      assert.is_true(r.inorder, "a producer's values arrived out of order")
      count, sum, squares, xor = count + r.count, sum + r.sum,
                                 squares + r.squares, xor ~ r.xor
    end
    local esum, esquares, exor = 0, 0, 0
    for v = 0, n - 1 do esum, esquares, exor = esum + v, esquares + v * v, exor ~ v end
    assert.are.equal(n, count)
    assert.are.equal(esum, sum)
    assert.are.equal(esquares, squares)
    assert.are.equal(exor, xor)
  end

  it("on a buffered channel deliver every value exactly once", function()
    run(64)
  end)

  it("on an unbuffered channel deliver every value exactly once", function()
    run(0)
  end)

  it("on a channel of capacity 1 deliver every value exactly once", function()
    run(1)
  end)
end)

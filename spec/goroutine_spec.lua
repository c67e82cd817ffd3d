-- goroutine_spec.lua: lugo.go, lugo.id, lugo.yield, lugo.numgoroutine,
-- lugo.workers and lugo.config (API.md, Goroutines).
--
-- busted runs this file with its own environment as _ENV; a goroutine
-- function that captured it would drag busted itself across. So the busted
-- names are taken as locals first and the rest of the file uses the real
-- global table, which travels as "the receiver's globals".
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

-- child_ok(source, env): runs a script in a child lugo, checks it exits 0
-- with empty stderr and returns its stdout.
local child_ok, assert_message = support.child_ok, support.assert_message

describe("lugo.go", function()
  it("returns integer ids greater than 1, distinct and increasing", function()
    local done = lugo.chan()
    local ids = {}
    for i = 1, 50 do
      ids[i] = lugo.go(function(d) d:send() end, done)
    end
    for _ = 1, 50 do done:recv() end
    for i = 1, 50 do
      assert.are.equal("integer", math.type(ids[i]))
      assert.is_true(ids[i] > 1)
      if i > 1 then assert.is_true(ids[i] > ids[i - 1]) end
    end
  end)

  it("gives distinct ids to goroutines started concurrently by goroutines", function()
    local out = lugo.chan()
    local parents = {}
    for p = 1, 4 do
      parents[p] = lugo.go(function(o)
        local mine = {}
        for i = 1, 25 do mine[i] = lugo.go(function() end) end
        o:send(mine)
      end, out)
    end
    local seen = {}
    for _, id in ipairs(parents) do seen[id] = true end
    local count = #parents
    for _ = 1, 4 do
      local mine = out:recv()
      assert.are.equal(25, #mine)
      for i, id in ipairs(mine) do
        assert.are.equal("integer", math.type(id))
        assert.is_true(id > 1)
        if i > 1 then assert.is_true(id > mine[i - 1]) end
        assert.is_nil(seen[id])
        seen[id] = true
        count = count + 1
      end
    end
    assert.are.equal(104, count)
  end)

  it("passes multiple arguments", function()
    local out = lugo.chan()
    lugo.go(function(o, a, b, c, d)
      o:send({ a, b, c, d })
    end, out, 1, "two", true, 4.5)
    local r = out:recv()
    assert.are.same({ 1, "two", true, 4.5 }, r)
  end)

  it("passes no arguments", function()
    local out = lugo.chan()
    lugo.go(function(...)
      out:send(select("#", ...))
    end)
    assert.are.equal(0, out:recv())
  end)

  it("passes nil holes and trailing nils", function()
    local out = lugo.chan()
    lugo.go(function(o, ...)
      o:send(table.pack(...))
    end, out, nil, 2, nil, "x", nil, nil)
    local r = out:recv()
    assert.are.equal(6, r.n)
    assert.is_nil(r[1])
    assert.are.equal(2, r[2])
    assert.is_nil(r[3])
    assert.are.equal("x", r[4])
    assert.is_nil(r[5])
    assert.is_nil(r[6])
  end)

  it("passes many arguments", function()
    local args = {}
    for i = 1, 1000 do args[i] = i * 3 end
    local out = lugo.chan()
    lugo.go(function(o, ...)
      local n, sum = select("#", ...), 0
      for i = 1, n do sum = sum + select(i, ...) end
      o:send({ n = n, sum = sum, first = (...), last = (select(n, ...)) })
    end, out, table.unpack(args, 1, 1000))
    local r = out:recv()
    assert.are.equal(1000, r.n)
    assert.are.equal(3 * 1000 * 1001 // 2, r.sum)
    assert.are.equal(3, r.first)
    assert.are.equal(3000, r.last)
  end)

  it("raises on a first argument that is not a function", function()
    for _, bad in ipairs({ 42, "print", {}, true }) do
      local ok, err = pcall(lugo.go, bad)
      assert.is_false(ok)
      assert.are.equal("string", type(err))
      assert.matches("bad argument #1", err, 1, true)
    end
    local ok, err = pcall(lugo.go)
    assert.is_false(ok)
    assert.matches("bad argument #1", err, 1, true)
    ok = pcall(lugo.go, nil, 1, 2)
    assert.is_false(ok)
  end)
end)

describe("worker VM memory", function()
  it("keeps strings and tables of every size intact as they grow and shrink", function()
    -- Worker VMs allocate small blocks from their own free lists (up to 512
    -- bytes) and larger ones from the C library: cross both ways, reuse freed
    -- blocks, and check every byte and element.
    local done = lugo.chan()
    for w = 1, 4 do
      lugo.go(function(w, done)
        local bad = 0
        for round = 1, 3 do
          local keep = {}
          for n = 1, 700, 7 do
            local s = string.rep(string.char(65 + (n + w) % 26), n)
            local t = {}
            for i = 1, n // 4 do t[i] = i * w end          -- array part grows
            for i = 1, n // 8 do t["k" .. i] = i end       -- hash part grows
            keep[#keep + 1] = {s, t, n}
          end
          for _, e in ipairs(keep) do
            local s, t, n = e[1], e[2], e[3]
            if #s ~= n or s ~= string.rep(s:sub(1, 1), n) then bad = bad + 1 end
            for i = 1, n // 4 do if t[i] ~= i * w then bad = bad + 1 end end
            for i = 1, n // 8 do if t["k" .. i] ~= i then bad = bad + 1 end end
            for i = n // 4, 1, -1 do t[i] = nil end        -- and shrinks
          end
          keep = nil
          collectgarbage()
          lugo.yield()
        end
        done:send(bad)
      end, w, done)
    end
    for _ = 1, 4 do assert.are.equal(0, done:recv()) end
  end)
end)

describe("lugo.config{memory}", function()
  it("fails an allocation past the limit in the goroutine that makes it, and the others carry on", function()
    lugo.config{ memory = 64 * 1024 * 1024 }
    local out = lugo.chan()
    lugo.go(function(o)
      local ok, err = pcall(function()
        local t = {}
        for i = 1, 100000000 do t[i] = i end   -- 1.6 GB: far past 64 MB
      end)
      o:send({ ok, err })
    end, out)
    local r = out:recv()
    assert.is_false(r[1])
    assert.matches("not enough memory", r[2], 1, true)
    lugo.go(function(o) o:send(#string.rep("x", 1000000)) end, out)   -- within it
    assert.are.equal(1000000, out:recv())
    lugo.config{ memory = false }
    lugo.go(function(o)
      local t = {}
      for i = 1, 10000000 do t[i] = i end   -- 160 MB: no limit now
      o:send(#t)
    end, out)
    assert.are.equal(10000000, out:recv())
  end)

  it("through lugo.run, the caller gets the error", function()
    lugo.config{ memory = 32 * 1024 * 1024 }
    local ok, err = pcall(lugo.run, function() return string.rep("x", 100 * 1024 * 1024) end)
    lugo.config{ memory = false }
    assert.is_false(ok)
    assert.matches("not enough memory", err, 1, true)
  end)

  it("rejects a value that is not a positive integer or false", function()
    for _, bad in ipairs({ 0, -5, 1.5, "1000", true }) do
      local ok, err = pcall(lugo.config, { memory = bad })
      assert.is_false(ok)
      assert.matches("lugo.config: memory must be an integer number of bytes >= 1 (or false: no limit), got ",
                     err, 1, true)
    end
  end)
end)

describe("lugo.id", function()
  it("is 1 in the main goroutine", function()
    assert.are.equal(1, lugo.id())
    assert.are.equal("integer", math.type(lugo.id()))
  end)

  it("inside a goroutine equals the id lugo.go returned", function()
    local out = lugo.chan()
    local ids = {}
    for i = 1, 20 do
      ids[i] = lugo.go(function(o, i) o:send({ i, lugo.id() }) end, out, i)
    end
    for _ = 1, 20 do
      local r = out:recv()
      assert.are.equal("integer", math.type(r[2]))
      assert.are.equal(ids[r[1]], r[2])
    end
  end)

  it("inside a goroutine started by a goroutine equals its go result", function()
    local out = lugo.chan()
    lugo.go(function(o)
      local inner = lugo.chan()
      local child = lugo.go(function(c) c:send(lugo.id()) end, inner)
      local seen = inner:recv()
      o:send({ parent = lugo.id(), child = child, seen = seen })
    end, out)
    local r = out:recv()
    assert.are.equal(r.child, r.seen)
    assert.are_not.equal(r.parent, r.child)
    assert.is_true(r.parent > 1)
  end)

  it("is unchanged across blocking calls", function()
    local out, gate = lugo.chan(), lugo.chan()
    local id = lugo.go(function(o, g)
      local before = lugo.id()
      g:recv()
      lugo.yield()
      o:send({ before, lugo.id() })
    end, out, gate)
    gate:send()
    local r = out:recv()
    assert.are.same({ id, id }, r)
    assert.are.equal(1, lugo.id())
  end)
end)

describe("lugo.yield", function()
  it("works in the main goroutine", function()
    for _ = 1, 100 do lugo.yield() end
    assert.are.equal(1, lugo.id())
  end)

  it("lets many goroutines yielding in loops all finish", function()
    local out = lugo.chan()
    for g = 1, 50 do
      lugo.go(function(o, g)
        local n = 0
        for _ = 1, 200 do
          lugo.yield()
          n = n + 1
        end
        o:send(g * 1000 + n)
      end, out, g)
    end
    local seen = {}
    for _ = 1, 50 do
      local v = out:recv()
      assert.are.equal(200, v % 1000)
      seen[v // 1000] = true
    end
    for g = 1, 50 do assert.is_true(seen[g]) end
  end)

  it("lets another goroutine run on a single worker", function()
    -- A yields until B has reported (bounded); B reports at once. With one
    -- worker, B can only run first if A's yields give the worker up; no
    -- timing: however late main starts B, A keeps yielding until then.
    local out = child_ok([[
      local lugo = require "lugo"
      local ch = lugo.chan(2)
      lugo.go(function(c)
        for _ = 1, 10000000 do
          if c:len() > 0 then break end
          lugo.yield()
        end
        c:send("A")
      end, ch)
      lugo.go(function(c) c:send("B") end, ch)
      print((ch:recv()), (ch:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("B\tA\n", out)
  end)
end)

describe("lugo.numgoroutine", function()
  it("is an integer of at least 1", function()
    local n = lugo.numgoroutine()
    assert.are.equal("integer", math.type(n))
    assert.is_true(n >= 1)
  end)

  it("counts blocked goroutines and drops when they finish", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local gate, done = lugo.chan(), lugo.chan()
      local counts = { lugo.numgoroutine() }
      for i = 1, 10 do
        lugo.go(function(g, d) g:recv(); d:send() end, gate, done)
        counts[#counts + 1] = lugo.numgoroutine()
      end
      print(table.concat(counts, " "))
      gate:close()
      for _ = 1, 10 do done:recv() end
      -- They finish right after their send: wait (bounded) for the count
      -- to come down.
      require("support").settle(1)
      print(lugo.numgoroutine())
    ]])
    assert.are.equal("1 2 3 4 5 6 7 8 9 10 11\n1\n", out)
  end)

  it("counts a goroutine from the go call, before it first runs", function()
    -- On one worker the parent keeps the worker until it blocks, so its
    -- children cannot have run when it counts.
    local out = child_ok([[
      local lugo = require "lugo"
      local out = lugo.chan()
      lugo.go(function(o)
        local counts = { lugo.numgoroutine() }
        for _ = 1, 5 do
          lugo.go(function() end)
          counts[#counts + 1] = lugo.numgoroutine()
        end
        o:send(table.concat(counts, " "))
      end, out)
      print((out:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("2 3 4 5 6 7\n", out)
  end)

  it("counts the goroutines the main chunk starts, in process", function()
    -- Goroutines of earlier tests may still be finishing: wait (bounded)
    -- until only main is left; the count checks below report it if not.
    support.settle(1)
    local gate, done = lugo.chan(), lugo.chan()
    for i = 1, 8 do
      lugo.go(function(g, d) g:recv(); d:send() end, gate, done)
      assert.are.equal(1 + i, lugo.numgoroutine())
    end
    gate:close()
    for _ = 1, 8 do done:recv() end
    support.settle(1)
    assert.are.equal(1, lugo.numgoroutine())
  end)
end)

describe("lugo.workers", function()
  it("is an integer of at least 1", function()
    local n = lugo.workers()
    assert.are.equal("integer", math.type(n))
    assert.is_true(n >= 1)
  end)

  it("defaults to the number of online CPUs", function()
    local p = io.popen("getconf _NPROCESSORS_ONLN")
    local cpus = tonumber(p:read("l"))
    p:close()
    local out = child_ok([[print(require("lugo").workers())]],
      "env -u LUGO_WORKERS")
    assert.are.equal(tostring(cpus) .. "\n", out)
  end)

  it("follows LUGO_WORKERS", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local before = lugo.workers()
      local ch = lugo.chan()
      lugo.go(function(c) c:send(lugo.workers()) end, ch)
      print(before, ch:recv(), lugo.workers())
    ]], "LUGO_WORKERS=3")
    assert.are.equal("3\t3\t3\n", out)
  end)
end)

describe("lugo.config", function()
  it("sets the worker count before the first go", function()
    local out = child_ok([[
      local lugo = require "lugo"
      lugo.config{ workers = 3 }
      print(lugo.workers())
      local ch = lugo.chan()
      for i = 1, 10 do lugo.go(function(c, i) c:send(i) end, ch, i) end
      local sum = 0
      for _ = 1, 10 do sum = sum + ch:recv() end
      print(sum, lugo.workers())
    ]])
    assert.are.equal("3\n55\t3\n", out)
  end)

  it("overrides LUGO_WORKERS", function()
    local out = child_ok([[
      local lugo = require "lugo"
      lugo.config{ workers = 2 }
      local ch = lugo.chan()
      lugo.go(function(c) c:send() end, ch)
      ch:recv()
      print(lugo.workers())
    ]], "LUGO_WORKERS=5")
    assert.are.equal("2\n", out)
  end)

  it("may be called again until the first go", function()
    local out = child_ok([[
      local lugo = require "lugo"
      lugo.config{ workers = 2 }
      print(lugo.workers())
      lugo.config{ workers = 4 }
      print(lugo.workers())
      local ch = lugo.chan()
      lugo.go(function(c) c:send("ran") end, ch)
      print(ch:recv(), lugo.workers())
    ]])
    assert.are.equal("2\n4\nran\t4\n", out)
  end)

  it("accepts a table without workers", function()
    local out = child_ok([[
      local lugo = require "lugo"
      lugo.config{}
      print(lugo.workers() >= 1)
    ]])
    assert.are.equal("true\n", out)
  end)

  it("raises after the first go", function()
    local ch = lugo.chan()
    lugo.go(function(c) c:send() end, ch)
    ch:recv()
    local n = lugo.workers()
    local ok, err = pcall(lugo.config, { workers = n + 1 })
    assert.is_false(ok)
    assert_message("lugo.config: workers already started", err)
    ok, err = pcall(lugo.config, { workers = n })
    assert.is_false(ok)
    assert_message("lugo.config: workers already started", err)
    assert.are.equal(n, lugo.workers())
  end)

  it("raises after the first go in a child process too", function()
    local out = child_ok([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      lugo.go(function(c) c:send() end, ch)
      ch:recv()
      print(pcall(lugo.config, { workers = 2 }))
      print(lugo.workers())
    ]], "LUGO_WORKERS=3")
    assert.are.equal("false\tlugo.config: workers already started\n3\n", out)
  end)

  it("raises when a goroutine calls it", function()
    local out = lugo.chan()
    lugo.go(function(o) o:send({ pcall(lugo.config, { workers = 1 }) }) end, out)
    local r = out:recv()
    assert.is_false(r[1])
    assert_message("lugo.config: workers already started", r[2])
  end)
end)

-- deadlock_spec.lua: deadlock detection (API.md, Failure). Under the `lugo`
-- command, when every goroutine is blocked and nothing can wake one, the
-- process prints `fatal error: all goroutines are asleep - deadlock!`, then
-- a `goroutine <id> [<reason>]:` block (traceback, `created by`) for each
-- blocked goroutine, and exits 2. Every such case runs in a child process.
-- Programs that are slow but not stuck must not be reported. In a library
-- host (the stock lua5.4 interpreter), the blocked main thread gets the
-- message as a Lua error instead, and the runtime keeps working.
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local GUARD = support.GUARD
local DEADLOCK = support.DEADLOCK
local quote, find, block_of = support.quote, support.find, support.block_of
-- Runs a script under a child lugo; returns stdout, stderr, code, path.
local child = support.child
-- assert_deadlock(out, err, code, blocks): status 2, DEADLOCK first, and a
-- block `goroutine <id> [<reason>]:` for every {id, reason}; returns stderr.
local assert_deadlock = support.assert_deadlock


-- The script line where `marker` appears (a comment at the end of the line
-- that blocks), for checking tracebacks.
local function line_of(source, marker)
  local n = 0
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find(marker, 1, true) then return n end
  end
  error("marker " .. marker .. " not in source")
end

-- Ids printed by a script as "ids: a b c".
local function ids_of(out)
  local t = {}
  local line = find(out, "ids:") and out:match("ids:([^\n]*)")
  for id in line:gmatch("%d+") do t[#t + 1] = tonumber(id) end
  return t
end

describe("the lugo command reports a deadlock", function()
  it("main sending on an unbuffered channel with no receiver: chan send", function()
    local src = [[
      local lugo = require "lugo"
      print("start")
      local c = lugo.chan()
      c:send(1) -- BLOCK
      print("unreachable")
    ]]
    local out, err, code, path = child(src)
    assert.are.equal("start\n", out)
    assert_deadlock(out, err, code, { { 1, "chan send" } })
    -- main's traceback shows the line of the send
    find(block_of(err, 1), path:match("[^/]*$") .. ":" .. line_of(src, "BLOCK"))
  end)

  it("main sending on a full buffered channel: chan send", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan(2)
      c:send(1); c:send(2); c:send(3)
    ]])
    assert_deadlock(out, err, code, { { 1, "chan send" } })
  end)

  it("main receiving with nobody sending: chan receive", function()
    local src = [[
      local lugo = require "lugo"
      local c = lugo.chan()
      local v = c:recv() -- BLOCK
    ]]
    local out, err, code, path = child(src)
    assert_deadlock(out, err, code, { { 1, "chan receive" } })
    find(block_of(err, 1), path:match("[^/]*$") .. ":" .. line_of(src, "BLOCK"))
  end)

  it("main ranging over a channel never closed, after its goroutine finished", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function() for i = 1, 3 do c:send(i) end end)
      for v in c:range() do io.write(v, " ") end
    ]])
    assert.are.equal("1 2 3 ", out)
    assert_deadlock(out, err, code, { { 1, "chan receive" } })
  end)

  it("two goroutines each waiting for the other while main waits on a waitgroup", function()
    local src = [[
      local lugo = require "lugo"
      local a, b = lugo.chan(), lugo.chan()
      local wg = lugo.waitgroup()
      wg:add(2)
      local g1 = lugo.go(function()
        a:recv() -- G1
        b:send(1)
        wg:done()
      end)
      local g2 = lugo.go(function()
        b:recv() -- G2
        a:send(1)
        wg:done()
      end)
      print("ids: " .. g1 .. " " .. g2)
      io.stdout:flush()
      wg:wait() -- MAIN
    ]]
    local out, err, code, path = child(src)
    local ids = ids_of(out)
    assert_deadlock(out, err, code, {
      { 1, "waitgroup wait" }, { ids[1], "chan receive" }, { ids[2], "chan receive" },
    })
    local name = path:match("[^/]*$")
    find(block_of(err, 1), name .. ":" .. line_of(src, "MAIN"))
    local b1, b2 = block_of(err, ids[1]), block_of(err, ids[2])
    find(b1, name .. ":" .. line_of(src, "G1"))
    find(b2, name .. ":" .. line_of(src, "G2"))
    -- each goroutine block ends with where it was created
    find(b1, "created by goroutine 1 at " .. path .. ":5")
    find(b2, "created by goroutine 1 at " .. path .. ":10")
  end)

  it("a waitgroup never done: waitgroup wait", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local wg = lugo.waitgroup()
      wg:add(2)
      lugo.go(function() wg:done() end)
      wg:wait()
    ]])
    assert_deadlock(out, err, code, { { 1, "waitgroup wait" } })
  end)

  it("a mutex locked twice: mutex lock", function()
    local src = [[
      local lugo = require "lugo"
      local m = lugo.mutex()
      m:lock()
      m:lock() -- BLOCK
    ]]
    local out, err, code, path = child(src)
    assert_deadlock(out, err, code, { { 1, "mutex lock" } })
    find(block_of(err, 1), path:match("[^/]*$") .. ":" .. line_of(src, "BLOCK"))
  end)

  it("a goroutine on a mutex main holds while main waits on a channel", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local m, c = lugo.mutex(), lugo.chan()
      m:lock()
      local g = lugo.go(function() m:lock(); c:send(1) end)
      print("ids: " .. g)
      io.stdout:flush()
      c:recv()
    ]])
    local ids = ids_of(out)
    assert_deadlock(out, err, code, { { 1, "chan receive" }, { ids[1], "mutex lock" } })
  end)

  it("a select in main with cases nobody serves: select", function()
    local src = [[
      local lugo = require "lugo"
      local a, b = lugo.chan(), lugo.chan(1)
      b:send("full")
      lugo.select { a:case_recv(), b:case_send(2), a:case_send(3) } -- BLOCK
    ]]
    local out, err, code, path = child(src)
    assert_deadlock(out, err, code, { { 1, "select" } })
    find(block_of(err, 1), path:match("[^/]*$") .. ":" .. line_of(src, "BLOCK"))
  end)

  it("a select in a goroutine with cases nobody serves: select", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local a, b, wg = lugo.chan(), lugo.chan(), lugo.waitgroup()
      wg:add()
      local g = lugo.go(function()
        lugo.select { a:case_recv(), b:case_recv() }
        wg:done()
      end)
      print("ids: " .. g)
      io.stdout:flush()
      wg:wait()
    ]])
    local ids = ids_of(out)
    assert_deadlock(out, err, code, { { 1, "waitgroup wait" }, { ids[1], "select" } })
  end)

  it("lugo.select{}: select (no cases)", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      lugo.select {}
    ]])
    assert_deadlock(out, err, code, { { 1, "select (no cases)" } })
  end)

  it("every blocked goroutine is listed, each with its reason", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c, m, wg = lugo.chan(), lugo.mutex(), lugo.waitgroup()
      m:lock()
      wg:add()
      local ids = {
        lugo.go(function() c:recv() end),
        lugo.go(function() c:send(1) ; c:send(2) end),
        lugo.go(function() m:lock() end),
        lugo.go(function() wg:wait() end),
        lugo.go(function() lugo.select { lugo.chan():case_recv() } end),
        lugo.go(function() lugo.select {} end),
      }
      print("ids: " .. table.concat(ids, " "))
      io.stdout:flush()
      lugo.chan():recv()
    ]])
    local ids = ids_of(out)
    assert.are.equal(6, #ids)
    -- goroutines 1 and 2 pair off once; afterwards goroutine 2 waits to
    -- send its second value
    assert_deadlock(out, err, code, {
      { 1, "chan receive" },
      { ids[2], "chan send" },
      { ids[3], "mutex lock" },
      { ids[4], "waitgroup wait" },
      { ids[5], "select" },
      { ids[6], "select (no cases)" },
    })
    assert.is_nil(err:find("goroutine " .. ids[1] .. " [", 1, true))   -- finished
    for i = 2, 6 do
      find(block_of(err, ids[i]), "created by goroutine 1 at ")
      find(block_of(err, ids[i]), "stack traceback:")
    end
  end)

  it("when the last running goroutine finishes", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function()
        local x = 0
        for i = 1, 2e6 do x = x + i end   -- busy a while, then just return
      end)
      c:recv()
    ]])
    assert_deadlock(out, err, code, { { 1, "chan receive" } })
  end)

  it("when the last running goroutine parks", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local a, b = lugo.chan(), lugo.chan()
      local g = lugo.go(function()
        local x = 0
        for i = 1, 2e6 do x = x + i end
        b:recv()
      end)
      print("ids: " .. g)
      io.stdout:flush()
      a:recv()
    ]])
    local ids = ids_of(out)
    assert_deadlock(out, err, code, { { 1, "chan receive" }, { ids[1], "chan receive" } })
  end)

  it("with one worker (LUGO_WORKERS=1)", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local a, b = lugo.chan(), lugo.chan()
      for _ = 1, 10 do lugo.go(function() a:recv() end) end
      b:recv()
    ]], "LUGO_WORKERS=1")
    assert_deadlock(out, err, code, { { 1, "chan receive" } })
  end)

  it("prints stdout written before the report", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      io.write("buffered, no newline")
      lugo.chan():recv()
    ]])
    assert.are.equal("buffered, no newline", out)
    assert_deadlock(out, err, code, { { 1, "chan receive" } })
  end)
end)

describe("the lugo command does not report a deadlock", function()
  it("while a goroutine computes for about a second before sending", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function()
        local t0, n = os.clock(), 0
        while os.clock() - t0 < 1 do n = n + 1 end   -- pure Lua, no yield
        c:send("computed")
      end)
      print((c:recv()))
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("computed\n", out)
  end)

  it("while a goroutine computes, with one worker and other goroutines blocked", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c, never = lugo.chan(), lugo.chan()
      for _ = 1, 5 do lugo.go(function() never:recv() end) end
      lugo.go(function()
        local t0 = os.clock()
        while os.clock() - t0 < 1 do end
        c:send("computed")
      end)
      print((c:recv()))
    ]], "LUGO_WORKERS=1")
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("computed\n", out)
  end)

  it("while main computes and goroutines are blocked; main then returns", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local never = lugo.chan()
      for _ = 1, 5 do lugo.go(function() never:recv() end) end
      local t0 = os.clock()
      while os.clock() - t0 < 0.5 do end
      print("main done")
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("main done\n", out)
  end)

  it("for a long chain of goroutines handing a value on", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local first = lugo.chan()
      local prev = first
      for _ = 1, 200 do
        local nxt = lugo.chan()
        lugo.go(function(i, o) o:send(i:recv() + 1) end, prev, nxt)
        prev = nxt
      end
      first:send(0)
      print((prev:recv()))
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("200\n", out)
  end)

  it("while main waits on a channel a sleeping goroutine will send on", function()
    local out, err, code = child([[
      local lugo = require "lugo"
      local c = lugo.chan()
      lugo.go(function()
        lugo.sleep(0.3)
        c:send("woke")
      end)
      print((c:recv()))
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("woke\n", out)
  end)
end)

-- Library mode: lugo.so loaded by the stock lua5.4 interpreter, whose main
-- chunk is a thread outside the runtime. (Under the `lugo` command, which
-- runs this busted process, a deadlocked main ends the process with status
-- 2, as the cases above check; so this runs in a stock lua5.4 child.)
local LIBRARY = [[
  local lugo = require "lugo"
  local DEADLOCK = "fatal error: all goroutines are asleep - deadlock!"
  local function check(ok, err)
    print(ok, type(err) == "string" and err:find(DEADLOCK, 1, true) ~= nil)
  end
  -- nothing started yet
  check(pcall(function() lugo.chan():recv() end))
  -- the runtime still works: a new channel and goroutine
  local c = lugo.chan()
  lugo.go(function() c:send(42) end)
  print((c:recv()))
  -- with goroutines blocked for good, every kind of wait
  local never = lugo.chan()
  for _ = 1, 3 do lugo.go(function() never:recv() end) end
  check(pcall(function() lugo.chan():send(1) end))
  check(pcall(function() lugo.chan():recv() end))
  local wg = lugo.waitgroup()
  wg:add()
  check(pcall(function() wg:wait() end))
  local m = lugo.mutex()
  m:lock()
  check(pcall(function() m:lock() end))
  check(pcall(function() lugo.select { lugo.chan():case_recv() } end))
  check(pcall(function() lugo.select {} end))
  -- the failed lock did not take the mutex nor queue for it
  print(m:trylock())
  m:unlock()
  print(m:trylock())
  m:unlock()
  -- the channel of the failed send holds nothing and takes a value later
  local d = lugo.chan()
  check(pcall(function() d:send("lost") end))
  lugo.go(function() d:send("later") end)
  print((d:recv()))
  -- and goroutines still run
  local out = lugo.chan()
  local w2 = lugo.waitgroup()
  for i = 1, 10 do
    w2:add()
    lugo.go(function() out:send(i); w2:done() end)
  end
  local sum = 0
  for _ = 1, 10 do sum = sum + out:recv() end
  w2:wait()
  print(sum)
]]

describe("in a library host (stock lua5.4)", function()
  it("a deadlocked main thread gets the message as a Lua error and the runtime still works", function()
    local dir = support.lugo:match("^(.*)/[^/]*$") or "."
    local env = "LUA_CPATH=" .. quote(dir .. "/?.so;;")
    local outf = os.tmpname()
    -- a sanitizer build's lugo.so cannot be loaded by the stock interpreter
    local probe = os.execute(env .. " " .. GUARD .. " lua5.4 -e 'require \"lugo\"' >/dev/null 2>&1")
    if not probe then
      print("\n(skipped: lua5.4 cannot load " .. dir .. "/lugo.so; sanitizer build?)")
      return
    end
    local path = os.tmpname() .. ".lua"
    local f = assert(io.open(path, "wb"))
    f:write(LIBRARY)
    f:close()
    local errf = os.tmpname()
    local _, _, code = os.execute(env .. " " .. GUARD .. " lua5.4 " .. quote(path) ..
      " </dev/null >" .. quote(outf) .. " 2>" .. quote(errf))
    os.remove(path)
    local out, err = support.slurp(outf), support.slurp(errf)
    assert.are.equal(table.concat({
      "false\ttrue", "42",
      "false\ttrue", "false\ttrue", "false\ttrue", "false\ttrue", "false\ttrue", "false\ttrue",
      "false", "true",
      "false\ttrue", "later",
      "55", "",
    }, "\n"), out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)
end)

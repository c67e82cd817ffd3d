-- stack_spec.lua: lugo.stack() (a `goroutine <id> [<state>]:` block with a
-- traceback for the caller, state `running`, and for every other live
-- started goroutine, with its wait reason, traceback and `created by`
-- line), and the dump the `lugo` command prints to stderr on SIGQUIT
-- without stopping.
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local GUARD = support.GUARD
local quote, has, find, block_of = support.quote, support.has, support.find, support.block_of

-- Waits (bounded) until lugo.stack() shows goroutine id with the given
-- state; returns that dump.
local function wait_state(id, state)
  local want = "goroutine " .. id .. " [" .. state .. "]:"
  local deadline = os.time() + 30
  local dump
  while os.time() < deadline do
    dump = lugo.stack()
    if has(dump, want) then return dump end
    lugo.yield()
  end
  assert.is_true(false, "goroutine " .. id .. " never showed [" .. state .. "]:\n" .. dump)
end

local function line()
  return debug.getinfo(2, "l").currentline
end

local SRC = "stack_spec.lua"

describe("lugo.stack()", function()
  it("returns text starting with the caller's block, state running (main: goroutine 1)", function()
    local dump, here = lugo.stack(), line()
    assert.are.equal("string", type(dump))
    assert.are.equal(1, (dump:find("goroutine 1 [running]:\n", 1, true)), dump)
    local mine = block_of(dump, 1)
    find(mine, "stack traceback:")
    find(mine, SRC .. ":" .. here .. ":")
  end)

  it("from a goroutine, starts with that goroutine's block, state running", function()
    local res = lugo.chan()
    local go_line = line() + 1
    local id = lugo.go(function()
      local d, l = lugo.stack(), debug.getinfo(1, "l").currentline
      res:send({ d, l, lugo.id() })
    end)
    local r = res:recv()
    local dump, at = r[1], r[2]
    assert.are.equal(id, r[3])
    assert.are.equal(1, (dump:find("goroutine " .. id .. " [running]:\n", 1, true)), dump)
    local mine = block_of(dump, id)
    find(mine, "stack traceback:")
    find(mine, SRC .. ":" .. at .. ":")
    find(mine, "created by goroutine 1 at ")
    find(mine, SRC .. ":" .. go_line)
  end)

  it("from a goroutine, shows main (goroutine 1) blocked, with the line of its call", function()
    local c = lugo.chan()
    lugo.go(function()
      local deadline, dump = os.time() + 30, ""
      repeat
        dump = lugo.stack()
        lugo.yield()
      until dump:find("goroutine 1 [chan receive]:", 1, true) or os.time() > deadline
      c:send(dump)
    end)
    local dump, at = c:recv(), line()
    local b = block_of(dump, 1)
    find(b, "goroutine 1 [chan receive]:\n")
    find(b, SRC .. ":" .. at .. ":")
  end)

  it("shows a goroutine blocked in ch:recv as [chan receive] with the line of the call", function()
    local c, lines = lugo.chan(), lugo.chan(1)
    local go_line = line() + 1
    local id = lugo.go(function()
      lines:send(debug.getinfo(1, "l").currentline + 1)
      c:recv()
    end)
    local recv_line = lines:recv()
    local dump = wait_state(id, "chan receive")
    local b = block_of(dump, id)
    find(b, "goroutine " .. id .. " [chan receive]:\n")
    find(b, "stack traceback:")
    find(b, SRC .. ":" .. recv_line .. ":")
    local created = find(b, "created by goroutine 1 at ")
    find(b, SRC .. ":" .. go_line, created)
    c:send("release")
  end)

  it("shows each wait reason", function()
    local c, s, m, wg = lugo.chan(), lugo.chan(), lugo.mutex(), lugo.waitgroup()
    m:lock()
    wg:add()
    local ids = {
      ["chan receive"] = lugo.go(function() c:recv() end),
      ["chan send"] = lugo.go(function() lugo.chan():send(1) end),
      ["mutex lock"] = lugo.go(function() m:lock(); m:unlock() end),
      ["waitgroup wait"] = lugo.go(function() wg:wait() end),
      ["select"] = lugo.go(function() lugo.select { s:case_send(1), lugo.chan():case_recv() } end),
      ["select (no cases)"] = lugo.go(function() lugo.select {} end),
    }
    for reason, id in pairs(ids) do
      local dump = wait_state(id, reason)
      local b = block_of(dump, id)
      find(b, "goroutine " .. id .. " [" .. reason .. "]:\n")
      find(b, "stack traceback:")
      find(b, "created by goroutine 1 at ")
    end
    -- every one of them is in a single dump
    local dump = lugo.stack()
    for reason, id in pairs(ids) do
      find(dump, "goroutine " .. id .. " [" .. reason .. "]:")
    end
    -- release what can be released (the chan send and select{} stay)
    m:unlock()
    wg:done()
    c:send(1)
    assert.are.equal(1, s:recv())
  end)

  it("shows the whole call chain of a blocked goroutine", function()
    local c, lines = lugo.chan(), lugo.chan(3)
    local id = lugo.go(function()
      local function inner()
        lines:send(debug.getinfo(1, "l").currentline + 1)
        return c:recv()
      end
      local function outer()
        lines:send(debug.getinfo(1, "l").currentline + 1)
        local v = inner()
        return v
      end
      lines:send(debug.getinfo(1, "l").currentline + 1)
      local v = outer()
      return v
    end)
    local l1, l2, l3 = lines:recv(), lines:recv(), lines:recv()
    local b = block_of(wait_state(id, "chan receive"), id)
    local p3 = find(b, SRC .. ":" .. l3 .. ":")   -- innermost first
    local p2 = find(b, SRC .. ":" .. l2 .. ":")
    local p1 = find(b, SRC .. ":" .. l1 .. ":")
    assert.is_true(p3 < p2 and p2 < p1, b)
    c:send(1)
  end)

  it("names the goroutine that created it", function()
    local c, ids = lugo.chan(), lugo.chan(1)
    local parent = lugo.go(function()
      ids:send(lugo.go(function() c:recv() end))
      c:recv()
    end)
    local child = ids:recv()
    local dump = wait_state(child, "chan receive")
    find(block_of(dump, child), "created by goroutine " .. parent .. " at ")
    c:close()
  end)

  it("lists every live goroutine", function()
    local c = lugo.chan()
    local ids = {}
    for i = 1, 20 do ids[i] = lugo.go(function() c:recv() end) end
    local dump = wait_state(ids[20], "chan receive")
    for i = 1, 20 do
      dump = wait_state(ids[i], "chan receive")
    end
    for i = 1, 20 do find(dump, "goroutine " .. ids[i] .. " [chan receive]:") end
    c:close()
  end)

  it("lists a runnable goroutine that keeps yielding", function()
    local stop = lugo.chan(1)
    local id = lugo.go(function()
      while lugo.select { stop:case_recv(), default = true } == nil do lugo.yield() end
    end)
    local deadline = os.time() + 30
    local dump
    repeat
      dump = lugo.stack()
      lugo.yield()
    until has(dump, "goroutine " .. id .. " [") or os.time() > deadline
    find(dump, "goroutine " .. id .. " [")
    stop:send(true)
  end)

  it("no longer lists a goroutine that finished", function()
    local done = lugo.chan()
    local id = lugo.go(function() done:send() end)
    local header = "goroutine " .. id .. " ["
    done:recv()
    -- it may take a moment to end after its last send
    local deadline = os.time() + 30
    while has(lugo.stack(), header) and os.time() < deadline do lugo.yield() end
    assert.is_nil(lugo.stack():find(header, 1, true))
  end)

  it("separates blocks: each header starts a line", function()
    local c = lugo.chan()
    local a = lugo.go(function() c:recv() end)
    local b = lugo.go(function() c:recv() end)
    wait_state(a, "chan receive")
    local dump = wait_state(b, "chan receive")
    for header in dump:gmatch("()goroutine %d+ %[") do
      assert.is_true(header == 1 or dump:sub(header - 1, header - 1) == "\n", dump)
    end
    c:close()
  end)
end)

-- Starts `lugo script` in the background through a shell (the shell prints
-- the child's pid, waits and prints its status); the script says "ready"
-- on stdout, then waits for the file `go` to exist. The spec sends SIGQUIT,
-- waits for the dump on stderr, creates `go` and expects the script to
-- finish normally.
local function sigquit_run(source, times)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. quote(dir)))
  local script, out, err, go = dir .. "/s.lua", dir .. "/out", dir .. "/err", dir .. "/go"
  local f = assert(io.open(script, "wb"))
  f:write(source)
  f:close()
  local sh = quote(support.lugo) .. " " .. quote(script) .. " " .. quote(go) ..
    " </dev/null >" .. quote(out) .. " 2>" .. quote(err) ..
    " & echo $!; wait $!; echo rc=$?"
  local p = assert(io.popen(GUARD .. " sh -c " .. quote(sh), "r"))
  local pid = assert(tonumber(p:read("l")), "no pid")
  local function wait_for(path, text, n)
    for _ = 1, 600 do
      if support.count(support.read(path), text) >= (n or 1) then return true end
      os.execute("sleep 0.05")
    end
    return false
  end
  local ready = wait_for(out, "ready")
  local dumped = false
  if ready then
    -- each dump starts with this line (then a traceback per goroutine)
    for k = 1, times or 1 do
      os.execute("kill -QUIT " .. pid)
      dumped = wait_for(err, "SIGQUIT: goroutine dump", k)
      if not dumped then break end
    end
  end
  local g = io.open(go, "wb")
  g:close()
  local rest = p:read("a")
  p:close()
  local o, e = support.read(out), support.read(err)
  os.execute("rm -rf " .. quote(dir))
  assert.is_true(ready, "script never got ready; stderr:\n" .. e)
  assert.is_true(dumped, "no dump on stderr after SIGQUIT; stderr:\n" .. e)
  return o, e, tonumber(rest:match("rc=(%d+)"))
end

describe("SIGQUIT to the lugo command", function()
  it("prints the goroutine dump to stderr and the program goes on", function()
    local out, err, code = sigquit_run([[
      local lugo = require "lugo"
      local go = arg[1]
      local c = lugo.chan()
      local id = lugo.go(function() c:recv() end)
      require("support").wait_parked(id, "chan receive")   -- blocked when dumped
      io.write("id ", id, "\nready\n")
      io.stdout:flush()
      while not io.open(go) do lugo.yield() end
      c:send("bye")
      print("done")
    ]])
    assert.are.equal(0, code, err)
    local id = tonumber(out:match("id (%d+)"))
    assert.are.equal("id " .. id .. "\nready\ndone\n", out)
    local b = block_of(err, id)
    find(b, "goroutine " .. id .. " [chan receive]:\n")
    find(b, "stack traceback:")
    find(b, "created by goroutine 1 at ")
  end)

  it("the dump includes the main goroutine (goroutine 1), here running", function()
    local out, err, code = sigquit_run([[
      local lugo = require "lugo"
      local go = arg[1]
      local c = lugo.chan()
      lugo.go(function() c:recv() end)   -- something else to dump
      print("ready")
      io.stdout:flush()
      while not io.open(go) do lugo.yield() end
      c:send(1)
      print("done")
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("ready\ndone\n", out)
    find(err, "goroutine 1 [")
  end)

  it("the dump includes the main goroutine (goroutine 1) blocked in recv", function()
    local out, err, code = sigquit_run([[
      local lugo = require "lugo"
      local go = arg[1]
      local c = lugo.chan()
      lugo.go(function()
        -- "ready" once main is blocked in recv, so the dump finds it there
        require("support").wait_parked(1, "chan receive")
        print("ready")
        io.stdout:flush()
        while not io.open(go) do lugo.yield() end
        c:send("go")
      end)
      c:recv()
      print("done")
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("ready\ndone\n", out)
    find(err, "goroutine 1 [chan receive]:")
  end)

  it("can be sent more than once", function()
    local out, err, code = sigquit_run([[
      local lugo = require "lugo"
      local go = arg[1]
      local c = lugo.chan()
      local id = lugo.go(function() c:recv() end)
      require("support").wait_parked(id, "chan receive")   -- blocked when dumped
      io.write("id ", id, "\nready\n")
      io.stdout:flush()
      while not io.open(go) do lugo.yield() end
      c:send(1)
      print("done")
    ]], 3)
    assert.are.equal(0, code, err)
    local id = tonumber(out:match("id (%d+)"))
    assert.are.equal("id " .. id .. "\nready\ndone\n", out)
    local _, n = err:gsub("goroutine " .. id .. " %[chan receive%]:", "")
    assert.are.equal(3, n, err)
  end)
end)

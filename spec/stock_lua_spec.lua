-- stock_lua_spec.lua: lugo loaded as a C module into the stock lua5.4
-- interpreter (ctest runs this file with lua5.4, LUA_CPATH pointing at the
-- build). The main chunk is a thread outside the runtime: it is the main
-- goroutine (id 1) and blocks its own OS thread, on a condition variable,
-- in recv, send and wait, while goroutines run on the worker threads.
local lugo = require "lugo"

-- busted's proxy _ENV cannot cross into a goroutine: use the real globals
-- (see channel_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"
local has, quote = support.has, support.quote

-- The interpreter running this file, for child processes.
local LUA = "lua5.4"
if arg and type(arg[-1]) == "string" and arg[-1]:find("lua", 1, true) then
  LUA = arg[-1]
end

-- Runs `LUA -e code` in a child (environment prefix env, at most 60 s);
-- returns its stdout and stderr together, and its exit status.
local function run_lua(code, env)
  local out = os.tmpname()
  local cmd = (env or "") .. " timeout 60 " .. quote(LUA) .. " -e " .. quote(code)
              .. " </dev/null >" .. quote(out) .. " 2>&1"
  local _, _, status = os.execute(cmd)
  local f = io.open(out, "rb")
  local text = f and f:read("a") or ""
  if f then f:close() end
  os.remove(out)
  return text, status
end

describe("require 'lugo' in stock lua5.4", function()
  it("runs under the stock interpreter", function()
    assert.are.equal("Lua 5.4", _VERSION)
    assert.is_true(rawequal(lugo, package.loaded.lugo))
    -- the C module came from package.cpath, not from a lugo host
    assert.is_not_nil(package.searchpath("lugo", package.cpath))
  end)

  it("returns the module table", function()
    for _, name in ipairs { "go", "yield", "id", "numgoroutine", "workers",
                            "config", "chan", "waitgroup" } do
      assert.are.equal("function", type(lugo[name]), name)
    end
    assert.is_true(rawequal(lugo, require "lugo"))
  end)

  it("the main chunk is goroutine 1", function()
    assert.are.equal(1, lugo.id())
    assert.are.equal("integer", math.type(lugo.id()))
  end)

  it("lugo.workers() is the worker count", function()
    local n = lugo.workers()
    assert.are.equal("integer", math.type(n))
    assert.is_true(n >= 1)
    local env = tonumber(os.getenv("LUGO_WORKERS") or "")
    if env then assert.are.equal(env, n) end
  end)

  it("lugo.workers() follows LUGO_WORKERS", function()
    local out, status = run_lua('io.write(require("lugo").workers())', "LUGO_WORKERS=3")
    assert.are.equal(0, status, out)
    assert.are.equal("3", out)
  end)

  it("lugo.workers() defaults to the online CPUs", function()
    local p = assert(io.popen("getconf _NPROCESSORS_ONLN"))
    local cpus = p:read("l")
    p:close()
    local out, status = run_lua('io.write(require("lugo").workers())', "env -u LUGO_WORKERS")
    assert.are.equal(0, status, out)
    assert.are.equal(cpus, out)
  end)
end)

describe("goroutines under stock lua5.4", function()
  it("run and report to the main chunk", function()
    local c = lugo.chan()
    local id = lugo.go(function(a, b) c:send(a + b) end, 20, 22)
    assert.are.equal("integer", math.type(id))
    assert.is_true(id > 1)
    assert.are.same({ 42, true, n = 2 }, table.pack(c:recv()))
  end)

  it("each has its own id, the one lugo.go returned", function()
    local c = lugo.chan()
    local ids = {}
    for _ = 1, 10 do
      ids[lugo.go(function() c:send(lugo.id()) end)] = true
    end
    for _ = 1, 10 do
      local id = c:recv()
      assert.is_true(ids[id], "unexpected id " .. tostring(id))
      ids[id] = nil
    end
    assert.is_nil(next(ids))
    assert.are.equal(1, lugo.id())
  end)

  it("run on worker threads while the main chunk blocks in recv", function()
    local c = lugo.chan()
    lugo.go(function()
      -- main (a thread outside the workers) is blocked by now, or this fails
      if not require("support").parked(1, "chan receive") then
        c:send("main never blocked"); return
      end
      local sum = 0
      for i = 1, 1000 do sum = sum + i end
      c:send(sum)
    end)
    assert.are.equal(500500, c:recv())
  end)

  it("take values the main chunk sends, blocking it until they do", function()
    local c, back, after = lugo.chan(), lugo.chan(), lugo.chan(1)
    lugo.go(function()
      local sum = 0
      for _ = 1, 100 do sum = sum + c:recv() end
      back:send(sum)
    end)
    for i = 1, 100 do c:send(i) end
    assert.are.equal(5050, back:recv())
    -- an unbuffered send from main returns only once taken
    lugo.go(function()
      require("support").parked(1, "chan send")   -- main blocks in send first
      after:send("taken")
      c:recv()
    end)
    c:send("x")
    assert.are.equal(1, after:len())
    assert.are.equal("taken", after:recv())
  end)

  it("release the main chunk blocked in wait", function()
    local wg = lugo.waitgroup()
    local marks = lugo.chan(50)
    wg:add(50)
    for i = 1, 50 do
      lugo.go(function()
        marks:send(i)
        wg:done()
      end)
    end
    wg:wait()
    assert.are.equal(50, marks:len())
  end)

  it("wake the main chunk blocked in recv by closing", function()
    local c = lugo.chan()
    lugo.go(function()
      if not require("support").parked(1, "chan receive") then c:send("main never blocked") end
      c:close()
    end)
    assert.are.same({ nil, false, n = 2 }, table.pack(c:recv()))
  end)

  it("wake the main chunk blocked in send by closing", function()
    local c = lugo.chan()
    lugo.go(function()
      if not require("support").parked(1, "chan send") then c:recv() end
      c:close()
    end)
    local ok, err = pcall(c.send, c, 1)
    assert.is_false(ok)
    assert.is_true(has(err, "send on closed channel"), tostring(err))
  end)

  it("share a channel created in the main chunk", function()
    local c, result = lugo.chan(), lugo.chan()
    lugo.go(function()
      for i = 1, 1000 do c:send(i) end
      c:close()
    end)
    lugo.go(function()
      local n, sum, inorder, prev = 0, 0, true, 0
      for v in c:range() do
        n, sum = n + 1, sum + v
        if v ~= prev + 1 then inorder = false end
        prev = v
      end
      result:send({ n = n, sum = sum, inorder = inorder })
    end)
    assert.are.same({ n = 1000, sum = 500500, inorder = true }, result:recv())
  end)

  it("copy values both ways intact", function()
    local c, back = lugo.chan(), lugo.chan()
    lugo.go(function()
      local v = c:recv()
      v.echo = true
      back:send(v)
    end)
    local t = { n = 3, f = 3.0, s = "a\0b", nested = { 1, 2 } }
    t.self = t
    c:send(t)
    local r = back:recv()
    assert.are.equal("integer", math.type(r.n))
    assert.are.equal("float", math.type(r.f))
    assert.are.equal("a\0b", r.s)
    assert.are.same({ 1, 2 }, r.nested)
    assert.is_true(rawequal(r.self, r))
    assert.is_true(r.echo)
    assert.is_nil(t.echo)                      -- the original is untouched
  end)

  it("10,000 goroutines started from the main chunk all finish", function()
    local n = 10000
    local wg = lugo.waitgroup()
    local marks = lugo.chan(n)
    wg:add(n)
    for i = 1, n do
      lugo.go(function()
        marks:send(i)
        wg:done()
      end)
    end
    wg:wait()
    assert.are.equal(n, marks:len())
    local sum = 0
    for _ = 1, n do sum = sum + marks:recv() end
    assert.are.equal(n * (n + 1) // 2, sum)
  end)

  it("a pipeline of goroutines feeds the main chunk's range", function()
    local function stage(input, fn)
      local out = lugo.chan()
      lugo.go(function()
        for v in input:range() do out:send(fn(v)) end
        out:close()
      end)
      return out:recvonly()
    end
    local src = lugo.chan()
    lugo.go(function()
      for i = 1, 100 do src:send(i) end
      src:close()
    end)
    local squares = stage(stage(src, function(v) return v * v end),
                          function(v) return v + 1 end)
    local sum = 0
    for v in squares:range() do sum = sum + v end
    assert.are.equal(338350 + 100, sum)
  end)
end)

describe("a stock lua5.4 script", function()
  it("exits when its main chunk ends, with goroutines still blocked", function()
    local out, status = run_lua([[
      local lugo = require "lugo"
      local c = lugo.chan()
      for i = 1, 4 do lugo.go(function() c:recv() end) end
      local done = lugo.chan()
      lugo.go(function() done:send() end)
      done:recv()
      io.write("end of main")
    ]])
    assert.are.equal(0, status, out)
    assert.are.equal("end of main", out)
  end)

  it("runs goroutines and channels from a plain script", function()
    local out, status = run_lua([[
      local lugo = require "lugo"
      local results = lugo.chan()
      local wg = lugo.waitgroup()
      for i = 1, 4 do
        wg:add()
        lugo.go(function(n) results:send(n * n); wg:done() end, i)
      end
      lugo.go(function() wg:wait(); results:close() end)
      local sum = 0
      for v in results:range() do sum = sum + v end
      io.write(sum, " ", lugo.id())
    ]])
    assert.are.equal(0, status, out)
    assert.are.equal("30 1", out)
  end)

  it("lugo.net from the main chunk: its waits poll the socket itself", function()
    local ln = assert(lugo.net.listen("127.0.0.1:0"))
    lugo.go(function(ln)
      local c = ln:accept()
      c:write(c:read("l"), "\n")
      c:read("a")
      c:close()
    end, ln)
    local c = assert(lugo.net.dial(ln:addr()))
    c:write("from outside\n")
    assert.are.equal("from outside", c:read("l"))
    c:setreaddeadline(lugo.now() + 0.05)
    assert.are.same({ nil, "timeout", "ETIMEDOUT" }, { c:read("l") })
    c:close()
    ln:close()
  end)
end)

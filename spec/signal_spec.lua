-- signal_spec.lua: API.md "Signals" (issue 14): lugo.signal delivers named
-- signals on a receive-only channel of capacity 1, drops what comes while
-- one waits, keeps the default action away until stop, and waiting for a
-- signal is not a deadlock.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

local function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return pid
end

local function send_self(name)
  assert(os.execute("kill -" .. name .. " " .. my_pid()))
end

describe("lugo.signal", function()
  it("delivers each named signal's name on n.c", function()
    local n = lugo.signal("USR1", "USR2")
    send_self("USR1")
    assert.are.equal("USR1", n.c:recv())
    send_self("USR2")
    assert.are.equal("USR2", n.c:recv())
    assert.has_error(function() n.c:send("x") end, "send on receive-only channel")
    n:stop()
  end)

  it("keeps one waiting: signals that come meanwhile are dropped", function()
    local n = lugo.signal("USR1")
    for _ = 1, 3 do send_self("USR1") end
    lugo.sleep(0.1)
    assert.are.equal(1, n.c:len())
    assert.are.equal("USR1", n.c:recv())
    lugo.sleep(0.05)
    assert.are.equal(0, n.c:len())
    n:stop()
  end)

  it("every notifier of a signal gets it", function()
    local a, b = lugo.signal("HUP"), lugo.signal("HUP", "USR1")
    send_self("HUP")
    assert.are.equal("HUP", a.c:recv())
    assert.are.equal("HUP", b.c:recv())
    a:stop()
    b:stop()
  end)

  it("stop brings the default action back", function()
    local out, _, code = support.child([[
      local lugo = require "lugo"
      local n = lugo.signal("USR2")
      local pid = io.open("/proc/self/stat"):read("n")
      os.execute("kill -USR2 " .. pid)
      print((n.c:recv()))
      n:stop()
      os.execute("kill -USR2 " .. pid)
      lugo.sleep(1)
      print("still alive")
    ]])
    assert.are.equal("USR2\n", out)
    assert.are_not.equal(0, code)
  end)

  it("waiting only for a signal is not a deadlock", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local n = lugo.signal("USR1")
      local pid = io.open("/proc/self/stat"):read("n")
      os.execute("(sleep 0.2; kill -USR1 " .. pid .. ") &")
      print((n.c:recv()))
    ]])
    assert.are.equal("USR1\n", out)
  end)

  it("rejects unknown names", function()
    assert.has_error(function() lugo.signal("KILL") end)
    assert.has_error(function() lugo.signal() end)
  end)
end)

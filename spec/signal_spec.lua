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

-- Whether SIGINT is in the mask `field` ("SigCgt": caught, "SigIgn":
-- ignored) of /proc/self/status.
local function int_in(field)
  local f = assert(io.open("/proc/self/status"))
  local mask
  for line in f:lines() do mask = mask or line:match("^" .. field .. ":%s*(%x+)") end
  f:close()
  return tonumber(mask:sub(-1), 16) & 2 ~= 0   -- SIGINT is 2: bit 1
end

-- Sends SIGINT to this process through kill(1) started by lugo.exec, not
-- os.execute: system(3) ignores SIGINT in its caller while it waits, so an
-- INT sent from os.execute's child would be lost.
local function interrupt_self()
  local _, code = lugo.exec.output({ "kill", "-INT", tostring(my_pid()) })
  assert.are.equal(0, code)
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

  it("delivers INT to a channel, and stop restores INT's default action (a child dies of it)", function()
    local path = support.script_file([[
      local lugo = require "lugo"
      local pid = io.open("/proc/self/stat"):read("n")
      local function interrupt()   -- not os.execute: system(3) ignores INT meanwhile
        local _, code = lugo.exec.output({"kill", "-INT", tostring(pid)})
        assert(code == 0, "kill failed")
      end
      local n = lugo.signal("INT")
      interrupt()
      print((n.c:recv()))          -- the notifier got it, and INT did not kill us
      n:stop()
      interrupt()                  -- the default action again: it ends the process
      lugo.sleep(30)
      print("still alive")
    ]])
    -- The child starts with INT's default action even if this process
    -- inherited INT ignored (as a background job does): that is what stop
    -- must give back.
    local argv = { support.lugo, path }
    local _, env_code = lugo.exec.output({ "env", "--default-signal=INT", "true" })
    if env_code == 0 then table.insert(argv, 1, "env"); table.insert(argv, 2, "--default-signal=INT") end
    local out, err, code, sig = support.run_child(argv)
    os.remove(path)
    assert.are.equal("INT\n", out, "stderr:\n" .. err)
    assert.is_nil(code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
    assert.are.equal("INT", sig, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  end)

  it("delivers INT to a channel in this process; stop gives back the action there was", function()
    local caught, ignored = int_in("SigCgt"), int_in("SigIgn")
    local n = lugo.signal("INT")
    assert.is_true(int_in("SigCgt"))
    interrupt_self()
    assert.are.equal("INT", n.c:recv())
    interrupt_self()
    assert.are.equal("INT", n.c:recv())
    n:stop()
    assert.are.equal(caught, int_in("SigCgt"))
    assert.are.equal(ignored, int_in("SigIgn"))
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

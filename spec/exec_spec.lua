-- exec_spec.lua: API.md "Processes: lugo.exec" (issue 14): spawn with
-- pipes read and written by goroutines, wait (exit code, or the signal),
-- kill, output, cwd and env, and errors as nil, message, name.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"

describe("lugo.exec", function()
  it("output runs a program to its end: standard output and exit code", function()
    assert.are.same({ "hello world\n", 0 }, { lugo.exec.output({ "echo", "hello", "world" }) })
    assert.are.same({ "", 3 }, { lugo.exec.output({ "sh", "-c", "exit 3" }) })
    assert.are.same({ nil, "no such file or directory", "ENOENT" },
                    { lugo.exec.output({ "no-such-program-for-lugo" }) })
  end)

  it("spawn gives pipes as streams: a goroutine feeds stdin while another drains stdout", function()
    local p = assert(lugo.exec.spawn({ "sort" }, { stdin = "pipe", stdout = "pipe" }))
    assert.are.equal("integer", math.type(p.pid))
    assert.is_nil(p.stderr)
    lugo.go(function(p)
      for _, w in ipairs({ "pear", "apple", "fig" }) do p.stdin:write(w, "\n") end
      p.stdin:closewrite()
    end, p)
    local got = {}
    for line in p.stdout:lines() do got[#got + 1] = line end
    assert.are.same({ "apple", "fig", "pear" }, got)
    assert.are.equal(0, p:wait())
    assert.are.equal(0, p:wait())   -- the exit is kept
  end)

  it("wait parks until the exit; kill ends it with a signal", function()
    local p = assert(lugo.exec.spawn({ "sleep", "30" }))
    lugo.go(function(p) lugo.sleep(0.05); assert(p:kill()) end, p)
    assert.are.same({ nil, "TERM" }, { p:wait() })   -- not 0: the kill ended it
    assert.are.same({ nil, "no such process", "ESRCH" }, { p:kill("KILL") })
    assert.has_error(function() p:kill("NOPE") end)
  end)

  it("cwd, env (a whole environment: strings and name = value) and null", function()
    local out = lugo.exec.output({ "sh", "-c", "echo $A $B; pwd; echo err >&2" },
                                 { cwd = "/", env = { "A=1", B = "two" }, stderr = "null" })
    assert.are.equal("1 two\n/\n", out)
  end)

  it("works from other goroutines, many at once", function()
    local done = lugo.chan()
    for i = 1, 10 do
      lugo.go(function(i, done)
        local out = lugo.exec.output({ "sh", "-c", "echo " .. i })
        done:send(out == i .. "\n")
      end, i, done)
    end
    for _ = 1, 10 do assert.is_true(done:recv()) end
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() lugo.exec.spawn({}) end)
    assert.has_error(function() lugo.exec.spawn({ "true" }, { stdout = "file" }) end)
    assert.has_error(function() lugo.exec.spawn({ "echo", {} }) end)
  end)

  it("children get SIGPIPE's default action back (lugo only catches it), however started", function()
    -- Bit 13 of SigIgn (SIGPIPE, 0x1000) must be clear in the child: with it
    -- set, `yes | head -1` would complain of a broken pipe.
    local function pipe_ignored(status_line)
      local mask = tonumber(assert(status_line:match("SigIgn:%s*(%x+)")), 16)
      return mask & 0x1000 ~= 0
    end
    local probe = "grep SigIgn /proc/self/status"
    assert.is_false(pipe_ignored(lugo.exec.output({ "sh", "-c", probe })))
    local f = io.popen(probe)
    assert.is_false(pipe_ignored(f:read("a")))
    f:close()
    local got = lugo.chan(1)
    lugo.go(function()
      local g = io.popen(probe)
      got:send(g:read("a"))
      g:close()
    end)
    assert.is_false(pipe_ignored(got:recv()))
    assert.are.equal("y\n", lugo.exec.output({ "sh", "-c", "yes | head -1 2>&1" }))
  end)
end)

-- command_spec.lua: the `lugo` command: arguments, -e, -, -v, -i, exit
-- statuses, panics and the end of the program (API.md, The `lugo`
-- command; Failure). Every case runs in a child process.
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"

local GUARD = support.GUARD
local find = support.find

local function run(args, opts)
  opts = opts or {}
  opts.env = (opts.env or "") .. " " .. GUARD
  return support.run(args, opts)
end

local function run_script(source, args, opts)
  opts = opts or {}
  opts.env = (opts.env or "") .. " " .. GUARD
  return support.run_script(source, args, opts)
end

local lines_of = support.lines_of

describe("lugo script.lua", function()
  it("sets arg and ... as lua does", function()
    local out, err, code, path = run_script([[
      print(arg[0])
      print(arg[1], arg[2], arg[3], #arg)
      print(select("#", ...), ...)
      print(arg[-1])
    ]], { "a", "b c", "" })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.same({ path, "a\tb c\t\t3", "3\ta\tb c\t", support.lugo }, lines_of(out))
  end)

  it("puts options before the script at negative indices", function()
    local out, err, code, path = run_script([[
      print(arg[-3], arg[-2], arg[-1], arg[0], arg[1], x)
    ]], { "z" }, {})
    assert.are.equal(0, code)
    assert.are.equal(path .. "\tz\tnil\n", out:gsub("^[^\t]*\t[^\t]*\t[^\t]*\t", ""))
    -- with an -e option first
    local dir = os.tmpname()
    local f = assert(io.open(dir, "wb"))
    f:write("print(arg[-3], arg[-2], arg[-1], arg[0], arg[1], x)")
    f:close()
    out, err, code = run({ "-e", "x = 5", dir, "z" })
    os.remove(dir)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal(support.lugo .. "\t-e\tx = 5\t" .. dir .. "\tz\t5\n", out)
  end)

  it("runs the script as the main goroutine", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      lugo.go(function(c) c:send(lugo.id()) end, ch)
      print(lugo.id(), ch:recv() > 1)
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("1\ttrue\n", out)
  end)

  it("exits with the status os.exit gives", function()
    local out, err, code = run_script([[print("before"); os.exit(3)]])
    assert.are.equal("before\n", out)
    assert.are.equal(3, code)
  end)

  it("reports a missing script and exits 1", function()
    local out, err, code = run({ "/nonexistent/dir/nothing.lua" })
    assert.are.equal(1, code)
    find(err, "nothing.lua")
  end)
end)

describe("lugo -e", function()
  it("runs a chunk", function()
    local out, err, code = run({ "-e", "print(1+1)" })
    assert.are.equal("2\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("runs several chunks in order", function()
    local out, err, code = run({ "-e", "x = 20", "-e", "print(x + 1)" })
    assert.are.equal("21\n", out)
    assert.are.equal(0, code)
  end)

  it("has lugo available through require", function()
    local out, err, code = run({ "-e", "local l = require 'lugo'; print(l.id(), l.workers() >= 1)" })
    assert.are.equal("1\ttrue\n", out)
    assert.are.equal(0, code)
  end)

  it("exits 1 on an error", function()
    local out, err, code = run({ "-e", "error('bad chunk')" })
    assert.are.equal(1, code)
    find(err, "bad chunk")
  end)
end)

describe("lugo -", function()
  it("reads the script from stdin", function()
    local out, err, code = run({ "-" }, { stdin = "print('from stdin', 6 * 7)\n" })
    assert.are.equal("from stdin\t42\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("passes the following arguments to the script", function()
    local out, err, code = run({ "-", "x", "y" },
      { stdin = "print(arg[0], select('#', ...), ...)" })
    assert.are.equal("-\t2\tx\ty\n", out)
    assert.are.equal(0, code)
  end)

  it("runs goroutines from stdin", function()
    local out, err, code = run({ "-" }, { stdin = [[
      local lugo = require "lugo"
      local ch = lugo.chan()
      for i = 1, 3 do lugo.go(function(c, n) c:send(n * n) end, ch, i) end
      local s = 0
      for _ = 1, 3 do s = s + ch:recv() end
      print(s)
    ]] })
    assert.are.equal("14\n", out)
    assert.are.equal(0, code)
  end)
end)

describe("lugo -v", function()
  it("prints the version", function()
    local out, err, code = run({ "-v" })
    assert.are.equal(0, code)
    assert.are.equal("", err)
    assert.is_truthy(out:match("^lugo%D*%d+%.%d+"), out)
    local v = run({ "-e", "io.write(require('lugo').version or '')" })
    if v ~= "" then find(out, v) end
  end)
end)

describe("an error in the main chunk", function()
  it("prints the message and a traceback to stderr and exits 1", function()
    local out, err, code, path = run_script([[
      print("started")
      local function inner() error("kaboom") end
      inner()
    ]])
    assert.are.equal("started\n", out)
    assert.are.equal(1, code)
    local a = find(err, path .. ":2: kaboom")
    local b = find(err, "stack traceback:", a)
    find(err, path .. ":3:", b)
  end)

  it("exits 1 on a runtime error and on a syntax error", function()
    local _, err, code = run_script("local x = nil + 1\n")
    assert.are.equal(1, code)
    find(err, "attempt to perform arithmetic")
    find(err, "stack traceback:")
    _, err, code = run_script("this is not lua\n")
    assert.are.equal(1, code)
    assert.is_truthy(#err > 0)
  end)

  it("exits 1 even while goroutines are still running", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      lugo.go(function() lugo.chan():recv() end)
      lugo.go(function() while true do lugo.yield() end end)
      error("main failed")
    ]])
    assert.are.equal(1, code)
    find(err, "main failed")
  end)
end)

describe("a panic in a goroutine", function()
  it("prints panic, the goroutine, a traceback and its creator, and exits 2", function()
    local out, err, code, path = run_script([[
      local lugo = require "lugo"
      local ch = lugo.chan()
      local function fail(x) error("boom " .. x) end
      local id = lugo.go(function(c)
        c:recv()
        fail("now")
      end, ch)
      print(id)
      io.stdout:flush()
      ch:send()
      lugo.chan():recv()
    ]])
    assert.are.equal(2, code)
    local id = tonumber(out:match("^(%d+)\n"))
    assert.is_truthy(id, out)
    local lines = lines_of(err)
    assert.are.equal("panic: " .. path .. ":3: boom now", lines[1])
    local g = find(err, "\ngoroutine " .. id .. " [running]:\n")
    local t = find(err, "stack traceback:", g)
    find(err, path .. ":3:", t)               -- fail
    find(err, path .. ":6:", t)               -- the goroutine's function
    local c = find(err, "created by goroutine 1 at " .. path .. ":4\n", t)
    assert.is_truthy(c > t)
  end)

  it("with a message and no position prints it as is", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      local done = lugo.chan()
      lugo.go(function() error("plain message", 0) end)
      done:recv()
    ]])
    assert.are.equal(2, code)
    assert.are.equal("panic: plain message", lines_of(err)[1])
  end)

  it("in a goroutine started by a goroutine names that parent", function()
    local out, err, code, path = run_script([[
      local lugo = require "lugo"
      local ids, gate = lugo.chan(), lugo.chan()
      local outer = lugo.go(function(i, g)
        local inner = lugo.go(function(gg)
          gg:recv()
          error("inner failure")
        end, g)
        i:send(inner)
        lugo.chan():recv()
      end, ids, gate)
      local inner = ids:recv()
      print(outer, inner)
      io.stdout:flush()
      gate:send()
      lugo.chan():recv()
    ]])
    assert.are.equal(2, code)
    local outer, inner = out:match("^(%d+)\t(%d+)\n")
    assert.is_truthy(outer, out)
    assert.are_not.equal(outer, inner)
    assert.are.equal("panic: " .. path .. ":6: inner failure", lines_of(err)[1])
    local g = find(err, "\ngoroutine " .. inner .. " [running]:\n")
    local t = find(err, "stack traceback:", g)
    find(err, "created by goroutine " .. outer .. " at " .. path .. ":4\n", t)
  end)

  it("names the chunk of -e in its created by line", function()
    local out, err, code = run({ "-e",
      "local l = require 'lugo'; l.go(function() error('x', 0) end); l.chan():recv()" })
    assert.are.equal(2, code)
    assert.are.equal("panic: x", lines_of(err)[1])
    find(err, "goroutine 2 [running]:")
    find(err, "created by goroutine 1 at (command line):1")
  end)

  it("exits 2 while main is busy, not blocked", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      lugo.go(function() error("while busy", 0) end)
      while true do lugo.yield() end
    ]])
    assert.are.equal(2, code)
    assert.are.equal("panic: while busy", lines_of(err)[1])
  end)

  it("shows the output printed before it", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      io.write("before the panic\n")
      local ch = lugo.chan()
      lugo.go(function(c) c:recv(); error("late", 0) end, ch)
      ch:send()
      lugo.chan():recv()
    ]])
    assert.are.equal(2, code)
    assert.are.equal("before the panic\n", out)
  end)
end)

describe("when the main goroutine returns", function()
  it("the program ends while goroutines block forever or loop", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      local forever = lugo.chan()
      local started = lugo.chan()
      -- Each is confirmed running before the next starts: the test needs
      -- neither preemption nor any particular placement.
      for _ = 1, 10 do
        lugo.go(function(f, s) s:send(); f:recv() end, forever, started)
        started:recv()
      end
      lugo.go(function(s) local wg = lugo.waitgroup(); wg:add(); s:send(); wg:wait() end, started)
      started:recv()
      lugo.go(function(s) s:send(); while true do end end, started)
      started:recv()
      lugo.go(function(s) s:send(); while true do lugo.yield() end end, started)
      started:recv()
      print("main done")
    ]], nil, { env = "LUGO_WORKERS=4" })
    assert.are.equal("main done\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("the program ends with a looping goroutine on a single worker", function()
    local out, err, code = run_script([[
      local lugo = require "lugo"
      local started = lugo.chan()
      lugo.go(function(s) s:send(); while true do end end, started)
      started:recv()
      print("main done")
    ]], nil, { env = "LUGO_WORKERS=1" })
    assert.are.equal("main done\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("the program ends after -e while goroutines run", function()
    local out, err, code = run({ "-e",
      "local l = require 'lugo'; for i = 1, 4 do l.go(function() while true do l.yield() end end) end; print('ok')" })
    assert.are.equal("ok\n", out)
    assert.are.equal(0, code)
  end)
end)

describe("lugo -i with stdin not a terminal", function()
  -- Prompts and the banner go to stdout as well: keep what follows them.
  local function values(out)
    local t = {}
    for _, l in ipairs(lines_of(out)) do
      l = l:gsub("^[> ]*", "")
      if l ~= "" then t[#t + 1] = l end
    end
    return t
  end

  local function has(list, v)
    for _, x in ipairs(list) do if x == v then return true end end
    return false
  end

  it("reads lines, prints expression values and exits 0", function()
    local out, err, code = run({ "-i" }, { stdin = table.concat({
      "1+1",
      "x = 5",
      "x * 2",
      "print('hi')",
      "'a', 2, nil",
      "",
    }, "\n") })
    assert.are.equal(0, code)
    assert.are.equal("", err)
    local v = values(out)
    assert.is_true(has(v, "2"), out)
    assert.is_true(has(v, "10"), out)
    assert.is_true(has(v, "hi"), out)
    assert.is_true(has(v, "a\t2\tnil"), out)
    assert.is_false(has(v, "5"), out)
  end)

  it("continues incomplete lines", function()
    local out, err, code = run({ "-i" }, { stdin = "function f(a)\n  return a * 3\nend\nf(14)\n" })
    assert.are.equal(0, code)
    assert.is_true(has(values(out), "42"), out)
  end)

  it("reports an error and goes on", function()
    local out, err, code = run({ "-i" }, { stdin = "error('oops')\n7 * 6\n" })
    assert.are.equal(0, code)
    find(err, "oops")
    assert.is_true(has(values(out), "42"), out)
  end)

  it("keeps goroutines started at the prompt running between lines", function()
    local out, err, code = run({ "-i" }, { stdin = table.concat({
      "lugo = require 'lugo'",
      "ch = lugo.chan()",
      "lugo.go(function(c) local v = c:recv(); c:send(v * 2) end, ch) ~= nil",
      "ch:send(21)",
      "(ch:recv())",
      "lugo.id()",
      "",
    }, "\n") })
    assert.are.equal(0, code)
    assert.are.equal("", err)
    local v = values(out)
    assert.is_true(has(v, "true"), out)
    assert.is_true(has(v, "42"), out)
    assert.is_true(has(v, "1"), out)
  end)

  it("exits 0 at the end of input even while goroutines block", function()
    local out, err, code = run({ "-i" }, { stdin = table.concat({
      "lugo = require 'lugo'",
      "lugo.go(function(c) c:recv() end, lugo.chan()) > 1",
      "",
    }, "\n") })
    assert.are.equal(0, code)
    assert.is_true(has(values(out), "true"), out)
  end)
end)

-- io_spec.lua: API.md "The standard io library" (issue 14): in goroutines
-- the io library's reads and writes run off the worker, with the standard
-- library's results, errors included.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local support = require "support"

-- The start of a child script that needs a named pipe: `fifo`, its path.
local FIFO = [[
  local fifo = os.tmpname()
  os.remove(fifo)
  assert(os.execute("mkfifo " .. fifo))
]]
local WITH_FIFO = 'local lugo = require "lugo"\n' .. FIFO

describe("the io library in goroutines", function()
  it("a read that waits does not hold the worker (one worker)", function()
    local out = support.child_ok(WITH_FIFO .. [[
      local ready, got = lugo.chan(), lugo.chan()
      lugo.go(function()
        local f = assert(io.open(fifo, "r+"))   -- r+: the open does not wait
        ready:send(true)
        got:send(f:read("l"))                   -- waits for the writer below
        f:close()
      end)
      ready:recv()
      -- The same (only) worker runs this while the read waits.
      local w = assert(io.open(fifo, "w"))
      w:write("through the fifo\n")
      w:flush()
      print((got:recv()))
      w:close()
      os.remove(fifo)
    ]], "LUGO_WORKERS=1")
    assert.are.equal("through the fifo\n", out)
  end)

  it("gives the standard library's results, for every format", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("line one\nline two\n3.5 0x10 42\nrest of\nfile")
    f:close()
    local code = [[
      local path = ...
      local f = assert(io.open(path))
      local r = { f:read("l") }
      r[#r + 1] = f:read("L")
      for _, v in ipairs({ f:read("n", "n", "n") }) do r[#r + 1] = v end
      r[#r + 1] = f:read(0); r[#r + 1] = f:read(4); r[#r + 1] = f:read("a")
      r[#r + 1] = tostring(f:read("a")) .. tostring(f:read("l")) .. tostring(f:read(0))
      f:close()
      r[#r + 1] = select(2, pcall(f.read, f))
      local n = 0
      for a, b in io.lines(path, 1, "l") do n = n + 1 end
      r[#r + 1] = n
      r[#r + 1] = select(2, pcall(io.lines, "/nonexistent/file"))
      return table.concat(r, "|")
    ]]
    local plain = assert(load(code))(path)                 -- the main goroutine
    local ch = lugo.chan(1)
    lugo.go(function(code, path, ch) ch:send(load(code)(path)) end, code, path, ch)
    assert.are.equal(plain, ch:recv())
    local want = "line one|line two\n|3.5|16|42||\nres|t of\nfile|nilnil|attempt to use a closed file|5|"
    assert.are.equal(want, plain:sub(1, #want))
    assert.matches("cannot open file '/nonexistent/file'", plain, 1, true)
    os.remove(path)
  end)

  it("io.write and io.read use the default files; numbers are written as the library does", function()
    local out, err, code = support.run_script([[
      local lugo = require "lugo"
      lugo.run(function()
        io.write(1.0, " ", 3, " ", 2^53, "\n")
        print(io.read("l"), io.read("n"))
        for l in io.lines() do io.write("[", l, "]") end
        io.write("\n")
      end)
    ]], {}, { stdin = "first\n12 rest\nlast\n" })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("1 3 9.007199254741e+15\nfirst\t12\n[ rest][last]\n", out)
  end)

  it("os.execute waits off the worker, with the library's results", function()
    local out = support.child_ok(WITH_FIFO .. [[
      local ready, done = lugo.chan(), lugo.chan()
      lugo.go(function()   -- the shell waits for a line from the fifo
        ready:send(true)
        done:send({ os.execute("read x < " .. fifo .. "; test \"$x\" = go") })
      end)
      ready:recv()
      -- The same (only) worker runs this while the shell waits.
      assert(os.execute("echo go > " .. fifo))
      local r = done:recv()
      print(r[1], r[2], r[3])
      print(os.execute("exit 3"))
      os.remove(fifo)
    ]], "LUGO_WORKERS=1")
    assert.are.equal("true\texit\t0\nnil\texit\t3\n", out)
  end)

  it("reads io.popen's pipe in a goroutine as lua5.4 does", function()
    local ch = lugo.chan(1)
    lugo.go(function(ch)
      local p = assert(io.popen("echo one; sleep 0.05; printf 'two\\nthree'"))
      local lines = {}
      for l in p:lines() do lines[#lines + 1] = l end
      ch:send({ lines, p:close() })
    end, ch)
    local r = ch:recv()
    assert.are.same({ "one", "two", "three" }, r[1])
    assert.is_true(r[2])
  end)

  it("io.read from a pipe does not hold the worker either (one worker)", function()
    local out = support.child_ok(WITH_FIFO .. [[
      local ready, got = lugo.chan(), lugo.chan()
      lugo.go(function()
        io.input(assert(io.open(fifo, "r+")))   -- r+: the open does not wait
        ready:send(true)
        got:send(io.read("l"))                  -- waits for the write below
      end)
      ready:recv()
      assert(os.execute("echo 'via io.read' > " .. fifo))   -- the same (only) worker
      print((got:recv()))
      os.remove(fifo)
    ]], "LUGO_WORKERS=1")
    assert.are.equal("via io.read\n", out)
  end)
  -- A ticker goroutine on the same (only) worker counts 10 ms ticks; the
  -- old build held the worker in pclose and open(2), and ticked not at all
  -- (or hung: the FIFO's writer could not run). GUARD_SHORT ends a hang.
  local TICKER = [[
    local lugo = require "lugo"
    local ticks, stop = lugo.atomic(0), lugo.atomic(0)
    lugo.go(function(ticks, stop)
      while stop:load() == 0 do lugo.sleep(0.01); ticks:add(1) end
    end, ticks, stop)
    lugo.sleep(0.03)
  ]]
  local GUARD_SHORT = "LUGO_WORKERS=1 timeout -k 2 20"

  it("io.popen's close waits off the worker (one worker)", function()
    local out = support.child_ok(TICKER .. [[
      local p = assert(io.popen("sleep 0.3"))
      local before = ticks:load()
      local r = { p:close() }
      print(r[1], r[2], r[3], ticks:load() - before >= 10)
      print(io.popen("exit 3"):close())
      stop:store(1)
    ]], GUARD_SHORT)
    assert.are.equal("true\texit\t0\ttrue\nnil\texit\t3\n", out)
  end)

  it("io.open of a FIFO waits off the worker (one worker)", function()
    local out = support.child_ok(TICKER .. FIFO .. [[
      local got = lugo.chan()
      lugo.go(function(fifo, got)
        local f = assert(io.open(fifo, "r"))   -- waits for the writer below
        got:send(f:read("l"))
        got:send(io.type(f))
        f:close()
      end, fifo, got)
      local before = ticks:load()
      lugo.sleep(0.2)   -- the reader's open waits meanwhile
      print(ticks:load() - before >= 10)
      lugo.go(function(fifo)
        local w = assert(io.open(fifo, "w"))
        w:write("through the fifo\n")
        w:close()
      end, fifo)
      print((got:recv()), (got:recv()))
      os.remove(fifo)
      stop:store(1)
    ]], GUARD_SHORT)
    assert.are.equal("true\nthrough the fifo\tfile\n", out)
  end)

  it("io.open, io.popen and their closes give lua5.4's results and errors", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local code = [[
      local fifo = ...
      local r = {}
      local function add(...)
        for i = 1, select("#", ...) do r[#r + 1] = tostring((select(i, ...))) end
      end
      add(io.popen("exit 0"):close())
      add(io.popen("exit 3"):close())
      add(io.close(io.popen("kill -TERM $$")))
      local p = io.popen("true")
      add(p:close())
      add(pcall(p.close, p))
      add(pcall(io.close, p))
      add(io.type(p), tostring(p))
      add(pcall(io.popen, "true", "rw"))
      add(io.open("/nonexistent/dir/file"))
      add(io.open("/nonexistent/dir/file", "w"))
      add(io.open("/", "w"))
      add(pcall(io.open, "x", "rw"))
      add(pcall(io.open, {}))
      add(pcall(io.close, 3))
      local f = assert(io.open(fifo, "r+"))   -- a FIFO, through the helper
      add(io.type(f), f:write("x\n") == f, f:flush(), f:read("l"), f:close())
      add(pcall(f.close, f))
      return table.concat(r, "|")
    ]]
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("io.write(assert(load(", string.format("%q", code), "))(...))")
    f:close()
    local plain = assert(io.popen("lua5.4 " .. path .. " " .. fifo)):read("a")
    local ch = lugo.chan(1)
    lugo.go(function(code, fifo, ch) ch:send(load(code)(fifo)) end, code, fifo, ch)
    assert.are.equal(plain, ch:recv())
    local want = "true|exit|0|nil|exit|3|nil|signal|15|true|exit|0|false|attempt to use a closed file|"
    assert.are.equal(want, plain:sub(1, #want))
    assert.matches("/nonexistent/dir/file: No such file or directory|2|", plain, 1, true)
    assert.matches("|file|true|true|x|true|false|attempt to use a closed file", plain, 1, true)
    os.remove(path)
    os.remove(fifo)
  end)

  -- Runs source as a script under a child lugo started by lugo.exec (with
  -- the extra arguments as its ...), so that a signal that kills it cannot
  -- reach this runner; returns its stdout, stderr, exit code and signal.
  local function child_process(source, ...)
    local path = support.script_file(source)
    local out, err, code, sig = support.run_child({ support.lugo, path, ... })
    os.remove(path)
    return out, err, code, sig
  end

  -- The child printed nothing more and died of INT (the default action).
  local function assert_died_of_int(out, err, code, sig)
    assert.are.equal("", out, "stderr:\n" .. err)
    assert.is_nil(code, "stderr:\n" .. err)
    assert.are.equal("INT", sig, "stderr:\n" .. err)
  end

  -- A child script's start: interrupt() sends INT to the child itself (by
  -- lugo.exec: an os.execute would be the very call under test), and
  -- execute_in_goroutine(cmd) starts os.execute(cmd) in a goroutine and
  -- returns once the shell runs (it makes the file named by the script's
  -- first argument), with a channel that gets true when it has returned.
  local SIGNAL_CHILD = [[
    local lugo = require "lugo"
    local marker = ...
    local pid = io.open("/proc/self/stat"):read("n")
    local function interrupt()
      local _, code = lugo.exec.output({ "kill", "-INT", tostring(pid) })
      assert(code == 0, "kill failed")
    end
    local function execute_in_goroutine(cmd)
      local done = lugo.chan(1)
      lugo.go(function(cmd, done) os.execute(cmd); done:send(true) end, ": > " .. marker .. "; " .. cmd, done)
      local deadline = lugo.now() + 30
      while not io.open(marker) and lugo.now() < deadline do lugo.sleep(0.01) end
      assert(io.open(marker), "the shell never started")
      os.remove(marker)
      return done
    end
    local function recv_or_lost(n)   -- n's signal, or "lost" after 5 s
      local _, got = lugo.select{ n.c:case_recv(), lugo.after(5):case_recv(function() return "lost" end) }
      return got
    end
  ]]

  -- The marker file for a SIGNAL_CHILD script (not there yet).
  local function marker_path()
    local path = os.tmpname()
    os.remove(path)
    return path
  end

  -- system(3) ignores INT and QUIT in the whole process while it waits;
  -- os.execute in a goroutine must not, since the others run on.
  it("an INT during an os.execute reaches lugo.signal, or ends the process (Ctrl-C)", function()
    local out, err, code = child_process(SIGNAL_CHILD .. [[
      local n = lugo.signal("INT")
      local done = execute_in_goroutine("sleep 2")
      interrupt()
      print(recv_or_lost(n))
      done:recv()
    ]], marker_path())
    assert.are.equal("INT\n", out, "stderr:\n" .. err)
    assert.are.equal(0, code, "stderr:\n" .. err)

    local out2, err2, code2, sig2 = child_process(SIGNAL_CHILD .. [[
      local done = execute_in_goroutine("sleep 2")
      interrupt()
      done:recv()
      lugo.sleep(1)
      print("survived")
    ]], marker_path())
    assert_died_of_int(out2, err2, code2, sig2)
  end)

  -- system(3) puts back, when it returns, the actions INT and QUIT had
  -- when it began, undoing a lugo.signal made or stopped meanwhile.
  it("a lugo.signal made or stopped during an os.execute stays so after it", function()
    local out, err, code = child_process(SIGNAL_CHILD .. [[
      local done = execute_in_goroutine("sleep 0.5")
      local n = lugo.signal("INT")
      done:recv()
      interrupt()
      print(recv_or_lost(n))
    ]], marker_path())
    assert.are.equal("INT\n", out, "stderr:\n" .. err)
    assert.are.equal(0, code, "stderr:\n" .. err)

    local out2, err2, code2, sig2 = child_process(SIGNAL_CHILD .. [[
      local n = lugo.signal("INT")
      local done = execute_in_goroutine("sleep 0.5")
      n:stop()   -- INT's default action again: the next one ends the process
      done:recv()
      interrupt()
      lugo.sleep(1)
      print("survived")
    ]], marker_path())
    assert_died_of_int(out2, err2, code2, sig2)
  end)

  it("os.execute gives lua5.4's results: an exit code, a signal, success, a missing command", function()
    local code = [[
      local r = {}
      for _, cmd in ipairs{ "exit 3", "kill -TERM $$", "true", "lugo_no_such_command 2>/dev/null" } do
        local ok, how, n = os.execute(cmd)
        r[#r + 1] = table.concat({ tostring(ok), tostring(how), tostring(n) }, " ")
      end
      return table.concat(r, "|")
    ]]
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("io.write(assert(load(", string.format("%q", code), "))())")
    f:close()
    local plain = assert(io.popen("lua5.4 " .. path)):read("a")
    os.remove(path)
    assert.are.equal("nil exit 3|nil signal 15|true exit 0|nil exit 127", plain)
    local ch = lugo.chan(1)
    lugo.go(function(code, ch) ch:send(load(code)()) end, code, ch)
    assert.are.equal(plain, ch:recv())
  end)

  it("line reads taken straight from the FILE's buffer give lua5.4's results", function()
    -- Empty lines, CRLF, a line longer than the buffer, a last line with no
    -- newline; "l", "L", "*l", "*L", the default, lines and io.read mixed.
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("one\n\ntwo\r\n", string.rep("x", 10000), "\nthree\nfour\nfive\nsix\n")
    for i = 1, 2000 do f:write("line ", i, "\n") end
    f:write("last, no newline")
    f:close()
    local code = [[
      local path = ...
      local r = {}
      local function put(...) for i = 1, select("#", ...) do r[#r + 1] = string.format("%q", (select(i, ...))) end end
      local f = assert(io.open(path))
      put(f:read("l"), f:read("L"), f:read(), f:read("*L"), f:read("*l"), f:read("n"), f:read("l"), f:read(2), f:read("L"))
      for line in f:lines("L") do put(line) end
      put(f:read("l"), f:read("L"))
      f:close()
      for line in io.lines(path) do put(line) end
      io.input(path)
      put(io.read(), io.read("L"), io.read("l", "l"))
      io.input():close()
      return table.concat(r, ",")
    ]]
    local script = os.tmpname()
    f = assert(io.open(script, "w"))
    f:write("io.write(assert(load(", string.format("%q", code), "))(...))")
    f:close()
    local plain = assert(io.popen("lua5.4 " .. script .. " " .. path)):read("a")
    os.remove(script)
    assert.are.equal(plain, assert(load(code))(path))   -- the main goroutine
    local ch = lugo.chan(1)
    lugo.go(function(code, path, ch) ch:send(load(code)(path)) end, code, path, ch)
    assert.are.equal(plain, ch:recv())
    os.remove(path)
  end)
end)

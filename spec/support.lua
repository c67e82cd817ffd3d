-- support.lua: shared helpers for the specs: running the `lugo` command in
-- a child process and capturing its output and exit status, and the
-- assertions and small helpers that several spec files use.
--
-- Spec files take busted's names as locals and then set `local _ENV = _G`
-- (busted's proxy _ENV cannot cross into a goroutine). The helpers here
-- use the real globals too, and luassert (the very table busted exports as
-- assert), loaded on first use.
local M = {}

-- luassert, as busted's `assert`; required lazily.
local function luassert() return require "luassert" end

M.lugo = os.getenv("LUGO") or "build/lugo"

-- Reads the whole file at path ("" when it cannot be opened).
local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
M.read = read

-- Reads the whole file at path ("" when it cannot be opened), then removes it.
local function slurp(path)
  local s = read(path)
  os.remove(path)
  return s
end
M.slurp = slurp

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

-- Runs `lugo <args...>` (a list of strings) with optional stdin text and
-- environment prefix (e.g. "LUGO_WORKERS=1"). Returns stdout, stderr and
-- the exit status (an integer).
function M.run(args, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local parts = { opts.env or "", quote(M.lugo) }
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  local cmd = table.concat(parts, " ")
  if opts.stdin then
    local inp = os.tmpname()
    local f = assert(io.open(inp, "wb"))
    f:write(opts.stdin)
    f:close()
    cmd = cmd .. " <" .. quote(inp)
    opts.stdin_file = inp
  else
    cmd = cmd .. " </dev/null"
  end
  cmd = cmd .. " >" .. quote(out) .. " 2>" .. quote(err)
  local _, _, code = os.execute(cmd)
  if opts.stdin_file then os.remove(opts.stdin_file) end
  return slurp(out), slurp(err), code
end

-- Runs a Lua source text as a script file under `lugo`.
function M.run_script(source, args, opts)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  local argv = { path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local o, e, c = M.run(argv, opts)
  os.remove(path)
  return o, e, c, path
end

-- Writes a Lua source text to a new temporary file; returns its path (the
-- caller removes it).
function M.script_file(source)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  return path
end

-- Guards a process p of lugo.exec.spawn that a bug could hang: kills it
-- (KILL, so its p:wait() gives nil, "KILL") unless the returned function is
-- called within seconds (default TIMEOUT). Call it once p has ended.
function M.guard(p, seconds)
  local lugo = require "lugo"
  local done = lugo.chan(1)
  lugo.go(function(p, done, t)
    lugo.select{ done:case_recv(), lugo.after(t):case_recv(function() p:kill("KILL") end) }
  end, p, done, seconds or M.TIMEOUT)
  return function() done:send(true) end
end

-- Runs argv (a lugo.exec.spawn list) to its end, guarded against a hang,
-- with its standard output and error captured; returns them, and its exit
-- code and signal as p:wait() does.
function M.run_child(argv)
  local lugo = require "lugo"
  local p = assert(lugo.exec.spawn(argv, { stdout = "pipe", stderr = "pipe" }))
  local ended = M.guard(p)
  local errs = lugo.chan(1)
  lugo.go(function(p, errs) errs:send(p.stderr:read("a")) end, p, errs)
  local out = p.stdout:read("a")
  local code, sig = p:wait()
  ended()
  return out, errs:recv(), code, sig
end

-- The lines of s, without their newlines (no empty last line).
function M.lines_of(s)
  local t = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

-- The rest of the line of out that starts with key and a tab (print's
-- separator); fails the test when there is none.
function M.field(out, key)
  for l in (out .. "\n"):gmatch("([^\n]*)\n") do
    if l:sub(1, #key + 1) == key .. "\t" then return l:sub(#key + 2) end
  end
  luassert().is_true(false, "no line '" .. key .. "\t...' in:\n" .. out)
end

-- Guards children that a bug could hang: the exit status is then 124.
M.GUARD = "timeout -k 5 120"

-- The message that starts stderr when the `lugo` command finds a deadlock.
M.DEADLOCK = "fatal error: all goroutines are asleep - deadlock!"

-- Runs a script under a child lugo guarded by GUARD (after the optional
-- environment prefix env); returns stdout, stderr, status and path.
function M.child(source, env, args)
  return M.run_script(source, args, { env = (env or "") .. " " .. M.GUARD })
end

-- Runs a script like child and checks it exits 0 with empty stderr;
-- returns its stdout.
function M.child_ok(source, env)
  local assert = luassert()
  local out, err, code = M.child(source, env)
  assert.are.equal("", err, "stdout:\n" .. out)
  assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  return out
end

-- The lines of a child's output that look like "key value", as a table.
function M.fields(out)
  local t = {}
  for k, v in out:gmatch("(%S+) ([^\n]*)\n") do t[k] = v end
  return t
end

-- True when s is a string containing the plain text (e.g. an error message
-- that may start with a "file:12: " position).
function M.has(s, text)
  return type(s) == "string" and string.find(s, text, 1, true) ~= nil
end

-- Number of non-overlapping occurrences of the plain text in s.
function M.count(s, text)
  local n, at = 0, 1
  while true do
    local a, b = s:find(text, at, true)
    if not a then return n end
    n, at = n + 1, b + 1
  end
end

-- Finds plain text in s from init; returns start and end, or fails the
-- test with s shown.
function M.find(s, text, init)
  local a, b = s:find(text, init or 1, true)
  luassert().is_truthy(a, "expected to find " .. string.format("%q", text) ..
    " in:\n" .. s)
  return a, b
end

-- The block of goroutine id in a stack dump: from its header to the next
-- header (or the end). Fails the test when there is none.
function M.block_of(dump, id)
  local a = M.find(dump, "goroutine " .. id .. " [")
  local b = dump:find("\ngoroutine %d+ %[", a + 1)
  return dump:sub(a, b and b - 1 or #dump)
end

-- Checks err is the message msg, allowing only the "<source>:<line>: "
-- position prefix that Lua's error convention adds.
function M.assert_message(msg, err)
  local assert = luassert()
  assert.are.equal("string", type(err), tostring(err))
  if err ~= msg then
    local prefix = err:sub(1, #err - #msg)
    assert.are.equal(msg, err:sub(-#msg), err)
    assert.is_truthy(prefix:match("^[^\n]*:%d+: $"), err)
  end
end

-- Calls fn(...) and checks that it raises exactly the message msg.
function M.raises(msg, fn, ...)
  local ok, err = pcall(fn, ...)
  luassert().is_false(ok, "expected the error '" .. msg .. "', got none")
  M.assert_message(msg, err)
end

-- Calls fn(...), which must fail; returns its error as a string.
function M.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  luassert().is_false(ok, "expected an error, got none")
  return tostring(err)
end

-- Calls fn(...) and checks that it raises an error containing text.
function M.raises_with(text, fn, ...)
  local assert = luassert()
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected the error '" .. text .. "', got none")
  assert.is_true(M.has(err, text),
    "expected the error '" .. text .. "', got: " .. tostring(err))
end

-- Checks a child ended as a deadlock: status 2, stderr starting with
-- DEADLOCK, and a block `goroutine <id> [<reason>]:` for every {id, reason}
-- in the optional list blocks. Returns stderr.
function M.assert_deadlock(out, err, code, blocks)
  local assert = luassert()
  assert.are.equal(2, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  assert.are.equal(1, (err:find(M.DEADLOCK, 1, true)), "stderr:\n" .. err)
  for _, b in ipairs(blocks or {}) do
    local at = M.find(err, "goroutine " .. b[1] .. " [" .. b[2] .. "]:\n")
    assert.is_true(at > #M.DEADLOCK, err)
  end
  return err
end

-- Runs fn(...) in a goroutine and returns everything it returns, after a
-- trip back over a channel; an error in fn fails the test.
function M.in_goroutine(fn, ...)
  local lugo = require "lugo"
  local res = lugo.chan()
  lugo.go(function(...)
    res:send(table.pack(pcall(fn, ...)))
  end, ...)
  local r = res:recv()
  luassert().is_true(r[1], "goroutine failed: " .. tostring(r[2]))
  return table.unpack(r, 2, r.n)
end

-- Runs fn(...) in a goroutine; returns a table of its results (with n), or
-- raises its error (caught in the goroutine, so a failure is no panic).
function M.packed_in_goroutine(fn, ...)
  local lugo = require "lugo"
  local out = lugo.chan()
  lugo.go(function(o, f, ...)
    o:send(table.pack(pcall(f, ...)))
  end, out, fn, ...)
  local r = out:recv()
  if not r[1] then error(r[2], 0) end
  return table.pack(table.unpack(r, 2, r.n))
end

-- The bound of every wait in the specs: long enough for the slowest
-- machine and sanitizer build, so that reaching it means a hang (a bug),
-- never mere slowness.
M.TIMEOUT = 30

-- settle(): lets goroutines run for a while (200 yields); no test may rely
-- on how far they get, so an assertion after it must hold however slow the
-- machine is (e.g. "nothing was received" where nothing is ever sent).
-- settle(n): waits (bounded by TIMEOUT) until at most n goroutines are
-- live, main included (goroutines that have just sent their last value may
-- still be finishing); returns whether that happened, so the caller's own
-- assertion on the count reports a count that never comes down.
function M.settle(n)
  local lugo = require "lugo"
  if n == nil then
    for _ = 1, 200 do lugo.yield() end
    return true
  end
  local deadline = lugo.now() + M.TIMEOUT
  while lugo.numgoroutine() > n do
    if lugo.now() > deadline then return false end
    lugo.yield()
  end
  return true
end

-- The entry of goroutine id in lugo.goroutines() (nil when it is gone).
function M.goroutine(id)
  for _, g in ipairs(require("lugo").goroutines()) do
    if g.id == id then return g end
  end
end

-- Waits (bounded by TIMEOUT) until lugo.goroutines() shows goroutine id
-- waiting with the given reason (as the "[reason]" of lugo.stack(), e.g.
-- "chan receive"); returns whether it did. For a goroutine (which must not
-- fail with busted's assert) waiting until main is blocked:
-- `require("support").parked(1, "select")`.
function M.parked(id, reason)
  local lugo = require "lugo"
  local deadline = lugo.now() + M.TIMEOUT
  repeat
    local g = M.goroutine(id)
    if g and g.state == "waiting" and g.wait == reason then return true end
    lugo.yield()
  until lugo.now() > deadline
  return false
end

-- As parked, but fails the test when goroutine id never waits so. This is
-- how a spec knows "X is now blocked" without guessing how long that takes.
function M.wait_parked(id, reason)
  if M.parked(id, reason) then return true end
  luassert().is_true(false, "goroutine " .. id .. " never showed [" .. reason .. "]:\n"
    .. require("lugo").stack())
end

-- Busy-waits without yielding (the pure-Lua loop that preemption must
-- interrupt) until at least min_s seconds (default 0) have passed and
-- cond() is true, or until max_s seconds have passed (default min_s +
-- TIMEOUT: a guard against a hang, never reached when all is well, so a
-- spec fails on cond not holding instead). cond may be nil (just min_s);
-- step, if given, is called on every turn of the loop. Returns whether
-- cond held (true when there is no cond) and the seconds spent.
function M.spin_until(cond, min_s, max_s, step)
  local lugo = require "lugo"
  min_s = min_s or 0
  max_s = max_s or min_s + M.TIMEOUT
  local t0 = lugo.now()
  while true do
    local dt = lugo.now() - t0
    if dt >= min_s and (cond == nil or cond()) then return true, dt end
    if dt >= max_s then return false, dt end
    if step then step() end
  end
end

return M

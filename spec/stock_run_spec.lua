-- stock_run_spec.lua: lugo.run and the main chunk of the stock lua5.4
-- interpreter, a thread outside the runtime (API.md, Goroutines: lugo.run;
-- The main goroutine and threads outside the runtime). Such a thread
-- blocks its own OS thread in lugo calls; lugo.run from it runs fn as a
-- goroutine, blocks until fn returns, returns fn's results or raises its
-- error (message, then traceback).
--
-- This file runs under the `lugo` command like the other specs; every case
-- runs a script in a stock lua5.4 child process (LUA_CPATH pointing at the
-- directory of the lugo command under test, where lugo.so is built), so
-- no ctest change is needed. A sanitizer build's lugo.so cannot be loaded
-- by the stock interpreter: the cases are then skipped (pending).
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
-- busted's environment: its `pending`, looked up while a test runs, marks
-- that test pending (the one captured at load time would not).
local BUSTED_ENV = _ENV
local _ENV = _G

local support = require "support"

local GUARD, quote, find = support.GUARD, support.quote, support.find

local LUA = os.getenv("LUA_INTERP") or "lua5.4"
local DIR = support.lugo:match("^(.*)/[^/]*$") or "."
local ENV = "LUA_CPATH=" .. quote(DIR .. "/?.so;;")

-- Whether the stock interpreter can load lugo.so (nil until probed).
local loadable

-- Runs source as a script under stock lua5.4 (env: an extra environment
-- prefix, args: a list of arguments); returns stdout, stderr, status and
-- the script's path. Marks the test pending when lugo.so cannot be loaded
-- at all (a sanitizer build), returning nil.
local function stock(source, env, args)
  if loadable == nil then
    loadable = os.execute(ENV .. " " .. GUARD .. " " .. quote(LUA) ..
      " -e 'require \"lugo\"' >/dev/null 2>&1") and true or false
  end
  if not loadable then
    BUSTED_ENV.pending(LUA .. " cannot load " .. DIR .. "/lugo.so (sanitizer build?)")
    return nil
  end
  local base = os.tmpname()
  local path = base .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  local out, err = os.tmpname(), os.tmpname()
  local cmd = ENV .. " " .. (env or "") .. " " .. GUARD .. " " .. quote(LUA) .. " " .. quote(path)
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. quote(a) end
  local _, _, code = os.execute(cmd .. " </dev/null >" .. quote(out) .. " 2>" .. quote(err))
  os.remove(path)
  os.remove(base)
  return support.slurp(out), support.slurp(err), code, path
end

-- Runs like stock and checks the child exits 0 with empty stderr; returns
-- its stdout, or nil when skipped.
local function stock_ok(source, env)
  local out, err, code, path = stock(source, env)
  if out == nil then return nil end
  assert.are.equal("", err, "stdout:\n" .. out)
  assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
  return out, path
end

-- The rest of the line of out that starts with key and a tab (print's
-- separator); fails the test when there is none.
local function field(out, key)
  for l in (out .. "\n"):gmatch("([^\n]*)\n") do
    if l:sub(1, #key + 1) == key .. "\t" then return l:sub(#key + 2) end
  end
  assert.is_true(false, "no line '" .. key .. "\t...' in:\n" .. out)
end

describe("lugo.run from the stock lua5.4 main chunk", function()
  it("returns fn's results and passes its arguments", function()
    local out = stock_ok([[
      local lugo = require "lugo"
      print("version", _VERSION, lugo.id())
      local r = table.pack(lugo.run(function(a, b, ...)
        return b, a, select("#", ...), nil, lugo.id()
      end, 1, "two", nil, nil))
      print("n", r.n)
      print("values", r[1], r[2], r[3], r[4], r[5] ~= 1, math.type(r[5]))
      print("none", select("#", lugo.run(function() end)))
      local t = { 1, { 2 } }
      local c = lugo.run(function(x) x[1] = 10; x.self = x; return x end, t)
      print("copy", t[1], t.self, c[1], rawequal(c.self, c), rawequal(c, t), c[2][1])
      local f = lugo.run(function() local k = 6; return function(x) return x * k end end)
      print("func", f(7))
      print("floats", math.type((lugo.run(function() return 1.0 end))),
            math.type((lugo.run(function() return 1 end))))
    ]])
    if not out then return end
    assert.are.equal("Lua 5.4\t1", field(out, "version"))
    assert.are.equal("5", field(out, "n"))
    assert.are.equal("two\t1\t2\tnil\ttrue\tinteger", field(out, "values"))
    assert.are.equal("0", field(out, "none"))
    assert.are.equal("1\tnil\t10\ttrue\tfalse\t2", field(out, "copy"))
    assert.are.equal("42", field(out, "func"))
    assert.are.equal("float\tinteger", field(out, "floats"))
  end)

  it("raises fn's error: the message, then the goroutine's traceback; the runtime goes on", function()
    local out, path = stock_ok([[
      local lugo = require "lugo"
      local ok, err = pcall(lugo.run, function()
        error("stock failure")
      end)
      print("ok", ok, type(err))
      local a = err:find("stock failure", 1, true)
      local b = err:find("stack traceback:", 1, true)
      print("order", a ~= nil and b ~= nil and a < b)
      print("line", err:find(arg[0] .. ":3: stock failure", 1, true) ~= nil)
      print("frame", b ~= nil and err:find(arg[0] .. ":3:", b, true) ~= nil)
      for i = 1, 10 do
        local ok2, e2 = pcall(lugo.run, function(k) error({ code = k }) end, i)
        if ok2 then print("bad", i) end
      end
      print("after", lugo.run(function(x) return x + 1 end, 41))
      local ok3, e3 = pcall(lugo.run, function() return coroutine.create(print) end)
      print("nocross", ok3, tostring(e3):find("lugo: cannot transfer thread", 1, true) ~= nil)
      print("still", lugo.run(function() return "fine" end))
    ]])
    if not out then return end
    assert.are.equal("false\tstring", field(out, "ok"))
    assert.are.equal("true", field(out, "order"))
    assert.are.equal("true", field(out, "line"))
    assert.are.equal("true", field(out, "frame"))
    assert.is_nil(out:find("bad\t", 1, true), out)
    assert.are.equal("42", field(out, "after"))
    assert.are.equal("false\ttrue", field(out, "nocross"))
    assert.are.equal("fine", field(out, "still"))
  end)

  it("an uncaught error from lugo.run ends the stock script as lua does (status 1)", function()
    local out, err, code, path = stock([[
      local lugo = require "lugo"
      print("started")
      lugo.run(function()
        error("uncaught in run")
      end)
      print("not reached")
    ]])
    if not out then return end
    assert.are.equal("started\n", out)
    assert.are.equal(1, code, err)
    local a = find(err, path .. ":4: uncaught in run")
    find(err, "stack traceback:", a)
  end)

  it("fn waits for other goroutines while the main thread blocks", function()
    local out = stock_ok([[
      local lugo = require "lugo"
      local feed = lugo.chan()
      lugo.go(function() for i = 1, 100 do feed:send(i) end; feed:close() end)
      print("sum", lugo.run(function(f)
        local s = 0
        for v in f:range() do s = s + v end
        return s
      end, feed))
    ]])
    if not out then return end
    assert.are.equal("5050", field(out, "sum"))
  end)

  it("works nested, and from goroutines (which park: one worker is enough)", function()
    local out = stock_ok([[
      local lugo = require "lugo"
      local a, b = lugo.run(function()
        return lugo.id(), lugo.run(function() return lugo.id() end)
      end)
      print("nested", a ~= 1, b ~= 1, a ~= b)
      local function nest(n)
        if n == 0 then return 0 end
        return 1 + lugo.run(nest, n - 1)
      end
      print("deep", lugo.run(nest, 20))
      local res, feed = lugo.chan(), lugo.chan()
      lugo.go(function()
        local ok, v = pcall(lugo.run, function(f) return f:recv() * 2 end, feed)
        res:send(ok and v or tostring(v))
      end)
      lugo.go(function() feed:send(21) end)
      print("from_goroutine", res:recv())
    ]], "LUGO_WORKERS=1")
    if not out then return end
    assert.are.equal("true\ttrue\ttrue", field(out, "nested"))
    assert.are.equal("20", field(out, "deep"))
    assert.are.equal("42\ttrue", field(out, "from_goroutine"))
  end)

  it("a deadlock inside lugo.run is raised as a Lua error in the stock main chunk", function()
    local out = stock_ok([[
      local lugo = require "lugo"
      local DEADLOCK = "fatal error: all goroutines are asleep - deadlock!"
      local ok, err = pcall(lugo.run, function() lugo.chan():recv() end)
      print("deadlock", ok, type(err) == "string" and err:find(DEADLOCK, 1, true) ~= nil)
      print("after", lugo.run(function() return "alive" end))
    ]])
    if not out then return end
    assert.are.equal("false\ttrue", field(out, "deadlock"))
    assert.are.equal("alive", field(out, "after"))
  end)
end)

-- The stock main chunk exchanges N values with a goroutine, each a round
-- trip (send i, receive it back): directly (arg[2] "direct") or through
-- lugo.run (arg[2] "run").
local ROUND_TRIPS = [[
  local lugo = require "lugo"
  local N, how = math.tointeger(tonumber(arg[1])), arg[2]
  local function echo(req, resp)
    for v in req:range() do resp:send(v) end
  end
  local function trips(q, p, n)
    local bad, sum = 0, 0
    for i = 1, n do
      q:send(i)
      local v = p:recv()
      if v ~= i then bad = bad + 1 end
      sum = sum + v
    end
    q:close()
    return bad, sum
  end
  local req, resp = lugo.chan(), lugo.chan()
  lugo.go(echo, req, resp)
  local bad, sum
  if how == "direct" then
    bad, sum = trips(req, resp, N)
  else
    bad, sum = lugo.run(trips, req, resp, N)
  end
  print("trips", bad, sum == N * (N + 1) // 2)
  print("id", lugo.id())
]]

describe("the stock lua5.4 main chunk exchanging values with a goroutine", function()
  local SCALE = tonumber(os.getenv("LUGO_SPEC_SCALE") or "") or 1
  local N = math.max(100, math.floor(100000 * SCALE))
  for _, how in ipairs { "direct", "run" } do
    for _, workers in ipairs { 1, 2 } do
      local what = how == "direct" and "from the main chunk" or "through lugo.run"
      it(("does %d round trips correctly %s (LUGO_WORKERS=%d)"):format(N, what, workers), function()
        local out, err, code = stock(ROUND_TRIPS, "LUGO_WORKERS=" .. workers, { tostring(N), how })
        if not out then return end
        assert.are.equal("", err, "stdout:\n" .. out)
        assert.are.equal(0, code, "stdout:\n" .. out .. "\nstderr:\n" .. err)
        assert.are.equal("0\ttrue", field(out, "trips"))
        assert.are.equal("1", field(out, "id"))
      end)
    end
  end
end)

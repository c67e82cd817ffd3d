-- preempt: a fairness demo and the cost of preemption, on ONE worker.
--  1. A goroutine spins in a pure Lua loop for SPIN seconds while another
--     sleeps 50 ms at a time and records when it wakes: without
--     preemption it would get no tick until the spinner ends.
--     Prints `ticks N` and `maxgap S` (longest time between two ticks).
--  2. A fixed pure-Lua loop of K iterations timed alone, and timed again
--     while a second goroutine is runnable (it loops on lugo.yield()), so
--     the loop is preempted every time slice. Prints `overhead P` (percent,
--     from process CPU time, os.clock(), best of REPS each: CPU time is
--     what preemption costs, and it is not inflated by other processes on
--     a shared machine) and `time S` (the loop alone, wall clock).
-- Usage: lugo preempt.lua [K] [SPIN]   (default 40,000,000 and 2 s)
local lugo = require "lugo"
local K = math.tointeger(tonumber(arg and arg[1])) or 40000000
local SPIN = tonumber(arg and arg[2]) or 2.0
local TICK = 0.050
local REPS = 3

lugo.config{workers = 1}

-- 1. fairness ------------------------------------------------------------
local res = lugo.chan(2)
lugo.go(function(dur, tick, res)
  local now = lugo.now
  local start = now()
  local last, ticks, maxgap = start, 0, 0
  repeat
    lugo.sleep(tick)
    local t = now()
    ticks = ticks + 1
    if t - last > maxgap then maxgap = t - last end
    last = t
  until t - start >= dur
  res:send({"ticker", ticks, maxgap})
end, SPIN, TICK, res)
lugo.go(function(dur, res)
  local now = lugo.now
  local stop = now() + dur
  local h, rounds = 0, 0
  repeat
    for i = 1, 65536 do h = (h ~ i) * 1099511628211 end   -- pure Lua
    rounds = rounds + 1
  until now() >= stop
  res:send({"spinner", rounds, h})
end, SPIN, res)
local ticks, maxgap, rounds
for _ = 1, 2 do
  local r = res:recv()
  if r[1] == "ticker" then ticks, maxgap = r[2], r[3] else rounds = r[2] end
end
if not (ticks and rounds and rounds > 0 and ticks > 0) then
  io.stderr:write("preempt: FAIL: the spinner or the ticker did not report\n")
  os.exit(1)
end

-- 2. preemption overhead --------------------------------------------------
local function loop(k)
  local h = 0
  for i = 1, k do h = (h ~ i) * 1099511628211 end
  return h
end

-- Times loop(k) in a goroutine; with `busy`, a second goroutine keeps
-- yielding meanwhile, so that one is always runnable. Returns the wall
-- time, the process CPU time and the hash.
local function timed(k, busy)
  local out = lugo.chan(1)
  local stop = lugo.chan(1)
  if busy then
    lugo.go(function(stop)
      local yield = lugo.yield
      while stop:len() == 0 do yield() end
    end, stop)
  end
  lugo.go(function(loop, k, out, stop)
    local t0, c0 = lugo.now(), os.clock()
    local h = loop(k)
    local c1, t1 = os.clock(), lugo.now()
    stop:send(true)
    out:send({t1 - t0, c1 - c0, h})
  end, loop, k, out, stop)
  local r = out:recv()
  return r[1], r[2], r[3]
end

local alone, busy, alone_wall, busy_wall = math.huge, math.huge, math.huge, math.huge
local h1, h2
for _ = 1, REPS do
  local w, c
  w, c, h1 = timed(K, false)
  alone, alone_wall = math.min(alone, c), math.min(alone_wall, w)
  w, c, h2 = timed(K, true)
  busy, busy_wall = math.min(busy, c), math.min(busy_wall, w)
end
if h1 ~= h2 or loop(1000) ~= 0x24f575eb89e8a788 then
  io.stderr:write("preempt: FAIL: the loop gave different results\n")
  os.exit(1)
end
print(("preempt ok: workers %d, spin %.1f s, %d ticks, loop %d"):format(
  lugo.workers(), SPIN, ticks, K))
print(("ticks %d"):format(ticks))
print(("maxgap %.6f"):format(maxgap))
print(("alone %.6f"):format(alone))
print(("busy %.6f"):format(busy))
print(("overhead %.2f"):format((busy / alone - 1) * 100))
print(("time %.6f"):format(alone_wall))

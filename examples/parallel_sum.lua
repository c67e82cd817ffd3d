-- parallel_sum.lua: CPU-bound work (integer hashing) split over goroutines,
-- partial results gathered on a channel. Run alone, it runs itself with 1
-- worker and with all workers and prints both times and the speedup.
local lugo = require "lugo"

local PARTS, N = 8, tonumber(os.getenv("PARALLEL_SUM_N")) or 16000000

-- Sum of a xorshift-multiply hash over [from, to).
local function part(from, to, out)
  local acc = 0
  for i = from, to - 1 do
    local x = i
    x = x ~ (x << 13)
    x = x ~ (x >> 7)
    x = x ~ (x << 17)
    acc = (acc + (x * 0x9E3779B1)) & 0xffffffff
  end
  out:send(acc)
end

local function run()
  local out = lugo.chan(PARTS)
  local t0 = lugo.now()
  local step = N // PARTS
  for p = 0, PARTS - 1 do
    lugo.go(part, p * step, (p + 1) * step, out)
  end
  local total = 0
  for _ = 1, PARTS do total = (total + out:recv()) & 0xffffffff end
  return total, lugo.now() - t0
end

if arg and arg[1] == "--once" then
  local total, secs = run()
  print(string.format("%d %.4f %d", total, secs, lugo.workers()))
  return
end

-- Run this script again in a fresh process per worker count: the worker
-- count is fixed once the first goroutine starts.
local interp = arg and arg[-1] or "lugo"
local function measure(workers)
  local cmd = string.format("LUGO_WORKERS=%d %q %q --once", workers, interp, arg[0])
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local total, secs, w = out:match("^(%d+) ([%d.]+) (%d+)")
  assert(total, "child run failed: " .. out)
  return tonumber(total), tonumber(secs), tonumber(w)
end

local all = lugo.workers()
local sum1, t1 = measure(1)
local sumN, tN, wN = measure(all)
assert(sum1 == sumN, "results differ between worker counts")
print(string.format("checksum %d", sum1))
print(string.format("1 worker:  %.3f s", t1))
print(string.format("%d workers: %.3f s", wN, tN))
print(string.format("speedup: %.2fx", t1 / tN))

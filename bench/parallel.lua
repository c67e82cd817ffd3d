-- parallel: 8 goroutines of CPU-bound integer hashing, no communication but
-- the results. Run with 1 and with 2 workers to see the speedup.
-- Usage: lugo parallel.lua [iterations per goroutine]   (default 15,000,000)
local lugo = require "lugo"
local DEFAULT_M = 15000000
local M = math.tointeger(tonumber(arg and arg[1])) or DEFAULT_M
local G = 8

-- h = (h xor i) * FNV prime, then xor-shift: 64-bit wrapping integer
-- arithmetic, bit for bit the same as Go's uint64.
local function hash(seed, m)
  local h = seed
  for i = 1, m do
    h = (h ~ i) * 1099511628211
    h = h ~ (h >> 29)
  end
  return h
end

local results = lugo.chan(G)

local t0 = lugo.now()
for k = 1, G do
  lugo.go(function(hash, k, m, results)
    results:send({k, hash(k, m)})
  end, hash, k, M, results)
end
local got = {}
for _ = 1, G do
  local r = results:recv()
  got[r[1]] = r[2]
end
local elapsed = lugo.now() - t0

-- Check: for the default size against the values Go computes, otherwise
-- by hashing again sequentially (outside the timing).
local mix = 0
for k = 1, G do mix = mix ~ got[k] end
local want
if M == DEFAULT_M then
  want = 0x78540c502e4a9ddb
else
  want = 0
  for k = 1, G do want = want ~ hash(k, M) end
end
if mix ~= want then
  io.stderr:write(("parallel: FAIL: mix %016x, want %016x\n"):format(mix, want))
  os.exit(1)
end
print(("parallel ok: %d goroutines x %d iterations, mix %016x, workers %d")
  :format(G, M, mix, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- mpmc: 4 producers, 4 consumers, one channel of capacity 128; every value
-- must arrive exactly once (checked by count and sum).
-- Usage: lugo mpmc.lua [values]   (default 4,000,000; a multiple of 4)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 4000000
local P, C = 4, 4
assert(N % P == 0, "values must be a multiple of 4")

local ch = lugo.chan(128)
local results = lugo.chan(C)
local producers = lugo.waitgroup()

local t0 = lugo.now()
producers:add(P)
for p = 0, P - 1 do
  -- producer p sends p*per+1 .. (p+1)*per
  lugo.go(function(ch, wg, first, last)
    for i = first, last do ch:send(i) end
    wg:done()
  end, ch, producers, p * (N // P) + 1, (p + 1) * (N // P))
end
lugo.go(function(ch, wg) wg:wait(); ch:close() end, ch, producers)
for _ = 1, C do
  lugo.go(function(ch, results)
    local sum, count = 0, 0
    while true do
      local v, ok = ch:recv()
      if not ok then break end
      sum = sum + v
      count = count + 1
    end
    results:send({sum, count})
  end, ch, results)
end
local sum, count = 0, 0
for _ = 1, C do
  local r = results:recv()
  sum, count = sum + r[1], count + r[2]
end
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2
if sum ~= want or count ~= N then
  io.stderr:write(("mpmc: FAIL: sum %d count %d, want %d %d\n"):format(sum, count, want, N))
  os.exit(1)
end
print(("mpmc ok: %d values, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

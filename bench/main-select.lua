-- main-select: the main goroutine selects over two unbuffered channels, each
-- fed by its own producer goroutine; N values in all, N/2 from each.
-- Usage: lugo main-select.lua [values]   (default 2,000,000, even)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 2000000
assert(N % 2 == 0, "values must be even")

local a, b = lugo.chan(), lugo.chan()

local t0 = lugo.now()
local function producer(ch, n)
  for i = 1, n do ch:send(i) end
end
lugo.go(producer, a, N // 2)
lugo.go(producer, b, N // 2)
local sum, na, nb = 0, 0, 0
local select = lugo.select
for _ = 1, N do
  local i, v = select{a:case_recv(), b:case_recv()}
  if i == 1 then na = na + 1 else nb = nb + 1 end
  sum = sum + v
end
local elapsed = lugo.now() - t0

local half = N // 2
local want = 2 * (half * (half + 1) // 2)
if sum ~= want or na ~= half or nb ~= half then
  io.stderr:write(("main-select: FAIL: sum %d, from a %d, from b %d; want %d, %d, %d\n")
    :format(sum, na, nb, want, half, half))
  os.exit(1)
end
print(("main-select ok: %d values, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- counter-atomic: 4 goroutines each add 1 to one shared counter N times
-- through lugo.atomic (Go twin: sync/atomic.AddInt64), the way a Go
-- programmer counts across goroutines; main waits on a waitgroup.
-- Usage: lugo counter-atomic.lua [adds per goroutine]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000
local G = 4

local counter, wg = lugo.atomic(), lugo.waitgroup()
local t0 = lugo.now()
for _ = 1, G do
  wg:add()
  lugo.go(function(n)
    for _ = 1, n do counter:add(1) end
    wg:done()
  end, N)
end
wg:wait()
local elapsed = lugo.now() - t0

if counter:load() ~= G * N then
  io.stderr:write(("counter-atomic: FAIL: %d, want %d\n"):format(counter:load(), G * N))
  os.exit(1)
end
print(("counter-atomic ok: %d goroutines x %d adds, workers %d"):format(G, N, lugo.workers()))
print(("time %.6f"):format(elapsed))

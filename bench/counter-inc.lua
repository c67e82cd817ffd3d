-- counter-inc: 4 goroutines each add 1 to one shared counter N times
-- through lugo.inc on the key "n" of a lugo.table (Go twin: a
-- map[string]int guarded by a sync.Mutex); main waits on a waitgroup.
-- Usage: lugo counter-inc.lua [adds per goroutine]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000
local G = 4

local s, wg = lugo.table(), lugo.waitgroup()
local t0 = lugo.now()
for _ = 1, G do
  wg:add()
  lugo.go(function(n)
    for _ = 1, n do lugo.inc(s, "n") end
    wg:done()
  end, N)
end
wg:wait()
local elapsed = lugo.now() - t0

if s.n ~= G * N then
  io.stderr:write(("counter-inc: FAIL: %s, want %d\n"):format(tostring(s.n), G * N))
  os.exit(1)
end
print(("counter-inc ok: %d goroutines x %d adds, workers %d"):format(G, N, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- main-spawn: the main goroutine starts N goroutines that each call
-- wg:done(), then waits for all of them (spawn.lua, with the loop in main).
-- Usage: lugo main-spawn.lua [goroutines]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000

local t0 = lugo.now()
local wg = lugo.waitgroup()
wg:add(N)
local go = lugo.go
local function worker(wg) wg:done() end
local started = 0
for _ = 1, N do
  go(worker, wg)
  started = started + 1
end
wg:wait()        -- a counter that went wrong raises or deadlocks
local elapsed = lugo.now() - t0

if started ~= N then
  io.stderr:write(("main-spawn: FAIL: started %d, want %d\n"):format(started, N))
  os.exit(1)
end
print(("main-spawn ok: %d goroutines, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

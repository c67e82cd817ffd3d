-- spawn: N goroutines that each call wg:done(), then wait for all of them.
-- The spawning loop runs inside a goroutine (on a worker), as in the Go twin.
-- Usage: lugo spawn.lua [goroutines]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000

local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(n, done)
  local wg = lugo.waitgroup()
  wg:add(n)
  local go = lugo.go
  local function worker(wg) wg:done() end
  local started = 0
  for _ = 1, n do
    go(worker, wg)
    started = started + 1
  end
  wg:wait()        -- a counter that went wrong raises or deadlocks
  done:send(started)
end, N, done)
local started = done:recv()
local elapsed = lugo.now() - t0

if started ~= N then
  io.stderr:write(("spawn: FAIL: started %d, want %d\n"):format(started, N))
  os.exit(1)
end
print(("spawn ok: %d goroutines, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

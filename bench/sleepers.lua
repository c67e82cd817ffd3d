-- sleepers: N goroutines that each sleep 10 ms, then wg:done(); the
-- spawning and the wait run inside a goroutine.
-- Usage: lugo sleepers.lua [goroutines]   (default 100,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 100000
local D = 0.010

local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(n, d, done)
  local wg = lugo.waitgroup()
  wg:add(n)
  local function sleeper(wg, d) lugo.sleep(d); wg:done() end
  local started = 0
  for _ = 1, n do
    lugo.go(sleeper, wg, d)
    started = started + 1
  end
  wg:wait()
  done:send(started)
end, N, D, done)
local started = done:recv()
local elapsed = lugo.now() - t0

if started ~= N or elapsed < D then
  io.stderr:write(("sleepers: FAIL: started %d in %.6f s, want %d in >= %g s\n")
    :format(started, elapsed, N, D))
  os.exit(1)
end
print(("sleepers ok: %d goroutines, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

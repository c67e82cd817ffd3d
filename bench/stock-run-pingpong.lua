-- stock-run-pingpong: stock-pingpong with the exchange wrapped in lugo.run:
-- the stock lua5.4 interpreter's main chunk runs the pinging loop as a
-- goroutine and blocks once, until it returns the sum. Its Go twin is
-- main-pingpong.
-- Usage: LUA_CPATH='build/?.so;;' lua5.4 stock-run-pingpong.lua [round trips]   (default 500,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 500000

local t0 = lugo.now()
local sum = lugo.run(function(n)
  local ping, pong = lugo.chan(), lugo.chan()
  lugo.go(function(ping, pong, n)
    for _ = 1, n do
      local v = ping:recv()
      pong:send(v + 1)
    end
  end, ping, pong, n)
  local sum = 0
  for i = 1, n do
    ping:send(i)
    local v = pong:recv()
    if v ~= i + 1 then error("stock-run-pingpong: got " .. tostring(v) .. ", want " .. (i + 1)) end
    sum = sum + v
  end
  return sum
end, N)
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2 + N
if sum ~= want then
  io.stderr:write(("stock-run-pingpong: FAIL: sum %s, want %d\n"):format(tostring(sum), want))
  os.exit(1)
end
print(("stock-run-pingpong ok: %d round trips, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- pingpong: two goroutines bounce an integer over two unbuffered channels.
-- Usage: lugo pingpong.lua [round trips]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000

local ping, pong = lugo.chan(), lugo.chan()
local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(ping, pong, n)
  for _ = 1, n do
    local v = ping:recv()
    pong:send(v + 1)
  end
end, ping, pong, N)
lugo.go(function(ping, pong, n, done)
  local sum = 0
  for i = 1, n do
    ping:send(i)
    local v = pong:recv()
    if v ~= i + 1 then error("pingpong: got " .. tostring(v) .. ", want " .. (i + 1)) end
    sum = sum + v
  end
  done:send(sum)
end, ping, pong, N, done)
local sum = done:recv()
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2 + N
if sum ~= want then
  io.stderr:write(("pingpong: FAIL: sum %d, want %d\n"):format(sum, want))
  os.exit(1)
end
print(("pingpong ok: %d round trips, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- stock-pingpong: main-pingpong run by the stock lua5.4 interpreter: the
-- main chunk, a thread outside the runtime, bounces an integer with one
-- goroutine over two unbuffered channels (each of its calls blocks its OS
-- thread). Its Go twin is main-pingpong.
-- Usage: LUA_CPATH='build/?.so;;' lua5.4 stock-pingpong.lua [round trips]   (default 500,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 500000

local ping, pong = lugo.chan(), lugo.chan()

local t0 = lugo.now()
lugo.go(function(ping, pong, n)
  for _ = 1, n do
    local v = ping:recv()
    pong:send(v + 1)
  end
end, ping, pong, N)
local sum = 0
for i = 1, N do
  ping:send(i)
  local v = pong:recv()
  if v ~= i + 1 then error("stock-pingpong: got " .. tostring(v) .. ", want " .. (i + 1)) end
  sum = sum + v
end
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2 + N
if sum ~= want then
  io.stderr:write(("stock-pingpong: FAIL: sum %d, want %d\n"):format(sum, want))
  os.exit(1)
end
print(("stock-pingpong ok: %d round trips, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

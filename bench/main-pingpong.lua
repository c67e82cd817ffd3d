-- main-pingpong: the main goroutine (the main chunk) and one goroutine bounce
-- an integer over two unbuffered channels; main sends, the goroutine answers.
-- Usage: lugo main-pingpong.lua [round trips]   (default 500,000)
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
  if v ~= i + 1 then error("main-pingpong: got " .. tostring(v) .. ", want " .. (i + 1)) end
  sum = sum + v
end
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2 + N
if sum ~= want then
  io.stderr:write(("main-pingpong: FAIL: sum %d, want %d\n"):format(sum, want))
  os.exit(1)
end
print(("main-pingpong ok: %d round trips, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

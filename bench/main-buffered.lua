-- main-buffered: the main goroutine sends N integers into a channel of
-- capacity 1024 and closes it; one goroutine sums them and sends the sum and
-- the count back to main.
-- Usage: lugo main-buffered.lua [values]   (default 10,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 10000000

local ch = lugo.chan(1024)
local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(ch, done)
  local sum, count = 0, 0
  while true do
    local v, ok = ch:recv()
    if not ok then break end
    sum = sum + v
    count = count + 1
  end
  done:send({sum, count})
end, ch, done)
for i = 1, N do ch:send(i) end
ch:close()
local r = done:recv()
local elapsed = lugo.now() - t0

local want = N * (N + 1) // 2
if r[1] ~= want or r[2] ~= N then
  io.stderr:write(("main-buffered: FAIL: sum %d count %d, want %d %d\n"):format(r[1], r[2], want, N))
  os.exit(1)
end
print(("main-buffered ok: %d values, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

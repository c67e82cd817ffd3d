-- ratelimit.lua: rate limiting with a ticker, after Go by Example. Five
-- requests are served one per tick (every 50 ms); then a bursty limiter,
-- a buffered channel of 3 tokens refilled by a ticker, serves 3 requests
-- at once and the rest at the tick rate. Times are relative to the start.
local lugo = require "lugo"

local PERIOD = 0.05
local start = lugo.now()
local function since(t0) return lugo.now() - t0 end

-- Steady: one request per tick.
local requests = lugo.chan(5)
for i = 1, 5 do requests:send(i) end
requests:close()

local t0 = lugo.now()
local limiter = lugo.ticker(PERIOD)
local times = {}
for req in requests:range() do
  limiter.c:recv()
  times[req] = since(t0)
  print(string.format("request %d at %.3f s", req, since(start)))
end
limiter:stop()
-- The n-th request waited for the n-th tick: never sooner.
for n, t in ipairs(times) do
  assert(t >= n * PERIOD - 0.001, "request " .. n .. " served too soon")
end

-- Bursty: up to 3 requests at once, then one per tick. Each token is a
-- time: the initial ones are stamped before the refill ticker started,
-- the others carry the tick that made them.
local bursty = lugo.chan(3)
for _ = 1, 3 do bursty:send(lugo.now()) end      -- a full bucket to start
t0 = lugo.now()
local refill = lugo.ticker(PERIOD)
local stop = lugo.chan()
lugo.go(function()
  while true do
    local i, t = lugo.select{ refill.c:case_recv(), stop:case_recv() }
    if i == 2 then return end
    bursty:send(t)                                  -- blocks while full
  end
end)

local burst = lugo.chan(5)
for i = 1, 5 do burst:send(i) end
burst:close()

local served, tokens = {}, {}
for req in burst:range() do
  tokens[req] = bursty:recv()
  served[req] = since(t0)
  print(string.format("bursty request %d at %.3f s (token from %s)", req,
    since(start), tokens[req] < t0 and "the initial bucket" or "a tick"))
end
stop:close()
refill:stop()

-- The first three went out together on the initial tokens; the 4th and
-- 5th had to wait for refill ticks.
for req = 1, 3 do
  assert(tokens[req] < t0, "request " .. req .. " should use an initial token")
end
assert(tokens[4] >= t0 + PERIOD - 0.001 and tokens[5] > tokens[4],
  "requests 4 and 5 should use tokens from ticks")
assert(served[4] >= PERIOD - 0.001, "request 4 needed a refill tick")
assert(served[5] >= 2 * PERIOD - 0.001, "request 5 needed a second tick")
print(string.format("served %d steady and %d bursty requests in %.2f s",
  #times, #served, since(start)))

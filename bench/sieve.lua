-- sieve: the concurrent prime sieve (a generator and one filter goroutine
-- per prime found, unbuffered channels), first N primes.
-- Usage: lugo sieve.lua [primes]   (default 2,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 2000

local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(n, done)
  local function generate(ch)
    local i = 2
    while true do ch:send(i); i = i + 1 end
  end
  local function filter(input, output, prime)
    while true do
      local i = input:recv()
      if i % prime ~= 0 then output:send(i) end
    end
  end
  local ch = lugo.chan()
  lugo.go(generate, ch)
  local sum, last = 0, 0
  for _ = 1, n do
    local prime = ch:recv()
    sum, last = sum + prime, prime
    local ch1 = lugo.chan()
    lugo.go(filter, ch, ch1, prime)
    ch = ch1
  end
  done:send({sum, last})
end, N, done)
local r = done:recv()
local elapsed = lugo.now() - t0

-- The same primes from a sequential trial division, outside the timing.
local sum, last, count, i = 0, 0, 0, 1
while count < N do
  i = i + 1
  local prime = true
  for d = 2, math.floor(math.sqrt(i)) do
    if i % d == 0 then prime = false; break end
  end
  if prime then count, sum, last = count + 1, sum + i, i end
end
if r[1] ~= sum or r[2] ~= last then
  io.stderr:write(("sieve: FAIL: sum %d last %d, want %d %d\n"):format(r[1], r[2], sum, last))
  os.exit(1)
end
print(("sieve ok: %d primes, last %d, workers %d"):format(N, last, lugo.workers()))
print(("time %.6f"):format(elapsed))
-- main returns: the generator and the filters still running are stopped.

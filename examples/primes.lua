-- primes.lua: the concurrent prime sieve from Go's documentation: a chain
-- of filter goroutines, one per prime found, each dropping its multiples.
local lugo = require "lugo"

local count = tonumber(arg and arg[1]) or 100

local function generate(ch)
  local i = 2
  while true do
    ch:send(i)
    i = i + 1
  end
end

local function filter(input, output, prime)
  while true do
    local i = input:recv()
    if i % prime ~= 0 then output:send(i) end
  end
end

local ch = lugo.chan()
lugo.go(generate, ch)
local primes = {}
for _ = 1, count do
  local prime = ch:recv()
  primes[#primes + 1] = prime
  local ch1 = lugo.chan()
  lugo.go(filter, ch, ch1, prime)
  ch = ch1
end
print(table.concat(primes, " "))
assert(primes[1] == 2 and primes[25] == 97, "the sieve is wrong")
-- main returns: the filters still running are stopped, as in Go.

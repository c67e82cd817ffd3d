-- atomic_counters.lua: Go by Example "Atomic Counters"
-- (https://gobyexample.com/atomic-counters; Go original:
-- examples/go/atomic_counters/main.go). 50 goroutines each add 1 to one
-- counter 1000 times; a lugo.atomic is shared by reference, as Go's
-- atomic.Uint64 is shared through its address.
lugo = require "lugo"

-- The atomic integer that counts the operations.
local ops = lugo.atomic()

-- A waitgroup to wait for all goroutines to finish their work.
local wg = lugo.waitgroup()

for _ = 1, 50 do
  wg:add()
  lugo.go(function()
    for _ = 1, 1000 do
      ops:add(1)
    end
    wg:done()
  end)
end

wg:wait()

-- No goroutine writes ops any more, but load is safe even while others
-- are adding.
print("ops: " .. ops:load())

-- safecounter.lua: the Go Tour's SafeCounter
-- (https://go.dev/tour/concurrency/9; Go original:
-- examples/go/safecounter/main.go). 1000 goroutines each increment one key
-- of a map under a mutex. The map is a lugo.table, since goroutines share
-- no Lua tables: the counter object is copied into each goroutine, its
-- mutex and shared table travel by reference. main waits on a waitgroup
-- where the Tour sleeps for a second.
lugo = require "lugo"

-- SafeCounter is safe to use concurrently.
SafeCounter = {}
SafeCounter.__index = SafeCounter

function NewSafeCounter()
  return setmetatable({ mu = lugo.mutex(), v = lugo.table() }, SafeCounter)
end

-- Inc increments the counter for the given key.
function SafeCounter:Inc(key)
  self.mu:lock()
  -- Lock so only one goroutine at a time can read and write self.v[key]:
  -- each access of a shared table is atomic, the pair is not.
  self.v[key] = (self.v[key] or 0) + 1
  self.mu:unlock()
end

-- Value returns the current value of the counter for the given key.
function SafeCounter:Value(key)
  self.mu:lock()
  local v = self.v[key] or 0
  self.mu:unlock()
  return v
end

local c = NewSafeCounter()
local wg = lugo.waitgroup()
for _ = 1, 1000 do
  wg:add()
  lugo.go(function()
    c:Inc("somekey")
    wg:done()
  end)
end

wg:wait()
print(c:Value("somekey"))

-- mutexes.lua: Go by Example "Mutexes" (https://gobyexample.com/mutexes;
-- Go original: examples/go/mutexes/main.go). Three goroutines increment
-- named counters of one map under a mutex, two of them the same counter.
-- The map is a lugo.table, shared by reference; the Container table itself
-- is copied into each goroutine, its mutex and its map travel by reference.
lugo = require "lugo"

-- Container holds a map of counters; since we want to update it
-- concurrently from several goroutines, a mutex synchronizes access.
Container = {}
Container.__index = Container

function Container:inc(name)
  -- Lock before reading the counter and unlock after writing it back:
  -- each access of a shared table is atomic, the read-add-write is not.
  self.mu:lock()
  self.counters[name] = self.counters[name] + 1
  self.mu:unlock()
end

-- Prints a map of string keys to integers the way Go's fmt.Println does:
-- map[k1:v1 k2:v2], keys sorted.
function printMap(m)
  local keys = {}
  for k in pairs(m) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. ":" .. m[k] end
  print("map[" .. table.concat(parts, " ") .. "]")
end

local c = setmetatable({
  mu = lugo.mutex(),
  counters = lugo.table { a = 0, b = 0 },
}, Container)

local wg = lugo.waitgroup()

-- This function increments a named counter in a loop.
local function doIncrement(name, n)
  for _ = 1, n do
    c:inc(name)
  end
  wg:done()
end

-- Run several goroutines concurrently; they all use the same Container,
-- and two of them the same counter.
wg:add(3)
lugo.go(doIncrement, "a", 10000)
lugo.go(doIncrement, "a", 10000)
lugo.go(doIncrement, "b", 10000)

-- Wait for the goroutines to finish.
wg:wait()
printMap(c.counters)

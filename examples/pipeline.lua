-- pipeline.lua: generator -> square -> print, each stage a goroutine joined
-- by channels; closing a channel ends the stage that reads it.
local lugo = require "lugo"

local function generate(n)
  local out = lugo.chan()
  lugo.go(function()
    for i = 1, n do out:send(i) end
    out:close()
  end)
  return out:recvonly()
end

local function square(input)
  local out = lugo.chan()
  lugo.go(function()
    for v in input:range() do out:send(v * v) end
    out:close()
  end)
  return out:recvonly()
end

local sum = 0
for v in square(generate(10)):range() do
  print(v)
  sum = sum + v
end
assert(sum == 385, "sum of squares 1..10 should be 385")
print("sum", sum)

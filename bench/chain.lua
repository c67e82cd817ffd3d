-- chain: a daisy chain of G goroutines, each receiving from its right
-- neighbour and sending the value + 1 to its left; one value is passed
-- through the whole chain R times.
-- Usage: lugo chain.lua [goroutines] [passes]   (default 10,000 and 100)
local lugo = require "lugo"
local G = math.tointeger(tonumber(arg and arg[1])) or 10000
local R = math.tointeger(tonumber(arg and arg[2])) or 100

local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(g, r, done)
  local function link(left, right, r)
    for _ = 1, r do left:send(right:recv() + 1) end
  end
  local leftmost = lugo.chan()
  local left = leftmost
  for _ = 1, g do
    local right = lugo.chan()
    lugo.go(link, left, right, r)
    left = right
  end
  local rightmost = left
  local sum = 0
  for _ = 1, r do
    rightmost:send(0)
    local v = leftmost:recv()
    if v ~= g then error(("chain: got %d, want %d"):format(v, g)) end
    sum = sum + v
  end
  done:send(sum)
end, G, R, done)
local sum = done:recv()
local elapsed = lugo.now() - t0

if sum ~= G * R then
  io.stderr:write(("chain: FAIL: sum %d, want %d\n"):format(sum, G * R))
  os.exit(1)
end
print(("chain ok: %d goroutines, %d passes, workers %d"):format(G, R, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- hello.lua: goroutines and a waitgroup. Five goroutines greet; main waits
-- for all of them, then prints how many ran.
local lugo = require "lugo"

local wg = lugo.waitgroup()
local results = lugo.chan(5)
for i = 1, 5 do
  wg:add()
  lugo.go(function(n)
    results:send(string.format("hello from goroutine %d (task %d)", lugo.id(), n))
    wg:done()
  end, i)
end
wg:wait()
results:close()

local lines = {}
for line in results:range() do lines[#lines + 1] = line end
table.sort(lines)
for _, line in ipairs(lines) do print(line) end
assert(#lines == 5, "expected 5 greetings")
print(string.format("%d goroutines said hello on %d workers", #lines, lugo.workers()))

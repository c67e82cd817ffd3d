-- pipeline_exec.lua: `sort | uniq -c` built from two processes and three
-- goroutines: one feeds words into sort, one copies sort's output into
-- uniq, and the main goroutine reads uniq's counts.
local lugo = require "lugo"

local words = {}
for w in ("the quick brown fox jumps over the lazy dog the end fox"):gmatch("%S+") do
  words[#words + 1] = w
end

local sort = assert(lugo.exec.spawn({ "sort" }, { stdin = "pipe", stdout = "pipe" }))
local uniq = assert(lugo.exec.spawn({ "uniq", "-c" }, { stdin = "pipe", stdout = "pipe" }))

lugo.go(function()   -- feed sort
  for _, w in ipairs(words) do sort.stdin:write(w, "\n") end
  sort.stdin:closewrite()
end)

lugo.go(function()   -- sort's output into uniq
  while true do
    local chunk = sort.stdout:readsome()
    if not chunk then break end
    uniq.stdin:write(chunk)
  end
  uniq.stdin:closewrite()
end)

local counts = {}
for line in uniq.stdout:lines() do
  local n, w = line:match("^%s*(%d+)%s+(%S+)$")
  counts[#counts + 1] = w .. "=" .. n
end
assert(sort:wait() == 0 and uniq:wait() == 0)
print(table.concat(counts, " "))
assert(table.concat(counts, " ") == "brown=1 dog=1 end=1 fox=2 jumps=1 lazy=1 over=1 quick=1 the=3")

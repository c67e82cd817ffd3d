-- table: N small tables {id=i, name="item"..i, tags={"a","b","c"}} sent
-- through a buffered channel (capacity 1024) from a producer to a consumer;
-- each is deep-copied on the way, as every value sent is.
-- Usage: lugo table.lua [tables]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000

local ch = lugo.chan(1024)
local done = lugo.chan(1)

local t0 = lugo.now()
lugo.go(function(ch, n)
  for i = 1, n do
    ch:send({id = i, name = "item" .. i, tags = {"a", "b", "c"}})
  end
  ch:close()
end, ch, N)
lugo.go(function(ch, done)
  local ids, names, tags = 0, 0, 0
  while true do
    local t, ok = ch:recv()
    if not ok then break end
    ids = ids + t.id
    names = names + #t.name
    if t.tags[3] == "c" then tags = tags + #t.tags end
  end
  done:send({ids, names, tags})
end, ch, done)
local r = done:recv()
local elapsed = lugo.now() - t0

local names = 0
for i = 1, N do names = names + 4 + #tostring(i) end
local want = {N * (N + 1) // 2, names, 3 * N}
if r[1] ~= want[1] or r[2] ~= want[2] or r[3] ~= want[3] then
  io.stderr:write(("table: FAIL: ids %d names %d tags %d, want %d %d %d\n")
    :format(r[1], r[2], r[3], want[1], want[2], want[3]))
  os.exit(1)
end
print(("table ok: %d tables, workers %d"):format(N, lugo.workers()))
print(("time %.6f"):format(elapsed))

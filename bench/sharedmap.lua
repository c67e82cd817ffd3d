-- sharedmap: 4 goroutines each do N operations on one lugo.table of 10,000
-- integer keys (1..10000, pre-filled): 90% reads, 10% writes, of keys drawn
-- by a per-goroutine xorshift64 generator (the same sequence as the Go
-- twin, which guards a map with a sync.RWMutex). Each read and write of a
-- shared table is atomic by itself, so the Lua side takes no lock.
-- Usage: lugo sharedmap.lua [operations per goroutine]   (default 1,000,000)
local lugo = require "lugo"
local N = math.tointeger(tonumber(arg and arg[1])) or 1000000
local G, KEYS = 4, 10000

-- Does n operations with generator seed id; returns how many were reads.
-- A read must find its key with a value that some write (or the fill)
-- could have stored: 0 <= v < 1<<24.
local function worker(id, n, s)
  -- Lua integers wrap at 64 bits like Go's uint64, and >> is a logical
  -- shift, so the sequence matches the Go twin's bit for bit.
  local x = id * 2654435761 + 1
  local reads = 0
  for _ = 1, n do
    x = x ~ (x << 13)
    x = x ~ (x >> 7)
    x = x ~ (x << 17)
    local k = (x >> 32) % KEYS + 1
    if (x >> 8) % 10 == 0 then   -- 1 in 10: a write
      s[k] = x >> 40
    else
      local v = s[k]
      if not v or v < 0 or v >= 1 << 24 then
        io.stderr:write(("sharedmap: FAIL: key %d holds %s\n"):format(k, tostring(v)))
        os.exit(1)
      end
      reads = reads + 1
    end
  end
  return reads
end

local fill = {}
for k = 1, KEYS do fill[k] = k end
local s = lugo.table(fill)
local reads, wg = lugo.atomic(), lugo.waitgroup()
local t0 = lugo.now()
for id = 1, G do
  wg:add()
  lugo.go(function()
    reads:add(worker(id, N, s))
    wg:done()
  end)
end
wg:wait()
local elapsed = lugo.now() - t0

-- The generator is deterministic, so the read count is a fixed number
-- (about 90% of G*N); check it is plausible and that no key was lost.
local count = 0
for _ in pairs(s) do count = count + 1 end
local total = reads:load()
if count ~= KEYS or #s ~= KEYS or total < G * N * 85 // 100 or total > G * N * 95 // 100 then
  io.stderr:write(("sharedmap: FAIL: %d keys, # %d (want %d), %d reads of %d operations\n")
    :format(count, #s, KEYS, total, G * N))
  os.exit(1)
end
print(("sharedmap ok: %d goroutines x %d operations (%d reads), %d keys, workers %d")
  :format(G, N, total, KEYS, lugo.workers()))
print(("time %.6f"):format(elapsed))

-- timeout.lua: bounding a receive with select and lugo.after, as Go's
-- `select { case v := <-c: ... case <-time.After(d): ... }`. A slow worker
-- misses its deadline; a fast one makes it. A timer stopped in time never
-- fires.
local lugo = require "lugo"

local start = lugo.now()
local function stamp()
  return string.format("[%5.3f s]", lugo.now() - start)
end

-- Starts a job that answers on its own channel after `delay` seconds.
local function job(name, delay)
  local c = lugo.chan(1)       -- buffered: a late answer never blocks the job
  lugo.go(function()
    lugo.sleep(delay)
    c:send(name .. " done after " .. delay .. " s")
  end)
  return c
end

-- Waits for c at most `limit` seconds.
local function wait(c, limit)
  return lugo.select{
    c:case_recv(function(v) return "result", v end),
    lugo.after(limit):case_recv(function() return "timeout" end),
  }
end

-- 1. The job takes 0.5 s, we wait 0.2 s: the timeout wins.
local t0 = lugo.now()
local _, what = wait(job("slow job", 0.5), 0.2)
local waited = lugo.now() - t0
print(stamp(), "slow job:", what)
assert(what == "timeout", "the slow job should time out")
assert(waited >= 0.2 - 0.001, "the timeout came early")

-- 2. The job takes 0.05 s, we wait up to 5 s: the result wins, long before.
local _, what2, value = wait(job("fast job", 0.05), 5)
print(stamp(), "fast job:", what2, value)
assert(what2 == "result" and value == "fast job done after 0.05 s")

-- 3. A timer stopped before it fires delivers nothing.
local t = lugo.timer(0.1)
assert(t:stop() == true, "stop of a pending timer reports true")
local i = lugo.select{ t.c:case_recv(), lugo.after(0.2):case_recv() }
print(stamp(), "stopped timer:", i == 1 and "fired (wrong!)" or "silent")
assert(i == 2, "a stopped timer must not fire")

print(string.format("done in %.2f s", lugo.now() - start))

-- file.lua: issue 14's file target: io.lines over a big file in one
-- goroutine while another ticks every 10 ms on the same worker; prints the
-- read's time and the latest tick. Run with LUGO_WORKERS=1 (bench/file
-- does, and times the same read in plain lua5.4 beside it).
-- Usage: lugo bench/file.lua FILE
local lugo = require "lugo"
local path = assert(arg[1], "usage: lugo bench/file.lua FILE")

-- The ticker: lugo.ticker(0.01) (a slow receiver misses ticks, as Go's);
-- lateness is how much longer than 10 ms the gap between two ticks it
-- received was. It stops when told and sends its worst back (values cross
-- by copy).
local stop, worst_of = lugo.chan(1), lugo.chan(1)
lugo.go(function()
  local ticker = lugo.ticker(0.01)
  local worst, last = 0, lugo.now()
  while true do
    local stopped = false
    lugo.select{
      stop:case_recv(function() stopped = true end),
      ticker.c:case_recv(function() end),
    }
    if stopped then break end
    local now = lugo.now()
    if now - last - 0.01 > worst then worst = now - last - 0.01 end
    last = now
  end
  ticker:stop()
  worst_of:send(worst)
end)

local result = lugo.chan(1)
lugo.go(function()
  local t0 = lugo.now()
  local lines, bytes = 0, 0
  for line in io.lines(path) do
    lines = lines + 1
    bytes = bytes + #line + 1
  end
  result:send({ lugo.now() - t0, lines, bytes })
end)
local r = result:recv()
stop:send(true)
local worst = worst_of:recv()
print(("file ok: %d lines, %d bytes; latest tick %.1f ms late"):format(r[2], r[3], worst * 1000))
print(("time %.6f"):format(r[1]))

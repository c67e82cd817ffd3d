-- worker.lua: run by host.c with lugo_dofile. The host set the globals
-- `lines` (a channel of text lines, closed after the last) and `results`
-- (where each line's summary goes; closed here once every line is done).
-- Four goroutines share the work; the chunk returns at once, and the
-- goroutines go on after it.
local lugo = require "lugo"
local host = require "host"      -- the host's C module (lugo_options.on_state)

local started = host.clock()
local wg = lugo.waitgroup()
for worker = 1, 4 do
  wg:add(1)
  lugo.go(function()
    for line in lines:range() do
      local words = 0
      for _ in line:gmatch("%S+") do words = words + 1 end
      results:send(string.format("%d %d %d %s", worker, words, #line, line:upper()))
    end
    wg:done()
  end)
end

-- Closes results once every worker is done, so the host sees the end.
lugo.go(function()
  wg:wait()
  results:send(string.format("done after %.3f s", host.clock() - started))
  results:close()
end)

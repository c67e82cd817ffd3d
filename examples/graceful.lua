-- graceful.lua: a server that shuts down gracefully. On SIGINT or SIGTERM
-- it stops accepting (closes its listener), lets the connections in
-- progress finish, and exits 0. Run it and press Ctrl-C, or let it send
-- itself SIGTERM after its demo clients have started (the default).
-- Run: lugo examples/graceful.lua [--wait]   (--wait: no self-signal)
local lugo = require "lugo"

local stop = lugo.signal("INT", "TERM")
local ln = assert(lugo.net.listen("127.0.0.1:0"))
local addr = ln:addr()
local active = lugo.waitgroup()

lugo.go(function()
  lugo.net.serve(ln, function(conn)
    active:add(1)
    for line in conn:lines() do
      lugo.sleep(0.01)                       -- some work per request
      conn:write("done: ", line, "\n")
    end
    conn:close()
    active:done()
  end)
end)

-- Demo clients: each sends five requests, slowly, and checks the answers.
local finished = lugo.chan(10)
for i = 1, 3 do
  lugo.go(function()
    local c <close> = assert(lugo.net.dial(addr))
    local ok = 0
    for k = 1, 5 do
      c:write("request ", i, ".", k, "\n")
      if c:read("l") == ("done: request " .. i .. "." .. k) then ok = ok + 1 end
      lugo.sleep(0.02)
    end
    finished:send(ok)
  end)
end

if arg[1] ~= "--wait" then
  lugo.go(function()                          -- as if Ctrl-C came now
    lugo.sleep(0.05)
    local pid = io.open("/proc/self/stat"):read("n")
    os.execute("kill -TERM " .. pid)
  end)
end

print("serving on " .. addr:gsub(":%d+$", ":<port>") .. "; waiting for SIGINT or SIGTERM")
print("got " .. stop.c:recv() .. ": no new connections")
ln:close()                                    -- serve returns; clients still served
local ok = 0
for _ = 1, 3 do ok = ok + finished:recv() end
active:wait()
print(("all connections finished: %d of 15 requests answered"):format(ok))
stop:stop()
os.exit(ok == 15 and 0 or 1)

-- echo_server.lua: a TCP echo server on lugo.net, a goroutine per
-- connection (lugo.net.serve), and clients in goroutines that check what
-- comes back. Run: lugo examples/echo_server.lua [clients] [lines]
local lugo = require "lugo"

local clients = tonumber(arg and arg[1]) or 8
local lines = tonumber(arg and arg[2]) or 100

local ln = assert(lugo.net.listen("127.0.0.1:0"))   -- port 0: any free port
local addr = ln:addr()

-- The server: serve returns once ln is closed.
local stopped = lugo.chan(1)
lugo.go(function()
  stopped:send(lugo.net.serve(ln, function(conn)
    -- Each connection has a goroutine of its own; read a line, echo it.
    for line in conn:lines("L") do conn:write(line) end
    conn:close()
  end))
end)

-- The clients: each sends its lines and checks every echo.
local results = lugo.chan()
for c = 1, clients do
  lugo.go(function()
    local conn <close> = assert(lugo.net.dial(addr))
    conn:setdeadline(lugo.now() + 10)          -- no echo may take longer
    local good = 0
    for i = 1, lines do
      local msg = ("client %d line %d"):format(c, i)
      conn:write(msg, "\n")
      if conn:read("l") == msg then good = good + 1 end
    end
    results:send(good)
  end)
end

local good = 0
for _ = 1, clients do good = good + results:recv() end
ln:close()
assert(stopped:recv() == true)
print(("echo server on %s: %d clients, %d of %d lines echoed"):format(
  addr:gsub(":%d+$", ":<port>"), clients, good, clients * lines))
if good ~= clients * lines then os.exit(1) end

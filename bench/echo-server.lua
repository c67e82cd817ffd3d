-- echo-server.lua: the lugo side of bench/echo: lugo.net.serve, a
-- goroutine per connection echoing what it reads (readsome, write).
-- Usage: lugo bench/echo-server.lua ADDR
local lugo = require "lugo"
local ln = assert(lugo.net.listen(arg[1]))
lugo.net.serve(ln, function(c)
  while true do
    local data = c:readsome()
    if not data or not c:write(data) then break end
  end
  c:close()
end)

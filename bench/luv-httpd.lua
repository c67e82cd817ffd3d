-- luv-httpd.lua: bench/httpd's Lua peer: the same keep-alive server on
-- luv (Debian's lua-luv: libuv callbacks in one Lua state), answering each
-- request (request line and headers, up to the blank line) with the same
-- fixed body. Usage: lua5.4 bench/luv-httpd.lua HOST PORT
local uv = require "luv"
local host, port = arg[1] or "127.0.0.1", tonumber(arg[2]) or 8080
local BODY = "Hello from lugo\n"
local RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
                 "\r\n\r\n" .. BODY

local server = uv.new_tcp()
assert(server:bind(host, port))
assert(server:listen(511, function(err)
  assert(not err, err)
  local client = uv.new_tcp()
  server:accept(client)
  local pending = ""
  client:read_start(function(rerr, data)
    if rerr or not data then client:close(); return end
    pending = pending .. data
    local out, n = {}, 0
    while true do
      local e = pending:find("\r\n\r\n", 1, true)
      if not e then break end
      pending = pending:sub(e + 4)
      n = n + 1
      out[n] = RESPONSE
    end
    if n > 0 then client:write(table.concat(out)) end
  end)
end))
uv.run()

-- luv-httpd.lua: bench/httpd's Lua peer: the same keep-alive server on
-- luv (Debian's lua-luv: libuv callbacks in one Lua state), answering each
-- request (request line and headers, up to the blank line) with the same
-- fixed body. With --parse it also does the Lua work examples/httpd.lua
-- does per request (the request line and every header matched, a request
-- table, the response built from its parts), so that the two differ only
-- in the runtime. Usage: lua5.4 bench/luv-httpd.lua HOST PORT [--parse]
local uv = require "luv"
local host, port = arg[1] or "127.0.0.1", tonumber(arg[2]) or 8080
local parse = arg[3] == "--parse"
local BODY = "Hello from lugo\n"
local RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #BODY ..
                 "\r\n\r\n" .. BODY

-- examples/httpd.lua's parsing and response, on one request's text.
local function answer(text)
  local line, rest = text:match("^(.-)\r?\n(.*)$")
  local method, path, version = line:match("^(%u+) (%S+) (HTTP/1%.%d)$")
  local headers = {}
  for h in rest:gmatch("(.-)\r?\n") do
    local name, value = h:match("^([^:]+):%s*(.*)$")
    if name then
      if value:find("%s$") then value = value:match("^(.-)%s*$") end
      headers[name:lower()] = value
    end
  end
  local req = { method = method, path = path, version = version, headers = headers }
  local keep = req.version == "HTTP/1.1" and (req.headers.connection or ""):lower() ~= "close"
  local body = req.path == "/" and BODY or "not found\n"
  return table.concat({ "HTTP/1.1 ", req.path == "/" and "200 OK" or "404 Not Found",
    "\r\nContent-Type: text/plain\r\nContent-Length: ", #body,
    keep and "\r\n\r\n" or "\r\nConnection: close\r\n\r\n", body })
end

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
      local request = pending:sub(1, e + 1)
      pending = pending:sub(e + 4)
      n = n + 1
      out[n] = parse and answer(request) or RESPONSE
    end
    if n > 0 then client:write(table.concat(out)) end
  end)
end))
uv.run()

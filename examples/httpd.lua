-- httpd.lua: a small keep-alive HTTP/1.1 server on lugo.net: a goroutine
-- per connection reads requests line by line and answers each; "/" is a
-- fixed body, "/slow" sleeps 100 ms first (other connections go on).
-- Run: lugo examples/httpd.lua --serve [addr]   (default 127.0.0.1:8080;
-- try it with curl or wrk). Without --serve it starts on a free port,
-- checks itself with a few requests, and exits.
local lugo = require "lugo"

local BODY = "Hello from lugo\n"

-- Reads one request (request line and headers); nil at the end of the
-- stream or on a malformed request.
local function read_request(conn)
  local line = conn:read("l")
  if not line then return nil end
  local method, path, version = line:match("^(%u+) (%S+) (HTTP/1%.%d)$")
  if not method then return nil end
  local headers = {}
  while true do
    local h = conn:read("l")
    if not h then return nil end
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.*)$")
    if name then
      -- Trailing blanks are rare: a lazy "(.-)%s*$" would pay for them on every line.
      if value:find("%s$") then value = value:match("^(.-)%s*$") end
      headers[name:lower()] = value
    end
  end
  return { method = method, path = path, version = version, headers = headers }
end

local function respond(conn, status, body, keep)
  conn:write("HTTP/1.1 ", status, "\r\nContent-Type: text/plain\r\nContent-Length: ", #body,
             keep and "\r\n\r\n" or "\r\nConnection: close\r\n\r\n", body)
end

local function handle(conn)
  while true do
    local req = read_request(conn)
    if not req then break end
    local keep = req.version == "HTTP/1.1" and (req.headers.connection or ""):lower() ~= "close"
    if req.path == "/" then
      respond(conn, "200 OK", BODY, keep)
    elseif req.path == "/slow" then
      lugo.sleep(0.1)
      respond(conn, "200 OK", "slow " .. BODY, keep)
    else
      respond(conn, "404 Not Found", "not found\n", keep)
    end
    if not keep then break end
  end
  conn:close()
end

local serve_at = arg[1] == "--serve" and (arg[2] or "127.0.0.1:8080")
local ln = assert(lugo.net.listen(serve_at or "127.0.0.1:0"))
if serve_at then
  print("httpd: serving on http://" .. ln:addr() .. "/")
  lugo.net.serve(ln, handle)
  return
end

-- Self-check: a keep-alive client and a slow request at once.
lugo.go(function() lugo.net.serve(ln, handle) end)
local function get(conn, path)
  conn:write("GET ", path, " HTTP/1.1\r\nHost: test\r\n\r\n")
  local status = conn:read("l")
  local length
  while true do
    local h = conn:read("l")
    if h == "" then break end
    length = length or tonumber(h:match("^Content%-Length: (%d+)"))
  end
  return status, conn:read(length)
end
local slow = lugo.chan(1)
lugo.go(function()
  local c <close> = assert(lugo.net.dial(ln:addr()))
  slow:send({ get(c, "/slow") })
end)
local c <close> = assert(lugo.net.dial(ln:addr()))
for _ = 1, 3 do
  local status, body = get(c, "/")
  assert(status == "HTTP/1.1 200 OK" and body == BODY, status)
end
assert(select(2, get(c, "/missing")) == "not found\n")
local r = slow:recv()
assert(r[1] == "HTTP/1.1 200 OK" and r[2] == "slow " .. BODY)
print("httpd: 3 keep-alive requests, a 404 and a slow one answered")
ln:close()

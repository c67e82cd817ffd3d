-- fetch.lua: concurrent HTTP/1.1 GETs, a goroutine each, with a timeout
-- each, of a small local server the example starts itself (one of its
-- paths is too slow for the timeout). Prints the results in URL order.
local lugo = require "lugo"

-- The server: /slow answers after 2 s, anything else at once.
local ln = assert(lugo.net.listen("127.0.0.1:0"))
lugo.go(function()
  lugo.net.serve(ln, function(c)
    local path = (c:read("l") or ""):match("^GET (%S+)")
    repeat local h = c:read("l") until h == "" or h == nil
    if path == "/slow" then lugo.sleep(2) end
    local body = "you asked for " .. tostring(path) .. "\n"
    c:write("HTTP/1.1 200 OK\r\nContent-Length: ", #body, "\r\nConnection: close\r\n\r\n", body)
    c:close()
  end)
end)

-- GET url with a deadline of `timeout` seconds for the whole exchange.
local function fetch(url, timeout)
  local host, path = url:match("^http://([^/]+)(/.*)$")
  local c, err = lugo.net.dial(host, { timeout = timeout })
  if not c then return nil, err end
  c:setdeadline(lugo.now() + timeout)
  c:write("GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\nConnection: close\r\n\r\n")
  local status, err2 = c:read("l")
  if not status then c:close(); return nil, err2 end
  local length
  while true do
    local h = c:read("l")
    if not h or h == "" then break end
    length = length or tonumber(h:match("^Content%-Length: (%d+)"))
  end
  local body, err3 = c:read(length or "a")
  c:close()
  if not body then return nil, err3 end
  return status:match("^HTTP/1%.1 (%d+)"), body
end

local base = "http://" .. ln:addr()
local urls = { base .. "/a", base .. "/b", base .. "/slow", base .. "/c" }
local results = lugo.chan(#urls)
for i, url in ipairs(urls) do
  lugo.go(function() results:send({ i, fetch(url, 0.5) }) end)
end
local got = {}
for _ = 1, #urls do
  local r = results:recv()
  got[r[1]] = r
end
for i, url in ipairs(urls) do
  local r = got[i]
  local shown = url:gsub(":%d+/", ":<port>/")
  if r[2] then
    print(("%s: %s %s"):format(shown, r[2], r[3]:gsub("\n$", "")))
  else
    print(("%s: failed: %s"):format(shown, r[3]))
  end
end
ln:close()
assert(got[1][2] == "200" and got[2][2] == "200" and got[4][2] == "200")
assert(got[3][2] == nil and got[3][3] == "timeout")

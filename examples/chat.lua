-- chat.lua: a chat server over TCP. A client sends its name, then lines;
-- every line goes to every other client. One goroutine (the room) owns
-- the list of members; connections talk to it through channels, and a
-- client that leaves (or whose connection fails) is dropped.
-- Run: lugo examples/chat.lua --serve [addr]   (then: nc 127.0.0.1 8081)
-- Without --serve it checks itself with three clients and exits.
local lugo = require "lugo"

local join, leave, say = lugo.chan(), lugo.chan(), lugo.chan()

-- The room: the only goroutine that touches `members`.
lugo.go(function()
  local members = {}   -- name -> its outgoing channel
  local function broadcast(from, text)
    for name, out in pairs(members) do
      if name ~= from then
        -- A member whose queue is full is too slow: drop the line for it.
        lugo.select{ out:case_send(text), default = function() end }
      end
    end
  end
  while true do
    lugo.select{
      join:case_recv(function(m)
        local n = 0
        for _ in pairs(members) do n = n + 1 end
        m.out:send(("welcome, %s: %d here"):format(m.name, n))
        members[m.name] = m.out
        broadcast(m.name, m.name .. " joined")
      end),
      leave:case_recv(function(name) members[name] = nil; broadcast(name, name .. " left") end),
      say:case_recv(function(m) broadcast(m.name, m.name .. ": " .. m.text) end),
    }
  end
end)

local function serve_client(conn)
  local name = conn:read("l")
  if not name or name == "" then conn:close(); return end
  local out = lugo.chan(64)
  join:send({ name = name, out = out })
  lugo.go(function()   -- the writer: the room's lines to this client
    for text in out:range() do
      if not conn:write(text, "\n") then break end
    end
  end)
  for line in conn:lines() do say:send({ name = name, text = line }) end
  leave:send(name)
  out:close()
  conn:close()
end

local serve_at = arg[1] == "--serve" and (arg[2] or "127.0.0.1:8081")
local ln = assert(lugo.net.listen(serve_at or "127.0.0.1:0"))
if serve_at then
  print("chat: listening on " .. ln:addr())
  lugo.net.serve(ln, serve_client)
  return
end

-- Self-check: ann, bob and cat join; ann and bob talk; cat leaves.
lugo.go(function() lugo.net.serve(ln, serve_client) end)
local function client(name)
  local c = assert(lugo.net.dial(ln:addr()))
  c:setreaddeadline(lugo.now() + 10)
  c:write(name, "\n")
  assert(c:read("l"):match("^welcome, " .. name))   -- joined: in the room from here on
  return c
end
local ann = client("ann")
local bob = client("bob")
assert(ann:read("l") == "bob joined")
local cat = client("cat")
assert(ann:read("l") == "cat joined" and bob:read("l") == "cat joined")
ann:write("hello all\n")
assert(bob:read("l") == "ann: hello all" and cat:read("l") == "ann: hello all")
bob:write("hi ann\n")
assert(ann:read("l") == "bob: hi ann" and cat:read("l") == "bob: hi ann")
cat:close()
assert(ann:read("l") == "cat left" and bob:read("l") == "cat left")
print("chat: ann, bob and cat joined, talked, and cat left")
ann:close()
bob:close()
ln:close()

-- replmain.lua: the REPL's side in the main goroutine: runs each chunk the
-- prompt hands over, prints its results or error, and completes names.
-- Called with the C side's functions (bindings/prompt.c); runs until "quit".
local next_request, reply, interruptible, repl, progname = ...

local pack, unpack, load, print, tostring = table.pack, table.unpack, load, print, tostring
local traceback, stderr = debug.traceback, io.stderr

-- As lua.c's msghandler: a string message gets the traceback, cut where
-- the REPL's own frames begin.
local function handler(msg)
  if type(msg) ~= "string" then
    local mt = getmetatable(msg)
    if mt and mt.__tostring then return tostring(msg) end
    return ("(error object is a %s value)"):format(type(msg))
  end
  local tb = traceback(msg, 2)
  local cut = tb:find("\n\t%[C%]: in function 'xpcall'")
  return cut and tb:sub(1, cut - 1) or tb
end

-- Compiles a chunk as lua.c does: as an expression first, else a statement.
local function compile(chunk, name)
  local fn = load("return " .. chunk, name)
  if fn then return fn end
  return load(chunk, name)
end

-- Runs fn(...); returns a pack of true and its results, or false and the
-- error. Interrupts are on only while it runs (see prompt.c); one that
-- lands just around the inner call is caught by the outer one.
local function run(fn, ...)
  local args = pack(...)
  local outer = pack(xpcall(function()
    interruptible(true)
    local inner = pack(xpcall(fn, handler, unpack(args, 1, args.n)))
    interruptible(false)
    return inner
  end, handler))
  interruptible(false)
  if not outer[1] then return pack(false, outer[2]) end
  return outer[2]
end

local function fail(msg)
  interruptible(false)
  stderr:write(progname, ": ", tostring(msg), "\n")
  stderr:flush()
end

while true do
  local kind, a, b = next_request()
  if kind == "line" then
    local fn, err = compile(a, "=stdin")
    if not fn then
      fail(err)
    else
      local r = run(fn)
      if not r[1] then
        fail(r[2])
      elseif r.n > 1 then
        print(repl.show(unpack(r, 2, r.n)))
      end
    end
    reply()
  elseif kind == "script" then        -- lugo -i script.lua [args]: a file
    local fn, err = loadfile(a ~= "" and a or nil)
    local ok = fn ~= nil
    if not fn then
      fail(err)
    else
      local script_args = _ENV.arg or {}
      local r = run(fn, unpack(script_args, 1, #script_args))
      ok = r[1]
      if not ok then fail(r[2]) end
    end
    reply(ok and "ok" or nil)
  elseif kind == "chunk" then         -- lugo -i -e chunk
    local fn, err = load(a, "=(command line)")
    local ok = fn ~= nil
    if not fn then fail(err) else
      local r = run(fn)
      ok = r[1]
      if not ok then fail(r[2]) end
    end
    reply(ok and "ok" or nil)
  elseif kind == "complete" then
    local ok, list = pcall(repl.complete, a, b, _ENV)
    reply(ok and table.concat(list, "\n") or "")
  else                                -- "quit"
    return
  end
end

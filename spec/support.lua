-- support.lua: shared helpers for the specs: running the `lugo` command in
-- a child process and capturing its output and exit status.
local M = {}

M.lugo = os.getenv("LUGO") or "build/lugo"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

-- Runs `lugo <args...>` (a list of strings) with optional stdin text and
-- environment prefix (e.g. "LUGO_WORKERS=1"). Returns stdout, stderr and
-- the exit status (an integer).
function M.run(args, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local parts = { opts.env or "", quote(M.lugo) }
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  local cmd = table.concat(parts, " ")
  if opts.stdin then
    local inp = os.tmpname()
    local f = assert(io.open(inp, "wb"))
    f:write(opts.stdin)
    f:close()
    cmd = cmd .. " <" .. quote(inp)
    opts.stdin_file = inp
  else
    cmd = cmd .. " </dev/null"
  end
  cmd = cmd .. " >" .. quote(out) .. " 2>" .. quote(err)
  local _, _, code = os.execute(cmd)
  if opts.stdin_file then os.remove(opts.stdin_file) end
  return slurp(out), slurp(err), code
end

-- Runs a Lua source text as a script file under `lugo`.
function M.run_script(source, args, opts)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  local argv = { path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local o, e, c = M.run(argv, opts)
  os.remove(path)
  return o, e, c, path
end

return M

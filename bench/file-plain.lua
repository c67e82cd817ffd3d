-- file-plain.lua: bench/file's baseline: the same io.lines loop as
-- bench/file.lua in plain lua5.4 (no lugo). With "--make", writes the
-- 100 MB test file first. Usage: lua5.4 bench/file-plain.lua FILE [--make]
local path = assert(arg[1], "usage: lua5.4 bench/file-plain.lua FILE [--make]")
if arg[2] == "--make" then   -- lines of 40 to 120 letters, 100 MB in all
  local f = assert(io.open(path, "w"))
  local n, r = 0, 1
  while n < 100e6 do
    r = (r * 1103515245 + 12345) % 2147483648
    local l = string.rep(string.char(97 + r % 26), 40 + r % 81)
    f:write(l, "\n")
    n = n + #l + 1
  end
  f:close()
  return
end
local start = os.clock()
local lines = 0
for _ in io.lines(path) do lines = lines + 1 end
print(("file-plain ok: %d lines"):format(lines))
print(("time %.6f"):format(os.clock() - start))

-- print_spec.lua: API.md "Output": print writes each call's whole line at
-- once, so lines printed by goroutines on different workers never mix.
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"
local lines_of = support.lines_of

-- Eight goroutines, each printing 10,000 lines of one letter 12 times over
-- tab separators (many arguments: with one write per argument, as the
-- standard print does, lines from two workers interleave hundreds of times).
local MIXER = [[
  local lugo = require "lugo"
  local wg = lugo.waitgroup()
  for g = 1, 8 do
    wg:add()
    lugo.go(function()
      local c = string.char(64 + g)
      for _ = 1, 10000 do print(c, c, c, c, c, c, c, c, c, c, c, c) end
      wg:done()
    end)
  end
  wg:wait()
]]

describe("print", function()
  for _, workers in ipairs { 1, 2 } do
    it("never mixes the lines of goroutines (LUGO_WORKERS=" .. workers .. ")", function()
      local out = support.child_ok(MIXER, "LUGO_WORKERS=" .. workers)
      local lines = lines_of(out)
      assert.are.equal(80000, #lines)
      local count, bad = {}, 0
      for _, l in ipairs(lines) do
        local c = l:sub(1, 1)
        if l == c .. string.rep("\t" .. c, 11) then
          count[c] = (count[c] or 0) + 1
        else
          bad = bad + 1
        end
      end
      assert.are.equal(0, bad)
      assert.are.same({ A = 10000, B = 10000, C = 10000, D = 10000,
                         E = 10000, F = 10000, G = 10000, H = 10000 }, count)
    end)
  end

  it("writes its arguments as the standard print does", function()
    local out = support.child_ok([[
      local lugo = require "lugo"
      local t = setmetatable({}, { __tostring = function() return "T!" end })
      print(nil, true, 1.5, 2, "s", t)
      print()
      local done = lugo.chan()
      lugo.go(function() print("from", lugo.id()); done:send() end)
      done:recv()
      local ok, err = pcall(print, setmetatable({}, { __tostring = function() return {} end }))
      print(ok, err)
    ]])
    assert.are.equal("nil\ttrue\t1.5\t2\ts\tT!\n\nfrom\t2\nfalse\t'__tostring' must return a string\n", out)
  end)
end)

-- examples_spec.lua: the examples ported from Go (examples/safecounter,
-- mutexes, atomic_counters, crawler) print exactly what their Go originals
-- print. Each Go original is examples/go/<name>/main.go; its output is
-- checked in as examples/expected/<name>.txt, so this spec needs no Go.
-- After changing a Go original, regenerate its expected output with
--   (cd examples/go && go run ./<name> > ../expected/<name>.txt)
--
-- Each example runs in a child `lugo` at 1 and at 2 workers: at 2 its
-- goroutines really run at once, so a race on shared state (a lost
-- increment, a URL fetched twice) would show in the output.
--
-- busted's names are taken as locals first, then the real globals (see
-- goroutine_spec.lua).
local describe, it, assert = describe, it, assert
local _ENV = _G

local support = require "support"

-- ctest runs specs from the source tree and also says where it is.
local SRC = os.getenv("LUGO_SRC") or "."

local EXAMPLES = { "safecounter", "mutexes", "atomic_counters", "crawler" }

describe("examples ported from Go", function()
  for _, name in ipairs(EXAMPLES) do
    for _, workers in ipairs { 1, 2 } do
      it(name .. " prints what the Go original prints (workers " .. workers .. ")", function()
        local want = support.read(SRC .. "/examples/expected/" .. name .. ".txt")
        assert.are_not.equal("", want, "missing examples/expected/" .. name .. ".txt")
        local out, err, code = support.run({ SRC .. "/examples/" .. name .. ".lua" },
          { env = "LUGO_WORKERS=" .. workers .. " " .. support.GUARD })
        assert.are.equal("", err, "stdout:\n" .. out)
        assert.are.equal(0, code, "stdout:\n" .. out)
        assert.are.equal(want, out)
      end)
    end
  end
end)

-- repl_show_spec.lua: API.md "The `lugo` command": lugo.repl's show (how
-- the REPL prints results) and complete (Tab completion), called directly.
local describe, it, assert = describe, it, assert
local _ENV = _G

local lugo = require "lugo"
local repl = require "lugo.repl"
local show, complete = repl.show, repl.complete

-- A table {1, ..., n}.
local function range(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

-- complete() with `name` bound to `value` as a global, removed afterwards.
local function complete_with(name, value, text)
  _G[name] = value
  local ok, r = pcall(complete, text, text)
  _G[name] = nil
  assert(ok, r)
  return r
end

-- Whether list holds s.
local function has(list, s)
  for _, v in ipairs(list) do if v == s then return true end end
  return false
end

describe("repl.show", function()
  it("prints top-level scalars as lua.c's print does", function()
    assert.are.equal("hi", show("hi"))
    assert.are.equal("42", show(42))
    assert.are.equal("1.5", show(1.5))
    assert.are.equal("true", show(true))
    assert.are.equal("nil", show(nil))
  end)

  it("joins several results with a tab, nil included", function()
    assert.are.equal("1\t2", show(1, 2))
    assert.are.equal("nil\tx\t{1}", show(nil, "x", {1}))
    assert.are.equal("", show())
  end)

  it("shows a sequence, then the other keys", function()
    assert.are.equal("{1, 2, 3}", show({1, 2, 3}))
    assert.are.equal('{a = 1, b = "x"}', show({a = 1, b = "x"}))
    assert.are.equal('{"a", "b", n = 2}', show({"a", "b", n = 2}))
    assert.are.equal("{}", show({}))
  end)

  it("sorts keys numbers first, then strings, then booleans", function()
    assert.are.equal(
      '{[-1] = 1, [1.5] = 2, [10] = 3, ["a b"] = 4, ["end"] = 5, z = 6, [false] = 7, [true] = 8}',
      show({[true] = 8, z = 6, [false] = 7, ["end"] = 5, ["a b"] = 4,
            [10] = 3, [1.5] = 2, [-1] = 1}))
  end)

  it("puts a key after a hole in the sequence among the other keys", function()
    assert.are.equal("{1, 2, [4] = 4}", show({1, 2, nil, 4}))
  end)

  it("quotes strings inside tables, escaping what a literal needs", function()
    assert.are.equal('{"q\\n\\"\\\\\\000z\\t"}', show({'q\n"\\\0z\t'}))
    assert.are.equal('{["x y"] = "é"}', show({["x y"] = "é"}))
  end)

  it("shows nested tables to depth 2, deeper ones as {...}", function()
    assert.are.equal("{1, {2, {...}}}", show({1, {2, {3, {4}}}}))
    assert.are.equal("{a = {b = {...}}}", show({a = {b = {c = 1}}}))
    assert.are.equal("{{{}}}", show({{{}}}))  -- an empty one hides nothing
  end)

  it("cuts a table after 20 entries with ...", function()
    assert.are.equal("{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}",
                     show(range(20)))
    assert.are.equal("{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, ...}",
                     show(range(21)))
    local keyed = {}
    for i = 1, 30 do keyed[string.format("k%02d", i)] = i end
    local want = {}
    for i = 1, 20 do want[i] = string.format("k%02d = %d", i, i) end
    assert.are.equal("{" .. table.concat(want, ", ") .. ", ...}", show(keyed))
    local mixed = range(18)
    mixed.b, mixed.a, mixed.c = "b", "a", "c"
    assert.are.equal("{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, "
                     .. 'a = "a", b = "b", ...}', show(mixed))
  end)

  it("shows a cycle or a repeated table as <cycle>", function()
    local t = {}
    t.self = t
    assert.are.equal("{self = <cycle>}", show(t))
    local inner = {1}
    assert.are.equal("{{1}, <cycle>}", show({inner, inner}))
    assert.are.equal("{1}\t{1}", show(inner, inner))  -- each result apart
  end)

  it("prints a table with __tostring or __name via tostring", function()
    assert.are.equal("P(1)", show(setmetatable({}, {__tostring = function() return "P(1)" end})))
    assert.matches("^Point: 0x", show(setmetatable({}, {__name = "Point"})))
    assert.are.equal("{P(1)}", show({setmetatable({}, {__tostring = function() return "P(1)" end})}))
  end)

  it("survives a __tostring that raises", function()
    local bad = setmetatable({}, {__tostring = function() error("boom") end})
    assert.are.equal("<table>", show(bad))
  end)

  it("reads tables raw: an __index or __pairs is not called", function()
    local t = setmetatable({1}, {
      __index = function() error("called __index") end,
      __pairs = function() error("called __pairs") end,
    })
    assert.are.equal("{1}", show(t))
  end)

  it("prints functions, threads and other userdata as tostring does", function()
    assert.are.equal(tostring(print), show(print))
    local co = coroutine.create(print)
    assert.are.equal(tostring(co), show(co))
    assert.are.equal(tostring(io.stdout), show(io.stdout))
    assert.are.equal("{" .. tostring(print) .. "}", show({print}))
  end)

  it("shows a channel's capacity and buffered values, and its views", function()
    local ch = lugo.chan(4)
    ch:send(1)
    assert.are.equal("chan(cap=4, len=1)", show(ch))
    assert.are.equal("chan(cap=0, len=0)", show(lugo.chan()))
    assert.are.equal("chan(cap=4, len=1, send-only)", show(ch:sendonly()))
    assert.are.equal("chan(cap=4, len=1, receive-only)", show(ch:recvonly()))
    ch:send("x")
    assert.are.equal("{chan(cap=4, len=2)}", show({ch}))
    assert.are.equal(1, ch:recv())  -- showing consumed nothing
    assert.are.equal(1, ch:len())
  end)

  it("shows an atomic with its value, other lugo objects by kind", function()
    assert.are.equal("atomic(3)", show(lugo.atomic(3)))
    assert.are.equal("mutex\twaitgroup\trwmutex\tonce\tcond",
                     show(lugo.mutex(), lugo.waitgroup(), lugo.rwmutex(),
                          lugo.once(), lugo.cond(lugo.mutex())))
    local t = lugo.timer(60)
    assert.are.equal("timer", show(t))
    t:stop()
  end)

  it("shows a shared table as lugo.table{...}", function()
    assert.are.equal("lugo.table{}", show(lugo.table()))
    assert.are.equal('lugo.table{1, 2, name = "n", sub = {a = 1}}',
                     show(lugo.table({1, 2, name = "n", sub = {a = 1}})))
    assert.are.equal("{lugo.table{x = {...}}}", show({lugo.table({x = {1}})}))
    local s = lugo.table()
    s.self = s
    assert.are.equal("lugo.table{self = <cycle>}", show(s))
    s.self = nil   -- a shared table that holds itself is never freed
  end)
end)

describe("repl.complete", function()
  it("completes a field of a global table", function()
    assert.are.same({"lugo.ticker", "lugo.timer"}, complete_with("lugo", lugo, "lugo.ti"))
    assert.are.same({"string.format"}, complete("string.fo", "string.fo"))
  end)

  it("lists a channel's methods after `:`", function()
    local ch = lugo.chan()
    assert.are.same({"ch:cap", "ch:case_recv", "ch:case_send", "ch:close", "ch:len",
                     "ch:range", "ch:recv", "ch:recvonly", "ch:send", "ch:sendonly"},
                    complete_with("ch", ch, "ch:"))
    assert.are.same({"ch:recv", "ch:recvonly"}, complete_with("ch", ch, "ch:re"))
  end)

  it("lists a timer's field and methods, though its __index is a function", function()
    local t = lugo.timer(60)
    assert.are.same({"t:reset", "t:stop"}, complete_with("t", t, "t:"))
    assert.are.same({"t.c", "t.reset", "t.stop"}, complete_with("t", t, "t."))
    t:stop()
  end)

  it("lists a shared table's keys after `.`, nothing after `:`", function()
    local s = lugo.table({name = "n", 1, ["not id"] = 2})
    assert.are.same({"s.name"}, complete_with("s", s, "s."))
    assert.are.same({}, complete_with("s", s, "s:"))
  end)

  it("lists a string's methods after `:`", function()
    assert.are.same({"str:upper"}, complete_with("str", "abc", "str:up"))
  end)

  it("follows nested paths and __index tables", function()
    local obj = setmetatable({x = 1, ["a b"] = 2}, {__index = {m = function() end, f = 3}})
    assert.are.same({"o.f", "o.m", "o.x"}, complete_with("o", obj, "o."))
    assert.are.same({"o:m"}, complete_with("o", obj, "o:"))
    assert.are.same({}, complete_with("o", {["in"] = {deep = 1}}, "o.in.d"))  -- not Lua
    assert.are.same({"a.b.cc"}, complete_with("a", {b = {cc = 1, d = 2}}, "a.b.c"))
    assert.is_true(has(complete("io.stdout:", ""), "io.stdout:write"))
  end)

  it("completes global names and keywords for a bare word", function()
    assert.is_true(has(complete("pri", "pri"), "print"))
    assert.are.same({"while"}, complete("whi", "whi"))
    assert.are.same({"rawequal", "rawget", "rawlen", "rawset", "repeat", "require", "return"},
                    complete("r", "r"))
    local all = complete("", "")
    assert.is_true(has(all, "print") and has(all, "end"))
  end)

  it("gives nothing for unknown or impossible paths, and survives a raising __index", function()
    assert.are.same({}, complete("nosuchname.x", ""))
    assert.are.same({}, complete("math.pi.x", ""))
    assert.are.same({}, complete("a:b.c", ""))
    assert.are.same({}, complete("x[1].", ""))
    local bad = setmetatable({}, {__index = function() error("boom") end})
    assert.are.same({}, complete_with("bad", bad, "bad.a."))
  end)

  it("returns sorted, unique candidates", function()
    local obj = setmetatable({m = function() end}, {__index = {m = function() end, n = function() end}})
    assert.are.same({"o:m", "o:n"}, complete_with("o", obj, "o:"))
  end)
end)

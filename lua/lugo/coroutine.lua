-- coroutine.lua: coroutine.resume and coroutine.wrap for goroutine VMs.
-- A lugo call that blocks inside a nested coroutine yields PARK, and a
-- preempted one yields nothing with preempted() true; these pass the yield
-- up so the whole goroutine parks or gives way, then resume the inner one.
-- enter/leave tell the driver which coroutine runs, for preemption.
local PARK, enter, leave, preempted = ...
local co_resume, co_yield, co_create = coroutine.resume, coroutine.yield, coroutine.create
local select, type, error = select, type, error

-- ok, ... are what co_resume returned; prev is what ran before co.
local function settle(co, prev, ok, ...)
  leave(prev)
  local n = select("#", ...)
  if ok and ((n == 1 and ... == PARK) or (n == 0 and preempted())) then
    co_yield(PARK)                  -- park (or give way) as a whole
    return settle(co, enter(co), co_resume(co))
  end
  return ok, ...
end

local function resume(co, ...)
  return settle(co, enter(co), co_resume(co, ...))
end

local function unwrap(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == "string" then error(e, 2) end  -- position of the caller, as wrap does
  error(e, 0)
end

local function wrap(f)
  local co = co_create(f)
  return function(...)
    return unwrap(settle(co, enter(co), co_resume(co, ...)))
  end
end

coroutine.resume = resume
coroutine.wrap = wrap

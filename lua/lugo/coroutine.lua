-- coroutine.lua: coroutine.resume and coroutine.wrap for goroutine VMs.
-- A lugo call that blocks inside a nested coroutine yields PARK; these pass
-- it up so the whole goroutine parks, then resume the inner one once woken.
local PARK = ...
local co_resume, co_yield, co_create = coroutine.resume, coroutine.yield, coroutine.create
local select, type, error = select, type, error

-- ok, ... are what co_resume returned; loop while the inner one parked.
local function settle(co, ok, ...)
  while ok and select("#", ...) == 1 and ... == PARK do
    co_yield(PARK)                  -- park this goroutine as well
    return settle(co, co_resume(co))
  end
  return ok, ...
end

local function resume(co, ...)
  return settle(co, co_resume(co, ...))
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
    return unwrap(settle(co, co_resume(co, ...)))
  end
end

coroutine.resume = resume
coroutine.wrap = wrap

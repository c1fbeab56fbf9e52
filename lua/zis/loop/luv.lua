-- zis.loop.luv: the adapter for luv (libuv), an optional module.
--
--   local zluv = require "zis.loop.luv"
--   local client = zis.new{ ..., scheduler = zluv }
--   zluv.run(function() print(#client:list_integrations().integrations) end)
--
-- A call made inside a coroutine suspends it: a uv_poll per socket of the
-- engine (shared by the coroutines waiting on it) and a uv_timer for its
-- next timeout; the first to fire resumes the coroutine, and its handles
-- are released when the wait ends, however it ends (coroutine.close
-- included: a to-be-closed variable).
-- Outside a coroutine (a luv callback, the main chunk) a call blocks as
-- without a scheduler.
--
-- Errors.  luv catches an error raised in one of its callbacks, prints
-- "Uncaught Error" and exits with status 255; lua.c's Ctrl-C hook raises
-- inside whatever callback runs, so it ends the same way.  M.run(fn, ...)
-- runs the loop so that neither happens: an error a coroutine resumed by
-- this adapter does not catch stops the loop and is raised from M.run,
-- and so is "interrupted!" on SIGINT (a uv signal handler for the
-- duration of M.run; libuv leaves SIGINT at its default afterwards).  The
-- caller then reports it as for any other error (the zis command: exit 1,
-- or 130 for the interrupt).  Under a plain uv.run() an uncaught error is
-- still raised from the callback that resumed the coroutine, as
-- coroutine.wrap would.

local uv = require "luv"

local resume, running, yield, create = coroutine.resume, coroutine.running, coroutine.yield,
                                        coroutine.create
local ceil, next, pairs, setmetatable, error, pcall = math.ceil, next, pairs, setmetatable, error,
                                                      pcall

local M = { name = "luv" }

-- Inside M.run: how deep, and the first error to raise from it ({err}).
local depth, pending = 0, nil

-- An error no coroutine caught, met in a luv callback: inside M.run it
-- stops the loop and waits there to be raised; elsewhere it is raised
-- here (luv then reports it and exits).
local function uncaught(err)
  if depth == 0 then error(err, 0) end
  if not pending then pending = { err } end
  uv.stop()
end

--- M.run([fn, ...]): starts fn(...) in a coroutine (when given), then
-- runs the luv loop until no handle is left (uv.run's default mode), an
-- uncaught error of a coroutine, or SIGINT; raises that error, or
-- "interrupted!".  Returns true.
-- One SIGINT handle for every M.run, started and stopped, never closed:
-- a handle closed but not yet finalized by a turn of the loop makes luv
-- crash when Lua closes the state (luv 1.44), as it would after an error.
local sigint
function M.run(fn, ...)
  if not sigint then
    sigint = uv.new_signal()
    sigint:unref()   -- the handler alone does not keep the loop running
  end
  sigint:start("sigint", function() uncaught("interrupted!") end)
  depth = depth + 1
  local ok, err = pcall(function(...)
    if fn then
      local co = create(fn)
      local rok, rerr = resume(co, ...)
      if not rok then error(rerr, 0) end
    end
    if not pending then uv.run() end
  end, ...)
  depth = depth - 1
  if depth == 0 then sigint:stop() end
  local p = pending
  if depth == 0 then pending = nil end
  if not ok then error(err, 0) end
  if p then error(p[1], 0) end
  return true
end

-- One uv_poll per descriptor, shared by every coroutine waiting on it:
-- libuv allows one poll handle per socket, and calls of many coroutines on
-- one client wait on the same sockets.  polls[fd] = {handle =, events =,
-- waiters = {[wake] = events}}; the handle goes when its last waiter does.
local polls = {}

local function poll_start(entry)
  local want = {}
  for _, ev in pairs(entry.waiters) do
    for c in ev:gmatch(".") do want[c] = true end
  end
  local ev = (want.r and "r" or "") .. (want.w and "w" or "")
  if ev ~= entry.events and ev ~= "" then
    entry.events = ev
    entry.handle:start(ev, function()
      -- a copy: a waiter woken here removes itself from the table
      local list = {}
      for w in pairs(entry.waiters) do list[#list + 1] = w end
      for i = 1, #list do list[i]() end
    end)
  end
end

local function poll_add(fd, ev, wake)
  local entry = polls[fd]
  if not entry then
    local h = uv.new_poll(fd)
    if not h then return false end
    entry = { handle = h, events = "", waiters = {} }
    polls[fd] = entry
  end
  entry.waiters[wake] = ev
  poll_start(entry)
  return true
end

local function poll_remove(fd, wake)
  local entry = polls[fd]
  if not entry then return end
  entry.waiters[wake] = nil
  if next(entry.waiters) == nil then
    polls[fd] = nil
    if not entry.handle:is_closing() then entry.handle:close() end
  else
    poll_start(entry)
  end
end

function M.wait(_, fds, seconds, token)
  local co = running()
  local fired = false
  local added = {}
  local function wake()
    if fired then return end
    fired = true
    local ok, err = resume(co)
    if not ok then uncaught(err) end
  end
  local timer = uv.new_timer()
  local _ <close> = setmetatable({}, { __close = function()
    fired = true
    token.luv_timer = nil
    if not timer:is_closing() then timer:close() end
    for fd in pairs(added) do poll_remove(fd, wake) end
  end })
  timer:start(seconds > 0 and ceil(seconds * 1000) or 0, 0, wake)
  token.luv_timer, token.luv_wake = timer, wake
  for fd, ev in pairs(fds) do
    if poll_add(fd, ev, wake) then added[fd] = true end
  end
  yield()
end

-- client:close() from elsewhere: the waiting call resumes on the next
-- turn of the loop (not inside the closer's own stack).
function M.wake(_, token)
  local t = token.luv_timer
  if t and not t:is_closing() then
    t:stop()
    t:start(0, 0, token.luv_wake)
  end
end

return M

-- zis.loop.luv: the adapter for luv (libuv), an optional module.
--
--   local zluv = require "zis.loop.luv"
--   local client = zis.new{ ..., scheduler = zluv }
--   zluv.run(function() print(#client:list_integrations().integrations) end)
--
-- A call made inside a coroutine suspends it: one uv_poll per socket of
-- the engine and one uv_timer for its next timeout; the first to fire
-- resumes the coroutine, and every handle is closed when the wait ends,
-- however it ends (coroutine.close included: a to-be-closed variable).
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
local ceil, pairs, setmetatable, error, pcall = math.ceil, pairs, setmetatable, error, pcall

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

local function close_all(handles)
  for i = 1, #handles do
    local h = handles[i]
    if not h:is_closing() then h:close() end
  end
end

function M.wait(_, fds, seconds, token)
  local co = running()
  local handles, fired = {}, false
  local function wake()
    if fired then return end
    fired = true
    local ok, err = resume(co)
    if not ok then uncaught(err) end
  end
  local _ <close> = setmetatable({}, { __close = function()
    fired = true
    token.luv_timer = nil
    close_all(handles)
  end })
  local timer = uv.new_timer()
  handles[1] = timer
  timer:start(seconds > 0 and ceil(seconds * 1000) or 0, 0, wake)
  token.luv_timer, token.luv_wake = timer, wake
  for fd, ev in pairs(fds) do
    local p = uv.new_poll(fd)
    if p then
      handles[#handles + 1] = p
      p:start(ev, wake)
    end
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

-- zis.loop.luv: the adapter for luv (libuv), an optional module.
--
--   local uv = require "luv"
--   local client = zis.new{ ..., scheduler = require "zis.loop.luv" }
--   coroutine.wrap(function() print(#client:list_integrations()) end)()
--   uv.run()
--
-- A call made inside a coroutine suspends it: one uv_poll per socket of
-- the engine and one uv_timer for its next timeout; the first to fire
-- resumes the coroutine, and every handle is closed when the wait ends,
-- however it ends (coroutine.close included: a to-be-closed variable).
-- Outside a coroutine (a luv callback, the main chunk) a call blocks as
-- without a scheduler.  An error the coroutine does not catch is raised
-- from the luv callback that resumed it, as coroutine.wrap would.

local uv = require "luv"

local resume, running, yield = coroutine.resume, coroutine.running, coroutine.yield
local ceil, pairs, setmetatable, error = math.ceil, pairs, setmetatable, error

local M = { name = "luv" }

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
    if not ok then error(err, 0) end
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

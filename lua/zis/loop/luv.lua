-- zis.loop.luv: the adapter for luv (libuv), an optional module.
--
--   local uv = require "luv"
--   local client = zis.new{ ..., scheduler = require "zis.loop.luv" }
--   coroutine.wrap(function() print(#client:list_integrations()) end)()
--   uv.run()
--
-- A call made inside a coroutine suspends it: a uv_poll per socket of the
-- engine (shared by the coroutines waiting on it) and a uv_timer for its
-- next timeout; the first to fire resumes the coroutine, and its handles
-- are released when the wait ends, however it ends (coroutine.close
-- included: a to-be-closed variable).
-- Outside a coroutine (a luv callback, the main chunk) a call blocks as
-- without a scheduler.  An error the coroutine does not catch is raised
-- from the luv callback that resumed it, as coroutine.wrap would.

local uv = require "luv"

local resume, running, yield = coroutine.resume, coroutine.running, coroutine.yield
local ceil, next, pairs, setmetatable, error = math.ceil, next, pairs, setmetatable, error

local M = { name = "luv" }

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
    if not ok then error(err, 0) end
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

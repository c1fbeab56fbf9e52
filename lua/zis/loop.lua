-- zis.loop: non-blocking use of a client from a host's event loop.
--
-- A client made with `zis.new{..., scheduler = adapter}` runs every call
-- (single, batch, iterator page, deploy, export) as usual, but where it
-- would block in the engine it asks the adapter to suspend the running
-- coroutine until one of the engine's sockets is ready or the engine's
-- next timeout passes, then makes progress without blocking
-- (core.wait(client, 0)).  Retry and Retry-After waits are the same wait
-- with no socket: a timer of the host's loop, not a sleep.
--
-- An adapter is a table with:
--
--   adapter:wait(fds, seconds, token)  required.  Called inside the
--       calling coroutine; suspends it until one fd of `fds`
--       ({[fd] = "r" | "w" | "rw"}) is ready for those events or `seconds`
--       pass, then returns.  Returning early is harmless.  `token` is a
--       table for this call, the same one given to wake.
--   adapter:wake(token)  optional.  Makes the wait holding `token` return
--       soon (client:close() from elsewhere uses it).  Without it, a close
--       is noticed within MAX_SLICE seconds.
--   adapter:yieldable()  optional.  May the running code suspend?  The
--       default is coroutine.isyieldable().  Where it may not (the main
--       thread), the call blocks in the engine exactly as without a
--       scheduler.
--
-- zis.loop.cqueues and zis.loop.luv are adapters for those loops.  For any
-- other loop, M.host() is an adapter that yields (fds, seconds) to whoever
-- resumes the coroutine, and M.task(fn, ...) wraps a function into a task
-- that a host steps: the C host in examples/embed/poll_host.c drives
-- lua-zis from its own poll() this way.
--
-- Many calls at once per client: calls from any number of coroutines share
-- the client's engine, pool and token (see lua/zis/run.lua).

local core = require "zis.core"

local wait, sockets, state, is_open, now, poll = core.wait, core.sockets, core.state,
                                                  core.is_open, core.now, core.poll
local error, type, setmetatable, pcall, pairs, ipairs = error, type, setmetatable, pcall,
                                                       pairs, ipairs
local min = math.min
local isyieldable, yield, resume, create, status, close_co =
      coroutine.isyieldable, coroutine.yield, coroutine.resume, coroutine.create,
      coroutine.status, coroutine.close

local M = {}

-- Longest single wait: a safety net for a socket the engine did not
-- report, and how soon a close is noticed by an adapter without wake.
M.MAX_SLICE = 1.0

local CLOSED = "zis: client closed while a call was waiting on it"
M.CLOSED = CLOSED

--- zis.loop.waiter(adapter) -> function(client, timeout): what
-- lua/zis/client.lua's run loop calls instead of core.wait; returns what
-- core.wait returns (a result table, or nil when `timeout` is up).
function M.waiter(adapter)
  if type(adapter) ~= "table" or type(adapter.wait) ~= "function" then
    error("zis.new: option 'scheduler' must be an adapter with a wait method " ..
          "(zis.loop.cqueues, zis.loop.luv, or see 'Non-blocking use' in the manual)", 3)
  end
  local can_yield = adapter.yieldable
  -- rec: the waiting call's record (zis.run): its token is what wake()
  -- is given, by client:close() or by a call that received this one's
  -- result (many calls may wait on one client at once)
  return function(client, timeout, rec)
    local may
    if can_yield then may = can_yield(adapter) else may = isyieldable() end
    if not may then return wait(client, timeout) end
    local st = state(client)
    local deadline = now() + timeout
    local token = rec and rec.token or { client = client }
    if rec then rec.token = token end
    st.scheduler = adapter
    while true do
      local r = wait(client, 0)       -- progress without blocking; one result
      if r then return r end
      -- another call's result for this one, left in the mailbox (zis.run)
      if rec and st.mail then
        for id in pairs(rec.inflight) do if st.mail[id] then return nil end end
      end
      local left = deadline - now()
      if left <= 0 then return nil end
      local fds, ms = sockets(client)
      if ms >= 0 and ms / 1000 < left then left = ms / 1000 end
      -- a close asked for by the call's own code (a hook, the token
      -- function) is deferred to the call's end, as in blocking mode; one
      -- made elsewhere while this call is suspended here ends it now
      local was_open = is_open(client)
      adapter:wait(fds, min(left, M.MAX_SLICE), token)
      if was_open and not is_open(client) then error(CLOSED, 0) end
    end
  end
end

---------------------------------------------------------------------------
-- The generic host: any loop that can poll file descriptors
---------------------------------------------------------------------------

local HOST_MARK = setmetatable({}, { __name = "zis.loop.wait" })
M.HOST_MARK = HOST_MARK

--- zis.loop.host() -> adapter: its wait yields (HOST_MARK, fds, seconds)
-- to the resumer of the coroutine; wake sets the token's `woken`.
-- Use it with zis.loop.task, or resume the coroutine yourself.
function M.host()
  local a = {}
  function a.wait(_, fds, seconds, token)
    token.woken = false
    yield(HOST_MARK, fds, seconds, token)
  end
  function a.wake(_, token) token.woken = true end
  return a
end

local Task = {}
Task.__index = Task

--- zis.loop.task(fn, ...) -> task: fn(...) in a coroutine a host steps.
--   task:step()  runs it until it waits or ends; returns true when it has
--                ended (task.results then holds what fn returned; an error
--                of fn is raised from step, with the task ended);
--   task:wants() -> fds, seconds: what it waits for ({} and 0 when it
--                must be stepped at once: a close woke it);
--   task:cancel() ends it at once: the call's requests are freed.
function M.task(fn, ...)
  local args, n = { ... }, select("#", ...)
  local t = setmetatable({ co = create(function() return fn(table.unpack(args, 1, n)) end),
                           fds = {}, seconds = 0, due = nil }, Task)
  return t
end

function Task:step()
  if self.done then return true end
  local res = table.pack(resume(self.co))
  if not res[1] then
    self.done = true
    close_co(self.co)
    error(res[2], 0)
  end
  if status(self.co) == "dead" then
    self.done, self.results = true, table.pack(table.unpack(res, 2, res.n))
    return true
  end
  if res[2] ~= HOST_MARK then
    -- a yield that is not ours: step again at once
    self.fds, self.seconds, self.token, self.due = {}, 0, nil, nil
    return false
  end
  self.fds, self.seconds, self.token = res[3], res[4], res[5]
  self.due = now() + res[4]
  return false
end

function Task:wants()
  if self.done or not self.due then return {}, 0 end
  if self.token and self.token.woken then return {}, 0 end
  local left = self.due - now()
  return self.fds, left > 0 and left or 0
end

function Task:cancel()
  if not self.done then
    self.done = true
    close_co(self.co)
  end
end

--- zis.loop.run(tasks): a reference host in Lua, for tests and scripts
-- that have no loop of their own: steps the tasks until all have ended,
-- sleeping in poll() (core.poll: no FD_SETSIZE limit, unlike select).
-- An error of a task is raised from here (the other tasks are cancelled
-- first, their requests freed), and so is an interrupt (lua.c's Ctrl-C).
function M.run(tasks)
  local ok, err = pcall(function()
    for _, t in ipairs(tasks) do t:step() end
    while true do
      local want, soonest, left, owner = {}, 3600, 0, {}
      for _, t in ipairs(tasks) do
        if not t.done then
          left = left + 1
          local fds, secs = t:wants()
          if secs < soonest then soonest = secs end
          for fd, ev in pairs(fds) do
            local have = want[fd]
            want[fd] = (have and have ~= ev) and "rw" or ev
            local o = owner[fd]
            if not o then o = {}; owner[fd] = o end
            o[#o + 1] = t
          end
        end
      end
      if left == 0 then return end
      local ready = {}
      for fd in pairs(poll(want, soonest)) do
        for _, t in ipairs(owner[fd]) do ready[t] = true end
      end
      for _, t in ipairs(tasks) do
        if not t.done then
          local _, secs = t:wants()
          if ready[t] or secs <= 0 then t:step() end
        end
      end
    end
  end)
  if not ok then
    for _, t in ipairs(tasks) do t:cancel() end
    error(err, 0)
  end
end

return M

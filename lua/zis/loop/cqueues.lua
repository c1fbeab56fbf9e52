-- zis.loop.cqueues: the adapter for cqueues, an optional module.
--
--   local cqueues = require "cqueues"
--   local client = zis.new{ ..., scheduler = require "zis.loop.cqueues" }
--   local cq = cqueues.new()
--   cq:wrap(function() print(#client:list_integrations()) end)
--   assert(cq:loop())
--
-- A call made in a coroutine the controller runs waits with cqueues.poll
-- on the engine's sockets, a condition (for close) and the engine's next
-- timeout.  Outside a controller a call blocks as without a scheduler.

local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local poll, cq_running, cancel = cqueues.poll, cqueues.running, cqueues.cancel
local pairs, setmetatable, unpack = pairs, setmetatable, table.unpack

local M = { name = "cqueues" }

-- A descriptor as cqueues polls it.
local Fd = {}
Fd.__index = Fd
function Fd:pollfd() return self.fd end
function Fd:events() return self.ev end

function M.yieldable()
  return cq_running() ~= nil and coroutine.isyieldable()
end

function M.wait(_, fds, seconds, token)
  local cond = token.cq_cond
  if not cond then cond = condition.new(); token.cq_cond = cond end
  local objs, n = { cond }, 1
  for fd, ev in pairs(fds) do
    n = n + 1
    objs[n] = setmetatable({ fd = fd, ev = ev }, Fd)
  end
  n = n + 1
  objs[n] = seconds
  poll(unpack(objs, 1, n))
  -- the engine may close these sockets next: cqueues must forget them
  -- first, or it fails on the stale descriptor later (EBADF)
  for fd in pairs(fds) do cancel(fd) end
end

function M.wake(_, token)
  if token.cq_cond then token.cq_cond:signal() end
end

return M

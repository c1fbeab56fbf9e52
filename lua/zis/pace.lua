-- zis.pace: one request budget for everything a client (and the clients
-- for_integration made from it) sends to one Zendesk account.
--
-- Zendesk limits an account to so many requests a minute, all callers
-- together, and tells each answer how much is left (docs/zendesk-api.md,
-- "Behaviours": X-Rate-Limit, X-Rate-Limit-Remaining, ratelimit-limit,
-- ratelimit-remaining, ratelimit-reset); past it, 429 with Retry-After.
-- A pace object keeps that budget for every request of the client: single
-- calls, batches, iterators, deploy, export, apply, any number of
-- coroutines.  zis.run asks it before each submit (delay_before_next) and
-- tells it each answer (update); a 429 pauses the whole client
-- (pause_until).  While plenty is left, requests go at once; when the
-- remaining budget runs low (a tenth of the limit), the rest is spread
-- over the rest of the window instead of spent at once, and a spent
-- budget waits for the window's end.  A job that must wait goes back to
-- the run loop, which waits in the engine (other attempts go on), so
-- nothing blocks.
--
-- What the budget knows:
--   limit        requests per window, from the headers or the rate_limit
--                option (per minute); nil: nothing known, no pacing
--   left         requests estimated left in the window: the server's
--                remaining, less the requests sent after the one it
--                answered (they will count too), less each request sent
--   window_end   when the window ends (now + ratelimit-reset when the
--                server says; else a minute after the window was seen
--                to begin)
--   paused       nothing is sent before this time (a 429)
-- With no header seen and no rate_limit given, `limit` is nil, and a
-- request costs one field test (zis.run's fast path looks at `active`).

local setmetatable, max, min, floor, format = setmetatable, math.max, math.min, math.floor, string.format

local M = {}

local Pace = {}
Pace.__index = Pace

-- Zendesk's limits are per minute: the window when the server names none.
local MINUTE = 60

--- pace.new([rate_limit]) -> a budget.  rate_limit: requests per minute
-- assumed until the server sends its own figures (nil: none assumed).
function M.new(rate_limit)
  local p = setmetatable({ limit = rate_limit, left = rate_limit, span = MINUTE, window_end = nil,
                           reset_known = false, projected = false, paused = 0, pause_reason = nil,
                           next_at = 0, sent = 0, active = rate_limit ~= nil, watcher = nil,
                           waiting_until = 0 }, Pace)
  return p
end

-- How many requests make "low": below this, the rest is spread.
local function low_mark(limit) return max(1, floor(limit / 10)) end

-- Starts a new window at `now` (the last one has ended).
local function roll(p, now)
  local wend = p.window_end
  if wend then
    local span = p.span
    p.window_end = wend + span * (floor((now - wend) / span) + 1)
  else
    p.window_end = now + p.span
  end
  p.left, p.projected, p.next_at = p.limit, true, 0
end

--- p:delay_before_next(now) -> seconds, reason
-- 0: the request may go now, and is counted (call it once per request
-- sent).  More: wait that long and ask again; reason says why.
function Pace:delay_before_next(now)
  local paused = self.paused
  if now < paused then return paused - now, self.pause_reason end
  local limit = self.limit
  if not limit then self.sent = self.sent + 1 return 0 end
  local wend = self.window_end
  if not wend or now >= wend then roll(self, now) wend = self.window_end end
  local left = self.left
  if left > low_mark(limit) then
    self.left, self.sent = left - 1, self.sent + 1
    return 0
  end
  if left <= 0 then
    return wend - now, format("the rate limit's budget is spent (%d requests a window)", limit)
  end
  -- running low: the rest spread evenly over the rest of the window
  if now < self.next_at then
    return self.next_at - now, format("pacing: %d of %d requests left in the window", left, limit)
  end
  self.next_at = now + (wend - now) / left
  self.left, self.sent = left - 1, self.sent + 1
  return 0
end

--- p:update(r, seq, now): an answer's rate-limit figures (the engine's
-- result: rate_limit, rate_remaining, rate_reset).  seq: the value of
-- p.sent when the request was counted.
function Pace:update(r, seq, now)
  local rem, lim, reset = r.rate_remaining, r.rate_limit, r.rate_reset
  if not rem and not lim then return end
  self.active = true
  if lim and lim >= 1 then self.limit = lim
  elseif not self.limit then self.limit = max(rem, 1) end
  -- the requests sent after this one will count against the same window
  local est = rem and rem - (self.sent - seq) or nil
  local wend = self.window_end
  if reset then
    local new_end = now + reset
    if reset > self.span or not self.reset_known then self.span = max(reset, 0.001) end
    local tol = max(0.05, min(self.span / 4, 2))
    if not self.reset_known or not wend or new_end > wend + tol then
      -- a window that began since the last one we knew
      self.window_end, self.left, self.projected, self.next_at = new_end, est or self.limit, false, 0
    elseif new_end >= wend - tol then
      -- the same window: its end as the server says it (an estimate made
      -- when we rolled over is replaced by the first answer of the window)
      if self.projected or new_end < wend then self.window_end, self.projected = new_end, false end
      if est and est < self.left then self.left = est end
    end
    -- else an answer from a window already over: nothing to learn
    self.reset_known = true
  elseif est then
    -- no reset given: a minute from when the window is seen to begin (the
    -- remaining figure rising), the smaller estimate within it
    if not wend then
      self.window_end, self.left = now + self.span, est
    elseif est > self.left + 1 then
      self.window_end, self.left, self.next_at = now + self.span, est, 0
    elseif est < self.left then
      self.left = est
    end
  end
end

--- p:pause_until(t, reason): nothing is sent before t (a 429): the window
-- is spent until then.
function Pace:pause_until(t, reason)
  if t > self.paused then self.paused, self.pause_reason = t, reason end
  if self.limit then
    self.left = 0
    if not self.window_end or self.window_end < t then self.window_end, self.projected = t, true end
  end
end

--- p:waiting(now) -> seconds until the next request may go (0: now), reason
-- (without counting a request).
function Pace:waiting(now)
  if now < self.paused then return self.paused - now, self.pause_reason end
  if self.limit and self.left and self.window_end and now < self.window_end then
    if self.left <= 0 then
      return self.window_end - now, format("the rate limit's budget is spent (%d requests a window)", self.limit)
    end
  end
  return 0
end

--- p:notify(seconds, reason, now): tells the watcher (pace.watch) that the
-- client waits; once per wait (a wait already told is not told again).
function Pace:notify(seconds, reason, now)
  local w = self.watcher
  if not w then return end
  local until_t = now + seconds
  if until_t <= self.waiting_until + 0.001 then return end
  self.waiting_until = until_t
  w(seconds, reason)
end

--- pace.watch(client, fn): fn(seconds, reason) is called when the client
-- (or a client sharing its budget) starts waiting for the rate limit:
-- the whole client paused by a 429, or the budget spent until the window
-- ends.  nil removes it.  Returns false when the client does not pace
-- (rate_limit = false).
function M.watch(client, fn)
  local p = require("zis.core").state(client).pace
  if not p then return false end
  p.watcher = fn
  return true
end

---------------------------------------------------------------------------
-- Progress figures, for on_progress and the command line
---------------------------------------------------------------------------

local Progress = {}
Progress.__index = Progress

--- pace.progress(fn, total, now) -> a tracker: t:step(n, now) counts n
-- more done, t:wait(seconds, reason, now) says the work waits; each calls
-- fn{done, total, rate, eta, waiting, wait_reason}: rate in items a
-- second over the last 10 seconds or so, eta in seconds (nil until a rate
-- is known), waiting in seconds (0 when not waiting).
function M.progress(fn, total, now)
  return setmetatable({ fn = fn, total = total, done = 0, t0 = now, marks = { { now, 0 } },
                        waiting = 0, reason = nil, wait_until = 0 }, Progress)
end

local function report(t, now)
  local marks = t.marks
  local first = marks[1]
  local dt = now - first[1]
  local rate = dt > 0 and (t.done - first[2]) / dt or nil
  if rate == 0 then rate = nil end
  local waiting = t.wait_until > now and t.wait_until - now or 0
  t.fn{ done = t.done, total = t.total, rate = rate,
        eta = rate and (t.total - t.done) / rate + 0 or nil,
        waiting = waiting, wait_reason = waiting > 0 and t.reason or nil }
end

function Progress:step(n, now)
  self.done = self.done + n
  local marks = self.marks
  marks[#marks + 1] = { now, self.done }
  -- keep about 10 seconds of marks for the rate
  while #marks > 2 and now - marks[2][1] >= 10 do table.remove(marks, 1) end
  report(self, now)
end

function Progress:wait(seconds, reason, now)
  local until_t = now + seconds
  if until_t <= self.wait_until + 0.05 then return end   -- a wait already told
  self.wait_until, self.reason = until_t, reason
  report(self, now)
end

return M

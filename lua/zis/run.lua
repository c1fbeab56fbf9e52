-- zis.run: the policy of a call, on the client's one engine.
--
-- This file: the calls' records and the sweep, the run loop, single calls
-- (with their fast path) and batches.  Its parts: lua/zis/run/auth.lua
-- (which credential an attempt uses, the token refresh) and
-- lua/zis/run/outcome.lua (retries, redirects, events, a call's value or
-- error).
--
-- Every request is an attempt on the engine (src/zis_engine.c): a single
-- call is a batch of one, so retries and Retry-After, the 401 token
-- refresh, same-origin redirects, fresh connections for requests that
-- must not repeat, hooks and debug lines are the same code for a single
-- call, a batch item and an iterator's page.
--
-- Many calls at once, on one client: any number of coroutines (and a hook
-- calling its own client) share the engine, the pool, the token and its
-- refresh.  Results come out of the engine in the order they finish,
-- whoever waits: a call that receives another call's result leaves it in
-- the client's mailbox (st.mail) and wakes that call (under a scheduler);
-- each call takes its own from there first.  A call is a record in
-- st.calls (weak keys): its end (normal, an error, a coroutine.close)
-- runs its guard, which cancels what it still has in flight; a call whose
-- coroutine died of an error without closing, or was dropped and
-- collected, is found by the next call's sweep (or its record's __gc) and
-- its attempts cancelled then.  Nothing refuses a call as busy.
--
-- User code (hooks, token functions) runs only here, between engine
-- calls, never while C holds anything of Lua's.
--
-- The rate limit: the client's budget (st.pace, zis.pace, shared with the
-- clients for_integration makes) is asked before each submit and told each
-- answer's rate-limit figures; a job it holds back stays queued while the
-- loop waits in the engine for that long (other attempts go on), and a 429
-- pauses the whole client until Retry-After (or ratelimit-reset).

local core = require "zis.core"
local errors = require "zis.errors"
local credentials = require "zis.run.auth"
local outcomes = require "zis.run.outcome"

local submit, wait, cancel, now = core.submit, core.wait, core.cancel, core.now
local check_call, begin_call, end_call, state, is_open =
      core.check_call, core.begin_call, core.end_call, core.state, core.is_open
local error, ipairs, next, pairs, setmetatable =
      error, ipairs, next, pairs, setmetatable
local min = math.min
local running, costatus = coroutine.running, coroutine.status

local M = {}

-- The engine's limit: attempts in flight on one client, all calls together
-- (ZIS_MAX_SLOTS in src/zis.h).
local MAX_IN_FLIGHT = 64

---------------------------------------------------------------------------
-- Credentials (lua/zis/run/auth.lua); retries, redirects, events,
-- outcomes (lua/zis/run/outcome.lua): bound here once, so the loop and
-- the fast path call them as they call their own locals
---------------------------------------------------------------------------

local auth_for, refresh_token, token_due =
      credentials.auth_for, credentials.refresh_token, credentials.token_due
M.auth_for = auth_for
local retry_wait, redirect_path, event, success, outcome =
      outcomes.retry_wait, outcomes.redirect_path, outcomes.event, outcomes.success, outcomes.outcome

---------------------------------------------------------------------------
-- Calls: records, guards, the sweep
---------------------------------------------------------------------------

-- The client's shared tables, made on its first call that needs them.
local function shared(st)
  local owner = st.owner
  if not owner then
    owner = setmetatable({}, { __mode = "v" })   -- attempt id -> its job (held by its call)
    st.owner, st.ids, st.mail = owner, {}, {}     -- ids in flight; results for other calls
    st.calls = setmetatable({}, { __mode = "k" }) -- live call records
  end
  return st
end

-- Forgets an attempt: in the engine (when it is open) and in the tables.
local function drop(client, st, id)
  st.ids[id], st.owner[id], st.mail[id] = nil, nil, nil
  if is_open(client) then cancel(client, id) end
end

-- Ends a call record once: its attempts still in flight are cancelled,
-- and the engine is told the call is over (a deferred close happens
-- when the last one ends).
local function finish(client, st, rec)
  if rec.ended then return end
  rec.ended = true
  st.calls[rec] = nil
  for id in pairs(rec.inflight) do drop(client, st, id) end
  end_call(client)
end

-- Calls that can never end on their own: a coroutine that died of an
-- error (its to-be-closed guard waits for a coroutine.close that may never
-- come), and attempts whose call was collected (a dropped task).
local function sweep(client, st)
  if not st.calls then return end
  for rec in pairs(st.calls) do
    if rec.co and costatus(rec.co) == "dead" then finish(client, st, rec) end
  end
  for id in pairs(st.ids) do
    if st.owner[id] == nil then drop(client, st, id) end
  end
end

M.sweep = sweep

-- A call's record: its attempts, its coroutine, its guard.  __close ends
-- the call however it ends; __gc ends it when its coroutine was dropped
-- and collected (the engine then forgets it at the next engine step).
local Record = {}
Record.__index = Record
Record.__close = function(rec) finish(rec.client, rec.st, rec) end
Record.__gc = function(rec)
  if not rec.ended then
    rec.ended = true
    -- from a finalizer: only what cannot fail; the sweep cancels the ids
    if is_open(rec.client) then end_call(rec.client) end
  end
end

-- Begins a call: checks the client (raises, changing nothing, when it is
-- closed), makes the record, then marks it begun: an error raised between
-- any two instructions (lua.c's Ctrl-C hook) finds the record's guard in
-- place, and a call that is gone never holds the client.
local function open_call(client, st)
  check_call(client)
  shared(st)
  if next(st.calls) then sweep(client, st) end
  local co, main = running()
  local rec = setmetatable({ client = client, st = st, inflight = {}, co = not main and co or nil,
                             ended = false }, Record)
  st.calls[rec] = true
  begin_call(client)
  return rec
end

---------------------------------------------------------------------------
-- The run loop
---------------------------------------------------------------------------

-- How long the engine may block before the loop needs to look again.
local IDLE_WAIT = 3600
-- How soon a call waiting for another call's token refresh looks again.
local REFRESH_POLL = 0.02

-- The next result for this call: from the mailbox, else from the engine
-- (blocking, or through the scheduler's waiter), leaving other calls'
-- results in the mailbox.  nil when `timeout` passed.
local function next_result(client, st, rec, timeout)
  local mail, inflight = st.mail, rec.inflight
  local deadline
  while true do
    for id in pairs(inflight) do
      local r = mail[id]
      if r then mail[id] = nil return r end
    end
    local t = timeout
    if deadline then
      t = deadline - now()
      if t <= 0 then return nil end
    else
      deadline = now() + timeout
    end
    local waiter = st.waiter
    local r
    if waiter then r = waiter(client, t, rec) else r = wait(client, t) end
    if r == nil then return nil end
    if r == false then return nil end   -- interrupted: lua.c raises at the next instruction
    if inflight[r.id] then return r end
    if st.owner[r.id] then
      mail[r.id] = r
      local other = st.owner[r.id].rec
      if other and other.token and st.scheduler and st.scheduler.wake then st.scheduler:wake(other.token) end
    else
      st.ids[r.id] = nil   -- an attempt whose call is gone
    end
  end
end

-- Runs jobs (rows with their built paths and bodies) with at most
-- `concurrency` attempts in flight.  Calls done(job, value, err) as each
-- job ends, in the order they end.  `rec` is the call's record.
--
-- `first` (optional) is for a single call whose first attempt the caller
-- made itself (call's fast path): {id =, auth =, gen =, r = what wait
-- gave}; the loop carries on from that attempt as if it had made it.
local function run(client, st, rec, jobs, concurrency, done, first, progress)
  local n, started, finished, active = #jobs, 0, 0, 0
  local inflight, ready, timers = rec.inflight, nil, nil   -- ready and timers only when needed
  local owner, ids = st.owner, st.ids
  local pace = st.pace
  local given   -- a result already in hand (from `first`)
  if first then
    local job = jobs[1]
    job.attempt, job.redirects, job.retried, job.rec = 1, 0, 0, rec
    job.auth, job.gen, job.seq = first.auth, first.gen, first.seq
    inflight[first.id], owner[first.id], ids[first.id] = job, job, true
    started, active, given = 1, 1, first.r
  end
  if progress then
    local inner = done
    done = function(job, v, e)
      inner(job, v, e)
      progress:step(1, now())
    end
  end
  while finished < n do
    -- fill every free slot at once: retried jobs first, then new ones
    local waiting_refresh, pace_wait = false, nil
    while active < concurrency do
      local job = ready and ready[1]
      local fresh = false
      if not job then
        if started == n then break end
        job = jobs[started + 1]
        fresh = true
      end
      local auth, why_not = auth_for(st, job.row, job.integration or nil)
      local refused
      if not auth then
        refused = errors.new{ kind = "auth", method = job.method, path = job.path,
                              attempts = 0, message = why_not }
      elseif auth == "bearer" and st.token_fn and token_due(st) then
        if st.refreshing then
          -- the token function itself calling for the token it is fetching
          -- would wait for itself
          if st.refreshing == running() then
            error("zis: an oauth_token function may not make a call that needs its own client's token", 0)
          end
          waiting_refresh = true   -- another call is fetching the token: wait for it
          break
        end
        refused = refresh_token(client, st)
      end
      local room = 0
      for _ in pairs(ids) do room = room + 1 end
      if not refused and room >= MAX_IN_FLIGHT then break end   -- other calls fill the engine
      local seq
      if pace and not refused then
        -- the budget: a job it holds back stays where it is in the queue
        local t = now()
        local d, why = pace:delay_before_next(t)
        if d > 0 then
          pace_wait = d
          job.held_since, job.wait_reason = job.held_since or t, why
          if d > 1 then
            pace:notify(d, why, t)
            if progress then progress:wait(d, why, t) end
          end
          break
        end
        seq = pace.sent
        local held = job.held_since
        job.waited, job.held_since = held and t - held or 0, nil
      end
      if fresh then
        started = started + 1
        job.attempt, job.redirects, job.retried, job.rec = 0, 0, 0, rec
      else
        table.remove(ready, 1)
      end
      job.attempt = job.attempt + 1
      if refused then
        -- no credential or no token, so no attempt: the job ends with that error
        finished = finished + 1
        done(job, nil, refused)
      else
        job.auth, job.gen, job.seq = auth, st.bearer_gen, seq
        local id = submit(client, job.method, st.base_url .. job.path, auth, job.body,
                          not job.row.idempotent, job.row.returns == "json")
        inflight[id], owner[id], ids[id] = job, job, true
        active = active + 1
      end
    end
    if finished >= n then break end
    -- wait for the next result, or until the next retry is due
    local timeout = waiting_refresh and REFRESH_POLL or IDLE_WAIT
    if pace_wait and pace_wait < timeout then timeout = pace_wait end
    if timers and timers[1] then
      local t = now()
      for _, tm in ipairs(timers) do timeout = min(timeout, tm.at - t) end
      if timeout < 0 then timeout = 0 end
    end
    local r
    if given then r, given = given, nil
    else r = next_result(client, st, rec, timeout) end
    if r then
      local job = inflight[r.id]
      inflight[r.id], owner[r.id], ids[r.id] = nil, nil, nil
      active = active - 1
      local status = r.status
      if pace and (r.rate_remaining or r.rate_limit) then pace:update(r, job.seq or pace.sent, now()) end
      local again, retry_in = false, nil
      if status and status >= 200 and status < 300 then
        -- the common case: nothing to retry or follow
        if st.on_request or st.debug then event(st, job, r, nil) end
        finished = finished + 1
        done(job, outcome(st, job, r))
        goto next_result
      end
      if status == 401 and job.auth == "bearer" and st.token_fn and not job.refreshed then
        -- an expired token: fetch a fresh one once per job, unless another
        -- job or call already did since this attempt was sent
        job.refreshed = true
        if job.gen == st.bearer_gen then st.bearer_set = false end
        again, retry_in = true, 0
      elseif status and status >= 300 and status < 400 then
        local to = redirect_path(st, job, r)
        if to then
          job.redirects, job.path = job.redirects + 1, to
          again, retry_in = true, 0
        end
      end
      local why
      if not again then retry_in, why = retry_wait(st, job, r) end
      if status == 429 and retry_in and pace then
        -- the whole client waits: every call, every job, not only this one
        local t = now()
        local reason = "rate limited by the server"
        pace:pause_until(t + retry_in, reason)
        if retry_in > 1 then
          pace:notify(retry_in, reason, t)
          if progress then progress:wait(retry_in, reason, t) end
        end
      end
      event(st, job, r, retry_in, why)
      if again then
        ready = ready or {}
        ready[#ready + 1] = job
      elseif retry_in then
        job.retried = job.retried + 1
        timers = timers or {}
        timers[#timers + 1] = { at = now() + retry_in, job = job }
      else
        finished = finished + 1
        done(job, outcome(st, job, r))
      end
    end
    ::next_result::
    -- retries that are due go back to the queue
    if timers and timers[1] then
      local t, keep = now(), {}
      for _, tm in ipairs(timers) do
        if tm.at <= t then
          ready = ready or {}
          ready[#ready + 1] = tm.job
        else
          keep[#keep + 1] = tm
        end
      end
      timers = keep
    end
  end
end

---------------------------------------------------------------------------
-- Single calls and batches
---------------------------------------------------------------------------

-- A single call's outcome goes on its job: no closure per call.
local function keep_outcome(job, v, e) job.value, job.err = v, e end

-- The fast path's guard: with no other call in flight, no hook, no debug
-- output and no event loop, nothing can run inside it (no user code), so
-- one guard made with the client serves every such call, and arming it
-- allocates nothing.
function M.make_guard(client, st)
  return setmetatable({}, { __close = function()
    st.fast = false
    end_call(client)
  end })
end

-- One endpoint call, a batch of one.
--
-- The fast path: with no hook, no debug output and no event loop, no
-- other call in flight, and a credential ready, the first attempt is made
-- here, and a 2xx answer is returned with no record and no run loop (most
-- calls).  Anything else (a failure, a redirect, a 401) goes on in the
-- run loop from that attempt, so the policy stays in one place.
local function call(client, row, path, body, integ)
  local st = state(client)
  local first
  if not (st.on_request or st.debug or st.waiter or st.fast or (st.ids and next(st.ids))) then
    local auth = auth_for(st, row, integ)
    local pace, seq = st.pace, nil
    if auth and (auth ~= "bearer" or not st.token_fn or not token_due(st)) and pace and pace.active then
      -- a budget is known: this request counts, or waits in the run loop
      if pace:delay_before_next(now()) > 0 then auth = nil else seq = pace.sent end
    end
    if auth and (auth ~= "bearer" or not st.token_fn or not token_due(st)) then
      check_call(client)
      local _ <close> = st.guard
      st.fast = true
      begin_call(client)
      local id = submit(client, row.method, st.base_url .. path, auth, body, not row.idempotent,
                        row.returns == "json")
      local r = wait(client, IDLE_WAIT)
      if pace and r and (r.rate_remaining or r.rate_limit) then pace:update(r, seq or pace.sent, now()) end
      local status = r and r.status
      if status and status >= 200 and status < 300 then return success(row, row.method, path, 1, r) end
      if not r then cancel(client, id) end   -- interrupted: lua.c raises next
      first = r and { id = id, auth = auth, gen = st.bearer_gen, r = r, seq = seq }
    end
  end
  local rec <close> = open_call(client, st)
  local job = { row = row, method = row.method, path = path, body = body, attempt = 0, redirects = 0,
                retried = 0, gen = false, auth = false, refreshed = false, value = false, err = false,
                integration = integ or false, rec = false }
  run(client, st, rec, { job }, 1, keep_outcome, first)
  local value = job.value
  if value == nil then return nil, job.err end
  return value
end
M.call = call

-- Many calls at once: returns results (in the jobs' order; nil where one
-- failed) and errors (nil when none failed, else errors[i]).
-- `progress` (optional): a zis.pace.progress tracker, told each job done
-- and each wait of the rate limit.
function M.batch(client, jobs, concurrency, progress)
  local st = state(client)
  local rec <close> = open_call(client, st)
  local results, errs = {}, nil
  for i, job in ipairs(jobs) do job.index = i end
  run(client, st, rec, jobs, min(concurrency, #jobs > 0 and #jobs or 1), function(job, v, e)
    if v == nil then errs = errs or {}; errs[job.index] = e else results[job.index] = v end
  end, nil, progress)
  return results, errs
end

return M

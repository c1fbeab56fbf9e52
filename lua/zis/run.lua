-- zis.run: the policy of a call, on the client's one engine.
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

local submit, wait, cancel, set_bearer, now = core.submit, core.wait, core.cancel,
                                              core.set_bearer, core.now
local check_call, begin_call, end_call, state, is_open =
      core.check_call, core.begin_call, core.end_call, core.state, core.is_open
local null = core.null
local error, ipairs, next, pairs, setmetatable, tostring, type =
      error, ipairs, next, pairs, setmetatable, tostring, type
local random, min = math.random, math.min
local format = string.format
local running, costatus = coroutine.running, coroutine.status
local stderr = io.stderr

local M = {}

-- The engine's limit: attempts in flight on one client, all calls together
-- (ZIS_MAX_SLOTS in src/zis.h).
local MAX_IN_FLIGHT = 64

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------

-- Which credential an attempt uses, as Zendesk decides per endpoint
-- (docs/zendesk-api.md, "Credentials"; the manual's table, spec'd cell by
-- cell in spec/auth_matrix_spec.lua).  A client's bearer is of one kind:
--   "user"         oauth_token given by the caller: whom it is bound to
--                  is not known, so it goes wherever nothing better is held;
--   "admin"        minted from the admin's OAuth client (oauth_client):
--                  Zendesk takes it on the admin endpoints only;
--   "integration"  minted by for_integration: bound to st.integration,
--                  refused (401 integration mismatch) for any other.
-- Returns "basic", "bearer", "client_credentials", or nil and why none fits
-- (the call then fails before any request).
local function auth_for(st, row, integ)
  local class, kind = row.auth, st.bearer_kind
  local bound = kind == "integration" and integ ~= nil and integ == st.integration
  if class == "registry" then
    -- a token known to be bound, else basic: any other bearer gets 401
    if bound then return "bearer" end
    if st.has_basic then return "basic" end
    if kind == "user" then return "bearer" end
  elseif class == "services" then
    if bound or kind == "user" then return "bearer" end
    -- refused by Zendesk (403 API token is not supported): reported
    -- plainly, unless this client's token belongs elsewhere (said below)
    if st.has_basic and kind ~= "integration" then return "basic" end
  elseif class == "admin" then
    if st.has_basic then return "basic" end
    if kind == "admin" or kind == "user" then return "bearer" end
  elseif class == "upload" then
    -- Zendesk refuses every OAuth token here today; a 401 says so (errors.hint)
    if st.has_basic then return "basic" end
    if st.has_oauth then return "bearer" end
  elseif class == "client_credentials" then
    return "client_credentials"
  end
  if kind == "admin" then
    return nil, "this client holds the admin's OAuth token, which Zendesk accepts only to list " ..
                "and create integrations and to mint tokens: use client:for_integration(integration)"
  elseif kind == "integration" then
    return nil, "this client's token is bound to integration '" .. st.integration .. "'" ..
                (class == "admin" and ": list or create integrations with the client that " ..
                 "for_integration was called on" or ("; use for_integration('" .. tostring(integ) ..
                 "') on the admin's client"))
  end
  return nil, "no credential this endpoint accepts"
end
M.auth_for = auth_for

-- Asks the token function (or a minter) for a token and hands it to the
-- engine.  Runs user code, which may itself call a client (even this one)
-- or yield to a loop: st.refreshing makes the other calls wait for this
-- one refresh rather than start their own.  A function that answers nil
-- and an error object (a minter, when minting fails) makes that the
-- call's error: returned, not raised, as every failure on the way to the
-- server is.
local function refresh_token(client, st)
  st.refreshing = running()
  local ok, tok, ttl = pcall(st.token_fn)
  st.refreshing = false
  if not ok then error(tok, 0) end
  if tok == nil and errors.is_error(ttl) then return ttl end
  if type(tok) ~= "string" or tok == "" or tok:find("[%z\r\n]") then
    error("zis: oauth_token function must return a non-empty token string", 0)
  end
  set_bearer(client, tok)
  st.bearer_set = true
  st.bearer_gen = (st.bearer_gen or 0) + 1   -- which token an attempt carried
  -- re-mint a little before the token expires, when its life is known
  st.bearer_expires = (type(ttl) == "number" and ttl > 0) and now() + ttl - min(60, ttl / 10) or nil
end

local function token_due(st)
  return not st.bearer_set or (st.bearer_expires and now() >= st.bearer_expires)
end

---------------------------------------------------------------------------
-- Retries, redirects, events, outcomes
---------------------------------------------------------------------------

-- Should this outcome be retried?  Returns the wait in seconds, or nil.
-- Only retries count against `retries`: a followed redirect or a token
-- refresh is not a failure.  What no retry can fix (a malformed URL, a
-- header too large, TLS verification: the engine's `permanent`) is not.
-- The second value says why, for the hook and the debug line.  A server
-- asking for a longer wait than max_retry_wait is not retried: the call
-- fails at once, and its error says what the server asked for
-- (job.asked_wait), rather than the wait being cut short or sat out.
local function retry_wait(st, job, r)
  if job.retried >= st.retries or r.permanent then return nil end
  local status, kind = r.status, r.kind
  local busy = status == 429 or status == 503
  -- a timeout before anything was sent is a connection failure: any
  -- method may be sent again
  if kind == "timeout" and r.sent == false then kind = "connect" end
  if not (busy or kind == "connect"
          or (job.row.idempotent and (kind == "network" or status == 502 or status == 504))) then
    return nil
  end
  local asked = busy and (r.retry_after or (status == 429 and r.rate_reset)) or nil
  if asked then
    if asked > st.max_retry_wait then job.asked_wait = asked return nil end
    return asked, status == 429 and "rate limited by the server" or "the server is busy (503)"
  end
  local step = job.retried >= 17 and 17 or job.retried + 1
  return min(st.retry_base_delay * 2 ^ (step - 1), st.max_retry_wait) * random(),
         status == 429 and "rate limited by the server" or status and ("HTTP " .. status) or
         (kind == "connect" and "cannot connect" or "network error")
end

-- May this redirect be followed?  Only when the user opted in, to the
-- same origin (so the Authorization header never leaves the host), at
-- most 5 times, and for a method other than GET or DELETE only on
-- 307/308, which keep the method and body.  Returns the new path.
local function redirect_path(st, job, r)
  local loc = r.location
  if not st.follow_redirects or not loc or job.redirects >= 5 then return nil end
  local base = st.base_url
  if loc:sub(1, #base) ~= base then return nil end
  local rest = loc:sub(#base + 1)
  if rest ~= "" and rest:sub(1, 1) ~= "/" then return nil end
  local m = job.method
  if m ~= "GET" and m ~= "DELETE" and r.status ~= 307 and r.status ~= 308 then return nil end
  return rest == "" and "/" or rest
end

-- One attempt's event, to the hook and the debug output: no header and no
-- body, so it cannot hold a credential.  `waited`: how long the rate
-- limit held this attempt back before it was sent; `wait_reason`: why
-- the client waits before the retry (retry_in), else why it waited
-- before this attempt.
local function event(st, job, r, retry_in, why)
  local hook = st.on_request
  if not hook and not st.debug then return end
  local waited = job.waited
  if waited == 0 then waited = nil end
  local e = { method = job.method, path = job.path, status = r.status, error = r.kind and
              (r.kind == "connect" and "network" or r.kind), elapsed = r.elapsed,
              attempt = job.attempt, retry_in = retry_in, request_id = r.request_id,
              waited = waited, wait_reason = retry_in and why or (waited and job.wait_reason) or nil }
  if st.debug then
    stderr:write(format("zis: %s %s -> %d%s (%.3fs, attempt %d)%s%s\n", job.method, job.path,
                        r.status or 0, e.error and (" " .. e.error) or "", r.elapsed or 0,
                        job.attempt, waited and format(", sent after waiting %.3gs: %s", waited,
                                                       job.wait_reason or "the rate limit") or "",
                        retry_in and format(", retrying in %.3gs%s", retry_in,
                                            why and (": " .. why) or "") or ""))
  end
  if hook then hook(e) end
end

-- The value of a 2xx answer: true, or the body the engine decoded
-- (submit's `decode`), or nil and a decode error.
local function success(row, method, path, attempt, r)
  if row.returns == "true" then return true end
  local v = r.value
  if v == nil then return nil, errors.decode(method, path, r, attempt, r.decode_error) end
  return v
end

-- The outcome of a job's last attempt: the value, or nil and an error.
local function outcome(st, job, r)
  local row = job.row
  if r.kind then return nil, errors.transport(st, job.method, job.path, r, job.attempt) end
  local status = r.status
  if status == 404 and row.empty_on_404 then
    -- "nothing matches" as Zendesk says it: an empty page, not a failure
    return { [row.empty_on_404] = core.array{}, meta = { has_more = false, after = null, before = null } }
  end
  if status < 200 or status > 299 then
    local e = errors.http(row, st, job.method, job.path, r, job.attempt, job.auth)
    local asked = job.asked_wait
    if asked then
      -- said, not sat out: the server's wait was longer than the caller allows
      e.hint = format("the server asked to wait %s s (%s), more than max_retry_wait (%s s): " ..
                      "not retried", format("%.0f", asked), r.retry_after and "Retry-After" or
                      "ratelimit-reset", tostring(st.max_retry_wait)) .. (e.hint and ("; " .. e.hint) or "")
    end
    return nil, e
  end
  return success(row, job.method, job.path, job.attempt, r)
end

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

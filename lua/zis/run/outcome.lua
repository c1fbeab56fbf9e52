-- zis.run.outcome: what an attempt's answer means, for zis.run's loop
-- (lua/zis/run.lua): retried after how long, or not (retry_wait); a
-- redirect followed, or not (redirect_path); the event the hook and the
-- debug line see (event); the call's value or its error (success,
-- outcome).  Functions of the client's state, the job and the result
-- only: nothing here submits, waits or holds a call.

local core = require "zis.core"
local errors = require "zis.errors"

local null = core.null
local tostring = tostring
local random, min = math.random, math.min
local format = string.format

local M = {}

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
    -- io.stderr when written: a host (or a spec) may have replaced it
    io.stderr:write(format("zis: %s %s -> %d%s (%.3fs, attempt %d)%s%s\n", job.method, job.path,
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

M.retry_wait, M.redirect_path, M.event, M.success, M.outcome =
  retry_wait, redirect_path, event, success, outcome

return M

-- zis.client: the policy of a call, on the one engine.
--
-- Every request is an attempt on the client's engine (src/zis_engine.c):
-- a single call is a batch of one, so retries and Retry-After, the 401
-- token refresh, same-origin redirects, fresh connections for requests
-- that must not repeat, hooks and debug lines are the same code for a
-- single call, a batch item and an iterator's page.
--
-- Lifetimes: a call is checked by core.check_call (raises if the client
-- is closed or already in a call: a hook calling its own client), then a
-- to-be-closed guard is armed, then core.begin_call marks it; the guard
-- runs core.end_call however the call ends (a hook's error, an
-- interrupt), which forgets any attempt left and does a close() that
-- user code asked for meanwhile.  User code (hooks, the
-- token function) runs only here, between engine calls, never while C
-- holds anything of Lua's.

local core = require "zis.core"
local errors = require "zis.errors"
local endpoints = require "zis.endpoints"

local submit, wait, set_bearer, now = core.submit, core.wait,
                                                   core.set_bearer, core.now
local check_call, begin_call, end_call, state = core.check_call, core.begin_call, core.end_call, core.state
local encode, null = core.encode_json, core.null
local error, ipairs, pairs, select, setmetatable, tonumber, tostring, type =
      error, ipairs, pairs, select, setmetatable, tonumber, tostring, type
local math_type, random, min, huge = math.type, math.random, math.min, math.huge
local format, concat = string.format, table.concat
local stderr = io.stderr

local M = {}

---------------------------------------------------------------------------
-- Arguments: checks (misuse raises before any request) and encoding
---------------------------------------------------------------------------

local function argerror(row, i, msg)
  error(format("bad argument #%d to '%s' (%s)", i, row.name, msg), 0)
end

-- Percent-encodes everything but unreserved ALPHA DIGIT - _ ~ ('.' too,
-- so no value can form a dot segment): nothing a caller passes can change
-- which endpoint is called.
local PCT = {}
for b = 0, 255 do PCT[string.char(b)] = format("%%%02X", b) end
-- Recent answers are kept (at most 256, then forgotten at once): a client
-- mostly repeats its integration name and the same few ids.
local find = string.find
local pct_seen, pct_count = {}, 0
local function pct(s)
  local e = pct_seen[s]
  if e then return e end
  e = find(s, "[^%w%-_~]") and (s:gsub("[^%w%-_~]", PCT)) or s
  if pct_count >= 256 then pct_seen, pct_count = {}, 0 end
  pct_seen[s], pct_count = e, pct_count + 1
  return e
end
M.pct = pct

local names_ok, names_count = {}, 0   -- names found valid (at most 64 kept)
local function valid_name(s)
  if names_ok[s] then return true end
  if type(s) == "string" and #s >= 1 and #s <= 64 and not find(s, "[^a-z0-9_-]") then
    if names_count >= 64 then names_ok, names_count = {}, 0 end
    names_ok[s], names_count = true, names_count + 1
    return true
  end
  return false
end
M.valid_name = valid_name

local function check_string(row, i, v, what)
  if type(v) ~= "string" then
    argerror(row, i, (what and ("option '" .. what .. "' must be a string")
                      or ("string expected, got " .. (v == nil and "no value" or type(v)))))
  end
end

-- Reads one option value by its type; returns the query text or the value.
local function option_value(row, i, o, v)
  local key, kind = o[1], o[2]
  if kind == "page_size" then
    if math_type(v) ~= "integer" or v < 1 or v > 100 then
      argerror(row, i, "option '" .. key .. "' must be an integer from 1 to 100")
    end
    return tostring(v)
  elseif kind == "cursor" then
    if v == null then
      argerror(row, i, "option '" .. key .. "' is zis.null: the last page has no next cursor; " ..
                       "stop when meta.has_more is false")
    end
    check_string(row, i, v, key)
    if v == "" then argerror(row, i, "option '" .. key .. "' must not be empty") end
    return v
  elseif kind == "string" then
    check_string(row, i, v, key)
    if v == "" then argerror(row, i, "option '" .. key .. "' must not be empty") end
    return v
  elseif kind == "text" then
    check_string(row, i, v, key)
    return v
  end
  return v
end

-- Encodes a JSON value for the body, naming its root in errors.
local function encode_value(v, root)
  return encode(v, root)
end

-- The job spec's full name: short or zis:{integration}:job_spec:{name}.
local function job_spec_name(row, i, v, integ)
  check_string(row, i, v)
  local name = v
  if v:sub(1, 4) == "zis:" then
    local prefix = "zis:" .. integ .. ":job_spec:"
    if v:sub(1, #prefix) ~= prefix or #v == #prefix then
      if v:sub(1, #prefix) == prefix then argerror(row, i, "job spec name must not be empty") end
      argerror(row, i, "full job spec name must be 'zis:" .. integ .. ":job_spec:NAME'")
    end
    name = v:sub(#prefix + 1)
  end
  if name == "" then argerror(row, i, "job spec name must not be empty") end
  if name:find("%z") then argerror(row, i, "job spec name must not contain NUL") end
  return "zis:" .. integ .. ":job_spec:" .. name
end

-- The fast path of build, for rows whose arguments are all path holes
-- of kind integration or string (get_bundle, delete_bundle, ...): each
-- hole's argument index and the literal pieces around the holes, or false.
-- Any argument it does not like goes to the general path, which raises
-- the same errors as ever.
local function fast_plan(row)
  local args, pieces = row.args, row.pieces
  if row.check or #args == 0 or #args > 3 or #pieces ~= 2 * #args + 1 then return false end
  local index = {}
  for i, a in ipairs(args) do
    if a.to ~= "path" or (a[2] ~= "integration" and a[2] ~= "string") then return false end
    index[a[1]] = i
  end
  local plan = { n = #args }
  for j = 1, #args do
    local hole = pieces[2 * j]
    if type(hole) ~= "table" then return false end
    local i = index[hole[1]]
    if not i then return false end
    index[hole[1]] = nil   -- each argument once
    plan[j] = { i, args[i][2] == "integration" }
  end
  if next(index) then return false end
  return plan
end

local function fast_ok(v, integ)
  if type(v) ~= "string" then return false end
  if integ then return valid_name(v) end
  return v ~= ""
end

local build_general

-- Builds a request from a row and the method's arguments: returns the
-- path (with query) and the body text (or nil).  Raises on misuse.
local function build(row, ...)
  local plan = row.fast_plan
  if plan == nil then plan = fast_plan(row) row.fast_plan = plan end
  if plan and select("#", ...) <= plan.n then
    local pieces, a, b = row.pieces, plan[1], plan[2]
    local va = select(a[1], ...)
    if fast_ok(va, a[2]) then
      if not b then return pieces[1] .. pct(va) .. pieces[3] end
      local vb = select(b[1], ...)
      if fast_ok(vb, b[2]) then
        local c = plan[3]
        if not c then return pieces[1] .. pct(va) .. pieces[3] .. pct(vb) .. pieces[5] end
        local vc = select(c[1], ...)
        if fast_ok(vc, c[2]) then
          return pieces[1] .. pct(va) .. pieces[3] .. pct(vb) .. pieces[5] .. pct(vc) .. pieces[7]
        end
      end
    end
  end
  return build_general(row, ...)
end

function build_general(row, ...)
  local args, nargs = row.args, select("#", ...)
  if nargs > #args then
    argerror(row, #args + 1, "no more than " .. #args .. " argument" .. (#args == 1 and "" or "s") ..
                             " expected")
  end
  local values, query, body_parts, whole_body = {}, nil, nil, nil
  for i, a in ipairs(args) do
    local name, kind, to = a[1], a[2], a.to
    local v = select(i, ...)
    if kind == "integration" then
      check_string(row, i, v)
      if not valid_name(v) then argerror(row, i, "integration name must be 1 to 64 of a-z 0-9 - _") end
    elseif kind == "string" then
      check_string(row, i, v)
      if v == "" then argerror(row, i, "must not be empty") end
    elseif kind == "webhook_uuid" then
      check_string(row, i, v)
      if v == "" then argerror(row, i, "must not be empty") end
      -- a webhook's id (a ULID) is not its uuid, and paths take the uuid
      if v:find("^%d+$") or (#v == 26 and not v:find("[^0-9A-HJKMNP-TV-Z]")) then
        argerror(row, i, "'" .. v .. "' looks like the webhook's id: paths take its uuid " ..
                         "(the 'uuid' field of the webhook)")
      end
    elseif kind == "enum" then
      local ok = false
      for _, x in ipairs(a.values) do if v == x then ok = true end end
      if not ok then argerror(row, i, "must be one of " .. concat(a.values, ", ")) end
    elseif kind == "job_spec" then
      v = job_spec_name(row, i, v, values.integration)
    elseif kind == "body" then
      -- a JSON string (where the row allows text) is sent byte for byte
      if not (type(v) == "string" and a.text) and type(v) ~= "table" then
        argerror(row, i, (a.text and "table or JSON string" or "table") .. " expected, got " ..
                         (v == nil and "no value" or type(v)))
      end
    elseif kind == "options" then
      if v == nil then
        if a.required then argerror(row, i, "table expected, got no value") end
      elseif type(v) ~= "table" then
        argerror(row, i, "table expected, got " .. type(v))
      else
        local known = {}
        for _, o in ipairs(a.options) do known[o[1]] = o end
        for k in pairs(v) do
          if not known[k] then argerror(row, i, "unknown option '" .. tostring(k) .. "'") end
        end
        for _, o in ipairs(a.options) do
          local ov = v[o[1]]
          if ov == nil then
            if o.required then argerror(row, i, "option '" .. o[1] .. "' is required") end
          else
            ov = option_value(row, i, o, ov)
            if o.to == "query" then
              query = query or {}
              query[#query + 1] = pct(o.param) .. "=" .. pct(ov)
            else  -- body.<field>
              body_parts = body_parts or {}
              body_parts[#body_parts + 1] = { o.to:sub(6), ov }
            end
          end
        end
        if a.names and v.left_object_name == nil and v.right_object_name == nil then
          argerror(row, i, "give left_object_name or right_object_name (or both)")
        end
      end
      if to == "body" then body_parts = body_parts or {} end
    end
    values[name] = v
    if to == "query" then
      query = query or {}
      query[#query + 1] = pct(a.param) .. "=" .. pct(v)
    elseif to == "body" and kind == "body" then
      whole_body = v
    elseif to and to:sub(1, 5) == "body." then
      body_parts = body_parts or {}
      body_parts[#body_parts + 1] = { to:sub(6), v, kind == "body" }
    end
  end
  -- the path, holes percent-encoded
  local pieces = row.pieces
  local path
  if #pieces == 1 then
    path = pieces[1]
  else
    local out = {}
    for j, p in ipairs(pieces) do
      out[j] = type(p) == "table" and pct(values[p[1]]) or p
    end
    path = concat(out)
  end
  if query then path = path .. "?" .. concat(query, "&") end
  -- the body
  local body
  if whole_body ~= nil then
    body = type(whole_body) == "string" and whole_body or encode_value(whole_body, row.body)
  elseif body_parts then
    local out = {}
    for j, part in ipairs(body_parts) do
      out[j] = encode(part[1]) .. ":" .. encode_value(part[2], part[3] and row.body or part[1])
    end
    body = "{" .. concat(out, ",") .. "}"
  end
  if row.check then M.checks[row.check](row, values) end
  return path, body, values
end
M.build = build
M.build_general = build_general   -- every row (the fuzz target checks the two agree)

---------------------------------------------------------------------------
-- Client-side checks the API documents (before any request)
---------------------------------------------------------------------------

M.checks = {}

-- The header names an API key connection may not use (case-insensitive)
-- and the prefixes it may not start with: the list the local registry
-- enforces (zis.mock.services), so the client refuses no more and no less.
local RESERVED_HEADERS = {}
for h in ([[accept-charset accept-encoding access-control-request-headers
  access-control-request-method authorization connection content-length content-type
  cookie cookie2 date dnt expect host keep-alive origin proxy-authorization referer
  te trailer transfer-encoding upgrade user-agent via]]):gmatch("%S+") do
  RESERVED_HEADERS[h] = true
end
local RESERVED_PREFIXES = { "x-zis-", "x-amz-", "x-forwarded-", "proxy-", "sec-" }
M.RESERVED_HEADERS, M.RESERVED_PREFIXES = RESERVED_HEADERS, RESERVED_PREFIXES

-- A host name (the API's examples: "api.example.com"; connections are
-- used over https only, so no scheme is given), at most 128 characters,
-- labels of 1 to 63 letters, digits or hyphens (not at either end), an
-- optional leading "*." that must not cover a bare suffix ("*.com").
function M.check_allowed_domain(d)
  if type(d) ~= "string" or d == "" then return "allowed_domain must be a non-empty string" end
  if d:find("^%a[%w+.-]*://") or d:find("/", 1, true) then
    return "allowed_domain must be a host name such as api.example.com, without a scheme " ..
           "or path (connections are used over https only)"
  end
  if #d > 128 then return "allowed_domain must be at most 128 characters" end
  local host, wild = d, d:sub(1, 2) == "*."
  if wild then host = d:sub(3) end
  local labels = 0
  for label in (host .. "."):gmatch("([^.]*)%.") do
    labels = labels + 1
    if #label < 1 or #label > 63 or not label:find("^%w[%w-]*$") or not label:find("%w$") then
      return "allowed_domain labels must be 1 to 63 letters, digits or hyphens " ..
             "(not at either end), with an optional leading '*.'"
    end
  end
  if wild and labels < 2 then return "allowed_domain '*.' must not cover a bare suffix" end
  return nil
end

function M.check_header_name(h)
  if type(h) ~= "string" then return "header_name must be a string" end
  if h == "" or #h > 128 or h:find("[^%a_-]") then
    return "header_name must be 1 to 128 letters, '-' or '_'"
  end
  local l = h:lower()
  local reserved = RESERVED_HEADERS[l]
  for _, p in ipairs(RESERVED_PREFIXES) do
    if l:sub(1, #p) == p then reserved = true end
  end
  if reserved then
    return "header_name '" .. h .. "' is reserved (Host, Cookie, User-Agent and the like, " ..
           "and any x-zis-, x-amz-, x-forwarded-, proxy- or sec- header)"
  end
  return nil
end

-- A connection's name: 3 to 64 letters, digits, '_' or '-', unique
-- across types; "zendesk" is reserved for an OAuth connection
-- (docs/zendesk-api.md, "Behaviours").
function M.check_connection_name(name, oauth)
  if type(name) ~= "string" then return "name must be a string" end
  if #name < 3 or #name > 64 or name:find("[^%w_%-]") then
    return "name must be 3 to 64 letters, digits, '_' or '-'"
  end
  if name == "zendesk" and not oauth then
    return "name 'zendesk' is reserved for an OAuth connection"
  end
  return nil
end

M.checks.connection = function(row, values)
  local f = values.fields
  local i = #row.args
  local why
  if f.allowed_domain ~= nil then why = M.check_allowed_domain(f.allowed_domain) end
  if not why and f.header_name ~= nil then why = M.check_header_name(f.header_name) end
  if not why and row.name == "create_connection" and f.name ~= nil then
    why = M.check_connection_name(f.name, false)
  end
  if why then argerror(row, i, why) end
end

M.checks.oauth_flow = function(row, values)
  local f = values.fields
  if f.name ~= nil then
    local why = M.check_connection_name(f.name, true)
    if why then argerror(row, #row.args, why) end
  end
end

---------------------------------------------------------------------------
-- The run loop: attempts on the engine, policy here
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
                 "') on the admin's client")), class
  end
  return nil, "no credential this endpoint accepts"
end
M.auth_for = auth_for

-- Asks the token function (or the integration's minter) for a token and
-- hands it to the engine.  Runs user code: the client is busy already.
-- A function that answers nil and an error object (the integration's
-- minter, when minting fails) makes that the call's error: returned, not
-- raised, as every failure on the way to the server is.
local function refresh_token(client, st)
  local tok, ttl = st.token_fn()
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

-- Should this outcome be retried?  Returns the wait in seconds, or nil.
-- Only retries count against `retries`: a followed redirect or a token
-- refresh is not a failure.
local function retry_wait(st, job, r)
  if job.retried >= st.retries then return nil end
  local status, kind = r.status, r.kind
  local busy = status == 429 or status == 503
  if not (busy or kind == "connect"
          or (job.row.idempotent and (kind == "network" or status == 502 or status == 504))) then
    return nil
  end
  if busy and r.retry_after then return min(r.retry_after, st.max_retry_wait) end
  local step = job.retried >= 17 and 17 or job.retried + 1
  return min(st.retry_base_delay * 2 ^ (step - 1), st.max_retry_wait) * random()
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
-- body, so it cannot hold a credential.
local function event(st, job, r, retry_in)
  local hook = st.on_request
  if not hook and not st.debug then return end
  local e = { method = job.method, path = job.path, status = r.status, error = r.kind and
              (r.kind == "connect" and "network" or r.kind), elapsed = r.elapsed,
              attempt = job.attempt, retry_in = retry_in, request_id = r.request_id }
  if st.debug then
    stderr:write(format("zis: %s %s -> %d%s (%.3fs, attempt %d)%s\n", job.method, job.path,
                        r.status or 0, e.error and (" " .. e.error) or "", r.elapsed or 0,
                        job.attempt, retry_in and ", retrying" or ""))
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
    return nil, errors.http(row, st, job.method, job.path, r, job.attempt, job.auth)
  end
  return success(row, job.method, job.path, job.attempt, r)
end

-- How long the engine may block before the loop needs to look again.
local IDLE_WAIT = 3600

-- Runs jobs (rows with their built paths and bodies) with at most
-- `concurrency` attempts in flight.  Calls done(job, value, err) as each
-- job ends, in the order they end.  The caller brackets this with
-- begin_call/end_call.
--
-- `first` (optional) is for a single call whose first attempt the caller
-- made itself (call's fast path): {id =, auth =, gen =, r = what wait
-- gave}; the loop carries on from that attempt as if it had made it.
local function run(client, st, jobs, concurrency, done, first)
  local n, started, finished, active = #jobs, 0, 0, 0
  local inflight, ready, timers = {}, nil, nil   -- ready and timers only when needed
  local waiter = st.waiter   -- nil: block in the engine; else an event loop's
  local given   -- a result already in hand (from `first`)
  if first then
    local job = jobs[1]
    job.attempt, job.redirects, job.retried = 1, 0, 0
    job.auth, job.gen = first.auth, first.gen
    inflight[first.id] = job
    started, active, given = 1, 1, first.r
  end
  while finished < n do
    -- fill every free slot at once: retried jobs first, then new ones
    while active < concurrency do
      local job = ready and ready[1]
      if job then
        table.remove(ready, 1)
      else
        if started == n then break end
        started = started + 1
        job = jobs[started]
        job.attempt, job.redirects, job.retried = 0, 0, 0
      end
      job.attempt = job.attempt + 1
      local auth, why = auth_for(st, job.row, job.integration)
      local refused
      if not auth then
        refused = errors.new{ kind = "auth", method = job.method, path = job.path,
                              attempts = 0, message = why }
      elseif auth == "bearer" and st.token_fn and
         (not st.bearer_set or (st.bearer_expires and now() >= st.bearer_expires)) then
        refused = refresh_token(client, st)
      end
      if refused then
        -- no token, so no attempt: the job ends with the minter's error
        finished = finished + 1
        done(job, nil, refused)
      else
        job.auth, job.gen = auth, st.bearer_gen
        inflight[submit(client, job.method, st.base_url .. job.path, auth, job.body,
                        not job.row.idempotent, job.row.returns == "json")] = job
        active = active + 1
      end
    end
    if finished >= n then break end
    -- wait for the next result, or until the next retry is due
    local timeout = IDLE_WAIT
    if timers and timers[1] then
      local t = now()
      for _, tm in ipairs(timers) do timeout = min(timeout, tm.at - t) end
      if timeout < 0 then timeout = 0 end
    end
    local r
    if given then r, given = given, nil
    elseif waiter then r = waiter(client, timeout) else r = wait(client, timeout) end
    if r then
      local job = inflight[r.id]
      inflight[r.id] = nil
      active = active - 1
      local status = r.status
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
        -- job of this batch already did since this attempt was sent
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
      if not again then retry_in = retry_wait(st, job, r) end
      event(st, job, r, retry_in)
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
M.run = run

-- The guard that ends a call however it ends (a coroutine closed while
-- its call waits in a scheduler, too: coroutine.close runs it).
local function guard(client, st)
  local g = st.guard
  if not g then
    g = M.make_guard(client, st)
    st.guard = g
  end
  return g
end

-- The guard is made with the client (zis.new), so arming it allocates
-- nothing.  Ending a call that was not marked yet is harmless.
function M.make_guard(client, st)
  return setmetatable({}, { __close = function()
    end_call(client)   -- forgets any attempt left, does a deferred close
    st.caller = false
  end })
end

-- May a call begin?  Raises, changing nothing, when the client is closed
-- or in a call: a hook calling its own client (core.check_call's
-- message), or, with a scheduler, another coroutine's call waiting on it.
local running = coroutine.running
local function check_begin(client, st)
  local by = st.caller
  if by and by ~= running() then
    error("zis: client is busy: a call from another coroutine is in progress on it; " ..
          "give each coroutine its own client", 0)
  end
  check_call(client)
end

-- Marks the call begun, once its guard is armed: an error raised between
-- any two instructions (lua.c's Ctrl-C hook) then always finds the guard
-- in place, and the client is never left busy by a call that is gone.
local function begin(client, st)
  begin_call(client)
  st.caller = running()   -- the key exists from zis.new: no allocation here
end

-- A single call's outcome goes on its job: no closure per call.
local function keep_outcome(job, v, e) job.value, job.err = v, e end

-- One endpoint call, a batch of one.  The job has every field run sets,
-- so it is made at its final size.
--
-- The fast path: with no hook, no debug output and no event loop, and a
-- credential ready, the first attempt is made here, and a 2xx answer is
-- returned with no job and no run loop (most calls).  Anything else
-- (a failure, a redirect, a 401) goes on in the run loop from that
-- attempt, so the policy stays in one place.
local function call(client, row, path, body, integ)
  local st = state(client)
  check_begin(client, st)
  local _ <close> = guard(client, st)
  begin(client, st)
  local first
  if not (st.on_request or st.debug or st.waiter) then
    local auth = auth_for(st, row, integ)
    if auth and (auth ~= "bearer" or not st.token_fn
       or (st.bearer_set and not (st.bearer_expires and now() >= st.bearer_expires))) then
      local id = submit(client, row.method, st.base_url .. path, auth, body, not row.idempotent,
                        row.returns == "json")
      local r = wait(client, IDLE_WAIT)
      local status = r and r.status
      if status and status >= 200 and status < 300 then return success(row, row.method, path, 1, r) end
      first = { id = id, auth = auth, gen = st.bearer_gen, r = r }
    end
  end
  local job = { row = row, method = row.method, path = path, body = body, attempt = 0, redirects = 0,
                retried = 0, gen = false, auth = false, refreshed = false, value = false, err = false,
                integration = integ or false }
  run(client, st, { job }, 1, keep_outcome, first)
  local value = job.value
  if value == nil then return nil, job.err end
  return value
end
M.call = call

-- Many calls at once: returns results (in the jobs' order; nil where one
-- failed) and errors (nil when none failed, else errors[i]).
function M.batch(client, jobs, concurrency)
  local st = state(client)
  check_begin(client, st)
  local _ <close> = guard(client, st)
  begin(client, st)
  local results, errs = {}, nil
  for i, job in ipairs(jobs) do job.index = i end
  run(client, st, jobs, min(concurrency, #jobs > 0 and #jobs or 1), function(job, v, e)
    if v == nil then errs = errs or {}; errs[job.index] = e else results[job.index] = v end
  end)
  return results, errs
end

-- The method for a row.  Its integration (the first argument, where the
-- row has one) decides which credential a bound token may serve.
function M.method(row)
  local has_integration = row.args[1] and row.args[1][2] == "integration"
  return function(self, ...)
    local path, body = build(row, ...)
    return call(self, row, path, body, has_integration and (...) or nil)
  end
end

---------------------------------------------------------------------------
-- Iterators: one pager for every row that pages
---------------------------------------------------------------------------

function M.pager(row)
  local spec = row.paging
  local it_name = spec.iterator
  local list = M.method(row)
  return function(self, ...)
    local nargs = select("#", ...)
    local args = { ... }
    local opts_i = nargs
    for i, a in ipairs(row.args) do if a[2] == "options" then opts_i = i end end
    local opts = args[opts_i]
    -- check the arguments now, before any request
    local ok, msg = pcall(build, row, ...)
    if not ok then error((msg:gsub("to '" .. row.name .. "'", "to '" .. it_name .. "'")), 2) end
    local base = {}
    if type(opts) == "table" then for k, v in pairs(opts) do base[k] = v end end
    local _, first_path = pcall(build, row, ...)
    local page, items, i, done, seen = nil, nil, 0, false, {}
    local function fail(message)
      done, page, items = true, nil, nil
      error(errors.new{ kind = "decode", method = row.method, message = message, path = first_path }, 0)
    end
    local function step()
      while not done do
        if items then
          i = i + 1
          local item = items[i]
          if item ~= nil then return item end
          local meta = page.meta
          if type(meta) ~= "table" or meta.has_more ~= true then break end
          local cursor = meta.after
          -- configs document page[after] as an integer: send its digits
          if math_type(cursor) == "integer" then cursor = tostring(cursor) end
          if type(cursor) ~= "string" or cursor == "" then
            fail("meta.has_more is true but meta.after is not a cursor")
          elseif seen[cursor] then
            fail("server repeated cursor '" .. cursor .. "': stopping, pagination would loop forever")
          end
          seen[cursor] = true
          base.after, base.before = cursor, nil
        end
        page, items = nil, nil
        args[opts_i] = base
        local res, err = list(self, table.unpack(args, 1, #row.args))
        if not res then
          done = true
          error(err, 0)
        end
        if type(res) ~= "table" then fail("response is not a JSON object") end
        if spec.items then
          if type(res[spec.items]) ~= "table" then fail("response has no '" .. spec.items .. "' array") end
          items = res[spec.items]
        else  -- grouped by type: each item gets its type
          items = {}
          for _, g in ipairs(spec.groups) do
            local group = res[g]
            if type(group) == "table" then
              for _, item in ipairs(group) do
                if type(item) == "table" and item.type == nil then item.type = g end
                items[#items + 1] = item
              end
            end
          end
        end
        page, i = res, 0
      end
      done, page, items = true, nil, nil
      return nil
    end
    -- the fourth value of a generic for: a break releases the page at once
    local closer = setmetatable({}, { __close = function() done, page, items = true, nil, nil end })
    return step, nil, nil, closer
  end
end

---------------------------------------------------------------------------
-- The methods table
---------------------------------------------------------------------------

-- client:get_connection(integration, name [, type]) -> the connection
-- (unwrapped, with its `type`), or nil, err.  Zendesk reads API-key, basic
-- and bearer connections by type, and OAuth connections only through the
-- legacy endpoint, which answers them unwrapped (docs/zendesk-api.md).
-- With no type, the legacy read first, then each type in turn.
local CONNECTION_READ_TYPES = { "api_key", "basic_auth", "bearer_token" }
local TYPED, LEGACY = endpoints.get_typed_connection, endpoints.get_oauth_connection

local function unwrap(res, ctype)
  if type(res) ~= "table" then return res end
  -- tolerant: {"<type>": {...}}, {"connection": {...}} or the object itself
  local inner = res[ctype] or res.connection
  if type(inner) == "table" and inner.name ~= nil then res = inner end
  if res.type == nil then res.type = ctype end
  return res
end

local function get_connection(self, integration, name, ctype)
  local row = { name = "get_connection" }
  if not valid_name(integration) then
    argerror(row, 1, "integration name must be 1 to 64 of a-z 0-9 - _")
  end
  check_string(row, 2, name)
  if name == "" then argerror(row, 2, "must not be empty") end
  if ctype ~= nil and ctype ~= "oauth" and ctype ~= "api_key" and ctype ~= "basic_auth"
     and ctype ~= "bearer_token" then
    argerror(row, 3, "must be one of api_key, basic_auth, bearer_token, oauth")
  end
  local res, err
  if ctype == nil or ctype == "oauth" then
    res, err = call(self, LEGACY, (build(LEGACY, integration, name)), nil, integration)
    if res or ctype == "oauth" or err.status ~= 404 then return res and unwrap(res, "oauth"), err end
  end
  for _, t in ipairs(ctype and { ctype } or CONNECTION_READ_TYPES) do
    res, err = call(self, TYPED, (build(TYPED, integration, t, name)), nil, integration)
    if res then return unwrap(res, t) end
    if err.status ~= 404 then return nil, err end
  end
  if ctype == nil then
    err.message = "no connection named '" .. name .. "' (of any type)"
  end
  return nil, err
end

-- client:finish_oauth_flow(integration, redirect_url) -> the answer
-- A client-credentials OAuth flow ends when the access_codes URL that
-- start_oauth_flow answered is fetched with the integration's token.  The
-- URL must be on this client's host, for that integration: the token is
-- never sent anywhere else.  A bare verification code is taken too.
local ACCESS_CODE = endpoints.access_code
local function finish_oauth_flow(self, integration, url)
  local row = { name = "finish_oauth_flow" }
  if not valid_name(integration) then
    argerror(row, 1, "integration name must be 1 to 64 of a-z 0-9 - _")
  end
  check_string(row, 2, url)
  local code = url
  if url:find("^%a[%w+.-]*://") then
    local st = state(self)
    local want = st.base_url .. "/api/services/zis/connections/oauth/access_codes/" .. pct(integration) .. "?"
    if url:sub(1, #want) ~= want then
      argerror(row, 2, "not the access_codes URL of integration '" .. integration .. "' on " ..
                       st.base_url .. " (the token is sent to no other place)")
    end
    code = nil
    for k, v in url:sub(#want + 1):gmatch("([^&=]+)=([^&]*)") do
      if k == "verification_code" then
        code = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
      end
    end
    if not code then argerror(row, 2, "the URL has no verification_code") end
  end
  if code == "" then argerror(row, 2, "must not be empty") end
  local res, err = call(self, ACCESS_CODE, (build(ACCESS_CODE, integration, code)), nil, integration)
  if res == nil and err and err.kind == "decode" then return true end  -- an empty 2xx
  return res, err
end

-- The composite methods: more than one row, or a check a row cannot say.
M.composites = { get_connection = get_connection, finish_oauth_flow = finish_oauth_flow }

function M.install(methods)
  for _, row in ipairs(endpoints) do
    if not row.internal then
      methods[row.name] = M.method(row)
      if row.paging then methods[row.paging.iterator] = M.pager(row) end
    end
  end
  for name, f in pairs(M.composites) do methods[name] = f end
end

M.huge = huge
return M

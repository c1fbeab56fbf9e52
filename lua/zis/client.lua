-- zis.client: the client class, its method table built once.
--
-- A client is a userdata (src/zis_client.c, metatable "zis.client") whose
-- __index is one table, filled here once, by init.lua, from two lists:
--
--   the endpoint rows (zis.endpoints): one method per public row, made
--   by `method`, and one iterator per row that pages (zis.pager);
--
--   a row may name readings of answers no source settles (retry_405,
--   gone_on_404, object_as, list_as, unlisted_on_404: zis.endpoints'
--   header): `method` applies them to the row's answer (`tolerate`);
--
--   COMPOSITES, below: the methods that are more than one row (or a row
--   and a check a row cannot say): close, get_connection,
--   finish_oauth_flow, create_integration, get_bundles, integration_token,
--   for_integration, deploy, export.
--
-- Nothing wraps or replaces a method afterwards; a scheduler is a field of
-- the client's state that the run loop consults (zis.loop.waiter).

local core = require "zis.core"
local endpoints = require "zis.endpoints"
local errors = require "zis.errors"
local util = require "zis.util"
local request = require "zis.request"
local run = require "zis.run"
local pager = require "zis.pager"
local token = require "zis.token"

local build, argerror, check_string, valid_name, pct =
      request.build, request.argerror, request.check_string, request.valid_name, request.pct
local call, batch = run.call, run.batch
local state = core.state
local ipairs, math_type, next, pairs, pcall, tonumber, tostring, type =
      ipairs, math.type, next, pairs, pcall, tonumber, tostring, type
local is_array, is_object, is_list = util.is_array, util.is_object, util.is_list

local M = {}

-- A 2xx answer that is not the shape the row reads.
local function shape_error(row, path, res, what)
  return nil, errors.new{ kind = "decode", method = row.method, path = path, attempts = 1,
                          message = "the answer is not " .. what .. " (got " ..
                                    (is_array(res) and "an array" or type(res)) .. ")" }
end

-- What a row's readings (docs/zendesk-api.md, "Unsettled"; zis.endpoints'
-- header) make of its answer: res, err as the call gave them.
local function tolerate(self, row, path, body, integ, res, err)
  if res == nil then
    local status = err.kind == "http" and err.status
    if status == 405 and row.retry_405 then
      -- the other verb, once: PATCH answered 405, so PUT
      return call(self, endpoints[row.retry_405], path, body, integ)
    elseif status == 404 and row.gone_on_404 then
      return true   -- nothing matched: nothing to delete
    elseif (status == 404 or status == 405) and row.unlisted_on_404 then
      err.hint = "this account answers no list here (the endpoint is not in Zendesk's reference): " ..
                 "listing is unavailable, which does not mean there are none"
    end
    return nil, err
  end
  local as = row.object_as
  if as then
    if not is_object(res) then return shape_error(row, path, res, "a JSON object") end
    -- one key whose value is an object: the wrapping; else the bare object
    local k, v = next(res)
    if k ~= nil and next(res, k) == nil and is_object(v) then res = v end
    return { [as] = res }
  end
  local keys = row.list_as
  if keys then
    local key = keys[1]
    if is_array(res) then return { [key] = res } end
    if is_object(res) then
      for _, k in ipairs(keys) do
        if is_list(res[k]) then
          res[key] = res[k]
          return res
        end
      end
    end
    return shape_error(row, path, res, "a list ('" .. key .. "' or a bare array)")
  end
  return res, err
end

-- The method for a row.  Its integration (the first argument, where the
-- row has one) decides which credential a bound token may serve.
local function method(row)
  local has_integration = row.args[1] and row.args[1][2] == "integration"
  if row.retry_405 or row.gone_on_404 or row.object_as or row.list_as or row.unlisted_on_404 then
    return function(self, ...)
      local path, body = build(row, ...)
      local integ = has_integration and (...) or nil
      return tolerate(self, row, path, body, integ, call(self, row, path, body, integ))
    end
  end
  return function(self, ...)
    local path, body = build(row, ...)
    return call(self, row, path, body, has_integration and (...) or nil)
  end
end
M.method = method

---------------------------------------------------------------------------
-- Composite methods
---------------------------------------------------------------------------

-- client:close(): frees the client (deferred while a call runs: C), and
-- wakes every call of it waiting in an event loop, so each ends at once.
local cclose = core.close
local function close(client)
  local st = state(client)
  -- calls that can never end (a coroutine dead mid-call) do not hold the
  -- close back; from a finalizer run inside the engine the sweep cannot
  -- touch it (the close is deferred then, as always), hence the pcall
  if st.calls and core.is_open(client) then pcall(run.sweep, client, st) end
  cclose(client)
  local adapter = st.scheduler
  if adapter and adapter.wake and st.calls then
    for rec in pairs(st.calls) do
      if rec.token then adapter:wake(rec.token) end
    end
  end
end

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

-- client:finish_oauth_flow(integration, redirect_url [, {name =}]) -> the answer
-- A client-credentials OAuth flow ends when the access_codes URL that
-- start_oauth_flow answered is fetched with the integration's token.  The
-- URL must be on this client's host, for that integration: the token is
-- never sent anywhere else.  A bare verification code is taken too.
-- The answer's status and body are unrecorded: any 2xx succeeds (true
-- when it has no JSON); with the connection's `name`, the legacy read
-- then confirms the connection exists, and is the answer.
local ACCESS_CODE = endpoints.access_code
local function finish_oauth_flow(self, integration, url, opts)
  local row = { name = "finish_oauth_flow" }
  if not valid_name(integration) then
    argerror(row, 1, "integration name must be 1 to 64 of a-z 0-9 - _")
  end
  check_string(row, 2, url)
  local name
  if opts ~= nil then
    if type(opts) ~= "table" then argerror(row, 3, "table expected, got " .. type(opts)) end
    for k in pairs(opts) do
      if k ~= "name" then argerror(row, 3, "unknown option '" .. tostring(k) .. "'") end
    end
    name = opts.name
    if name ~= nil and (type(name) ~= "string" or name == "") then
      argerror(row, 3, "option 'name' must be a non-empty string")
    end
  end
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
  if res == nil and err and err.kind == "decode" then res, err = true, nil end  -- a 2xx, no JSON
  if res == nil or name == nil then return res, err end
  local conn, cerr = get_connection(self, integration, name, "oauth")
  if not conn and cerr.status == 404 then
    cerr.message = "the flow's access_codes GET succeeded, but there is no OAuth connection named '" ..
                   name .. "'"
  end
  return conn, cerr
end

-- client:create_integration(name, opts): the row's call, and the new
-- OAuth client's numeric id kept, so integration_token needs no lookup.
local CREATE = endpoints.create_integration
local create_row = method(CREATE)
local function create_integration(self, name, ...)
  local res, err = create_row(self, name, ...)
  if res and type(res.zendesk_oauth_client) == "table" and res.zendesk_oauth_client.id ~= nil then
    local st = state(self)
    st.oauth_client_ids = st.oauth_client_ids or {}
    st.oauth_client_ids[name] = res.zendesk_oauth_client.id
  end
  return res, err
end

-- client:get_bundles(integration, uuids, {concurrency =, on_progress =}) -> bundles, errors
-- Many GETs at once on the client's engine, in the caller's order.
local GET_BUNDLE = endpoints.get_bundle
local function get_bundles(self, integration, uuids, opts)
  local row = { name = "get_bundles" }
  if not valid_name(integration) then
    argerror(row, 1, "integration name must be 1 to 64 of a-z 0-9 - _")
  end
  if type(uuids) ~= "table" then argerror(row, 2, "table expected, got " .. type(uuids)) end
  local st = state(self)
  local concurrency = st.concurrency
  if opts ~= nil then
    if type(opts) ~= "table" then argerror(row, 3, "table expected, got " .. type(opts)) end
    for k in pairs(opts) do
      if k ~= "concurrency" and k ~= "on_progress" then argerror(row, 3, "unknown option '" .. tostring(k) .. "'") end
    end
    if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
      argerror(row, 3, "option 'on_progress' must be a function")
    end
    local k = opts.concurrency
    if k ~= nil then
      if math_type(k) ~= "integer" or k < 1 or k > 64 then
        argerror(row, 3, "option 'concurrency' must be an integer from 1 to 64")
      end
      concurrency = k
    end
  end
  -- #uuids runs a __len the caller may have set: its answer is checked
  local n = #uuids
  if math_type(n) ~= "integer" or n < 0 then
    argerror(row, 2, "its length must be a non-negative integer, got " .. tostring(n))
  end
  local jobs = {}
  for i = 1, n do
    local u = uuids[i]
    if type(u) ~= "string" or u == "" then argerror(row, 2, "uuids[" .. i .. "] must be a non-empty string") end
    jobs[i] = { row = GET_BUNDLE, method = "GET", path = build(GET_BUNDLE, integration, u),
                integration = integration }
  end
  -- on_progress: the figures after each bundle and at each wait (zis.pace)
  local tracker = opts and opts.on_progress and require("zis.pace").progress(opts.on_progress, n, core.now())
  return batch(self, jobs, concurrency, tracker)
end

---------------------------------------------------------------------------
-- The class
---------------------------------------------------------------------------

-- Fills `methods` (the userdata's __index, made by C) once.  `deps`: what
-- init.lua gives the composites that make clients (sibling: a client
-- sharing this one's basic credential, for for_integration).
function M.build(methods, deps)
  for _, row in ipairs(endpoints) do
    if not row.internal then
      local m = method(row)
      methods[row.name] = m
      if row.paging then
        -- a page a URL names (paging.follow): its path and query, as they are
        local fetch = row.paging.follow and function(self, path, integ)
          return call(self, row, path, nil, integ)
        end
        methods[row.paging.iterator] = pager.pager(row, m, fetch)
      end
    end
  end
  local COMPOSITES = {
    close = close,
    get_connection = get_connection,
    finish_oauth_flow = finish_oauth_flow,
    create_integration = create_integration,
    get_bundles = get_bundles,
    integration_token = token.integration_token,
    for_integration = function(self, integration) return token.for_integration(self, integration, deps.sibling) end,
    deploy = function(self, ...) return require("zis.deploy")(self, ...) end,
    export = function(self, ...) return require("zis.export")(self, ...) end,
  }
  for name, f in pairs(COMPOSITES) do methods[name] = f end
  M.COMPOSITES = COMPOSITES
  return methods
end

return M

-- zis.client: the client class, its method table built once.
--
-- A client is a userdata (src/zis_client.c, metatable "zis.client") whose
-- __index is one table, filled here once, by init.lua, from two lists:
--
--   the endpoint rows (zis.endpoints): one method per public row, made
--   by `method`, and one iterator per row that pages (zis.pager);
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
local request = require "zis.request"
local run = require "zis.run"
local pager = require "zis.pager"
local token = require "zis.token"

local build, argerror, check_string, valid_name, pct =
      request.build, request.argerror, request.check_string, request.valid_name, request.pct
local call, batch = run.call, run.batch
local state = core.state
local ipairs, math_type, pairs, pcall, tonumber, tostring, type =
      ipairs, math.type, pairs, pcall, tonumber, tostring, type

local M = {}

-- The method for a row.  Its integration (the first argument, where the
-- row has one) decides which credential a bound token may serve.
local function method(row)
  local has_integration = row.args[1] and row.args[1][2] == "integration"
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
      if row.paging then methods[row.paging.iterator] = pager.pager(row, m) end
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

-- zis.mock.registry: the local registry's state and its answers, without
-- the network: the registry endpoints (the ZIS services are in
-- zis.mock.services), the routes it serves (M.ROUTES, the list
-- docs/zendesk-api.md gives with sources), the control endpoints, the
-- faults and the rate limit.  zis.mock.server puts it on loopback.

local socket = require "socket"
local mime = require "mime"
local core = require "zis.core"
local services = require "zis.mock.services"

local decode, encode = core.decode_json, core.encode_json
local concat, insert, remove, sort = table.concat, table.insert, table.remove, table.sort
local null = core.null

local M = {}


local REG = "/api/services/zis/registry"
local TEMPLATE_VERSION = "2019-10-14"
local ACCOUNT_ID = 12345
local ADMIN_ID = 4242
local TOKEN_TTL = 1800   -- seconds: Zendesk's expiring OAuth access tokens

-- Fake credentials accepted by default: obviously not real.
M.defaults = {
  email = "admin@example.com",
  token = "fake-api-token",
  password = "fake-password",
  oauth_token = "fake-oauth-token",
  -- the admin's own OAuth client, for the client-credentials grant
  oauth_client_id = "fake-admin-client",
  oauth_client_secret = "fake-admin-client-secret",
}

local REASONS = {
  [200] = "OK", [201] = "Created", [204] = "No Content", [302] = "Found",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function is_loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function url_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

local function parse_query(q)
  local t = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[url_decode(k)] = url_decode(v)
  end
  return t
end

-- A JSON array, even when empty (an unmarked empty table encodes as {}).
local function json_array(items)
  return encode(core.array(items))
end

---------------------------------------------------------------------------
-- Registry state
---------------------------------------------------------------------------

local Registry = {}
Registry.__index = Registry

function M.new(creds)
  local self = setmetatable({ creds = {} }, Registry)
  for k, v in pairs(M.defaults) do self.creds[k] = v end
  for k, v in pairs(creds or {}) do self.creds[k] = v end
  self.oauth_tokens = { [self.creds.oauth_token] = true }
  self:reset()
  return self
end

function Registry:reset()
  self.generation = (self.generation or 0) + 1
  self.integrations = {}   -- name -> integration
  self.bundles = {}        -- integration -> array of bundles (creation order)
  self.job_specs = {}      -- integration -> array of job specs
  self.faults = {}
  self.log = {}
  self.next_id = 1000
  self.svc = {}            -- integration -> configs, connections, links, ...
  self.minted = {}         -- full token -> {integration =, client_id =, expires =}
  self.admin_tokens = {}   -- admin OAuth tokens from POST /oauth/tokens -> {expires =}
  self.oauth_flows = {}    -- verification code -> pending OAuth flow
  self.gzip_mode = "default"
  self.chunks = 0
  self.token_ttl = TOKEN_TTL
end

-- A ULID-shaped id (26 of Crockford's base32): an inbound webhook's id,
-- which is not its uuid.
local CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
function Registry.ulid()
  local out = {}
  for i = 1, 26 do
    local k = math.random(1, 32)
    out[i] = CROCKFORD:sub(k, k)
  end
  return concat(out)
end

function Registry:uuid()
  self.next_id = self.next_id + 1
  return string.format("%08x-%04x-4%03x-a%03x-%012x", math.random(0, 0x7fffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xfff),
    self.next_id)
end

-- Zendesk's error envelope
local function api_error(status, code, detail, message)
  return status, encode{
    errors = { { code = code, detail = detail, status = tostring(status) } },
    message = message or REASONS[status],
  }, "application/json; charset=utf-8"
end

local function ok(body) return 200, body, "application/json; charset=utf-8" end

-- Returns "basic" ({kind = "token" | "password"}) | "oauth" | "zis" (and
-- the minted token's record) | nil for the request's Authorization header.
-- "oauth": an admin's own OAuth token, bound to no integration (the
-- configured fixed tokens, or one from POST /oauth/tokens); "zis": a
-- token minted through POST /api/v2/oauth/tokens, bound to its
-- integration, until it expires.
function Registry:authenticate(h)
  local auth = h["authorization"]
  if not auth then return nil end
  local b64 = auth:match("^Basic%s+(%S+)$")
  if b64 then
    local plain = mime.unb64(b64) or ""
    local c = self.creds
    if plain == c.email .. "/token:" .. c.token then return "basic", { kind = "token" } end
    if plain == c.email .. ":" .. c.password then return "basic", { kind = "password" } end
    return nil
  end
  local bearer = auth:match("^Bearer%s+(%S+)$")
  if bearer and self.oauth_tokens[bearer] then return "oauth" end
  local admin = bearer and self.admin_tokens[bearer]
  if admin and (not admin.expires or socket.gettime() < admin.expires) then return "oauth" end
  local rec = bearer and self.minted[bearer]
  if rec and not rec.expired and (not rec.expires or socket.gettime() < rec.expires) then
    return "zis", rec
  end
  return nil
end

-- Pages through `items` with opaque cursors (an item's uuid, or what
-- cursor_of returns), as ZIS does: {<key> = [...], meta = {after =,
-- before =, has_more =}}, or what render(page, meta) makes of the page.
-- page[size] must be a plain integer (digits only) from 1 to 100.
local function paginate(items, q, key, strip, cursor_of, render)
  cursor_of = cursor_of or function(it) return it.uuid end
  local size = 20
  local given = q["page[size]"]
  if given then
    size = given:match("^%d+$") and tonumber(given)
    if not size or size < 1 or size > 100 then
      return api_error(400, "1010", "page[size] must be an integer from 1 to 100",
                       "Invalid parameter")
    end
  end
  local first, last
  local function index_of(cursor)
    for i, it in ipairs(items) do if tostring(cursor_of(it)) == cursor then return i end end
  end
  if q["page[after]"] then
    local i = index_of(q["page[after]"])
    if not i then return api_error(400, "1010", "invalid cursor", "Invalid parameter") end
    first = i + 1
  elseif q["page[before]"] then
    local i = index_of(q["page[before]"])
    if not i then return api_error(400, "1010", "invalid cursor", "Invalid parameter") end
    first = math.max(1, i - size)
    last = i - 1
  else
    first = 1
  end
  last = math.min(last or first + size - 1, #items)
  local page = {}
  for i = first, last do page[#page + 1] = strip and strip(items[i]) or items[i] end
  local meta = {
    has_more = last < #items,
    after = (last < #items and #page > 0) and tostring(cursor_of(items[last])) or null,
    before = (first > 1 and #page > 0) and tostring(cursor_of(items[first])) or null,
  }
  if render then return render(page, meta) end
  return ok('{"' .. key .. '":' .. json_array(page) .. ',"meta":' .. encode(meta) .. '}')
end

local function bundle_summary(b)
  return { uuid = b.uuid, name = b.name, integration = b.integration,
           description = b.description, zendesk_account_id = b.zendesk_account_id,
           zis_template_version = b.zis_template_version }
end

local function job_spec_view(j)
  return { uuid = j.uuid, name = j.name, description = j.description,
           event_source = j.event_source, event_type = j.event_type,
           flow_name = j.flow_name, installed = j.installed,
           integration = j.integration }
end

function Registry:find_bundle(integ, uuid)
  for i, b in ipairs(self.bundles[integ] or {}) do
    if b.uuid == uuid then return b, i end
  end
end

function Registry:find_job_spec(integ, name)
  for i, j in ipairs(self.job_specs[integ] or {}) do
    if j.name == name then return j, i end
  end
end

-- Upsert by name.  The bundle's job specs are (re)registered uninstalled,
-- as on ZIS, where an upload orphans installed job specs; an installed job
-- spec the new bundle no longer has stays installed (a stale one).
function Registry:upload(integ, body)
  local b = decode(body)
  if type(b) ~= "table" then
    return api_error(400, "1010", "request body is not a JSON object", "Invalid bundle")
  end
  if b.zis_template_version ~= TEMPLATE_VERSION then
    return api_error(400, "1010", "zis_template_version must be " .. TEMPLATE_VERSION,
                     "Invalid bundle")
  end
  if type(b.name) ~= "string" or b.name == "" then
    return api_error(400, "1010", "name is required", "Invalid bundle")
  end
  if b.resources ~= nil and type(b.resources) ~= "table" then
    return api_error(400, "1010", "resources must be an object", "Invalid bundle")
  end
  local list = self.bundles[integ]
  local old
  for _, x in ipairs(list) do if x.name == b.name then old = x end end
  local stored = old or { uuid = self:uuid(), name = b.name }
  stored.integration = integ
  stored.zendesk_account_id = ACCOUNT_ID
  stored.description = b.description or ""
  stored.zis_template_version = b.zis_template_version
  stored.resources = b.resources or {}
  if not old then list[#list + 1] = stored end
  -- job specs
  local specs = self.job_specs[integ]
  for i = #specs, 1, -1 do
    local j = specs[i]
    if j.bundle == stored.uuid and not j.installed then remove(specs, i) end
  end
  local keys = {}
  for k in pairs(stored.resources) do keys[#keys + 1] = k end
  sort(keys)
  for _, k in ipairs(keys) do
    local r = stored.resources[k]
    if type(r) == "table" and r.type == "ZIS::JobSpec" and type(r.properties) == "table" then
      local p = r.properties
      local name = type(p.name) == "string" and p.name or k
      local j = self:find_job_spec(integ, name)
      if not j then
        j = { uuid = self:uuid(), name = name }
        specs[#specs + 1] = j
      end
      j.bundle, j.integration, j.installed = stored.uuid, integ, false
      j.description, j.event_source = p.description or "", p.event_source
      j.event_type, j.flow_name = p.event_type, p.flow_name
    end
  end
  return 200, "", "text/plain; charset=utf-8"
end

-- Parses job_spec_name=zis:{integration}:job_spec:{name}
function Registry:job_spec_target(q)
  local full = q.job_spec_name
  if not full then
    return nil, api_error(400, "1010", "job_spec_name is required", "Invalid parameter")
  end
  local integ, name = full:match("^zis:([a-z0-9_%-]+):job_spec:(.+)$")
  if not integ then
    return nil, api_error(400, "1010", "job_spec_name must be zis:{integration}:job_spec:{name}",
                          "Invalid parameter")
  end
  local j = self:find_job_spec(integ, name)
  if not j then
    return nil, api_error(404, "1020", "job spec " .. full .. " not found", "Missing Resource")
  end
  return j
end

local function oauth_disabled()
  return api_error(401, "1001", "OAuth being disabled for this API request", "Unauthorized")
end

local function integration_mismatch()
  return api_error(401, "1001", "Authorization failed due to integration mismatch", "Unauthorized")
end

-- Routes an authenticated registry request; returns status, body, content
-- type.  auth: "basic", "oauth" or "zis" (then token: the minted token).
function Registry:route(method, path, q, body, auth, token)
  local integ_path = path:match("^" .. REG .. "/([^/]+)$")
  -- listing and creating integrations: basic, or an admin's own OAuth
  -- token (docs/zendesk-api.md); a token bound to an integration is not
  if auth == "zis" and ((path == REG .. "/integrations" and method == "GET")
                        or (integ_path and integ_path ~= "integrations" and method == "POST")) then
    return oauth_disabled()
  end
  if path == REG .. "/integrations" and method == "GET" then
    local names = {}
    for n in pairs(self.integrations) do names[#names + 1] = n end
    sort(names)
    local items = {}
    for i, n in ipairs(names) do items[i] = self.integrations[n] end
    return ok('{"integrations":' .. json_array(items) .. '}')
  elseif path == REG .. "/job_specs/install" and (method == "POST" or method == "DELETE") then
    local j, s, b, ct = self:job_spec_target(q)
    if not j then return s, b, ct end
    -- a bearer must be bound to the job spec's integration
    if auth == "oauth" or (auth == "zis" and token.integration ~= j.integration) then
      return integration_mismatch()
    end
    if method == "POST" then
      j.installed = true
      return 200, "", "text/plain; charset=utf-8"
    end
    j.installed = false
    if not self:find_bundle(j.integration, j.bundle) then  -- stale: forget it
      local _, i = self:find_job_spec(j.integration, j.name)
      remove(self.job_specs[j.integration], i)
    end
    return 204, "", "text/plain; charset=utf-8"
  elseif integ_path and method == "POST" then
    local name = url_decode(integ_path)
    if not name:match("^[a-z0-9_%-]+$") or #name > 64 then
      return api_error(400, "1010", "integration name must be 1 to 64 of a-z 0-9 - _",
                       "Invalid integration name")
    end
    if self.integrations[name] then
      return api_error(409, "1010", "integration " .. name .. " already exists", "Conflict")
    end
    local req = body ~= "" and decode(body) or {}
    if type(req) ~= "table" then
      return api_error(400, "1010", "request body is not a JSON object", "Invalid parameter")
    end
    local integ = {
      name = name,
      description = type(req.description) == "string" and req.description or "",
      jwt_public_key = "-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
      zendesk_oauth_client = { id = 900000 + self.next_id, identifier = "zis_" .. name,
                               secret = "mock-client-secret" },
    }
    -- when the Support API's client list shows it (not part of the answer)
    local client_created = os.date("!%Y-%m-%dT%H:%M:%SZ")
    self.next_id = self.next_id + 1
    self.integrations[name] = integ
    self.client_created = self.client_created or {}
    self.client_created[integ.zendesk_oauth_client.id] = client_created
    self.bundles[name], self.job_specs[name] = {}, {}
    return ok(encode{ description = integ.description, jwt_public_key = integ.jwt_public_key,
                      zendesk_oauth_client = integ.zendesk_oauth_client })
  end
  local integ, rest = path:match("^" .. REG .. "/([^/]+)/(.*)$")
  if not integ then
    return api_error(404, "1020", "no such endpoint", "Missing Resource")
  end
  integ = url_decode(integ)
  if rest == "bundles" and method == "POST" and auth ~= "basic" then return oauth_disabled() end
  -- a bearer must be bound to the integration in the path
  if auth == "oauth" or (auth == "zis" and token.integration ~= integ) then
    return integration_mismatch()
  end
  if not self.integrations[integ] then
    return api_error(404, "1020", "integration " .. integ .. " not found", "Missing Resource")
  end
  if rest == "bundles" and method == "GET" then
    return paginate(self.bundles[integ], q, "bundles", bundle_summary)
  elseif rest == "bundles" and method == "POST" then
    if auth ~= "basic" then return oauth_disabled() end
    return self:upload(integ, body)
  elseif rest == "job_specs" and method == "GET" then
    return paginate(self.job_specs[integ], q, "job_specs", job_spec_view)
  end
  local uuid = rest:match("^bundles/([^/]+)$")
  if uuid and (method == "GET" or method == "DELETE") then
    uuid = url_decode(uuid)
    local b, i = self:find_bundle(integ, uuid)
    if not b then
      return api_error(404, "1020", "bundle not found", "Missing Resource")
    end
    if method == "GET" then return ok(encode(b)) end
    remove(self.bundles[integ], i)
    local specs = self.job_specs[integ]
    for k = #specs, 1, -1 do
      if specs[k].bundle == uuid and not specs[k].installed then remove(specs, k) end
    end
    return 204, "", "text/plain; charset=utf-8"
  end
  return api_error(404, "1020", "no such endpoint", "Missing Resource")
end

services.install(Registry, {
  api_error = api_error, ok = ok, encode = encode, decode = decode, null = null,
  json_array = json_array, url_decode = url_decode, paginate = paginate,
  array = core.array, array_mt = getmetatable(core.array{}),
  ACCOUNT_ID = ACCOUNT_ID, ADMIN_ID = ADMIN_ID, now = socket.gettime,
})

-- The first queued fault matching the request, consumed once per use.
function Registry:take_fault(method, path)
  for i, f in ipairs(self.faults) do
    local p = f.path
    local match = (f.method == nil or f.method == method) and (p == nil or p == path
      or (p:sub(-1) == "*" and path:sub(1, #p - 1) == p:sub(1, -2)))
    if match then
      f.times = (f.times or 1) - 1
      if f.times <= 0 then remove(self.faults, i) end
      return f
    end
  end
end

function Registry:control(method, path, body, stats)
  if path == "/__mock/log" and method == "GET" then
    return ok(json_array(self.log))
  elseif path == "/__mock/stats" and method == "GET" then
    return ok(encode(stats))
  elseif path == "/__mock/reset" and method == "POST" then
    self:reset()
    stats.connections, stats.requests, stats.max_in_flight = 0, 0, 0
    return 204, "", "text/plain"
  elseif path == "/__mock/faults" and method == "POST" then
    local faults = decode(body)
    if type(faults) ~= "table" then return api_error(400, "1010", "expected a JSON array") end
    for _, f in ipairs(faults) do insert(self.faults, f) end
    return 204, "", "text/plain"
  elseif path == "/__mock/config" and method == "POST" then
    local cfg = decode(body)
    if type(cfg) ~= "table" then return api_error(400, "1010", "expected a JSON object") end
    if type(cfg.latency) == "number" then self.latency = cfg.latency end
    if cfg.gzip ~= nil then
      if cfg.gzip ~= "default" and cfg.gzip ~= "always" and cfg.gzip ~= "never" then
        return api_error(400, "1010", "gzip must be default, always or never")
      end
      self.gzip_mode = cfg.gzip
    end
    if math.type(cfg.chunked) == "integer" and cfg.chunked >= 0 then self.chunks = cfg.chunked end
    if math.type(cfg.token_ttl) == "integer" and cfg.token_ttl >= 0 then
      self.token_ttl = cfg.token_ttl > 0 and cfg.token_ttl or nil
    end
    if type(cfg.oauth_tokens) == "table" then
      self.oauth_tokens = {}
      for _, t in ipairs(cfg.oauth_tokens) do self.oauth_tokens[t] = true end
    end
    return 204, "", "text/plain"
  elseif path == "/__mock/tokens/expire" and method == "POST" then
    local sel = body ~= "" and decode(body) or {}
    if type(sel) ~= "table" then return api_error(400, "1010", "expected a JSON object") end
    local n = 0
    for _, rec in pairs(self.minted) do
      if not rec.expired and (sel.integration == nil or sel.integration == rec.integration) then
        rec.expired, n = true, n + 1
      end
    end
    return ok(encode{ expired = n })
  elseif path == "/__mock/shutdown" and method == "POST" then
    self.stopping = true
    return 204, "", "text/plain"
  end
  return api_error(404, "1020", "no such control endpoint", "Missing Resource")
end

-- Every route the registry answers, as "METHOD template": the same list
-- as docs/zendesk-api.md's "Routes", each row of which gives the
-- behaviour and its source (spec/zendesk_api_doc_spec.lua holds the two
-- equal).  A request that matches none is answered 404, or 405 when the
-- path is a route's with another method.
M.ROUTES = {
  "GET /api/services/zis/registry/integrations",
  "POST /api/services/zis/registry/{integration}",
  "GET /api/services/zis/registry/{integration}/bundles",
  "POST /api/services/zis/registry/{integration}/bundles",
  "GET /api/services/zis/registry/{integration}/bundles/{uuid}",
  "DELETE /api/services/zis/registry/{integration}/bundles/{uuid}",
  "GET /api/services/zis/registry/{integration}/job_specs",
  "POST /api/services/zis/registry/job_specs/install",
  "DELETE /api/services/zis/registry/job_specs/install",
  "GET /api/services/zis/integrations/{integration}/configs",
  "POST /api/services/zis/integrations/{integration}/configs",
  "PUT /api/services/zis/integrations/{integration}/configs/{scope}",
  "PATCH /api/services/zis/integrations/{integration}/configs/{scope}",
  "DELETE /api/services/zis/integrations/{integration}/configs/{scope}",
  "GET /api/services/zis/integrations/{integration}/connections/all",
  "POST /api/services/zis/integrations/{integration}/connections/{type}",
  "GET /api/services/zis/integrations/{integration}/connections/{type}/{name}",
  "PATCH /api/services/zis/integrations/{integration}/connections/{type}/{name}",
  "PUT /api/services/zis/integrations/{integration}/connections/{type}/{name}",
  "DELETE /api/services/zis/integrations/{integration}/connections/{type}/{name}",
  "GET /api/services/zis/connections/{integration}",
  "GET /api/services/zis/connections/oauth/clients/{integration}",
  "POST /api/services/zis/connections/oauth/clients/{integration}",
  "GET /api/services/zis/connections/oauth/clients/{integration}/{uuid}",
  "PATCH /api/services/zis/connections/oauth/clients/{integration}/{uuid}",
  "DELETE /api/services/zis/connections/oauth/clients/{integration}/{uuid}",
  "POST /api/services/zis/connections/oauth/start/{integration}",
  "GET /api/services/zis/connections/oauth/access_codes/{integration}",
  "GET /api/services/zis/links/{integration}",
  "POST /api/services/zis/links/{integration}",
  "PATCH /api/services/zis/links/{integration}",
  "DELETE /api/services/zis/links/{integration}",
  "POST /api/services/zis/inbound_webhooks/generic/{integration}",
  "GET /api/services/zis/inbound_webhooks/generic/{integration}/all",
  "GET /api/services/zis/inbound_webhooks/generic/{integration}/{uuid}",
  "DELETE /api/services/zis/inbound_webhooks/generic/{integration}/{uuid}",
  "GET /api/v2/oauth/clients",
  "POST /api/v2/oauth/tokens",
  "POST /oauth/tokens",
}

-- The routes compiled: {method =, pattern =} (a hole is one path segment).
local compiled_routes = {}
for _, r in ipairs(M.ROUTES) do
  local method, template = r:match("^(%u+) (%S+)$")
  local pattern = "^" .. template:gsub("[%-%.]", "%%%0"):gsub("{[%w_]+}", "[^/]+") .. "$"
  compiled_routes[#compiled_routes + 1] = { method = method, pattern = pattern }
end

-- nil when a route serves method and path, else the 404 or 405 answer.
local function unrouted(method, path)
  local other = false
  for _, r in ipairs(compiled_routes) do
    if path:find(r.pattern) then
      if r.method == method then return nil end
      other = true
    end
  end
  if other then
    return api_error(405, "1010", method .. " is not allowed on " .. path, "Method Not Allowed")
  end
  return api_error(404, "1020", "no such endpoint", "Missing Resource")
end

-- Answers one parsed request: control, fault, auth, then the API.
function Registry:handle(req, stats)
  local proxied
  local origin = req.target:match("^(https?://[^/]+)")
  if origin then  -- absolute form: the request came through us as a proxy
    proxied = origin
    req.target = req.target:sub(#origin + 1)
  end
  local path, query = req.target:match("^([^?]*)%??(.*)$")
  if path:sub(1, 8) == "/__mock/" then
    return self:control(req.method, path, req.body, stats)
  end
  stats.requests = stats.requests + 1
  if #self.log >= 10000 then remove(self.log, 1) end
  insert(self.log, { method = req.method, path = req.target, headers = req.headers,
                     body = req.body, proxied = proxied })
  local f = self:take_fault(req.method, path)
  if f then
    local body = f.body or ""
    if f.size then body = string.rep("x", f.size) end
    return f.status or 500, body, f.content_type or "application/json", f.headers, f
  end
  local s0, b0, ct0 = unrouted(req.method, path)
  if s0 then return s0, b0, ct0 end
  if path == "/oauth/tokens" then return self:grant_token(req.body) end
  local auth, token = self:authenticate(req.headers)
  if not auth then
    return api_error(401, "1001", "Couldn't authenticate you", "Unauthorized")
  end
  local q, host = parse_query(query), req.headers.host or "127.0.0.1"
  if path:sub(1, 13) == "/api/v2/oauth" then
    return self:support(req.method, path, req.body, auth, host)
  end
  local s, b, ct = self:services(req.method, path, q, req.body, auth, token, host)
  if s then return s, b, ct end
  return self:route(req.method, path, q, req.body, auth, token)
end

---------------------------------------------------------------------------
-- Rate limit, as Zendesk describes it (docs/zendesk-api.md, Behaviours):
-- POST /__mock/config {rate_limit = {requests = 100, window = 10}}
-- counts API requests in fixed windows of `window` seconds (the first
-- starts with the first request after the config), sends X-Rate-Limit,
-- X-Rate-Limit-Remaining, ratelimit-limit, -remaining and -reset on every
-- API answer (`headers = "x"`, `"ratelimit"` or `"none"` sends one kind
-- or neither; default both), and answers a request past the limit 429
-- text/plain with Retry-After: the seconds left in the window (not
-- counted).  Times are sent with three decimals so that a window scaled
-- down for tests (a second) keeps its precision; Zendesk sends whole
-- seconds.  `rate_limit = false` (or a reset) turns it off.  The log's
-- entries carry `at` (socket.gettime(), rate limit or not) and, for a
-- 429, `rate_limited`;
-- /__mock/stats counts `rate_limited` answers.
---------------------------------------------------------------------------

local function rate_seconds(x)
  return (string.format("%.3f", x):gsub("0+$", ""):gsub("%.$", ""))
end

local plain_reset, plain_control, plain_handle = Registry.reset, Registry.control, Registry.handle

function Registry:reset()
  plain_reset(self)
  self.rate = nil
end

function Registry:control(method, path, body, stats)
  if path == "/__mock/config" and method == "POST" then
    local cfg = decode(body)
    local rl = type(cfg) == "table" and cfg.rate_limit
    if rl == false then
      self.rate = nil
    elseif rl ~= nil and rl ~= null then
      if type(rl) ~= "table" or math.type(rl.requests) ~= "integer" or rl.requests < 1
         or type(rl.window) ~= "number" or rl.window <= 0
         or (rl.headers ~= nil and rl.headers ~= "both" and rl.headers ~= "x"
             and rl.headers ~= "ratelimit" and rl.headers ~= "none") then
        return api_error(400, "1010", "rate_limit must be {requests = N >= 1, window = seconds > 0, " ..
                                      "headers = both|x|ratelimit|none}")
      end
      self.rate = { requests = rl.requests, window = rl.window, headers = rl.headers or "both",
                    start = nil, count = 0 }
      stats.rate_limited = 0
    end
  end
  return plain_control(self, method, path, body, stats)
end

function Registry:handle(req, stats)
  local rate, now = self.rate, socket.gettime()
  if req.target:sub(1, 8) == "/__mock/" then return plain_handle(self, req, stats) end
  if not rate then
    local s, b, ct, extra, fault = plain_handle(self, req, stats)
    local last = self.log[#self.log]
    if last then last.at = now end
    return s, b, ct, extra, fault
  end
  if not rate.start or now >= rate.start + rate.window then
    -- a new window: aligned to the last one's end when it follows at once
    local start = rate.start and rate.start + rate.window * ((now - rate.start) // rate.window) or now
    rate.start, rate.count = start, 0
  end
  local reset = rate.start + rate.window - now
  local s, b, ct, extra, fault
  if rate.count >= rate.requests then
    stats.requests = stats.requests + 1
    stats.rate_limited = (stats.rate_limited or 0) + 1
    if #self.log >= 10000 then remove(self.log, 1) end
    insert(self.log, { method = req.method, path = req.target, headers = req.headers,
                       body = req.body, at = now, rate_limited = true })
    s, b, ct, extra = 429, "Rate limit exceeded", "text/plain", { ["Retry-After"] = rate_seconds(reset) }
  else
    rate.count = rate.count + 1
    s, b, ct, extra, fault = plain_handle(self, req, stats)
    local last = self.log[#self.log]
    if last then last.at = now end
  end
  local h = {}
  for k, v in pairs(extra or {}) do h[k] = v end
  local left = rate.requests - rate.count
  if rate.headers == "both" or rate.headers == "x" then
    h["X-Rate-Limit"], h["X-Rate-Limit-Remaining"] = rate.requests, left
  end
  if rate.headers == "both" or rate.headers == "ratelimit" then
    h["ratelimit-limit"], h["ratelimit-remaining"] = rate.requests, left
    h["ratelimit-reset"] = rate_seconds(reset)
  end
  return s, b, ct, h, fault
end

M.REASONS, M.is_loopback, M.api_error = REASONS, is_loopback, api_error
return M

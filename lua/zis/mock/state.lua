-- zis.mock.state: the local registry's state: the Registry object (its
-- integrations, bundles, job specs, the services' records, minted tokens,
-- faults and log), the fake credentials it accepts, who a request's
-- Authorization header makes the caller, and the ids it hands out.  The
-- routes add their methods to M.Registry; zis.mock.registry loads them.

local socket = require "socket"
local mime = require "mime"

local concat = table.concat

local M = {}

M.ACCOUNT_ID = 12345
M.ADMIN_ID = 4242
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

-- What no source settles (docs/zendesk-api.md, "Unsettled"): each switch
-- and its values, the default first.  The registry answers the default
-- unless a test asks for another through POST /__mock/config
-- {readings = {name = value, ...}}; a reset restores the defaults.
M.READINGS = {
  -- the verb a typed connection update takes: both, or only PUT (PATCH
  -- answers 405), or only PATCH (PUT answers 405)
  connection_update = { "any", "put", "patch" },
  -- whether an update may change allowed_domain ("immutable": 400)
  allowed_domain = { "mutable", "immutable" },
  -- a typed connection read: {"<type>":{...}} or the bare object
  connection_read = { "wrapped", "bare" },
  -- connections/all's OAuth items: with live access and refresh tokens,
  -- without any ("none"), or with oauth_access_token_response_body too
  oauth_listing = { "tokens", "none", "full" },
  -- the configs list's next page: meta.after (with has_more), links.next
  -- (a URL with page[after], and has_more), links.next naming the cursor
  -- otherwise (page[after] not in its query), or a top-level next (an
  -- integer cursor, no meta)
  configs_cursor = { "meta", "links", "links_query", "next" },
  -- the status of a DELETE that succeeds (204, or 200 with {})
  delete_status = { 204, 200 },
  -- links with no match: GET 200 with [] or 404; DELETE 404 or 204
  links_get_no_match = { 200, 404 },
  links_delete_no_match = { 404, 204 },
  -- an OAuth client read: {"oauth_client":{...}}, {"client":{...}} or bare
  oauth_client_show = { "oauth_client", "client", "bare" },
  -- the OAuth client list: {"clients":[...]}, a bare array, {"oauth_clients":[...]}
  oauth_client_list = { "clients", "array", "oauth_clients" },
  -- the access_codes GET: 200 with the connection, 204 empty, 200 text, 201 JSON
  access_code = { "json", "empty", "text", "created" },
  -- whether GET …/inbound_webhooks/generic/{i}/all exists ("missing": 404)
  webhook_list = { "all", "missing" },
  webhook_create_status = { 201, 200 },
  -- a bundle upload's answer: its status, and its body (empty, text, JSON)
  bundle_upload_status = { 200, 201 },
  bundle_upload_body = { "empty", "text", "json" },
  -- whether POST /oauth/tokens answers expires_in
  grant_expires_in = { true, false },
}

-- nil, or why `value` is not one of reading `name`'s values.
function M.check_reading(name, value)
  local values = M.READINGS[name]
  if not values then return "unknown reading '" .. tostring(name) .. "'" end
  for _, v in ipairs(values) do if v == value then return nil end end
  local shown = {}
  for i, v in ipairs(values) do shown[i] = tostring(v) end
  return "reading '" .. name .. "' must be one of " .. concat(shown, ", ")
end

local Registry = {}
Registry.__index = Registry

-- new([creds]): a fresh registry, accepting the defaults overridden by creds.
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
  self.readings = {}
  for name, values in pairs(M.READINGS) do self.readings[name] = values[1] end
end

-- The answer to a DELETE that succeeded: 204, or 200 with {}
-- (readings.delete_status).
function Registry:deleted()
  if self.readings.delete_status == 200 then return 200, "{}", "application/json; charset=utf-8" end
  return 204, "", "text/plain; charset=utf-8"
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

-- An integration's bundle by uuid, and its index; its job spec by name.
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

-- An integration's records of the ZIS services, made on first use.
function Registry:services_state(integ)
  local s = self.svc[integ]
  if not s then
    s = { configs = {}, connections = {}, links = {}, webhooks = {}, oauth_clients = {} }
    self.svc[integ] = s
  end
  return s
end

M.Registry = Registry
return M

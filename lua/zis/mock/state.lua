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

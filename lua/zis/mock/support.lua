-- zis.mock.support: the Support API's OAuth clients and tokens in the
-- local registry: the list of OAuth clients (an integration's is made with
-- it), POST /api/v2/oauth/tokens, which mints the integration-bound token
-- every ZIS services call requires, and POST /oauth/tokens, the admin's
-- client-credentials grant.  Adds Registry:support and :grant_token to
-- zis.mock.state's Registry.

local socket = require "socket"
local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"
local is_object = require("zis.util").is_object

local encode, null, array = core.encode_json, core.null, core.array
local ok, json_array, created = answers.ok, answers.json_array, answers.created
local now_iso, body_object = answers.now_iso, answers.body_object
local Registry = state.Registry
local ADMIN_ID = state.ADMIN_ID
local now = socket.gettime

local M = {}

local function support_error(status, err, description)
  return status, encode{ error = err, description = description }, "application/json; charset=utf-8"
end

function Registry:support(method, path, body, auth, host)
  if path == "/api/v2/oauth/clients" and method == "GET" then
    local names = {}
    for n in pairs(self.integrations) do names[#names + 1] = n end
    table.sort(names, function(a, b)
      return self.integrations[a].zendesk_oauth_client.id < self.integrations[b].zendesk_oauth_client.id
    end)
    local clients = {}
    for i, n in ipairs(names) do
      local c = self.integrations[n].zendesk_oauth_client
      clients[i] = { id = c.id, identifier = c.identifier, name = c.identifier,
                     kind = "confidential", user_id = ADMIN_ID, company = "ZIS",
                     description = "ZIS integration " .. n,
                     redirect_uri = array{}, created_at = (self.client_created or {})[c.id] or null,
                     updated_at = (self.client_created or {})[c.id] or null,
                     url = "https://" .. host .. "/api/v2/oauth/clients/" .. c.id .. ".json" }
    end
    return ok('{"clients":' .. json_array(clients) ..
              ',"next_page":null,"previous_page":null,"count":' .. #clients .. '}')
  elseif path == "/api/v2/oauth/tokens" and method == "POST" then
    -- an admin: basic credentials or the admin's own OAuth token
    if auth ~= "basic" and auth ~= "oauth" then
      return support_error(401, "Unauthorized", "Creating a token requires the admin's credentials")
    end
    local req = body_object(body)
    local t = req and req.token
    if not is_object(t) then
      return support_error(400, "InvalidValue", "token is required")
    end
    if math.type(t.client_id) ~= "integer" then
      return support_error(400, "InvalidValue", "token.client_id must be the OAuth client's numeric id")
    end
    local scopes = t.scopes
    if type(scopes) ~= "table" or #scopes == 0 then
      return support_error(400, "InvalidValue", "token.scopes must be a non-empty array")
    end
    for _, s in ipairs(scopes) do
      if type(s) ~= "string" then
        return support_error(400, "InvalidValue", "token.scopes must be strings")
      end
    end
    local integ
    for n, i in pairs(self.integrations) do
      if i.zendesk_oauth_client.id == t.client_id then integ = n end
    end
    if not integ then return support_error(404, "RecordNotFound", "Not found") end
    self.next_id = self.next_id + 1
    local id = self.next_id
    local full = string.format("fake-zis-token-%s-%d", integ, id)
    local ttl = self.token_ttl
    if math.type(t.expires_in) == "integer" and t.expires_in > 0 then ttl = t.expires_in end
    local rec = { id = id, integration = integ, client_id = t.client_id,
                  expires = ttl and (now() + ttl) or nil }
    self.minted[full] = rec
    return created("token", {
      id = id, token = full:sub(1, 10), full_token = full,
      scopes = array(scopes), client_id = t.client_id, user_id = ADMIN_ID,
      created_at = now_iso(),
      expires_at = rec.expires and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(rec.expires)) or null,
      refresh_token = null, used_at = null,
      url = "https://" .. host .. "/api/v2/oauth/tokens/" .. id .. ".json",
    })
  end
  return support_error(404, "InvalidEndpoint", "Not found")
end

-- POST /oauth/tokens, the client-credentials grant of the admin's own
-- OAuth client (a confidential client): a JSON body {grant_type,
-- client_id (the identifier), client_secret, scope} answered with
-- {access_token, token_type, scope, expires_in}; no refresh token, the
-- client mints again (docs/zendesk-api.md).  No Authorization header.
function Registry:grant_token(body)
  local req = body_object(body)
  if not req then return support_error(400, "invalid_request", "the body must be a JSON object") end
  if req.grant_type ~= "client_credentials" then
    return support_error(400, "unsupported_grant_type", "grant_type must be client_credentials here")
  end
  local c = self.creds
  if req.client_id ~= c.oauth_client_id or req.client_secret ~= c.oauth_client_secret then
    return support_error(401, "invalid_client", "Client authentication failed")
  end
  local scope = type(req.scope) == "string" and req.scope or "read"
  self.next_id = self.next_id + 1
  local tok = string.format("fake-admin-oauth-%d", self.next_id)
  local ttl = self.token_ttl
  self.admin_tokens[tok] = { expires = ttl and (now() + ttl) or nil }
  -- whether expires_in comes is unsettled (readings.grant_expires_in)
  local expires_in = ttl or null
  if not self.readings.grant_expires_in then expires_in = nil end
  return ok(encode{ access_token = tok, token_type = "bearer", scope = scope, expires_in = expires_in })
end

return M

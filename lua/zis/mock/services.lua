-- zis.mock.services: the rest of ZIS in the local registry (zis-api.md
-- 1.2 to 1.6): which service a path names, and the check every services
-- call passes first: a Bearer token minted (zis.mock.support) for the
-- integration in the path, never basic auth.  The services themselves:
-- zis.mock.configs, zis.mock.connections (with OAuth clients and flows),
-- zis.mock.links and zis.mock.webhooks.  Adds Registry:services to
-- zis.mock.state's Registry.

local state = require "zis.mock.state"
local answers = require "zis.mock.answers"
require "zis.mock.configs"
require "zis.mock.connections"
require "zis.mock.links"
require "zis.mock.webhooks"

local api_error, missing, url_decode = answers.api_error, answers.missing, answers.url_decode
local ZIS = answers.ZIS
local Registry = state.Registry

local S = {}

-- The integration a ZIS services path names, and the handler for it.
local function services_target(path)
  local integ, rest = path:match("^" .. ZIS .. "/integrations/([^/]+)/configs(.*)$")
  if integ then return integ, "configs", rest end
  integ, rest = path:match("^" .. ZIS .. "/integrations/([^/]+)/connections(/.*)$")
  if integ then return integ, "connections", rest end
  integ, rest = path:match("^" .. ZIS .. "/connections/oauth/clients/([^/]+)(.*)$")
  if integ then return integ, "oauth_clients", rest end
  integ = path:match("^" .. ZIS .. "/connections/oauth/start/([^/]+)$")
  if integ then return integ, "oauth_start", "" end
  integ = path:match("^" .. ZIS .. "/connections/oauth/access_codes/([^/]+)$")
  if integ then return integ, "oauth_finish", "" end
  integ = path:match("^" .. ZIS .. "/connections/([^/]+)$")
  if integ and integ ~= "oauth" then return integ, "connection_by_name", "" end
  integ = path:match("^" .. ZIS .. "/links/([^/]+)$")
  if integ then return integ, "links", "" end
  integ, rest = path:match("^" .. ZIS .. "/inbound_webhooks/generic/([^/]+)(.*)$")
  if integ and integ ~= "ingest" then return integ, "webhooks", rest end
  return nil
end
S.services_target = services_target

-- Answers a ZIS services request; nil when the path is not one.
function Registry:services(method, path, q, body, auth, token, host)
  local integ, family, rest = services_target(path)
  if not family then return nil end
  integ = integ and url_decode(integ)
  if auth == "basic" then
    if token and token.kind == "token" then
      return api_error(403, "1002", "API token is not supported for this API request", "Forbidden")
    end
    return api_error(401, "1001", "Basic authentication is not allowed for this API request",
                     "Unauthorized")
  end
  if auth ~= "zis" or token.integration ~= integ then
    return api_error(401, "1001", "Authorization failed due to integration mismatch",
                     "Unauthorized")
  end
  if not self.integrations[integ] then
    return missing("integration " .. integ .. " not found")
  end
  local s, b, ct
  if family == "configs" then s, b, ct = self:configs(integ, method, rest, q, body, host)
  elseif family == "connections" then s, b, ct = self:connections(integ, method, rest, q, body)
  elseif family == "oauth_clients" then s, b, ct = self:oauth_clients(integ, method, rest, body)
  elseif family == "oauth_start" and method == "POST" then s, b, ct = self:oauth_start(integ, body, host)
  elseif family == "oauth_finish" and method == "GET" then
    s, b, ct = self:oauth_finish(q.verification_code or "", integ)
  elseif family == "connection_by_name" and method == "GET" then
    s, b, ct = self:connection_by_name(integ, q)
  elseif family == "links" then s, b, ct = self:links(integ, method, q, body)
  elseif family == "webhooks" then s, b, ct = self:webhooks(integ, method, rest, body, host)
  end
  if not s then
    return api_error(405, "1010", method .. " is not allowed on " .. path, "Method Not Allowed")
  end
  return s, b, ct
end

return S

-- zis.mock.registry: the local registry without the network: the routes
-- it serves (M.ROUTES, the list docs/zendesk-api.md gives with sources),
-- the gate that refuses any other (404, or 405), and the answer to one
-- request: control, fault, auth, then the API.  Its state is
-- zis.mock.state's; the answers are in zis.mock.registry_api (the
-- Registry API), zis.mock.support (the Support API's OAuth clients and
-- tokens), zis.mock.services (the ZIS services), zis.mock.control (the
-- control endpoints) and zis.mock.ratelimit.  zis.mock.server puts it on
-- loopback.

local state = require "zis.mock.state"
local answers = require "zis.mock.answers"
require "zis.mock.registry_api"
require "zis.mock.support"
require "zis.mock.services"
require "zis.mock.control"

local insert, remove = table.insert, table.remove
local api_error, url_decode = answers.api_error, answers.url_decode
local Registry = state.Registry

local M = {}

-- Whether a host to serve on is loopback (zis.mock.server refuses others).
local function is_loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- A query string's parameters, decoded.
local function parse_query(q)
  local t = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[url_decode(k)] = url_decode(v)
  end
  return t
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

require("zis.mock.ratelimit").install(Registry)

M.new, M.defaults = state.new, state.defaults
M.REASONS, M.is_loopback, M.api_error = answers.REASONS, is_loopback, api_error
return M

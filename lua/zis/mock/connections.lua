-- zis.mock.connections: the ZIS connections in the local registry: typed
-- connections (api_key, basic_auth, bearer_token: create, list, read,
-- update, delete, their secrets redacted), OAuth clients, the OAuth flow
-- that makes an OAuth connection, and the legacy read of an OAuth
-- connection by name.  Adds Registry:connections, :oauth_clients,
-- :oauth_start, :oauth_finish and :connection_by_name to zis.mock.state's
-- Registry; zis.mock.services routes to them.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"

local encode, null = core.encode_json, core.null
local api_error, ok, created = answers.api_error, answers.ok, answers.created
local invalid, missing, body_object = answers.invalid, answers.missing, answers.body_object
local url_decode, paginate, json_array = answers.url_decode, answers.paginate, answers.json_array
local now_iso, ZIS = answers.now_iso, answers.ZIS
local Registry = state.Registry
local ADMIN_ID = state.ADMIN_ID

local M = {}

-- Header names an API key connection may not use (case-insensitive), and
-- prefixes it may not start with: zis.endpoints holds them, for the
-- client and this registry.
M.RESERVED_HEADERS = require("zis.endpoints").RESERVED_HEADER_NAMES
M.RESERVED_PREFIXES = require("zis.endpoints").RESERVED_HEADER_PREFIXES

-- The fields each connection type takes (zis.endpoints holds them, for
-- every module): all required, and the secret that every read redacts.
M.CONNECTION_TYPES = {}
for ctype, f in pairs(require("zis.endpoints").CONNECTION_FIELDS) do
  local fields = { "name" }
  for _, p in ipairs(f.plain) do fields[#fields + 1] = p end
  fields[#fields + 1] = f.secret
  M.CONNECTION_TYPES[ctype] = { fields = fields, secret = f.secret, has_header = fields[2] == "header_name" }
end

local REDACTED = "*****"

---------------------------------------------------------------------------
-- Typed connections
---------------------------------------------------------------------------

-- nil, or the 400 answer for an allowed_domain
local function check_domain(d)
  if type(d) ~= "string" or d == "" then return invalid("allowed_domain is required") end
  if d:match("^%a[%w+.-]*://") then
    if not d:lower():match("^https://") then
      return invalid("allowed_domain must use https")
    end
    return invalid("allowed_domain must be a host name, without a scheme")
  end
  if #d > 128 then return invalid("allowed_domain must be at most 128 characters") end
  local host = d
  local wild = d:sub(1, 2) == "*."
  if wild then host = d:sub(3) end
  local labels = {}
  for label in (host .. "."):gmatch("([^.]*)%.") do labels[#labels + 1] = label end
  for _, label in ipairs(labels) do
    if #label == 0 or #label > 63 or not label:match("^%w[%w-]*$") or not label:match("%w$") then
      return invalid("allowed_domain labels must be 1 to 63 letters, digits or hyphens")
    end
  end
  if wild and #labels < 2 then
    return invalid("allowed_domain wildcard must not cover a public suffix")
  end
  return nil
end

local function check_header(name)
  if type(name) ~= "string" or name == "" then return invalid("header_name is required") end
  if #name > 128 or not name:match("^[%a_%-]+$") then
    return invalid("header_name must be 1 to 128 letters, hyphens or underscores")
  end
  local l = name:lower()
  for _, r in ipairs(M.RESERVED_HEADERS) do
    if l == r then return invalid("header_name " .. name .. " is reserved") end
  end
  for _, p in ipairs(M.RESERVED_PREFIXES) do
    if l:sub(1, #p) == p then return invalid("header_name " .. name .. " is reserved") end
  end
  return nil
end

-- listing: readings.oauth_listing, for connections/all's OAuth items
local function connection_view(c, listing)
  local v = { name = c.name, allowed_domain = c.allowed_domain,
              created_at = c.created_at, updated_at = c.updated_at }
  local kind = M.CONNECTION_TYPES[c.type]
  if kind then
    for _, f in ipairs(kind.fields) do v[f] = c[f] end
    v[kind.secret] = REDACTED
  else  -- oauth: the reference's example lists live tokens, so this does
    v.oauth_client_uuid = c.oauth_client_uuid
    v.uuid, v.integration, v.created_by = c.uuid, c.integration, ADMIN_ID
    v.access_token, v.refresh_token = c.access_token, c.refresh_token
    if listing == "none" then  -- metadata only, as a third party reports
      v.access_token, v.refresh_token = nil, nil
    elseif listing == "full" and c.access_token then
      v.oauth_access_token_response_body = encode{ access_token = c.access_token, token_type = "bearer",
                                                   refresh_token = c.refresh_token, expires_in = 3600 }
    end
    v.token_type = "bearer"
    v.token_expiry = c.token_expiry or null
    v.permission_scopes = c.permission_scopes or null
    v.allowed_domain = c.allowed_domain or null
  end
  return v
end

-- The legacy read's answer: an OAuth connection, unwrapped, with the
-- fields zaf-toolbox's model names (docs/zendesk-api.md).
local function oauth_connection_view(c)
  return { access_token = c.access_token, created_by = ADMIN_ID, integration = c.integration,
           name = c.name, uuid = c.uuid, token_expiry = c.token_expiry or null,
           token_type = "bearer", refresh_token = c.refresh_token }
end

-- A connection's name: 3 to 64 of letters, digits, '_' and '-';
-- "zendesk" only for an OAuth connection (understanding-connections).
local function check_name(name, oauth)
  if type(name) ~= "string" or name == "" then return invalid("name is required") end
  if #name < 3 or #name > 64 or not name:match("^[%w_%-]+$") then
    return invalid("name must be 3 to 64 letters, digits, hyphens or underscores")
  end
  if name == "zendesk" and not oauth then
    return invalid("name zendesk is reserved for OAuth connections")
  end
  return nil
end

local function find_connection(st, name)
  for i, c in ipairs(st.connections) do if c.name == name then return c, i end end
end

local function set_fields(c, kind, req, partial)
  for _, f in ipairs(kind.fields) do
    if f ~= "name" then
      local v = req[f]
      if v ~= nil or not partial then
        if type(v) ~= "string" or v == "" then return invalid(f .. " is required") end
      end
    end
  end
  if req.allowed_domain ~= nil or not partial then
    local e, b, ct = check_domain(req.allowed_domain)
    if e then return e, b, ct end
  end
  if kind.has_header and (req.header_name ~= nil or not partial) then
    local e, b, ct = check_header(req.header_name)
    if e then return e, b, ct end
  end
  for _, f in ipairs(kind.fields) do
    if f ~= "name" and req[f] ~= nil then c[f] = req[f] end
  end
  return nil
end

function Registry:connections(integ, method, rest, q, body)
  local st = self:services_state(integ)
  if rest == "/all" and method == "GET" then
    return paginate(st.connections, q, nil, nil, function(c) return c.name end,
      function(page, meta)
        local groups = { api_key = {}, basic_auth = {}, bearer_token = {}, oauth = {} }
        local listing = self.readings.oauth_listing
        for _, c in ipairs(page) do table.insert(groups[c.type], connection_view(c, listing)) end
        return ok('{"api_key":' .. json_array(groups.api_key) .. ',"basic_auth":' ..
                  json_array(groups.basic_auth) .. ',"bearer_token":' ..
                  json_array(groups.bearer_token) .. ',"oauth":' .. json_array(groups.oauth) ..
                  ',"meta":' .. encode(meta) .. '}')
      end)
  end
  local ctype, name = rest:match("^/([%w_]+)/?([^/]*)$")
  local kind = ctype and M.CONNECTION_TYPES[ctype]
  if not kind then return nil end
  name = name ~= "" and url_decode(name) or nil
  if not name and method == "POST" then
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    local e0, b0, ct0 = check_name(req.name, false)
    if e0 then return e0, b0, ct0 end
    if find_connection(st, req.name) then
      return api_error(409, "1010", "a connection named " .. req.name .. " already exists",
                       "Conflict")
    end
    local c = { type = ctype, name = req.name, created_at = now_iso(), updated_at = now_iso() }
    local e, b, ct = set_fields(c, kind, req, false)
    if e then return e, b, ct end
    st.connections[#st.connections + 1] = c
    return created(ctype, connection_view(c))
  end
  if not name then return nil end
  local c, idx = find_connection(st, name)
  if method ~= "GET" and method ~= "PATCH" and method ~= "PUT" and method ~= "DELETE" then
    return nil
  end
  -- which verb an update takes is unsettled (readings.connection_update)
  local verbs = self.readings.connection_update
  if (method == "PATCH" and verbs == "put") or (method == "PUT" and verbs == "patch") then
    return api_error(405, "1010", method .. " is not allowed on " .. ZIS .. "/integrations/" .. integ ..
                     "/connections" .. rest, "Method Not Allowed")
  end
  if not c then return missing("connection " .. name .. " not found") end
  if c.type ~= ctype then
    if method == "GET" or method == "DELETE" then
      return missing(ctype .. " connection " .. name .. " not found")
    end
    return invalid("connection " .. name .. " is a " .. c.type ..
                   " connection; a connection's type can't change")
  end
  if method == "GET" then
    if self.readings.connection_read == "bare" then return ok(encode(connection_view(c))) end
    return ok(encode{ [ctype] = connection_view(c) })
  end
  if method == "DELETE" then
    table.remove(st.connections, idx)
    return self:deleted()
  end
  local req = body_object(body)
  if not req then return invalid("request body is not a JSON object") end
  if req.name ~= nil and req.name ~= name then return invalid("a connection's name can't change") end
  if self.readings.allowed_domain == "immutable" and req.allowed_domain ~= nil
     and req.allowed_domain ~= c.allowed_domain then
    return invalid("allowed_domain can't be changed")
  end
  local copy = {}
  for k, v in pairs(c) do copy[k] = v end
  local e, b, ct = set_fields(copy, kind, req, true)
  if e then return e, b, ct end
  for k, v in pairs(copy) do c[k] = v end
  c.updated_at = now_iso()
  return ok(encode{ [ctype] = connection_view(c) })
end

---------------------------------------------------------------------------
-- OAuth clients, flows, and connections by name
---------------------------------------------------------------------------

local GRANTS = { authorization_code = true, client_credentials = true }

local function oauth_client_view(c)
  return { uuid = c.uuid, name = c.name, integration = c.integration, client_id = c.client_id,
           client_secret = REDACTED, auth_url = c.auth_url or null, token_url = c.token_url,
           default_scopes = c.default_scopes or null, grant_type = c.grant_type,
           created_at = c.created_at, updated_at = c.updated_at }
end

local function check_oauth_client(req, partial)
  for _, f in ipairs{ "name", "client_id", "client_secret", "token_url" } do
    if (req[f] ~= nil or not partial) and (type(req[f]) ~= "string" or req[f] == "") then
      return invalid(f .. " is required")
    end
  end
  -- grant_type is optional: authorization_code when absent
  local g = req.grant_type
  if g ~= nil and not GRANTS[g] then
    return invalid("grant_type must be authorization_code or client_credentials")
  end
  if (g or "authorization_code") == "authorization_code" and not partial
     and (type(req.auth_url) ~= "string" or req.auth_url == "") then
    return invalid("auth_url is required for the authorization_code grant")
  end
  for _, f in ipairs{ "auth_url", "token_url" } do
    if type(req[f]) == "string" and not req[f]:match("^https://") then
      return invalid(f .. " must use https")
    end
  end
  return nil
end

local CLIENT_FIELDS = { "name", "client_id", "client_secret", "auth_url", "token_url",
                        "default_scopes", "grant_type" }

function Registry:oauth_clients(integ, method, rest, body)
  local st = self:services_state(integ)
  if rest == "" and method == "GET" then
    local items = {}
    for i, c in ipairs(st.oauth_clients) do items[i] = oauth_client_view(c) end
    local shape = self.readings.oauth_client_list
    if shape == "array" then return ok(json_array(items)) end
    return ok('{"' .. shape .. '":' .. json_array(items) .. '}')
  elseif rest == "" and method == "POST" then
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    local e, b, ct = check_oauth_client(req, false)
    if e then return e, b, ct end
    for _, c in ipairs(st.oauth_clients) do
      if c.name == req.name then
        return api_error(409, "1010", "an OAuth client named " .. req.name .. " already exists",
                         "Conflict")
      end
    end
    local c = { uuid = self:uuid(), integration = integ, created_at = now_iso(), updated_at = now_iso() }
    for _, f in ipairs(CLIENT_FIELDS) do c[f] = req[f] end
    c.grant_type = c.grant_type or "authorization_code"
    st.oauth_clients[#st.oauth_clients + 1] = c
    return 201, encode{ uuid = c.uuid }, "application/json; charset=utf-8"
  end
  local uuid = rest:match("^/([^/]+)$")
  if not uuid then return nil end
  uuid = url_decode(uuid)
  if method ~= "PATCH" and method ~= "GET" and method ~= "DELETE" then return nil end
  local c, idx
  for i, x in ipairs(st.oauth_clients) do if x.uuid == uuid then c, idx = x, i end end
  if not c then return missing("OAuth client " .. uuid .. " not found") end
  if method == "GET" then
    local shape = self.readings.oauth_client_show
    if shape == "bare" then return ok(encode(oauth_client_view(c))) end
    return ok(encode{ [shape] = oauth_client_view(c) })
  end
  if method == "DELETE" then
    -- the OAuth connections made with the client go with it
    table.remove(st.oauth_clients, idx)
    for i = #st.connections, 1, -1 do
      local conn = st.connections[i]
      if conn.type == "oauth" and conn.oauth_client_uuid == c.uuid then table.remove(st.connections, i) end
    end
    return self:deleted()
  end
  local req = body_object(body)
  if not req then return invalid("request body is not a JSON object") end
  local e, b, ct = check_oauth_client(req, true)
  if e then return e, b, ct end
  for _, f in ipairs(CLIENT_FIELDS) do if req[f] ~= nil then c[f] = req[f] end end
  c.updated_at = now_iso()
  return ok(encode{ oauth_client = oauth_client_view(c) })
end

function Registry:oauth_start(integ, body, host)
  local st = self:services_state(integ)
  local req = body_object(body)
  if not req then return invalid("request body is not a JSON object") end
  local e0, b0, ct0 = check_name(req.name, true)
  if e0 then return e0, b0, ct0 end
  local client
  for _, c in ipairs(st.oauth_clients) do
    if (req.oauth_client_uuid and c.uuid == req.oauth_client_uuid)
      or (req.oauth_client_name and c.name == req.oauth_client_name) then client = c end
  end
  if not req.oauth_client_uuid and not req.oauth_client_name then
    return invalid("oauth_client_name or oauth_client_uuid is required")
  end
  if not client then return missing("OAuth client not found") end
  if req.grant_type ~= nil and not GRANTS[req.grant_type] then
    return invalid("grant_type must be authorization_code or client_credentials")
  end
  local existing = find_connection(st, req.name)
  if existing and existing.type ~= "oauth" then
    return api_error(409, "1010", "a connection named " .. req.name .. " already exists", "Conflict")
  end
  self.next_id = self.next_id + 1
  local code = string.format("fake-verification-%d", self.next_id)
  local grant = req.grant_type or client.grant_type or "authorization_code"
  self.oauth_flows[code] = { integration = integ, name = req.name, client = client,
                             scopes = req.permission_scopes, grant = grant }
  local url
  if grant == "client_credentials" then
    -- finished by a GET of this URL with the integration's token
    url = "http://" .. host .. ZIS .. "/connections/oauth/access_codes/" .. integ ..
          "?verification_code=" .. code
  else
    -- the provider's consent page, in the admin's browser
    url = (client.auth_url or "https://provider.invalid/authorize") .. "?client_id=" ..
          client.client_id .. "&state=" .. code
  end
  return ok(encode{ redirect_url = url, flow_token = "fake-flow-" .. self.next_id })
end

-- The access_codes GET (with the integration's token) completes a
-- client-credentials flow: the connection is made.
function Registry:oauth_finish(code, integ)
  local f = self.oauth_flows[code]
  if not f or f.integration ~= integ or f.grant ~= "client_credentials" then
    return missing("verification code not found")
  end
  self.oauth_flows[code] = nil
  local st = self:services_state(integ)
  local c = find_connection(st, f.name)
  if not c then
    c = { type = "oauth", name = f.name, created_at = now_iso(), uuid = self:uuid(),
          integration = integ }
    st.connections[#st.connections + 1] = c
  end
  self.next_id = self.next_id + 1
  c.oauth_client_uuid, c.updated_at = f.client.uuid, now_iso()
  c.permission_scopes = f.scopes
  c.access_token = "fake-provider-access-" .. self.next_id
  c.refresh_token = "fake-provider-refresh-" .. self.next_id
  c.token_expiry = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 3600)
  -- the status and body are unrecorded (readings.access_code)
  local shape = self.readings.access_code
  if shape == "empty" then return 204, "", "text/plain; charset=utf-8" end
  if shape == "text" then return 200, "OK", "text/plain; charset=utf-8" end
  if shape == "created" then return 201, encode(oauth_connection_view(c)), "application/json; charset=utf-8" end
  return ok(encode(oauth_connection_view(c)))
end

-- The legacy read: OAuth connections only, unwrapped; by name or uuid.
function Registry:connection_by_name(integ, q)
  local name, uuid = q.name, q.uuid
  if (not name or name == "") and (not uuid or uuid == "") then
    return invalid("name or uuid is required")
  end
  local c
  for _, x in ipairs(self:services_state(integ).connections) do
    if x.type == "oauth" and ((name and x.name == name) or (uuid and x.uuid == uuid)) then c = x end
  end
  if not c then return missing("OAuth connection " .. (name or uuid) .. " not found") end
  return ok(encode(oauth_connection_view(c)))
end

return M

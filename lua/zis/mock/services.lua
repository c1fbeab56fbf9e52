-- zis.mock.services: the rest of ZIS in the local registry (zis-api.md
-- 1.2 to 1.6): configs, connections, OAuth clients and flows, links,
-- inbound webhooks, and the Support API's OAuth clients and tokens that
-- mint the integration-bound token every one of these calls requires.
--
-- Installed into the registry by zis.mock: install(Registry, helpers).

local S = {}

local ZIS = "/api/services/zis"

-- Header names an API key connection may not use (case-insensitive), and
-- prefixes it may not start with.
S.RESERVED_HEADERS = {
  "accept-charset", "accept-encoding", "access-control-request-headers",
  "access-control-request-method", "authorization", "connection", "content-length",
  "content-type", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive",
  "origin", "proxy-authorization", "referer", "te", "trailer", "transfer-encoding",
  "upgrade", "user-agent", "via",
}
S.RESERVED_PREFIXES = { "x-zis-", "x-amz-", "x-forwarded-", "proxy-", "sec-" }

-- The fields each connection type takes (zis.endpoints holds them, for
-- every module): all required, and the secret that every read redacts.
S.CONNECTION_TYPES = {}
for ctype, f in pairs(require("zis.endpoints").CONNECTION_FIELDS) do
  local fields = { "name" }
  for _, p in ipairs(f.plain) do fields[#fields + 1] = p end
  fields[#fields + 1] = f.secret
  S.CONNECTION_TYPES[ctype] = { fields = fields, secret = f.secret, has_header = fields[2] == "header_name" }
end

local REDACTED = "*****"

function S.install(Registry, h)
  local api_error, ok, encode, decode = h.api_error, h.ok, h.encode, h.decode
  local json_array, null, url_decode = h.json_array, h.null, h.url_decode

  local function now_iso() return os.date("!%Y-%m-%dT%H:%M:%SZ") end
  local function created(key, value)
    return 201, encode{ [key] = value }, "application/json; charset=utf-8"
  end
  local function no_content() return 204, "", "text/plain; charset=utf-8" end
  local function invalid(detail) return api_error(400, "1010", detail, "Invalid parameter") end
  local function missing(detail) return api_error(404, "1020", detail, "Missing Resource") end
  local function body_object(body)
    if body == "" then return nil end
    local t = decode(body)
    if type(t) ~= "table" or getmetatable(t) == h.array_mt then return nil end
    return t
  end
  local is_object = require("zis.util").is_object

  -- "*" matches any run of characters; everything else literally.
  local function wildcard(pattern)
    local p = pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
    return "^" .. p .. "$"
  end

  function Registry:services_state(integ)
    local s = self.svc[integ]
    if not s then
      s = { configs = {}, connections = {}, links = {}, webhooks = {}, oauth_clients = {} }
      self.svc[integ] = s
    end
    return s
  end

  -------------------------------------------------------------------------
  -- Support API: OAuth clients and tokens
  -------------------------------------------------------------------------

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
                       kind = "confidential", user_id = h.ADMIN_ID, company = "ZIS",
                       description = "ZIS integration " .. n,
                       redirect_uri = h.array{}, created_at = (self.client_created or {})[c.id] or null,
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
                    expires = ttl and (h.now() + ttl) or nil }
      self.minted[full] = rec
      return created("token", {
        id = id, token = full:sub(1, 10), full_token = full,
        scopes = h.array(scopes), client_id = t.client_id, user_id = h.ADMIN_ID,
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
    self.admin_tokens[tok] = { expires = ttl and (h.now() + ttl) or nil }
    return ok(encode{ access_token = tok, token_type = "bearer", scope = scope,
                      expires_in = ttl or null })
  end

  -------------------------------------------------------------------------
  -- Configs
  -------------------------------------------------------------------------

  local function config_view(c)
    return { id = c.id, scope = c.scope, config = c.config, integration = c.integration,
             zendesk_account_id = h.ACCOUNT_ID, created_at = c.created_at,
             updated_at = c.updated_at }
  end

  local function deep_merge(into, changes)
    for k, v in pairs(changes) do
      if is_object(v) and is_object(into[k]) then deep_merge(into[k], v)
      else into[k] = v end
    end
    return into
  end

  function Registry:configs(integ, method, rest, q, body)
    local st = self:services_state(integ)
    if rest == "" and method == "GET" then
      local scope = q["filter[scope]"]
      if not scope or scope == "" then return invalid("filter[scope] is required") end
      local pat, items = wildcard(scope), {}
      for _, c in ipairs(st.configs) do
        if c.scope:match(pat) then items[#items + 1] = c end
      end
      -- Zendesk answers 404 when nothing matches (docs/zendesk-api.md)
      if #items == 0 then return missing("no configs match scope " .. scope) end
      return h.paginate(items, q, "configs", config_view, function(c) return c.id end)
    elseif rest == "" and method == "POST" then
      local req = body_object(body)
      if not req then return invalid("request body is not a JSON object") end
      if type(req.scope) ~= "string" or req.scope == "" then return invalid("scope is required") end
      if not is_object(req.config) then return invalid("config must be a JSON object") end
      for _, c in ipairs(st.configs) do
        if c.scope == req.scope then
          return api_error(409, "1010", "a config for scope " .. req.scope .. " already exists", "Conflict")
        end
      end
      self.next_id = self.next_id + 1
      local c = { id = self.next_id, scope = req.scope, config = req.config, integration = integ,
                  created_at = now_iso(), updated_at = now_iso() }
      st.configs[#st.configs + 1] = c
      return created("config", config_view(c))
    end
    local scope = rest:match("^/([^/]+)$")
    if not scope then return nil end
    scope = url_decode(scope)
    local c, idx
    for i, x in ipairs(st.configs) do if x.scope == scope then c, idx = x, i end end
    if method ~= "PUT" and method ~= "PATCH" and method ~= "DELETE" then return nil end
    if not c then return missing("config for scope " .. scope .. " not found") end
    if method == "DELETE" then
      table.remove(st.configs, idx)
      return no_content()
    end
    local req = body_object(body)
    if not req or not is_object(req.config) then return invalid("config must be a JSON object") end
    if method == "PUT" then c.config = req.config else deep_merge(c.config, req.config) end
    c.updated_at = now_iso()
    return ok(encode{ config = config_view(c) })
  end

  -------------------------------------------------------------------------
  -- Connections
  -------------------------------------------------------------------------

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
    for _, r in ipairs(S.RESERVED_HEADERS) do
      if l == r then return invalid("header_name " .. name .. " is reserved") end
    end
    for _, p in ipairs(S.RESERVED_PREFIXES) do
      if l:sub(1, #p) == p then return invalid("header_name " .. name .. " is reserved") end
    end
    return nil
  end

  local function connection_view(c)
    local v = { name = c.name, allowed_domain = c.allowed_domain,
                created_at = c.created_at, updated_at = c.updated_at }
    local kind = S.CONNECTION_TYPES[c.type]
    if kind then
      for _, f in ipairs(kind.fields) do v[f] = c[f] end
      v[kind.secret] = REDACTED
    else  -- oauth: the reference's example lists live tokens, so this does
      v.oauth_client_uuid = c.oauth_client_uuid
      v.uuid, v.integration, v.created_by = c.uuid, c.integration, h.ADMIN_ID
      v.access_token, v.refresh_token = c.access_token, c.refresh_token
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
    return { access_token = c.access_token, created_by = h.ADMIN_ID, integration = c.integration,
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
      return h.paginate(st.connections, q, nil, nil, function(c) return c.name end,
        function(page, meta)
          local groups = { api_key = {}, basic_auth = {}, bearer_token = {}, oauth = {} }
          for _, c in ipairs(page) do table.insert(groups[c.type], connection_view(c)) end
          return ok('{"api_key":' .. json_array(groups.api_key) .. ',"basic_auth":' ..
                    json_array(groups.basic_auth) .. ',"bearer_token":' ..
                    json_array(groups.bearer_token) .. ',"oauth":' .. json_array(groups.oauth) ..
                    ',"meta":' .. encode(meta) .. '}')
        end)
    end
    local ctype, name = rest:match("^/([%w_]+)/?([^/]*)$")
    local kind = ctype and S.CONNECTION_TYPES[ctype]
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
    if not c then return missing("connection " .. name .. " not found") end
    if c.type ~= ctype then
      if method == "GET" or method == "DELETE" then
        return missing(ctype .. " connection " .. name .. " not found")
      end
      return invalid("connection " .. name .. " is a " .. c.type ..
                     " connection; a connection's type can't change")
    end
    if method == "GET" then return ok(encode{ [ctype] = connection_view(c) }) end
    if method == "DELETE" then
      table.remove(st.connections, idx)
      return no_content()
    end
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    if req.name ~= nil and req.name ~= name then return invalid("a connection's name can't change") end
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    local e, b, ct = set_fields(copy, kind, req, true)
    if e then return e, b, ct end
    for k, v in pairs(copy) do c[k] = v end
    c.updated_at = now_iso()
    return ok(encode{ [ctype] = connection_view(c) })
  end

  -------------------------------------------------------------------------
  -- OAuth clients, flows, and connections by name
  -------------------------------------------------------------------------

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
      return ok('{"clients":' .. json_array(items) .. '}')
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
    if method == "GET" then return ok(encode{ oauth_client = oauth_client_view(c) }) end
    if method == "DELETE" then
      -- the OAuth connections made with the client go with it
      table.remove(st.oauth_clients, idx)
      for i = #st.connections, 1, -1 do
        local conn = st.connections[i]
        if conn.type == "oauth" and conn.oauth_client_uuid == c.uuid then table.remove(st.connections, i) end
      end
      return no_content()
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
    return ok(encode(oauth_connection_view(c)))
  end

  -------------------------------------------------------------------------
  -- Links
  -------------------------------------------------------------------------

  local function link_view(l)
    return { id = l.id, uuid = l.id, account_id = h.ACCOUNT_ID, integration = l.integration,
             link_type = l.link_type, left_object = l.left_object, right_object = l.right_object,
             created_at = l.created_at, updated_at = l.updated_at }
  end

  local function check_object(o, side)
    if not is_object(o) or type(o.name) ~= "string" or o.name == "" then
      return invalid(side .. ".name is required")
    end
    if o.metadata ~= nil and not is_object(o.metadata) then
      return invalid(side .. ".metadata must be a JSON object")
    end
    return nil
  end

  -- The links a query selects; or nil and the 400 answer.
  local function select_links(st, q)
    if not q.link_type or q.link_type == "" then
      return nil, invalid("link_type is required")
    end
    local left, right = q.left_object_name, q.right_object_name
    if (not left or left == "") and (not right or right == "") then
      return nil, invalid("left_object_name or right_object_name is required")
    end
    local lt, lp, rp = wildcard(q.link_type), left and wildcard(left), right and wildcard(right)
    local out = {}
    for _, l in ipairs(st.links) do
      if l.link_type:match(lt) and (not lp or l.left_object.name:match(lp))
        and (not rp or l.right_object.name:match(rp)) then
        out[#out + 1] = l
      end
    end
    return out
  end

  function Registry:links(integ, method, q, body)
    local st = self:services_state(integ)
    if method == "POST" then
      local req = body_object(body)
      if not req then return invalid("request body is not a JSON object") end
      if type(req.link_type) ~= "string" or req.link_type == "" then
        return invalid("link_type is required")
      end
      local e, b, ct = check_object(req.left_object, "left_object")
      if e then return e, b, ct end
      e, b, ct = check_object(req.right_object, "right_object")
      if e then return e, b, ct end
      local l = { id = self:uuid(), integration = integ, link_type = req.link_type,
                  left_object = { name = req.left_object.name, metadata = req.left_object.metadata or {} },
                  right_object = { name = req.right_object.name, metadata = req.right_object.metadata or {} },
                  created_at = now_iso(), updated_at = now_iso() }
      st.links[#st.links + 1] = l
      return created("link", link_view(l))
    end
    if method ~= "GET" and method ~= "PATCH" and method ~= "DELETE" then return nil end
    local found, s, b, ct = select_links(st, q)
    if not found then return s, b, ct end
    if method == "GET" then
      return h.paginate(found, q, "links", link_view, function(l) return l.id end)
    end
    if #found == 0 then return missing("link not found") end
    if method == "DELETE" then
      local gone = {}
      for _, l in ipairs(found) do gone[l] = true end
      for i = #st.links, 1, -1 do if gone[st.links[i]] then table.remove(st.links, i) end end
      return no_content()
    end
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    if #found > 1 then return invalid("the query selects more than one link") end
    local l = found[1]
    for _, side in ipairs{ "left_object", "right_object" } do
      local o = req[side]
      if o ~= nil then
        if not is_object(o) then return invalid(side .. " must be a JSON object") end
        if o.metadata ~= nil and not is_object(o.metadata) then
          return invalid(side .. ".metadata must be a JSON object")
        end
      end
    end
    for _, side in ipairs{ "left_object", "right_object" } do
      local o = req[side]
      if o then
        if type(o.name) == "string" and o.name ~= "" then l[side].name = o.name end
        if o.metadata then deep_merge(l[side].metadata, o.metadata) end
      end
    end
    if type(req.link_type) == "string" and req.link_type ~= "" then l.link_type = req.link_type end
    l.updated_at = now_iso()
    return ok(encode{ link = link_view(l) })
  end

  -------------------------------------------------------------------------
  -- Inbound webhooks
  -------------------------------------------------------------------------

  local function webhook_view(w, with_password)
    return { id = w.id, uuid = w.uuid, integration = w.integration, path = w.path,
             username = w.username, password = with_password and w.password or nil,
             source_system = w.source_system, event_type = w.event_type,
             zendesk_account_id = h.ACCOUNT_ID }
  end

  function Registry:webhooks(integ, method, rest, body, host)
    local st = self:services_state(integ)
    if rest == "" and method == "POST" then
      local req = body_object(body)
      if not req then return invalid("request body is not a JSON object") end
      for _, f in ipairs{ "source_system", "event_type" } do
        if type(req[f]) ~= "string" or req[f] == "" then return invalid(f .. " is required") end
      end
      self.next_id = self.next_id + 1
      local token = string.format("fakeingest%08d", self.next_id)
      local w = { id = self.ulid(), uuid = self:uuid(), integration = integ, source_system = req.source_system,
                  event_type = req.event_type,
                  path = "http://" .. host .. ZIS .. "/inbound_webhooks/generic/ingest/" .. token,
                  username = "fake-webhook-user-" .. self.next_id,
                  password = "fake-webhook-password-" .. self.next_id }
      st.webhooks[#st.webhooks + 1] = w
      return 201, encode(webhook_view(w, true)), "application/json; charset=utf-8"
    end
    if rest == "/all" and method == "GET" then
      local items = {}
      for i, w in ipairs(st.webhooks) do items[i] = webhook_view(w, false) end
      return ok('{"webhooks":' .. json_array(items) .. '}')
    end
    local uuid = rest:match("^/([^/]+)$")
    if uuid and (method == "GET" or method == "DELETE") then
      uuid = url_decode(uuid)
      for i, w in ipairs(st.webhooks) do
        if w.uuid == uuid then
          if method == "GET" then return ok(encode(webhook_view(w, false))) end
          table.remove(st.webhooks, i)   -- its credentials no longer work
          return no_content()
        end
      end
      return missing("inbound webhook " .. uuid .. " not found")
    end
    return nil
  end

  -------------------------------------------------------------------------
  -- Routing and the integration-bound token
  -------------------------------------------------------------------------

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
    if family == "configs" then s, b, ct = self:configs(integ, method, rest, q, body)
    elseif family == "connections" then s, b, ct = self:connections(integ, method, rest, q, body)
    elseif family == "oauth_clients" then s, b, ct = self:oauth_clients(integ, method, rest, body)
    elseif family == "oauth_start" and method == "POST" then s, b, ct = self:oauth_start(integ, body, host)
    elseif family == "oauth_finish" and method == "GET" then
      s, b, ct = self:oauth_finish(q.verification_code or "", integ)
    elseif family == "connection_by_name" and method == "GET" then
      -- the legacy read: OAuth connections only, unwrapped; by name or uuid
      local name, uuid = q.name, q.uuid
      if (not name or name == "") and (not uuid or uuid == "") then
        return invalid("name or uuid is required")
      end
      local c
      for _, x in ipairs(self:services_state(integ).connections) do
        if x.type == "oauth" and ((name and x.name == name) or (uuid and x.uuid == uuid)) then c = x end
      end
      if not c then return missing("OAuth connection " .. (name or uuid) .. " not found") end
      s, b, ct = ok(encode(oauth_connection_view(c)))
    elseif family == "links" then s, b, ct = self:links(integ, method, q, body)
    elseif family == "webhooks" then s, b, ct = self:webhooks(integ, method, rest, body, host)
    end
    if not s then
      return api_error(405, "1010", method .. " is not allowed on " .. path, "Method Not Allowed")
    end
    return s, b, ct
  end
end

return S

-- The local registry's ZIS services and the Support API's OAuth pieces,
-- over raw HTTP: statuses, bodies, and what the registry logged.
local H = require "spec.helper"
local R = require "spec.mock_http"
local core = require "zis.core"

local ZIS = "/api/services/zis"
local CONFIGS = ZIS .. "/integrations/demo/configs"
local CONN = ZIS .. "/integrations/demo/connections"

local function err(status, code, detail, message)
  return { errors = core.array{ { code = code, detail = detail, status = tostring(status) } },
           message = message }
end

-- asserts status and the whole error body
local function refused(res, status, code, detail, message)
  assert.equal(status, res.status, res.body)
  local ok, why = H.same_json(err(status, code, detail, message), res.json)
  if not ok then error(why .. " in " .. res.body, 2) end
end

local function invalid(res, detail) refused(res, 400, "1010", detail, "Invalid parameter") end
local function missing(res, detail) refused(res, 404, "1020", detail, "Missing Resource") end

describe("local registry: the integration's own token", function()
  before_each(function()
    H.fresh("demo")
    assert(H.client():create_integration("other"))
  end)
  after_each(function() H.control("POST", "config", { token_ttl = 1800 }) end)

  it("lists the zis_<integration> OAuth clients with create_integration's numeric ids", function()
    H.reset()
    local made = assert(H.client():create_integration("demo"))
    local res = R.request("GET", "/api/v2/oauth/clients")
    assert.equal(200, res.status)
    assert.equal(1, res.json.count)
    local c = res.json.clients[1]
    assert.equal(made.zendesk_oauth_client.id, c.id)
    assert.equal("integer", math.type(c.id))
    assert.equal("zis_demo", c.identifier)
    assert.is_nil(c.secret)
  end)

  it("mints a token for the client with the admin's basic credentials", function()
    local id = R.request("GET", "/api/v2/oauth/clients").json.clients[1].id
    local body = '{"token":{"client_id":' .. id .. ',"scopes":["read","write"]}}'
    local res = R.request("POST", "/api/v2/oauth/tokens", { body = body })
    assert.equal(201, res.status)
    local t = res.json.token
    assert.equal(id, t.client_id)
    assert.same({ "read", "write" }, { t.scopes[1], t.scopes[2] })
    assert.equal("string", type(t.full_token))
    assert.equal(t.full_token:sub(1, 10), t.token)
    assert.equal("integer", math.type(t.id))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", t.expires_at)
    local seen = H.last()
    assert.equal(body, seen.body)
    assert.equal(R.BASIC, seen.headers.authorization)
  end)

  it("refuses to mint without an admin's credentials, for an unknown client, or with no scopes", function()
    local id = R.request("GET", "/api/v2/oauth/clients").json.clients[1].id
    local good = { token = { client_id = id, scopes = core.array{ "read" } } }
    -- an admin's own OAuth token mints (docs/zendesk-api.md); a bound one does not
    local res = R.request("POST", "/api/v2/oauth/tokens", { body = good, auth = "Bearer " .. H.oauth })
    assert.equal(201, res.status)
    res = R.zis("POST", "/api/v2/oauth/tokens", R.mint("demo"), { body = good })
    assert.equal(401, res.status)
    res = R.request("POST", "/api/v2/oauth/tokens", { body = good, auth = false })
    assert.equal(401, res.status)
    res = R.request("POST", "/api/v2/oauth/tokens",
                    { body = { token = { client_id = 1, scopes = core.array{ "read" } } } })
    assert.equal(404, res.status)
    assert.same({ error = "RecordNotFound", description = "Not found" }, res.json)
    res = R.request("POST", "/api/v2/oauth/tokens", { body = { token = { client_id = id } } })
    assert.equal(400, res.status)
    assert.equal("InvalidValue", res.json.error)
    res = R.request("POST", "/api/v2/oauth/tokens",
                    { body = { token = { client_id = tostring(id), scopes = core.array{ "read" } } } })
    assert.equal(400, res.status)
  end)

  it("every services call takes a token minted for that same integration", function()
    local mine = R.mint("demo")
    local theirs = R.mint("other")
    local path = CONN .. "/all"
    assert.equal(200, R.zis("GET", path, mine).status)
    -- an API token: 403 (docs/zendesk-api.md); a password: 401
    refused(R.request("GET", path), 403, "1002",
            "API token is not supported for this API request", "Forbidden")
    refused(R.request("GET", path, { auth = R.PASSWORD }), 401, "1001",
            "Basic authentication is not allowed for this API request", "Unauthorized")
    refused(R.request("GET", path, { auth = "Bearer " .. H.oauth }), 401, "1001",
            "Authorization failed due to integration mismatch", "Unauthorized")
    refused(R.zis("GET", path, theirs), 401, "1001",
            "Authorization failed due to integration mismatch", "Unauthorized")
    refused(R.request("GET", path, { auth = "Bearer fake-unknown" }), 401, "1001",
            "Couldn't authenticate you", "Unauthorized")
    for _, p in ipairs{ CONN .. "/all", ZIS .. "/links/demo?link_type=t&left_object_name=a",
                        ZIS .. "/connections/oauth/clients/demo",
                        ZIS .. "/inbound_webhooks/generic/demo/x", ZIS .. "/connections/demo?name=x" } do
      refused(R.zis("GET", p, theirs), 401, "1001",
              "Authorization failed due to integration mismatch", "Unauthorized")
    end
  end)

  it("a minted token works on the registry's OAuth endpoints of its integration only", function()
    local mine = R.mint("demo")
    local REG = ZIS .. "/registry"
    assert.equal(200, R.zis("GET", REG .. "/demo/bundles", mine).status)
    refused(R.zis("GET", REG .. "/other/bundles", mine), 401, "1001",
            "Authorization failed due to integration mismatch", "Unauthorized")
    refused(R.zis("POST", REG .. "/demo/bundles", mine, { body = H.bundle("demo", "b") }), 401,
            "1001", "OAuth being disabled for this API request", "Unauthorized")
  end)

  it("expires tokens from the control API, and a fresh one works again", function()
    local mine = R.mint("demo")
    local other = R.mint("other")
    local path = CONN .. "/all"
    assert.same({ expired = 1 }, H.control("POST", "tokens/expire", { integration = "demo" }))
    refused(R.zis("GET", path, mine), 401, "1001", "Couldn't authenticate you", "Unauthorized")
    assert.equal(200, R.zis("GET", ZIS .. "/integrations/other/connections/all", other).status)
    assert.equal(200, R.zis("GET", path, R.mint("demo")).status)
    assert.same({ expired = 2 }, H.control("POST", "tokens/expire", {}))
  end)

  it("a token expires on its own after token_ttl seconds", function()
    H.control("POST", "config", { token_ttl = 1 })
    local tok, rec = R.mint("demo")
    assert.equal(200, R.zis("GET", CONN .. "/all", tok).status)
    assert.is_string(rec.expires_at)
    require("socket").sleep(1.1)
    assert.equal(401, R.zis("GET", CONN .. "/all", tok).status)
  end)
end)

describe("local registry: configs", function()
  local tok
  before_each(function()
    H.fresh("demo")
    tok = R.mint("demo")
  end)

  local function create(scope, config)
    return R.zis("POST", CONFIGS, tok, { body = { scope = scope, config = config } })
  end

  it("creates (201 {config}), and refuses a second config for a scope (409)", function()
    local sent = '{"scope":"settings","config":{"priority":"high","nested":{"a":1}}}'
    local res = R.zis("POST", CONFIGS, tok, { body = sent })
    assert.equal(201, res.status)
    local c = res.json.config
    assert.equal("settings", c.scope)
    assert.equal("high", c.config.priority)
    assert.equal("demo", c.integration)
    assert.equal("integer", math.type(c.id))
    assert.equal("integer", math.type(c.zendesk_account_id))
    assert.is_string(c.created_at)
    assert.equal(sent, H.last().body)
    assert.equal("Bearer " .. tok, H.last().headers.authorization)
    refused(create("settings", {}), 409, "1010", "a config for scope settings already exists", "Conflict")
    invalid(create("", {}), "scope is required")
    invalid(create("x", core.array{ 1 }), "config must be a JSON object")
    invalid(R.zis("POST", CONFIGS, tok, { body = "[1]" }), "request body is not a JSON object")
  end)

  it("lists by filter[scope] (required), with * wildcards and paging", function()
    for _, s in ipairs{ "acme_1", "acme_2", "acme_3", "other" } do
      assert.equal(201, create(s, { s = s }).status)
    end
    invalid(R.zis("GET", CONFIGS, tok), "filter[scope] is required")
    local res = R.zis("GET", CONFIGS .. "?filter[scope]=other", tok)
    assert.equal(200, res.status)
    assert.equal(1, #res.json.configs)
    res = R.zis("GET", CONFIGS .. "?filter%5Bscope%5D=acme*&page%5Bsize%5D=2", tok)
    assert.equal(2, #res.json.configs)
    assert.is_true(res.json.meta.has_more)
    local after = res.json.meta.after
    res = R.zis("GET", CONFIGS .. "?filter[scope]=acme*&page[size]=2&page[after]=" .. after, tok)
    assert.equal(1, #res.json.configs)
    assert.equal("acme_3", res.json.configs[1].scope)
    assert.is_false(res.json.meta.has_more)
    -- nothing matches: 404, as Zendesk answers (docs/zendesk-api.md)
    missing(R.zis("GET", CONFIGS .. "?filter[scope]=nothing*", tok), "no configs match scope nothing*")
    assert.equal(400, R.zis("GET", CONFIGS .. "?filter[scope]=*&page[size]=0", tok).status)
  end)

  it("replaces with PUT, deep-merges with PATCH, deletes with 204", function()
    create("settings", { a = { x = 1, y = 2 }, list = core.array{ 1, 2 }, keep = true })
    local res = R.zis("PATCH", CONFIGS .. "/settings", tok,
                      { body = { config = { a = { y = 3, z = 4 }, list = core.array{ 9 } } } })
    assert.equal(200, res.status)
    local ok, why = H.same_json(core.decode_json('{"a":{"x":1,"y":3,"z":4},"list":[9],"keep":true}'),
                                res.json.config.config)
    assert(ok, why)
    res = R.zis("PUT", CONFIGS .. "/settings", tok, { body = { config = { only = "this" } } })
    assert.equal(200, res.status)
    assert.same({ only = "this" }, res.json.config.config)
    invalid(R.zis("PUT", CONFIGS .. "/settings", tok, { body = { nope = 1 } }),
            "config must be a JSON object")
    res = R.zis("DELETE", CONFIGS .. "/settings", tok)
    assert.equal(204, res.status)
    assert.equal("", res.raw)
    missing(R.zis("DELETE", CONFIGS .. "/settings", tok), "config for scope settings not found")
    missing(R.zis("PATCH", CONFIGS .. "/settings", tok, { body = { config = {} } }),
            "config for scope settings not found")
  end)
end)

describe("local registry: connections", function()
  local tok
  before_each(function()
    H.fresh("demo")
    tok = R.mint("demo")
  end)

  local function create(ctype, fields)
    return R.zis("POST", CONN .. "/" .. ctype, tok, { body = fields })
  end

  it("creates each type (201, secrets redacted in the answer and every read)", function()
    local res = create("bearer_token", { name = "acme_bearer", token = "fake-secret-1",
                                         allowed_domain = "api.acme.example" })
    assert.equal(201, res.status)
    assert.equal("*****", res.json.bearer_token.token)
    assert.equal("acme_bearer", res.json.bearer_token.name)
    assert.equal("api.acme.example", res.json.bearer_token.allowed_domain)
    assert.is_string(res.json.bearer_token.created_at)
    res = create("api_key", { name = "acme_key", api_key = "fake-secret-2", header_name = "X-Api-Key",
                              allowed_domain = "*.acme.example" })
    assert.equal(201, res.status)
    assert.equal("*****", res.json.api_key.api_key)
    assert.equal("X-Api-Key", res.json.api_key.header_name)
    res = create("basic_auth", { name = "acme_basic", username = "u", password = "fake-secret-3",
                                 allowed_domain = "acme.example" })
    assert.equal(201, res.status)
    assert.equal("*****", res.json.basic_auth.password)
    assert.equal("u", res.json.basic_auth.username)
    -- reads
    local all = R.zis("GET", CONN .. "/all", tok)
    assert.equal(200, all.status)
    assert.not_matches("fake%-secret", all.body)
    assert.equal(1, #all.json.api_key)
    assert.equal(1, #all.json.basic_auth)
    assert.equal(1, #all.json.bearer_token)
    assert.equal(0, #all.json.oauth)
    assert.is_false(all.json.meta.has_more)
    local one = R.zis("GET", CONN .. "/api_key/acme_key", tok)
    assert.equal("*****", one.json.api_key.api_key)
    -- the legacy read answers OAuth connections only
    missing(R.zis("GET", ZIS .. "/connections/demo?name=acme_basic", tok),
            "OAuth connection acme_basic not found")
    -- the secret went over the wire once, in the create request
    local log = H.log()
    local sent = 0
    for _, e in ipairs(log) do if (e.body or ""):find("fake-secret-1", 1, true) then sent = sent + 1 end end
    assert.equal(1, sent)
  end)

  it("pages connections/all across types by name", function()
    for i = 1, 3 do
      create("bearer_token", { name = "bee" .. i, token = "t", allowed_domain = "a.example" })
    end
    create("api_key", { name = "key1", api_key = "t", header_name = "X-Key", allowed_domain = "a.example" })
    local res = R.zis("GET", CONN .. "/all?page[size]=3", tok)
    assert.equal(3, #res.json.bearer_token)
    assert.equal(0, #res.json.api_key)
    assert.is_true(res.json.meta.has_more)
    assert.equal("bee3", res.json.meta.after)
    res = R.zis("GET", CONN .. "/all?page[size]=3&page[after]=bee3", tok)
    assert.equal(1, #res.json.api_key)
    assert.is_false(res.json.meta.has_more)
    assert.equal(400, R.zis("GET", CONN .. "/all?page[size]=101", tok).status)
  end)

  it("keeps names unique across types (409), and a type can't change", function()
    create("bearer_token", { name = "acme", token = "t", allowed_domain = "a.example" })
    refused(create("api_key", { name = "acme", api_key = "k", header_name = "X-Key",
                                allowed_domain = "a.example" }),
            409, "1010", "a connection named acme already exists", "Conflict")
    invalid(R.zis("PATCH", CONN .. "/api_key/acme", tok, { body = { api_key = "k" } }),
            "connection acme is a bearer_token connection; a connection's type can't change")
    missing(R.zis("GET", CONN .. "/api_key/acme", tok), "api_key connection acme not found")
  end)

  it("updates (PATCH, redacted answer) and deletes (204, then 404)", function()
    create("bearer_token", { name = "acme", token = "t", allowed_domain = "a.example" })
    local res = R.zis("PATCH", CONN .. "/bearer_token/acme", tok,
                      { body = { token = "fake-new", allowed_domain = "b.example" } })
    assert.equal(200, res.status)
    assert.equal("b.example", res.json.bearer_token.allowed_domain)
    assert.equal("*****", res.json.bearer_token.token)
    invalid(R.zis("PATCH", CONN .. "/bearer_token/acme", tok, { body = { allowed_domain = "http://b.example" } }),
            "allowed_domain must use https")
    assert.equal("b.example", R.zis("GET", CONN .. "/bearer_token/acme", tok).json.bearer_token.allowed_domain)
    assert.equal(204, R.zis("DELETE", CONN .. "/bearer_token/acme", tok).status)
    missing(R.zis("DELETE", CONN .. "/bearer_token/acme", tok), "connection acme not found")
    missing(R.zis("PATCH", CONN .. "/bearer_token/acme", tok, { body = {} }), "connection acme not found")
  end)

  it("validates fields, allowed_domain and API-key header names", function()
    local function bearer(domain)
      return create("bearer_token", { name = "conn", token = "t", allowed_domain = domain })
    end
    invalid(create("bearer_token", { name = "conn", allowed_domain = "a.example" }), "token is required")
    -- names: 3 to 64 of letters, digits, _ and -; "zendesk" for OAuth only
    for _, n in ipairs{ "ab", string.rep("a", 65), "a b" } do
      invalid(create("bearer_token", { name = n, token = "t", allowed_domain = "a.example" }),
              "name must be 3 to 64 letters, digits, hyphens or underscores")
    end
    invalid(create("bearer_token", { name = "zendesk", token = "t", allowed_domain = "a.example" }),
            "name zendesk is reserved for OAuth connections")
    invalid(create("bearer_token", { token = "t", allowed_domain = "a.example" }), "name is required")
    invalid(bearer(nil), "allowed_domain is required")
    invalid(bearer("http://a.example"), "allowed_domain must use https")
    invalid(bearer("https://a.example"), "allowed_domain must be a host name, without a scheme")
    invalid(bearer(string.rep("a", 60) .. "." .. string.rep("b", 60) .. "." .. string.rep("c", 10)),
            "allowed_domain must be at most 128 characters")
    invalid(bearer(string.rep("a", 64) .. ".example"),
            "allowed_domain labels must be 1 to 63 letters, digits or hyphens")
    invalid(bearer("a..example"), "allowed_domain labels must be 1 to 63 letters, digits or hyphens")
    invalid(bearer("-a.example"), "allowed_domain labels must be 1 to 63 letters, digits or hyphens")
    invalid(bearer("*.com"), "allowed_domain wildcard must not cover a public suffix")
    assert.equal(201, bearer(string.rep("a", 63) .. ".example").status)
    local n = 0
    local function key(header)
      n = n + 1
      return create("api_key", { name = "key" .. n, api_key = "x", header_name = header,
                                 allowed_domain = "a.example" })
    end
    for _, h in ipairs{ "Host", "cookie", "User-Agent", "Authorization", "X-Zis-Thing", "x-amz-date",
                        "X-Forwarded-For" } do
      invalid(key(h), "header_name " .. h .. " is reserved")
    end
    for _, h in ipairs{ "X Key", "X.Key", "X-Key1", string.rep("a", 129) } do
      invalid(key(h), "header_name must be 1 to 128 letters, hyphens or underscores")
    end
    assert.equal(201, key(string.rep("a", 128)).status)
  end)
end)

describe("local registry: OAuth clients and flows", function()
  local tok
  local CLIENTS = ZIS .. "/connections/oauth/clients/demo"
  local CLIENT = { name = "acme", client_id = "fake-client", client_secret = "fake-client-secret",
                   auth_url = "https://acme.example/authorize", token_url = "https://acme.example/token",
                   default_scopes = "read", grant_type = "authorization_code" }
  before_each(function()
    H.fresh("demo")
    tok = R.mint("demo")
  end)

  it("creates, lists (as clients), shows, PATCHes, deletes; PUT answers 405", function()
    local res = R.zis("POST", CLIENTS, tok, { body = CLIENT })
    assert.equal(201, res.status)
    local uuid = res.json.uuid
    assert.is_string(uuid)
    local list = R.zis("GET", CLIENTS, tok)
    assert.equal(200, list.status)
    assert.is_nil(list.json.oauth_clients)
    assert.equal("acme", list.json.clients[1].name)
    assert.equal("*****", list.json.clients[1].client_secret)
    assert.equal(uuid, list.json.clients[1].uuid)
    assert.equal("acme", R.zis("GET", CLIENTS .. "/" .. uuid, tok).json.oauth_client.name)
    res = R.zis("PATCH", CLIENTS .. "/" .. uuid, tok, { body = { default_scopes = "read write" } })
    assert.equal(200, res.status)
    assert.equal("read write", res.json.oauth_client.default_scopes)
    refused(R.zis("PUT", CLIENTS .. "/" .. uuid, tok, { body = CLIENT }), 405, "1010",
            "PUT is not allowed on " .. CLIENTS .. "/" .. uuid, "Method Not Allowed")
    missing(R.zis("PATCH", CLIENTS .. "/nope", tok, { body = {} }), "OAuth client nope not found")
    refused(R.zis("POST", CLIENTS, tok, { body = CLIENT }), 409, "1010",
            "an OAuth client named acme already exists", "Conflict")
    invalid(R.zis("POST", CLIENTS, tok, { body = { name = "x" } }), "client_id is required")
    local bad = {}
    for k, v in pairs(CLIENT) do bad[k] = v end
    bad.name, bad.grant_type = "y", "password"
    invalid(R.zis("POST", CLIENTS, tok, { body = bad }),
            "grant_type must be authorization_code or client_credentials")
    -- grant_type is optional: authorization_code
    bad.name, bad.grant_type = "z", nil
    local made = R.zis("POST", CLIENTS, tok, { body = bad })
    assert.equal(201, made.status)
    assert.equal("authorization_code", R.zis("GET", CLIENTS .. "/" .. made.json.uuid, tok).json.oauth_client.grant_type)
    assert.equal(204, R.zis("DELETE", CLIENTS .. "/" .. uuid, tok).status)
    missing(R.zis("GET", CLIENTS .. "/" .. uuid, tok), "OAuth client " .. uuid .. " not found")
  end)

  it("starts a flow: authorization_code sends the admin to the provider", function()
    R.zis("POST", CLIENTS, tok, { body = CLIENT })
    local res = R.zis("POST", ZIS .. "/connections/oauth/start/demo", tok,
                      { body = { name = "acme_oauth", oauth_client_name = "acme", grant_type = "authorization_code",
                                 allow_offline_access = true, permission_scopes = "read" } })
    assert.equal(200, res.status)
    assert.matches("^https://acme.example/authorize%?", res.json.redirect_url)
    assert.is_string(res.json.flow_token)
  end)

  it("client_credentials: a GET of access_codes with the integration's token makes the connection", function()
    local cc = {}
    for k, v in pairs(CLIENT) do cc[k] = v end
    cc.grant_type = "client_credentials"
    assert(H.client():create_integration("other"))
    R.zis("POST", CLIENTS, tok, { body = cc })
    local res = R.zis("POST", ZIS .. "/connections/oauth/start/demo", tok,
                      { body = { name = "acme_oauth", oauth_client_name = "acme" } })
    assert.equal(200, res.status)
    local url = res.json.redirect_url
    invalid(R.zis("POST", ZIS .. "/connections/oauth/start/demo", tok,
                  { body = { name = "x", oauth_client_name = "acme" } }),
            "name must be 3 to 64 letters, digits, hyphens or underscores")
    local target = url:match("^https?://[^/]+(/.*)$")
    assert.matches("^" .. ZIS:gsub("%p", "%%%0") .. "/connections/oauth/access_codes/demo%?verification_code=", target)
    -- another integration's token cannot finish it
    refused(R.zis("GET", target, R.mint("other")), 401, "1001",
            "Authorization failed due to integration mismatch", "Unauthorized")
    local done = R.zis("GET", target, tok)
    assert.equal(200, done.status)
    assert.equal("acme_oauth", done.json.name)
    -- listings carry the live tokens (the reference's example does)
    local all = R.zis("GET", CONN .. "/all", tok)
    assert.equal(1, #all.json.oauth)
    assert.equal("acme_oauth", all.json.oauth[1].name)
    assert.matches("^fake%-provider%-access%-", all.json.oauth[1].access_token)
    assert.matches("^fake%-provider%-refresh%-", all.json.oauth[1].refresh_token)
    -- the legacy read: unwrapped, by name or uuid
    local one = R.zis("GET", ZIS .. "/connections/demo?name=acme_oauth", tok)
    assert.equal(200, one.status)
    assert.is_nil(one.json.connection)
    assert.equal("acme_oauth", one.json.name)
    assert.is_string(one.json.token_expiry)
    assert.is_string(one.json.access_token)
    assert.equal("acme_oauth", R.zis("GET", ZIS .. "/connections/demo?uuid=" .. one.json.uuid, tok).json.name)
    missing(R.zis("GET", target, tok), "verification code not found")
    missing(R.zis("GET", ZIS .. "/connections/demo?name=nope", tok), "OAuth connection nope not found")
    invalid(R.zis("GET", ZIS .. "/connections/demo", tok), "name or uuid is required")
    missing(R.zis("POST", ZIS .. "/connections/oauth/start/demo", tok,
                  { body = { name = "xyz", oauth_client_name = "nope" } }), "OAuth client not found")
    invalid(R.zis("POST", ZIS .. "/connections/oauth/start/demo", tok, { body = { name = "xyz" } }),
            "oauth_client_name or oauth_client_uuid is required")
  end)
end)

describe("local registry: links", function()
  local tok
  local LINKS = ZIS .. "/links/demo"
  before_each(function()
    H.fresh("demo")
    tok = R.mint("demo")
  end)

  local function link(left, right, meta)
    return R.zis("POST", LINKS, tok, { body = { link_type = "ticket_issue",
      left_object = { name = left, metadata = meta or { n = 1 } }, right_object = { name = right } } })
  end

  it("creates (201 {link})", function()
    local res = link("zendesk:ticket1", "jira:issue1")
    assert.equal(201, res.status)
    local l = res.json.link
    assert.equal("ticket_issue", l.link_type)
    assert.equal("zendesk:ticket1", l.left_object.name)
    assert.equal(1, l.left_object.metadata.n)
    assert.equal("demo", l.integration)
    assert.is_string(l.id)
    assert.equal("integer", math.type(l.account_id))
    invalid(R.zis("POST", LINKS, tok, { body = { left_object = { name = "a" }, right_object = { name = "b" } } }),
            "link_type is required")
    invalid(R.zis("POST", LINKS, tok, { body = { link_type = "t", left_object = { name = "a" } } }),
            "right_object.name is required")
  end)

  it("lists by link_type and an object name, with * wildcards and cursor paging", function()
    for i = 1, 3 do link("zendesk:ticket" .. i, "jira:issue" .. i) end
    link("zendesk:ticket1", "jira:issue9")
    invalid(R.zis("GET", LINKS .. "?left_object_name=zendesk:ticket1", tok), "link_type is required")
    invalid(R.zis("GET", LINKS .. "?link_type=ticket_issue", tok),
            "left_object_name or right_object_name is required")
    local res = R.zis("GET", LINKS .. "?link_type=ticket_issue&left_object_name=zendesk:ticket1", tok)
    assert.equal(200, res.status)
    assert.equal(2, #res.json.links)
    res = R.zis("GET", LINKS .. "?link_type=ticket*&right_object_name=jira:*&page[size]=3", tok)
    assert.equal(3, #res.json.links)
    assert.is_true(res.json.meta.has_more)
    res = R.zis("GET", LINKS .. "?link_type=ticket*&right_object_name=jira:*&page[size]=3&page[after]=" ..
                res.json.meta.after, tok)
    assert.equal(1, #res.json.links)
    assert.equal("jira:issue9", res.json.links[1].right_object.name)
    assert.equal(400, R.zis("GET", LINKS .. "?link_type=t&left_object_name=a&page[size]=1.5", tok).status)
  end)

  it("PATCH merges metadata; DELETE answers 204, then 404", function()
    link("zendesk:ticket1", "jira:issue1", { n = 1, keep = "yes" })
    local q = "?link_type=ticket_issue&left_object_name=zendesk:ticket1&right_object_name=jira:issue1"
    local res = R.zis("PATCH", LINKS .. q, tok, { body = { left_object = { metadata = { n = 2, added = true } } } })
    assert.equal(200, res.status)
    assert.same({ n = 2, keep = "yes", added = true }, res.json.link.left_object.metadata)
    assert.equal("zendesk:ticket1", res.json.link.left_object.name)
    invalid(R.zis("PATCH", LINKS .. "?left_object_name=a", tok, { body = {} }), "link_type is required")
    assert.equal(204, R.zis("DELETE", LINKS .. q, tok).status)
    assert.equal("DELETE", H.last().method)
    assert.equal(LINKS .. q, H.last().path)
    missing(R.zis("DELETE", LINKS .. q, tok), "link not found")
    missing(R.zis("PATCH", LINKS .. q, tok, { body = {} }), "link not found")
  end)
end)

describe("local registry: inbound webhooks", function()
  local tok
  local HOOKS = ZIS .. "/inbound_webhooks/generic/demo"
  before_each(function()
    H.fresh("demo")
    tok = R.mint("demo")
  end)

  it("creates (201, credentials shown once) and shows without the password", function()
    local res = R.zis("POST", HOOKS, tok, { body = { source_system = "acme", event_type = "order.created" } })
    assert.equal(201, res.status)
    local w = res.json
    assert.equal("acme", w.source_system)
    assert.equal("order.created", w.event_type)
    assert.equal("demo", w.integration)
    assert.is_string(w.username)
    assert.is_string(w.password)
    assert.matches("/api/services/zis/inbound_webhooks/generic/ingest/", w.path)
    assert.not_equal(w.uuid, w.id)   -- a ULID, not the uuid
    assert.matches("^[0-9A-HJKMNP-TV-Z]+$", w.id)
    assert.equal(26, #w.id)
    local shown = R.zis("GET", HOOKS .. "/" .. w.uuid, tok)
    assert.equal(200, shown.status)
    assert.is_nil(shown.json.password)
    assert.equal(w.username, shown.json.username)
    assert.equal(w.path, shown.json.path)
    missing(R.zis("GET", HOOKS .. "/nope", tok), "inbound webhook nope not found")
    invalid(R.zis("POST", HOOKS, tok, { body = { source_system = "acme" } }), "event_type is required")
  end)

  it("lists (/all, {webhooks}) and deletes (204; its credentials stop working)", function()
    local w = R.zis("POST", HOOKS, tok, { body = { source_system = "acme", event_type = "a" } }).json
    local list = R.zis("GET", HOOKS .. "/all", tok)
    assert.equal(200, list.status)
    assert.equal(1, #list.json.webhooks)
    assert.equal(w.uuid, list.json.webhooks[1].uuid)
    assert.is_nil(list.json.webhooks[1].password)
    assert.equal(204, R.zis("DELETE", HOOKS .. "/" .. w.uuid, tok).status)
    assert.equal(0, #R.zis("GET", HOOKS .. "/all", tok).json.webhooks)
    missing(R.zis("DELETE", HOOKS .. "/" .. w.uuid, tok), "inbound webhook " .. w.uuid .. " not found")
  end)
end)

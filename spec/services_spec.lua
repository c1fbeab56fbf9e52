-- The ZIS services through the client, as a user calls them: every call
-- on admin:for_integration(I), against the local registry.  Each endpoint's
-- success, its documented errors as returned error objects, the iterators,
-- misuse raising before any request, the integration's token, and the
-- bytes a few calls put on the wire.
local zis = require "zis"
local H = require "spec.helper"

local ZIS = "/api/services/zis"
local TOKEN_PREFIX = "fake-zis-token-"

-- the admin (basic credentials) and its client for the integration
local admin, c, events

local function setup(extra)
  H.fresh("demo")
  events = {}
  local o = { on_request = function(e) events[#events + 1] = e end }
  for k, v in pairs(extra or {}) do o[k] = v end
  admin = H.client(o)
  c = admin:for_integration("demo")
end

-- asserts a returned error object: nil, err with kind http, status, code
local function fails(status, code, res, err)
  assert.is_nil(res)
  assert.is_true(zis.is_error(err), tostring(err))
  assert.equal("http", err.kind)
  assert.equal(status, err.status, tostring(err))
  if code then assert.equal(code, err.code, tostring(err)) end
  return err
end

-- asserts that f raises a message matching `pattern` and sends nothing
local function refuses(pattern, f)
  local before = #H.log()
  local ok, msg = pcall(f)
  assert.is_false(ok, "expected a raise")
  assert.equal("string", type(msg))
  assert.matches(pattern, msg, 1, true)
  assert.equal(before, #H.log(), "a request was sent")
end

-- the ZIS services requests the registry received (not the registry's,
-- not the Support API's)
local function services_log()
  local out = {}
  for _, l in ipairs(H.log()) do
    if l.path:sub(1, #ZIS) == ZIS and l.path:sub(1, #ZIS + 10) ~= ZIS .. "/registry/" then
      out[#out + 1] = l
    end
  end
  return out
end

local function count(path_prefix, method)
  local n = 0
  for _, l in ipairs(H.log()) do
    if l.path:sub(1, #path_prefix) == path_prefix and (not method or l.method == method) then
      n = n + 1
    end
  end
  return n
end

describe("ZIS services through the client: configs", function()
  before_each(setup)
  after_each(function() c:close() admin:close() end)

  it("creates, lists, merges, replaces and deletes, in the API's shapes", function()
    local made = assert(c:create_config("demo", "settings", { priority = "high", n = 1 }))
    assert.equal("settings", made.config.scope)
    assert.equal("high", made.config.config.priority)
    assert.equal("integer", math.type(made.config.config.n))
    local page = assert(c:list_configs("demo", { scope = "set*" }))
    assert.equal(1, #page.configs)
    assert.is_false(page.meta.has_more)
    local merged = assert(c:merge_config("demo", "settings", { extra = { a = true } }))
    assert.same({ priority = "high", n = 1, extra = { a = true } }, merged.config.config)
    local replaced = assert(c:replace_config("demo", "settings", { only = "this" }))
    assert.same({ only = "this" }, replaced.config.config)
    assert.is_true(c:delete_config("demo", "settings"))
    assert.equal(0, #assert(c:list_configs("demo", { scope = "*" })).configs)
  end)

  it("a search that matches nothing (Zendesk answers 404) is an empty list, and an empty loop", function()
    events = {}
    local page = assert(c:list_configs("demo", { scope = "none*" }))
    assert.equal(404, events[#events].status)
    assert.same({}, page.configs)
    assert.equal(zis.array_metatable, getmetatable(page.configs))
    assert.is_false(page.meta.has_more)
    local n = 0
    for _ in c:configs("demo", { scope = "none*" }) do n = n + 1 end
    assert.equal(0, n)
    -- any other 404 is still a failure
    fails(404, "1020", c:delete_config("demo", "none"))
  end)

  it("returns the documented errors: 409 on a second create, 404 on a missing scope", function()
    assert(c:create_config("demo", "s", {}))
    local err = fails(409, "1010", c:create_config("demo", "s", {}))
    assert.equal("POST", err.method)
    assert.equal(ZIS .. "/integrations/demo/configs", err.path)
    fails(404, "1020", c:replace_config("demo", "nope", {}))
    fails(404, "1020", c:merge_config("demo", "nope", {}))
    err = fails(404, "1020", c:delete_config("demo", "nope"))
    assert.matches("config for scope nope not found", tostring(err), 1, true)
  end)

  it("pages with the configs iterator, following meta.after", function()
    for i = 1, 5 do assert(c:create_config("demo", "scope" .. i, { i = i })) end
    assert(c:create_config("demo", "other", {}))
    local seen = {}
    for cfg in c:configs("demo", { scope = "scope*", page_size = 2 }) do seen[#seen + 1] = cfg.scope end
    assert.same({ "scope1", "scope2", "scope3", "scope4", "scope5" }, seen)
    local gets = {}
    for _, l in ipairs(services_log()) do
      if l.method == "GET" then gets[#gets + 1] = l.path end
    end
    assert.equal(3, #gets)
    assert.equal(ZIS .. "/integrations/demo/configs?page%5Bsize%5D=2&filter%5Bscope%5D=scope%2A", gets[1])
    assert.matches("page%5Bafter%5D=", gets[2], 1, true)
  end)

  it("follows an integer cursor (configs document page[after] as an integer)", function()
    for i = 1, 3 do assert(c:create_config("demo", "s" .. i, {})) end
    local first = assert(c:list_configs("demo", { scope = "*", page_size = 1 }))
    local id = first.configs[1].id
    H.faults{ { method = "GET", path = ZIS .. "/integrations/demo/configs", status = 200,
                body = '{"configs":[{"scope":"s1","id":' .. id .. '}],"meta":{"has_more":true,"after":' ..
                       id .. ',"before":null}}' } }
    local seen = {}
    for cfg in c:configs("demo", { scope = "*" }) do seen[#seen + 1] = cfg.scope end
    assert.same({ "s1", "s2", "s3" }, seen)
    local l = H.last()
    assert.matches("page%5Bafter%5D=" .. id, l.path, 1, true)
  end)

  it("raises on misuse before any request", function()
    refuses("option 'scope' is required", function() c:list_configs("demo", {}) end)
    refuses("table expected, got no value", function() c:list_configs("demo") end)
    refuses("bad argument #1 to 'list_configs'", function() c:list_configs("Demo!", { scope = "*" }) end)
    refuses("unknown option 'scpoe'", function() c:list_configs("demo", { scpoe = "*" }) end)
    refuses("bad argument #3 to 'create_config' (table expected", function()
      c:create_config("demo", "s", "not a table") end)
    refuses("bad argument #2 to 'delete_config' (must not be empty)", function() c:delete_config("demo", "") end)
    refuses("to 'configs'", function() c:configs("demo", { page_size = 500, scope = "*" }) end)
  end)

  it("sends the bodies the API documents", function()
    assert(c:create_config("demo", "a/b c", { k = zis.array{} }))
    local l = H.last()
    assert.equal('{"scope":"a/b c","config":{"k":[]}}', l.body)
    assert(c:merge_config("demo", "a/b c", { k2 = 1 }))
    l = H.last()
    assert.equal("PATCH", l.method)
    assert.equal(ZIS .. "/integrations/demo/configs/a%2Fb%20c", l.path)
    assert.equal('{"config":{"k2":1}}', l.body)
    assert.equal("application/json", l.headers["content-type"])
  end)
end)

describe("ZIS services through the client: connections", function()
  before_each(setup)
  after_each(function() c:close() admin:close() end)

  local function three()
    assert(c:create_connection("demo", "api_key", { name = "key1", api_key = "fake-key",
      header_name = "X-Api-Key", allowed_domain = "api.example.com" }))
    assert(c:create_connection("demo", "basic_auth", { name = "basic1", username = "u",
      password = "fake-pass", allowed_domain = "*.example.com" }))
    assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "fake-bearer",
      allowed_domain = "api.example.com" }))
  end

  it("creates each type and shows, updates and deletes it; secrets come back redacted", function()
    local made = assert(c:create_connection("demo", "bearer_token", { name = "acme",
      token = "fake-bearer", allowed_domain = "api.example.com" }))
    assert.equal("acme", made.bearer_token.name)
    assert.equal("*****", made.bearer_token.token)
    -- read by type, unwrapped, with its type
    local shown = assert(c:get_connection("demo", "acme", "bearer_token"))
    assert.equal("bearer_token", shown.type)
    assert.equal("acme", shown.name)
    assert.equal(ZIS .. "/integrations/demo/connections/bearer_token/acme", H.last().path)
    -- with no type: the legacy read (OAuth only: 404), then each type
    shown = assert(c:get_connection("demo", "acme"))
    assert.equal("bearer_token", shown.type)
    local up = assert(c:update_connection("demo", "bearer_token", "acme", { token = "fake-2" }))
    assert.equal("*****", up.bearer_token.token)
    assert.equal("PATCH", H.last().method)
    assert.equal(ZIS .. "/integrations/demo/connections/bearer_token/acme", H.last().path)
    assert.is_true(c:delete_connection("demo", "bearer_token", "acme"))
    local err = fails(404, "1020", c:get_connection("demo", "acme"))
    assert.matches("no connection named 'acme' (of any type)", err.message, 1, true)
  end)

  it("takes a typed read answered bare or wrapped (the shape is not documented)", function()
    assert(c:create_connection("demo", "api_key", { name = "key1", api_key = "fake-key",
      header_name = "X-Api-Key", allowed_domain = "api.example.com" }))
    local wrapped = assert(c:get_connection("demo", "key1", "api_key"))
    H.faults{ { path = ZIS .. "/integrations/demo/connections/api_key/key1", status = 200,
                body = '{"name":"key1","api_key":"*****","header_name":"X-Api-Key",' ..
                       '"allowed_domain":"api.example.com"}' } }
    local bare = assert(c:get_connection("demo", "key1", "api_key"))
    for _, x in ipairs{ wrapped, bare } do
      assert.equal("key1", x.name)
      assert.equal("api_key", x.type)
      assert.equal("X-Api-Key", x.header_name)
    end
  end)

  it("checks connection names before any request: 3 to 64, 'zendesk' for OAuth only", function()
    local function named(n)
      return function()
        c:create_connection("demo", "bearer_token", { name = n, token = "fake",
                                                      allowed_domain = "api.example.com" })
      end
    end
    refuses("3 to 64", named("ab"))
    refuses("3 to 64", named(string.rep("a", 65)))
    refuses("3 to 64", named("has space"))
    refuses("reserved for an OAuth connection", named("zendesk"))
    refuses("3 to 64", function() c:start_oauth_flow("demo", { name = "x", oauth_client_name = "p" }) end)
    assert(c:create_connection("demo", "bearer_token", { name = "abc", token = "fake",
                                                          allowed_domain = "api.example.com" }))
    assert(c:create_connection("demo", "bearer_token", { name = string.rep("a", 64), token = "fake",
                                                          allowed_domain = "api.example.com" }))
  end)

  it("lists the grouped answer, and the iterator yields each connection with its type", function()
    three()
    local all = assert(c:list_connections("demo"))
    assert.equal(1, #all.api_key)
    assert.equal(1, #all.basic_auth)
    assert.equal(1, #all.bearer_token)
    assert.equal(0, #all.oauth)
    assert.is_nil(all.api_key[1].type)   -- the list is the API's own shape
    local seen = {}
    for x in c:connections("demo", { page_size = 1 }) do seen[#seen + 1] = x.name .. ":" .. x.type end
    assert.same({ "key1:api_key", "basic1:basic_auth", "tok1:bearer_token" }, seen)
    assert.equal(3, count(ZIS .. "/integrations/demo/connections/all", "GET") - 1)
  end)

  it("leaves names unique across types to the API: 409, returned", function()
    three()
    local err = fails(409, "1010", c:create_connection("demo", "api_key", { name = "tok1",
      api_key = "fake", header_name = "X-Key", allowed_domain = "api.example.com" }))
    assert.matches("already exists", err.detail, 1, true)
    err = fails(400, "1010", c:update_connection("demo", "api_key", "tok1", { api_key = "fake" }))
    assert.matches("type can't change", err.detail, 1, true)
    fails(404, "1020", c:delete_connection("demo", "basic_auth", "nope"))
  end)

  it("checks allowed_domain before any request, with the rule in the message", function()
    local function bearer(domain)
      return function()
        c:create_connection("demo", "bearer_token", { name = "xyz", token = "fake", allowed_domain = domain })
      end
    end
    refuses("without a scheme", bearer("https://api.example.com"))
    refuses("without a scheme", bearer("http://api.example.com"))
    refuses("at most 128 characters", bearer(string.rep("a.", 64) .. "com"))
    refuses("1 to 63", bearer(string.rep("a", 64) .. ".example.com"))
    refuses("1 to 63", bearer("api..example.com"))
    refuses("1 to 63", bearer("-api.example.com"))
    refuses("bare suffix", bearer("*.com"))
    refuses("bad argument #3 to 'create_connection'", bearer("api.example.com/path"))
    refuses("bad argument #4 to 'update_connection'", function()
      c:update_connection("demo", "bearer_token", "x", { allowed_domain = "ftp://x.example.com" })
    end)
    -- the limits themselves pass
    local long = string.rep("a", 63) .. "." .. string.rep("b", 60) .. ".com"
    assert.equal(128, #long)
    assert(c:create_connection("demo", "bearer_token", { name = "ok1", token = "fake", allowed_domain = long }))
    assert(c:create_connection("demo", "bearer_token", { name = "ok2", token = "fake",
                                                          allowed_domain = "*.example.com" }))
  end)

  it("checks API-key header names before any request", function()
    local function key(h)
      return function()
        c:create_connection("demo", "api_key", { name = "xyz", api_key = "fake", header_name = h,
                                                 allowed_domain = "api.example.com" })
      end
    end
    for _, h in ipairs{ "Host", "cookie", "User-Agent", "Authorization", "X-Zis-Thing", "x-amz-date",
                        "X-Forwarded-For" } do
      refuses("is reserved", key(h))
    end
    refuses("1 to 128 letters", key("X Api"))
    refuses("1 to 128 letters", key("X-Api-Key2"))
    refuses("1 to 128 letters", key(string.rep("a", 129)))
    assert(c:create_connection("demo", "api_key", { name = "ok1", api_key = "fake",
      header_name = "X_Custom-" .. string.rep("k", 119), allowed_domain = "api.example.com" }))
  end)

  it("raises on a wrong type or a missing body", function()
    refuses("must be one of api_key, basic_auth, bearer_token", function()
      c:create_connection("demo", "oauth", { name = "x" }) end)
    refuses("table expected", function() c:create_connection("demo", "bearer_token") end)
    refuses("bad argument #2 to 'get_connection'", function() c:get_connection("demo", "") end)
  end)

  it("sends create and show as the API documents them", function()
    assert(c:create_connection("demo", "basic_auth", { name = "bee", username = "u",
      password = "fake-pass", allowed_domain = "api.example.com" }))
    local l = H.last()
    assert.equal("POST", l.method)
    assert.equal(ZIS .. "/integrations/demo/connections/basic_auth", l.path)
    local body = zis.decode_json(l.body)
    assert.same({ name = "bee", username = "u", password = "fake-pass", allowed_domain = "api.example.com" }, body)
    assert(c:get_connection("demo", "bee", "basic_auth"))
    assert.equal(ZIS .. "/integrations/demo/connections/basic_auth/bee", H.last().path)
    fails(404, nil, c:get_connection("demo", "bee", "oauth"))
    assert.equal(ZIS .. "/connections/demo?name=bee", H.last().path)
  end)
end)

describe("ZIS services through the client: OAuth clients and flows", function()
  before_each(setup)
  after_each(function() c:close() admin:close() end)

  local CLIENT = { name = "provider", client_id = "cid", client_secret = "fake-secret",
                   token_url = "https://provider.example/token", grant_type = "client_credentials" }

  it("creates, lists and updates (PATCH) an OAuth client, and starts a flow", function()
    local made = assert(c:create_oauth_client("demo", CLIENT))
    assert.equal("string", type(made.uuid))
    local list = assert(c:list_oauth_clients("demo"))
    assert.equal(1, #list.clients)   -- the API's key is "clients"
    assert.equal("*****", list.clients[1].client_secret)
    local one = assert(c:get_oauth_client("demo", made.uuid))
    assert.equal("provider", one.oauth_client.name)
    local up = assert(c:update_oauth_client("demo", made.uuid, { default_scopes = "read" }))
    assert.equal("read", up.oauth_client.default_scopes)
    assert.equal("PATCH", H.last().method)
    local flow = assert(c:start_oauth_flow("demo", { name = "conn", oauth_client_name = "provider",
                                                     grant_type = "client_credentials" }))
    assert.matches("/connections/oauth/access_codes/demo?verification_code=", flow.redirect_url, 1, true)
    -- a client-credentials flow ends with a GET of that URL, with the integration's token
    local done = assert(c:finish_oauth_flow("demo", flow.redirect_url))
    assert.equal("conn", done.name)
    assert.equal("GET", H.last().method)
    assert.equal(1, H.last().headers.authorization:find("Bearer " .. TOKEN_PREFIX .. "demo", 1, true))
    local conn = assert(c:get_connection("demo", "conn"))
    assert.equal("oauth", conn.type)
    assert.equal(ZIS .. "/connections/demo?name=conn", H.last().path)
    -- deleting the OAuth client deletes the connections made with it
    assert.is_true(c:delete_oauth_client("demo", made.uuid))
    fails(404, nil, c:get_connection("demo", "conn", "oauth"))
    assert.equal(0, #assert(c:list_oauth_clients("demo")).clients)
  end)

  it("grant_type is optional (authorization_code), and such a flow ends in a browser", function()
    local ac = { name = "web", client_id = "cid", client_secret = "fake-secret",
                 auth_url = "https://provider.example/authorize", token_url = "https://provider.example/token" }
    local made = assert(c:create_oauth_client("demo", ac))
    assert.is_nil(zis.decode_json(H.last().body).grant_type)
    assert.equal("authorization_code", assert(c:get_oauth_client("demo", made.uuid)).oauth_client.grant_type)
    local flow = assert(c:start_oauth_flow("demo", { name = "webconn", oauth_client_name = "web" }))
    assert.matches("^https://provider.example/authorize", flow.redirect_url)
  end)

  it("finishes a flow only on this client's host and integration", function()
    local base = H.url .. ZIS .. "/connections/oauth/access_codes/"
    refuses("sent to no other place", function()
      c:finish_oauth_flow("demo", "https://evil.example" .. ZIS ..
                                  "/connections/oauth/access_codes/demo?verification_code=x")
    end)
    refuses("sent to no other place", function() c:finish_oauth_flow("demo", base .. "other?verification_code=x") end)
    refuses("no verification_code", function() c:finish_oauth_flow("demo", base .. "demo?code=x") end)
    fails(404, nil, c:finish_oauth_flow("demo", "fake-unknown-code"))
    assert.equal(ZIS .. "/connections/oauth/access_codes/demo?verification_code=fake-unknown-code", H.last().path)
  end)

  it("returns the documented errors", function()
    assert(c:create_oauth_client("demo", CLIENT))
    fails(409, "1010", c:create_oauth_client("demo", CLIENT))
    fails(404, "1020", c:update_oauth_client("demo", "no-such-uuid", { name = "x" }))
    fails(400, "1010", c:create_oauth_client("demo", { name = "y" }))
    fails(404, "1020", c:start_oauth_flow("demo", { name = "conn", oauth_client_name = "nope" }))
    fails(400, "1010", c:start_oauth_flow("demo", { name = "conn" }))
  end)

  it("has no PUT for OAuth clients (the API refuses it with 405)", function()
    assert.is_nil(c.replace_oauth_client)
    refuses("table expected", function() c:update_oauth_client("demo", "u") end)
  end)
end)

describe("ZIS services through the client: links", function()
  before_each(setup)
  after_each(function() c:close() admin:close() end)

  local function link(l, r)
    return assert(c:create_link("demo", { link_type = "ticket_order", left_object = { name = l },
                                          right_object = { name = r, metadata = { n = 1 } } }))
  end

  it("creates, lists with wildcards, merges and deletes", function()
    local made = link("zendesk:ticket:1", "acme:order:9")
    assert.equal("ticket_order", made.link.link_type)
    link("zendesk:ticket:2", "acme:order:8")
    local page = assert(c:list_links("demo", { link_type = "ticket_order", left_object_name = "zendesk:*" }))
    assert.equal(2, #page.links)
    local up = assert(c:update_link("demo", { link_type = "ticket_order", left_object_name = "zendesk:ticket:1" },
                                    { right_object = { metadata = { m = 2 } } }))
    assert.same({ n = 1, m = 2 }, up.link.right_object.metadata)
    assert.is_true(c:delete_link("demo", { link_type = "ticket_order", right_object_name = "acme:order:8" }))
    assert.equal(1, #assert(c:list_links("demo", { link_type = "*", left_object_name = "*" })).links)
  end)

  it("pages with the links iterator", function()
    for i = 1, 5 do link("l" .. i, "r" .. i) end
    local n = 0
    for x in c:links("demo", { link_type = "ticket_order", left_object_name = "l*", page_size = 2 }) do
      n = n + 1
      assert.equal("l" .. n, x.left_object.name)
    end
    assert.equal(5, n)
    assert.equal(3, count(ZIS .. "/links/demo?", "GET"))
  end)

  it("returns the documented errors", function()
    fails(404, "1020", c:update_link("demo", { link_type = "t", left_object_name = "x" }, { left_object = {} }))
    -- a DELETE that matches nothing: nothing to delete (docs/zendesk-api.md, Unsettled)
    assert.is_true(c:delete_link("demo", { link_type = "t", left_object_name = "x" }))
    fails(400, "1010", c:create_link("demo", { link_type = "t", left_object = { name = "a" } }))
  end)

  it("raises without link_type or an object name, before any request", function()
    refuses("option 'link_type' is required", function() c:list_links("demo", { left_object_name = "a" }) end)
    refuses("give left_object_name or right_object_name", function() c:list_links("demo", { link_type = "t" }) end)
    refuses("give left_object_name or right_object_name", function() c:delete_link("demo", { link_type = "t" }) end)
    refuses("to 'links'", function() c:links("demo", { link_type = "t" }) end)
    refuses("unknown option 'page_size'", function()
      c:update_link("demo", { link_type = "t", left_object_name = "a", page_size = 2 }, {}) end)
  end)

  it("encodes the query: link_type and names percent-encoded, in a fixed order", function()
    c:list_links("demo", { link_type = "a b", left_object_name = "zendesk:ticket:*", right_object_name = "x&y=z" })
    assert.equal(ZIS .. "/links/demo?link_type=a%20b&left_object_name=zendesk%3Aticket%3A%2A" ..
                 "&right_object_name=x%26y%3Dz", H.last().path)
    link("a", "b")
    assert.same({ link_type = "ticket_order", left_object = { name = "a" }, right_object = { name = "b",
                  metadata = { n = 1 } } }, zis.decode_json(H.last().body))
  end)
end)

describe("ZIS services through the client: inbound webhooks", function()
  before_each(setup)
  after_each(function() c:close() admin:close() end)

  it("lists and deletes them by uuid; deleting revokes the credentials", function()
    local w1 = assert(c:create_inbound_webhook("demo", { source_system = "acme", event_type = "a" }))
    local w2 = assert(c:create_inbound_webhook("demo", { source_system = "acme", event_type = "b" }))
    assert.not_equal(w1.id, w1.uuid)   -- the id is not the uuid
    local list = assert(c:list_inbound_webhooks("demo"))
    assert.equal(ZIS .. "/inbound_webhooks/generic/demo/all", H.last().path)
    assert.equal(2, #list.webhooks)
    assert.is_nil(list.webhooks[1].password)
    assert.is_true(c:delete_inbound_webhook("demo", w1.uuid))
    assert.equal("DELETE", H.last().method)
    assert.equal(ZIS .. "/inbound_webhooks/generic/demo/" .. w1.uuid, H.last().path)
    fails(404, "1020", c:get_inbound_webhook("demo", w1.uuid))
    assert.equal(1, #assert(c:list_inbound_webhooks("demo")).webhooks)
    assert.equal(w2.uuid, assert(c:list_inbound_webhooks("demo")).webhooks[1].uuid)
  end)

  it("steers code from the id to the uuid, before any request", function()
    local w = assert(c:create_inbound_webhook("demo", { source_system = "acme", event_type = "a" }))
    refuses("looks like the webhook's id", function() c:get_inbound_webhook("demo", w.id) end)
    refuses("looks like the webhook's id", function() c:delete_inbound_webhook("demo", w.id) end)
    refuses("looks like the webhook's id", function() c:delete_inbound_webhook("demo", "12345") end)
  end)

  it("creates one (credentials shown once) and shows it without the password", function()
    local w = assert(c:create_inbound_webhook("demo", { source_system = "acme", event_type = "order.created" }))
    assert.equal("string", type(w.username))
    assert.equal("string", type(w.password))
    assert.matches("/inbound_webhooks/generic/ingest/", w.path, 1, true)
    assert.equal('{"source_system":"acme","event_type":"order.created"}', H.last().body)
    local shown = assert(c:get_inbound_webhook("demo", w.uuid))
    assert.equal(w.username, shown.username)
    assert.is_nil(shown.password)
    fails(404, "1020", c:get_inbound_webhook("demo", "no-such-uuid"))
  end)

  it("raises without source_system or event_type", function()
    refuses("option 'event_type' is required", function()
      c:create_inbound_webhook("demo", { source_system = "acme" }) end)
    refuses("unknown option 'password'", function()
      c:create_inbound_webhook("demo", { source_system = "a", event_type = "b", password = "x" }) end)
  end)
end)

describe("ZIS services through the client: the integration's token", function()
  before_each(setup)
  after_each(function()
    c:close()
    admin:close()
    H.control("POST", "config", { token_ttl = 1800 })
  end)

  it("integration_token mints through the Support API with the admin's basic credentials", function()
    local t = assert(admin:integration_token("demo"))
    assert.equal(TOKEN_PREFIX, t.token:sub(1, #TOKEN_PREFIX))
    assert.equal("integer", math.type(t.client_id))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", t.expires_at)
    assert.is_true(t.expires_in > 1700 and t.expires_in <= 1800)
    local log = H.log()
    assert.equal("/api/v2/oauth/clients?page=1&per_page=100", log[#log - 1].path)
    assert.equal("/api/v2/oauth/tokens", log[#log].path)
    assert.matches("^Basic ", log[#log].headers.authorization)
    -- the body's key order is the encoder's; its meaning is exact
    local sent = log[#log].body
    assert.is_true(sent == '{"token":{"client_id":' .. t.client_id .. ',"scopes":["read","write"]}}' or
                   sent == '{"token":{"scopes":["read","write"],"client_id":' .. t.client_id .. '}}', sent)
  end)

  it("uses create_integration's client id without a lookup", function()
    H.reset()
    local a = H.client()
    assert(a:create_integration("fresh"))
    assert(a:integration_token("fresh"))
    assert.equal(0, count("/api/v2/oauth/clients"))
    a:close()
  end)

  it("returns an error object for an integration with no OAuth client; raises on a bad name", function()
    local err = fails(404, nil, admin:integration_token("ghost"))
    assert.matches("zis_ghost", tostring(err), 1, true)
    refuses("integration name", function() admin:integration_token("Bad Name") end)
    refuses("integration name", function() admin:for_integration("") end)
  end)

  it("mints on first use, then reuses the token", function()
    assert.equal(0, count("/api/v2/oauth/tokens"))
    assert(c:list_configs("demo", { scope = "*" }))
    assert(c:list_connections("demo"))
    assert(c:list_oauth_clients("demo"))
    assert.equal(1, count("/api/v2/oauth/tokens", "POST"))
    for _, l in ipairs(services_log()) do
      assert.equal(TOKEN_PREFIX .. "demo-", l.headers.authorization:match("^Bearer (.*%-)%d+$"))
    end
  end)

  it("mints again after a 401 (the token expired early) and the call succeeds", function()
    assert(c:list_configs("demo", { scope = "*" }))
    H.control("POST", "tokens/expire", { integration = "demo" })
    events = {}
    assert(c:list_configs("demo", { scope = "*" }))
    assert.equal(2, count("/api/v2/oauth/tokens", "POST"))
    local statuses = {}
    for _, e in ipairs(events) do statuses[#statuses + 1] = e.status end
    -- the 401, the mint (on the admin), the retried call (404: no config
    -- matches yet, which is an empty list)
    assert.same({ 401, 201, 404 }, statuses)
  end)

  it("mints again shortly before the token runs out, without a 401", function()
    H.control("POST", "config", { token_ttl = 3 })
    assert(c:list_configs("demo", { scope = "*" }))
    require("socket").sleep(2.8)
    events = {}
    assert(c:list_configs("demo", { scope = "*" }))
    assert.equal(2, count("/api/v2/oauth/tokens", "POST"))
    for _, e in ipairs(events) do assert.not_equal(401, e.status) end
  end)

  it("returns the mint's failure from the call, and sends no ZIS request", function()
    local g = admin:for_integration("ghost")
    local err = fails(404, nil, g:list_configs("ghost", { scope = "*" }))
    assert.equal("/api/v2/oauth/clients", err.path)
    assert.equal(0, #services_log())
    g:close()
  end)

  it("a token of one integration is never sent for another: the call fails before any request", function()
    assert(admin:create_integration("other"))
    local before = #H.log()
    local res, err = c:list_configs("other", { scope = "*" })
    assert.is_nil(res)
    assert.equal("auth", err.kind)
    assert.matches("bound to integration 'demo'", tostring(err), 1, true)
    assert.matches("for_integration('other')", tostring(err), 1, true)
    assert.equal(before, #H.log())
    -- Zendesk's own answer to such a token, for whoever sends one anyway
    local t = assert(admin:integration_token("demo"))
    local raw = zis.new{ url = H.url, oauth_token = t.token, retries = 0 }
    fails(401, "1001", raw:list_configs("other", { scope = "*" }))
    raw:close()
  end)

  it("never shows the token in errors, hook events or tostring", function()
    local t = assert(admin:integration_token("demo"))
    assert(c:list_configs("demo", { scope = "*" }))
    local err = select(2, c:delete_config("demo", "nope"))
    H.control("POST", "tokens/expire", {})
    c:list_links("demo", { link_type = "x", left_object_name = "y" })
    local function clean(s)
      assert.is_nil(s:find(TOKEN_PREFIX, 1, true), s)
      assert.is_nil(s:find(t.token, 1, true), s)
    end
    clean(tostring(c))
    clean(tostring(admin))
    clean(tostring(err))
    for k, v in pairs(err) do clean(tostring(k) .. "=" .. tostring(v)) end
    for _, e in ipairs(events) do
      for k, v in pairs(e) do clean(tostring(k) .. "=" .. tostring(v)) end
    end
    assert.is_true(#events >= 5)
  end)

  it("never shows the token in debug output", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      local zis = require "zis"
      local admin = zis.new{ url = %q, email = %q, token = %q, retries = 0, debug = true }
      local c = admin:for_integration("demo")
      assert(c:list_configs("demo", { scope = "*" }))
      assert(c:create_config("demo", "x", {}))
      local t = assert(admin:integration_token("demo"))
      io.stdout:write(t.token)
    ]], H.url, H.email, H.token))
    f:close()
    local out, errf = os.tmpname(), os.tmpname()
    local ok = os.execute("lua5.4 " .. script .. " >" .. out .. " 2>" .. errf)
    local token, debug = H.read(out), H.read(errf)
    os.remove(script) os.remove(out) os.remove(errf)
    assert.is_true(ok, debug)
    assert.equal(TOKEN_PREFIX, token:sub(1, #TOKEN_PREFIX))
    assert.matches("zis: POST /api/v2/oauth/tokens -> 201", debug, 1, true)
    assert.matches("zis: POST " .. ZIS .. "/integrations/demo/configs -> 201", debug, 1, true)
    assert.is_nil(debug:find(TOKEN_PREFIX, 1, true), debug)
  end)
end)

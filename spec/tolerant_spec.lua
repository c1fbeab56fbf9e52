-- Where no source settles what Zendesk answers, lua-zis takes every shape
-- (docs/zendesk-api.md, "Unsettled"): each reading, each way, with the
-- local registry switched between them (POST /__mock/config {readings =
-- {...}}; a reset restores its defaults) or, for shapes it never makes,
-- a queued fault.
local zis = require "zis"
local core = require "zis.core"
local H = require "spec.helper"
local R = require "spec.mock_http"

local ZIS = "/api/services/zis"
local CONFIGS = ZIS .. "/integrations/demo/configs"
local CONN = ZIS .. "/integrations/demo/connections/bearer_token/tok1"
local BUNDLES = ZIS .. "/registry/demo/bundles"

-- Switches the registry's readings (each named in zis.mock.state.READINGS).
local function reading(t) H.control("POST", "config", { readings = t }) end

-- The requests the registry received after entry `from`, as "METHOD
-- path" (the query kept), leaving out the token mints (and the lookup of
-- the OAuth client's id before the first).
local function sent(from)
  local out = {}
  local log = H.log()
  for i = from + 1, #log do
    local r = log[i]
    if not r.path:match("^/api/v2/oauth/") and not r.path:match("^/oauth/tokens") then
      out[#out + 1] = r.method .. " " .. r.path
    end
  end
  return out
end

-- The same, the query left out.
local function sent_paths(from)
  local out = sent(from)
  for i, s in ipairs(out) do out[i] = s:gsub("%?.*", "") end
  return out
end

describe("both readings of what no source settles", function()
  local admin, c
  before_each(function()
    H.fresh("demo")
    admin = H.client()
    c = admin:for_integration("demo")
  end)
  after_each(function()
    c:close()
    admin:close()
    H.reset()   -- the readings' defaults, for the next file
  end)

  -- An OAuth client with the client-credentials grant, and a flow for a
  -- connection `name` started with it: the flow's redirect_url.
  local function oauth_flow(name)
    assert(c:create_oauth_client("demo", { name = "provider", client_id = "cid", client_secret = "fake-secret",
                                           token_url = "https://provider.example/token",
                                           grant_type = "client_credentials" }))
    return assert(c:start_oauth_flow("demo", { name = name, oauth_client_name = "provider" })).redirect_url
  end

  it("a search with no match: 404 or an empty 200, the same empty list (configs, links)", function()
    local cases = {
      { ZIS .. "/integrations/demo/configs", function() return c:list_configs("demo", { scope = "x*" }) end,
        function() local n = 0 for _ in c:configs("demo", { scope = "x*" }) do n = n + 1 end return n end,
        "configs" },
      { ZIS .. "/links/demo", function() return c:list_links("demo", { link_type = "t", left_object_name = "x" }) end,
        function() local n = 0 for _ in c:links("demo", { link_type = "t", left_object_name = "x" }) do n = n + 1 end
          return n end, "links" },
    }
    for _, case in ipairs(cases) do
      local path, list, loop, key = case[1], case[2], case[3], case[4]
      for _, answer in ipairs{ { status = 404, body = '{"errors":[{"code":"1020","detail":"none","status":"404"}]}' },
                               { status = 200, body = '{"' .. key .. '":[],"meta":{"has_more":false}}' } } do
        H.faults{ { method = "GET", path = path, status = answer.status, body = answer.body, times = 2 } }
        local page = assert(list())
        assert.same({}, page[key], path .. " " .. answer.status)
        assert.is_false(page.meta.has_more)
        assert.equal(0, loop())
      end
    end
    -- the registry's own links answer, either way
    for _, status in ipairs{ 200, 404 } do
      reading{ links_get_no_match = status }
      assert.same({}, assert(c:list_links("demo", { link_type = "t", left_object_name = "x" })).links)
      assert.equal(0, cases[2][3]())
    end
  end)

  it("a typed connection read, bare or wrapped", function()
    assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "fake",
                                                          allowed_domain = "api.example.com" }))
    local reads = {}
    for _, shape in ipairs{ "wrapped", "bare" } do
      reading{ connection_read = shape }
      reads[shape] = assert(c:get_connection("demo", "tok1", "bearer_token"))
    end
    for shape, x in pairs(reads) do
      assert.equal("tok1", x.name, shape)
      assert.equal("bearer_token", x.type, shape)
      assert.equal("api.example.com", x.allowed_domain, shape)
      assert.equal("*****", x.token, shape)
    end
    -- the registry did answer both ways
    local tok = H.bound_token("demo")
    reading{ connection_read = "wrapped" }
    assert.equal("tok1", R.zis("GET", CONN, tok).json.bearer_token.name)
    reading{ connection_read = "bare" }
    assert.equal("tok1", R.zis("GET", CONN, tok).json.name)
  end)

  it("a typed connection update: PATCH, and on 405 the same request once as PUT", function()
    assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "fake",
                                                          allowed_domain = "api.example.com" }))
    for _, verbs in ipairs{ "any", "patch", "put" } do
      reading{ connection_update = verbs }
      local n = #H.log()
      local res = assert(c:update_connection("demo", "bearer_token", "tok1", { token = "fake-" .. verbs }))
      assert.equal("tok1", res.bearer_token.name, verbs)
      if verbs == "put" then
        assert.same({ "PATCH " .. CONN, "PUT " .. CONN }, sent(n), verbs)
        local log = H.log()
        assert.equal('{"token":"fake-put"}', log[#log].body)
        assert.equal(log[#log - 1].body, log[#log].body)
      else
        assert.same({ "PATCH " .. CONN }, sent(n), verbs)
      end
    end
    -- a PUT refused too: its 405, after one retry, not more
    reading{ connection_update = "put" }
    H.faults{ { method = "PUT", path = CONN, status = 405,
                body = '{"errors":[{"code":"1010","detail":"no","status":"405"}]}' } }
    local n = #H.log()
    local res, err = c:update_connection("demo", "bearer_token", "tok1", { token = "x" })
    assert.is_nil(res)
    assert.equal(405, err.status)
    assert.equal("PUT", err.method)
    assert.same({ "PATCH " .. CONN, "PUT " .. CONN }, sent(n))
    -- any other failure is not retried
    reading{ connection_update = "any" }
    n = #H.log()
    res, err = c:update_connection("demo", "bearer_token", "nope", { token = "x" })
    assert.is_nil(res)
    assert.equal(404, err.status)
    assert.equal(1, #sent(n))
  end)

  it("allowed_domain changed by the update, or fixed (400): apply then deletes and creates again", function()
    local env = { T = "fake-token" }
    local function manifest(domain)
      return { integration = "demo", connections = {
        tok1 = { type = "bearer_token", token = { env = "T" }, allowed_domain = domain } } }
    end
    local opts = { getenv = function(k) return env[k] end }
    assert.is_true(assert(zis.apply(admin, manifest("first.example.com"), opts)).ok)
    for _, rule in ipairs{ "mutable", "immutable" } do
      reading{ allowed_domain = rule }
      local domain = rule .. ".example.com"
      local n = #H.log()
      local report = assert(zis.apply(admin, manifest(domain), opts))
      assert.is_true(report.ok, report.summary)
      assert.equal(domain, assert(c:get_connection("demo", "tok1", "bearer_token")).allowed_domain)
      local writes = {}
      for _, s in ipairs(sent_paths(n)) do if not s:match("^GET") then writes[#writes + 1] = s end end
      if rule == "mutable" then
        assert.same({ "PATCH " .. CONN }, writes)
      else
        assert.same({ "PATCH " .. CONN, "DELETE " .. CONN,
                      "POST " .. ZIS .. "/integrations/demo/connections/bearer_token" }, writes)
      end
      -- the update sent only what changed, and the secret
      local log = H.log()
      for i = n + 1, #log do
        if log[i].method == "PATCH" then
          assert.same({ allowed_domain = domain, token = "fake-token" }, zis.decode_json(log[i].body))
        end
      end
    end
    -- through the client, the 400 is the answer (no delete behind the caller's back)
    local _, err = c:update_connection("demo", "bearer_token", "tok1", { allowed_domain = "other.example.com" })
    assert.equal(400, err.status)
    assert.matches("allowed_domain", err.detail)
  end)

  it("the legacy read for a typed name: 404, then the typed reads; an OAuth name: the legacy answer", function()
    assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "fake",
                                                          allowed_domain = "api.example.com" }))
    assert(c:finish_oauth_flow("demo", oauth_flow("prov_conn")))
    local n = #H.log()
    local typed = assert(c:get_connection("demo", "tok1"))
    assert.equal("bearer_token", typed.type)
    assert.same({ "GET " .. ZIS .. "/connections/demo", "GET " .. ZIS .. "/integrations/demo/connections/api_key/tok1",
                  "GET " .. ZIS .. "/integrations/demo/connections/basic_auth/tok1", "GET " .. CONN },
                sent_paths(n))
    n = #H.log()
    local oauth = assert(c:get_connection("demo", "prov_conn"))
    assert.equal("oauth", oauth.type)
    assert.same({ "GET " .. ZIS .. "/connections/demo" }, sent_paths(n))
    local _, err = c:get_connection("demo", "nobody")
    assert.equal(404, err.status)
    assert.matches("no connection named 'nobody' %(of any type%)", err.message)
  end)

  describe("the configs cursor", function()
    local function seed()
      for i = 1, 5 do assert(c:create_config("demo", "s" .. i, { n = i })) end
    end
    local function scopes(opts)
      local out = {}
      for x in c:configs("demo", opts or { scope = "s*", page_size = 2 }) do out[#out + 1] = x.scope end
      return out
    end

    it("meta.after, links.next (its page[after], or its query as it is), or a top-level next", function()
      seed()
      for _, mode in ipairs{ "meta", "links", "links_query", "next" } do
        reading{ configs_cursor = mode }
        local n = #H.log()
        assert.same({ "s1", "s2", "s3", "s4", "s5" }, scopes(), mode)
        local gets = sent(n)
        assert.equal(3, #gets, mode)
        for _, g in ipairs(gets) do assert.equal("GET " .. CONFIGS, g:gsub("%?.*", ""), mode) end
        if mode == "links_query" then
          -- the URL's own query, as it is
          assert.matches("?filter%%5Bscope%%5D=s%%2A&page%%5Bsize%%5D=2&cursor=%d+$", gets[2], mode)
        else
          -- the client's own query, with the cursor (from the URL's page[after] in "links")
          assert.matches("?page%%5Bsize%%5D=2&page%%5Bafter%%5D=%d+&filter%%5Bscope%%5D=s%%2A$", gets[2], mode)
        end
        assert.matches("filter%5Bscope%5D=s%2A", gets[3], 1, true)
        -- the single call hands over the page as answered
        local page = assert(c:list_configs("demo", { scope = "s*", page_size = 2 }))
        if mode == "meta" then assert.is_string(page.meta.after)
        elseif mode == "next" then assert.equal("integer", math.type(page.next))
        else assert.is_string(page.links.next) end
      end
    end)

    it("ends when has_more is false or no cursor is given, even with has_more true", function()
      for _, body in ipairs{ '{"configs":[{"scope":"a"}],"meta":{"has_more":false,"after":"9"}}',
                             '{"configs":[{"scope":"a"}],"meta":{"has_more":true}}',
                             '{"configs":[{"scope":"a"}],"links":{"next":null},"next":null}',
                             '{"configs":[{"scope":"a"}]}' } do
        H.faults{ { method = "GET", path = CONFIGS, status = 200, body = body } }
        local n = #H.log()
        assert.same({ "a" }, scopes({ scope = "*" }), body)
        assert.equal(1, #sent(n), body)
      end
    end)

    it("a plain cursor in next or links.next is sent as page[after]", function()
      for _, body in ipairs{ '{"configs":[{"scope":"a"}],"next":"abc"}',
                             '{"configs":[{"scope":"a"}],"links":{"next":"abc"}}',
                             '{"configs":[{"scope":"a"}],"meta":{"after":null},"links":{"next":"abc"}}' } do
        H.faults{ { method = "GET", path = CONFIGS, status = 200, body = body },
                  { method = "GET", path = CONFIGS, status = 200, body = '{"configs":[{"scope":"b"}]}' } }
        local n = #H.log()
        assert.same({ "a", "b" }, scopes({ scope = "*" }), body)
        local gets = sent(n)
        assert.equal("GET " .. CONFIGS .. "?page%5Bafter%5D=abc&filter%5Bscope%5D=%2A", gets[2], body)
      end
    end)

    it("never follows a URL to another host or another path: it raises, and sends nothing more", function()
      -- a host of the same length as the registry's, so that only the check refuses it
      local other = H.url:gsub("127%.0%.0%.1", "127.0.0.2")
      for _, case in ipairs{
        { other .. CONFIGS .. "?page%5Bafter%5D=9", "links.next is on another host: not followed" },
        { "https://evil.example" .. CONFIGS .. "?page%5Bafter%5D=9", "links.next is on another host" },
        { H.url .. ZIS .. "/integrations/other/configs?page%5Bafter%5D=9", "links.next is another path" },
        { "//evil.example" .. CONFIGS .. "?page%5Bafter%5D=9", "links.next is another path" },
        { H.url .. "@evil.example" .. CONFIGS .. "?page%5Bafter%5D=9", "links.next is on another host" },
      } do
        H.faults{ { method = "GET", path = CONFIGS, status = 200,
                    body = '{"configs":[{"scope":"a"}],"links":{"next":"' .. case[1] .. '"}}' } }
        local n = #H.log()
        local seen = 0
        local ok, err = pcall(function() for _ in c:configs("demo", { scope = "*" }) do seen = seen + 1 end end)
        assert.is_false(ok, case[1])
        assert.is_true(zis.is_error(err), tostring(err))
        assert.equal("decode", err.kind)
        assert.matches(case[2], err.message, 1, true)
        assert.equal(1, seen)
        assert.equal(1, #sent(n), case[1])
      end
    end)

    it("refuses a repeated cursor or a next that is not one", function()
      local page = '{"configs":[{"scope":"a"}],"links":{"next":"' .. CONFIGS .. '?cursor=same"}}'
      H.faults{ { method = "GET", path = CONFIGS, status = 200, body = page, times = 3 } }
      local ok, err = pcall(function() for _ in c:configs("demo", { scope = "*" }) do end end)
      assert.is_false(ok)
      assert.matches("repeated cursor", err.message)
      H.reset()
      H.faults{ { method = "GET", path = CONFIGS, status = 200, body = '{"configs":[{"scope":"a"}],"next":{"x":1}}' } }
      ok, err = pcall(function() for _ in c:configs("demo", { scope = "*" }) do end end)
      assert.is_false(ok)
      assert.equal("next is not a cursor", err.message)
    end)
  end)

  it("configs PUT and PATCH bodies, with or without scope, are taken alike", function()
    assert(c:create_config("demo", "settings", { a = 1 }))
    local tok = H.bound_token("demo")
    for _, with_scope in ipairs{ false, true } do
      for _, verb in ipairs{ "PUT", "PATCH" } do
        local body = { config = { b = verb } }
        if with_scope then body.scope = "settings" end
        local res = R.zis(verb, CONFIGS .. "/settings", tok, { body = body })
        assert.equal(200, res.status, verb)
        assert.equal(verb, res.json.config.config.b)
      end
    end
    -- lua-zis sends the config alone
    assert(c:replace_config("demo", "settings", { c = 3 }))
    assert.equal('{"config":{"c":3}}', H.last().body)
  end)

  it("a delete answered 204 or 200: true either way (configs, links, OAuth clients, and the rest)", function()
    for _, status in ipairs{ 204, 200 } do
      H.fresh("demo")
      reading{ delete_status = status }
      assert(c:create_config("demo", "settings", { a = 1 }))
      assert(c:create_link("demo", { link_type = "t", left_object = { name = "l" }, right_object = { name = "r" } }))
      local oc = assert(c:create_oauth_client("demo", { name = "p", client_id = "i", client_secret = "s",
                                                        token_url = "https://p.example/t",
                                                        grant_type = "client_credentials" }))
      assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "f",
                                                            allowed_domain = "a.example.com" }))
      local w = assert(c:create_inbound_webhook("demo", { source_system = "s", event_type = "e" }))
      assert(admin:upload_bundle("demo", H.bundle("demo", "b1")))
      local uuid = assert(admin:list_bundles("demo")).bundles[1].uuid
      local n = #H.log()
      assert.is_true(c:delete_config("demo", "settings"))
      assert.is_true(c:delete_link("demo", { link_type = "t", left_object_name = "l" }))
      assert.is_true(c:delete_oauth_client("demo", oc.uuid))
      assert.is_true(c:delete_connection("demo", "bearer_token", "tok1"))
      assert.is_true(c:delete_inbound_webhook("demo", w.uuid))
      assert.is_true(admin:delete_bundle("demo", uuid))
      local log = H.log()
      assert.equal(6, #log - n)
      for i = n + 1, #log do assert.equal("DELETE", log[i].method) end
    end
    -- what the registry answered
    reading{ delete_status = 200 }
    assert(c:create_config("demo", "x", {}))
    local res = R.zis("DELETE", CONFIGS .. "/x", H.bound_token("demo"))
    assert.equal(200, res.status)
  end)

  it("links: a DELETE that matches nothing (404 or 204) is nothing to delete; a PATCH's 404 is an error", function()
    local query = { link_type = "t", left_object_name = "none" }
    for _, status in ipairs{ 404, 204 } do
      reading{ links_delete_no_match = status }
      local n = #H.log()
      assert.is_true(c:delete_link("demo", query))
      assert.equal(1, #sent(n))
      assert.equal(status, R.zis("DELETE", ZIS .. "/links/demo?link_type=t&left_object_name=none",
                                 H.bound_token("demo")).status)
    end
    local _, err = c:update_link("demo", query, { left_object = { metadata = { a = 1 } } })
    assert.equal(404, err.status)
    -- another failure of a DELETE is still one
    H.faults{ { method = "DELETE", path = ZIS .. "/links/demo", status = 500, body = "{}" } }
    _, err = c:delete_link("demo", query)
    assert.equal(500, err.status)
  end)

  it("an OAuth client read: {oauth_client}, {client} or bare, answered as {oauth_client = ...}", function()
    local oc = assert(c:create_oauth_client("demo", { name = "provider", client_id = "cid", client_secret = "s",
                                                      token_url = "https://p.example/t",
                                                      grant_type = "client_credentials" }))
    local tok = H.bound_token("demo")
    for _, shape in ipairs{ "oauth_client", "client", "bare" } do
      reading{ oauth_client_show = shape }
      local raw = R.zis("GET", ZIS .. "/connections/oauth/clients/demo/" .. oc.uuid, tok).json
      assert.equal("provider", (shape == "bare" and raw or raw[shape]).name, shape)
      local one = assert(c:get_oauth_client("demo", oc.uuid))
      assert.equal("provider", one.oauth_client.name, shape)
      assert.equal(oc.uuid, one.oauth_client.uuid, shape)
      assert.equal("*****", one.oauth_client.client_secret, shape)
      local code, out = H.zis_main{ "oauth-clients", "get", "demo", oc.uuid }
      assert.equal(0, code)
      assert.equal("provider", zis.decode_json(out).oauth_client.name, shape)
    end
    -- an answer that is no object at all is an error, not a client
    H.faults{ { method = "GET", path = ZIS .. "/connections/oauth/clients/demo/" .. oc.uuid, status = 200,
                body = "[1]" } }
    local _, err = c:get_oauth_client("demo", oc.uuid)
    assert.equal("decode", err.kind)
  end)

  it("the OAuth client list: {clients}, a bare array or {oauth_clients}, answered as {clients = ...}", function()
    assert(c:create_oauth_client("demo", { name = "provider", client_id = "cid", client_secret = "s",
                                           token_url = "https://p.example/t", grant_type = "client_credentials" }))
    local tok = H.bound_token("demo")
    for _, shape in ipairs{ "clients", "array", "oauth_clients" } do
      reading{ oauth_client_list = shape }
      local raw = R.zis("GET", ZIS .. "/connections/oauth/clients/demo", tok).json
      assert.equal("provider", (shape == "array" and raw or raw[shape])[1].name, shape)
      local list = assert(c:list_oauth_clients("demo"))
      assert.equal(1, #list.clients, shape)
      assert.equal("provider", list.clients[1].name, shape)
      local code, out = H.zis_main{ "oauth-clients", "list", "demo" }
      assert.equal(0, code)
      assert.matches("provider", out, 1, true)
      -- plan reads it too: the client is known, so nothing to create
      local p = assert(zis.plan(admin, { integration = "demo", oauth_clients = { provider = {
        client_id = "cid", client_secret = { env = "S" }, token_url = "https://p.example/t",
        grant_type = "client_credentials" } } }, { getenv = function() return "s" end }))
      assert.equal(0, p.changes, shape .. ": " .. p.summary)
    end
    H.faults{ { method = "GET", path = ZIS .. "/connections/oauth/clients/demo", status = 200, body = '{"x":1}' } }
    local _, err = c:list_oauth_clients("demo")
    assert.equal("decode", err.kind)
  end)

  it("access_codes: any 2xx finishes the flow; with the name, the legacy read confirms it", function()
    for i, shape in ipairs{ "json", "empty", "text", "created" } do
      reading{ access_code = shape }
      local name = "conn_" .. i
      if i > 1 then assert(c:delete_oauth_client("demo", assert(c:list_oauth_clients("demo")).clients[1].uuid)) end
      local res = assert(c:finish_oauth_flow("demo", oauth_flow(name)))
      if shape == "json" or shape == "created" then
        assert.equal(name, res.name, shape)
      else
        assert.is_true(res, shape)
      end
      -- again, naming the connection: the answer is the connection, read back
      local url = assert(c:start_oauth_flow("demo", { name = name, oauth_client_name = "provider" })).redirect_url
      local n = #H.log()
      local conn = assert(c:finish_oauth_flow("demo", url, { name = name }))
      assert.equal(name, conn.name, shape)
      assert.equal("oauth", conn.type, shape)
      assert.same({ "GET " .. ZIS .. "/connections/oauth/access_codes/demo", "GET " .. ZIS .. "/connections/demo" },
                  sent_paths(n))
    end
    -- a success with no such connection behind it is said plainly
    H.faults{ { method = "GET", path = ZIS .. "/connections/oauth/access_codes/demo", status = 204 } }
    local _, err = c:finish_oauth_flow("demo", "code-x", { name = "ghost" })
    assert.equal(404, err.status)
    assert.matches("access_codes GET succeeded, but there is no OAuth connection named 'ghost'", err.message, 1, true)
    assert.has_error(function() c:finish_oauth_flow("demo", "x", { name = "" }) end,
                     "bad argument #3 to 'finish_oauth_flow' (option 'name' must be a non-empty string)")
    assert.has_error(function() c:finish_oauth_flow("demo", "x", { nam = "a" }) end,
                     "bad argument #3 to 'finish_oauth_flow' (unknown option 'nam')")
  end)

  it("the inbound webhook list: there, or 404 (listing unavailable, not an empty list)", function()
    local w = assert(c:create_inbound_webhook("demo", { source_system = "s", event_type = "e" }))
    reading{ webhook_list = "all" }
    assert.equal(w.uuid, assert(c:list_inbound_webhooks("demo")).webhooks[1].uuid)
    reading{ webhook_list = "missing" }
    local res, err = c:list_inbound_webhooks("demo")
    assert.is_nil(res)
    assert.equal(404, err.status)
    assert.matches("listing is unavailable, which does not mean there are none", err.hint, 1, true)
    local code, _, stderr = H.zis_main{ "webhooks", "list", "demo" }
    assert.equal(1, code)
    assert.matches("listing is unavailable", stderr, 1, true)
    -- plan goes on without the list, from the webhooks apply recorded
    local m = { integration = "demo", inbound_webhooks = { { source_system = "s2", event_type = "e2" } } }
    local report = assert(zis.apply(admin, m, { on_credentials = function() end }))
    assert.is_true(report.ok, report.summary)
    local p = assert(zis.plan(admin, m))
    assert.equal(0, p.changes, p.summary)
  end)

  it("an inbound webhook create answered 201 or 200: the credentials either way", function()
    for _, status in ipairs{ 201, 200 } do
      reading{ webhook_create_status = status }
      local w = assert(c:create_inbound_webhook("demo", { source_system = "s" .. status, event_type = "e" }))
      assert.is_string(w.uuid)
      assert.matches("^fake%-webhook%-password%-", w.password)
      local log = H.log()
      assert.equal("POST", log[#log].method)
    end
    local tok = H.bound_token("demo")
    assert.equal(200, R.zis("POST", ZIS .. "/inbound_webhooks/generic/demo", tok,
                            { body = { source_system = "x", event_type = "y" } }).status)
  end)

  it("connections/all with live OAuth tokens, the token answer too, or none: never printed unasked", function()
    assert(c:finish_oauth_flow("demo", oauth_flow("prov_conn")))
    local live = assert(c:get_connection("demo", "prov_conn", "oauth"))
    for _, shape in ipairs{ "tokens", "full", "none" } do
      reading{ oauth_listing = shape }
      local item
      for x in c:connections("demo") do if x.name == "prov_conn" then item = x end end
      if shape == "none" then
        assert.is_nil(item.access_token)
      else
        assert.equal(live.access_token, item.access_token)
        if shape == "full" then assert.matches(live.access_token, item.oauth_access_token_response_body, 1, true) end
      end
      for _, argv in ipairs{ { "connections", "list", "demo" }, { "--json", "connections", "list", "demo" },
                             { "--json", "connections", "get", "demo", "prov_conn" } } do
        local code, out, err = H.zis_main(argv)
        assert.equal(0, code)
        for _, secret in ipairs{ live.access_token, live.refresh_token } do
          assert.is_nil(out:find(secret, 1, true), shape .. " " .. table.concat(argv, " "))
          assert.is_nil(err:find(secret, 1, true), shape .. " " .. table.concat(argv, " "))
        end
      end
      local _, out = H.zis_main{ "--json", "connections", "list", "demo" }
      local listed = zis.decode_json(out)[1]
      if shape ~= "none" then assert.equal("*****", listed.access_token) end
      if shape == "full" then assert.equal("*****", listed.oauth_access_token_response_body) end
      _, out = H.zis_main{ "--json", "connections", "list", "demo", "--show-secrets" }
      if shape ~= "none" then assert.equal(live.access_token, zis.decode_json(out)[1].access_token) end
    end
  end)

  it("a bundle delete answered 204 or 200 (never part of an automatic step: spec/plan_prune_spec.lua)", function()
    for _, status in ipairs{ 204, 200 } do
      reading{ delete_status = status }
      assert(admin:upload_bundle("demo", H.bundle("demo", "b" .. status)))
      local uuid
      for b in admin:bundles("demo") do if b.name == "b" .. status then uuid = b.uuid end end
      assert.is_true(admin:delete_bundle("demo", uuid))
      -- what the registry answered
      assert(admin:upload_bundle("demo", H.bundle("demo", "b" .. status)))
      for b in admin:bundles("demo") do if b.name == "b" .. status then uuid = b.uuid end end
      assert.equal(status, R.request("DELETE", BUNDLES .. "/" .. uuid).status)
    end
  end)

  it("a bundle upload answered 200 or 201, empty, text or JSON: true each way", function()
    for _, status in ipairs{ 200, 201 } do
      for _, body in ipairs{ "empty", "text", "json" } do
        reading{ bundle_upload_status = status, bundle_upload_body = body }
        assert.is_true(admin:upload_bundle("demo", H.bundle("demo", "b")), status .. " " .. body)
        local res = R.request("POST", BUNDLES, { body = H.bundle("demo", "b") })
        assert.equal(status, res.status)
        assert.equal(body == "empty", res.body == "", body)
        assert.equal(body == "json", res.json ~= nil, body)
        -- deploy reads it the same way
        local report = admin:deploy("demo", H.bundle("demo", "b"))
        assert.is_true(report.ok, report.summary)
      end
    end
  end)

  it("bundles and job specs never get the admin's bearer; list integrations takes basic first, then it", function()
    local admin_oauth = zis.new{ url = H.url, oauth_client = H.oauth_client, retries = 0 }
    local both = H.client{ oauth_token = H.oauth }
    local n = #H.log()
    local _, err = admin_oauth:list_bundles("demo")
    assert.equal("auth", err.kind)
    _, err = admin_oauth:list_job_specs("demo")
    assert.equal("auth", err.kind)
    assert.same({}, sent(n))
    assert(admin_oauth:list_integrations())
    assert.matches("^Bearer ", H.last().headers.authorization)
    assert(both:list_integrations())
    assert.matches("^Basic ", H.last().headers.authorization)
    assert(both:list_bundles("demo"))
    assert.matches("^Basic ", H.last().headers.authorization)
    admin_oauth:close()
    both:close()
  end)

  it("POST /api/v2/oauth/tokens takes basic or the admin's bearer", function()
    local admin_oauth = zis.new{ url = H.url, oauth_client = H.oauth_client, retries = 0 }
    for _, client in ipairs{ admin, admin_oauth } do
      local t = assert(client:integration_token("demo"))
      assert.matches("^fake%-zis%-token%-demo%-", t.token)
      local log = H.log()
      assert.equal("/api/v2/oauth/tokens", log[#log].path)
      assert.matches(client == admin and "^Basic " or "^Bearer ", log[#log].headers.authorization)
    end
    admin_oauth:close()
  end)

  it("a client-credentials token: its expires_in when given, else 30 minutes; a 401 mints again", function()
    for _, case in ipairs{ { ttl = 600, given = true, life = 600 }, { ttl = 600, given = false, life = 1800 } } do
      H.control("POST", "config", { token_ttl = case.ttl })
      reading{ grant_expires_in = case.given }
      local oc = zis.new{ url = H.url, oauth_client = H.oauth_client, retries = 0 }
      assert(oc:list_integrations())
      local st = core.state(oc)
      local left = st.bearer_expires - core.now()
      -- renewed a little early: a tenth of the life, at most 60 s
      local early = math.min(60, case.life / 10)
      assert.is_true(math.abs(left - (case.life - early)) < 5, tostring(left))
      -- a 401 mints a new token and sends the call again
      local before = #H.log()
      H.faults{ { method = "GET", path = ZIS .. "/registry/integrations", status = 401,
                  body = '{"errors":[{"code":"1001","detail":"expired","status":"401"}]}' } }
      assert(oc:list_integrations())
      local mints = 0
      local log = H.log()
      for i = before + 1, #log do if log[i].path == "/oauth/tokens" then mints = mints + 1 end end
      assert.equal(1, mints)
      oc:close()
    end
    H.control("POST", "config", { token_ttl = 1800 })
  end)

  it("a 429 with or without Retry-After, JSON or text/plain: waited out, then the answer", function()
    local slow = H.client{ retries = 2, retry_base_delay = 0.01 }
    for _, f in ipairs{ { headers = { ["Retry-After"] = "0" }, content_type = "text/plain",
                          body = "Rate limit exceeded" },
                        { content_type = "text/plain", body = "Rate limit exceeded" },
                        { content_type = "application/json",
                          body = '{"errors":[{"code":"1040","detail":"slow down","status":"429"}]}' } } do
      f.method, f.path, f.status = "GET", ZIS .. "/registry/demo/bundles", 429
      H.faults{ f }
      local n = #H.log()
      assert(slow:list_bundles("demo"))
      assert.equal(2, #sent(n))
    end
    slow:close()
    -- not retried: the text body is kept in the error
    H.faults{ { method = "GET", path = ZIS .. "/registry/demo/bundles", status = 429, body = "Rate limit exceeded",
                content_type = "text/plain" } }
    local _, err = admin:list_bundles("demo")
    assert.equal(429, err.status)
    assert.equal("Rate limit exceeded", err.body)
  end)

  it("gzip or identity: the same answer", function()
    for i = 1, 30 do assert(c:create_config("demo", string.format("scope_%02d", i), { text = string.rep("x", 80) })) end
    local seen = {}
    for _, mode in ipairs{ "always", "never" } do
      H.control("POST", "config", { gzip = mode })
      local page = assert(c:list_configs("demo", { scope = "*", page_size = 100 }))
      seen[mode] = #page.configs
      assert.matches("gzip", H.last().headers["accept-encoding"], 1, true)
    end
    H.control("POST", "config", { gzip = "default" })
    assert.same({ always = 30, never = 30 }, seen)
  end)
end)

describe("the registry's readings switch", function()
  after_each(function() H.reset() end)

  it("refuses an unknown reading or value, and a reset restores the defaults", function()
    for _, bad in ipairs{ { nope = 1 }, { delete_status = 500 }, { configs_cursor = "links2" } } do
      local res = R.request("POST", "/__mock/config", { body = { readings = bad }, auth = false })
      assert.equal(400, res.status)
    end
    H.fresh("demo")
    H.control("POST", "config", { readings = { webhook_list = "missing" } })
    local tok = H.bound_token("demo")
    assert.equal(404, R.zis("GET", ZIS .. "/inbound_webhooks/generic/demo/all", tok).status)
    H.fresh("demo")
    tok = H.bound_token("demo")
    assert.equal(200, R.zis("GET", ZIS .. "/inbound_webhooks/generic/demo/all", tok).status)
  end)
end)

-- Every endpoint: its success, the bytes on the wire, and each error it
-- can produce.
local zis = require "zis"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"
local BASIC = "Basic " .. require("mime").b64(H.email .. "/token:" .. H.token)

local function assert_http_error(err, status, code, method, path)
  assert.is_true(zis.is_error(err))
  assert.equal("http", err.kind)
  assert.equal(status, err.status)
  if code then assert.equal(code, err.code) end
  assert.equal(method, err.method)
  if path then assert.equal(path, err.path) end
  assert.equal(1, err.attempts)
end

describe("endpoints", function()
  local c
  before_each(function()
    H.fresh("demo")
    c = H.client()
  end)

  it("send Accept, User-Agent and the credential on every request", function()
    assert.truthy(c:list_integrations())
    local req = H.last()
    assert.equal("GET", req.method)
    assert.equal(REG .. "/integrations", req.path)
    assert.equal("application/json", req.headers.accept)
    assert.equal(BASIC, req.headers.authorization)
    assert.equal(zis.user_agent, req.headers["user-agent"])
    assert.matches("^lua%-zis/%d+%.%d+%.%d+ libcurl/%d[%d.]* Lua 5%.4", req.headers["user-agent"])
    assert.is_nil(req.headers["content-type"])
    assert.equal("", req.body)
  end)

  describe("list_integrations", function()
    it("returns the API's shape", function()
      local res = assert(c:list_integrations())
      assert.equal(1, #res.integrations)
      assert.equal("demo", res.integrations[1].name)
      assert.equal("zis_demo", res.integrations[1].zendesk_oauth_client.identifier)
    end)
    it("returns 401 for bad credentials", function()
      local bad = H.client{ token = "wrong-fake-token" }
      local res, err = bad:list_integrations()
      assert.is_nil(res)
      assert_http_error(err, 401, "1001", "GET", REG .. "/integrations")
      assert.equal("Unauthorized", err.message)
      assert.equal("Couldn't authenticate you", err.detail)
      assert.matches("^mock%-%d+$", err.request_id)
    end)
  end)

  describe("create_integration", function()
    it("posts the description and returns the new integration", function()
      local res = assert(c:create_integration("new_one-2", { description = "Mine \"quoted\"" }))
      assert.equal("Mine \"quoted\"", res.description)
      assert.equal("zis_new_one-2", res.zendesk_oauth_client.identifier)
      local req = H.last()
      assert.equal("POST", req.method)
      assert.equal(REG .. "/new_one-2", req.path)
      assert.equal("application/json", req.headers["content-type"])
      assert.same({ description = "Mine \"quoted\"" }, zis.decode_json(req.body))
    end)
    it("works without options", function()
      assert.truthy(c:create_integration("bare"))
      assert.equal("{}", H.last().body)
    end)
    it("returns 409 when the integration exists", function()
      local res, err = c:create_integration("demo")
      assert.is_nil(res)
      assert_http_error(err, 409, "1010", "POST", REG .. "/demo")
      assert.equal("zis: POST " .. REG .. "/demo: 409 Conflict (1010: integration demo already exists)",
                   tostring(err))
    end)
    it("raises before any request on a bad name or option", function()
      local n = H.stats().requests
      for _, bad in ipairs{ "", "UPPER", "has space", "a/b", "../x", string.rep("a", 65), "é" } do
        assert.has_error(function() c:create_integration(bad) end,
          "bad argument #1 to 'create_integration' (integration name must be 1 to 64 of a-z 0-9 - _)")
      end
      assert.has_error(function() c:create_integration(42) end)
      assert.has_error(function() c:create_integration("ok", { colour = "red" }) end,
        "bad argument #2 to 'create_integration' (unknown option 'colour')")
      assert.has_error(function() c:create_integration("ok", { description = 1 }) end,
        "bad argument #2 to 'create_integration' (option 'description' must be a string)")
      assert.truthy(c:create_integration(string.rep("a", 64)))
      assert.equal(n + 1, H.stats().requests)
    end)
  end)

  describe("upload_bundle", function()
    it("uploads a table as JSON and returns true on 200 with an empty text body", function()
      assert.is_true(c:upload_bundle("demo", H.bundle("demo", "b1")))
      local req = H.last()
      assert.equal("POST", req.method)
      assert.equal(REG .. "/demo/bundles", req.path)
      assert.equal("application/json", req.headers["content-type"])
      assert.same(H.bundle("demo", "b1"), zis.decode_json(req.body))
    end)
    it("sends a JSON string byte for byte", function()
      local text = '{ "zis_template_version":"2019-10-14",\n "name":"raw", "resources":{} }'
      assert.is_true(c:upload_bundle("demo", text))
      assert.equal(text, H.last().body)
    end)
    it("upserts by name", function()
      assert.is_true(c:upload_bundle("demo", H.bundle("demo", "same")))
      local b = H.bundle("demo", "same")
      b.description = "second"
      assert.is_true(c:upload_bundle("demo", b))
      local page = c:list_bundles("demo")
      assert.equal(1, #page.bundles)
      assert.equal("second", page.bundles[1].description)
    end)
    it("returns the API's 400 for a bad template version", function()
      local b = H.bundle("demo", "b1")
      b.zis_template_version = "2020-01-01"
      local ok, err = c:upload_bundle("demo", b)
      assert.is_nil(ok)
      assert_http_error(err, 400, "1010", "POST", REG .. "/demo/bundles")
      assert.matches("2019%-10%-14", err.detail)
      assert.equal("400", err.errors[1].status)
    end)
    it("returns 404 for an unknown integration", function()
      local ok, err = c:upload_bundle("nope", H.bundle("nope", "b1"))
      assert.is_nil(ok)
      assert_http_error(err, 404, "1020", "POST")
    end)
    it("raises on a bundle that is neither table nor string", function()
      assert.has_error(function() c:upload_bundle("demo", 42) end)
      assert.has_error(function() c:upload_bundle("demo") end)
      assert.has_error(function() c:upload_bundle("demo", { f = print }) end)
    end)
  end)

  describe("get_bundle and delete_bundle", function()
    local uuid
    before_each(function()
      assert(c:upload_bundle("demo", H.bundle("demo", "b1")))
      uuid = c:list_bundles("demo").bundles[1].uuid
    end)
    it("get returns the bundle with its resources", function()
      local b = assert(c:get_bundle("demo", uuid))
      assert.equal("b1", b.name)
      assert.equal(uuid, b.uuid)
      assert.equal("demo", b.integration)
      assert.same(H.bundle("demo", "b1").resources, b.resources)
      assert.equal(REG .. "/demo/bundles/" .. uuid, H.last().path)
    end)
    it("delete returns true on 204, then get and delete return 404", function()
      assert.is_true(c:delete_bundle("demo", uuid))
      assert.equal("DELETE", H.last().method)
      local b, err = c:get_bundle("demo", uuid)
      assert.is_nil(b)
      assert_http_error(err, 404, "1020", "GET", REG .. "/demo/bundles/" .. uuid)
      assert.equal("zis: GET " .. REG .. "/demo/bundles/" .. uuid ..
                   ": 404 Missing Resource (1020: bundle not found)", tostring(err))
      local ok, err2 = c:delete_bundle("demo", uuid)
      assert.is_nil(ok)
      assert_http_error(err2, 404, "1020", "DELETE")
    end)
    it("accepts 200 as well as 204 for a delete", function()
      H.faults{ { method = "DELETE", status = 200, body = "" } }
      assert.is_true(c:delete_bundle("demo", uuid))
    end)
    it("percent-encodes the uuid so it cannot change the endpoint", function()
      for _, evil in ipairs{ "../../integrations", "a/b", "x?y=1", "..", ".", "a b#c", "%2e%2e" } do
        local b, err = c:get_bundle("demo", evil)
        assert.is_nil(b)
        assert.equal(404, err.status)
        local path = H.last().path
        assert.equal(REG .. "/demo/bundles/", path:sub(1, #REG + 14))
        assert.is_nil(path:sub(#REG + 15):find("[/?#. ]"))
      end
      assert.has_error(function() c:get_bundle("demo", "") end)
      assert.has_error(function() c:delete_bundle("demo") end)
    end)
  end)

  describe("list_bundles", function()
    it("passes page options as page[...] query parameters", function()
      for i = 1, 3 do assert(c:upload_bundle("demo", H.bundle("demo", "b" .. i))) end
      local p1 = assert(c:list_bundles("demo", { page_size = 2 }))
      assert.equal(REG .. "/demo/bundles?page%5Bsize%5D=2", H.last().path)
      assert.equal(2, #p1.bundles)
      assert.is_true(p1.meta.has_more)
      assert.is_nil(p1.bundles[1].resources)
      local p2 = assert(c:list_bundles("demo", { page_size = 2, after = p1.meta.after }))
      assert.equal(REG .. "/demo/bundles?page%5Bsize%5D=2&page%5Bafter%5D=" .. p1.meta.after,
                   H.last().path)
      assert.equal(1, #p2.bundles)
      assert.is_false(p2.meta.has_more)
      assert.equal("b3", p2.bundles[1].name)
      local back = assert(c:list_bundles("demo", { page_size = 2, before = p2.meta.before }))
      assert.equal("b1", back.bundles[1].name)
    end)
    it("returns an empty page for an integration without bundles", function()
      local p = assert(c:list_bundles("demo"))
      assert.same({}, p.bundles)
      assert.is_false(p.meta.has_more)
    end)
    it("raises on bad page options", function()
      for _, bad in ipairs{ { page_size = 0 }, { page_size = 101 }, { page_size = 1.5 },
                            { page_size = "10" }, { after = 5 }, { size = 3 } } do
        assert.has_error(function() c:list_bundles("demo", bad) end)
      end
      assert.has_error(function() c:list_bundles("demo", "x") end)
    end)
    it("returns the API's 400 for an unknown cursor", function()
      local p, err = c:list_bundles("demo", { after = "no-such-cursor" })
      assert.is_nil(p)
      assert_http_error(err, 400, "1010", "GET")
    end)
  end)

  describe("job specs", function()
    before_each(function()
      assert(c:upload_bundle("demo", H.bundle("demo", "b1", { "on_create", "on_update" })))
    end)
    it("list returns the bundle's job specs, not installed", function()
      local p = assert(c:list_job_specs("demo"))
      assert.equal(2, #p.job_specs)
      assert.equal("on_create", p.job_specs[1].name)
      assert.is_false(p.job_specs[1].installed)
      assert.equal("zis:demo:flow:flow", p.job_specs[1].flow_name)
      assert.equal(REG .. "/demo/job_specs", H.last().path)
    end)
    it("install and uninstall by short name send the full name, encoded", function()
      assert.is_true(c:install_job_spec("demo", "on_create"))
      local req = H.last()
      assert.equal("POST", req.method)
      assert.equal(REG .. "/job_specs/install?job_spec_name=zis%3Ademo%3Ajob_spec%3Aon_create", req.path)
      assert.is_true(c:list_job_specs("demo").job_specs[1].installed)
      assert.is_true(c:uninstall_job_spec("demo", "on_create"))
      assert.equal("DELETE", H.last().method)
      assert.is_false(c:list_job_specs("demo").job_specs[1].installed)
    end)
    it("accept the full name of the same integration", function()
      assert.is_true(c:install_job_spec("demo", "zis:demo:job_spec:on_update"))
      assert.equal(REG .. "/job_specs/install?job_spec_name=zis%3Ademo%3Ajob_spec%3Aon_update",
                   H.last().path)
    end)
    it("raise on a full name of another integration, or an empty name", function()
      assert.has_error(function() c:install_job_spec("demo", "zis:other:job_spec:x") end,
        "bad argument #2 to 'install_job_spec' (full job spec name must be 'zis:demo:job_spec:NAME')")
      assert.has_error(function() c:uninstall_job_spec("demo", "") end)
      assert.has_error(function() c:install_job_spec("demo", "zis:demo:job_spec:") end)
      assert.has_error(function() c:install_job_spec("Demo", "x") end)
    end)
    it("encode a name that tries to add query parameters", function()
      local ok, err = c:install_job_spec("demo", "x&job_spec_name=zis:other:job_spec:y")
      assert.is_nil(ok)
      assert.equal(404, err.status)
      assert.equal(REG .. "/job_specs/install?job_spec_name=zis%3Ademo%3Ajob_spec%3Ax"
                   .. "%26job_spec_name%3Dzis%3Aother%3Ajob_spec%3Ay", H.last().path)
    end)
    it("return 404 for an unknown job spec", function()
      local ok, err = c:install_job_spec("demo", "missing")
      assert.is_nil(ok)
      assert_http_error(err, 404, "1020", "POST")
      ok, err = c:uninstall_job_spec("demo", "missing")
      assert.is_nil(ok)
      assert_http_error(err, 404, "1020", "DELETE")
    end)
    it("an upload resets installed job specs (the API orphans them)", function()
      assert(c:install_job_spec("demo", "on_create"))
      assert(c:upload_bundle("demo", H.bundle("demo", "b1", { "on_create", "on_update" })))
      assert.is_false(c:list_job_specs("demo").job_specs[1].installed)
    end)
  end)

  it("the endpoint table lists every method", function()
    local names = {}
    for _, e in ipairs(zis.endpoints) do
      names[#names + 1] = e.name
      assert.is_function(c[e.name])
    end
    assert.same({ "list_integrations", "create_integration", "list_bundles", "upload_bundle",
                  "get_bundle", "delete_bundle", "list_job_specs", "install_job_spec",
                  "uninstall_job_spec",
                  "list_configs", "create_config", "replace_config", "merge_config", "delete_config",
                  "list_connections", "create_connection", "update_connection",
                  "delete_connection", "list_oauth_clients", "create_oauth_client",
                  "get_oauth_client", "update_oauth_client", "delete_oauth_client", "start_oauth_flow",
                  "list_links", "create_link", "update_link", "delete_link",
                  "create_inbound_webhook", "get_inbound_webhook", "list_inbound_webhooks",
                  "delete_inbound_webhook" }, names)
    -- the composite methods read more than one row
    assert.is_function(c.get_connection)
    assert.is_function(c.finish_oauth_flow)
  end)
end)

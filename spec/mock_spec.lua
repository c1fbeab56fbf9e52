-- The local registry itself: loopback only, and its control endpoints.
local mock = require "zis.mock"
local H = require "spec.helper"

describe("local registry", function()
  it("refuses to listen anywhere but loopback", function()
    for _, host in ipairs{ "0.0.0.0", "192.0.2.1", "::", "example.com" } do
      assert.has_error(function() mock.serve{ host = host, port = 0, quiet = true } end,
        "zis.mock: refusing to listen on " .. host .. ": loopback only")
    end
  end)

  it("counts connections and requests, and reset clears them", function()
    H.reset()
    local s = H.stats()
    assert.equal(0, s.requests)
    H.client():list_integrations()
    assert.equal(1, H.stats().requests)
  end)

  it("answers an unknown path with a Zendesk-shaped 404", function()
    local c = H.client()
    local res, err = c:get_bundle("demo", "x")  -- no integration "demo" after reset
    assert.is_nil(res)
    assert.equal(404, err.status)
    assert.equal("1020", err.code)
    assert.equal("Missing Resource", err.message)
  end)
end)

describe("local registry, as strict as the API", function()
  local R = require "spec.mock_http"
  local REG = "/api/services/zis/registry"
  local BEARER = "Bearer " .. H.oauth
  local core = require "zis.core"
  local OAUTH_DISABLED = core.decode_json('{"errors":[{"code":"1001","detail":' ..
    '"OAuth being disabled for this API request","status":"401"}],"message":"Unauthorized"}')
  local PAGE_SIZE = core.decode_json('{"errors":[{"code":"1010","detail":' ..
    '"page[size] must be an integer from 1 to 100","status":"400"}],"message":"Invalid parameter"}')

  before_each(function() H.fresh("demo") end)
  after_each(function() H.control("POST", "config", { gzip = "default", chunked = 0 }) end)

  it("refuses every OAuth token on bundle upload, with the API's error body", function()
    local cases = {
      { "POST", REG .. "/demo/bundles", H.bundle("demo", "b") },
    }
    for _, c in ipairs(cases) do
      local res = R.request(c[1], c[2], { auth = BEARER, body = c[3] })
      assert.equal(401, res.status, c[2])
      assert.is_true(H.same_json(OAUTH_DISABLED, res.json), c[2])
      local seen = H.last()
      assert.equal(c[1], seen.method)
      assert.equal(c[2], seen.path)
      assert.equal(BEARER, seen.headers.authorization)
    end
    -- nothing was uploaded, not even with a token bound to the integration
    assert.equal(0, #R.request("GET", REG .. "/demo/bundles").json.bundles)
    local bound = R.zis("POST", REG .. "/demo/bundles", R.mint("demo"), { body = H.bundle("demo", "b") })
    assert.equal(401, bound.status)
    assert.is_true(H.same_json(OAUTH_DISABLED, bound.json))
    -- the same call with basic credentials works
    assert.equal(200, R.request("POST", REG .. "/demo/bundles", { body = H.bundle("demo", "b") }).status)
  end)

  it("an admin's OAuth token lists and creates integrations; a bound token does not", function()
    assert.equal(200, R.request("GET", REG .. "/integrations", { auth = BEARER }).status)
    assert.equal(200, R.request("POST", REG .. "/second", { auth = BEARER, body = { description = "x" } }).status)
    local bound = R.mint("demo")
    assert.equal(401, R.zis("GET", REG .. "/integrations", bound).status)
    assert.equal(401, R.zis("POST", REG .. "/third", bound, { body = {} }).status)
  end)

  it("takes on the registry only a token bound to the integration (401 integration mismatch)", function()
    local bound = R.mint("demo")
    assert.equal(200, R.zis("GET", REG .. "/demo/bundles", bound).status)
    assert.equal(200, R.zis("GET", REG .. "/demo/job_specs", bound).status)
    for _, p in ipairs{ REG .. "/demo/bundles", REG .. "/demo/job_specs" } do
      local res = R.request("GET", p, { auth = BEARER })
      assert.equal(401, res.status)
      assert.equal("Authorization failed due to integration mismatch", res.json.errors[1].detail)
    end
  end)

  it("mints the admin's own token with the client-credentials grant (JSON, no Authorization)", function()
    local body = { grant_type = "client_credentials", client_id = H.oauth_client.id,
                   client_secret = H.oauth_client.secret, scope = "read write" }
    local res = R.request("POST", "/oauth/tokens", { auth = false, body = body })
    assert.equal(200, res.status)
    assert.equal("bearer", res.json.token_type)
    assert.equal("read write", res.json.scope)
    assert.equal("integer", math.type(res.json.expires_in))
    local admin = "Bearer " .. res.json.access_token
    assert.equal(200, R.request("GET", REG .. "/integrations", { auth = admin }).status)
    assert.equal(401, R.request("GET", REG .. "/demo/bundles", { auth = admin }).status)
    body.client_secret = "wrong"
    res = R.request("POST", "/oauth/tokens", { auth = false, body = body })
    assert.equal(401, res.status)
    assert.equal("invalid_client", res.json.error)
    body.client_secret, body.grant_type = H.oauth_client.secret, "password"
    assert.equal(400, R.request("POST", "/oauth/tokens", { auth = false, body = body }).status)
  end)

  it("answers only the routes docs/zendesk-api.md lists: 404 elsewhere, 405 for another method", function()
    local res = R.request("GET", "/api/services/zis/registry/demo")
    assert.equal(405, res.status)   -- POST is a route; GET is not documented
    res = R.request("GET", "/api/services/zis/registry/demo/flows")
    assert.equal(404, res.status)
    assert.equal("no such endpoint", res.json.errors[1].detail)
    assert.equal(405, R.request("PUT", REG .. "/demo/bundles").status)
  end)

  it("takes page[size] only as a plain integer from 1 to 100", function()
    for _, good in ipairs{ "1", "20", "100" } do
      assert.equal(200, R.request("GET", REG .. "/demo/bundles?page[size]=" .. good).status, good)
    end
    for _, bad in ipairs{ "0", "101", "-1", "1e1", "0x10", "5.0", "%205", "5%20", "abc", "", "+5" } do
      local res = R.request("GET", REG .. "/demo/bundles?page%5Bsize%5D=" .. bad)
      assert.equal(400, res.status, bad)
      assert.is_true(H.same_json(PAGE_SIZE, res.json), bad)
    end
  end)
end)

describe("local registry on the wire: gzip and chunked answers", function()
  local R = require "spec.mock_http"
  local wire = require "zis.mock.wire"
  local REG = "/api/services/zis/registry"
  local GZ = { "Accept-Encoding: gzip" }

  before_each(function()
    H.fresh("demo")
    local c = H.client()
    -- a bundle whose full form is well over 1 KB
    local b = H.bundle("demo", "big", { "a", "b", "c", "d", "e", "f", "g", "h" })
    b.description = string.rep("long description ", 40)
    assert(c:upload_bundle("demo", b))
  end)
  after_each(function() H.control("POST", "config", { gzip = "default", chunked = 0 }) end)

  local function big_path()
    local uuid = R.request("GET", REG .. "/demo/bundles").json.bundles[1].uuid
    return REG .. "/demo/bundles/" .. uuid
  end

  it("gzips a body of 1 KB or more when the request accepts gzip, and only then", function()
    local path = big_path()
    local plain = R.request("GET", path)
    assert.is_nil(plain.headers["content-encoding"])
    assert.is_true(#plain.body >= 1024)
    local gz = R.request("GET", path, { headers = GZ })
    assert.equal("gzip", gz.headers["content-encoding"])
    assert.equal("Accept-Encoding", gz.headers["vary"])
    assert.equal("\31\139", gz.raw:sub(1, 2))
    assert.equal(plain.body, gz.body)           -- gzip -dc checked CRC and length
    local small = R.request("GET", REG .. "/integrations", { headers = GZ })
    assert.is_true(#small.body < 1024)
    assert.is_nil(small.headers["content-encoding"])
    local refused = R.request("GET", path, { headers = { "Accept-Encoding: gzip;q=0, identity" } })
    assert.is_nil(refused.headers["content-encoding"])
  end)

  it("gzip always / never, from the control API", function()
    H.control("POST", "config", { gzip = "always" })
    local small = R.request("GET", REG .. "/integrations", { headers = GZ })
    assert.equal("gzip", small.headers["content-encoding"])
    assert.equal("integrations", next(small.json))
    -- still never unasked
    assert.is_nil(R.request("GET", REG .. "/integrations").headers["content-encoding"])
    H.control("POST", "config", { gzip = "never" })
    local big = R.request("GET", big_path(), { headers = GZ })
    assert.is_nil(big.headers["content-encoding"])
    assert.is_nil(big.headers["vary"])
  end)

  it("a gzip of stored blocks is valid for any size, empty and over 64 KB too", function()
    for _, n in ipairs{ 0, 1, 65535, 65536, 200000 } do
      local s = string.rep("z", n)
      assert.equal(s, R.gunzip(wire.gzip(s)), n)
    end
    assert.equal(0xCBF43926, wire.crc32("123456789"))  -- the standard check value
  end)

  it("sends chunked answers when configured, and the client reads them", function()
    H.control("POST", "config", { chunked = 4 })
    local res = R.request("GET", big_path())
    assert.equal("chunked", res.headers["transfer-encoding"])
    assert.is_nil(res.headers["content-length"])
    assert.equal(4, res.chunks)
    assert.equal("big", res.json.name)
    -- chunked and gzipped at once
    local both = R.request("GET", big_path(), { headers = GZ })
    assert.equal("gzip", both.headers["content-encoding"])
    assert.equal("big", both.json.name)
    -- the lua-zis client over both
    local c = H.client()
    local list = assert(c:list_bundles("demo"))
    assert.equal("big", list.bundles[1].name)
    local full = assert(c:get_bundle("demo", list.bundles[1].uuid))
    assert.equal(string.rep("long description ", 40), full.description)
    local seen = H.last()
    assert.matches("gzip", seen.headers["accept-encoding"])  -- so that answer was gzipped too
  end)

  it("a fault can ask for a chunked answer", function()
    H.faults{ { path = REG .. "/integrations", status = 200, chunked = 3,
                body = '{"integrations":[]}' } }
    local res = R.request("GET", REG .. "/integrations")
    assert.equal("chunked", res.headers["transfer-encoding"])
    assert.equal(3, res.chunks)
    assert.equal('{"integrations":[]}', res.body)
    assert.equal(200, R.request("GET", REG .. "/integrations").status)
    assert.is_not_nil(R.request("GET", REG .. "/integrations").headers["content-length"])
  end)

  it("refuses an unknown gzip mode", function()
    assert.has_error(function() H.control("POST", "config", { gzip = "sometimes" }) end)
  end)
end)

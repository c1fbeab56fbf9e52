-- The three credential kinds, held together, routed per endpoint.
local zis = require "zis"
local H = require "spec.helper"
local mime = require "mime"

local TOKEN_AUTH = "Basic " .. mime.b64(H.email .. "/token:" .. H.token)
local PASSWORD_AUTH = "Basic " .. mime.b64(H.email .. ":" .. H.password)
local BEARER = "Bearer " .. H.oauth

describe("credentials", function()
  before_each(function() H.fresh("demo") end)
  after_each(function() H.control("POST", "config", { oauth_tokens = { H.oauth } }) end)

  it("API token: Basic base64(email/token:token)", function()
    assert.truthy(H.client():list_integrations())
    assert.equal(TOKEN_AUTH, H.last().headers.authorization)
  end)

  it("password: Basic base64(email:password)", function()
    local c = H.client{ token = false, password = H.password }
    assert.truthy(c:list_integrations())
    assert.equal(PASSWORD_AUTH, H.last().headers.authorization)
  end)

  it("OAuth alone: a bound token is sent as Bearer on its integration's registry calls", function()
    local bound = "Bearer " .. H.bound_token("demo")
    local c = zis.new{ url = H.url, oauth_token = bound:sub(8), retries = 0 }
    assert.truthy(c:list_bundles("demo"))
    assert.equal(bound, H.last().headers.authorization)
    -- the registry refuses a token bound to no integration, and says so
    local c2 = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }
    local ok, err = c2:list_bundles("demo")
    assert.is_nil(ok)
    assert.equal(BEARER, H.last().headers.authorization)
    assert.equal(401, err.status)
    assert.equal("Authorization failed due to integration mismatch", err.detail)
    assert.matches("for_integration", err.hint)
  end)

  it("an admin's OAuth token lists and creates integrations", function()
    local c = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }
    assert.truthy(c:list_integrations())
    assert.equal(BEARER, H.last().headers.authorization)
    assert.truthy(c:create_integration("second"))
    assert.equal(BEARER, H.last().headers.authorization)
  end)

  it("OAuth alone: a bundle upload is refused, and the error says why and until when", function()
    local c = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }
    local ok, err = c:upload_bundle("demo", H.bundle("demo", "b"))
    assert.is_nil(ok)
    assert.equal(401, err.status)
    assert.equal("OAuth being disabled for this API request", err.detail)
    assert.matches("refuses OAuth tokens on bundle upload", err.hint)
    assert.matches("2027%-04%-30", tostring(err))
    assert.matches("2026%-10%-27", tostring(err))
  end)

  it("basic and an unbound token: basic on the registry, the token never sent there", function()
    local c = H.client{ oauth_token = H.oauth }
    local seen = {}
    local function call(name, ...)
      assert.truthy(c[name](c, ...))
      seen[name] = H.last().headers.authorization
    end
    call("list_integrations")
    call("create_integration", "second")
    call("upload_bundle", "demo", H.bundle("demo", "b"))
    call("list_bundles", "demo")
    local uuid = c:list_bundles("demo").bundles[1].uuid
    call("get_bundle", "demo", uuid)
    call("list_job_specs", "demo")
    call("install_job_spec", "demo", "on_ticket")
    call("uninstall_job_spec", "demo", "on_ticket")
    call("delete_bundle", "demo", uuid)
    assert.same({
      list_integrations = TOKEN_AUTH, create_integration = TOKEN_AUTH, upload_bundle = TOKEN_AUTH,
      list_bundles = TOKEN_AUTH, get_bundle = TOKEN_AUTH, list_job_specs = TOKEN_AUTH,
      install_job_spec = TOKEN_AUTH, uninstall_job_spec = TOKEN_AUTH, delete_bundle = TOKEN_AUTH,
    }, seen)
  end)

  it("an oauth_token function is called once, then again once after a 401", function()
    local calls = 0
    local c = zis.new{ url = H.url, retries = 0, oauth_token = function()
      calls = calls + 1
      return calls == 1 and "fake-oauth-v1" or "fake-oauth-v2"
    end }
    assert.equal(0, calls)  -- lazily, at the first request
    H.control("POST", "config", { oauth_tokens = { "fake-oauth-v1" } })
    assert.truthy(c:list_integrations())
    assert.truthy(c:list_integrations())
    assert.equal(1, calls)
    -- the token expires: one 401, one refresh, success
    H.control("POST", "config", { oauth_tokens = { "fake-oauth-v2" } })
    local n = #H.log()
    assert.truthy(c:list_integrations())
    assert.equal(2, calls)
    local log = H.log()
    assert.equal(n + 2, #log)
    assert.equal("Bearer fake-oauth-v1", log[n + 1].headers.authorization)
    assert.equal("Bearer fake-oauth-v2", log[n + 2].headers.authorization)
  end)

  it("a refreshed token that is refused too gives the 401, not a loop", function()
    local calls = 0
    local c = zis.new{ url = H.url, retries = 0, oauth_token = function()
      calls = calls + 1
      return "fake-expired-" .. calls
    end }
    local res, err = c:list_bundles("demo")
    assert.is_nil(res)
    assert.equal(401, err.status)
    assert.equal(2, err.attempts)
    assert.equal(2, calls)
  end)

  it("a string oauth_token is not retried after a 401", function()
    local c = zis.new{ url = H.url, retries = 0, oauth_token = "fake-revoked" }
    local res, err = c:list_bundles("demo")
    assert.is_nil(res)
    assert.equal(1, err.attempts)
  end)

  it("an oauth_token function that returns no string raises", function()
    local c = zis.new{ url = H.url, oauth_token = function() return nil end }
    assert.has_error(function() c:list_bundles("demo") end,
      "zis: oauth_token function must return a non-empty token string")
    local c2 = zis.new{ url = H.url, oauth_token = function() return "a\nb" end }
    assert.has_error(function() c2:list_bundles("demo") end)
    local c3 = zis.new{ url = H.url, oauth_token = function() error("vault is sealed") end }
    assert.has_error(function() c3:list_bundles("demo") end)
    collectgarbage()
  end)

  it("no credential appears in an error object or its string", function()
    local c = H.client{ token = "fake-secret-token-123", oauth_token = "fake-secret-bearer-456" }
    local _, err = c:list_bundles("demo")
    local _, err2 = c:list_integrations()
    for _, e in ipairs{ err, err2 } do
      local text = tostring(e)
      for _, v in pairs(e) do text = text .. "\n" .. tostring(v) end
      for _, secret in ipairs{ "fake-secret-token-123", "fake-secret-bearer-456",
                               mime.b64(H.email .. "/token:fake-secret-token-123") } do
        assert.is_nil(text:find(secret, 1, true))
      end
    end
  end)
end)

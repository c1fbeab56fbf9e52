-- zis.new, zis.from_env, tostring, close / __gc / __close
local zis = require "zis"
local H = require "spec.helper"

describe("zis.new", function()
  it("accepts each credential kind and says which in tostring", function()
    assert.matches("auth: token%)$", tostring(H.client()))
    assert.matches("auth: password%)$", tostring(H.client{ token = false, password = H.password }))
    assert.matches("auth: oauth%)$", tostring(zis.new{ url = H.url, oauth_token = H.oauth }))
    assert.matches("auth: token%+oauth%)$", tostring(H.client{ oauth_token = H.oauth }))
    assert.matches("auth: oauth%)$", tostring(zis.new{ url = H.url, oauth_token = function() return "x" end }))
  end)

  it("never shows a secret in tostring", function()
    local c = H.client{ oauth_token = "fake-oauth-secret-xyz" }
    local s = tostring(c)
    assert.not_matches(H.token, s, 1, true)
    assert.not_matches("fake-oauth-secret-xyz", s, 1, true)
    assert.not_matches(H.email, s, 1, true)
    assert.equal("zis.client (" .. H.url .. ", auth: token+oauth)", s)
  end)

  it("builds the URL from a subdomain", function()
    local c = zis.new{ subdomain = "acme", oauth_token = "t" }
    assert.equal("zis.client (https://acme.zendesk.com, auth: oauth)", tostring(c))
  end)

  local misuse = {
    { "not a table", "x", "expected a table" },
    { "unknown option", { url = H.url, token = "t", email = "e", colour = 1 }, "unknown option 'colour'" },
    { "wrong type", { url = H.url, oauth_token = 42 }, "'oauth_token' must be a string or function" },
    { "no credential", { url = H.url }, "no credential" },
    { "token without email", { url = H.url, token = "t" }, "'token' needs 'email'" },
    { "email alone", { url = H.url, email = "a@b.c" }, "'email' needs 'token' or 'password'" },
    { "token and password", { url = H.url, email = "a@b.c", token = "t", password = "p" }, "not both" },
    { "no url", { oauth_token = "t" }, "'url' %(or 'subdomain'%) is required" },
    { "url and subdomain", { url = H.url, subdomain = "acme", oauth_token = "t" }, "not both" },
    { "bad subdomain", { subdomain = "evil.com/x", oauth_token = "t" }, "subdomain" },
    { "url with a path", { url = "https://acme.zendesk.com/api", oauth_token = "t" }, "no path" },
    { "url with user info", { url = "https://u:p@acme.zendesk.com", oauth_token = "t" }, "without user info" },
    { "ftp url", { url = "ftp://acme.zendesk.com", oauth_token = "t" }, "https://" },
    { "http to a remote host", { url = "http://acme.zendesk.com", oauth_token = "t" }, "only to loopback" },
    { "line break in a token", { url = H.url, oauth_token = "a\r\nX-Evil: 1" }, "without line breaks" },
    { "NUL in a path option", { url = H.url, oauth_token = "t", ca_file = "/etc/ssl\0/x" }, "must not contain NUL" },
    { "negative timeout", { url = H.url, oauth_token = "t", timeout = -1 },
      "'timeout' must be a number from 0.001 to 86400" },
    { "tiny timeout", { url = H.url, oauth_token = "t", timeout = 0.0004 },
      "'timeout' must be a number from 0.001" },
    { "huge timeout", { url = H.url, oauth_token = "t", timeout = 1e300 }, "'timeout' must be a number" },
    { "huge max_response_bytes", { url = H.url, oauth_token = "t", max_response_bytes = 2^63 },
      "'max_response_bytes' must be an integer from 1 to 1099511627776" },
    { "too many retries", { url = H.url, oauth_token = "t", retries = 21 },
      "'retries' must be an integer from 0 to 20" },
    { "concurrency 0", { url = H.url, oauth_token = "t", concurrency = 0 },
      "'concurrency' must be an integer from 1 to 64" },
    { "NaN connect_timeout", { url = H.url, oauth_token = "t", connect_timeout = 0/0 },
      "'connect_timeout' must be a number" },
    { "fractional retries", { url = H.url, oauth_token = "t", retries = 1.5 }, "'retries' must be an integer" },
  }
  for _, case in ipairs(misuse) do
    it("raises on misuse: " .. case[1], function()
      local ok, err = pcall(zis.new, case[2])
      assert.is_false(ok)
      assert.matches(case[3], err)
    end)
  end

  it("allows plain http to a remote host only when asked", function()
    local c = zis.new{ url = "http://example.invalid", oauth_token = "t", allow_insecure_http = true }
    assert.matches("http://example.invalid", tostring(c))
    for _, host in ipairs{ "http://localhost:1", "http://127.0.0.2:80", "http://[::1]:8" } do
      assert.truthy(zis.new{ url = host, oauth_token = "t" })
    end
  end)

  it("keeps a trailing slash out of the base URL", function()
    local c = zis.new{ url = H.url .. "/", oauth_token = H.oauth }
    assert.equal("zis.client (" .. H.url .. ", auth: oauth)", tostring(c))
  end)
end)

describe("zis.core and zis.net", function()
  -- zis.core loads zis.net when first asked for one of its names; a
  -- finalizer reading one while that load runs opens zis.net again
  it("share one methods table with every client, however often zis.net is opened", function()
    local core = require "zis.core"
    local open = assert(package.loadlib(package.searchpath("zis.net", package.cpath), "luaopen_zis_net"))
    local again = open()
    assert.equal(core.methods, again.methods)
    local c = zis.new{ url = "http://127.0.0.1:1", email = "a@example.com", token = "fake" }
    assert.equal(core.methods, getmetatable(c).__index)
    assert.is_function(c.list_integrations)
    c:close()
    assert.is_nil(rawget(core, "no_such_name"))
  end)
end)

describe("zis.from_env", function()
  it("reads the variables zcli reads", function()
    local env = { ZENDESK_URL = H.url, ZENDESK_EMAIL = H.email, ZENDESK_API_TOKEN = H.token }
    local c = zis.from_env(nil, function(k) return env[k] end)
    assert.equal("zis.client (" .. H.url .. ", auth: token)", tostring(c))
    H.fresh("envtest")
    assert.truthy(c:list_integrations())
  end)

  it("takes a subdomain, an OAuth token and extra options", function()
    local env = { ZENDESK_SUBDOMAIN = "acme", ZENDESK_OAUTH_TOKEN = "t" }
    local c = zis.from_env({ timeout = 5 }, function(k) return env[k] end)
    assert.equal("zis.client (https://acme.zendesk.com, auth: oauth)", tostring(c))
  end)

  it("raises when nothing is set", function()
    assert.has_error(function() zis.from_env(nil, function() return nil end) end,
      "zis.from_env: no Zendesk host: set ZENDESK_URL (or ZENDESK_SUBDOMAIN), or pass url")
    assert.has_error(function() zis.from_env(nil, function(n) return n == "ZENDESK_URL" and H.url or nil end) end,
      "zis.from_env: no credentials: set ZENDESK_EMAIL with ZENDESK_API_TOKEN (or ZENDESK_PASSWORD), " ..
      "ZENDESK_OAUTH_TOKEN, or ZENDESK_OAUTH_CLIENT_ID with ZENDESK_OAUTH_CLIENT_SECRET")
  end)
end)

describe("client lifetime", function()
  it("close() is idempotent and a closed client raises on use", function()
    local c = H.client()
    c:close()
    c:close()
    assert.equal("zis.client (closed)", tostring(c))
    assert.has_error(function() c:list_integrations() end, "zis: client is closed")
    assert.has_error(function() for _ in c:bundles("demo") do end end, "zis: client is closed")
  end)

  it("is freed by the garbage collector, with requests made", function()
    H.fresh()
    for _ = 1, 20 do
      local c = H.client()
      assert.truthy(c:list_bundles("demo"))
    end
    collectgarbage()
    collectgarbage()
    local c = H.client()
    assert.truthy(c:list_integrations())
  end)

  it("is closed by <close>", function()
    local kept
    do
      local c <close> = H.client()
      kept = c
      assert.truthy(c:list_integrations())
    end
    assert.equal("zis.client (closed)", tostring(kept))
  end)

  it("rejects a method called on something that is not a client", function()
    local c = H.client()
    assert.has_error(function() c.list_integrations({}) end)
    assert.has_error(function() c.close("x") end)
  end)
end)

describe("zis.from_env and paging by hand", function()
  local function env(t) return function(name) return t[name] end end

  it("explicit options override the environment, url over ZENDESK_SUBDOMAIN included", function()
    local c = zis.from_env({ url = H.url }, env{ ZENDESK_SUBDOMAIN = "acme", ZENDESK_EMAIL = H.email,
                                                 ZENDESK_API_TOKEN = H.token })
    assert.matches(H.url, tostring(c), 1, true)
    local c2 = zis.from_env({ url = H.url, email = H.email, password = H.password },
                            env{ ZENDESK_EMAIL = "x@example.com", ZENDESK_API_TOKEN = "t" })
    assert.matches("auth: password", tostring(c2))
  end)

  it("works with only an API token set", function()
    local c = zis.from_env(nil, env{ ZENDESK_URL = H.url, ZENDESK_EMAIL = H.email,
                                     ZENDESK_API_TOKEN = H.token })
    H.fresh("demo")
    assert.truthy(c:list_integrations())
  end)

  it("refuses the last page's meta.after (zis.null) with a message that says why", function()
    H.fresh("demo")
    local c = H.client()
    assert(c:upload_bundle("demo", H.bundle("demo", "b1")))
    local page = assert(c:list_bundles("demo", { page_size = 100 }))
    assert.is_false(page.meta.has_more)
    assert.equal(zis.null, page.meta.after)
    assert.has_error(function() c:list_bundles("demo", { after = page.meta.after }) end,
      "bad argument #2 to 'list_bundles' (option 'after' is zis.null: the last page has no next cursor; " ..
      "stop when meta.has_more is false)")
    -- the loop the manual shows ends
    local opts, names = { page_size = 1 }, {}
    assert(c:upload_bundle("demo", H.bundle("demo", "b2")))
    repeat
      local p = assert(c:list_bundles("demo", opts))
      for _, b in ipairs(p.bundles) do names[#names + 1] = b.name end
      opts.after = p.meta.after
    until not p.meta.has_more
    table.sort(names)
    assert.same({ "b1", "b2" }, names)
  end)
end)

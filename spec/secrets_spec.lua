-- Secrets stay in C: after zis.new, no credential is reachable from Lua
-- through a client (its state, its options, anything they hold), for
-- every way a client can be made, before and after calls that mint and
-- use tokens.
local zis = require "zis"
local core = require "zis.core"
local H = require "spec.helper"

-- Every string reachable from `root` through tables (keys and values),
-- functions' upvalues, and the state of any client met on the way.
local function strings(root)
  local seen, out = {}, {}
  local function walk(v)
    local t = type(v)
    if t == "string" then out[#out + 1] = v return end
    if (t ~= "table" and t ~= "function" and t ~= "userdata") or seen[v] then return end
    seen[v] = true
    if t == "table" then
      for k, x in next, v do walk(k) walk(x) end
      walk(getmetatable(v))
    elseif t == "function" then
      for i = 1, 255 do
        local name, x = debug.getupvalue(v, i)
        if not name then break end
        -- the global environment is everyone's, not the client's (the
        -- spec's own helper, with its fake secrets, is in there)
        if name ~= "_ENV" and x ~= _G then walk(x) end
      end
    elseif t == "userdata" and getmetatable(v) == getmetatable(H.client()) then
      walk(core.state(v))
    end
  end
  walk(root)
  return out
end

local function assert_clean(client, secrets)
  for _, s in ipairs(strings(client)) do
    for _, secret in ipairs(secrets) do
      assert.is_nil(s:find(secret, 1, true), "a secret is reachable from Lua: " .. secret)
    end
  end
end

describe("secrets stay in C", function()
  before_each(function() H.fresh("demo") end)

  it("basic credentials, the OAuth token string, the admin's client secret, minted tokens", function()
    local SECRET_TOKEN, SECRET_BEARER = "fake-secret-api-token-31337", "fake-secret-bearer-31337"
    local made = {
      zis.new{ url = H.url, email = H.email, token = SECRET_TOKEN },
      zis.new{ url = H.url, email = H.email, password = "fake-secret-password-31337" },
      zis.new{ url = H.url, oauth_token = SECRET_BEARER },
      zis.new{ url = H.url, oauth_client = H.oauth_client },
    }
    -- the registry's own credentials, so the calls below succeed
    local admin = H.client()
    local svc = admin:for_integration("demo")
    assert(svc:list_connections("demo"))          -- mints and uses the integration's token
    local oc = zis.new{ url = H.url, oauth_client = H.oauth_client }
    assert(oc:list_integrations())                -- mints the admin's token from the client secret
    local oc_svc = oc:for_integration("demo")
    assert(oc_svc:list_connections("demo"))
    local minted = {}
    for _, l in ipairs(H.log()) do
      local tok = (l.headers.authorization or ""):match("^Bearer (.*)$")
      if tok then minted[#minted + 1] = tok end
    end
    assert.is_true(#minted >= 2)
    local secrets = { SECRET_TOKEN, SECRET_BEARER, "fake-secret-password-31337", H.oauth_client.secret,
                      H.token, require("mime").b64(H.email .. "/token:" .. H.token) }
    for _, t in ipairs(minted) do secrets[#secrets + 1] = t end
    for _, c in ipairs(made) do assert_clean(c, secrets) end
    for _, c in ipairs{ admin, svc, oc, oc_svc } do assert_clean(c, secrets) end
  end)

  it("the walk finds a secret when one is there (the check can fail)", function()
    local c = H.client()
    core.state(c).leak = { deep = { "x", H.token } }
    assert.has_error(function() assert_clean(c, { H.token }) end)
    core.state(c).leak = nil
  end)
end)

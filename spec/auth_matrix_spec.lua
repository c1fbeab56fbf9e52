-- Which credential each endpoint gets, for each way a client can be made:
-- every cell of the manual's table ("Which credential each call uses"),
-- driven against the local registry, which answers as Zendesk does
-- (docs/zendesk-api.md, "Credentials").  A cell is what went on the wire
-- and what came back, or "fails before sending".
local zis = require "zis"
local H = require "spec.helper"
local mime = require "mime"

local I = "demo"

-- The ways to make a client (the table's columns).
local KINDS = {
  { "token", "email + API token" },
  { "password", "email + password" },
  { "bearer", "oauth_token (of unknown binding)" },
  { "token+bearer", "email + API token + oauth_token" },
  { "admin", "oauth_client (the admin's OAuth client)" },
  { "for_integration(token)", "for_integration(I) of an API-token client" },
  { "for_integration(admin)", "for_integration(I) of an oauth_client client" },
}

-- The endpoint classes (the table's rows), each with one call that stands
-- for it, and the endpoints of the class.
local CLASSES = {
  { "admin", "list and create integrations; the token mint",
    function(c) return c:list_integrations() end },
  { "upload", "upload a bundle",
    function(c) return c:upload_bundle(I, H.bundle(I, "matrix")) end },
  { "registry", "bundles (list, get, delete), job specs (list, install, uninstall)",
    function(c) return c:list_bundles(I) end },
  { "services", "configs, connections, OAuth clients, links, inbound webhooks",
    function(c) return c:list_connections(I) end },
}

-- What each cell must be: the Authorization sent and the answer.
local EXPECT = {
  admin = {
    ["token"] = "Basic (token): 200", ["password"] = "Basic (password): 200",
    ["bearer"] = "Bearer: 401", ["token+bearer"] = "Basic (token): 200",
    ["admin"] = "Bearer (admin): 200", ["for_integration(token)"] = "Basic (token): 200",
    ["for_integration(admin)"] = "fails before sending",
  },
  upload = {
    ["token"] = "Basic (token): 200", ["password"] = "Basic (password): 200",
    ["bearer"] = "Bearer: 401", ["token+bearer"] = "Basic (token): 200",
    ["admin"] = "Bearer (admin): 401", ["for_integration(token)"] = "Basic (token): 200",
    ["for_integration(admin)"] = "Bearer (integration): 401",
  },
  registry = {
    ["token"] = "Basic (token): 200", ["password"] = "Basic (password): 200",
    ["bearer"] = "Bearer: 200", ["token+bearer"] = "Basic (token): 200",
    ["admin"] = "fails before sending", ["for_integration(token)"] = "Bearer (integration): 200",
    ["for_integration(admin)"] = "Bearer (integration): 200",
  },
  services = {
    ["token"] = "Basic (token): 403", ["password"] = "Basic (password): 401",
    ["bearer"] = "Bearer: 200", ["token+bearer"] = "Bearer: 200",
    ["admin"] = "fails before sending", ["for_integration(token)"] = "Bearer (integration): 200",
    ["for_integration(admin)"] = "Bearer (integration): 200",
  },
}

local TOKEN_AUTH = "Basic " .. mime.b64(H.email .. "/token:" .. H.token)
local PASSWORD_AUTH = "Basic " .. mime.b64(H.email .. ":" .. H.password)

-- The client of a kind; `bound`: a token bound to I (the "bearer" kinds'
-- token: the integration's own token, handed over as oauth_token).
local function make(kind, bound)
  local base = { url = H.url, retries = 0 }
  local function with(t) for k, v in pairs(base) do t[k] = v end return zis.new(t) end
  if kind == "token" then return with{ email = H.email, token = H.token }
  elseif kind == "password" then return with{ email = H.email, password = H.password }
  elseif kind == "bearer" then return with{ oauth_token = bound }
  elseif kind == "token+bearer" then return with{ email = H.email, token = H.token, oauth_token = bound }
  elseif kind == "admin" then return with{ oauth_client = H.oauth_client }
  elseif kind == "for_integration(token)" then return make("token"):for_integration(I)
  elseif kind == "for_integration(admin)" then return make("admin"):for_integration(I)
  end
end

-- What the last request carried, in the table's words.
local function credential(auth)
  if auth == TOKEN_AUTH then return "Basic (token)" end
  if auth == PASSWORD_AUTH then return "Basic (password)" end
  local tok = auth and auth:match("^Bearer (.*)$")
  if not tok then return tostring(auth) end
  if tok:find("^fake%-admin%-oauth%-") then return "Bearer (admin)" end
  if tok:find("^fake%-zis%-token%-") then return "Bearer" end
  return "Bearer ?"
end

local function cell(kind, class, bound)
  H.reset()
  local admin = H.client()
  assert(admin:create_integration(I))
  admin:close()
  local c = make(kind, bound())
  local function api_log()
    local out = {}
    for _, l in ipairs(H.log()) do
      -- the mints a client makes for itself are not the call
      if l.path ~= "/oauth/tokens" and not l.path:find("^/api/v2/oauth/") then out[#out + 1] = l end
    end
    return out
  end
  local before = #api_log()
  local res, err = class[3](c)
  local log = api_log()
  if #log == before then
    assert.is_nil(res)
    assert.equal("auth", err.kind)
    return "fails before sending"
  end
  local last = log[#log]
  local what = credential(last.headers.authorization)
  -- a bound token the client minted itself (for_integration) is "integration"
  if what == "Bearer" and kind:find("^for_integration") then what = "Bearer (integration)" end
  return what .. ": " .. (res and 200 or err.status)
end

-- The manual's table, rendered from EXPECT.
local function render()
  local out = { "| endpoints | " }
  local heads = {}
  for _, k in ipairs(KINDS) do heads[#heads + 1] = "`" .. k[1] .. "`" end
  out[1] = out[1] .. table.concat(heads, " | ") .. " |"
  out[2] = "|" .. string.rep(" --- |", #KINDS + 1)
  for _, cls in ipairs(CLASSES) do
    local cells = {}
    for _, k in ipairs(KINDS) do cells[#cells + 1] = EXPECT[cls[1]][k[1]] end
    out[#out + 1] = "| " .. cls[1] .. ": " .. cls[2] .. " | " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(out, "\n")
end

describe("which credential each endpoint gets", function()
  local bound_cache
  local function bound()
    -- a fresh registry each cell: mint again
    bound_cache = H.bound_token(I)
    return bound_cache
  end

  for _, cls in ipairs(CLASSES) do
    for _, k in ipairs(KINDS) do
      it(cls[1] .. " endpoints, " .. k[2], function()
        assert.equal(EXPECT[cls[1]][k[1]], cell(k[1], cls, bound))
      end)
    end
  end

  it("covers every endpoint: each row's class is one of the table's", function()
    local known = {}
    for _, cls in ipairs(CLASSES) do known[cls[1]] = true end
    for _, e in ipairs(zis.endpoints) do
      assert.is_true(known[e.auth] == true, e.name .. ": " .. tostring(e.auth))
    end
  end)

  it("is the table the manual shows", function()
    local manual = H.read("docs/manual.md")
    local table_text = render()
    assert.is_truthy(manual:find(table_text, 1, true),
                     "docs/manual.md should hold this table:\n" .. table_text)
  end)
end)

-- zis: the public API of lua-zis.
--
-- The C core (zis.core) does the mechanics: the client userdata and its
-- credentials, the request engine on one curl multi per client, and the
-- exact JSON codec.  The policy is Lua: this file checks options (once,
-- with bounds) and makes clients; zis.endpoints is the table of endpoints;
-- zis.client is the client class, its method table built once from the
-- rows (zis.request builds a request, zis.pager pages) and its composite
-- methods; zis.run runs every call on the engine; zis.errors makes the
-- error objects.

local core = require "zis.core"
local errors = require "zis.errors"
local endpoints = require "zis.endpoints"
local run = require "zis.run"
local class = require "zis.client"

local error, ipairs, math, pairs, string, table, tostring, type =
      error, ipairs, math, pairs, string, table, tostring, type
local state = core.state

local zis = {
  _VERSION = "lua-zis " .. core.version,
  version = core.version,
  user_agent = core.user_agent,
  null = core.null,          -- JSON null: a NULL light userdata (== cjson.null)
  array = core.array,        -- zis.array(t): encode t as a JSON array, even empty
  object = core.object,      -- zis.object(t): encode t as a JSON object, even empty
  array_metatable = core.array_metatable,   -- what decoded arrays carry
  object_metatable = core.object_metatable,
  decode_json = core.decode_json,  -- the decoder the client uses
  encode_json = function(v) return core.encode_json(v) end,  -- the encoder the client uses
  is_error = errors.is_error,
}


-- zis.endpoints: the endpoint table, as data (name, method, path, auth)
zis.endpoints = {}
for _, row in ipairs(endpoints) do
  if not row.internal then
    zis.endpoints[#zis.endpoints + 1] = { name = row.name, method = row.method, path = row.path,
                                          auth = row.auth, idempotent = row.idempotent or false,
                                          paging = row.paging and row.paging.iterator or nil }
  end
end

-- Options of zis.new: name -> expected Lua type ("function|string" allows
-- either), and the bounds of the numeric ones.
local OPTIONS = {
  url = "string", subdomain = "string",
  email = "string", token = "string", password = "string",
  oauth_token = "string|function", oauth_client = "table",
  timeout = "number", connect_timeout = "number",
  retries = "number", retry_base_delay = "number", max_retry_wait = "number",
  max_response_bytes = "number", concurrency = "number",
  allow_insecure_http = "boolean", follow_redirects = "boolean",
  on_request = "function", debug = "boolean",
  ca_file = "string", ca_path = "string", proxy = "string",
  scheduler = "table",
  rate_limit = "number|boolean",
}

-- name -> {low, high, integer?, default}
local BOUNDS = {
  timeout = { 0.001, 86400, false, 60 },
  connect_timeout = { 0.001, 86400, false, 10 },
  retries = { 0, 20, true, 3 },
  retry_base_delay = { 0.001, 3600, false, 0.5 },
  max_retry_wait = { 0, 86400, false, 60 },
  max_response_bytes = { 1, 2 ^ 40, true, 64 * 1024 * 1024 },
  concurrency = { 1, 64, true, 8 },
  -- requests per minute assumed until the server sends its figures
  -- (zis.pace); false: no pacing at all
  rate_limit = { 1, 1000000, false, nil },
}

-- zis.options: the names zis.new accepts, sorted (for tools and the docs check)
zis.options = {}
for name in pairs(OPTIONS) do zis.options[#zis.options + 1] = name end
table.sort(zis.options)

local function check_type(name, v)
  local want = OPTIONS[name]
  if want == nil then
    error(string.format("zis.new: unknown option '%s'", tostring(name)), 3)
  end
  local got = type(v)
  if got == "string" and v:find("%z") then
    -- C would cut the string short at the NUL: refuse rather than guess
    error(string.format("zis.new: option '%s' must not contain NUL", name), 3)
  end
  for t in want:gmatch("[^|]+") do
    if got == t then return end
  end
  error(string.format("zis.new: option '%s' must be a %s, got %s",
                      name, want:gsub("|", " or "), got), 3)
end

-- A numeric option within its bounds, or its default.
local function bounded(o, name)
  local b, v = BOUNDS[name], o[name]
  if v == nil or v == false then return b[4] end
  if v == true then
    error(string.format("zis.new: option '%s' must be a number or false", name), 4)
  end
  local low, high, integer = b[1], b[2], b[3]
  if v ~= v or v < low or v > high or (integer and v % 1 ~= 0) then
    error(string.format("zis.new: option '%s' must be %s from %s to %s", name,
                        integer and "an integer" or "a number", low, math.tointeger(high) or high), 4)
  end
  return integer and math.tointeger(v) or v
end

local function is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]"
      or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- Parses and checks the base URL: scheme and authority only.
local function base_url(o)
  local url = o.url
  if url and o.subdomain then
    error("zis.new: give 'url' or 'subdomain', not both", 4)
  end
  if o.subdomain then
    if not o.subdomain:match("^[a-z0-9][a-z0-9-]*$") or #o.subdomain > 63 then
      error("zis.new: option 'subdomain' must be a Zendesk subdomain like 'acme'", 4)
    end
    return "https://" .. o.subdomain .. ".zendesk.com"
  end
  if not url then
    error("zis.new: option 'url' (or 'subdomain') is required", 4)
  end
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then
    error("zis.new: option 'url' must look like https://acme.zendesk.com", 4)
  end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    error("zis.new: option 'url' must be https:// (or http:// to loopback)", 4)
  end
  if authority == "" or authority:find("@", 1, true)
     or not authority:match("^[%w.%-%[%]:]+$") then
    error("zis.new: option 'url' must name a host, without user info", 4)
  end
  if rest ~= "" and rest ~= "/" then
    error("zis.new: option 'url' must have no path, query or fragment", 4)
  end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^[^:]*")
  if scheme == "http" and not is_loopback(host) and not o.allow_insecure_http then
    error("zis.new: plain http:// is allowed only to loopback hosts; " ..
          "use https:// or set allow_insecure_http = true", 4)
  end
  return scheme .. "://" .. authority
end

local function check_secret(name, s)
  if s == "" or s:find("[%z\r\n]") then
    error(string.format("zis.new: option '%s' must be non-empty, without " ..
                        "line breaks or NUL", name), 4)
  end
end

-- The options a sibling client (for_integration) inherits: every one but
-- the credentials, which C copies from client to client.
local SECRET_OPTIONS = { token = true, password = true, oauth_token = true, oauth_client = true }

-- oauth_client = {id =, secret =, scopes =}: the admin's own OAuth client
-- (Admin Center, "OAuth clients", a confidential client), whose
-- client-credentials grant gives the admin's OAuth token.
local function check_oauth_client(oc)
  for k in pairs(oc) do
    if k ~= "id" and k ~= "secret" and k ~= "scopes" then
      error(string.format("zis.new: option 'oauth_client' has an unknown key '%s' " ..
                          "(it takes id, secret and scopes)", tostring(k)), 4)
    end
  end
  for _, k in ipairs{ "id", "secret" } do
    if type(oc[k]) ~= "string" or oc[k] == "" or oc[k]:find("[%z\r\n]") then
      error(string.format("zis.new: option 'oauth_client.%s' must be a non-empty string " ..
                          "without line breaks or NUL", k), 4)
    end
  end
  local scopes = oc.scopes or "read write"
  if type(scopes) ~= "string" or not scopes:find("^[%w:_%- ]+$") then
    error("zis.new: option 'oauth_client.scopes' must be a space-separated string of scopes " ..
          "such as 'read write'", 4)
  end
  return scopes
end

-- The admin's token, minted by a sibling client that holds the OAuth
-- client's id and secret (in C) and nothing else; the client that uses
-- the token calls this as its token function, between its own attempts.
local ADMIN_TOKEN = endpoints.admin_token
local ADMIN_TOKEN_LIFE = 1800   -- seconds: a client-credentials token's life when not said
local function admin_minter(minter)
  return function()
    local res, err = run.call(minter, ADMIN_TOKEN, ADMIN_TOKEN.path)
    if not res then return nil, err end
    local tok = type(res) == "table" and res.access_token
    if type(tok) ~= "string" or tok == "" then
      return nil, errors.new{ kind = "decode", method = "POST", path = ADMIN_TOKEN.path,
                              message = "the token answer has no access_token" }
    end
    -- whether expires_in comes is unsettled: without it, Zendesk's 30
    -- minutes (and a 401 mints again, whatever the life)
    local ttl = res.expires_in
    return tok, (math.type(ttl) and ttl > 0) and ttl or ADMIN_TOKEN_LIFE
  end
end

-- Makes a client from checked options.  `parent`: a client whose basic
-- credential C copies (for_integration), with bearer = {kind =,
-- integration =, token_fn =} for the token the new client carries.
local function make(opts, parent, bearer)
  local st = {
    base_url = base_url(opts),
    on_request = opts.on_request, debug = opts.debug or false,
    follow_redirects = opts.follow_redirects or false,
  }
  for name in pairs(BOUNDS) do st[name] = bounded(opts, name) end
  -- one budget per account: a sibling shares its parent's (zis.pace)
  if parent then st.pace = state(parent).pace
  elseif opts.rate_limit ~= false then st.pace = require("zis.pace").new(st.rate_limit) end
  local cfg = {
    base_url = st.base_url, state = st,
    timeout = st.timeout, connect_timeout = st.connect_timeout,
    max_response_bytes = st.max_response_bytes,
    ca_file = opts.ca_file, ca_path = opts.ca_path, proxy = opts.proxy,
  }
  if type(opts.oauth_token) == "string" then check_secret("oauth_token", opts.oauth_token) end
  if opts.proxy then
    -- checked here, so libcurl never quotes a malformed one (with its
    -- password) in an error; the value itself is never repeated
    local scheme, rest = opts.proxy:match("^(%a[%w+.-]*)://(.+)$")
    local PROXY_SCHEMES = { http = true, https = true, socks4 = true, socks4a = true,
                            socks5 = true, socks5h = true }
    if not scheme or not PROXY_SCHEMES[scheme:lower()] or rest:find("[%s%c]") then
      error("zis.new: option 'proxy' must be a URL like http://[user:password@]host:port " ..
            "(http, https, socks4, socks4a, socks5 or socks5h)", 3)
    end
  end
  if opts.token and opts.password then
    error("zis.new: give 'token' or 'password', not both", 3)
  end
  if opts.oauth_token and opts.oauth_client then
    error("zis.new: give 'oauth_token' or 'oauth_client', not both", 3)
  end
  local secret = opts.token or opts.password
  if secret then
    if not opts.email then
      error(string.format("zis.new: option '%s' needs 'email'",
                          opts.token and "token" or "password"), 3)
    end
    check_secret(opts.token and "token" or "password", secret)
    check_secret("email", opts.email)
    if opts.email:find(":", 1, true) then
      error("zis.new: option 'email' must not contain ':'", 3)
    end
    -- the parts go to C, which builds the header in memory it zeroes
    cfg.email, cfg.secret = opts.email, secret
    cfg.basic_kind = opts.token and "token" or "password"
    st.has_basic = true
  elseif opts.email and not parent then
    error("zis.new: option 'email' needs 'token' or 'password'", 3)
  end
  if parent then
    cfg.credentials_from = parent
    st.has_basic = state(parent).has_basic
  end
  if not st.has_basic and not opts.oauth_token and not opts.oauth_client and not bearer then
    error("zis.new: no credential: give email with token (or password), " ..
          "oauth_token, or oauth_client = {id =, secret =}", 3)
  end
  if opts.oauth_token then
    st.has_oauth, st.bearer_kind = true, "user"
    cfg.oauth_kind = type(opts.oauth_token)
    if type(opts.oauth_token) == "function" then st.token_fn = opts.oauth_token end
  elseif opts.oauth_client then
    cfg.cc_scope = check_oauth_client(opts.oauth_client)
    st.has_oauth, st.bearer_kind = true, "admin"
    cfg.oauth_kind = "function"
  elseif bearer then
    st.has_oauth, st.bearer_kind, st.integration = true, bearer.kind, bearer.integration
    st.token_fn = bearer.token_fn
    cfg.oauth_kind = "function"
  end
  if opts.scheduler then st.waiter = require("zis.loop").waiter(opts.scheduler) end
  -- what a sibling client (for_integration) is made from: no secret
  local kept = {}
  for k, v in pairs(opts) do if not SECRET_OPTIONS[k] then kept[k] = v end end
  st.opts = kept
  st.caller = false   -- the coroutine in a call, once one runs
  local client = core.new(cfg)
  st.guard = run.make_guard(client, st)
  if opts.oauth_client then
    -- the minter holds the OAuth client's secret (in C); this client
    -- holds only the tokens it mints
    local mst = { base_url = st.base_url, debug = st.debug, on_request = st.on_request,
                  follow_redirects = false, waiter = st.waiter, caller = false }
    for name in pairs(BOUNDS) do mst[name] = st[name] end
    mst.pace = st.pace
    local minter = core.new{ base_url = st.base_url, state = mst, timeout = st.timeout,
                             connect_timeout = st.connect_timeout,
                             max_response_bytes = st.max_response_bytes,
                             ca_file = opts.ca_file, ca_path = opts.ca_path, proxy = opts.proxy,
                             cc_id = opts.oauth_client.id, cc_secret = opts.oauth_client.secret,
                             cc_scope = cfg.cc_scope }
    mst.guard = run.make_guard(minter, mst)
    st.minter = minter
    st.token_fn = admin_minter(minter)
  end
  if type(opts.oauth_token) == "string" then
    core.set_bearer(client, opts.oauth_token)
    st.bearer_set = true
  end
  return client
end

--- Creates a client.  See the manual for every option.
function zis.new(opts)
  if type(opts) ~= "table" then
    error("zis.new: expected a table of options, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do check_type(k, v) end
  local client = make(opts)   -- not a tail call: errors name the caller's line
  return client
end

-- For zis.token (for_integration): a client sharing `parent`'s basic
-- credential, carrying the token `bearer` describes.
local function sibling(parent, bearer)
  local st = state(parent)
  local c = make(st.opts, parent, bearer)
  return c
end

-- The environment variables Zendesk's own zcli reads.
local ENV = {
  url = "ZENDESK_URL", subdomain = "ZENDESK_SUBDOMAIN", email = "ZENDESK_EMAIL",
  token = "ZENDESK_API_TOKEN", password = "ZENDESK_PASSWORD",
  oauth_token = "ZENDESK_OAUTH_TOKEN",
  -- the admin's own OAuth client (client-credentials grant); our names
  ["oauth_client.id"] = "ZENDESK_OAUTH_CLIENT_ID",
  ["oauth_client.secret"] = "ZENDESK_OAUTH_CLIENT_SECRET",
}
zis.environment = ENV

--- Creates a client from ZENDESK_* environment variables; `opts` (optional)
-- adds options, and overrides the environment: an explicit url or
-- subdomain replaces both of the environment's, an explicit token or
-- password replaces both of its secrets.
function zis.from_env(opts, env)
  env = env or os.getenv
  if opts ~= nil and type(opts) ~= "table" then
    error("zis.from_env: expected a table of options", 2)
  end
  opts = opts or {}
  local o = {}
  for k, name in pairs(ENV) do
    local v = env(name)
    if v ~= nil and v ~= "" then
      local sub = k:match("^oauth_client%.(.+)$")
      if sub then
        o.oauth_client = o.oauth_client or {}
        o.oauth_client[sub] = v
      else
        o[k] = v
      end
    end
  end
  if o.oauth_client and not (o.oauth_client.id and o.oauth_client.secret) then
    error("zis.from_env: set both ZENDESK_OAUTH_CLIENT_ID and ZENDESK_OAUTH_CLIENT_SECRET", 2)
  end
  if o.url and o.subdomain then o.subdomain = nil end
  if o.token and o.password then o.password = nil end
  -- an explicit token wins over an OAuth client from the environment
  if o.oauth_token and o.oauth_client then o.oauth_client = nil end
  if opts.oauth_token ~= nil or opts.oauth_client ~= nil then o.oauth_token, o.oauth_client = nil, nil end
  if opts.url ~= nil or opts.subdomain ~= nil then o.url, o.subdomain = nil, nil end
  if opts.token ~= nil or opts.password ~= nil then o.token, o.password = nil, nil end
  for k, v in pairs(opts) do o[k] = v end
  -- say which variables to set, not which options
  if o.url == nil and o.subdomain == nil then
    error("zis.from_env: no Zendesk host: set ZENDESK_URL (or ZENDESK_SUBDOMAIN), or pass url", 2)
  end
  if o.oauth_token == nil and o.oauth_client == nil and not (o.email and (o.token or o.password)) then
    error("zis.from_env: no credentials: set ZENDESK_EMAIL with ZENDESK_API_TOKEN " ..
          "(or ZENDESK_PASSWORD), ZENDESK_OAUTH_TOKEN, or ZENDESK_OAUTH_CLIENT_ID with " ..
          "ZENDESK_OAUTH_CLIENT_SECRET", 2)
  end
  return zis.new(o)
end

---------------------------------------------------------------------------
-- Pretty JSON: exact (every scalar through the exact encoder), indented,
-- object keys sorted, so files diff well and come out the same each time.
---------------------------------------------------------------------------

zis.pretty_json = core.pretty_json

---------------------------------------------------------------------------
-- The client class: its method table, built once (zis.client)
---------------------------------------------------------------------------

class.build(core.methods, { sibling = sibling })

---------------------------------------------------------------------------
-- Deployments
---------------------------------------------------------------------------

zis.validate = require "zis.validate"
zis.graph = require "zis.graph"
zis.flow = require "zis.flow"     -- zis.flow.run: a flow run offline (docs/manual.md, "Testing flows")
local plan = require "zis.plan"
zis.plan, zis.apply, zis.import = plan.plan, plan.apply, plan.import

return zis

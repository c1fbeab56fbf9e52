-- zis: the public API of lua-zis.
--
-- The C core (zis.core) does the HTTP, the endpoint table, JSON and the
-- error objects; this file adds what is logic rather than mechanics:
-- option checking, credentials from the environment, and the lazy
-- pagination iterators.  It adds them to the core's tables, so a client
-- has one set of methods whichever layer wrote them.

local core = require "zis.core"

local error, getmetatable, math, pairs, setmetatable, string, table,
      tostring, type = error, getmetatable, math, pairs, setmetatable,
      string, table, tostring, type
local getenv = os.getenv

local zis = {
  _VERSION = "lua-zis " .. core.version,
  version = core.version,
  user_agent = core.user_agent,
  null = core.null,          -- JSON null: a NULL light userdata (== cjson.null)
  array = core.array,        -- zis.array(t): encode t as a JSON array, even empty
  object = core.object,      -- zis.object(t): encode t as a JSON object, even empty
  array_metatable = core.array_metatable,   -- what decoded arrays carry
  object_metatable = core.object_metatable,
  endpoints = core.endpoints,
  decode_json = core.decode_json,  -- the decoder the client uses
  encode_json = core.encode_json,  -- the encoder the client uses
}

local methods = core.methods
local ERROR_MT = core.error_metatable

--- True when `v` is an error object returned (or raised) by lua-zis.
function zis.is_error(v)
  return type(v) == "table" and getmetatable(v) == ERROR_MT
end

-- Builds an error object for failures detected in Lua (iterators).
local function new_error(fields)
  return setmetatable(fields, ERROR_MT)
end

-- Options of zis.new: name -> expected Lua type ("function|string" allows
-- either).
local OPTIONS = {
  url = "string", subdomain = "string",
  email = "string", token = "string", password = "string",
  oauth_token = "string|function",
  timeout = "number", connect_timeout = "number",
  retries = "number", retry_base_delay = "number", max_retry_wait = "number",
  max_response_bytes = "number",
  allow_insecure_http = "boolean", follow_redirects = "boolean",
  on_request = "function", debug = "boolean",
  ca_file = "string", ca_path = "string", proxy = "string",
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

local function is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]"
      or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- Parses and checks the base URL: scheme and authority only.
local function base_url(o)
  local url = o.url
  if url and o.subdomain then
    error("zis.new: give 'url' or 'subdomain', not both", 3)
  end
  if o.subdomain then
    if not o.subdomain:match("^[a-z0-9][a-z0-9-]*$") or #o.subdomain > 63 then
      error("zis.new: option 'subdomain' must be a Zendesk subdomain like 'acme'", 3)
    end
    return "https://" .. o.subdomain .. ".zendesk.com"
  end
  if not url then
    error("zis.new: option 'url' (or 'subdomain') is required", 3)
  end
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then
    error("zis.new: option 'url' must look like https://acme.zendesk.com", 3)
  end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    error("zis.new: option 'url' must be https:// (or http:// to loopback)", 3)
  end
  if authority == "" or authority:find("@", 1, true)
     or not authority:match("^[%w.%-%[%]:]+$") then
    error("zis.new: option 'url' must name a host, without user info", 3)
  end
  if rest ~= "" and rest ~= "/" then
    error("zis.new: option 'url' must have no path, query or fragment", 3)
  end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^[^:]*")
  if scheme == "http" and not is_loopback(host) and not o.allow_insecure_http then
    error("zis.new: plain http:// is allowed only to loopback hosts; " ..
          "use https:// or set allow_insecure_http = true", 3)
  end
  return scheme .. "://" .. authority
end

local function check_secret(name, s)
  if s == "" or s:find("[%z\r\n]") then
    error(string.format("zis.new: option '%s' must be non-empty, without " ..
                        "line breaks or NUL", name), 3)
  end
end

local function positive(o, name, integer)
  local v = o[name]
  if v == nil then return end
  if v ~= v or v <= 0 or v == math.huge
     or (integer and math.type(v) ~= "integer" and v % 1 ~= 0) then
    error(string.format("zis.new: option '%s' must be a positive %s", name,
                        integer and "integer" or "number"), 3)
  end
end

--- Creates a client.  See the README for every option.
function zis.new(opts)
  if type(opts) ~= "table" then
    error("zis.new: expected a table of options, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do check_type(k, v) end
  local cfg = {
    base_url = base_url(opts),
    oauth_token = opts.oauth_token,
    timeout = opts.timeout, connect_timeout = opts.connect_timeout,
    retry_base_delay = opts.retry_base_delay, max_retry_wait = opts.max_retry_wait,
    max_response_bytes = opts.max_response_bytes,
    on_request = opts.on_request, debug = opts.debug,
    follow_redirects = opts.follow_redirects,
    ca_file = opts.ca_file, ca_path = opts.ca_path, proxy = opts.proxy,
  }
  positive(opts, "timeout")
  positive(opts, "connect_timeout")
  positive(opts, "retry_base_delay")
  positive(opts, "max_retry_wait")
  positive(opts, "max_response_bytes", true)
  if opts.retries ~= nil then
    local r = opts.retries
    if math.type(r) ~= "integer" and not (r == r and r % 1 == 0) or r < 0 or r > 100 then
      error("zis.new: option 'retries' must be an integer from 0 to 100", 2)
    end
    cfg.retries = r
  end
  if type(opts.oauth_token) == "string" then check_secret("oauth_token", opts.oauth_token) end
  if opts.token and opts.password then
    error("zis.new: give 'token' or 'password', not both", 2)
  end
  local secret = opts.token or opts.password
  if secret then
    if not opts.email then
      error(string.format("zis.new: option '%s' needs 'email'",
                          opts.token and "token" or "password"), 2)
    end
    check_secret(opts.token and "token" or "password", secret)
    check_secret("email", opts.email)
    if opts.email:find(":", 1, true) then
      error("zis.new: option 'email' must not contain ':'", 2)
    end
    if opts.token then
      cfg.basic, cfg.basic_kind = opts.email .. "/token:" .. secret, "token"
    else
      cfg.basic, cfg.basic_kind = opts.email .. ":" .. secret, "password"
    end
  elseif opts.email then
    error("zis.new: option 'email' needs 'token' or 'password'", 2)
  end
  if not cfg.basic and not opts.oauth_token then
    error("zis.new: no credential: give email with token (or password), " ..
          "or oauth_token", 2)
  end
  return core.new(cfg)
end

-- The environment variables Zendesk's own zcli reads.
local ENV = {
  url = "ZENDESK_URL", subdomain = "ZENDESK_SUBDOMAIN", email = "ZENDESK_EMAIL",
  token = "ZENDESK_API_TOKEN", password = "ZENDESK_PASSWORD",
  oauth_token = "ZENDESK_OAUTH_TOKEN",
}

--- Creates a client from ZENDESK_* environment variables; `opts` (optional)
-- adds or overrides options.
function zis.from_env(opts, env)
  env = env or getenv
  local o = {}
  for k, name in pairs(ENV) do
    local v = env(name)
    if v ~= nil and v ~= "" then o[k] = v end
  end
  if o.url and o.subdomain then o.subdomain = nil end
  if o.token and o.password then o.password = nil end
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("zis.from_env: expected a table of options", 2)
    end
    for k, v in pairs(opts) do o[k] = v end
  end
  return zis.new(o)
end

---------------------------------------------------------------------------
-- Pretty JSON: exact (every scalar through the exact encoder), indented,
-- object keys sorted, so files diff well and come out the same each time.
---------------------------------------------------------------------------

zis.pretty_json = core.pretty_json

---------------------------------------------------------------------------
-- Iterators
---------------------------------------------------------------------------

-- Makes client:bundles / client:job_specs from a list method and the key
-- of the page's array.  Only the current page is held; the set of cursors
-- seen (one short string per page) is what catches a server that loops.
local function pager(list, key)
  local list_path = "/api/services/zis/registry/%s/" .. key
  return function(self, integration, opts)
    if not core.valid_name(integration) then
      error("bad argument #1 to '" .. key ..
            "' (integration name must be 1 to 64 of a-z 0-9 - _)", 2)
    end
    local page_size, cursor
    if opts ~= nil then
      if type(opts) ~= "table" then
        error("bad argument #2 to '" .. key .. "' (table expected)", 2)
      end
      for k in pairs(opts) do
        if k ~= "page_size" and k ~= "after" then
          error("bad argument #2 to '" .. key .. "' (unknown option '" ..
                tostring(k) .. "')", 2)
        end
      end
      page_size, cursor = opts.page_size, opts.after
      if page_size ~= nil and (math.type(page_size) ~= "integer"
                               or page_size < 1 or page_size > 100) then
        error("bad argument #2 to '" .. key ..
              "' (option 'page_size' must be an integer from 1 to 100)", 2)
      end
      if cursor ~= nil and type(cursor) ~= "string" then
        error("bad argument #2 to '" .. key .. "' (option 'after' must be a string)", 2)
      end
    end
    local page, i, done, seen = nil, 0, false, {}
    local function fail(message)
      done, page = true, nil
      error(new_error{ kind = "decode", method = "GET", message = message,
                       path = list_path:format(integration) }, 0)
    end
    local function step()
      while not done do
        if page then
          i = i + 1
          local item = page[key][i]
          if item ~= nil then return item end
          local meta = page.meta
          if type(meta) ~= "table" or meta.has_more ~= true then break end
          cursor = meta.after
          if type(cursor) ~= "string" or cursor == "" then
            fail("meta.has_more is true but meta.after is not a cursor")
          elseif seen[cursor] then
            fail("server repeated cursor '" .. cursor .. "': stopping, " ..
                 "pagination would loop forever")
          end
          seen[cursor] = true
        end
        page = nil
        local res, err = list(self, integration, { page_size = page_size, after = cursor })
        if not res then
          done = true
          error(err, 0)
        end
        if type(res) ~= "table" or type(res[key]) ~= "table" then
          fail("response has no '" .. key .. "' array")
        end
        page, i = res, 0
      end
      done, page = true, nil
      return nil
    end
    -- the fourth value of a generic for: a break releases the page at once
    local closer = setmetatable({}, { __close = function() done, page = true, nil end })
    return step, nil, nil, closer
  end
end

methods.bundles = pager(methods.list_bundles, "bundles")
methods.job_specs = pager(methods.list_job_specs, "job_specs")

---------------------------------------------------------------------------
-- Deployments
---------------------------------------------------------------------------

zis.validate = require "zis.validate"
methods.deploy = require "zis.deploy"
methods.export = require "zis.export"

return zis

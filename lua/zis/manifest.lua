-- zis.manifest: reads and checks a deployment manifest (docs/manual.md,
-- "Deployments as code").
--
-- A manifest declares one integration: a Lua file returning a table (run
-- in a sandbox that holds only `env`), or a JSON file of the same shape.
-- Secrets are never inline: a secret field holds `env "NAME"` (in JSON,
-- {"env": "NAME"}), the name of an environment variable read only when
-- apply sends the secret.  Unknown keys and wrong types are refused with
-- the JSON path of the offending key, written as zis.validate writes
-- paths.
--
-- load(source [, dir]) -> manifest | nil, message.  The checked manifest
-- is a fresh table: every declared value went through the exact codec
-- (encoded, then decoded), so it compares with what the API returns
-- exactly; bundles are {name =, bundle =, text =, file =} in order.

local zis_core = require "zis.core"
local util = require "zis.util"
local validate = require "zis.validate"
local deploy = require "zis.deploy"

local collectgarbage, coroutine, debug, error, getmetatable, ipairs, load, next, os, pairs, pcall,
      require, setmetatable, tostring, type =
      collectgarbage, coroutine, debug, error, getmetatable, ipairs, load, next, os, pairs, pcall,
      require, setmetatable, tostring, type
local format = string.format
local encode_json, decode_json, array_mt = zis_core.encode_json, zis_core.decode_json,
                                           zis_core.array_metatable

local M = {}

-- The fields of each connection type: which is the secret, which are
-- plain strings (zis.endpoints holds them, for every module).
M.CONNECTION_TYPES = require("zis.endpoints").CONNECTION_FIELDS

-- OAuth client fields: name -> "secret" | "required" | "optional".
-- grant_type is optional: Zendesk takes authorization_code then.
M.OAUTH_CLIENT_FIELDS = { client_id = "required", client_secret = "secret", token_url = "required",
                          grant_type = "optional", auth_url = "optional", default_scopes = "optional" }

-- The link type apply records inbound webhooks under (the API lists none).
M.WEBHOOK_LINK = "zis_manifest_inbound_webhook"

---------------------------------------------------------------------------
-- Paths and errors
---------------------------------------------------------------------------

-- JSON paths, as zis.validate writes them: .key, ["odd key"], [n] (1-based).
local seg, join = util.path_step, util.join_path
M.seg, M.join = seg, join

-- Refusals are raised as this table and caught by load: one message.
local Refusal = {}
local function refuse(path, message)
  error(setmetatable({ message = (path ~= "" and path .. ": " or "") .. message }, Refusal), 0)
end

-- Arrays and objects as every module reads them (zis.util); a manifest
-- written in Lua may also give an empty {} where a list is expected.
local is_list = util.is_list
local is_object = util.is_object

local sorted_keys = require("zis.util").sorted_keys

local function describe(v)
  if is_list(v) then return "an array" end
  if type(v) == "table" then return "an object" end
  return "a " .. type(v)
end

local function want(path, v, what, ok)
  if not ok then refuse(path, what .. " expected, got " .. describe(v)) end
end

local function check_keys(path, t, allowed)
  for _, k in ipairs(sorted_keys(t)) do
    if not allowed[k] then refuse(join(path, k), "unknown key") end
  end
end

local function check_string(path, v, required)
  if v == nil and not required then return nil end
  if v == nil then refuse(path, "required") end
  want(path, v, "a non-empty string", type(v) == "string" and v ~= "")
  return v
end

-- An env reference: {env = "NAME"} and nothing else.
local function env_ref(v)
  if type(v) ~= "table" or getmetatable(v) == array_mt then return nil end
  local name = v.env
  if type(name) ~= "string" or next(v, next(v)) ~= nil then return nil end
  return name
end
M.env_ref = env_ref

-- Is name a variable holding the admin's credentials, which lua-zis reads
-- (zis.environment) and a manifest must never send to a connection or an
-- OAuth client (it would reach a third party)?
function M.own_credential(name)
  for _, v in pairs(require("zis").environment) do
    if v == name then return true end
  end
  -- and any ZENDESK_ secret of the like
  return name:match("^ZENDESK_") ~= nil and
         (name:match("TOKEN") or name:match("PASSWORD") or name:match("SECRET")) ~= nil
end

local function check_secret(path, v, required)
  if v == nil and not required then return nil end
  if v == nil then refuse(path, 'required (as env "NAME")') end
  if type(v) == "string" then
    refuse(path, 'a secret must be given as env "NAME" (secrets are never written in a manifest)')
  end
  local name = env_ref(v)
  if not name then refuse(path, 'env "NAME" expected, got ' .. describe(v)) end
  if not name:match("^[%a_][%w_]*$") then
    refuse(path, "'" .. name .. "' is not an environment variable name")
  end
  if M.own_credential(name) then
    refuse(path, 'env "' .. name .. '" is a credential lua-zis itself reads (the admin\'s): a manifest ' ..
                 "may not send it anywhere; give this secret a variable of its own")
  end
  return { env = name }
end

-- The exact codec's view of a declared JSON value (round trip).
local function exact(path, v)
  local ok, text = pcall(encode_json, v)
  if not ok then refuse(path, "not JSON: " .. tostring(text):gsub("^[^:]*:%d+: ", "")) end
  return decode_json(text), text
end

---------------------------------------------------------------------------
-- The sections
---------------------------------------------------------------------------

-- Is p, a path the manifest names, outside the manifest's folder: absolute,
-- or climbing out with "..", or empty?
local function escapes(p)
  if p:sub(1, 1) == "/" or p == "" then return true end
  local depth = 0
  for part in p:gmatch("[^/]+") do
    if part == ".." then depth = depth - 1 elseif part ~= "." then depth = depth + 1 end
    if depth < 0 then return true end
  end
  return false
end
M.escapes = escapes

-- A path the manifest names, relative to the manifest's folder.
function M.resolve(dir, p)
  if p:sub(1, 1) == "/" then return p end
  if dir == "." then return p end
  return dir .. "/" .. p
end

-- Resolves a file the manifest names, confined to the manifest's folder
-- (a manifest from someone else must not read or write elsewhere) unless
-- allow_outside; a file allowed outside is listed in m.outside, so the
-- plan names it.
local function confined(m, path, p)
  -- one spelling per file ("a/./b", "a/../a/b" are "a/b"), so two
  -- entries naming one file are seen as one
  if p:sub(1, 1) ~= "/" and not escapes(p) then
    local parts = {}
    for part in p:gmatch("[^/]+") do
      if part == ".." then parts[#parts] = nil elseif part ~= "." then parts[#parts + 1] = part end
    end
    p = table.concat(parts, "/")
  end
  if escapes(p) then
    if not m.allow_outside then
      refuse(path, p .. " is outside the manifest's folder (absolute, or climbing out with ..): " ..
                   "refused unless --allow-outside (allow_outside = true)")
    end
    m.outside[#m.outside + 1] = p
  end
  return M.resolve(m.dir, p)
end

local TOP = { integration = true, description = true, bundles = true, job_specs = true,
              configs = true, connections = true, oauth_clients = true, inbound_webhooks = true }

local function read_text(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s, rerr = f:read("a")
  f:close()
  -- a folder opens on Linux, and only the read fails
  if not s then return nil, path .. ": cannot read it (" .. tostring(rerr) .. ")" end
  return s
end

local function check_bundles(m, raw)
  m.bundles = {}
  if raw == nil then return end
  want("bundles", raw, "an array of files or bundles", is_list(raw))
  local seen = {}
  for i, b in ipairs(raw) do
    local path = "bundles" .. seg(i)
    local entry = {}
    if type(b) == "string" then
      local file = confined(m, path, b)
      if not m.allow_outside and require("zis.core").file_type(file) == "link" then
        -- a link may lead anywhere: the file itself must be in the folder
        refuse(path, b .. " is a symbolic link: refused unless --allow-outside (allow_outside = true)")
      end
      local text, err = read_text(file)
      if not text then refuse(path, "cannot read " .. tostring(err)) end
      local decoded, why = decode_json(text)
      if decoded == nil then refuse(path, b .. " is not JSON: " .. tostring(why)) end
      entry.bundle, entry.text, entry.file = decoded, text, b
    elseif type(b) == "table" and not is_list(b) then
      entry.bundle, entry.text = exact(path, b)
    else
      want(path, b, "a file name or a bundle", false)
    end
    if type(entry.bundle) ~= "table" or type(entry.bundle.name) ~= "string" then
      refuse(path, "a bundle has a name")
    end
    local valid, problems = validate(entry.bundle, { integration = m.integration })
    if not valid then
      for _, p in ipairs(problems) do
        if p.severity == "error" then
          refuse(path, (entry.file and entry.file .. ": " or "") .. "not a valid bundle: " ..
                 (p.path ~= "" and p.path .. ": " or "") .. p.message)
        end
      end
    end
    entry.name = entry.bundle.name
    if seen[entry.name] then refuse(path, "a second bundle named " .. entry.name) end
    seen[entry.name] = true
    entry.job_specs = deploy.job_spec_names(entry.bundle)
    m.bundles[i] = entry
  end
end

local function check_job_specs(m, raw)
  local all = {}
  for _, b in ipairs(m.bundles) do
    for _, n in ipairs(b.job_specs) do all[n] = b.name end
  end
  m.job_spec_bundle = all
  m.job_specs = {}
  if raw == nil or raw == "all" then
    for n in pairs(all) do m.job_specs[n] = true end
    m.all_job_specs = true
    return
  end
  want("job_specs", raw, '"all" or an array of job spec names', is_list(raw))
  for i, n in ipairs(raw) do
    local path = "job_specs" .. seg(i)
    check_string(path, n, true)
    if not all[n] then refuse(path, "no job spec '" .. n .. "' in the manifest's bundles") end
    m.job_specs[n] = true
  end
end

local function check_configs(m, raw)
  m.configs = {}
  if raw == nil then return end
  want("configs", raw, "an object (scope -> config)", is_object(raw))
  for _, scope in ipairs(sorted_keys(raw)) do
    local path = join("configs", scope)
    local c = raw[scope]
    want(path, c, "an object", is_object(c))
    m.configs[scope] = (exact(path, c))
  end
end

local function check_connections(m, raw)
  m.connections = {}
  if raw == nil then return end
  want("connections", raw, "an object (name -> connection)", is_object(raw))
  for _, name in ipairs(sorted_keys(raw)) do
    local path = join("connections", name)
    if not name:match("^[%w_%-]+$") or #name > 64 then
      refuse(path, "a connection name is 1 to 64 letters, digits, hyphens or underscores")
    end
    local c = raw[name]
    want(path, c, "an object", is_object(c))
    local ctype = c.type
    check_string(join(path, "type"), ctype, true)
    local kind = M.CONNECTION_TYPES[ctype]
    if not kind then refuse(join(path, "type"), "one of api_key, basic_auth, bearer_token expected") end
    local allowed = { type = true, [kind.secret] = true }
    for _, f in ipairs(kind.plain) do allowed[f] = true end
    check_keys(path, c, allowed)
    local out = { type = ctype, name = name, secret_field = kind.secret, fields = {} }
    for _, f in ipairs(kind.plain) do out.fields[f] = check_string(join(path, f), c[f], true) end
    out.secret = check_secret(join(path, kind.secret), c[kind.secret], true)
    m.connections[name] = out
  end
end

local function check_oauth_clients(m, raw)
  m.oauth_clients = {}
  if raw == nil then return end
  want("oauth_clients", raw, "an object (name -> OAuth client)", is_object(raw))
  for _, name in ipairs(sorted_keys(raw)) do
    local path = join("oauth_clients", name)
    local c = raw[name]
    want(path, c, "an object", is_object(c))
    check_keys(path, c, M.OAUTH_CLIENT_FIELDS)
    local out = { name = name, fields = {} }
    for _, f in ipairs(sorted_keys(M.OAUTH_CLIENT_FIELDS)) do
      local how = M.OAUTH_CLIENT_FIELDS[f]
      if how == "secret" then out.secret = check_secret(join(path, f), c[f], true)
      else out.fields[f] = check_string(join(path, f), c[f], how == "required") end
    end
    local g = out.fields.grant_type
    if g ~= nil and g ~= "authorization_code" and g ~= "client_credentials" then
      refuse(join(path, "grant_type"), "authorization_code or client_credentials expected")
    end
    if (g or "authorization_code") == "authorization_code" and not out.fields.auth_url then
      refuse(join(path, "auth_url"), "required for the authorization_code grant")
    end
    m.oauth_clients[name] = out
  end
end

local WEBHOOK = { source_system = true, event_type = true, credentials_file = true }

local function check_webhooks(m, raw)
  m.inbound_webhooks = {}
  if raw == nil then return end
  want("inbound_webhooks", raw, "an array of webhooks", is_list(raw))
  local seen, files = {}, {}
  for i, w in ipairs(raw) do
    local path = "inbound_webhooks" .. seg(i)
    want(path, w, "an object", is_object(w))
    check_keys(path, w, WEBHOOK)
    local out = { source_system = check_string(join(path, "source_system"), w.source_system, true),
                  event_type = check_string(join(path, "event_type"), w.event_type, true),
                  credentials_file = check_string(join(path, "credentials_file"), w.credentials_file) }
    out.key = out.source_system .. ":" .. out.event_type
    if seen[out.key] then refuse(path, "a second webhook for " .. out.key) end
    seen[out.key] = true
    if out.credentials_file then
      local fpath = join(path, "credentials_file")
      out.file = confined(m, fpath, out.credentials_file)
      -- one file holds one webhook's credentials: a second would overwrite them
      if files[out.file] then
        refuse(fpath, out.credentials_file .. " is also the credentials_file of " .. files[out.file] ..
                      " (each webhook needs its own file)")
      end
      files[out.file] = path
    end
    m.inbound_webhooks[i] = out
  end
end

-- What load returns: a checked manifest is taken as it is.
local Checked = {}

-- Checks a manifest table; raises a Refusal.
local function check(raw, dir, allow_outside)
  want("", raw, "a table", type(raw) == "table" and (next(raw) == nil or not is_list(raw)))
  check_keys("", raw, TOP)
  local m = setmetatable({ dir = dir, allow_outside = allow_outside == true,
                          outside = setmetatable({}, array_mt) }, Checked)
  m.integration = check_string("integration", raw.integration, true)
  if not require("zis.request").valid_name(m.integration) then
    refuse("integration", "an integration name is 1 to 64 of a-z 0-9 - _")
  end
  m.description = check_string("description", raw.description) or ""
  if raw.description == "" then m.description = "" end
  check_bundles(m, raw.bundles)
  check_job_specs(m, raw.job_specs)
  check_configs(m, raw.configs)
  check_connections(m, raw.connections)
  check_oauth_clients(m, raw.oauth_clients)
  check_webhooks(m, raw.inbound_webhooks)
  return m
end

-- The environment a Lua manifest runs in: env and nothing else.
local function sandbox()
  return { env = function(name)
    if type(name) ~= "string" then error('env "NAME": a variable name expected', 2) end
    return { env = name }
  end }
end

-- What a Lua manifest may spend: it is a program, maybe someone else's,
-- and must not hang plan or eat the machine.  Checked every 1000
-- instructions by a count hook on the coroutine it runs in.
M.BUDGET = { seconds = 2, memory_kb = 64 * 1024 }

-- Runs a manifest's chunk within M.BUDGET: true, value | false, message.
local function run_budgeted(chunk)
  local budget = M.BUDGET
  local co = coroutine.create(chunk)
  local start, base = os.clock(), collectgarbage("count")
  local over
  -- lua.c's Ctrl-C sets a hook on the thread that runs us, not on this
  -- coroutine: seen here as that hook changing, and raised again after
  local caller = coroutine.running()
  local caller_hook = debug.gethook(caller)
  debug.sethook(co, function()
    if debug.gethook(caller) ~= caller_hook then
      over = "interrupted!"
    elseif os.clock() - start > budget.seconds then
      over = format("ran for more than %g s (a manifest only builds a table)", budget.seconds)
    elseif collectgarbage("count") - base > budget.memory_kb then
      collectgarbage()   -- garbage is not the manifest's fault: count again
      if collectgarbage("count") - base > budget.memory_kb then
        over = format("used more than %d MB of memory", budget.memory_kb // 1024)
      end
    end
    if over then error(over, 0) end
  end, "", 1000)
  local ok, v = coroutine.resume(co)
  if over == "interrupted!" or (not ok and require("zis.errors").is_interrupt(v)) then
    error("interrupted!", 0)   -- Ctrl-C: the command exits 130
  end
  if over then return false, over end
  return ok, v
end

--- load(source [, dir [, opts]]) -> manifest | nil, message
-- source: a file name (.json: JSON; otherwise Lua) or a manifest table;
-- dir: where a table's bundle files are (default "."); opts.allow_outside:
-- accept files outside the manifest's folder (listed in m.outside).
function M.load(source, dir, opts)
  if getmetatable(source) == Checked then return source end
  local raw, where = source, nil
  if type(source) == "string" then
    where = source
    dir = source:match("^(.*)/[^/]*$") or "."
    local text, err = read_text(source)
    if not text then return nil, err end
    if source:match("%.json$") then
      local why
      raw, why = decode_json(text)
      if raw == nil then return nil, source .. ": not JSON: " .. tostring(why) end
    else
      local chunk, why = load(text, "@" .. source, "t", sandbox())
      if not chunk then return nil, tostring(why) end
      local ok, v = run_budgeted(chunk)
      if not ok then return nil, source .. ": " .. tostring(v):gsub("^[^:]*:%d+: ", "") end
      raw = v
    end
  end
  local ok, m = pcall(check, raw, dir or ".", opts and opts.allow_outside)
  if ok then return m end
  if getmetatable(m) ~= Refusal then error(m, 0) end
  return nil, (where and where .. ": " or "manifest: ") .. m.message
end

return M

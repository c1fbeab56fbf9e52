-- zis.plan.import: writes a manifest and its bundle files from a live
-- integration, so that plan on the result reports no changes.
--
-- It never overwrites by accident: each bundle gets its own file even when
-- names clean up to the same file name, and a folder that already holds a
-- manifest or bundle files is refused (naming them) unless opts.force.
-- Every file goes through zis.core.write_file (whole or not at all, never
-- through a symlink).

local zis_core = require "zis.core"
local manifest = require "zis.manifest"
local deploy = require "zis.deploy"
local errors = require "zis.errors"
local live_mod = require "zis.plan.live"

local error, ipairs, next, pairs, pcall, require, tostring, type =
      error, ipairs, next, pairs, pcall, require, tostring, type
local format, sort, concat = string.format, table.sort, table.concat
local array = zis_core.array
local sorted_keys, nonnull = require("zis.util").sorted_keys, live_mod.nonnull

-- File names stay well under the 255 bytes most file systems allow, with
-- room for a suffix and the temporary name's affixes.
local MAX_BASE = 120

-- A stable 32-bit FNV-1a hash of s, as 8 hex digits: the same long name
-- always gets the same file name.
local function hash8(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return format("%08x", h)
end

-- A file name for each bundle name (sorted, so the same integration gives
-- the same files): letters, digits, _ and - kept, the rest _ (a name of
-- other bytes, unicode too, keeps its length in _ and a hash); a long
-- name is cut and given a hash of the whole name; names that clean up the
-- same (ignoring case, as some file systems do) get -2, -3...
local function file_names(names)
  local out, used = {}, {}
  for _, name in ipairs(names) do
    local base = name:gsub("[^%w_%-]", "_")
    if base ~= name then base = base .. "-" .. hash8(name) end
    if #base > MAX_BASE then base = base:sub(1, MAX_BASE - 9) .. "-" .. hash8(name) end
    local try, n = base, 1
    while used[try:lower()] do
      n = n + 1
      try = base .. "-" .. n
    end
    used[try:lower()] = true
    out[name] = "bundles/" .. try .. ".json"
  end
  return out
end

local function env_name(...)
  return (concat({ ... }, "_"):upper():gsub("[^%w_]", "_"))
end

-- The manifest for the live state, and the bundle files' contents:
-- m, files ({path, text} relative to dir), env (variables named).
local function build(integration, live)
  local pretty = require("zis").pretty_json
  local m = { integration = integration }
  if live.description and live.description ~= "" then m.description = live.description end
  local files, env = {}, array{}
  m.bundles = array{}
  local names = sorted_keys(live.bundles)
  local fname = file_names(names)
  local all, installed, every = {}, array{}, true
  for _, name in ipairs(names) do
    local b = live.bundles[name]
    local out = {}
    for k, v in pairs(b) do
      if k ~= "uuid" and k ~= "zendesk_account_id" and k ~= "integration" then out[k] = v end
    end
    files[#files + 1] = { path = fname[name], text = pretty(out) }
    m.bundles[#m.bundles + 1] = fname[name]
    for _, n in ipairs(deploy.job_spec_names(b)) do all[#all + 1] = n end
  end
  sort(all)
  for _, n in ipairs(all) do
    local js = live.job_specs[n]
    if js and js.installed == true then installed[#installed + 1] = n else every = false end
  end
  m.job_specs = every and "all" or installed
  if next(live.configs) then m.configs = live.configs end
  for _, name in ipairs(sorted_keys(live.connections)) do
    local l = live.connections[name]
    local kind = manifest.CONNECTION_TYPES[l.type]
    if kind then
      local c = { type = l.type }
      for _, f in ipairs(kind.plain) do c[f] = l[f] end
      local var = env_name(name, kind.secret)
      c[kind.secret] = { env = var }
      env[#env + 1] = var
      m.connections = m.connections or {}
      m.connections[name] = c
    end
  end
  for _, name in ipairs(sorted_keys(live.oauth_clients)) do
    local l = live.oauth_clients[name]
    local c = { grant_type = "authorization_code" }   -- the API's default when it omits it
    for f, how in pairs(manifest.OAUTH_CLIENT_FIELDS) do
      if how ~= "secret" and nonnull(l[f]) ~= nil then c[f] = l[f] end
    end
    local var = env_name(name, "client_secret")
    c.client_secret = { env = var }
    env[#env + 1] = var
    m.oauth_clients = m.oauth_clients or {}
    m.oauth_clients[name] = c
  end
  -- every live webhook, one per event (a manifest declares one per event);
  -- credentials cannot be read back, so no credentials_file
  local hooks = {}
  for key in pairs(live.webhooks) do hooks[key] = true end
  for key in pairs(live.unrecorded) do hooks[key] = true end
  for _, key in ipairs(sorted_keys(hooks)) do
    local w = live.webhooks[key] or live.unrecorded[key][1]
    m.inbound_webhooks = m.inbound_webhooks or array{}
    m.inbound_webhooks[#m.inbound_webhooks + 1] = { source_system = w.source_system, event_type = w.event_type }
  end
  files[#files + 1] = { path = "manifest.json", text = pretty(m) }
  return m, files, env
end

-- The files import would replace: the ones it writes that exist, and a
-- manifest or bundle files already in the folder.
local function in_the_way(dir, files)
  local taken, seen = {}, {}
  local function take(p)
    if not seen[p] then seen[p] = true taken[#taken + 1] = dir .. "/" .. p end
  end
  for _, f in ipairs(files) do
    if zis_core.file_type(dir .. "/" .. f.path) then take(f.path) end
  end
  for _, p in ipairs{ "manifest.json", "manifest.lua" } do
    if zis_core.file_type(dir .. "/" .. p) then take(p) end
  end
  for _, n in ipairs(zis_core.list_dir(dir .. "/bundles") or {}) do
    if n:match("%.json$") then take("bundles/" .. n) end
  end
  sort(taken)
  return taken
end

local OPTIONS = { integration_client = true, force = true, on_progress = true }

--- import(client, integration, dir [, opts]) -> report | nil, err
-- report: manifest (the file), bundles (the files), written (every file,
-- in the order written), env (the variables the manifest names).
return function(client, integration, dir, opts)
  if not require("zis.request").valid_name(integration) then
    error("bad argument #2 to 'import' (integration name must be 1 to 64 of a-z 0-9 - _)", 2)
  end
  if type(dir) ~= "string" or dir == "" then error("bad argument #3 to 'import' (a folder expected)", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("bad argument #4 to 'import' (table expected)", 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then error("bad argument #4 to 'import' (unknown option '" .. tostring(k) .. "')", 2) end
  end
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    error("bad argument #4 to 'import' (on_progress must be a function)", 2)
  end
  local svc_client
  local function svc()
    svc_client = svc_client or opts.integration_client or client:for_integration(integration)
    return svc_client
  end
  local ok, live = pcall(live_mod.read, client, svc, integration, opts.on_progress)
  if svc_client and svc_client ~= opts.integration_client then svc_client:close() end
  if not ok then
    if errors.is_error(live) then return nil, live end
    error(live, 0)
  end
  if not live.exists then return nil, "no integration " .. integration .. " on this account" end
  local _, files, env = build(integration, live)
  local taken = in_the_way(dir, files)
  if #taken > 0 and not opts.force then
    return nil, dir .. " already holds " .. concat(taken, ", ") .. ": import would replace " ..
                (#taken == 1 and "it" or "them") .. " (--force to replace)"
  end
  local mok, merr = zis_core.mkdirs(dir .. "/bundles", 493)   -- 0755
  if not mok then return nil, "cannot create folder " .. dir .. "/bundles: " .. merr:gsub("^.-: ", "") end
  local report = { bundles = array{}, written = array{}, env = env, replaced = array(opts.force and taken or {}) }
  for _, f in ipairs(files) do
    local path = dir .. "/" .. f.path
    local wok, werr = zis_core.write_file(path, f.text, 420)   -- 0644
    if not wok then
      return nil, werr .. (#report.written > 0 and ("; written before the failure: " ..
                                                    concat(report.written, ", ")) or "")
    end
    report.written[#report.written + 1] = path
    if f.path == "manifest.json" then report.manifest = path else report.bundles[#report.bundles + 1] = path end
  end
  return report
end

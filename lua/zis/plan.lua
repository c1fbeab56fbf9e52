-- zis.plan: deployments as code.  plan compares a manifest (zis.manifest)
-- with the live integration, apply converges the integration to it, and
-- import writes a manifest from a live integration.
--
-- The API is the state: there is no state file.  plan reads with GET
-- requests only; the one other request it may send is the POST to
-- /api/v2/oauth/tokens that mints the integration's own token (the ZIS
-- services take no other), which changes nothing.  The admin's client
-- lists and creates integrations and uploads bundles (the API accepts
-- basic auth only there); every other call goes through
-- client:for_integration, the integration's own token.
--
-- Every object of the manifest becomes one plan item {kind, name, action,
-- details, paths}: action is create, update, delete (only with prune),
-- install, uninstall or unchanged.  apply runs the items that change
-- something, in the plan's order (each upload is followed by its job
-- specs' installs, since an upload orphans them; prune comes last), and
-- stops at the first failure with the steps done and not done.
--
-- What the API cannot tell or do, and how this module copes:
--   * secrets come back as "*****": a connection's or OAuth client's
--     secret is sent when the object is created or its other fields
--     change, or always with reset_secrets;
--   * inbound webhooks cannot be listed nor deleted: apply records each
--     one it creates as a link (link_type zis_manifest_inbound_webhook,
--     left object "source_system:event_type", right object the uuid), and
--     plan reads those links and confirms each webhook with a GET;
--   * OAuth clients cannot be deleted, and an integration's description
--     cannot be changed: plan notes the difference, prune leaves them.

local zis_core = require "zis.core"
local manifest = require "zis.manifest"
local deploy = require "zis.deploy"
local errors = require "zis.errors"

local error, getmetatable, ipairs, next, os, pairs, pcall, require, tostring, type =
      error, getmetatable, ipairs, next, os, pairs, pcall, require, tostring, type
local format, sort, concat = string.format, table.sort, table.concat
local array, array_mt, null = zis_core.array, zis_core.array_metatable, zis_core.null
local join, sorted_keys = manifest.join, manifest.sorted_keys
local short_name = deploy.short_name

local M = {}

---------------------------------------------------------------------------
-- Exact comparison and JSON-path differences
---------------------------------------------------------------------------

-- Is b the same JSON as a: integers vs floats, arrays vs objects, null,
-- strings byte for byte?
local function same(a, b)
  local ta = type(a)
  if ta ~= type(b) then return false end
  if ta == "number" then return math.type(a) == math.type(b) and a == b end
  if ta ~= "table" then return a == b end
  if (getmetatable(a) == array_mt) ~= (getmetatable(b) == array_mt) then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M.same = same

-- Appends {op =, path =} to out for each difference from live to declared:
-- added (declared only), removed (live only), changed (the deepest path
-- where both have a value and they differ).
local function diff(live, declared, path, out)
  if same(live, declared) then return end
  if type(live) == "table" and type(declared) == "table"
     and (getmetatable(live) == array_mt) == (getmetatable(declared) == array_mt) then
    local keys, seen = {}, {}
    for k in pairs(live) do keys[#keys + 1], seen[k] = k, true end
    for k in pairs(declared) do if not seen[k] then keys[#keys + 1] = k end end
    sort(keys, function(x, y)
      if type(x) == type(y) then return x < y end
      return type(x) == "number"
    end)
    for _, k in ipairs(keys) do
      local p = join(path, k)
      if live[k] == nil then out[#out + 1] = { op = "added", path = p }
      elseif declared[k] == nil then out[#out + 1] = { op = "removed", path = p }
      else diff(live[k], declared[k], p, out) end
    end
    return
  end
  out[#out + 1] = { op = "changed", path = path }
end
M.diff = diff

-- The top-level fields of a bundle that plan compares; uuid, name,
-- integration and zendesk_account_id are the server's.
local BUNDLE_FIELDS = { "description", "resources", "zis_template_version" }

local function bundle_diff(live, declared)
  local out = array{}
  for _, f in ipairs(BUNDLE_FIELDS) do
    local d = declared[f]
    if f == "description" and d == nil then d = "" end
    local l = live[f]
    -- a field the manifest's bundle does not have is not compared
    if l == nil and d ~= nil then out[#out + 1] = { op = "added", path = f }
    elseif d ~= nil then diff(l, d, f, out) end
  end
  return out
end

---------------------------------------------------------------------------
-- The live state
---------------------------------------------------------------------------

-- Collects an iterator into a list; raises the error object on a failure.
local function collect(it, ...)
  local list = {}
  for x in it(...) do list[#list + 1] = x end
  return list
end

local function check(v, err)
  if v == nil then error(err, 0) end
  return v
end

local function nonnull(v) if v == null then return nil end return v end


-- The links apply made to record the webhooks it created: uuid -> key
-- ("source_system:event_type").
local function webhook_records(c, integration)
  local rec = {}
  for _, l in ipairs(collect(c.links, c, integration, { link_type = manifest.WEBHOOK_LINK,
                                                        left_object_name = "*", page_size = 100 })) do
    local key, uuid = l.left_object and l.left_object.name, l.right_object and l.right_object.name
    if type(key) == "string" and type(uuid) == "string" then rec[uuid] = key end
  end
  return rec
end

-- Fills live.webhooks (key -> {uuid, source_system, event_type, recorded})
-- and live.unrecorded (webhooks no apply recorded: key -> array).  The
-- list endpoint is not in Zendesk's reference (zaf-toolbox calls it, a
-- runbook says there is none): on 404 or 405, the webhooks are those the
-- records name, each confirmed with a GET, and live.listed is false.
local function read_webhooks(c, integration, live)
  local rec = webhook_records(c, integration)
  live.records = rec
  local res, err = c:list_inbound_webhooks(integration)
  if res then
    live.listed = true
    for _, w in ipairs(type(res.webhooks) == "table" and res.webhooks or {}) do
      if type(w) == "table" and type(w.uuid) == "string" then
        local key = tostring(w.source_system) .. ":" .. tostring(w.event_type)
        local v = { uuid = w.uuid, source_system = w.source_system, event_type = w.event_type,
                    recorded = rec[w.uuid] ~= nil }
        if v.recorded and not live.webhooks[key] then
          live.webhooks[key] = v
        else
          live.unrecorded[key] = live.unrecorded[key] or {}
          local u = live.unrecorded[key]
          u[#u + 1] = v
        end
      end
    end
    return
  end
  if err.status ~= 404 and err.status ~= 405 then error(err, 0) end
  live.listed = false
  for _, uuid in ipairs(sorted_keys(rec)) do
    local key = rec[uuid]
    local w, gerr = c:get_inbound_webhook(integration, uuid)
    if w then
      live.webhooks[key] = { uuid = uuid, source_system = w.source_system, event_type = w.event_type,
                             recorded = true }
    elseif gerr.status ~= 404 then
      error(gerr, 0)
    end
  end
end

-- Reads what plan compares.  Raises error objects (read_live's caller
-- catches them).  svc() gives the integration's client.
local function read_live(admin, svc, integration)
  local live = { exists = false, bundles = {}, job_specs = {}, configs = {}, connections = {},
                 oauth_clients = {}, webhooks = {}, unrecorded = {}, records = {} }
  local list = check(admin:list_integrations())
  for _, i in ipairs(type(list.integrations) == "table" and list.integrations or {}) do
    if i.name == integration then live.exists, live.description = true, nonnull(i.description) end
  end
  if not live.exists then return live end
  local c = svc()
  local uuids = {}
  for _, b in ipairs(collect(c.bundles, c, integration, { page_size = 100 })) do uuids[#uuids + 1] = b.uuid end
  local full, errs = c:get_bundles(integration, uuids)
  if errs then
    local _, e = next(errs)
    error(e, 0)
  end
  for _, b in ipairs(full) do live.bundles[b.name] = b end
  for _, js in ipairs(collect(c.job_specs, c, integration, { page_size = 100 })) do
    live.job_specs[short_name(integration, js.name)] = js
  end
  for _, x in ipairs(collect(c.configs, c, integration, { scope = "*", page_size = 100 })) do
    live.configs[x.scope] = x.config
  end
  for _, x in ipairs(collect(c.connections, c, integration, { page_size = 100 })) do
    live.connections[x.name] = x
  end
  local oc = check(c:list_oauth_clients(integration))
  -- the API's key is clients; a bare array is tolerated (docs/zendesk-api.md)
  local clients = oc.clients or oc.oauth_clients or (getmetatable(oc) == array_mt and oc) or {}
  for _, x in ipairs(type(clients) == "table" and clients or {}) do
    if type(x) == "table" and type(x.name) == "string" then live.oauth_clients[x.name] = x end
  end
  read_webhooks(c, integration, live)
  return live
end

---------------------------------------------------------------------------
-- The plan
---------------------------------------------------------------------------

local function secret_note(ref)
  return "secret set from env " .. ref.env .. " (cannot be compared: the API never returns it)"
end

-- Builds the plan and its operations: plan (data) and ops[i], the
-- function that carries out plan.items[i] (nil for unchanged items).
local function build(admin, m, opts, live, svc)
  local I = m.integration
  local getenv = opts.getenv or os.getenv
  local items, ops, notes, missing = array{}, {}, array{}, array{}
  local missing_seen = {}
  local function add(kind, name, action, op, details, paths)
    local it = { kind = kind, name = name, action = action, details = array(details or {}) }
    if paths then it.paths = paths end
    items[#items + 1] = it
    ops[#items] = op
    return it
  end
  local function need_env(ref, it)
    local v = getenv(ref.env)
    if v == nil or v == "" then
      if not missing_seen[ref.env] then
        missing_seen[ref.env] = true
        missing[#missing + 1] = ref.env
      end
      it.details[#it.details + 1] = "env " .. ref.env .. " is not set: apply stops before writing"
    end
  end
  local function secret(ref)
    local v = getenv(ref.env)
    if v == nil or v == "" then error("environment variable " .. ref.env .. " is not set", 0) end
    return v
  end

  -- the integration
  if not live.exists then
    add("integration", I, "create", function()
      return admin:create_integration(I, { description = m.description })
    end)
  else
    local it = add("integration", I, "unchanged")
    if m.description ~= "" and live.description ~= m.description then
      it.details[#it.details + 1] = format("description is %q, the manifest says %q " ..
                                           "(the API cannot change a description)",
                                           tostring(live.description), m.description)
    end
  end

  -- bundles, each followed by its job specs
  local declared_specs, manifest_bundles = {}, {}
  for _, b in ipairs(m.bundles) do
    manifest_bundles[b.name] = true
    local l = live.bundles[b.name]
    local upload = function() return admin:upload_bundle(I, b.text) end
    local uploaded = true
    if not l then
      add("bundle", b.name, "create", upload, { "upload" .. (b.file and " " .. b.file or "") })
    else
      local paths = bundle_diff(l, b.bundle)
      if #paths > 0 then add("bundle", b.name, "update", upload, nil, paths)
      else add("bundle", b.name, "unchanged") uploaded = false end
    end
    for _, n in ipairs(b.job_specs) do
      declared_specs[n] = true
      local js = live.job_specs[n]
      local installed = js ~= nil and js.installed == true
      local install = function() return svc():install_job_spec(I, n) end
      if m.job_specs[n] then
        if uploaded then
          add("job_spec", n, "install", install,
              { (installed and "reinstall" or "install") .. " after the upload of " .. b.name })
        elseif not installed then add("job_spec", n, "install", install)
        else add("job_spec", n, "unchanged", nil, { "installed" }) end
      elseif installed and not uploaded then
        add("job_spec", n, "uninstall", function() return svc():uninstall_job_spec(I, n) end,
            { "not in the manifest's job_specs" })
      else
        add("job_spec", n, "unchanged", nil, { "not installed (not in the manifest's job_specs)" })
      end
    end
  end

  -- installed job specs that no bundle of the manifest defines (renamed,
  -- or from a bundle the manifest dropped): a stale job spec still fires
  -- on real events, so it is uninstalled with or without prune
  local defined_by = {}
  for _, name in ipairs(sorted_keys(live.bundles)) do
    for _, n in ipairs(deploy.job_spec_names(live.bundles[name])) do defined_by[n] = name end
  end
  for _, n in ipairs(sorted_keys(live.job_specs)) do
    if not declared_specs[n] and live.job_specs[n].installed == true then
      local b = defined_by[n]
      add("job_spec", n, "uninstall", function() return svc():uninstall_job_spec(I, n) end,
          { "installed, but no bundle of the manifest defines it" ..
            (b and not manifest_bundles[b] and (" (it is in bundle " .. b .. ", not in the manifest)")
             or "") .. ": a stale job spec still runs on real events" })
    end
  end

  -- configs
  for _, scope in ipairs(sorted_keys(m.configs)) do
    local c, l = m.configs[scope], live.configs[scope]
    if l == nil then
      add("config", scope, "create", function() return svc():create_config(I, scope, c) end)
    else
      local paths = array{}
      diff(l, c, "config", paths)
      if #paths > 0 then
        add("config", scope, "update", function() return svc():replace_config(I, scope, c) end, nil, paths)
      else add("config", scope, "unchanged") end
    end
  end

  -- An object whose secret cannot be compared (the API shows "*****"):
  -- updated when another field differs, or when secrets are reset; the
  -- secret then goes again.  Returns the plan item, or nil if unchanged.
  local function update_or_unchanged(kind, name, details, ref, op)
    if #details == 0 and not opts.reset_secrets then
      add(kind, name, "unchanged", nil, { secret_note(ref) })
      return nil
    end
    details[#details + 1] = "secret set again from env " .. ref.env ..
                            (#details == 0 and " (reset_secrets)" or "")
    return add(kind, name, "update", op, details)
  end

  -- connections
  for _, name in ipairs(sorted_keys(m.connections)) do
    local c, l = m.connections[name], live.connections[name]
    local function body()
      local f = { name = name }
      for k, v in pairs(c.fields) do f[k] = v end
      f[c.secret_field] = secret(c.secret)
      return f
    end
    local it
    if not l then
      it = add("connection", name, "create", function()
        return svc():create_connection(I, c.type, body())
      end, { "secret set from env " .. c.secret.env })
    elseif l.type ~= c.type then
      it = add("connection", name, "update", function()
        local s = svc()
        local f = body()
        local ok, err = s:delete_connection(I, l.type, name)
        if not ok then return nil, err end
        return s:create_connection(I, c.type, f)
      end, { "type " .. tostring(l.type) .. " -> " .. c.type .. ": deleted and created again",
             "secret set again from env " .. c.secret.env })
    else
      local details = {}
      for _, f in ipairs(sorted_keys(c.fields)) do
        if l[f] ~= c.fields[f] then
          details[#details + 1] = format("%s: %q -> %q", f, tostring(nonnull(l[f])), c.fields[f])
        end
      end
      it = update_or_unchanged("connection", name, details, c.secret, function()
        return svc():update_connection(I, c.type, name, body())
      end)
    end
    if it then need_env(c.secret, it) end
  end

  -- OAuth clients
  for _, name in ipairs(sorted_keys(m.oauth_clients)) do
    local c, l = m.oauth_clients[name], live.oauth_clients[name]
    local function body(with_name)
      local f = { client_secret = secret(c.secret) }
      if with_name then f.name = name end
      for k, v in pairs(c.fields) do f[k] = v end
      return f
    end
    local it
    if not l then
      it = add("oauth_client", name, "create", function()
        return svc():create_oauth_client(I, body(true))
      end, { "secret set from env " .. c.secret.env })
    else
      local details = {}
      for _, f in ipairs(sorted_keys(manifest.OAUTH_CLIENT_FIELDS)) do
        if f ~= "client_secret" and nonnull(l[f]) ~= c.fields[f] then
          details[#details + 1] = format("%s: %q -> %q", f, tostring(nonnull(l[f])), tostring(c.fields[f]))
        end
      end
      it = update_or_unchanged("oauth_client", name, details, c.secret, function()
        return svc():update_oauth_client(I, l.uuid, body(false))
      end)
    end
    if it then need_env(c.secret, it) end
  end

  -- inbound webhooks: each declared one is matched with the live webhook
  -- apply recorded for it; failing that, with one no apply recorded (an
  -- apply killed between creating and recording it), which is reported
  -- and never duplicated.
  local matched = {}
  for _, w in ipairs(m.inbound_webhooks) do
    local l = live.webhooks[w.key]
    local unrec = live.unrecorded[w.key]
    if l then
      matched[l.uuid] = true
      add("inbound_webhook", w.key, "unchanged", nil, { "uuid " .. l.uuid })
    elseif unrec then
      M.plan_unrecorded_webhook(add, notes, svc, I, w, unrec, matched)
    else
      add("inbound_webhook", w.key, "create", function(report)
        return M.create_webhook(svc(), I, w, report)
      end, { w.credentials_file and ("credentials written to " .. w.credentials_file .. " (mode 0600)")
             or "credentials printed once: name a credentials_file to keep them" })
    end
  end

  -- what the manifest does not declare: pruned, or noted
  local function extra(kind, name, op, what, details)
    if opts.prune and op then
      local d = { "not in the manifest" }
      for _, x in ipairs(details or {}) do d[#d + 1] = x end
      add(kind, name, "delete", op, d)
    else
      notes[#notes + 1] = format("%s %s is not in the manifest: %s", kind, name,
                                 op and "kept (prune deletes it)" or what)
    end
  end
  -- bundles are never deleted (Zendesk documents them as undeletable):
  -- their job specs were uninstalled above
  for _, name in ipairs(sorted_keys(live.bundles)) do
    if not manifest_bundles[name] then
      notes[#notes + 1] = format("bundle %s is not in the manifest: kept (Zendesk cannot delete a " ..
                                 "bundle; its job specs are uninstalled instead)", name)
    end
  end
  for _, scope in ipairs(sorted_keys(live.configs)) do
    if m.configs[scope] == nil then
      extra("config", scope, function() return svc():delete_config(I, scope) end)
    end
  end
  for _, name in ipairs(sorted_keys(live.connections)) do
    local l = live.connections[name]
    if not m.connections[name] then
      if manifest.CONNECTION_TYPES[l.type] then
        extra("connection", name, function() return svc():delete_connection(I, l.type, name) end)
      else
        extra("connection", name, nil, "kept (" .. tostring(l.type) .. " connections are made by an " ..
                                       "OAuth flow, not by a manifest)")
      end
    end
  end
  for _, name in ipairs(sorted_keys(live.oauth_clients)) do
    local uuid = live.oauth_clients[name].uuid
    if not m.oauth_clients[name] then
      extra("oauth_client", name, function() return svc():delete_oauth_client(I, uuid) end, nil,
            { "deleting an OAuth client deletes the OAuth connections made with it" })
    end
  end
  local extra_hooks = {}
  for _, l in pairs(live.webhooks) do if not matched[l.uuid] then extra_hooks[#extra_hooks + 1] = l end end
  for _, list in pairs(live.unrecorded) do
    for _, l in ipairs(list) do if not matched[l.uuid] then extra_hooks[#extra_hooks + 1] = l end end
  end
  sort(extra_hooks, function(x, y) return x.uuid < y.uuid end)
  for _, l in ipairs(extra_hooks) do
    local key = tostring(l.source_system) .. ":" .. tostring(l.event_type)
    extra("inbound_webhook", key .. " " .. l.uuid, function()
      return M.delete_webhook(svc(), I, l.uuid, live.records[l.uuid])
    end, nil, { "deleting it revokes its credentials" })
  end

  local counts = { create = 0, update = 0, delete = 0, install = 0, uninstall = 0, unchanged = 0 }
  for _, it in ipairs(items) do counts[it.action] = counts[it.action] + 1 end
  local plan = { integration = I, exists = live.exists, prune = opts.prune == true,
                 items = items, notes = notes, missing_env = missing, counts = counts,
                 changes = #items - counts.unchanged }
  plan.summary = plan.changes == 0 and ("no changes: " .. I .. " matches the manifest") or
    format("%d change(s): %d to create, %d to update, %d to delete, %d job spec(s) to install, " ..
           "%d to uninstall; %d unchanged", plan.changes, counts.create, counts.update, counts.delete,
           counts.install, counts.uninstall, counts.unchanged)
  return plan, ops
end

---------------------------------------------------------------------------
-- Inbound webhooks: create, keep the credentials, record
---------------------------------------------------------------------------

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Writes text to path (a failed write or close is a failure too).
local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local wok, werr = f:write(text)
  local cok, cerr = f:close()
  if not wok or not cok then return nil, path .. ": " .. tostring(werr or cerr) end
  return true
end

-- Writes text to path, created with mode 0600 (umask 077, then chmod in
-- case it existed) before a byte of it is written; a missing folder is
-- made with mode 0700.
local function write_private(path, text)
  local parent = path:match("^(.*)/[^/]*$")
  local mkdir = parent and ("mkdir -p -- " .. shell_quote(parent) .. " 2>/dev/null && ") or ""
  local ok = os.execute("umask 077 && " .. mkdir ..
                        ": > " .. shell_quote(path) .. " && chmod 600 " .. shell_quote(path))
  if not ok then return nil, "cannot create " .. path end
  return write_file(path, text)
end
M.write_private = write_private

-- Creates one webhook: its credentials go to the file the manifest names,
-- or into report.credentials (printed once by the command line); then a
-- link records it, so plan finds it.
function M.create_webhook(c, I, w, report)
  local res, err = c:create_inbound_webhook(I, { source_system = w.source_system, event_type = w.event_type })
  if not res then return nil, err end
  local creds = { uuid = res.uuid, path = res.path, username = res.username, password = res.password,
                  source_system = w.source_system, event_type = w.event_type }
  if w.credentials_file then
    local file = w.file
    local ok, why = write_private(file, require("zis").pretty_json(creds))
    if not ok then
      return nil, "webhook " .. tostring(res.uuid) .. " was created but its credentials were not written: " ..
                  tostring(why) .. "; they are in this report"
    end
    creds.file = file
  end
  if report then report.credentials[#report.credentials + 1] = creds end
  return c:create_link(I, { link_type = manifest.WEBHOOK_LINK,
                            left_object = { name = w.key },
                            right_object = { name = res.uuid } })
end

-- Deletes a webhook (revoking its credentials) and the link that recorded
-- it, if any.
function M.delete_webhook(c, I, uuid, key)
  local ok, err = c:delete_inbound_webhook(I, uuid)
  if not ok and err.status ~= 404 then return nil, err end
  if key then
    return c:delete_link(I, { link_type = manifest.WEBHOOK_LINK, left_object_name = key,
                              right_object_name = uuid })
  end
  return true
end

-- The uuid a credentials file holds, or nil.
local function held_uuid(file)
  local f = io.open(file, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, v = pcall(zis_core.decode_json, text or "")
  return ok and type(v) == "table" and type(v.uuid) == "string" and v.uuid or nil
end

-- A declared webhook with no recorded live webhook but one or more that no
-- apply recorded (the list shows them).  If its credentials_file holds one
-- of their uuids, an earlier apply created it and stopped before the
-- record: apply records it.  Otherwise it is reported, and not created
-- again (a second webhook for the same event would be a second secret to
-- keep).
function M.plan_unrecorded_webhook(add, notes, svc, I, w, unrec, matched)
  local file = w.file
  local held = file and held_uuid(file)
  for _, u in ipairs(unrec) do
    if held and u.uuid == held then
      matched[u.uuid] = true
      add("inbound_webhook", w.key, "update", function()
        return svc():create_link(I, { link_type = manifest.WEBHOOK_LINK, left_object = { name = w.key },
                                      right_object = { name = u.uuid } })
      end, { "record webhook " .. u.uuid .. ": an earlier apply created it and stopped before " ..
             "recording it; its credentials are in " .. w.credentials_file })
      return
    end
  end
  local u = unrec[1]
  matched[u.uuid] = true
  add("inbound_webhook", w.key, "unchanged", nil,
      { "webhook " .. u.uuid .. " exists but no apply recorded it, so its credentials may be lost: " ..
        "not creating another" })
  notes[#notes + 1] = format("inbound webhook %s: webhook %s was not created by an apply that finished " ..
                             "(one killed before recording it, or made by hand); if its credentials " ..
                             "are lost, delete it and apply again to create a new one", w.key, u.uuid)
end

---------------------------------------------------------------------------
-- plan and apply
---------------------------------------------------------------------------

local OPTIONS = { prune = true, reset_secrets = true, getenv = true, integration_client = true, dir = true }

local function check_args(fname, client, opts)
  if type(client) ~= "userdata" and type(client) ~= "table" then
    error("bad argument #1 to '" .. fname .. "' (client expected)", 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #3 to '" .. fname .. "' (table expected)", 3)
  end
  for k in pairs(opts or {}) do
    if not OPTIONS[k] then error("bad argument #3 to '" .. fname .. "' (unknown option '" .. tostring(k) .. "')", 3) end
  end
  return opts or {}
end

-- Loads the manifest, reads the live state: m, plan, ops, svc, closer, or
-- nil, err.
local function prepare(client, source, opts)
  if type(source) ~= "string" and type(source) ~= "table" then
    error("bad argument #2 (a manifest file or table expected)", 3)
  end
  local m, why = manifest.load(source, opts.dir)
  if not m then return nil, why end
  local svc_client
  local function svc()
    if not svc_client then
      svc_client = opts.integration_client or client:for_integration(m.integration)
    end
    return svc_client
  end
  local ok, live = pcall(read_live, client, svc, m.integration)
  if not ok then
    if errors.is_error(live) then return nil, live end
    error(live, 0)
  end
  local plan, ops = build(client, m, opts, live, svc)
  local function close()
    if svc_client and svc_client ~= opts.integration_client then svc_client:close() end
  end
  return m, plan, ops, close
end

--- zis.plan(client, manifest [, opts]) -> plan | nil, err
function M.plan(client, source, opts)
  opts = check_args("plan", client, opts)
  local m, plan, _, close = prepare(client, source, opts)
  if not m then return nil, plan end
  close()
  return plan
end

local function step_name(it) return it.action .. " " .. (it.kind:gsub("_", " ")) .. " " .. it.name end

--- zis.apply(client, manifest [, opts]) -> report | nil, err
-- The report: ok, integration, plan, changes, done (step names), failed
-- ({step =, error =} or nil), not_done, credentials (new webhooks'),
-- summary.
function M.apply(client, source, opts)
  opts = check_args("apply", client, opts)
  local m, plan, ops, close = prepare(client, source, opts)
  if not m then return nil, plan end
  local report = { ok = false, integration = m.integration, plan = plan, changes = plan.changes,
                   done = array{}, not_done = array{}, credentials = array{} }
  local steps = {}
  for i, it in ipairs(plan.items) do
    if it.action ~= "unchanged" then steps[#steps + 1] = { name = step_name(it), op = ops[i] } end
  end
  local function stop(at, err)
    report.failed = { step = at and steps[at].name or "read secrets from the environment", error = err }
    for i = at and at + 1 or 1, #steps do report.not_done[#report.not_done + 1] = steps[i].name end
    report.summary = format("NOT applied: %s failed: %s; %d step(s) done, %d not done",
                            report.failed.step, tostring(err), #report.done, #report.not_done)
    close()
    return report
  end
  if #plan.missing_env > 0 then
    return stop(nil, "environment variable(s) not set: " .. concat(plan.missing_env, ", ") ..
                     " (nothing was written)")
  end
  for i, s in ipairs(steps) do
    local ok, res, err = pcall(s.op, report)
    if not ok then  -- a raised error object, or a message (a secret went missing)
      if errors.is_interrupt(res) or (not errors.is_error(res) and type(res) ~= "string") then
        error(res, 0)
      end
      return stop(i, res)
    end
    if res == nil then return stop(i, err) end
    report.done[#report.done + 1] = s.name
  end
  close()
  report.ok = true
  report.summary = #steps == 0 and ("no changes: " .. m.integration .. " matches the manifest")
                   or format("applied: %d step(s) done", #steps)
  return report
end

---------------------------------------------------------------------------
-- import
---------------------------------------------------------------------------

local function env_name(...)
  return (concat({ ... }, "_"):upper():gsub("[^%w_]", "_"))
end

--- zis.import(client, integration, dir [, opts]) -> report | nil, err
-- Writes dir/manifest.json and dir/bundles/NAME.json; secrets become env
-- references to fill in.  The report: manifest (the file), bundles (the
-- files), env (the variables the manifest names).
function M.import(client, integration, dir, opts)
  if not require("zis.client").valid_name(integration) then
    error("bad argument #2 to 'import' (integration name must be 1 to 64 of a-z 0-9 - _)", 2)
  end
  if type(dir) ~= "string" or dir == "" then error("bad argument #3 to 'import' (a folder expected)", 2) end
  opts = check_args("import", client, opts)
  local zis = require "zis"
  local svc_client
  local function svc()
    svc_client = svc_client or opts.integration_client or client:for_integration(integration)
    return svc_client
  end
  local ok, live = pcall(read_live, client, svc, integration)
  if svc_client and svc_client ~= opts.integration_client then svc_client:close() end
  if not ok then
    if errors.is_error(live) then return nil, live end
    error(live, 0)
  end
  if not live.exists then return nil, "no integration " .. integration .. " on this account" end
  if not os.execute("mkdir -p -- " .. shell_quote(dir .. "/bundles") .. " 2>/dev/null") then
    return nil, "cannot create " .. dir .. "/bundles"
  end
  local m = { integration = integration }
  if live.description and live.description ~= "" then m.description = live.description end
  local report = { bundles = array{}, env = array{} }
  m.bundles = array{}
  local all, installed, every = {}, array{}, true
  for _, name in ipairs(sorted_keys(live.bundles)) do
    local b = live.bundles[name]
    local out = {}
    for k, v in pairs(b) do
      if k ~= "uuid" and k ~= "zendesk_account_id" and k ~= "integration" then out[k] = v end
    end
    local file = "bundles/" .. name:gsub("[^%w_%-%.]", "_") .. ".json"
    local wok, werr = write_file(dir .. "/" .. file, zis.pretty_json(out))
    if not wok then return nil, werr end
    m.bundles[#m.bundles + 1] = file
    report.bundles[#report.bundles + 1] = dir .. "/" .. file
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
      report.env[#report.env + 1] = var
      m.connections = m.connections or {}
      m.connections[name] = c
    end
  end
  for _, name in ipairs(sorted_keys(live.oauth_clients)) do
    local l = live.oauth_clients[name]
    local c = {}
    for f, how in pairs(manifest.OAUTH_CLIENT_FIELDS) do
      if how ~= "secret" and nonnull(l[f]) ~= nil then c[f] = l[f] end
    end
    local var = env_name(name, "client_secret")
    c.client_secret = { env = var }
    report.env[#report.env + 1] = var
    m.oauth_clients = m.oauth_clients or {}
    m.oauth_clients[name] = c
  end
  for _, key in ipairs(sorted_keys(live.webhooks)) do
    local w = live.webhooks[key]
    m.inbound_webhooks = m.inbound_webhooks or array{}
    m.inbound_webhooks[#m.inbound_webhooks + 1] = { source_system = w.source_system, event_type = w.event_type }
  end
  report.manifest = dir .. "/manifest.json"
  local wok, werr = write_file(report.manifest, zis.pretty_json(m))
  if not wok then return nil, werr end
  return report
end

return M

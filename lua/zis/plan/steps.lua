-- zis.plan.steps: the plan's items, one function per kind of object.
-- Each reads the manifest (ctx.m) and the live state (ctx.live) and adds
-- items with ctx.add(kind, name, action, op, details, paths), where op is
-- the function apply runs for that item (nil for unchanged ones).
--
-- ctx: I (the integration), m, live, opts, admin (the admin's client, for
-- what only basic auth may do), svc() (the integration's client), add,
-- notes, secret(ref) (a secret's value, raising when unset),
-- need_env(ref, item), block(item, why) (apply stops before any write).

local manifest = require "zis.manifest"
local deploy = require "zis.deploy"
local diff = require "zis.plan.diff"
local live_mod = require "zis.plan.live"
local webhooks = require "zis.plan.webhooks"

local ipairs, pairs, tostring, type = ipairs, pairs, tostring, type
local format, sort = string.format, table.sort
local sorted_keys = require("zis.util").sorted_keys
local nonnull = live_mod.nonnull

local S = {}

function S.integration(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  if not live.exists then
    ctx.add("integration", I, "create", function()
      return ctx.admin:create_integration(I, { description = m.description })
    end)
    return
  end
  local it = ctx.add("integration", I, "unchanged")
  if m.description ~= "" and live.description ~= m.description then
    it.details[#it.details + 1] = format("description is %q, the manifest says %q " ..
                                         "(the API cannot change a description)",
                                         tostring(live.description), m.description)
  end
end

-- One bundle: uploaded when new or different, each upload followed by its
-- job specs' installs (an upload orphans them).
local function bundle(ctx, b)
  local I, m = ctx.I, ctx.m
  local l = ctx.live.bundles[b.name]
  local upload = function() return ctx.admin:upload_bundle(I, b.text) end
  local uploaded = true
  if not l then
    ctx.add("bundle", b.name, "create", upload, { "upload" .. (b.file and " " .. b.file or "") })
  else
    local paths = diff.bundle(l, b.bundle)
    if #paths > 0 then ctx.add("bundle", b.name, "update", upload, nil, paths)
    else ctx.add("bundle", b.name, "unchanged") uploaded = false end
  end
  for _, n in ipairs(b.job_specs) do
    S.job_spec(ctx, n, b.name, uploaded, m.job_specs[n])
  end
end

-- One job spec a manifest bundle defines: wanted (in job_specs) or not.
function S.job_spec(ctx, n, bundle_name, uploaded, wanted)
  local I = ctx.I
  local js = ctx.live.job_specs[n]
  local installed = js ~= nil and js.installed == true
  local install = function() return ctx.svc():install_job_spec(I, n) end
  if wanted then
    if uploaded then
      ctx.add("job_spec", n, "install", install,
              { (installed and "reinstall" or "install") .. " after the upload of " .. bundle_name })
    elseif not installed then ctx.add("job_spec", n, "install", install)
    else ctx.add("job_spec", n, "unchanged", nil, { "installed" }) end
  elseif installed and not uploaded then
    ctx.add("job_spec", n, "uninstall", function() return ctx.svc():uninstall_job_spec(I, n) end,
            { "not in the manifest's job_specs" })
  else
    ctx.add("job_spec", n, "unchanged", nil, { "not installed (not in the manifest's job_specs)" })
  end
end

function S.bundles(ctx)
  for _, b in ipairs(ctx.m.bundles) do bundle(ctx, b) end
end

-- Installed job specs that no bundle of the manifest defines (renamed, or
-- from a bundle the manifest dropped): a stale job spec still runs on
-- real events, so it is uninstalled with or without prune.  Bundles are
-- never deleted (Zendesk documents them as undeletable).
function S.stale_job_specs(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  local declared, in_manifest, defined_by = {}, {}, {}
  for _, b in ipairs(m.bundles) do
    in_manifest[b.name] = true
    for _, n in ipairs(b.job_specs) do declared[n] = true end
  end
  for _, name in ipairs(sorted_keys(live.bundles)) do
    for _, n in ipairs(deploy.job_spec_names(live.bundles[name])) do defined_by[n] = name end
  end
  for _, n in ipairs(sorted_keys(live.job_specs)) do
    if not declared[n] and live.job_specs[n].installed == true then
      local b = defined_by[n]
      ctx.add("job_spec", n, "uninstall", function() return ctx.svc():uninstall_job_spec(I, n) end,
              { "installed, but no bundle of the manifest defines it" ..
                (b and not in_manifest[b] and (" (it is in bundle " .. b .. ", not in the manifest)") or "") ..
                ": a stale job spec still runs on real events" })
    end
  end
  for _, name in ipairs(sorted_keys(live.bundles)) do
    if not in_manifest[name] then
      ctx.notes[#ctx.notes + 1] = format("bundle %s is not in the manifest: kept (Zendesk cannot delete " ..
                                         "a bundle; its job specs are uninstalled instead)", name)
    end
  end
end

function S.configs(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  for _, scope in ipairs(sorted_keys(m.configs)) do
    local c, l = m.configs[scope], live.configs[scope]
    if l == nil then
      ctx.add("config", scope, "create", function() return ctx.svc():create_config(I, scope, c) end)
    else
      local paths = diff.config(l, c)
      if #paths > 0 then
        ctx.add("config", scope, "update", function() return ctx.svc():replace_config(I, scope, c) end,
                nil, paths)
      else ctx.add("config", scope, "unchanged") end
    end
  end
end

local function secret_note(ref)
  return "secret set from env " .. ref.env .. " (cannot be compared: the API never returns it)"
end

-- An object whose secret cannot be compared (the API shows "*****"):
-- updated when another field differs, or when secrets are reset; the
-- secret then goes again.  Returns the plan item, or nil if unchanged.
local function update_or_unchanged(ctx, kind, name, details, ref, op)
  if #details == 0 and not ctx.opts.reset_secrets then
    ctx.add(kind, name, "unchanged", nil, { secret_note(ref) })
    return nil
  end
  details[#details + 1] = "secret set again from env " .. ref.env ..
                          (#details == 0 and " (reset_secrets)" or "")
  return ctx.add(kind, name, "update", op, details)
end

-- Is err Zendesk's refusal to change a connection's allowed_domain (a 400
-- that names the field)?  No source says whether it may change.
local function domain_fixed(err)
  if type(err) ~= "table" or err.kind ~= "http" or err.status ~= 400 then return false end
  local text = (tostring(err.detail or "") .. " " .. tostring(err.message or "")):lower()
  return text:find("allowed[_ ]domain") ~= nil
end

function S.connections(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  for _, name in ipairs(sorted_keys(m.connections)) do
    local c, l = m.connections[name], live.connections[name]
    local function body()
      local f = { name = name }
      for k, v in pairs(c.fields) do f[k] = v end
      f[c.secret_field] = ctx.secret(c.secret)
      return f
    end
    local it
    if not l then
      it = ctx.add("connection", name, "create", function()
        return ctx.svc():create_connection(I, c.type, body())
      end, { "secret set from env " .. c.secret.env })
    elseif l.type ~= c.type then
      -- a connection's type cannot change: delete it, then create it again
      it = ctx.add("connection", name, "update", function()
        local s = ctx.svc()
        local f = body()
        local ok, err = s:delete_connection(I, l.type, name)
        if not ok then return nil, err end
        return s:create_connection(I, c.type, f)
      end, { "type " .. tostring(l.type) .. " -> " .. c.type .. ": deleted and created again",
             "secret set again from env " .. c.secret.env })
    else
      local details, changed = {}, {}
      for _, f in ipairs(sorted_keys(c.fields)) do
        if l[f] ~= c.fields[f] then
          details[#details + 1] = format("%s: %q -> %q", f, tostring(nonnull(l[f])), c.fields[f])
          changed[f] = c.fields[f]
        end
      end
      it = update_or_unchanged(ctx, "connection", name, details, c.secret, function()
        -- only what changes, and the secret (docs/zendesk-api.md, Unsettled)
        local s, f = ctx.svc(), { [c.secret_field] = ctx.secret(c.secret) }
        for k, v in pairs(changed) do f[k] = v end
        local res, err = s:update_connection(I, c.type, name, f)
        if res or changed.allowed_domain == nil or not domain_fixed(err) then return res, err end
        -- Zendesk may keep allowed_domain fixed: delete, then create again
        local ok, derr = s:delete_connection(I, c.type, name)
        if not ok then return nil, derr end
        local made, cerr = s:create_connection(I, c.type, body())
        if not made then
          cerr.message = "connection " .. name .. " was deleted to change its allowed_domain, but " ..
                         "creating it again failed: " .. tostring(cerr.message)
        end
        return made, cerr
      end)
    end
    if it then ctx.need_env(c.secret, it) end
  end
end

-- A live OAuth client's field, with the API's default for grant_type.
local function oauth_field(l, f)
  local v = nonnull(l[f])
  if f == "grant_type" and v == nil then return "authorization_code" end
  return v
end

function S.oauth_clients(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  for _, name in ipairs(sorted_keys(m.oauth_clients)) do
    local c, l = m.oauth_clients[name], live.oauth_clients[name]
    local function body(with_name)
      local f = { client_secret = ctx.secret(c.secret) }
      if with_name then f.name = name end
      for k, v in pairs(c.fields) do f[k] = v end
      return f
    end
    local it
    if not l then
      it = ctx.add("oauth_client", name, "create", function()
        return ctx.svc():create_oauth_client(I, body(true))
      end, { "secret set from env " .. c.secret.env })
    else
      local details = {}
      for _, f in ipairs(sorted_keys(manifest.OAUTH_CLIENT_FIELDS)) do
        local lv, dv = oauth_field(l, f), c.fields[f]
        -- a manifest that leaves grant_type out means Zendesk's default
        if f == "grant_type" and dv == nil then dv = "authorization_code" end
        if f ~= "client_secret" and lv ~= dv then
          details[#details + 1] = format("%s: %q -> %q", f, tostring(lv), tostring(dv))
        end
      end
      it = update_or_unchanged(ctx, "oauth_client", name, details, c.secret, function()
        return ctx.svc():update_oauth_client(I, l.uuid, body(false))
      end)
    end
    if it then ctx.need_env(c.secret, it) end
  end
end

-- Each declared webhook is matched with the live webhook apply recorded
-- for it; failing that, with one no finished apply recorded (reported,
-- never duplicated); failing that, created.
function S.webhooks(ctx)
  local I, m, live = ctx.I, ctx.m, ctx.live
  for _, w in ipairs(m.inbound_webhooks) do
    local l = live.webhooks[w.key]
    local unrec = live.unrecorded[w.key]
    if l then
      ctx.matched[l.uuid] = true
      ctx.add("inbound_webhook", w.key, "unchanged", nil, { "uuid " .. l.uuid })
    elseif unrec then
      webhooks.unrecorded(ctx, w, unrec, ctx.matched)
    else
      local it = ctx.add("inbound_webhook", w.key, "create", function(report)
        return webhooks.create(ctx.svc(), I, w, report, ctx.opts.on_credentials)
      end, { w.credentials_file and ("credentials written to " .. w.credentials_file .. " (mode 0600)")
             or "credentials printed once: name a credentials_file to keep them" })
      local why = w.file and webhooks.file_problem(w)
      if why then ctx.block(it, why) end
    end
  end
end

-- What the manifest does not declare: deleted with prune, else noted.
function S.extras(ctx)
  local I, m, live, opts = ctx.I, ctx.m, ctx.live, ctx.opts
  local function extra(kind, name, op, what, details)
    if opts.prune and op then
      local d = { "not in the manifest" }
      for _, x in ipairs(details or {}) do d[#d + 1] = x end
      ctx.add(kind, name, "delete", op, d)
    else
      ctx.notes[#ctx.notes + 1] = format("%s %s is not in the manifest: %s", kind, name,
                                         op and "kept (prune deletes it)" or what)
    end
  end
  for _, scope in ipairs(sorted_keys(live.configs)) do
    if m.configs[scope] == nil then
      extra("config", scope, function() return ctx.svc():delete_config(I, scope) end)
    end
  end
  for _, name in ipairs(sorted_keys(live.connections)) do
    local l = live.connections[name]
    if not m.connections[name] then
      if manifest.CONNECTION_TYPES[l.type] then
        extra("connection", name, function() return ctx.svc():delete_connection(I, l.type, name) end)
      else
        extra("connection", name, nil, "kept (" .. tostring(l.type) .. " connections are made by an " ..
                                       "OAuth flow, not by a manifest)")
      end
    end
  end
  for _, name in ipairs(sorted_keys(live.oauth_clients)) do
    local uuid = live.oauth_clients[name].uuid
    if not m.oauth_clients[name] then
      extra("oauth_client", name, function() return ctx.svc():delete_oauth_client(I, uuid) end, nil,
            { "deleting an OAuth client deletes the OAuth connections made with it" })
    end
  end
  local rest = {}
  for _, l in pairs(live.webhooks) do if not ctx.matched[l.uuid] then rest[#rest + 1] = l end end
  for _, list in pairs(live.unrecorded) do
    for _, l in ipairs(list) do if not ctx.matched[l.uuid] then rest[#rest + 1] = l end end
  end
  sort(rest, function(x, y) return x.uuid < y.uuid end)
  for _, l in ipairs(rest) do
    extra("inbound_webhook", live_mod.webhook_key(l) .. " " .. l.uuid, function()
      return webhooks.delete(ctx.svc(), I, l.uuid, live.records[l.uuid])
    end, nil, { "deleting it revokes its credentials" })
  end
end

return S

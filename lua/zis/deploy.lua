-- client:deploy: the safe path for a deployment, done once and done right.
--
-- The traps (zis-api.md section 6): an upload leaves the bundle's installed
-- job specs uninstalled, stale job specs from older bundles stay installed
-- and keep catching events, the server takes bundles that fail only at run
-- time, integration names are global and cannot be deleted.  So deploy:
-- validates, creates the integration when missing (409: it exists),
-- uploads, installs every job spec of the bundle (all of them, not
-- stopping at a failure), then reads the job specs back and reports which
-- are installed, which failed, and which stale ones are still installed
-- (opts.uninstall_stale = true removes them).  It is safe to run twice.

local validate = require "zis.validate"
local is_interrupt = require("zis.errors").is_interrupt

local ipairs, next, pairs, setmetatable, type, sort = ipairs, next, pairs, setmetatable, type, table.sort

-- The job spec names of a bundle (properties.name, else the key), sorted.
local function job_spec_names(bundle)
  local names = {}
  if type(bundle.resources) == "table" then
    for key, r in pairs(bundle.resources) do
      if type(r) == "table" and r.type == "ZIS::JobSpec" then
        local p = type(r.properties) == "table" and r.properties or {}
        names[#names + 1] = type(p.name) == "string" and p.name or key
      end
    end
  end
  sort(names)
  return names
end

-- Job spec names defined by the integration's other bundles: those are
-- live, not stale.  The list has no resources, so the bundles are read,
-- concurrently.
local function names_in_other_bundles(client, integration, bundle_name)
  local live, uuids = {}, {}
  for b in client:bundles(integration, { page_size = 100 }) do
    if b.name ~= bundle_name then uuids[#uuids + 1] = b.uuid end
  end
  local bundles, errors = client:get_bundles(integration, uuids)
  if errors then
    local _, err = next(errors)
    error(err, 0)
  end
  for _, full in ipairs(bundles) do
    for _, n in ipairs(job_spec_names(full)) do live[n] = true end
  end
  return live
end

-- The short name of a listed job spec, whether the API gives the short
-- name or the full zis:{integration}:job_spec:{name}.
local function short_name(integration, name)
  if type(name) ~= "string" then return name end
  local prefix = "zis:" .. integration .. ":job_spec:"
  if name:sub(1, #prefix) == prefix then return name:sub(#prefix + 1) end
  return name
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Reads the job specs back: which of this bundle's are installed, and
-- which installed ones are stale (in no current bundle of the
-- integration), sorted.  Raises the error object on a failure.
local function read_back(client, integration, bundle_name, specs)
  local live = names_in_other_bundles(client, integration, bundle_name)
  local ours = set_of(specs)
  local installed, stale = {}, {}
  for js in client:job_specs(integration, { page_size = 100 }) do
    local name = short_name(integration, js.name)
    if js.installed then
      if ours[name] then installed[name] = true
      elseif not live[name] then stale[#stale + 1] = name end
    end
  end
  sort(stale)
  return installed, stale
end

--- client:deploy(integration, bundle [, opts]) -> report
-- opts: dry_run (validate and report what would be done, write nothing),
-- uninstall_stale (remove stale job specs), description (for a created
-- integration).  The report: ok, integration, bundle, dry_run, problems
-- (validation), created, uploaded, installed, failed ({name, error}),
-- stale, removed, not_installed, steps (what was done, in order), error
-- (the failure that stopped it, if one did).
local function deploy(client, integration, bundle, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #3 to 'deploy' (table expected)", 2) end
  for k in pairs(opts) do
    if k ~= "dry_run" and k ~= "uninstall_stale" and k ~= "description" and k ~= "on_progress" then
      error("bad argument #3 to 'deploy' (unknown option '" .. tostring(k) .. "')", 2)
    end
  end
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    error("bad argument #3 to 'deploy' (on_progress must be a function)", 2)
  end
  local zis_core = require "zis.core"
  if not require("zis.request").valid_name(integration) then
    error("bad argument #1 to 'deploy' (integration name must be 1 to 64 of a-z 0-9 - _)", 2)
  end
  local text
  if type(bundle) == "string" then
    text = bundle
    local decoded, why = zis_core.decode_json(bundle)
    if decoded == nil then error("bad argument #2 to 'deploy' (not JSON: " .. why .. ")", 2) end
    bundle = decoded
  elseif type(bundle) ~= "table" then
    error("bad argument #2 to 'deploy' (table or JSON string expected)", 2)
  end
  local report = { ok = false, integration = integration, bundle = bundle.name,
                   dry_run = opts.dry_run == true, created = false, uploaded = false,
                   installed = {}, failed = {}, stale = {}, removed = {}, not_installed = {},
                   steps = {} }
  local function step(s) report.steps[#report.steps + 1] = s end
  local function stop(err)
    report.error = err
    report.summary = "NOT deployed: " .. tostring(err)
    return report
  end

  local valid, problems = validate(bundle, { integration = integration })
  report.problems = problems
  if not valid then
    step("validate: " .. #problems .. " problem(s); nothing sent")
    report.summary = "NOT deployed: the bundle is not valid (" .. #problems .. " problem(s))"
    return report
  end
  step("validate: ok")
  local specs = job_spec_names(bundle)

  if report.dry_run then
    local list, err = client:list_integrations()
    if not list then return stop(err) end
    local exists = false
    for _, i in ipairs(list.integrations or {}) do
      if i.name == integration then exists = true end
    end
    step(exists and "integration exists" or "would create integration " .. integration)
    step("would upload bundle " .. tostring(bundle.name))
    for _, n in ipairs(specs) do step("would install job spec " .. n) end
    if exists then
      local ok, err_or_installed, stale = pcall(read_back, client, integration, bundle.name, specs)
      if not ok then
        if is_interrupt(err_or_installed) then error(err_or_installed, 0) end
        return stop(err_or_installed)
      end
      report.stale = stale
      for _, name in ipairs(stale) do
        step((opts.uninstall_stale and "would uninstall stale job spec "
                                    or "stale job spec stays installed: ") .. name)
      end
    end
    report.ok = true
    report.summary = "dry run: valid; nothing written"
    return report
  end

  -- on_progress: the figures (zis.pace) after each request: the
  -- integration, the upload, each install, the read-back (and each stale
  -- job spec removed, counted in when they are known)
  local now = zis_core.now
  local tracker = opts.on_progress and require("zis.pace").progress(opts.on_progress, 3 + #specs, now())
  local function advance() if tracker then tracker:step(1, now()) end end

  -- 1. the integration: create it, or find it there (409)
  local created, err = client:create_integration(integration, { description = opts.description or "" })
  advance()
  if created then
    report.created = true
    step("created integration " .. integration)
  elseif err.status == 409 then
    step("integration exists")
  else
    return stop(err)
  end

  -- 2. upload (the original text when given one: byte for byte)
  local ok
  ok, err = client:upload_bundle(integration, text or bundle)
  advance()
  if not ok then return stop(err) end
  report.uploaded = true
  step("uploaded bundle " .. tostring(bundle.name))

  -- 3. install every job spec: an upload left them uninstalled
  for _, n in ipairs(specs) do
    ok, err = client:install_job_spec(integration, n)
    advance()
    if ok then step("installed job spec " .. n)
    else
      report.failed[#report.failed + 1] = { name = n, error = err }
      step("failed to install job spec " .. n .. ": " .. tostring(err))
    end
  end

  -- 4. read back: what is installed, what is stale
  local read_ok, installed, stale = pcall(read_back, client, integration, bundle.name, specs)
  advance()
  if read_ok and tracker and opts.uninstall_stale then tracker.total = tracker.total + #stale end
  if not read_ok then
    if is_interrupt(installed) then error(installed, 0) end
    return stop(installed)
  end
  report.stale = stale
  for _, n in ipairs(specs) do
    if installed[n] then report.installed[#report.installed + 1] = n
    else report.not_installed[#report.not_installed + 1] = n end
  end

  -- 5. stale job specs: removed on request, else reported
  for _, n in ipairs(report.stale) do
    if opts.uninstall_stale then
      ok, err = client:uninstall_job_spec(integration, n)
      advance()
      if ok then
        report.removed[#report.removed + 1] = n
        step("uninstalled stale job spec " .. n)
      else
        report.failed[#report.failed + 1] = { name = n, error = err }
        step("failed to uninstall stale job spec " .. n .. ": " .. tostring(err))
      end
    else
      step("stale job spec still installed: " .. n .. " (uninstall_stale = true removes it)")
    end
  end
  report.ok = #report.failed == 0 and #report.not_installed == 0
    and (#report.stale == 0 or #report.removed == #report.stale)
  local left = #report.stale - #report.removed
  report.summary = string.format("%s: bundle %s %s; %d of %d job spec(s) installed%s%s",
    report.ok and "deployed" or "NOT whole", tostring(bundle.name),
    report.created and "uploaded to new integration " .. integration or "uploaded to " .. integration,
    #report.installed, #specs,
    #report.failed > 0 and ("; " .. #report.failed .. " failed") or "",
    left > 0 and ("; " .. left .. " stale job spec(s) still installed") or "")
  return report
end

-- The integration a bundle is for, from its references, and the fields
-- that name another one: zis.validate's own function, so that what deploy
-- deploys to, and what validate (run by deploy with that integration)
-- blames, can never disagree.  integration_of(bundle) -> integration or
-- nil, conflicts ({severity, path, message}, as validate reports them).
local integration_of = validate.integration_of

-- client:deploy is this table's __call (a tail call: error levels are the
-- caller's); its pieces serve zis.plan and the command line too.
return setmetatable({ job_spec_names = job_spec_names, short_name = short_name,
                      integration_of = integration_of },
                    { __call = function(_, ...) return deploy(...) end })

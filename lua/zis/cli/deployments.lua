-- zis.cli.deployments: deployments as code: plan, apply, import.
-- zis.cli builds the parser, the help and the completions from these
-- entries (its header says what one holds).

return function(L)
local zis, out, err_out, fail, read_file, INTEGRATION =
      L.zis, L.out, L.err_out, L.fail, L.read_file, L.INTEGRATION

-- Deployments as code: the manifest is read, and refused with the path
-- of the offending key, before any request (exit 1).
local MANIFEST = { "manifest", "the manifest: a Lua file returning a table, or a JSON file" }
local PLAN_OPTIONS = {
  { "--prune", "delete what the manifest no longer declares (never a bundle: its job specs are " ..
               "uninstalled)", flag = true },
  { "--reset-secrets", "send every secret again (they cannot be compared)", flag = true },
  { "--allow-outside", "let the manifest name files outside its folder (the plan lists them)", flag = true },
}

local function load_manifest(path, a)
  -- a folder, a missing, unreadable, empty or binary file: named here, in
  -- the words every command uses (zis.manifest.load reads it again)
  read_file(path, "the manifest, a Lua or JSON file")
  local m, why = require("zis.manifest").load(path, nil, { allow_outside = a and a.allow_outside })
  if not m then fail(why) end
  return m
end

local function plan_opts(a, extra)
  local o = { prune = a.prune, reset_secrets = a.reset_secrets, allow_outside = a.allow_outside }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local MARK = { create = "+", update = "~", delete = "-", install = "+", uninstall = "-", unchanged = " " }
local OP_MARK = { added = "+", removed = "-", changed = "~" }

local function print_plan(plan)
  out("plan for ", plan.integration, plan.prune and " (with --prune)" or "", ":\n")
  for _, it in ipairs(plan.items) do
    out(string.format("  %s %-10s %s %s\n", MARK[it.action], it.action, (it.kind:gsub("_", " ")), it.name))
    for _, p in ipairs(it.paths or {}) do out("        ", OP_MARK[p.op], " ", p.path, "\n") end
    for _, d in ipairs(it.details) do out("        ", d, "\n") end
  end
  for _, n in ipairs(plan.notes) do out("  note: ", n, "\n") end
  for _, f in ipairs(plan.outside or {}) do out("  outside the manifest's folder (--allow-outside): ", f, "\n") end
  out(plan.summary, "\n")
end

local commands = {
  {
    name = "plan", summary = "what apply would change (exit 0: nothing, 2: changes pending)",
    description = "Compares a manifest (a Lua or JSON file) with the live integration, reading with " ..
                  "GET requests only, and prints for each object: create, update, delete (with " ..
                  "--prune), install, uninstall or unchanged. Exit status 0: no changes, 2: changes " ..
                  "pending (as terraform plan -detailed-exitcode; a usage error is 2 as well), 1: error.",
    args = { MANIFEST },
    options = PLAN_OPTIONS,
    run = function(ctx, a)
      local m = load_manifest(a.manifest, a)
      local plan = ctx:check(zis.plan(ctx:client(), m, plan_opts(a)))
      if ctx.json then ctx:json_out(plan) else print_plan(plan) end
      return plan.changes > 0 and 2 or 0
    end,
  },
  {
    name = "apply", summary = "converge the integration to a manifest",
    description = "Creates the integration when missing, uploads changed bundles only and reinstalls " ..
                  "their job specs, writes configs, connections and OAuth clients, creates missing " ..
                  "inbound webhooks, and with --prune deletes what the manifest no longer declares. " ..
                  "Stops at the first failing step and says what was done and what was not. Exit " ..
                  "status 0 only when every step was done.",
    args = { MANIFEST },
    options = PLAN_OPTIONS,
    run = function(ctx, a)
      local m = load_manifest(a.manifest, a)
      -- a new webhook's credentials without a file are shown at once, before
      -- a later step (or Ctrl-C) could stop apply; on stderr with --json,
      -- whose document comes last
      local shown = {}
      local function show(c)
        shown[c] = true
        local w = ctx.json and err_out or out
        w("  inbound webhook ", c.source_system, ":", c.event_type, " created: uuid ", tostring(c.uuid),
          "\n    path ", tostring(c.path), "\n    username ", tostring(c.username), "\n    password ",
          tostring(c.password), "\n    (shown only once: keep them now; credentials_file in the manifest " ..
          "writes them to a file)\n")
      end
      -- each step printed as it is done (not with --json, whose document
      -- says them); a progress line under it on a terminal
      local printed = 0
      local extra = { on_credentials = show }
      if not ctx.json then
        extra.on_step = function(name)
          ctx:progress_done()
          out("  done: ", name, "\n")
          io.stdout:flush()
          printed = printed + 1
        end
      end
      if ctx:on_terminal() then
        extra.on_progress = function(p) ctx:progress_figures("applying " .. a.manifest, "steps", p) end
      end
      local report = ctx:check(zis.apply(ctx:client(), m, plan_opts(a, extra)))
      ctx:progress_done()
      if ctx.json then
        local o = {}
        for k, v in pairs(report) do o[k] = v end
        if report.failed then o.failed = { step = report.failed.step, error = tostring(report.failed.error) } end
        ctx:json_out(o)
      else
        for i = printed + 1, #report.done do out("  done: ", report.done[i], "\n") end
        if report.failed then
          out("  FAILED: ", report.failed.step, ": ", tostring(report.failed.error), "\n")
          for _, s in ipairs(report.not_done) do out("  not done: ", s, "\n") end
        end
        for _, c in ipairs(report.credentials) do
          if c.file then
            out("  wrote ", c.file, " (credentials of inbound webhook ", tostring(c.uuid), ", mode 0600)\n")
          elseif not shown[c] then
            show(c)
          end
        end
        out(report.summary, "\n")
      end
      return report.ok and 0 or 1
    end,
  },
  {
    name = "import", summary = "write a manifest and its bundles from a live integration",
    description = "Writes DIR/manifest.json and DIR/bundles/NAME.json from a live integration; " ..
                  "secrets become env references to fill in. zis plan on the result reports no changes. " ..
                  "A folder already holding a manifest or bundle files is refused unless --force.",
    args = { INTEGRATION, { "dir", "the folder (created when missing)", type = "nonempty" } },
    options = { { "--force", "replace the manifest and bundle files already in DIR", flag = true } },
    run = function(ctx, a)
      local c = ctx:client()
      ctx:progress("importing " .. a.integration .. " to " .. a.dir .. " ...")
      local report = ctx:check(zis.import(c, a.integration, a.dir, { force = a.force,
        on_progress = function(p) ctx:progress_figures("importing " .. a.integration, "bundles", p) end }))
      ctx:progress_done()
      if ctx.json then return ctx:json_out(report) end
      for _, f in ipairs(report.written) do out("wrote ", f, "\n") end
      if #report.replaced > 0 then out("(replaced: ", table.concat(report.replaced, ", "), ")\n") end
      if #report.env > 0 then
        out("set these before apply (secrets are never read back): ", table.concat(report.env, " "), "\n")
      end
    end,
  },
}

return commands
end

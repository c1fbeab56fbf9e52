-- zis.cli.bundles: the commands on integrations, bundles and job specs: list, create,
-- get, push, delete, install, uninstall, validate, deploy, export.
-- zis.cli builds the parser, the help and the completions from these
-- entries (its header says what one holds).

return function(L)
local zis, out, err_out, fail, usage_error, read_file, print_table, INTEGRATION, integer, cli_words =
      L.zis, L.out, L.err_out, L.fail, L.usage_error, L.read_file, L.print_table, L.INTEGRATION,
      L.integer, L.cli_words

-- The integration a bundle's references name (zis:{integration}:...):
-- the same function validate and deploy use, so the three agree.
local function integration_of(bundle) return require("zis.deploy").integration_of(bundle) end

local function collect(ctx, iterator_name, integration)
  local c, list = ctx:client(), {}
  for x in c[iterator_name](c, integration, { page_size = 100 }) do list[#list + 1] = x end
  return list
end


local function job_spec_command(which)
  return {
    name = which, summary = which .. " a job spec",
    description = (which == "install" and "Installs" or "Uninstalls") ..
                  " a job spec (short or full name).",
    args = { INTEGRATION, { "job_spec", "the job spec: short (on_ticket) or full " ..
                             "(zis:INTEGRATION:job_spec:on_ticket)", type = "nonempty" } },
    run = function(ctx, a)
      local full_integration = a.job_spec:match("^zis:([^:]*):job_spec:")
      if full_integration and full_integration ~= a.integration then
        usage_error("job spec " .. a.job_spec .. " belongs to integration " .. full_integration ..
                    ", not " .. a.integration)
      end
      local c = ctx:client()
      ctx:check(c[which .. "_job_spec"](c, a.integration, a.job_spec))
      if ctx.json then return out('{"' .. which .. 'ed":true}\n') end
      out(which, "ed job spec ", a.job_spec, "\n")
    end,
  }
end

-- A bundle file: its text (sent as it is) and the bundle, or a failure
-- naming the file (the server's 400 would not).
local function read_bundle(path)
  local text = read_file(path, "the bundle, a JSON file")
  local bundle, why = zis.decode_json(text)
  if bundle == nil then fail(path .. ": not JSON (" .. tostring(why) .. ")") end
  if type(bundle) ~= "table" or getmetatable(bundle) == zis.array_metatable then
    fail(path .. ": not a bundle (a JSON object)")
  end
  return text, bundle
end

local commands = {
  {
    name = "integrations", summary = "list integrations",
    description = "Lists the account's integrations.",
    run = function(ctx)
      local res = ctx:check(ctx:client():list_integrations())
      if ctx.json then return ctx:json_out(res) end
      local rows = {}
      for _, i in ipairs(res.integrations or {}) do rows[#rows + 1] = { i.name, i.description } end
      print_table({ "NAME", "DESCRIPTION" }, rows)
    end,
  },
  {
    name = "create", summary = "create an integration",
    description = "Creates an integration (names are global and can never be deleted).",
    args = { INTEGRATION, { "description", "what it is for", optional = true } },
    run = function(ctx, a)
      local res = ctx:check(ctx:client():create_integration(a.integration, { description = a.description }))
      if ctx.json then return ctx:json_out(res) end
      out("created integration ", a.integration, " (OAuth client ",
          tostring(res.zendesk_oauth_client and res.zendesk_oauth_client.identifier), ")\n")
    end,
  },
  {
    name = "bundles", summary = "list every bundle",
    description = "Lists every bundle of an integration.",
    args = { INTEGRATION },
    run = function(ctx, a)
      local list = collect(ctx, "bundles", a.integration)
      ctx:show_list(list, { "UUID", "NAME", "DESCRIPTION" }, function(b)
        return { b.uuid, b.name, b.description }
      end)
    end,
  },
  {
    name = "bundle", summary = "get, push or delete one bundle",
    description = "One bundle: print it as JSON, upload a JSON file, or delete it.",
    commands = {
      {
        name = "get", summary = "print one bundle, with resources, as JSON",
        description = "Prints one bundle, with its resources, as pretty JSON (keys sorted).",
        args = { INTEGRATION, { "uuid", "the bundle's uuid", type = "nonempty" } },
        run = function(ctx, a)
          ctx:json_out(ctx:check(ctx:client():get_bundle(a.integration, a.uuid)))
        end,
      },
      {
        name = "push", summary = "upload a bundle (a JSON file, sent as it is)",
        description = "Uploads a JSON file byte for byte (an upsert by bundle name). Installed " ..
                      "job specs are left uninstalled: prefer zis deploy.",
        args = { INTEGRATION, { "file", "the bundle, a JSON file" } },
        run = function(ctx, a)
          local text = read_bundle(a.file)
          ctx:check(ctx:client():upload_bundle(a.integration, text))
          if ctx.json then return out('{"uploaded":true}\n') end
          out("uploaded ", a.file, " to ", a.integration,
              " (installed job specs are now uninstalled: zis deploy reinstalls them)\n")
        end,
      },
      {
        name = "delete", summary = "delete a bundle",
        description = "Deletes a bundle.",
        args = { INTEGRATION, { "uuid", "the bundle's uuid", type = "nonempty" } },
        run = function(ctx, a)
          ctx:check(ctx:client():delete_bundle(a.integration, a.uuid))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted bundle ", a.uuid, "\n")
        end,
      },
    },
  },
  {
    name = "job-specs", summary = "list every job spec",
    description = "Lists every job spec and whether it is installed.",
    args = { INTEGRATION },
    run = function(ctx, a)
      local list = collect(ctx, "job_specs", a.integration)
      ctx:show_list(list, { "NAME", "INSTALLED", "EVENT", "FLOW" }, function(j)
        return { j.name, j.installed and "yes" or "no", j.event_type, j.flow_name }
      end)
    end,
  },
  job_spec_command("install"),
  job_spec_command("uninstall"),
  {
    name = "validate", summary = "check a bundle offline",
    description = "Checks a bundle offline; exit status 1 when it has errors.",
    args = { { "file", "the bundle, a JSON file" } },
    options = { { "--integration", "the integration the bundle's references must name",
                  type = "integration" } },
    run = function(ctx, a)
      local ok, problems = zis.validate(read_file(a.file, "the bundle, a JSON file"),
                                        { integration = a.integration })
      if ctx.json then
        ctx:json_out{ ok = ok, problems = zis.array(problems) }
      else
        for _, p in ipairs(problems) do
          out(p.severity, ": ", p.path ~= "" and p.path or "(bundle)", ": ", p.message, "\n")
        end
        out(a.file, ok and ": valid" or ": NOT valid", "\n")
      end
      return ok and 0 or 1
    end,
  },
  {
    name = "deploy", summary = "validate, upload, install every job spec, report stale ones",
    description = "Validates, creates the integration when missing, uploads, installs every job " ..
                  "spec, reads them back, and reports stale job specs from older bundles. The " ..
                  "integration defaults to the one the bundle's references name. Exit status 0 " ..
                  "only when the deployment is whole.",
    args = { { "file", "the bundle, a JSON file" } },
    options = {
      { "--integration", "the integration (default: the one the bundle names)", type = "integration" },
      { "--dry-run", "say what would be done; change nothing", flag = true },
      { "--uninstall-stale", "uninstall job specs of older bundles", flag = true },
    },
    run = function(ctx, a)
      local text, bundle = read_bundle(a.file)
      local integration = a.integration or integration_of(bundle)
      local report
      if not integration then
        -- an invalid bundle often names no integration: its problems are
        -- the news, reported as deploy reports them (nothing is sent)
        local valid, problems = zis.validate(bundle)
        if valid then usage_error("cannot tell the integration from the bundle: give --integration") end
        report = { ok = false, problems = problems,
                   steps = { "validate: " .. #problems .. " problem(s); nothing sent" },
                   summary = "NOT deployed: the bundle is not valid (" .. #problems .. " problem(s))" }
      else
        local c = ctx:client()
        ctx:progress("deploying " .. a.file .. " to " .. integration .. " ...")
        report = c:deploy(integration, text, { dry_run = a.dry_run, uninstall_stale = a.uninstall_stale,
          on_progress = function(p) ctx:progress_figures("deploying " .. a.file, "requests", p) end })
        ctx:progress_done()
      end
      if ctx.json then
        local o = {}
        for k, v in pairs(report) do o[k] = v end
        o.failed = {}
        for i, f in ipairs(report.failed or {}) do o.failed[i] = { name = f.name, error = tostring(f.error) } end
        o.failed = zis.array(o.failed)
        if report.error then o.error = tostring(report.error) end
        for _, k in ipairs{ "installed", "not_installed", "stale", "removed", "steps", "problems" } do
          o[k] = zis.array(o[k] or {})
        end
        ctx:json_out(o)
      else
        for _, p in ipairs(report.problems or {}) do out("  ", p.severity, ": ", p.path, ": ", p.message, "\n") end
        for _, s in ipairs(report.steps or {}) do out("  ", cli_words(s), "\n") end
        out(cli_words(report.summary), "\n")
      end
      return report.ok and 0 or 1
    end,
  },
  {
    name = "export", summary = "write every bundle to DIR as JSON files",
    description = "Writes every bundle of an integration, with its resources, to DIR as pretty " ..
                  "JSON files (one per bundle, keys sorted), fetched concurrently; each file " ..
                  "appears whole or not at all. Exit status 0 only when every bundle was written.",
    args = { INTEGRATION, { "dir", "the folder (created when missing)", type = "nonempty" } },
    options = { { "--concurrency", "requests at once, 1 to 64", argname = "N", type = integer(1, 64),
                  default = 8 } },
    run = function(ctx, a)
      local c = ctx:client()
      local report = c:export(a.integration, a.dir, { concurrency = a.concurrency,
        on_progress = ctx:on_terminal() and function(p)
          ctx:progress_figures("exporting " .. a.integration, "bundles", p)
        end or nil })
      ctx:progress_done()
      if report.error then fail(report.error) end
      if ctx.json then
        local failed = {}
        for i, f in ipairs(report.failed) do failed[i] = { uuid = f.uuid, error = tostring(f.error) } end
        ctx:json_out{ ok = report.ok, dir = report.dir, written = zis.array(report.written),
                      failed = zis.array(failed) }
      else
        for _, f in ipairs(report.failed) do err_out("zis: ", f.uuid, ": ", tostring(f.error), "\n") end
        for _, w in ipairs(report.written) do out("wrote ", w.file, "\n") end
        out(string.format("exported %d bundle(s) of %s to %s%s\n", #report.written, a.integration, a.dir,
                          #report.failed > 0 and (", " .. #report.failed .. " failed") or ""))
      end
      return report.ok and 0 or 1
    end,
  },
}

return commands
end

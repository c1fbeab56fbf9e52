-- zis.plan: deployments as code.  plan compares a manifest (zis.manifest)
-- with the live integration, apply converges the integration to it, and
-- import (zis.plan.import) writes a manifest from a live integration.
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
-- The parts: zis.plan.live reads the live state, zis.plan.diff compares
-- JSON, zis.plan.steps makes the items (one function per kind of object),
-- zis.plan.webhooks creates webhooks without losing their credentials.
--
-- What the API cannot tell or do, and how this module copes:
--   * secrets come back as "*****": a connection's or OAuth client's
--     secret is sent when the object is created or its other fields
--     change, or always with reset_secrets;
--   * the inbound webhook list is undocumented: apply also records each
--     webhook it creates as a link (link_type zis_manifest_inbound_webhook,
--     left object "source_system:event_type", right object the uuid), so
--     plan knows which webhook is the manifest's, and still finds them
--     where the list answers 404;
--   * bundles cannot be deleted, nor an integration's description
--     changed: plan notes them; a stale job spec (one no manifest bundle
--     defines) is uninstalled instead, with or without prune.

local zis_core = require "zis.core"
local manifest = require "zis.manifest"
local errors = require "zis.errors"
local live_mod = require "zis.plan.live"
local steps = require "zis.plan.steps"
local diff = require "zis.plan.diff"

local error, ipairs, os, pairs, pcall, tostring, type = error, ipairs, os, pairs, pcall, tostring, type
local format, concat = string.format, table.concat
local array = zis_core.array

local M = {}

M.same, M.diff = diff.same, diff.diff

---------------------------------------------------------------------------
-- The plan
---------------------------------------------------------------------------

-- Builds the plan and its operations: plan (data) and ops[i], the
-- function that carries out plan.items[i] (nil for unchanged items).
local function build(admin, m, opts, live, svc)
  local getenv = opts.getenv or os.getenv
  local items, ops, notes, missing, blocked = array{}, {}, array{}, array{}, array{}
  local missing_seen = {}
  local ctx = { I = m.integration, m = m, live = live, opts = opts, admin = admin, svc = svc,
                notes = notes, matched = {} }
  function ctx.add(kind, name, action, op, details, paths)
    local it = { kind = kind, name = name, action = action, details = array(details or {}) }
    if paths then it.paths = paths end
    items[#items + 1] = it
    ops[#items] = op
    return it
  end
  function ctx.need_env(ref, it)
    local v = getenv(ref.env)
    if v == nil or v == "" then
      if not missing_seen[ref.env] then
        missing_seen[ref.env] = true
        missing[#missing + 1] = ref.env
      end
      it.details[#it.details + 1] = "env " .. ref.env .. " is not set: apply stops before writing"
    end
  end
  function ctx.secret(ref)
    local v = getenv(ref.env)
    if v == nil or v == "" then error("environment variable " .. ref.env .. " is not set", 0) end
    return v
  end
  function ctx.block(it, why)
    it.details[#it.details + 1] = why .. ": apply stops before writing"
    blocked[#blocked + 1] = why
  end

  steps.integration(ctx)
  steps.bundles(ctx)
  steps.stale_job_specs(ctx)
  steps.configs(ctx)
  steps.connections(ctx)
  steps.oauth_clients(ctx)
  steps.webhooks(ctx)
  steps.extras(ctx)

  local counts = { create = 0, update = 0, delete = 0, install = 0, uninstall = 0, unchanged = 0 }
  for _, it in ipairs(items) do counts[it.action] = counts[it.action] + 1 end
  local plan = { integration = m.integration, exists = live.exists, prune = opts.prune == true,
                 items = items, notes = notes, missing_env = missing, blocked = blocked, counts = counts,
                 changes = #items - counts.unchanged, outside = m.outside or array{} }
  plan.summary = plan.changes == 0 and ("no changes: " .. m.integration .. " matches the manifest") or
    format("%d change(s): %d to create, %d to update, %d to delete, %d job spec(s) to install, " ..
           "%d to uninstall; %d unchanged", plan.changes, counts.create, counts.update, counts.delete,
           counts.install, counts.uninstall, counts.unchanged)
  return plan, ops
end

---------------------------------------------------------------------------
-- plan and apply
---------------------------------------------------------------------------

local OPTIONS = { prune = true, reset_secrets = true, getenv = true, integration_client = true, dir = true,
                  on_credentials = true, allow_outside = true, on_step = true, on_progress = true }

function M.check_args(fname, client, opts)
  if type(client) ~= "userdata" and type(client) ~= "table" then
    error("bad argument #1 to '" .. fname .. "' (client expected)", 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #3 to '" .. fname .. "' (table expected)", 3)
  end
  for k in pairs(opts or {}) do
    if not OPTIONS[k] then error("bad argument #3 to '" .. fname .. "' (unknown option '" .. tostring(k) .. "')", 3) end
  end
  for _, k in ipairs{ "on_credentials", "on_step", "on_progress" } do
    if opts and opts[k] ~= nil and type(opts[k]) ~= "function" then
      error("bad argument #3 to '" .. fname .. "' (" .. k .. " must be a function)", 3)
    end
  end
  return opts or {}
end
local check_args = M.check_args

-- Reads the live state with pcall: live, or nil, err (an error object);
-- anything else raised is a bug and goes on.
function M.read_live(client, svc, integration)
  local ok, live = pcall(live_mod.read, client, svc, integration)
  if ok then return live end
  if errors.is_error(live) then return nil, live end
  error(live, 0)
end

-- Loads the manifest, reads the live state: m, plan, ops, close, or
-- nil, err.
local function prepare(client, source, opts, fname)
  if type(source) ~= "string" and type(source) ~= "table" then
    error("bad argument #2 to '" .. (fname or "plan") .. "' (a manifest file or table expected)", 3)
  end
  local m, why = manifest.load(source, opts.dir, { allow_outside = opts.allow_outside })
  if not m then return nil, why end
  local svc_client
  local function svc()
    if not svc_client then
      svc_client = opts.integration_client or client:for_integration(m.integration)
    end
    return svc_client
  end
  local function close()
    if svc_client and svc_client ~= opts.integration_client then svc_client:close() end
  end
  local live, err = M.read_live(client, svc, m.integration)
  if not live then
    close()
    return nil, err
  end
  local plan, ops = build(client, m, opts, live, svc)
  return m, plan, ops, close
end

--- zis.plan(client, manifest [, opts]) -> plan | nil, err
function M.plan(client, source, opts)
  opts = check_args("plan", client, opts)
  local m, plan, _, close = prepare(client, source, opts, "plan")
  if not m then return nil, plan end
  close()
  return plan
end

local function step_name(it) return it.action .. " " .. (it.kind:gsub("_", " ")) .. " " .. it.name end

--- zis.apply(client, manifest [, opts]) -> report | nil, err
-- The report: ok, integration, plan, changes, done (step names), failed
-- ({step =, error =} or nil), not_done, credentials (new webhooks':
-- without password when it went to a file), summary.
function M.apply(client, source, opts)
  opts = check_args("apply", client, opts)
  local m, plan, ops, close = prepare(client, source, opts, "apply")
  if not m then return nil, plan end
  local report = { ok = false, integration = m.integration, plan = plan, changes = plan.changes,
                   done = array{}, not_done = array{}, credentials = array{} }
  local steps_list = {}
  for i, it in ipairs(plan.items) do
    if it.action ~= "unchanged" then steps_list[#steps_list + 1] = { name = step_name(it), op = ops[i] } end
  end
  local function stop(at, err, before)
    report.failed = { step = at and steps_list[at].name or before, error = err }
    for i = at and at + 1 or 1, #steps_list do report.not_done[#report.not_done + 1] = steps_list[i].name end
    report.summary = format("NOT applied: %s failed: %s; %d step(s) done, %d not done",
                            report.failed.step, tostring(err), #report.done, #report.not_done)
    close()
    return report
  end
  if #plan.missing_env > 0 then
    return stop(nil, "environment variable(s) not set: " .. concat(plan.missing_env, ", ") ..
                     " (nothing was written)", "read secrets from the environment")
  end
  if #plan.blocked > 0 then
    return stop(nil, concat(plan.blocked, "; ") .. " (nothing was written)", "prepare credentials files")
  end
  -- each step as it is done: on_step(name, i, total); on_progress the
  -- figures (zis.pace: done, total, rate, eta, waiting)
  local now = require("zis.core").now
  local tracker = opts.on_progress and require("zis.pace").progress(opts.on_progress, #steps_list, now())
  for i, s in ipairs(steps_list) do
    local ok, res, err = pcall(s.op, report)
    if not ok then  -- a raised error object, or a message (a secret went missing)
      if errors.is_interrupt(res) or (not errors.is_error(res) and type(res) ~= "string") then
        close()
        error(res, 0)
      end
      return stop(i, res)
    end
    if res == nil then return stop(i, err) end
    report.done[#report.done + 1] = s.name
    if opts.on_step then opts.on_step(s.name, i, #steps_list) end
    if tracker then tracker:step(1, now()) end
  end
  close()
  report.ok = true
  report.summary = #steps_list == 0 and ("no changes: " .. m.integration .. " matches the manifest")
                   or format("applied: %d step(s) done", #steps_list)
  return report
end

--- zis.import(client, integration, dir [, opts]) -> report | nil, err
M.import = require "zis.plan.import"

return M

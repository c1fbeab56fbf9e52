-- plan and apply are honest about what is installed and what prune does:
-- a job spec no bundle of the manifest defines is uninstalled, prune never
-- deletes a bundle, and deletes OAuth clients and inbound webhooks the
-- manifest dropped (docs/manual.md, zis.plan).
local zis = require "zis"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local I, getenv, actions = P.I, P.getenv, P.actions

local OAUTH = [[
  oauth_clients = {
    acme_oauth = { client_id = "acme-id", client_secret = env "ACME_SECRET",
                   token_url = "https://acme.example/token", grant_type = "client_credentials" },
  },
]]

describe("plan and apply", function()
  local dir, file, c
  before_each(function()
    H.reset()
    dir = P.workdir()
    file = dir .. "/manifest.lua"
    c = H.client()
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
  end)
  after_each(function()
    c:close()
    P.rm(dir)
  end)

  -- The bundle's job spec on_acme_order becomes on_acme_order_v2.
  local function rename_job_spec()
    P.edit_bundle(dir .. "/bundles/acme_sync.json", function(b)
      local js = b.resources.on_acme_order
      b.resources.on_acme_order = nil
      js.properties.name = "on_acme_order_v2"
      b.resources.on_acme_order_v2 = js
    end)
  end

  it("uninstalls the old job spec after a rename, and a second plan is clean", function()
    rename_job_spec()
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "update bundle acme_sync", "install job_spec on_acme_order_v2",
                  "install job_spec on_ticket_created", "uninstall job_spec on_acme_order" }, actions(plan))
    assert.matches("no bundle of the manifest defines it",
                   P.item(plan, "job_spec", "on_acme_order").details[1], 1, true)
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_true(r.ok, r.summary)
    local installed = P.installed(c)
    assert.is_not_true(installed.on_acme_order)
    assert.is_true(installed.on_acme_order_v2)
    plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes, plan.summary)
  end)

  it("says so on the command line: plan exits 2 naming the stale job spec, apply uninstalls it", function()
    rename_job_spec()
    local code, out, err = P.zis("plan " .. P.q(file))
    assert.equal(2, code, err)
    assert.matches("- uninstall  job spec on_acme_order", out, 1, true)
    code, out, err = P.zis("apply " .. P.q(file))
    assert.equal(0, code, err)
    assert.matches("done: uninstall job spec on_acme_order\n", out, 1, true)
    code, out = P.zis("plan " .. P.q(file))
    assert.equal(0, code, out)
    assert.matches("no changes: acme_sync matches the manifest", out, 1, true)
  end)

  it("never deletes a bundle the manifest dropped, with or without prune: it uninstalls its job specs", function()
    assert(c:upload_bundle(I, H.bundle(I, "legacy", { "legacy_job" })))
    assert(c:install_job_spec(I, "legacy_job"))
    for _, prune in ipairs{ false, true } do
      local plan = assert(zis.plan(c, file, { getenv = getenv, prune = prune }))
      assert.same({ "uninstall job_spec legacy_job" }, actions(plan))
      assert.matches("(it is in bundle legacy, not in the manifest)",
                     P.item(plan, "job_spec", "legacy_job").details[1], 1, true)
      assert.same({ "bundle legacy is not in the manifest: kept (Zendesk cannot delete a bundle; " ..
                    "its job specs are uninstalled instead)" }, plan.notes)
    end
    local n = #H.log()
    local r = assert(zis.apply(c, file, { getenv = getenv, prune = true }))
    assert.is_true(r.ok, r.summary)
    assert.same({ "DELETE /api/services/zis/registry/job_specs/install" }, P.writes(n + 1))
    local names = {}
    for b in c:bundles(I) do names[#names + 1] = b.name end
    table.sort(names)
    assert.same({ "acme_sync", "legacy" }, names)
    assert.is_false(P.installed(c).legacy_job)
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv, prune = true })).changes)
  end)

  it("reads OAuth clients from the API's clients key: a created one is unchanged after", function()
    P.edit(file, "  inbound_webhooks = {", OAUTH .. "  inbound_webhooks = {")
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "create oauth_client acme_oauth" }, actions(plan))
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes, plan.summary)
    assert.equal("unchanged", P.item(plan, "oauth_client", "acme_oauth").action)
  end)

  it("deletes an OAuth client the manifest dropped, only with prune", function()
    P.edit(file, "  inbound_webhooks = {", OAUTH .. "  inbound_webhooks = {")
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    P.edit(file, "  oauth_clients = {.-\n  },\n", "")
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes)
    assert.same({ "oauth_client acme_oauth is not in the manifest: kept (prune deletes it)" }, plan.notes)
    plan = assert(zis.plan(c, file, { getenv = getenv, prune = true }))
    assert.same({ "delete oauth_client acme_oauth" }, actions(plan))
    assert.matches("deletes the OAuth connections made with it",
                   P.item(plan, "oauth_client", "acme_oauth").details[2], 1, true)
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv, prune = true })).ok)
    local svc = c:for_integration(I)
    assert.same({}, assert(svc:list_oauth_clients(I)).clients)
    svc:close()
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv, prune = true })).changes)
  end)

  it("deletes an inbound webhook the manifest dropped, only with prune, revoking it", function()
    local svc = c:for_integration(I)
    local uuid = assert(svc:list_inbound_webhooks(I)).webhooks[1].uuid
    P.edit(file, "  inbound_webhooks = {.-\n  },\n", "")
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes)
    assert.same({ "inbound_webhook acme:order.created " .. uuid ..
                  " is not in the manifest: kept (prune deletes it)" }, plan.notes)
    plan = assert(zis.plan(c, file, { getenv = getenv, prune = true }))
    assert.same({ "delete inbound_webhook acme:order.created " .. uuid }, actions(plan))
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv, prune = true })).ok)
    assert.same({}, assert(svc:list_inbound_webhooks(I)).webhooks)
    local _, err = svc:get_inbound_webhook(I, uuid)
    assert.equal(404, err.status)
    -- and its record is gone with it
    assert.same({}, assert(svc:list_links(I, { link_type = "zis_manifest_inbound_webhook",
                                               left_object_name = "*" })).links)
    svc:close()
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv, prune = true })).changes)
  end)

  it("plans a config as a create when Zendesk answers 404 for the configs (none yet)", function()
    P.edit(file, "settings = {", "other = { x = 1 },\n    settings = {")
    local svc = c:for_integration(I)
    assert(svc:delete_config(I, "settings"))
    svc:close()
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "create config other", "create config settings" }, actions(plan))
  end)
end)

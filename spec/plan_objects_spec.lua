-- Every kind of object plan knows, through every action: create, update,
-- delete (prune), install, uninstall, unchanged.
local zis = require "zis"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local I, getenv, actions = P.I, P.getenv, P.actions

local BASIC = [[
  connections = {
    acme_api = { type = "bearer_token", token = env "ACME_TOKEN", allowed_domain = "api.acme.com" },
    acme_key = { type = "api_key", api_key = env "ACME_TOKEN", header_name = "X-Key",
                 allowed_domain = "api.acme.com" },
  },
  oauth_clients = {
    acme_oauth = { client_id = "acme-id", client_secret = env "ACME_SECRET",
                   token_url = "https://acme.example/token", grant_type = "client_credentials" },
  },
]]

describe("plan items for each kind of object", function()
  local dir, file, c
  local function plan(o)
    o = o or {}
    o.getenv = getenv
    return assert(zis.plan(c, file, o))
  end
  local function apply(o)
    o = o or {}
    o.getenv = getenv
    local r = assert(zis.apply(c, file, o))
    assert.is_true(r.ok, r.summary)
    return r
  end
  before_each(function()
    H.reset()
    dir = P.workdir()
    file = dir .. "/manifest.lua"
    P.edit(file, "  connections = {.-\n  },\n", BASIC)
    c = H.client()
  end)
  after_each(function()
    c:close()
    P.rm(dir)
  end)

  it("integration: create, then unchanged with a note on a description the API cannot change", function()
    assert.equal("create", P.item(plan(), "integration", I).action)
    apply()
    P.edit(file, 'description = "Acme sync"', 'description = "Acme sync v2"')
    local it = P.item(plan(), "integration", I)
    assert.equal("unchanged", it.action)
    assert.matches("the API cannot change a description", it.details[1], 1, true)
  end)

  it("bundle: create, unchanged, update with the changed path", function()
    assert.equal("create", P.item(plan(), "bundle", "acme_sync").action)
    apply()
    assert.equal("unchanged", P.item(plan(), "bundle", "acme_sync").action)
    P.edit_bundle(dir .. "/bundles/acme_sync.json", function(b) b.description = "changed" end)
    local it = P.item(plan(), "bundle", "acme_sync")
    assert.equal("update", it.action)
    assert.same({ { op = "changed", path = "description" } }, it.paths)
  end)

  it("job spec: install, unchanged, uninstall when left out of job_specs, install again", function()
    assert.equal("install", P.item(plan(), "job_spec", "on_acme_order").action)
    apply()
    assert.equal("unchanged", P.item(plan(), "job_spec", "on_acme_order").action)
    P.edit(file, 'job_specs = "all",', 'job_specs = { "on_ticket_created" },')
    local p = plan()
    assert.same({ "uninstall job_spec on_acme_order" }, actions(p))
    apply()
    assert.is_false(P.installed(c).on_acme_order)
    assert.equal("unchanged", P.item(plan(), "job_spec", "on_acme_order").action)
    P.edit(file, 'job_specs = { "on_ticket_created" },', 'job_specs = "all",')
    assert.same({ "install job_spec on_acme_order" }, actions(plan()))
  end)

  it("config: create, unchanged, delete with prune", function()
    assert.equal("create", P.item(plan(), "config", "settings").action)
    apply()
    assert.equal("unchanged", P.item(plan(), "config", "settings").action)
    P.edit(file, "  configs = {.-\n  },\n", "")
    assert.same({}, actions(plan()))
    assert.same({ "delete config settings" }, actions(plan{ prune = true }))
    apply{ prune = true }
    assert.equal(0, plan{ prune = true }.changes)
  end)

  it("config: a nested value that changed is an update at its path, and apply writes it", function()
    apply()
    P.edit(file, 'tags = { "acme" }', 'tags = { "acme", "eu" }')
    local it = P.item(plan(), "config", "settings")
    assert.equal("update", it.action)
    assert.same({ { op = "added", path = "config.tags[2]" } }, it.paths)
    P.edit(file, 'tags = { "acme", "eu" }', 'tags = { "emea" }')
    it = P.item(plan(), "config", "settings")
    assert.same({ { op = "changed", path = "config.tags[1]" } }, it.paths)
    P.edit(file, "retries = 3", "retries = 3.0")   -- an integer is not a float
    assert.equal(2, #P.item(plan(), "config", "settings").paths)
    apply()
    local svc = c:for_integration(I)
    assert.same(zis.array{ "emea" }, assert(svc:list_configs(I, { scope = "settings" })).configs[1].config.tags)
    svc:close()
    assert.equal(0, plan().changes)
  end)

  it("connection: create, unchanged, update on a field, type change, delete with prune", function()
    local p = plan()
    assert.equal("create", P.item(p, "connection", "acme_api").action)
    assert.equal("create", P.item(p, "connection", "acme_key").action)
    apply()
    assert.equal("unchanged", P.item(plan(), "connection", "acme_key").action)
    P.edit(file, 'header_name = "X%-Key"', 'header_name = "X-Api-Key"')
    local it = P.item(plan(), "connection", "acme_key")
    assert.equal("update", it.action)
    assert.equal('header_name: "X-Key" -> "X-Api-Key"', it.details[1])
    apply()
    P.edit(file, 'acme_api = { type = "bearer_token", token = env "ACME_TOKEN",',
           'acme_api = { type = "basic_auth", username = "u", password = env "ACME_TOKEN",')
    it = P.item(plan(), "connection", "acme_api")
    assert.equal("update", it.action)
    assert.equal("type bearer_token -> basic_auth: deleted and created again", it.details[1])
    apply()
    local svc = c:for_integration(I)
    assert.equal("basic_auth", assert(svc:get_connection(I, "acme_api", "basic_auth")).type)
    svc:close()
    P.edit(file, '    acme_key = {.-\n                 allowed_domain = "api.acme.com" },\n', "")
    assert.same({ "delete connection acme_key" }, actions(plan{ prune = true }))
    apply{ prune = true }
    assert.equal(0, plan{ prune = true }.changes)
  end)

  it("OAuth client: create, unchanged, update on a field (secret sent again)", function()
    assert.equal("create", P.item(plan(), "oauth_client", "acme_oauth").action)
    apply()
    assert.equal("unchanged", P.item(plan(), "oauth_client", "acme_oauth").action)
    P.edit(file, '"https://acme.example/token"', '"https://acme.example/oauth/token"')
    local it = P.item(plan(), "oauth_client", "acme_oauth")
    assert.equal("update", it.action)
    assert.same({ 'token_url: "https://acme.example/token" -> "https://acme.example/oauth/token"',
                  "secret set again from env ACME_SECRET" }, it.details)
    apply()
    assert.equal(0, plan().changes)
  end)

  it("inbound webhook: create, unchanged by uuid", function()
    assert.equal("create", P.item(plan(), "inbound_webhook", "acme:order.created").action)
    apply()
    local it = P.item(plan(), "inbound_webhook", "acme:order.created")
    assert.equal("unchanged", it.action)
    assert.matches("^uuid ", it.details[1])
  end)

  it("a missing secret is named in the plan, and apply writes nothing", function()
    local p = assert(zis.plan(c, file, { getenv = function() return nil end }))
    assert.same({ "ACME_TOKEN", "ACME_SECRET" }, p.missing_env)
    assert.matches("env ACME_SECRET is not set: apply stops before writing",
                   P.item(p, "oauth_client", "acme_oauth").details[2], 1, true)
  end)

  it("the counts and the summary add up", function()
    local p = plan()
    local n = 0
    for _, k in ipairs{ "create", "update", "delete", "install", "uninstall" } do n = n + p.counts[k] end
    assert.equal(p.changes, n)
    assert.equal(#p.items, n + p.counts.unchanged)
    assert.matches("^" .. p.changes .. " change%(s%)", p.summary)
  end)
end)

describe("zis.plan.diff", function()
  local diff = require "zis.plan.diff"
  it("tells integers from floats, arrays from objects, and nested changes", function()
    assert.is_false(diff.same(1, 1.0))
    assert.is_false(diff.same(zis.array{}, zis.object{}))
    assert.is_true(diff.same({ a = { b = zis.array{ 1, "x" } } }, { a = { b = zis.array{ 1, "x" } } }))
    assert.same({ { op = "changed", path = "config.a.b[2]" } },
                diff.config({ a = { b = zis.array{ 1, "x" } } }, { a = { b = zis.array{ 1, "y" } } }))
    assert.same({ { op = "removed", path = "config.z" } }, diff.config({ z = 1 }, {}))
  end)
end)

-- zis plan / apply / import: deployments as code, on the local registry,
-- with the complete manifest of examples/manifest/.
local zis = require "zis"
local H = require "spec.helper"

local P = require "spec.plan_helper"

local I = P.I
local getenv = P.getenv
local workdir, edit, writes, actions, zis_cmd = P.workdir, P.edit, P.writes, P.actions, P.zis

describe("zis.plan and zis.apply", function()
  local dir, file
  before_each(function()
    H.reset()
    dir = workdir()
    file = dir .. "/manifest.lua"
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("plans everything on an empty account with GET requests only", function()
    local c = H.client()
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.is_false(plan.exists)
    assert.same({ "create integration acme_sync", "create bundle acme_sync",
                  "install job_spec on_acme_order", "install job_spec on_ticket_created",
                  "create config settings", "create connection acme_api",
                  "create inbound_webhook acme:order.created" }, actions(plan))
    assert.equal(7, plan.changes)
    for _, r in ipairs(H.log()) do assert.equal("GET", r.method, r.path) end
  end)

  it("applies, then plans no changes, and a second apply sends no write request", function()
    local c = H.client()
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_true(r.ok, r.summary)
    assert.equal(7, #r.done)
    -- the live state is what the manifest says
    local svc = c:for_integration(I)
    assert.same({ priority = "high", retries = 3, tags = zis.array{ "acme" } },
                assert(svc:list_configs(I, { scope = "settings" })).configs[1].config)
    local conn = assert(svc:get_connection(I, "acme_api", "bearer_token"))
    assert.equal("api.acme.com", conn.allowed_domain)
    for js in c:job_specs(I) do assert.is_true(js.installed, js.name) end
    -- the webhook's one-time credentials: in the file, mode 0600
    local creds = zis.decode_json(H.read(dir .. "/secrets/acme_webhook.json"))
    assert.matches("^fake%-webhook%-password", creds.password)
    local p = io.popen("stat -c %a " .. dir .. "/secrets/acme_webhook.json")
    assert.equal("600", p:read("l"))
    p:close()

    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes, plan.summary)
    assert.equal("no changes: acme_sync matches the manifest", plan.summary)
    local conn_item
    for _, it in ipairs(plan.items) do if it.kind == "connection" then conn_item = it end end
    assert.equal("secret set from env ACME_TOKEN (cannot be compared: the API never returns it)",
                 conn_item.details[1])
    local before = #writes()
    r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_true(r.ok)
    assert.equal(0, r.changes)
    assert.equal(before, #writes(), "the second apply wrote: " .. table.concat(writes(), ", "))
    -- and the secret never appears in a plan
    assert.is_nil(zis.encode_json(plan):find("fake-acme-token", 1, true))
  end)

  it("shows the one edited state's path, and uploads that bundle and reinstalls its job specs", function()
    local c = H.client()
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    edit(dir .. "/bundles/acme_sync.json", '"sent to Acme"', '"sent to Acme, edited"')
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "update bundle acme_sync", "install job_spec on_acme_order",
                  "install job_spec on_ticket_created" }, actions(plan))
    assert.same({ { op = "changed",
                    path = "resources.ticket_flow.properties.definition.States.Done.Message" } },
                plan.items[2].paths)
    local n = #H.log()
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_true(r.ok, r.summary)
    local sent = {}
    for i = n + 1, #H.log() do
      local q = H.log()[i]
      if q.method ~= "GET" and not q.path:match("^/api/v2/oauth/tokens") then
        sent[#sent + 1] = q.method .. " " .. q.path:gsub("%?.*", "")
      end
    end
    assert.same({ "POST /api/services/zis/registry/acme_sync/bundles",
                  "POST /api/services/zis/registry/job_specs/install",
                  "POST /api/services/zis/registry/job_specs/install" }, sent)
    for js in c:job_specs(I) do assert.is_true(js.installed, js.name) end
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv })).changes)
  end)

  it("uninstalls a job spec its bundle dropped, and prunes a config the manifest no longer has", function()
    local c = H.client()
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    -- the manifest drops the settings config, the bundle drops on_acme_order
    P.edit_bundle(dir .. "/bundles/acme_sync.json", function(b)
      b.resources.on_acme_order, b.resources.order_flow = nil, nil
    end)
    edit(file, "  configs = {.-\n  },\n", "")
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "update bundle acme_sync", "install job_spec on_ticket_created",
                  "uninstall job_spec on_acme_order" }, actions(plan))
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    assert.is_false(P.installed(c).on_acme_order or false)
    -- the config, without prune: kept, and said so
    plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes)
    assert.same({ "config settings is not in the manifest: kept (prune deletes it)" }, plan.notes)
    plan = assert(zis.plan(c, file, { getenv = getenv, prune = true }))
    assert.same({ "delete config settings" }, actions(plan))
    local r = assert(zis.apply(c, file, { getenv = getenv, prune = true }))
    assert.is_true(r.ok, r.summary)
    local svc = c:for_integration(I)
    assert.same({}, assert(svc:list_configs(I, { scope = "*" })).configs)
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv, prune = true })).changes)
  end)

  it("stops at a failing step with a report that names it", function()
    local c = H.client()
    H.faults{ { method = "POST", path = "/api/services/zis/integrations/acme_sync/configs", status = 500,
                body = '{"errors":[{"code":"1000","detail":"boom","status":"500"}]}' } }
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_false(r.ok)
    assert.equal("create config settings", r.failed.step)
    assert.equal(500, r.failed.error.status)
    assert.same({ "create integration acme_sync", "create bundle acme_sync",
                  "install job spec on_acme_order", "install job spec on_ticket_created" }, r.done)
    assert.same({ "create connection acme_api", "create inbound webhook acme:order.created" }, r.not_done)
    assert.matches("^NOT applied: create config settings failed", r.summary)
    -- and the next apply finishes the job
    r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_true(r.ok, r.summary)
    assert.same({ "create config settings", "create connection acme_api",
                  "create inbound webhook acme:order.created" }, r.done)
  end)

  it("writes nothing when a secret's variable is not set", function()
    local r = assert(zis.apply(H.client(), file, { getenv = function() return nil end }))
    assert.is_false(r.ok)
    assert.matches("ACME_TOKEN", tostring(r.failed.error))
    assert.equal(7, #r.not_done)
    assert.same({}, writes())
  end)

  it("sets secrets again only when asked, or when other fields change", function()
    local c = H.client()
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    local plan = assert(zis.plan(c, file, { getenv = getenv, reset_secrets = true }))
    assert.same({ "update connection acme_api" }, actions(plan))
    edit(file, 'allowed_domain = "api.acme.com"', 'allowed_domain = "eu.api.acme.com"')
    plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "update connection acme_api" }, actions(plan))
    assert.same({ 'allowed_domain: "api.acme.com" -> "eu.api.acme.com"',
                  "secret set again from env ACME_TOKEN" }, plan.items[#plan.items - 1].details)
  end)

  it("imports a live integration so that plan reports no changes", function()
    local c = H.client()
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    local out = dir .. "/imported"
    local r = assert(zis.import(c, I, out))
    assert.same({ "ACME_API_TOKEN" }, r.env)
    local m = zis.decode_json(H.read(out .. "/manifest.json"))
    assert.same({ env = "ACME_API_TOKEN" }, m.connections.acme_api.token)
    local plan = assert(zis.plan(c, r.manifest))
    assert.equal(0, plan.changes, plan.summary)
  end)
end)

describe("manifests", function()
  local function refused(m, pattern)
    local plan, err = zis.plan(H.client(), m)
    assert.is_nil(plan)
    assert.matches(pattern, err, 1, true)
  end
  local function base(extra)
    local m = { integration = "acme_sync" }
    for k, v in pairs(extra) do m[k] = v end
    return m
  end

  it("refuses unknown keys and wrong types with the path of the key", function()
    H.reset()
    refused(base{ descripton = "x" }, "manifest: descripton: unknown key")
    refused(base{ configs = { settings = "high" } }, "configs.settings: an object expected, got a string")
    refused(base{ connections = { acme = { type = "bearer_token", token = { env = "T" },
                                           allowed_domain = "a.com", tokn = 1 } } },
            "connections.acme.tokn: unknown key")
    refused(base{ connections = { acme = { type = "bearer", token = { env = "T" } } } },
            "connections.acme.type: one of api_key, basic_auth, bearer_token expected")
    refused(base{ inbound_webhooks = { { source_system = "acme", event_type = 3 } } },
            "inbound_webhooks[1].event_type: a non-empty string expected, got a number")
    refused(base{ bundles = { "missing.json" } }, "bundles[1]: cannot read")
    refused(base{ job_specs = { "nope" } }, "job_specs[1]: no job spec 'nope' in the manifest's bundles")
    refused({ integration = "Acme" }, "integration: an integration name is 1 to 64")
    assert.same({}, H.log(), "a refused manifest sent a request")
  end)

  it("refuses an inline secret", function()
    refused(base{ connections = { acme = { type = "bearer_token", token = "s3cret",
                                           allowed_domain = "a.com" } } },
            'connections.acme.token: a secret must be given as env "NAME"')
  end)

  it("reads a JSON manifest of the same shape", function()
    H.reset()
    local dir = workdir()
    local f = assert(io.open(dir .. "/manifest.json", "wb"))
    f:write('{"integration": "acme_sync", "bundles": ["bundles/acme_sync.json"],',
            '"connections": {"acme_api": {"type": "bearer_token", "token": {"env": "ACME_TOKEN"},',
            '"allowed_domain": "api.acme.com"}}, "job_specs": ["on_ticket_created"]}')
    f:close()
    local plan = assert(zis.plan(H.client(), dir .. "/manifest.json"))
    assert.same({ "create integration acme_sync", "create bundle acme_sync",
                  "install job_spec on_ticket_created", "create connection acme_api" }, actions(plan))
    assert.same({ "ACME_TOKEN" }, plan.missing_env)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("zis plan / apply / import", function()
  it("runs the example manifest: exit 2 with changes pending, 0 once applied", function()
    H.reset()
    local dir = workdir()
    local code, out, err = zis_cmd("plan " .. dir .. "/manifest.lua")
    assert.equal(2, code, err)
    assert.matches("+ create     bundle acme_sync", out, 1, true)
    assert.matches("7 change%(s%)", out)
    code, out, err = zis_cmd("apply " .. dir .. "/manifest.lua")
    assert.equal(0, code, err)
    assert.matches("applied: 7 step%(s%) done", out)
    code, out = zis_cmd("plan " .. dir .. "/manifest.lua")
    assert.equal(0, code)
    assert.matches("no changes: acme_sync matches the manifest", out)
    code, out = zis_cmd("--json plan " .. dir .. "/manifest.lua")
    assert.equal(0, code)
    assert.equal(0, zis.decode_json(out).changes)
    code, out, err = zis_cmd("import acme_sync " .. dir .. "/imp")
    assert.equal(0, code, err)
    assert.matches("ACME_API_TOKEN", out)
    code = zis_cmd("plan " .. dir .. "/imp/manifest.json")
    assert.equal(0, code)
    os.execute("rm -rf " .. dir)
  end)

  it("exits 1 with the failed step named, and 1 on a bad manifest", function()
    H.reset()
    local dir = workdir()
    H.faults{ { method = "POST", path = "/api/services/zis/integrations/acme_sync/connections/bearer_token",
                status = 400,
                body = '{"errors":[{"code":"1010","detail":"refused","status":"400"}]}' } }
    local code, out = zis_cmd("apply " .. dir .. "/manifest.lua")
    assert.equal(1, code)
    assert.matches("FAILED: create connection acme_api: ", out, 1, true)
    assert.matches("not done: create inbound webhook acme:order.created", out, 1, true)
    local err
    edit(dir .. "/manifest.lua", "token = env", "tokn = env")
    code, out, err = zis_cmd("plan " .. dir .. "/manifest.lua")
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^zis: [^\n]*connections%.acme_api%.tokn: unknown key\n$", err)
    os.execute("rm -rf " .. dir)
  end)
end)

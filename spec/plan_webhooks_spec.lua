-- Inbound webhooks' credentials are shown once by Zendesk: apply never
-- loses them, never shows a password that went to a file, never makes a
-- second webhook for one it cannot account for.
local zis = require "zis"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local I, getenv, actions, q = P.I, P.getenv, P.actions, P.q
local LINKS = "/api/services/zis/links/acme_sync"
local LIST = "/api/services/zis/inbound_webhooks/generic/acme_sync/all"

describe("inbound webhooks in plan and apply", function()
  local dir, file, c, svc
  before_each(function()
    H.reset()
    dir = P.workdir()
    file = dir .. "/manifest.lua"
    c = H.client()
    svc = c:for_integration(I)
  end)
  after_each(function()
    svc:close()
    c:close()
    P.rm(dir)
  end)

  local function hooks()
    return assert(svc:list_inbound_webhooks(I)).webhooks
  end

  it("creates no webhook when its credentials file cannot be made", function()
    P.write(dir .. "/secrets", "a file where the folder should be")
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_false(r.ok)
    assert.equal("create inbound webhook acme:order.created", r.failed.step)
    assert.equal("cannot create credentials_file secrets/acme_webhook.json: not a folder " ..
                 "(no webhook was created)", r.failed.error)
    assert.same({}, hooks())
  end)

  it("never overwrites an existing credentials file: plan says so, apply writes nothing", function()
    assert(os.execute("mkdir " .. q(dir .. "/secrets")))
    P.write(dir .. "/secrets/acme_webhook.json", "old credentials")
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.matches("already exists: apply never overwrites credentials",
                   P.item(plan, "inbound_webhook", "acme:order.created").details[2], 1, true)
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_false(r.ok)
    assert.same({}, P.writes())
    assert.equal("old credentials", H.read(dir .. "/secrets/acme_webhook.json"))
  end)

  it("refuses two webhooks sharing one credentials_file", function()
    P.edit(file, '    { source_system = "acme"', '    { source_system = "acme", event_type = "order.paid",\n' ..
           '      credentials_file = "secrets/../secrets/acme_webhook.json" },\n    { source_system = "acme"')
    local plan, err = zis.plan(c, file, { getenv = getenv })
    assert.is_nil(plan)
    assert.matches("inbound_webhooks[2].credentials_file: secrets/acme_webhook.json is also the " ..
                   "credentials_file of inbound_webhooks[1]", err, 1, true)
  end)

  it("keeps the credentials when recording fails, then records that webhook instead of making another",
     function()
    H.faults{ { method = "POST", path = LINKS, status = 500,
                body = '{"errors":[{"code":"1000","detail":"boom","status":"500"}]}' } }
    local r = assert(zis.apply(c, file, { getenv = getenv }))
    assert.is_false(r.ok)
    assert.equal("create inbound webhook acme:order.created", r.failed.step)
    local creds = zis.decode_json(H.read(dir .. "/secrets/acme_webhook.json"))
    assert.matches("^fake%-webhook%-password", creds.password)
    assert.equal(1, #hooks())
    assert.is_nil(r.credentials[1].password)   -- it went to the file
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.same({ "update inbound_webhook acme:order.created" }, actions(plan))
    assert.matches("record webhook " .. creds.uuid .. ": an earlier apply created it",
                   plan.items[#plan.items].details[1], 1, true)
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    assert.equal(1, #hooks())
    assert.equal(0, assert(zis.plan(c, file, { getenv = getenv })).changes)
  end)

  it("reports a webhook no apply recorded (and whose credentials it lacks) instead of creating another",
     function()
    assert(c:create_integration(I))
    assert(svc:create_inbound_webhook(I, { source_system = "acme", event_type = "order.created" }))
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    local it = P.item(plan, "inbound_webhook", "acme:order.created")
    assert.equal("unchanged", it.action)
    assert.matches("exists but no apply recorded it: not creating another", it.details[1], 1, true)
    assert.matches("its credentials may be lost", plan.notes[1], 1, true)
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    assert.equal(1, #hooks())
  end)

  it("prints credentials without a file at once, before the record that fails", function()
    P.edit(file, ',\n      credentials_file = "secrets/acme_webhook.json" },', " },")
    H.faults{ { method = "POST", path = LINKS, status = 500,
                body = '{"errors":[{"code":"1000","detail":"boom","status":"500"}]}' } }
    local seen
    local r = assert(zis.apply(c, file, { getenv = getenv, on_credentials = function(cr)
      seen = cr
      -- the record is not made yet
      assert.same({}, assert(svc:list_links(I, { link_type = "zis_manifest_inbound_webhook",
                                                 left_object_name = "*" })).links)
    end }))
    assert.is_false(r.ok)
    assert.matches("^fake%-webhook%-password", seen.password)
    -- on the command line: shown once, and no claim they are elsewhere
    H.reset()
    H.faults{ { method = "POST", path = LINKS, status = 500,
                body = '{"errors":[{"code":"1000","detail":"boom","status":"500"}]}' } }
    local code, out = P.zis("apply " .. q(file))
    assert.equal(1, code)
    local _, n = out:gsub("password fake%-webhook%-password", "")
    assert.equal(1, n)
    assert.is_nil(out:find("in this report", 1, true))
  end)

  it("never puts a password that went to a file in --json output", function()
    local code, out, err = P.zis("--json apply " .. q(file))
    assert.equal(0, code, err)
    local r = zis.decode_json(out)
    assert.equal(dir .. "/secrets/acme_webhook.json", r.credentials[1].file)
    assert.is_nil(out:find("fake-webhook-password", 1, true))
    assert.is_nil(err:find("fake-webhook-password", 1, true))
    assert.matches("fake%-webhook%-password", H.read(dir .. "/secrets/acme_webhook.json"))
  end)

  it("finds its webhooks through the records where the list answers 404", function()
    H.faults{ { method = "GET", path = LIST, status = 404, times = 100,
                body = '{"errors":[{"code":"1030","detail":"not found","status":"404"}]}' } }
    assert.is_true(assert(zis.apply(c, file, { getenv = getenv })).ok)
    local plan = assert(zis.plan(c, file, { getenv = getenv }))
    assert.equal(0, plan.changes, plan.summary)
    assert.equal("unchanged", P.item(plan, "inbound_webhook", "acme:order.created").action)
  end)
end)

-- zis.validate and client:deploy
local zis = require "zis"
local H = require "spec.helper"

local EXAMPLE = H.read("examples/bundles/example.json")

-- A fresh copy of the example bundle, for one edit.
local function example() return zis.decode_json(EXAMPLE) end

local function paths(problems, severity)
  local out = {}
  for _, p in ipairs(problems) do
    if p.severity == (severity or "error") then out[#out + 1] = p.path end
  end
  return out
end

describe("zis.validate", function()
  it("passes the example bundle, as a table or a JSON string", function()
    local ok, problems = zis.validate(example())
    assert.is_true(ok)
    assert.same({}, problems)
    assert.is_true((zis.validate(EXAMPLE, { integration = "example_integration" })))
  end)

  local FLOW = "resources.example_flow.properties.definition"
  local rules = {
    { "template version", function(b) b.zis_template_version = "2020-01-01" end, "zis_template_version" },
    { "name", function(b) b.name = "" end, "name" },
    { "resources", function(b) b.resources = "x" end, "resources" },
    { "resource type", function(b) b.resources.on_ticket_created.type = "ZIS::Job" end,
      "resources.on_ticket_created.type" },
    { "at least one flow", function(b) b.resources.example_flow = nil end, "resources" },
    { "at least one job spec", function(b) b.resources.on_ticket_created = nil end, "resources" },
    { "state type", function(b) b.resources.example_flow.properties.definition.States.Tag.Type = "Task" end,
      FLOW .. ".States.Tag.Type" },
    { "StartAt", function(b) b.resources.example_flow.properties.definition.StartAt = "Nope" end,
      FLOW .. ".StartAt" },
    { "Next", function(b) b.resources.example_flow.properties.definition.States.Tag.Next = "Gone" end,
      FLOW .. ".States.Tag.Next" },
    { "Choices[].Next and Default", function(b)
        local st = b.resources.example_flow.properties.definition.States
        st.Tag.Next = "Pick"
        st.Pick = { Type = "Choice", Choices = { { Variable = "$.x", StringEquals = "a", Next = "Done" },
                                                 { Variable = "$.x", StringEquals = "b", Next = "Lost" } },
                    Default = "Missing" }
      end, FLOW .. ".States.Pick.Choices[2].Next", FLOW .. ".States.Pick.Default" },
    { "a terminal state", function(b)
        local st = b.resources.example_flow.properties.definition.States
        st.Done = { Type = "Pass", Next = "Tag" }
      end, FLOW .. ".States" },
    { "Next or End", function(b)
        b.resources.example_flow.properties.definition.States.Tag.Next = nil
      end, FLOW .. ".States.Tag" },
    { "job spec flow_name", function(b)
        b.resources.on_ticket_created.properties.flow_name = "example_flow"
      end, "resources.on_ticket_created.properties.flow_name" },
    { "ActionName", function(b)
        b.resources.example_flow.properties.definition.States.Tag.ActionName = "zis:example_integration:action:none"
      end, FLOW .. ".States.Tag.ActionName" },
    { "job spec event fields", function(b) b.resources.on_ticket_created.properties.event_type = nil end,
      "resources.on_ticket_created.properties.event_type" },
    { "Wait timestamp", function(b)
        local st = b.resources.example_flow.properties.definition.States
        st.Tag.Next = "Nap"
        st.Nap = { Type = "Wait", Timestamp = "2026-01-01T00:00:00Z", Next = "Done" }
      end, FLOW .. ".States.Nap" },
    { "Map iterator", function(b)
        local st = b.resources.example_flow.properties.definition.States
        st.Tag.Next = "Each"
        st.Each = { Type = "Map", ItemsPath = "$.items", Next = "Done",
                    Iterator = { StartAt = "In", States = { In = { Type = "Pass" } } } }
      end, FLOW .. ".States.Each.Iterator.States.In" },
    { "action definition", function(b) b.resources.tag_ticket.properties.definition.method = nil end,
      "resources.tag_ticket.properties.definition.method" },
  }
  for _, rule in ipairs(rules) do
    it("finds a broken rule: " .. rule[1], function()
      local b = example()
      rule[2](b)
      local ok, problems = zis.validate(b)
      assert.is_false(ok)
      local found = paths(problems)
      for i = 3, #rule do
        assert(found[1] ~= nil, "no problem found")
        local hit = false
        for _, p in ipairs(found) do if p == rule[i] then hit = true end end
        assert(hit, "no problem at " .. rule[i] .. "; found: " .. table.concat(found, ", "))
      end
      for _, p in ipairs(problems) do assert.is_string(p.message) assert.truthy(#p.message > 10) end
    end)
  end

  it("warns, without failing, about a job spec flow_name naming a flow of another bundle", function()
    local b = example()
    b.resources.on_ticket_created.properties.flow_name = "zis:example_integration:flow:other"
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ "resources.on_ticket_created.properties.flow_name" }, paths(problems, "warning"))
  end)

  it("accepts references to zis:common built-ins", function()
    local b = example()
    b.resources.example_flow.properties.definition.States.Tag.ActionName = "zis:common:action:LoadConfig"
    assert.is_true((zis.validate(b)))
  end)

  it("flags references to another integration when told which one it is for", function()
    local ok, problems = zis.validate(example(), { integration = "other" })
    assert.is_false(ok)
    assert.matches("names integration 'example_integration'", problems[1].message)
  end)

  it("reports bad JSON as a problem and raises on a wrong type", function()
    local ok, problems = zis.validate("{nope")
    assert.is_false(ok)
    assert.matches("not JSON", problems[1].message)
    assert.has_error(function() zis.validate(42) end)
  end)
end)

describe("client:deploy", function()
  local I = "example_integration"
  before_each(H.reset)

  it("creates, uploads, installs every job spec, and reads them back", function()
    local c = H.client()
    local r = c:deploy(I, EXAMPLE)
    assert.is_true(r.ok, r.summary)
    assert.is_true(r.created)
    assert.is_true(r.uploaded)
    assert.same({ "on_ticket_created" }, r.installed)
    assert.same({}, r.failed)
    assert.matches("^deployed", r.summary)
    -- the JSON text went out byte for byte
    local upload
    for _, req in ipairs(H.log()) do if req.method == "POST" and req.path:match("/bundles$") then upload = req end end
    assert.equal(EXAMPLE, upload.body)
  end)

  it("is safe to run twice", function()
    local c = H.client()
    assert.is_true(c:deploy(I, EXAMPLE).ok)
    local r = c:deploy(I, EXAMPLE)
    assert.is_true(r.ok, r.summary)
    assert.is_false(r.created)
    assert.same({ "on_ticket_created" }, r.installed)
  end)

  it("works out a bundle's integration as zis.validate does", function()
    local deploy = require "zis.deploy"
    assert.equal(zis.validate.integration_of, deploy.integration_of)
    assert.equal(I, (deploy.integration_of(EXAMPLE)))
    assert.equal(I, (deploy.integration_of(example())))
  end)

  it("refuses, in a dry run too, a bundle naming two integrations, at validate's path and words", function()
    local b = example()
    b.resources.second_job = { type = "ZIS::JobSpec", properties = { name = "second_job",
      event_source = "support", event_type = "ticket.CommentAdded", flow_name = "zis:other_one:flow:example_flow" } }
    local ok, problems = zis.validate(b)
    assert.is_false(ok)
    assert.same({ "resources.second_job.properties.flow_name" }, paths(problems))
    local integration, conflicts = require("zis.deploy").integration_of(b)
    assert.equal(I, integration)
    assert.same(problems, conflicts)
    local r = H.client():deploy(integration, b, { dry_run = true })
    assert.is_false(r.ok)
    assert.same(problems, r.problems)
    assert.matches("not valid", r.summary)
    assert.equal(0, H.stats().requests)
  end)

  it("validates first and sends nothing for an invalid bundle", function()
    local b = example()
    b.zis_template_version = "1999-01-01"
    local r = H.client():deploy(I, b)
    assert.is_false(r.ok)
    assert.is_false(r.uploaded)
    assert.equal("zis_template_version", r.problems[1].path)
    assert.equal(0, H.stats().requests)
  end)

  it("dry_run reports what it would do and writes nothing", function()
    local r = H.client():deploy(I, EXAMPLE, { dry_run = true })
    assert.is_true(r.ok)
    assert.is_true(r.dry_run)
    assert.same({ "validate: ok", "would create integration " .. I, "would upload bundle example_bundle",
                  "would install job spec on_ticket_created" }, r.steps)
    for _, req in ipairs(H.log()) do assert.equal("GET", req.method) end
  end)

  it("tries every job spec when one fails, and says the deployment is not whole", function()
    local b = example()
    b.resources.on_ticket_updated = { type = "ZIS::JobSpec", properties = { name = "on_ticket_updated",
      event_source = "support", event_type = "ticket.TicketUpdated",
      flow_name = "zis:example_integration:flow:example_flow" } }
    H.faults{ { method = "POST", path = "/api/services/zis/registry/job_specs/install", status = 500,
                body = '{"errors":[{"code":"1050","detail":"boom","status":"500"}]}' } }
    local r = H.client():deploy(I, b)
    assert.is_false(r.ok)
    assert.equal(1, #r.failed)
    assert.equal("on_ticket_created", r.failed[1].name)
    assert.equal(500, r.failed[1].error.status)
    assert.same({ "on_ticket_updated" }, r.installed)
    assert.same({ "on_ticket_created" }, r.not_installed)
    assert.matches("^NOT whole", r.summary)
  end)

  it("finds a stale job spec from an older bundle, and removes it on request", function()
    local c = H.client()
    local old = example()
    old.resources.on_old_event = { type = "ZIS::JobSpec", properties = { name = "on_old_event",
      event_source = "support", event_type = "ticket.CommentAdded",
      flow_name = "zis:example_integration:flow:example_flow" } }
    assert.is_true(c:deploy(I, old).ok)
    -- the new bundle no longer has on_old_event, which stays installed
    local r = c:deploy(I, EXAMPLE)
    assert.is_false(r.ok)
    assert.same({ "on_old_event" }, r.stale)
    assert.same({}, r.removed)
    assert.matches("stale job spec%(s%) still installed", r.summary)
    local dry = c:deploy(I, EXAMPLE, { dry_run = true, uninstall_stale = true })
    assert.same({ "on_old_event" }, dry.stale)
    r = c:deploy(I, EXAMPLE, { uninstall_stale = true })
    assert.is_true(r.ok, r.summary)
    assert.same({ "on_old_event" }, r.removed)
    for js in c:job_specs(I) do assert.is_true(js.name ~= "on_old_event" or not js.installed) end
  end)

  it("does not call a job spec of another live bundle stale", function()
    local c = H.client()
    local other = example()
    other.name = "other_bundle"
    other.resources.on_ticket_created.properties.name = "on_other"
    other.resources.on_other = other.resources.on_ticket_created
    other.resources.on_ticket_created = nil
    assert.is_true(c:deploy(I, other).ok)
    local r = c:deploy(I, EXAMPLE)
    assert.is_true(r.ok, r.summary)
    assert.same({}, r.stale)
  end)

  it("reads back job specs listed by their full names as well as short ones", function()
    local c = H.client()
    assert.is_true(c:deploy(I, EXAMPLE).ok)
    -- the next read-back lists the job spec as zis:{integration}:job_spec:{name}
    H.faults{ { method = "GET", path = "/api/services/zis/registry/" .. I .. "/job_specs", status = 200,
                body = '{"job_specs":[{"name":"zis:example_integration:job_spec:on_ticket_created",' ..
                       '"installed":true,"uuid":"u1"}],"meta":{"after":null,"before":null,"has_more":false}}' } }
    local r = c:deploy(I, EXAMPLE)
    assert.is_true(r.ok, r.summary)
    assert.same({ "on_ticket_created" }, r.installed)
    assert.same({}, r.stale)
  end)

  it("reports a failure that stops it, with the error object", function()
    local r = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }:deploy(I, EXAMPLE)
    assert.is_false(r.ok)
    assert.is_true(zis.is_error(r.error))
    assert.matches("^NOT deployed", r.summary)
  end)

  it("raises on misuse", function()
    local c = H.client()
    assert.has_error(function() c:deploy("Bad Name", EXAMPLE) end)
    assert.has_error(function() c:deploy(I, 42) end)
    assert.has_error(function() c:deploy(I, EXAMPLE, { colour = 1 }) end)
  end)
end)

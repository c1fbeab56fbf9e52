-- zis.validate: the corpus of documented shapes, the refusals, the options
local zis = require "zis"
local H = require "spec.helper"

local DIR = "spec/fixtures/bundles/"

-- The corpus files, valid and invalid, sorted.
local function corpus(prefix_invalid)
  local files = {}
  for f in io.popen("ls " .. DIR):lines() do
    if f:match("%.json$") and (f:match("^invalid_") ~= nil) == prefix_invalid then files[#files + 1] = f end
  end
  table.sort(files)
  return files
end

local function load(file) return zis.decode_json(H.read(DIR .. file)) end

local function paths(problems, severity)
  local out = {}
  for _, p in ipairs(problems) do
    if p.severity == (severity or "error") then out[#out + 1] = p.path end
  end
  return out
end

local function show(problems)
  local out = {}
  for _, p in ipairs(problems) do out[#out + 1] = p.severity .. " " .. p.path .. ": " .. p.message end
  return table.concat(out, "\n")
end

describe("zis.validate on documented shapes", function()
  local valid = corpus(false)

  it("has a corpus of at least 15 valid bundles", function()
    assert.truthy(#valid >= 15, "only " .. #valid .. " valid bundles")
  end)

  for _, file in ipairs(valid) do
    it("accepts " .. file .. " with no error and no warning", function()
      local ok, problems = zis.validate(H.read(DIR .. file), { integration = "corpus_demo" })
      assert(ok and #problems == 0, file .. ":\n" .. show(problems))
    end)
  end

  it("covers every Choice comparison ZIS documents, And/Or/Not, and the *Path forms", function()
    local seen = {}
    local function walk(v)
      if type(v) == "table" then
        for k, x in pairs(v) do seen[k] = true walk(x) end
      end
    end
    for _, file in ipairs(valid) do walk(load(file)) end
    for _, k in ipairs{ "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
                        "StringGreaterThanEquals", "NumericEquals", "NumericLessThan", "NumericGreaterThan",
                        "NumericLessThanEquals", "NumericGreaterThanEquals", "BooleanEquals",
                        "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
                        "TimestampLessThanEquals", "TimestampGreaterThanEquals", "IsPresent", "IsNull",
                        "StringEqualsPath", "NumericEqualsPath", "NumericLessThanPath", "NumericGreaterThanPath",
                        "NumericLessThanEqualsPath", "NumericGreaterThanEqualsPath", "BooleanEqualsPath",
                        "And", "Or", "Not", "Catch", "Retry", "ResultPath", "OutputPath", "InputPath",
                        "ResultSelector", "Parameters", "ItemsPath", "Iterator", "Seconds", "SecondsPath",
                        "url", "url.$", "path", "path.$", "connectionName", "headers", "queryParams",
                        "requestBody", "requestBody.$", "headers.$", "queryParams.$", "value.$" } do
      assert(seen[k], "no bundle of the corpus uses " .. k)
    end
  end)
end)

describe("zis.validate refuses", function()
  local FLOW = "resources.broken_flow.properties.definition.States[\"Zendesk.GetTicket\"]"
  local CHOICE = "resources.choice_flow.properties.definition.States.Pick"
  local STATES = "resources.states_flow.properties.definition.States"
  -- each file: the paths of its errors, then of its warnings
  local expected = {
    ["invalid_catch_retry.json"] = {
      { FLOW .. ".Catch[1].Next", FLOW .. ".Retry[1].BackoffRate", FLOW .. ".Retry[1].ErrorEquals" },
      -- Amazon States Language's ranges: Zendesk's pages state none
      { FLOW .. ".Retry[1].IntervalSeconds", FLOW .. ".Retry[1].MaxAttempts" },
    },
    ["invalid_action_http.json"] = {
      { "resources.no_target.properties.definition", "resources.no_target.properties.definition.headers",
        "resources.no_target.properties.definition.method" },
      -- an action's name that differs from its key: the guide asks, published bundles do not
      { "resources.post_note.properties.name" },
    },
    ["invalid_choice.json"] = {
      { CHOICE .. ".Choices[1].StringMatches", CHOICE .. ".Choices[2].Variable",
        CHOICE .. ".Choices[5]", CHOICE .. ".Choices[6].Next" },
      -- the operand's type and a nested Next: Amazon States Language's rules
      { CHOICE .. ".Choices[3].NumericGreaterThan", CHOICE .. ".Choices[4].And[1].Next" },
    },
    ["invalid_states.json"] = {
      { STATES .. ".BadPaths.ResultPath", STATES .. ".Both", STATES .. ".Done.Next", STATES .. ".Nap",
        STATES .. ".NotFalse", STATES .. ".NotFalse.End" },
      -- InputPath's type: Amazon States Language's rule
      { STATES .. ".BadPaths.InputPath" },
    },
    ["invalid_two_integrations.json"] = {
      { 'resources.sync_flow.properties.definition.States["Zendesk.GetTicket"].ActionName',
        "resources.z_on_comment.properties.flow_name" },
      {},
    },
  }

  it("has an expectation for each invalid bundle", function()
    local files = corpus(true)
    assert.truthy(#files >= 4)
    for _, f in ipairs(files) do assert(expected[f], "no expectation for " .. f) end
  end)

  for file, want in pairs(expected) do
    it(file .. ", at exactly the broken paths", function()
      local ok, problems = zis.validate(load(file))
      assert.is_false(ok)
      assert.same(want[1], paths(problems))
      assert.same(want[2], paths(problems, "warning"))
      for _, p in ipairs(problems) do
        assert.same({ "message", "path", "severity" }, (function()
          local keys = {} for k in pairs(p) do keys[#keys + 1] = k end table.sort(keys) return keys
        end)())
        assert.truthy(#p.message > 10)
      end
    end)
  end

  -- Inline cases: one edit of a valid corpus bundle each.
  local MAP = "resources.redact_flow.properties.definition.States.EachAttachment"
  local inline = {
    { "a Catch on a Map whose Next is gone", "map_iterator.json", function(b)
        b.resources.redact_flow.properties.definition.States.EachAttachment.Catch[1].Next = "Gone"
      end, MAP .. ".Catch[1].Next" },
    { "an empty Catch", "map_iterator.json", function(b)
        b.resources.redact_flow.properties.definition.States.EachAttachment.Catch = zis.array{}
      end, MAP .. ".Catch" },
    { "a broken state inside a Map's Iterator", "map_iterator.json", function(b)
        b.resources.redact_flow.properties.definition.States.EachAttachment.Iterator.States.Redact.End = nil
      end, MAP .. ".Iterator.States.Redact" },
    { "Retry ErrorEquals with a non-string", "catch_retry.json", function(b)
        b.resources.post_flow.properties.definition.States.Post.Retry[1].ErrorEquals = { 42 }
      end, "resources.post_flow.properties.definition.States.Post.Retry[1].ErrorEquals[1]" },
    { "Retry BackoffRate that is not positive", "catch_retry.json", function(b)
        b.resources.post_flow.properties.definition.States.Post.Retry[1].BackoffRate = -2
      end, "resources.post_flow.properties.definition.States.Post.Retry[1].BackoffRate" },
    { "Retry BackoffRate that is not a number", "catch_retry.json", function(b)
        b.resources.post_flow.properties.definition.States.Post.Retry[1].BackoffRate = "2.0"
      end, "resources.post_flow.properties.definition.States.Post.Retry[1].BackoffRate" },
    { "a Wait of 0 seconds", "wait_pass.json", function(b)
        b.resources.followup_flow.properties.definition.States.ShortNap.Seconds = 0
      end, "resources.followup_flow.properties.definition.States.ShortNap.Seconds" },
    { "a Wait of negative seconds", "wait_pass.json", function(b)
        b.resources.followup_flow.properties.definition.States.ShortNap.Seconds = -1.5
      end, "resources.followup_flow.properties.definition.States.ShortNap.Seconds" },
    { "a Wait of seconds that are not a number", "wait_pass.json", function(b)
        b.resources.followup_flow.properties.definition.States.ShortNap.Seconds = "5"
      end, "resources.followup_flow.properties.definition.States.ShortNap.Seconds" },
    { "a SecondsPath that is not a reference path", "wait_pass.json", function(b)
        b.resources.followup_flow.properties.definition.States.ConfiguredNap.SecondsPath = "settings.delay"
      end, "resources.followup_flow.properties.definition.States.ConfiguredNap.SecondsPath" },
    { "an ActionName naming an action of no bundle but another", "http_url_static.json", function(b)
        b.resources.notify_flow.properties.definition.States.Post.ActionName = "zis:corpus_demo:action:elsewhere"
      end, "resources.notify_flow.properties.definition.States.Post.ActionName" },
    { "a header without a value", "http_url_static.json", function(b)
        b.resources.chat_post.properties.definition.headers[2].value = nil
      end, "resources.chat_post.properties.definition.headers[2]" },
    { "a path.$ that is not a string", "http_path_template.json", function(b)
        b.resources.update_org.properties.definition["path.$"] = 7
      end, 'resources.update_org.properties.definition["path.$"]' },
  }
  for _, case in ipairs(inline) do
    it(case[1], function()
      local b = load(case[2])
      case[3](b)
      local ok, problems = zis.validate(b)
      assert.is_false(ok)
      assert.same({ case[4] }, paths(problems))
    end)
  end

  it("warns about a Catch or Retry on an error name ZIS never matches, without failing", function()
    local b = load("catch_retry.json")
    local post = b.resources.post_flow.properties.definition.States.Post
    post.Catch[1].ErrorEquals = { "States.Timeout" }
    post.Retry[1].ErrorEquals = { "States.ALL", "States.TaskFailed" }
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    local POST = "resources.post_flow.properties.definition.States.Post"
    assert.same({ POST .. ".Catch[1].ErrorEquals[1]", POST .. ".Retry[1].ErrorEquals[2]" },
                paths(problems, "warning"))
    assert.same({}, paths(problems))
    assert.matches("only \"States.ALL\"", problems[1].message)
  end)

  it("warns about Retry ranges only Amazon States Language gives, without failing", function()
    local b = load("catch_retry.json")
    local retrier = b.resources.post_flow.properties.definition.States.Post.Retry[1]
    retrier.MaxAttempts, retrier.IntervalSeconds, retrier.JitterStrategy = 1.5, 0, "SOME"
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    local R = "resources.post_flow.properties.definition.States.Post.Retry[1]"
    assert.same({ R .. ".IntervalSeconds", R .. ".JitterStrategy", R .. ".MaxAttempts" }, paths(problems, "warning"))
  end)

  it("accepts a BackoffRate below 1 (Zendesk: any positive number)", function()
    local b = load("catch_retry.json")
    b.resources.post_flow.properties.definition.States.Post.Retry[1].BackoffRate = 0.5
    local ok, problems = zis.validate(b)
    assert(ok and #problems == 0, show(problems))
  end)

  it("accepts a Wait of 1.5 seconds, and of 1 second", function()
    local b = load("wait_pass.json")
    local nap = b.resources.followup_flow.properties.definition.States.ShortNap
    assert.equal(1.5, nap.Seconds)
    local ok, problems = zis.validate(b)
    assert(ok and #problems == 0, show(problems))
    nap.Seconds = 1
    ok, problems = zis.validate(b)
    assert(ok and #problems == 0, show(problems))
  end)

  it("warns about a Map's MaxConcurrency (ignored by ZIS), without failing", function()
    local b = load("map_iterator.json")
    b.resources.redact_flow.properties.definition.States.EachAttachment.MaxConcurrency = 5
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ MAP .. ".MaxConcurrency" }, paths(problems, "warning"))
    assert.same({}, paths(problems))
  end)

  it("warns about a job spec whose flow is in another bundle, without failing", function()
    local b = load("http_url_static.json")
    b.resources.on_ticket_created.properties.flow_name = "zis:corpus_demo:flow:shared_flow"
    local ok, problems = zis.validate(b, { integration = "corpus_demo" })
    assert.is_true(ok)
    assert.same({ "resources.on_ticket_created.properties.flow_name" }, paths(problems, "warning"))
    assert.matches("flow not in this bundle; it must exist in another bundle of the integration",
                   problems[1].message)
  end)

  it("warns about a path with no connectionName, and a Fail with no Cause", function()
    local b = load("http_path_connection.json")
    b.resources.get_user.properties.definition.connectionName = nil
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ "resources.get_user.properties.definition" }, paths(problems, "warning"))
    b = load("terminal_states.json")
    b.resources.post_flow.properties.definition.States["Logs.Failed"].Cause = nil
    ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ 'resources.post_flow.properties.definition.States["Logs.Failed"].Cause' },
                paths(problems, "warning"))
  end)
end)

describe("zis.validate's key = name rule", function()
  it("applies to actions only: flow and job spec keys may differ from their names", function()
    local ok, problems = zis.validate(load("keys_differ.json"))
    assert.is_true(ok)
    assert.same({}, problems)
    local b = zis.decode_json(H.read("examples/bundles/example.json"))
    b.resources.on_ticket = b.resources.on_ticket_created
    b.resources.on_ticket_created = nil
    ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({}, problems)
  end)

  it("warns about an action whose key differs from its name, without failing", function()
    local b = zis.decode_json(H.read("examples/bundles/example.json"))
    b.resources.tagger = b.resources.tag_ticket
    b.resources.tag_ticket = nil
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({}, paths(problems))
    assert.same({ "resources.tagger.properties.name" }, paths(problems, "warning"))
    -- a dotted key, as the guide's own examples have
    b = load("http_url_template.json")
    b.resources["tracker.add_note"].properties.name = "tracker.note"
    b.resources.mirror_flow.properties.definition.States["Tracker.AddNote"].ActionName =
      "zis:corpus_demo:action:tracker.note"
    ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ 'resources["tracker.add_note"].properties.name' }, paths(problems, "warning"))
  end)
end)

describe("zis.validate and one integration per bundle", function()
  local two = H.read(DIR .. "invalid_two_integrations.json")
  local ACTION = 'resources.sync_flow.properties.definition.States["Zendesk.GetTicket"].ActionName'

  it("takes the bundle's integration from its first job spec, and names each other one's first field", function()
    local integration, conflicts = zis.validate.integration_of(two)
    assert.equal("corpus_demo", integration)
    assert.same({ "resources.z_on_comment.properties.flow_name", ACTION }, paths(conflicts))
    assert.equal("names integration 'other_integration', but the bundle is for 'corpus_demo': " ..
                 "a bundle belongs to one integration", conflicts[1].message)
  end)

  it("reports the same paths and words from validate, with or without the integration", function()
    local _, conflicts = zis.validate.integration_of(two)
    table.sort(conflicts, function(a, b) return a.path < b.path end)   -- validate sorts by path
    for _, opts in ipairs{ {}, { integration = "corpus_demo" } } do
      local ok, problems = zis.validate(two, opts)
      assert.is_false(ok)
      assert.same(conflicts, problems)
    end
  end)

  it("measures against the integration it is given", function()
    local integration, conflicts = zis.validate.integration_of(two, "other_integration")
    assert.equal("other_integration", integration)
    assert.same({ "resources.on_ticket_created.properties.flow_name", ACTION }, paths(conflicts))
  end)

  it("finds a job spec that names another integration than its flow's actions", function()
    local b = load("http_url_static.json")
    b.resources.on_ticket_created.properties.flow_name = "zis:acme:flow:notify_flow"
    local ok, problems = zis.validate(b)
    assert.is_false(ok)
    assert.same({ "resources.notify_flow.properties.definition.States.Post.ActionName" }, paths(problems))
    assert.matches("names integration 'corpus_demo', but the bundle is for 'acme'", problems[1].message)
  end)

  it("looks inside a Map's iterator, and leaves zis:common alone", function()
    local b = load("map_iterator.json")
    local integration, conflicts = zis.validate.integration_of(b)
    assert.equal("corpus_demo", integration)
    assert.same({}, conflicts)
    b.resources.redact_flow.properties.definition.States.EachAttachment.Iterator.States.Redact.ActionName =
      "zis:elsewhere:action:redact_attachment"
    local _, found = zis.validate.integration_of(b)
    assert.same({ "resources.redact_flow.properties.definition.States.EachAttachment" ..
                  ".Iterator.States.Redact.ActionName" }, paths(found))
  end)

  it("is nil, with no conflict, for a bundle that names no integration", function()
    local integration, conflicts = zis.validate.integration_of({ resources = {} })
    assert.is_nil(integration)
    assert.same({}, conflicts)
    assert.same({}, select(2, zis.validate.integration_of("{nope")))
  end)
end)

describe("zis.validate's second argument", function()
  local text = H.read(DIR .. "http_url_static.json")

  it("may be nil, empty, or {integration = name}", function()
    assert.is_true((zis.validate(text)))
    assert.is_true((zis.validate(text, nil)))
    assert.is_true((zis.validate(text, {})))
    assert.is_true((zis.validate(text, { integration = "corpus_demo" })))
    assert.is_false((zis.validate(text, { integration = "someone_else" })))
  end)

  it("raises on an unknown key, naming it", function()
    local ok, err = pcall(zis.validate, text, { integration = "corpus_demo", strict = true })
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'validate' %(unknown option 'strict'", err)
    ok, err = pcall(zis.validate, text, { intergration = "corpus_demo" })
    assert.is_false(ok)
    assert.matches("'intergration'", err)
  end)

  it("raises on a value of the wrong type, and on a second argument that is not a table", function()
    local ok, err = pcall(zis.validate, text, { integration = 42 })
    assert.is_false(ok)
    assert.matches("option 'integration' must be a string, got number", err)
    ok, err = pcall(zis.validate, text, "corpus_demo")
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'validate' %(table or nil expected, got string%)", err)
  end)

  it("points the error at the caller's line", function()
    local ok, err = pcall(function() local r = zis.validate(text, { nope = 1 }) return r end)
    assert.is_false(ok)
    assert.matches("validate_spec.lua:%d+:", err)
  end)
end)

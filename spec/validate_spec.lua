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
  local expected = {
    ["invalid_catch_retry.json"] = {
      FLOW .. ".Catch[1].Next", FLOW .. ".Retry[1].BackoffRate", FLOW .. ".Retry[1].ErrorEquals",
      FLOW .. ".Retry[1].IntervalSeconds", FLOW .. ".Retry[1].MaxAttempts",
    },
    ["invalid_action_http.json"] = {
      "resources.no_target.properties.definition", "resources.no_target.properties.definition.headers",
      "resources.no_target.properties.definition.method", "resources.post_note.properties.name",
    },
    ["invalid_choice.json"] = {
      CHOICE .. ".Choices[1].StringMatches", CHOICE .. ".Choices[2].Variable",
      CHOICE .. ".Choices[3].NumericGreaterThan", CHOICE .. ".Choices[4].And[1].Next",
      CHOICE .. ".Choices[5]", CHOICE .. ".Choices[6].Next",
    },
    ["invalid_states.json"] = {
      STATES .. ".BadPaths.InputPath", STATES .. ".BadPaths.ResultPath", STATES .. ".Both",
      STATES .. ".Done.Next", STATES .. ".Nap", STATES .. ".NotFalse", STATES .. ".NotFalse.End",
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
      assert.same(want, paths(problems))
      assert.same({}, paths(problems, "warning"))
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
    { "Retry MaxAttempts that is not whole", "catch_retry.json", function(b)
        b.resources.post_flow.properties.definition.States.Post.Retry[1].MaxAttempts = 1.5
      end, "resources.post_flow.properties.definition.States.Post.Retry[1].MaxAttempts" },
    { "a header without a value", "http_url_static.json", function(b)
        b.resources.chat_post.properties.definition.headers[2].value = nil
      end, "resources.chat_post.properties.definition.headers[2]" },
    { "a dotted action key that differs from its name", "http_url_template.json", function(b)
        b.resources["tracker.add_note"].properties.name = "tracker.note"
        b.resources.mirror_flow.properties.definition.States["Tracker.AddNote"].ActionName =
          "zis:corpus_demo:action:tracker.note"
      end, 'resources["tracker.add_note"].properties.name' },
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

  it("warns about a Catch on an error name ZIS never matches, without failing", function()
    local b = load("catch_retry.json")
    b.resources.post_flow.properties.definition.States.Post.Catch[1].ErrorEquals = { "States.Timeout" }
    local ok, problems = zis.validate(b)
    assert.is_true(ok)
    assert.same({ "resources.post_flow.properties.definition.States.Post.Catch[1].ErrorEquals[1]" },
                paths(problems, "warning"))
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

  it("refuses an action whose key differs from its name", function()
    local b = zis.decode_json(H.read("examples/bundles/example.json"))
    b.resources.tagger = b.resources.tag_ticket
    b.resources.tag_ticket = nil
    local ok, problems = zis.validate(b)
    assert.is_false(ok)
    assert.same({ "resources.tagger.properties.name" }, paths(problems))
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

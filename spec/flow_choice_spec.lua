-- zis.flow.choice: every Choice operator, through a flow and directly.
-- luacheck: max line length 150
local zis = require "zis"
local choice = require "zis.flow.choice"

local DATA = {
  s = "m", n = 5, f = 2.5, b = true, no = false, t = "2024-03-01T12:00:00Z", nul = zis.null,
  other = { s = "m", n = 5, b = true, t = "2024-03-01T12:00:00+00:00" }, list = { "a" },
}

local function ev(rule)
  rule.Variable = rule.Variable or "$.s"
  return (choice.evaluate(rule, DATA))
end

describe("Choice rules", function()
  it("String comparisons, and their Path forms", function()
    assert.is_true(ev{ StringEquals = "m" })
    assert.is_false(ev{ StringEquals = "M" })
    assert.is_true(ev{ StringLessThan = "n" })
    assert.is_false(ev{ StringLessThan = "m" })
    assert.is_true(ev{ StringGreaterThan = "a" })
    assert.is_true(ev{ StringLessThanEquals = "m" })
    assert.is_true(ev{ StringGreaterThanEquals = "m" })
    assert.is_false(ev{ StringGreaterThanEquals = "z" })
    assert.is_true(ev{ StringEqualsPath = "$.other.s" })
    assert.is_true(ev{ StringLessThanEqualsPath = "$.other.s" })
    assert.is_false(ev{ StringGreaterThanPath = "$.other.s" })
  end)

  it("Numeric comparisons, integers and floats alike, and Path forms", function()
    assert.is_true(ev{ Variable = "$.n", NumericEquals = 5 })
    assert.is_true(ev{ Variable = "$.n", NumericEquals = 5.0 })
    assert.is_true(ev{ Variable = "$.f", NumericLessThan = 3 })
    assert.is_true(ev{ Variable = "$.n", NumericGreaterThan = 4.5 })
    assert.is_true(ev{ Variable = "$.n", NumericLessThanEquals = 5 })
    assert.is_true(ev{ Variable = "$.n", NumericGreaterThanEquals = 5 })
    assert.is_false(ev{ Variable = "$.n", NumericGreaterThan = 5 })
    assert.is_true(ev{ Variable = "$.n", NumericEqualsPath = "$.other.n" })
    assert.is_true(ev{ Variable = "$.f", NumericLessThanPath = "$.other.n" })
    assert.is_false(ev{ Variable = "$.f", NumericGreaterThanPath = "$.other.n" })
    assert.is_true(ev{ Variable = "$.n", NumericLessThanEqualsPath = "$.other.n" })
    assert.is_true(ev{ Variable = "$.n", NumericGreaterThanEqualsPath = "$.other.n" })
  end)

  it("Boolean comparisons, false included", function()
    assert.is_true(ev{ Variable = "$.b", BooleanEquals = true })
    assert.is_true(ev{ Variable = "$.no", BooleanEquals = false })
    assert.is_false(ev{ Variable = "$.no", BooleanEquals = true })
    assert.is_true(ev{ Variable = "$.b", BooleanEqualsPath = "$.other.b" })
  end)

  it("Timestamp comparisons compare instants, offsets included", function()
    assert.is_true(ev{ Variable = "$.t", TimestampEquals = "2024-03-01T13:00:00+01:00" })
    assert.is_true(ev{ Variable = "$.t", TimestampLessThan = "2024-03-01T12:00:00.5Z" })
    assert.is_true(ev{ Variable = "$.t", TimestampGreaterThan = "2023-12-31T23:59:59Z" })
    assert.is_true(ev{ Variable = "$.t", TimestampLessThanEquals = "2024-03-01T12:00:00Z" })
    assert.is_true(ev{ Variable = "$.t", TimestampGreaterThanEquals = "2024-03-01T12:00:00Z" })
    assert.is_true(ev{ Variable = "$.t", TimestampEqualsPath = "$.other.t" })
    -- not a timestamp: false, not an error
    assert.is_false(ev{ Variable = "$.s", TimestampEquals = "2024-03-01T12:00:00Z" })
    assert.is_false(ev{ Variable = "$.t", TimestampEquals = "yesterday" })
  end)

  it("a value of another type makes a comparison false", function()
    assert.is_false(ev{ Variable = "$.n", StringEquals = "5" })
    assert.is_false(ev{ Variable = "$.s", NumericEquals = 5 })
    assert.is_false(ev{ Variable = "$.nul", BooleanEquals = false })
    assert.is_false(ev{ Variable = "$.list", StringEquals = "a" })
    local _, why = choice.evaluate({ Variable = "$.n", StringEquals = "5" }, DATA)
    assert.matches("not a string", why)
  end)

  it("IsPresent, IsNull and the type tests; missing values are not errors for them", function()
    assert.is_true(ev{ Variable = "$.s", IsPresent = true })
    assert.is_true(ev{ Variable = "$.nope", IsPresent = false })
    assert.is_true(ev{ Variable = "$.nul", IsPresent = true })
    assert.is_true(ev{ Variable = "$.nul", IsNull = true })
    assert.is_false(ev{ Variable = "$.s", IsNull = true })
    assert.is_false(ev{ Variable = "$.nope", IsNull = true })
    assert.is_true(ev{ Variable = "$.s", IsString = true })
    assert.is_true(ev{ Variable = "$.f", IsNumeric = true })
    assert.is_true(ev{ Variable = "$.no", IsBoolean = true })
    assert.is_true(ev{ Variable = "$.t", IsTimestamp = true })
    assert.is_true(ev{ Variable = "$.s", IsTimestamp = false })
    assert.is_false(ev{ Variable = "$.nope", IsString = true })
  end)

  it("StringMatches with * and escapes", function()
    assert.is_true(choice.evaluate({ Variable = "$.v", StringMatches = "log-*.txt" }, { v = "log-2024.txt" }))
    assert.is_false(choice.evaluate({ Variable = "$.v", StringMatches = "log-*.txt" }, { v = "log-2024.csv" }))
    assert.is_true(choice.evaluate({ Variable = "$.v", StringMatches = "a\\*b" }, { v = "a*b" }))
    assert.is_false(choice.evaluate({ Variable = "$.v", StringMatches = "a\\*b" }, { v = "axb" }))
    assert.is_true(choice.evaluate({ Variable = "$.v", StringMatches = "100%.(x)" }, { v = "100%.(x)" }))
  end)

  it("And, Or, Not, nested, and say what decided", function()
    local ok, why = choice.evaluate({ And = { { Variable = "$.s", StringEquals = "m" },
                                              { Or = { { Variable = "$.n", NumericEquals = 1 },
                                                       { Not = { Variable = "$.b", BooleanEquals = false } } } } } },
                                    DATA)
    assert.is_true(ok)
    assert.matches("not %(%$.b %(true%) BooleanEquals false%)", why)
    ok, why = choice.evaluate({ And = { { Variable = "$.s", StringEquals = "x" }, { Variable = "$.n", NumericEquals = 5 } } },
                              DATA)
    assert.is_false(ok)
    assert.equal('$.s ("m") StringEquals "x"', why)
    assert.is_false((choice.evaluate({ Or = { { Variable = "$.s", StringEquals = "x" } } }, DATA)))
  end)

  it("a Variable or operand path that matches nothing is a runtime error", function()
    local ok, e = pcall(choice.evaluate, { Variable = "$.nope", StringEquals = "x" }, DATA)
    assert.is_false(ok)
    assert.equal("States.Runtime", e.error)
    assert.matches("%$.nope", e.cause)
    ok, e = pcall(choice.evaluate, { Variable = "$.n", NumericEqualsPath = "$.nope" }, DATA)
    assert.is_false(ok)
    assert.equal("States.Runtime", e.error)
  end)
end)

describe("a Choice state in a flow", function()
  local function bundle(choices, default)
    return {
      zis_template_version = "2019-10-14", name = "c",
      resources = {
        f = { type = "ZIS::Flow", properties = { name = "f", definition = { StartAt = "C", States = {
          C = { Type = "Choice", Choices = choices, Default = default },
          Yes = { Type = "Succeed" }, No = { Type = "Succeed" } } } } },
        j = { type = "ZIS::JobSpec", properties = { name = "j", event_source = "support", event_type = "x",
                                                    flow_name = "zis:i:flow:f" } },
      },
    }
  end

  it("takes the first rule that matches, records why, else the Default", function()
    local b = bundle({ { Variable = "$.input.n", NumericGreaterThan = 10, Next = "Yes" },
                       { Variable = "$.input.n", NumericGreaterThan = 1, Next = "No" } }, "Yes")
    local r = zis.flow.run(b, { input = { n = 5 } })
    assert.equal("No", r.trace[1].next)
    assert.equal("rule 2: $.input.n (5) NumericGreaterThan 1", r.trace[1].why)
    r = zis.flow.run(b, { input = { n = 0 } })
    assert.equal("Yes", r.trace[1].next)
    assert.equal("default: no rule matched", r.trace[1].why)
  end)

  it("fails with States.NoChoiceMatched when nothing matches and there is no Default", function()
    local r = zis.flow.run(bundle({ { Variable = "$.input.n", NumericEquals = 1, Next = "Yes" } }), { input = { n = 2 } })
    assert.equal("failed", r.status)
    assert.equal("States.NoChoiceMatched", r.error)
    assert.equal("C", r.state)
  end)

  it("runs the corpus's Choice bundles to the branch their data picks", function()
    local text = io.open("spec/fixtures/bundles/choice_numeric.json"):read("a")
    -- as written, the rules read $.count, which the flow's data lacks
    local r0 = zis.flow.run(text, { job_spec = "on_comment", input = { count = 1 } })
    assert.equal("failed", r0.status)
    assert.equal("States.Runtime", r0.error)
    local b = zis.decode_json(text)
    b.resources.count_flow.properties.definition.States.Check.InputPath = "$.input"
    for _, case in ipairs{ { 0, "None" }, { 1, "Few" }, { 101, "Many" }, { 5.5, "Few" }, { 60, "Many" } } do
      local r = zis.flow.run(b, { input = { count = case[1], settings = { exact = -1, low = -1, high = 1e9,
                                                                           minimum_required = 1e9 } } })
      assert.equal(case[2], r.state, tostring(case[1]))
    end
  end)
end)

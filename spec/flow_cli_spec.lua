-- luacheck: max line length 160
-- zis run, zis test and zis graph --trace, run as a user runs them.
local zis = require "zis"
local H = require "spec.helper"

local BUNDLE = "examples/flows/bundle.json"
local EVENT = "examples/flows/event_urgent.json"

-- zis ARGS -> exit status, stdout, stderr (zis's main in this process:
-- H.zis_sh, 25 ms cheaper than bin/zis)
local function zis_cmd(args) return H.zis_sh(args) end

local function write(text)
  local f = os.tmpname()
  local h = assert(io.open(f, "wb"))
  h:write(text)
  h:close()
  return f
end

describe("zis run", function()
  local ok_stub, settings
  setup(function()
    ok_stub = write('{"status": 200, "body": {"ok": true}}')
    settings = write('{"channel": "#ops"}')
  end)
  teardown(function() os.remove(ok_stub) os.remove(settings) end)

  it("prints one line per state, where it went and why, then the output; exit 0", function()
    local code, out, err = zis_cmd(("run %s --job-spec on_ticket_created --input %s --stub chat_post=%s " ..
                                     "--stub label_tag=%s --config settings=%s"):format(BUNDLE, EVENT, ok_stub, ok_stub, settings))
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("^flow triage_flow %(job spec on_ticket_created%)\n", out)
    assert.matches("\n  LoadSettings +Action +zis:common:action:LoadConfig +%-> CheckPriority\n", out)
    assert.matches('\n  CheckPriority +Choice +%-> Notify  %[rule 1: %$.input.ticket_event.ticket.priority %("urgent"%) StringEquals "urgent"%]\n', out)
    assert.matches("\n  Notify +Action +zis:flows_demo:action:chat_post  POST https://chat.example.com/hooks/support %-> 200  %-> Tags\n", out)
    assert.matches("\n  EachTag%[0%]: Label +Action", out)
    assert.matches("\n  Pause +Wait +waited 10 s  %-> Remember\n", out)
    assert.matches("\nsucceeded at Done: told #ops about ticket 35436\noutput: {", out)
  end)

  it("exit 1 when the flow fails, saying where and why; no stub names the action and the option", function()
    local code, out = zis_cmd(("run %s --flow triage_flow --input %s --config settings=%s"):format(BUNDLE, EVENT, settings))
    assert.equal(1, code)
    assert.matches("\nFAILED at Notify: Simulator.NoStub: action chat_post has no stub: .* %-%-stub chat_post=FILE\n", out)
  end)

  it("--json prints the whole result", function()
    local code, out = zis_cmd(("--json run %s --flow triage_flow --input %s"):format(BUNDLE, EVENT))
    assert.equal(1, code)
    local r = assert(zis.decode_json(out))
    assert.equal("failed", r.status)
    assert.equal("triage_flow", r.flow)
    assert.equal("LoadSettings", r.trace[1].state)
    assert.equal("UseDefaults", r.trace[1].next)
    assert.is_table(r.requests)
    code, out = zis_cmd(("run %s --flow triage_flow --input %s --json"):format(BUNDLE, EVENT))
    assert.equal(1, code)
    assert.equal("failed", zis.decode_json(out).status)
  end)

  it("exit 2 on usage: no flow, both, an unknown flow, a bad --stub, an invalid bundle (problems on stderr)", function()
    local code, _, err = zis_cmd(("run %s --input %s"):format(BUNDLE, EVENT))
    assert.equal(2, code)
    assert.equal("zis: give --flow NAME or --job-spec NAME (one of them)\n", err)
    code, _, err = zis_cmd(("run %s --flow nope --input %s"):format(BUNDLE, EVENT))
    assert.equal(2, code)
    assert.equal("zis: no flow 'nope' in the bundle; flows: triage_flow\n", err)
    code, _, err = zis_cmd(("run %s --flow triage_flow --input %s --stub chat_post"):format(BUNDLE, EVENT))
    assert.equal(2, code)
    assert.matches("expected NAME=FILE", err)
    code, _, err = zis_cmd(("run %s --flow triage_flow"):format(BUNDLE))
    assert.equal(2, code)
    assert.matches("%-%-input", err)
    code, _, err = zis_cmd(("run spec/fixtures/bundles/invalid_states.json --flow x --input %s"):format(EVENT))
    assert.equal(2, code)
    assert.matches("^error: ", err)
    assert.matches("\nzis: the bundle is not valid %(", err)
    assert.is_nil(err:find("nil", 1, true))
    assert.is_nil(err:find("table", 1, true))
  end)
end)

describe("zis test", function()
  it("runs the example cases: one line each and the totals; exit 0", function()
    local code, out, err = zis_cmd("test examples/flows")
    assert.equal(0, code, err)
    assert.equal("ok    chat_down\nok    flaky_chat\nok    low_priority\nok    urgent\n4 passed, 0 failed\n", out)
  end)

  it("reports a failing case with the first difference; exit 1", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local cwd = assert(io.popen("pwd")):read("l")
    local function case(name, text)
      local h = assert(io.open(dir .. "/" .. name, "wb"))
      h:write(text)
      h:close()
    end
    case("wrong_states.test.json", ('{"bundle": "%s/%s", "flow": "triage_flow", "input": {"ticket_event": {"ticket": ' ..
      '{"id": 1, "priority": "low"}}}, "expect": {"states": ["LoadSettings", "Ignore"]}}'):format(cwd, BUNDLE))
    case("wrong_status.test.json", ('{"bundle": "%s/%s", "flow": "triage_flow", "input": {}, "expect": {"status": "succeeded"}}')
      :format(cwd, BUNDLE))
    case("bad_key.test.json", '{"bundel": "x.json"}')
    case("right.test.lua", ('return { bundle = "%s/%s", flow = "triage_flow", input = { ticket_event = { ticket = ' ..
      '{ id = 1, priority = "low" } } }, expect = { states = { "LoadSettings", "UseDefaults", "CheckPriority", "Ignore" } } }')
      :format(cwd, BUNDLE))
    local code, out = zis_cmd("test " .. dir)
    os.execute("rm -rf " .. dir)
    assert.equal(1, code)
    assert.matches("FAIL  bad_key: unknown key 'bundel'\n", out, 1, true)
    assert.matches("ok    right\n", out, 1, true)
    assert.matches("FAIL  wrong_states: states LoadSettings, UseDefaults, CheckPriority, Ignore; expected LoadSettings, Ignore\n",
                   out, 1, true)
    assert.matches("FAIL  wrong_status: status failed, expected succeeded %(States.Runtime: ", out)
    assert.matches("\n1 passed, 3 failed\n$", out)
  end)

  it("exit 2 when a folder has no cases", function()
    local code, _, err = zis_cmd("test spec/fixtures/bundles")
    assert.equal(2, code)
    assert.matches("no test cases", err)
  end)
end)

describe("zis graph --trace", function()
  it("draws the path a run took and marks the failing state", function()
    local result = os.tmpname()
    -- exit 1: the run fails (chat_post has no stub)
    local _, _, status = os.execute(("bin/zis --json run %s --flow triage_flow --input %s > %s"):format(BUNDLE, EVENT, result))
    assert.equal(1, status)
    local code, out = zis_cmd(("graph %s --trace %s"):format(BUNDLE, result))
    assert.equal(0, code)
    local visited, failed, taken = 0, 0, 0
    for line in out:gmatch("[^\n]+") do
      if line:find('label="LoadSettings', 1, true) or line:find('label="UseDefaults', 1, true) then
        assert.truthy(line:find('color="#1d4ed8", penwidth=3', 1, true), line)
        visited = visited + 1
      end
      if line:find('label="Notify\\n', 1, true) then
        assert.truthy(line:find('fillcolor="#fca5a5"', 1, true), line)
        assert.truthy(line:find("failed: Simulator.NoStub", 1, true), line)
        failed = failed + 1
      end
      if line:find("->", 1, true) and line:find("penwidth=2.5", 1, true) then taken = taken + 1 end
    end
    assert.equal(2, visited)
    assert.equal(1, failed)
    assert.equal(3, taken)   -- LoadSettings -> UseDefaults -> CheckPriority -> Notify
    code, out = zis_cmd(("graph %s --trace %s --format mermaid"):format(BUNDLE, result))
    assert.equal(0, code)
    assert.matches("\n  class n%d+ failed\n", out)
    assert.matches("\n  linkStyle [%d,]+ stroke:#1d4ed8", out)
    os.remove(result)
    -- the same from Lua, with the result table
    local r = zis.flow.run(H.read(BUNDLE), { flow = "triage_flow", input = { ticket_event = { ticket = { id = 1, priority = "low" } } } })
    local dot = zis.graph(H.read(BUNDLE), { trace = r })
    assert.truthy(dot:find('label="Ignore", tooltip="Succeed: Ignore", shape=box, style="rounded,filled", peripheries=2, ' ..
                           'fillcolor="#dcfce7", color="#1d4ed8", penwidth=3', 1, true))
    assert.is_nil(dot:find("fca5a5", 1, true))
    -- without a trace, nothing changes
    assert.is_nil(zis.graph(H.read(BUNDLE)):find("1d4ed8", 1, true))
  end)
end)

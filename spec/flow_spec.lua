-- zis.flow.run: every state type, paths, actions, Retry and Catch, and
-- luacheck: max line length 150
-- every valid bundle of the corpus.
local zis = require "zis"
local flow = require "zis.flow"

-- A bundle of one flow with these states (StartAt: start or "A"), its
-- job spec, and the given custom actions (name -> definition).
local function bundle(states, start, http)
  local b = {
    zis_template_version = "2019-10-14", name = "t",
    resources = {
      f = { type = "ZIS::Flow", properties = { name = "f", definition = { StartAt = start or "A", States = states } } },
      j = { type = "ZIS::JobSpec", properties = { name = "j", event_source = "support", event_type = "x",
                                                  flow_name = "zis:i:flow:f" } },
    },
  }
  for name, def in pairs(http or {}) do
    b.resources[name] = { type = "ZIS::Action::Http", properties = { name = name, definition = def } }
  end
  return b
end

local function names(r)
  local t = {}
  for _, e in ipairs(r.trace) do if not e.iteration then t[#t + 1] = e.state end end
  return t
end

describe("zis.flow.run", function()
  describe("options and bundles", function()
    local b = bundle{ A = { Type = "Succeed" } }

    it("raises on an unknown option, naming it, and on wrong types", function()
      assert.has_error(function() flow.run(b, { flwo = "f" }) end,
        "bad argument #2 to 'run' (unknown option 'flwo'; known: " .. table.concat(flow.options, ", ") .. ")")
      assert.has_error(function() flow.run(b, { stubs = "x" }) end)
      assert.has_error(function() flow.run(b, { flow = "f", job_spec = "j" }) end)
      assert.has_error(function() flow.run(b, { max_steps = 0 }) end)
      assert.has_error(function() flow.run(42) end)
    end)

    it("raises on a flow or job spec the bundle does not have, and on a stub of no action", function()
      local ok, e = pcall(flow.run, b, { flow = "nope" })
      assert.is_false(ok)
      assert.matches("no flow 'nope' in the bundle; flows: f", e)
      ok, e = pcall(flow.run, b, { job_spec = "nope" })
      assert.is_false(ok)
      assert.matches("no job spec 'nope'", e)
      ok, e = pcall(flow.run, b, { stubs = { post_it = {} } })
      assert.is_false(ok)
      assert.matches("stub 'post_it' names no action of the bundle", e)
    end)

    it("finds the flow by name, key, full name, or through a job spec", function()
      for _, o in ipairs{ { flow = "f" }, { flow = "zis:i:flow:f" }, { job_spec = "j" },
                          { job_spec = "zis:i:job_spec:j" }, {} } do
        local r = flow.run(b, o)
        assert.equal("succeeded", r.status)
        assert.equal("f", r.flow)
      end
      assert.equal("j", flow.run(b, { job_spec = "j" }).job_spec)
    end)

    it("refuses a bundle zis.validate rejects, or that is not JSON, with its problems", function()
      local r, err = flow.run(io.open("spec/fixtures/bundles/invalid_states.json"):read("a"))
      assert.is_nil(r)
      assert.matches("^the bundle is not valid %(%d+ errors?; first: ", tostring(err))
      assert.is_true(#err.problems > 0)
      r, err = flow.run("{not json")
      assert.is_nil(r)
      assert.matches("not JSON", err.message)
    end)
  end)

  describe("states", function()
    it("Pass: Result, Parameters, InputPath, ResultPath (nested, created), OutputPath", function()
      local r = flow.run(bundle{
        A = { Type = "Pass", Result = { x = 1 }, ResultPath = "$.deep.er.res", Next = "B" },
        B = { Type = "Pass", InputPath = "$.input", Parameters = { ["id.$"] = "$.t.id", k = "v",
              ["msg.$"] = "ticket {{$.t.id}} by {{$.t.who}}" }, ResultPath = "$.p", Next = "C" },
        C = { Type = "Pass", OutputPath = "$.p", End = true },
      }, { input = { t = { id = 7, who = "ann" } } })
      assert.equal("succeeded", r.status)
      assert.same({ id = 7, k = "v", msg = "ticket 7 by ann" }, r.output)
      assert.same({ x = 1 }, r.trace[1].output.deep.er.res)
      assert.same({ id = 7, k = "v", msg = "ticket 7 by ann" }, r.trace[2].parameters)
      assert.same({ "A", "B", "C" }, names(r))
      assert.equal("B", r.trace[1].next)
      -- the input a state saw is not changed by later states
      assert.is_nil(r.trace[1].input.deep)
    end)

    it("ResultPath null keeps the input; $ replaces it; a path into a string fails", function()
      local r = flow.run(bundle{ A = { Type = "Pass", Result = 1, ResultPath = zis.null, End = true } },
                         { input = { a = 1 } })
      assert.same({ input = { a = 1 } }, r.output)
      r = flow.run(bundle{ A = { Type = "Pass", Result = { z = 2 }, End = true } }, { input = {} })
      assert.same({ z = 2 }, r.output)
      r = flow.run(bundle{ A = { Type = "Pass", Result = 1, ResultPath = "$.input.s.x", End = true } },
                   { input = { s = "text" } })
      assert.equal("failed", r.status)
      assert.equal("States.ResultPathMatchFailure", r.error)
    end)

    it("InputPath and OutputPath null give {}; a missing path fails with States.Runtime", function()
      local r = flow.run(bundle{ A = { Type = "Pass", InputPath = zis.null, ResultPath = "$.got", End = true } },
                         { input = { a = 1 } })
      assert.same({}, r.output.got)
      r = flow.run(bundle{ A = { Type = "Pass", OutputPath = zis.null, End = true } })
      assert.equal("{}", zis.encode_json(r.output))
      r = flow.run(bundle{ A = { Type = "Pass", InputPath = "$.input.missing", End = true } })
      assert.equal("States.Runtime", r.error)
      assert.matches("'%$%.input%.missing' matches nothing", r.cause)
    end)

    it("reads $['key'], $[\"key\"] and $.list[0]; refuses $$", function()
      local r = flow.run(bundle{ A = { Type = "Pass", Parameters = { ["a.$"] = "$.input['odd key']",
        ["b.$"] = '$.input["x"].list[1]' }, End = true } }, { input = { ["odd key"] = 1, x = { list = { "p", "q" } } } })
      assert.same({ a = 1, b = "q" }, r.output)
      r = flow.run(bundle{ A = { Type = "Pass", Parameters = { ["a.$"] = "$$.Execution.Id" }, End = true } })
      assert.equal("States.Runtime", r.error)
      assert.matches("context paths", r.cause)
    end)

    it("Wait: Seconds and SecondsPath on a simulated clock, without sleeping", function()
      local t0 = os.time()
      local r = flow.run(bundle{
        A = { Type = "Wait", Seconds = 3600, Next = "B" },
        B = { Type = "Wait", SecondsPath = "$.input.delay", Next = "C" },
        C = { Type = "Succeed" },
      }, { input = { delay = 30 } })
      assert.is_true(os.time() - t0 < 5)
      assert.equal(3630, r.clock)
      assert.equal(3600, r.trace[1].waited)
      assert.equal(3630, r.trace[2].clock)
      r = flow.run(bundle{ A = { Type = "Wait", SecondsPath = "$.input.delay", End = true } },
                   { input = { delay = "soon" } })
      assert.equal("States.Runtime", r.error)
    end)

    it("Succeed: Message with placeholders, or Execution Successful; End = true too", function()
      local r = flow.run(bundle{ A = { Type = "Succeed", Message = "done {{$.input.id}}" } }, { input = { id = 3 } })
      assert.equal("done 3", r.message)
      assert.equal("Execution Successful", flow.run(bundle{ A = { Type = "Succeed" } }).message)
      assert.equal("Execution Successful", flow.run(bundle{ A = { Type = "Pass", End = true } }).message)
    end)

    it("Fail: Error and Cause, with placeholders and reference paths", function()
      local r = flow.run(bundle{ A = { Type = "Fail", Error = "Bad", Cause = "ticket {{$.input.id}} is {{$.input.s}}" } },
                         { input = { id = 9, s = "closed" } })
      assert.equal("failed", r.status)
      assert.equal("Bad", r.error)
      assert.equal("ticket 9 is closed", r.cause)
      assert.equal("A", r.state)
      r = flow.run(bundle{ A = { Type = "Fail", Error = "E", Cause = "$.input.why" } }, { input = { why = "no" } })
      assert.equal("no", r.cause)
    end)

    it("Map: each item is an iteration's input; outputs in order; empty arrays; iterations traced", function()
      local states = {
        A = { Type = "Map", ItemsPath = "$.input.items", ResultPath = "$.out", Next = "B",
              Iterator = { StartAt = "In", States = {
                In = { Type = "Pass", Parameters = { ["v.$"] = "$.v", ["twice.$"] = "$.v" }, End = true } } } },
        B = { Type = "Succeed" },
      }
      local r = flow.run(bundle(states), { input = { items = { { v = 1 }, { v = 2 } } } })
      assert.same({ { v = 1, twice = 1 }, { v = 2, twice = 2 } }, r.output.out)
      assert.same({ "A", "B" }, names(r))
      assert.equal("A[1]", r.trace[3].iteration)
      assert.equal(2, r.trace[1].items)
      r = flow.run(bundle(states), { input = { items = zis.array{} } })
      assert.equal("succeeded", r.status)
      assert.equal("[]", zis.encode_json(r.output.out))
      r = flow.run(bundle(states), { input = { items = "no" } })
      assert.equal("States.Runtime", r.error)
      local many = {}
      for i = 1, 101 do many[i] = { v = i } end
      r = flow.run(bundle(states), { input = { items = many } })
      assert.matches("at most 100", r.cause)
    end)

    it("Map: a failing iteration fails the Map, which its Catch handles", function()
      local r = flow.run(bundle{
        A = { Type = "Map", ItemsPath = "$.input.items", Next = "Ok",
              Catch = { { ErrorEquals = { "States.ALL" }, Next = "Caught", ResultPath = "$.err" } },
              Iterator = { StartAt = "In", States = { In = { Type = "Fail", Error = "Inner", Cause = "item {{$.v}}" } } } },
        Ok = { Type = "Succeed" }, Caught = { Type = "Succeed" },
      }, { input = { items = { { v = 1 } } } })
      assert.equal("Caught", r.state)
      assert.same({ Error = "Inner", Cause = "item 1" }, r.output.err)
    end)

    it("max_steps stops a loop", function()
      -- Z ends the flow but nothing reaches it: A and B loop for ever
      local r = flow.run(bundle{ A = { Type = "Pass", Next = "B" }, B = { Type = "Wait", Seconds = 1, Next = "A" },
                                 Z = { Type = "Succeed" } }, { max_steps = 25 })
      assert.equal("failed", r.status)
      assert.equal("Simulator.MaxSteps", r.error)
      assert.equal(25, #r.trace)
      assert.matches("more than 25 states", r.cause)
    end)
  end)

  describe("custom actions", function()
    local HTTP = { post = { method = "POST", ["url.$"] = "https://x.example.com/t/{{$.id}}",
                            headers = { { key = "X-A", value = "1" }, { key = "X-Id", ["value.$"] = "{{$.id}}" } },
                            queryParams = { { key = "q", ["value.$"] = "$.id" } },
                            requestBody = { ["note.$"] = "$.note", fixed = true } },
                   get = { method = "get", ["path.$"] = "/api/v2/users/{{$.id}}.json", connectionName = "zendesk" } }
    local function one(name, extra)
      local st = { Type = "Action", ActionName = "zis:i:action:" .. name,
                   Parameters = { ["id.$"] = "$.input.id", note = "hi" }, ResultPath = "$.res", End = true }
      for k, v in pairs(extra or {}) do st[k] = v end
      return bundle({ A = st }, "A", HTTP)
    end

    it("records the request, templates resolved, and takes a stub's body", function()
      local r = flow.run(one("post"), { input = { id = 42 }, stubs = { post = { status = 201, body = { ok = 1 } } } })
      assert.equal("succeeded", r.status)
      assert.same({ ok = 1 }, r.output.res)
      local req = r.trace[1].request
      assert.equal("zis:i:action:post", r.trace[1].action)
      assert.equal("POST", req.method)
      assert.equal("https://x.example.com/t/42", req.url)
      assert.same({ ["X-A"] = "1", ["X-Id"] = "42" }, req.headers)
      assert.same({ q = "42" }, req.query)
      assert.same({ note = "hi", fixed = true }, req.body)
      assert.equal(201, req.status)
      assert.same(req, r.requests[1])
    end)

    it("a path action names its connection, and a URL when the connection's domain is known", function()
      local r = flow.run(one("get"), { input = { id = 5 }, stubs = { get = {} },
                                       connections = { zendesk = { allowed_domain = "acme.zendesk.com" } } })
      local req = r.requests[1]
      assert.equal("GET", req.method)
      assert.equal("/api/v2/users/5.json", req.path)
      assert.equal("zendesk", req.connection)
      assert.equal("https://acme.zendesk.com/api/v2/users/5.json", req.url)
    end)

    it("plain bodies, text bodies (__httpresponse), lists in turn, functions", function()
      local r = flow.run(one("get"), { input = { id = 1 }, stubs = { get = { a = 1 } } })
      assert.same({ a = 1 }, r.output.res)
      r = flow.run(one("get"), { input = { id = 1 }, stubs = { get = { status = 200, body = "plain text" } } })
      assert.same({ __httpresponse = "plain text" }, r.output.res)
      r = flow.run(one("get"), { input = { id = 1 }, stubs = { get = { status = 200, body = '{"j":2}' } } })
      assert.same({ j = 2 }, r.output.res)
      local seen
      r = flow.run(one("get"), { input = { id = 8 }, stubs = { get = function(req) seen = req return { n = 1 } end } })
      assert.equal("/api/v2/users/8.json", seen.path)
      assert.same({ n = 1 }, r.output.res)
    end)

    it("a non-2xx answer fails with ZIS's cause; no stub fails the run, saying how to stub", function()
      local r = flow.run(one("get"), { input = { id = 1 }, stubs = { get = { status = 404 } } })
      assert.equal("failed", r.status)
      assert.equal("States.TaskFailed", r.error)
      assert.equal("external action failed due to status code: 404", r.cause)
      r = flow.run(one("get", { Catch = { { ErrorEquals = { "States.ALL" }, Next = "A" } } }), { input = { id = 1 } })
      assert.equal("Simulator.NoStub", r.error)
      assert.matches('stubs%["get"%]', r.cause)
      assert.matches("%-%-stub get=FILE", r.cause)
      assert.equal(1, #r.trace)   -- not caught: the simulation, not the flow, is missing something
      r = flow.run(one("get"), { input = { id = 1 }, stubs = { get = function() error("oops") end } })
      assert.equal("Simulator.StubError", r.error)
    end)

    it("sends through opts.http when there is no stub", function()
      local r = flow.run(one("get"), { input = { id = 1 }, http = function(req) return { status = 200, body = { m = req.method } } end })
      assert.same({ m = "GET" }, r.output.res)
    end)

    it("Retry counts retries and waits on the clock; Catch after exhausted retries", function()
      local st = { Retry = { { ErrorEquals = { "States.ALL" }, IntervalSeconds = 2, MaxAttempts = 2, BackoffRate = 3 } },
                   Catch = { { ErrorEquals = { "States.ALL" }, Next = "Caught", ResultPath = "$.failure" } },
                   End = zis.null }
      local b = one("get", st)
      b.resources.f.properties.definition.States.A.End = nil
      b.resources.f.properties.definition.States.A.Next = "Done"
      b.resources.f.properties.definition.States.Caught = { Type = "Succeed" }
      b.resources.f.properties.definition.States.Done = { Type = "Succeed" }
      local r = flow.run(b, { input = { id = 1 }, stubs = { get = { { status = 500 }, { status = 503 }, { status = 200, body = { ok = true } } } } })
      assert.equal("Done", r.state)
      assert.equal(2, #r.trace[1].retries)
      assert.equal(8, r.clock)   -- 2, then 2 * 3
      r = flow.run(b, { input = { id = 1 }, stubs = { get = { { status = 500 }, { status = 500 }, { status = 502 } } } })
      assert.equal("Caught", r.state)
      assert.equal(2, #r.trace[1].retries)
      assert.is_true(r.trace[1].caught)
      assert.same({ Error = "States.TaskFailed", Cause = "external action failed due to status code: 502" },
                  r.output.failure)
      assert.same({ id = 1 }, r.output.input)   -- the input kept beside the error
    end)
  end)

  describe("built-in actions", function()
    local function act(name, params, rp)
      return { Type = "Action", ActionName = name, Parameters = params, ResultPath = rp or "$.r", Next = "Z" }
    end

    it("LoadConfig, PatchConfig (merged), with wildcards; a missing config fails", function()
      local r = flow.run(bundle({
        A = act("zis:common:action:LoadConfig", { scope = "set*" }),
        Z = { Type = "Pass", Next = "P" },
        P = { Type = "Action", ActionName = "zis:common:action:PatchConfig",
              Parameters = { scope = "settings", config = { b = { c = 2 } } }, ResultPath = zis.null, End = true },
      }), { configs = { settings = { a = 1, b = { d = 1 } } } })
      assert.same({ config = { a = 1, b = { d = 1 } } }, r.trace[1].result)
      assert.same({ settings = { a = 1, b = { c = 2, d = 1 } } }, r.configs)
      r = flow.run(bundle({ A = act("zis:common:action:LoadConfig", { scope = "nope" }), Z = { Type = "Succeed" } }))
      assert.equal("States.TaskFailed", r.error)
      assert.matches("no config for scope 'nope'", r.cause)
    end)

    it("CreateLink, LoadLinks, PatchLink, DeleteLink on opts.links", function()
      local r = flow.run(bundle({
        A = act("zis:common:action:CreateLink", { link_type = "t2i", left_object = { ["name.$"] = "$.input.id" },
                                                   right_object = { name = "issue:1" } }),
        Z = { Type = "Action", ActionName = "zis:common:action:LoadLinks",
              Parameters = { link_type = "t2i", left_object_name = "*" }, ResultPath = "$.found", Next = "P" },
        P = { Type = "Action", ActionName = "zis:common:action:PatchLink",
              Parameters = { link_type = "t2i", left_object_name = "5", right_object_name = "issue:1",
                             right_object = { name = "issue:1", metadata = { s = "open" } } }, ResultPath = zis.null, Next = "D" },
        D = { Type = "Action", ActionName = "zis:common:action:DeleteLink",
              Parameters = { link_type = "old", left_object_name = "a", right_object_name = "b" }, ResultPath = zis.null,
              End = true },
      }), { input = { id = 5 }, links = { { link_type = "old", left_object = { name = "a" }, right_object = { name = "b" } } } })
      assert.equal("succeeded", r.status)
      assert.equal("5", r.trace[1].result.link.left_object.name)
      assert.equal(1, r.output.found.count)
      assert.equal(1, #r.links)
      assert.same({ s = "open" }, r.links[1].right_object.metadata)
    end)

    it("Jq: expr and data, one output, several (an array), an error", function()
      local r = flow.run(bundle({ A = act("zis:common:transform:Jq", { expr = ".a + 1", ["data.$"] = "$.input" }),
                                  Z = { Type = "Succeed" } }), { input = { a = 41 } })
      assert.equal(42, r.output.r)
      assert.equal("integer", math.type(r.output.r))
      r = flow.run(bundle({ A = act("zis:common:transform:Jq", { expr = ".[]", ["data.$"] = "$.input.l" }),
                            Z = { Type = "Succeed" } }), { input = { l = { 1, 2 } } })
      assert.same({ 1, 2 }, r.output.r)
      r = flow.run(bundle({ A = act("zis:common:transform:Jq", { expr = ".a |", data = {} }), Z = { Type = "Succeed" } }))
      assert.equal("States.TaskFailed", r.error)
      assert.matches("^Jq: cannot compile", r.cause)
    end)

    it("an unknown built-in fails the run, naming it", function()
      local r = flow.run(bundle({ A = act("zis:common:action:Teleport", {}), Z = { Type = "Succeed" } }))
      assert.equal("Simulator.UnknownBuiltin", r.error)
      assert.matches("Teleport", r.cause)
    end)
  end)

  it("runs every flow of every valid bundle of the corpus with generated stubs, without a simulator error", function()
    local p = assert(io.popen("ls spec/fixtures/bundles/*.json"))
    local runs = 0
    for file in p:lines() do
      local text = io.open(file):read("a")
      local b = zis.decode_json(text)
      if zis.validate(b) then
        local stubs = {}
        for _, r in pairs(b.resources) do
          if r.type == "ZIS::Action::Http" then
            stubs[r.properties.name] = function() return { status = 200, body = { ok = true, comments = {} } } end
          end
        end
        for key, r in pairs(b.resources) do
          if r.type == "ZIS::Flow" then
            local res = assert(flow.run(text, { flow = key, stubs = stubs, account_id = 1,
              configs = { ["settings:1"] = {} },
              input = { ticket_event = { ticket = { id = 1, priority = "urgent", tags = { "vip" }, status = "open",
                                                    updated_at = "2024-01-01T00:00:00Z" }, comment = { body = "x" } } } }))
            runs = runs + 1
            assert.is_nil(res.simulator, file .. " " .. key .. ": " .. tostring(res.cause))
            assert.is_true(res.status == "succeeded" or res.status == "failed")
            assert.is_true(#res.trace >= 1)
            -- the result is JSON all through (zis --json run prints it)
            assert.is_string(zis.encode_json(require("zis.flow.cli").result_json(res)))
          end
        end
      end
    end
    p:close()
    assert.is_true(runs >= 15)
  end)
end)

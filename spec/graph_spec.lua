-- zis.graph: every bundle we have, and some nasty ones, drawn as DOT that
-- Graphviz's dot accepts without a word and as Mermaid that the checker in
-- tools/check-mermaid.lua accepts; what a reader sees (labels, red states,
-- tooltips, dashed Catch edges, nested Map clusters) checked in the SVG
-- that dot makes, as a person would look at it.
local zis = require "zis"
local graph = require "zis.graph"
local check_mermaid = dofile("tools/check-mermaid.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- dot -Tsvg on DOT text: the SVG, and everything dot said on stderr.
local function dot_svg(text)
  local input, errors = os.tmpname(), os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen("dot -Tsvg " .. input .. " 2>" .. errors))
  local svg = p:read("a")
  local ok = p:close()
  local said = read(errors)
  os.remove(input)
  os.remove(errors)
  return ok and svg or nil, said
end

local function unxml(s)
  return (s:gsub("&#x(%x+);", function(h) return utf8.char(tonumber(h, 16)) end)
           :gsub("&#(%d+);", function(d) return utf8.char(tonumber(d)) end)
           :gsub("&(%a+);", { lt = "<", gt = ">", quot = '"', apos = "'", amp = "&" }))
end

-- What the SVG shows: nodes and edges by Graphviz title (our ids), each
-- with its text lines, its tooltip, whether it is red or dashed.
local function svg_parts(svg)
  local parts, starts = {}, {}
  for at in svg:gmatch('()<g id="[^"]*" class="%w+">') do starts[#starts + 1] = at end
  starts[#starts + 1] = #svg + 1
  for i = 1, #starts - 1 do
    local chunk = svg:sub(starts[i], starts[i + 1] - 1)
    local kind = chunk:match('^<g id="[^"]*" class="(%w+)"')
    local title = chunk:match("<title>(.-)</title>")
    if kind and title then
      local texts = {}
      for t in chunk:gmatch("<text[^>]*>(.-)</text>") do texts[#texts + 1] = unxml(t) end
      parts[unxml(title)] = { kind = kind, text = table.concat(texts, "\n"),
                              tooltip = unxml(chunk:match('xlink:title="(.-)"') or ""),
                              red = chunk:find('stroke="#dc2626"', 1, true) ~= nil,
                              dashed = chunk:find("stroke-dasharray", 1, true) ~= nil }
    end
  end
  return parts
end

-- the node whose text is exactly `text`
local function node_with(parts, text)
  for id, p in pairs(parts) do
    if p.kind == "node" and p.text == text then return id, p end
  end
  error("no node shows " .. string.format("%q", text))
end

-- Renders a bundle both ways and fails on any complaint from either tool.
local function render_all(bundle, name)
  local dot = assert(zis.graph(bundle))
  local svg, said = dot_svg(dot)
  assert(svg, name .. ": dot failed: " .. said)
  assert(said == "", name .. ": dot warned: " .. said)
  local mermaid = assert(zis.graph(bundle, { format = "mermaid" }))
  local ok, errors, parsed = check_mermaid(mermaid)
  if not ok then
    local lines = {}
    for _, e in ipairs(errors) do lines[#lines + 1] = e.line .. ": " .. e.message end
    error(name .. ": Mermaid check failed:\n" .. table.concat(lines, "\n") .. "\n" .. mermaid)
  end
  return svg_parts(svg), parsed, dot, mermaid
end

---------------------------------------------------------------------------
-- Nasty bundles: every character the two syntaxes care about
---------------------------------------------------------------------------

local NASTY = [==[
{ "zis_template_version": "2019-10-14", "name": "nasty \"one\" <&>",
  "resources": {
    "call{it}": { "type": "ZIS::Action::Http", "properties": { "name": "call{it}",
      "definition": { "method": "POST", "url": "https://example.com", "connectionName": "conn <&> \"x\"" } } },
    "fl\"ow<1>": { "type": "ZIS::Flow", "properties": { "name": "fl\"ow<1>", "definition": {
      "StartAt": "Start \"quoted\" [x]",
      "States": {
        "Start \"quoted\" [x]": { "Type": "Action", "ActionName": "zis:nasty:action:call{it}",
                                  "Next": "Pick|#;" },
        "Pick|#;": { "Type": "Choice", "Choices": [
            { "Variable": "$.a", "StringEquals": "x\"y<z>&{|}#;\n", "Next": "Map 🎉\nline2" },
            { "And": [ { "Variable": "$.n", "NumericGreaterThanEquals": 3 },
                       { "Not": { "Variable": "$.b", "IsPresent": true } } ], "Next": "Fail & <stop>" } ],
          "Default": "Nowhere \"at all\"" },
        "Map 🎉\nline2": { "Type": "Map", "ItemsPath": "$.items", "Next": "Wait {5}",
          "Catch": [ { "ErrorEquals": [ "States.ALL", "Timeout\"E", "<bad>" ], "Next": "Fail & <stop>" } ],
          "Iterator": { "StartAt": "Inner`tick`", "States": {
            "Inner`tick`": { "Type": "Map", "ItemsPath": "$.x", "Next": "Inner end",
              "Iterator": { "StartAt": "Deep\\back\\slash", "States": {
                "Deep\\back\\slash": { "Type": "Pass", "Next": "Lost (inner)" } } } },
            "Inner end": { "Type": "Succeed" } } } },
        "Wait {5}": { "Type": "Wait", "Seconds": 5, "Next": "Done; really" },
        "Done; really": { "Type": "Succeed" },
        "Fail & <stop>": { "Type": "Fail", "Error": "E<1>" },
        "end": { "Type": "Pass", "Next": "subgraph" },
        "subgraph": { "Type": "Pass", "End": true },
        "Orphan %s %d \u0001 \t #35; &amp; --> ]]": { "Type": "Pass", "End": true }
      } } } },
    "on \"job\" <1>": { "type": "ZIS::JobSpec", "properties": { "name": "on \"job\" <1>",
      "event_source": "sup|port", "event_type": "ticket.Ticket{Created}",
      "flow_name": "zis:nasty:flow:fl\"ow<1>" } } } }
]==]

-- ItemProcessor, Parallel, an unknown type, an empty flow, a job spec whose
-- flow is missing and a Catch without ErrorEquals (and, below, a name
-- that is not UTF-8)
local ODD = [==[
{ "zis_template_version": "2019-10-14", "name": "odd",
  "resources": {
    "f": { "type": "ZIS::Flow", "properties": { "name": "f", "definition": {
      "StartAt": "P", "States": {
        "P": { "Type": "Parallel", "Next": "M", "Branches": [
          { "StartAt": "B1", "States": { "B1": { "Type": "Pass", "End": true } } },
          { "StartAt": "B2", "States": { "B2": { "Type": "Task", "End": true } } } ] },
        "M": { "Type": "Map", "ItemProcessor": { "StartAt": "I", "States": { "I": { "Type": "Pass", "End": true } } },
               "Next": "W", "Catch": [ { "Next": "M" } ] },
        "W": { "Type": "Wait", "SecondsPath": "$.s", "End": true } } } } },
    "empty": { "type": "ZIS::Flow", "properties": { "name": "empty", "definition": { "States": {} } } },
    "j": { "type": "ZIS::JobSpec", "properties": { "name": "j", "event_source": "support",
           "event_type": "ticket.TicketCreated", "flow_name": "zis:odd:flow:gone" } } } }
]==]

describe("zis.graph", function()
  -- every bundle the repository has, including those added later
  local files = {}
  local p = assert(io.popen("ls spec/fixtures/bundles/*.json spec/fixtures/*.json examples/bundles/*.json 2>/dev/null"))
  for line in p:lines() do files[#files + 1] = line end
  p:close()

  it("finds the repository's bundles", function()
    assert.is_true(#files >= 2)
  end)

  for _, file in ipairs(files) do
    it("draws " .. file .. " as DOT that dot accepts and Mermaid that checks", function()
      local parts, parsed = render_all(read(file), file)
      assert.is_true(next(parts) ~= nil)
      assert.is_true(next(parsed.nodes) ~= nil)
    end)
  end

  it("draws the example as a reader expects it", function()
    local parts, parsed = render_all(read("examples/bundles/example.json"), "example")
    local tag = node_with(parts, "Tag\ntag_ticket\nPUT zendesk")
    local done = node_with(parts, "Done")
    local job = node_with(parts, "on_ticket_created\nsupport / ticket.TicketCreated")
    assert.truthy(parts[job .. "->" .. tag], "the job spec points at StartAt")
    assert.truthy(parts[tag .. "->" .. done])
    assert.falsy(parts[tag].red or parts[done].red)
    assert.equals("Action: Tag", parts[tag].tooltip)
    assert.truthy(parts.cluster_c1 and parts.cluster_c1.text == "flow: example_flow")
    assert.equals("Tag\ntag_ticket\nPUT zendesk", parsed.nodes[tag])
    assert.equals("c1", parsed.parent[tag])
  end)

  describe("a nasty bundle", function()
    local parts, parsed, dot
    setup(function() parts, parsed, dot = render_all(NASTY, "nasty") end)

    it("keeps every name as written, in both formats", function()
      for _, label in ipairs{ 'Start "quoted" [x]\ncall{it}\nPOST conn <&> "x"', "Map 🎉\nline2\neach of $.items",
                              "Wait {5}\nwait 5 s", "Done; really", "Fail & <stop>\nE<1>", "end", "subgraph",
                              "on \"job\" <1>\nsup|port / ticket.Ticket{Created}", "Inner end" } do
        local id = node_with(parts, label)
        assert.equals(label, parsed.nodes[id]:match("^(.-)\n⚠") or parsed.nodes[id])
      end
    end)

    it("shows control characters as symbols, and # and & as typed", function()
      local id, node = node_with(parts, "Orphan %s %d ␁ ␉ #35; &amp; --> ]]")
      assert.truthy(node.red)
      assert.matches("^Orphan %%s %%d ␁ ␉ #35; &amp; %-%-> %]%]\n⚠ unreachable", parsed.nodes[id])
    end)

    it("draws states zis.validate finds broken in red, the problem in the tooltip", function()
      local pick, node = node_with(parts, "Pick|#;")
      assert.truthy(node.red)
      assert.matches("names no state ('Nowhere \"at all\"')", node.tooltip, 1, true)
      local nowhere = node_with(parts, 'Nowhere "at all"\nno such state')
      assert.truthy(parts[nowhere].red)
      assert.truthy(parts[pick .. "->" .. nowhere])
      assert.equals("default", parts[pick .. "->" .. nowhere].text)
      -- in a Map's iterator's iterator
      local deep = node_with(parts, "Deep\\back\\slash")
      assert.truthy(parts[deep].red)
      assert.matches("Lost (inner)", parts[deep].tooltip, 1, true)
    end)

    it("marks unreachable states, and only those", function()
      for _, label in ipairs{ "end", "subgraph" } do
        local _, node = node_with(parts, label)
        assert.truthy(node.red)
        assert.matches("unreachable", node.tooltip)
      end
      for _, label in ipairs{ "Done; really", "Wait {5}\nwait 5 s", "Inner end" } do
        local _, node = node_with(parts, label)
        assert.falsy(node.red, label)
      end
    end)

    it("labels Choice edges with their conditions", function()
      local pick = node_with(parts, "Pick|#;")
      local map = node_with(parts, "Map 🎉\nline2\neach of $.items")
      local fail = node_with(parts, "Fail & <stop>\nE<1>")
      assert.equals('$.a == "x"y<z>&{|}#;␤"', parts[pick .. "->" .. map].text)
      assert.equals("($.n >= 3) and (not ($.b is present))", parts[pick .. "->" .. fail].text)
    end)

    it("draws Catch edges dashed, labelled with the error names", function()
      local map = node_with(parts, "Map 🎉\nline2\neach of $.items")
      local fail = node_with(parts, "Fail & <stop>\nE<1>")
      local catch = parts[map .. "->" .. fail]
      assert.truthy(catch.dashed)
      assert.equals('States.ALL, Timeout"E, <bad>', catch.text)
      local wait = node_with(parts, "Wait {5}\nwait 5 s")
      assert.falsy(parts[map .. "->" .. wait].dashed)
      local edge
      for _, e in ipairs(parsed.edges) do if e.from == map and e.to == fail then edge = e end end
      assert.equals("-.->", edge.arrow)
      assert.equals('States.ALL, Timeout"E, <bad>', edge.label)
    end)

    it("nests a Map's iterator, and its iterator, as clusters", function()
      local deep = node_with(parts, "Deep\\back\\slash")
      local inner = parsed.parent[deep]
      assert.matches("^Inner`tick`: Iterator\n⚠ no state ends the flow", parsed.subgraphs[inner])
      assert.equals("Map 🎉\nline2: Iterator", parsed.subgraphs[parsed.parent[inner]])
      assert.equals("flow: fl\"ow<1>", parsed.subgraphs[parsed.parent[parsed.parent[inner]]])
      -- in DOT too: the inner cluster is declared inside the outer one
      local outer_at = dot:find('label="Map 🎉\\nline2: Iterator"', 1, true)
      local inner_at = dot:find('label="Inner`tick`: Iterator"', 1, true)
      assert.truthy(outer_at and inner_at and outer_at < inner_at)
      assert.matches('\n        label="Inner`tick`: Iterator"', dot, 1, true)
      local map = node_with(parts, "Map 🎉\nline2\neach of $.items")
      assert.equals("each item", parts[map .. "->" .. node_with(parts, "Inner`tick`\neach of $.x")].text)
    end)
  end)

  it("draws ItemProcessor, Parallel branches, unknown types and broken UTF-8", function()
    local odd = zis.decode_json(ODD)
    local states = odd.resources.f.properties.definition.States
    states["bad \xff\xc3 utf8"] = { Type = "Pass", End = true }
    states.W.Next, states.W.End = "bad \xff\xc3 utf8", nil
    local parts, parsed = render_all(odd, "odd")
    local par = node_with(parts, "P\n2 branches")
    assert.truthy(parts[par .. "->" .. node_with(parts, "B1")])
    assert.truthy(parts[par].red, "ZIS has no Parallel state")
    local b2 = node_with(parts, "B2")
    assert.equals("P: branch 2", parsed.subgraphs[parsed.parent[b2]])
    assert.equals("M: ItemProcessor", parsed.subgraphs[parsed.parent[node_with(parts, "I")]])
    node_with(parts, "W\nwait $.s")
    node_with(parts, "bad \u{FFFD}\u{FFFD} utf8")
    local empty = node_with(parts, "(no states)")
    assert.truthy(parts[empty].red)
    local job = node_with(parts, "j\nsupport / ticket.TicketCreated")
    assert.truthy(parts[job].red)
    assert.matches("zis:odd:flow:gone", parts[job].tooltip, 1, true)
    local m = node_with(parts, "M")
    assert.equals("catch", parts[m .. "->" .. m].text)
  end)

  it("is deterministic: the same text whatever the order of keys", function()
    local a = read("examples/bundles/example.json")
    local decoded = zis.decode_json(a)
    -- the same bundle with its resources inserted in the other order
    local flipped = { resources = {} }
    local keys = {}
    for k in pairs(decoded.resources) do keys[#keys + 1] = k end
    table.sort(keys, function(x, y) return x > y end)
    for k, v in pairs(decoded) do if k ~= "resources" then flipped[k] = v end end
    for _, k in ipairs(keys) do flipped.resources[k] = decoded.resources[k] end
    for _, fmt in ipairs{ "dot", "mermaid" } do
      local first = zis.graph(a, { format = fmt })
      assert.equals(first, zis.graph(a, { format = fmt }))
      assert.equals(first, zis.graph(decoded, { format = fmt }))
      assert.equals(first, zis.graph(flipped, { format = fmt }))
    end
  end)

  it("leaves validation out when asked", function()
    local dot = zis.graph(NASTY, { validate = false })
    assert.falsy(dot:find("names no state", 1, true))
    assert.truthy(dot:find("unreachable", 1, true))
  end)

  it("raises on misuse and returns nil, message on text that is not a bundle", function()
    assert.has_error(function() zis.graph(42) end)
    assert.has_error(function() zis.graph("{}", { format = "jpeg" }) end)
    assert.has_error(function() zis.graph("{}", "dot") end)
    local text, why = zis.graph("{not json")
    assert.is_nil(text)
    assert.matches("^not JSON", why)
    assert.same({ nil, "a bundle is a JSON object" }, { zis.graph("[1]") })
  end)
end)

describe("zis.graph.render", function()
  local example = read("examples/bundles/example.json")

  it("gives DOT, Mermaid, SVG and PNG", function()
    assert.matches("^digraph zis_bundle {\n", graph.render(example))
    assert.matches("^flowchart TD\n", graph.render(example, { format = "mermaid" }))
    assert.matches("<svg", graph.render(example, { format = "svg" }), 1, true)
    assert.equals("\137PNG\r\n\26\n", graph.render(example, { format = "png" }):sub(1, 8))
    assert.matches("<svg", zis.graph(example, { format = "svg" }), 1, true)
  end)

  it("says how to install Graphviz when dot is missing (a usage error)", function()
    local out, message, code = graph.render(example, { format = "svg", dot = "/nonexistent/zis-spec-dot" })
    assert.is_nil(out)
    assert.equals("usage", code)
    assert.matches("apt-get install graphviz", message, 1, true)
    assert.is_nil((zis.graph(example, { format = "png", dot = "/nonexistent/zis-spec-dot" })))
  end)

  it("reports a failing dot, an unknown format and text that is not JSON", function()
    local out, message, code = graph.render(example, { format = "svg", dot = "false" })
    assert.same({ nil, "error" }, { out, code })
    assert.matches("^dot failed", message)
    local gif, why, gif_code = graph.render(example, { format = "gif" })
    assert.same({ nil, "usage" }, { gif, gif_code })
    assert.matches("unknown format 'gif'", why, 1, true)
    assert.equals("error", select(3, graph.render("{oops")))
  end)
end)

describe("the example's picture", function()
  local example = read("examples/bundles/example.json")

  -- An exact comparison needs the same Graphviz: with another version
  -- the layout may differ, so then what is drawn (nodes, edges, texts,
  -- tooltips) is compared instead of where.
  it("examples/bundles/example.svg is current (make graph-images)", function()
    local committed = read("examples/bundles/example.svg")
    local fresh = assert(graph.render(example, { format = "svg" }))
    local version = fresh:match("Generated by graphviz version ([^%s]+)")
    if committed:match("Generated by graphviz version ([^%s]+)") == version then
      assert.equals(fresh, committed, "run make graph-images")
    else
      assert.same(svg_parts(fresh), svg_parts(committed), "run make graph-images")
    end
  end)

  it("the README shows it, and its Mermaid form is current", function()
    local readme = read("README.md")
    assert.truthy(readme:find("](examples/bundles/example.svg)", 1, true))
    local block = readme:match("```mermaid\n(.-)```")
    assert.equals(zis.graph(example, { format = "mermaid" }), block)
  end)
end)

describe("tools/check-mermaid.lua", function()
  -- the checker must be able to fail, or the specs above prove nothing
  local function fails(text, what)
    local ok, errors = check_mermaid(text)
    assert.is_false(ok, "accepted: " .. text)
    local all = {}
    for _, e in ipairs(errors) do all[#all + 1] = e.message end
    assert.matches(what, table.concat(all, "\n"), 1, true)
  end

  it("accepts what Mermaid accepts", function()
    assert.is_true((check_mermaid('flowchart TD\n  subgraph c1["a #35; b"]\n    n1("x<br>y")\n  end\n' ..
                                  '  n2{"z"}\n  n1 -.->|"e #quot;"| n2\n  classDef k fill:#fff\n  class n1,n2 k\n')))
  end)

  it("refuses what Mermaid would refuse or misread", function()
    fails('graph\n  n1["x"]\n', "first statement")
    fails('flowchart TD\n  n1["x"y"]\n', "not a statement")
    fails('flowchart TD\n  n1["x"\n', "not a statement")
    fails('flowchart TD\n  n1["x")\n', "not a statement")
    fails('flowchart TD\n  n1["a # b"]\n', "starts no entity")
    fails('flowchart TD\n  n1["a <b> c"]\n', "raw < or >")
    fails('flowchart TD\n  n1["`md`"]\n', "backtick")
    fails('flowchart TD\n  end["x"]\n', "bad id")
    fails('flowchart TD\n  n1["x"]\n  n1["y"]\n', "defined twice")
    fails('flowchart TD\n  n1["x"]\n  n1 --> n2\n', "'n2' is not defined")
    fails('flowchart TD\n  n1["x"]\n  n1 -->|x| n1\n', "edge label")
    fails('flowchart TD\n  subgraph c1["x"]\n  n1["x"]\n', "without 'end'")
    fails('flowchart TD\n  n1["x"]\n  end\n', "without a subgraph")
    fails('flowchart TD\n  n1["x"]\n  class n1 nope\n', "'nope' is not defined")
    fails('flowchart TD\n  n1["x"]; n2["y"]\n', "not a statement")
  end)
  it("returns the diagram alone, so print(zis.graph(b)) prints only it", function()
    local f = assert(io.open("examples/bundles/example.json", "rb"))
    local text = f:read("a")
    f:close()
    assert.equal(1, select("#", zis.graph(text)))
    assert.equal(1, select("#", zis.graph(text, { format = "mermaid" })))
    assert.equal(2, select("#", zis.graph("not json")))
  end)
end)

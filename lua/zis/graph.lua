-- zis.graph: a picture of a bundle, as Graphviz DOT or Mermaid text.
--
-- A bundle is read into a small model first (flows, their states and
-- edges, job specs, problems), and the model is then written out by one of
-- two writers.  The model is built in a fixed order (resources by key,
-- states from StartAt outwards, then the rest by name) and node ids are
-- numbered in that order, so the same bundle always gives the same text:
-- the committed example image can be checked to be current.
--
-- Names come from bundles, which come from anyone: every label goes
-- through one function per format that makes it inert (quotes, brackets,
-- backslashes, entities, newlines, control characters, broken UTF-8), so
-- any bundle gives a diagram that dot and Mermaid accept.
--
-- States that zis.validate finds fault with, and states no path from
-- StartAt reaches, are drawn in red; the problem is the tooltip (DOT) or
-- an extra label line (Mermaid, whose tooltips GitHub does not show).
--
-- With opts.trace (a zis.flow.run result, or its JSON), the path a run
-- took is drawn over the diagram: the states it entered and the edges it
-- followed in blue, and the state it failed in filled red.

local zis_core = require "zis.core"
local validate = require "zis.validate"

local concat, format, ipairs, pairs, pcall, setmetatable, tostring, type, utf8 =
      table.concat, string.format, ipairs, pairs, pcall, setmetatable,
      tostring, type, utf8
local math_type, error, os, io = math.type, error, os, io

local NULL = zis_core.null

local sorted_keys = require("zis.util").sorted_keys

local is_object, is_list = require("zis.util").is_object, require("zis.util").is_array

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

---------------------------------------------------------------------------
-- Display text: valid UTF-8, no control characters, bounded length
---------------------------------------------------------------------------

-- Replaces each byte that does not start a valid UTF-8 sequence with
-- U+FFFD, and each control character but newline with its Control
-- Pictures symbol (U+2400 + code; DEL is U+2421), so that the writers
-- only ever see printable, valid text.
local function clean(s)
  s = tostring(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, bad = utf8.len(s, i)
    local stop = len and n or bad - 1
    if stop >= i then out[#out + 1] = s:sub(i, stop) end
    if len then break end
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return (concat(out):gsub("[%z\1-\9\11-\31\127]", function(c)
    local b = c:byte()
    return utf8.char(b == 127 and 0x2421 or 0x2400 + b)
  end))
end

-- At most max characters (not bytes), with an ellipsis when cut.
local function shorten(s, max)
  if utf8.len(s) <= max then return s end
  return s:sub(1, utf8.offset(s, max) - 1) .. "…"
end

---------------------------------------------------------------------------
-- Short forms of Choice rules
---------------------------------------------------------------------------

local OPS = { Equals = "==", LessThan = "<", GreaterThan = ">", LessThanEquals = "<=",
              GreaterThanEquals = ">=", Matches = "~" }
local COMPARATORS = {}
for _, kind in ipairs{ "String", "Numeric", "Boolean", "Timestamp" } do
  for op, sym in pairs(OPS) do
    COMPARATORS[kind .. op] = sym
    COMPARATORS[kind .. op .. "Path"] = sym
  end
end
local TESTS = { IsNull = "null", IsPresent = "present", IsNumeric = "numeric", IsString = "string",
                IsBoolean = "boolean", IsTimestamp = "timestamp" }

local function value_text(v)
  if type(v) == "string" then return '"' .. v .. '"' end
  if math_type(v) == "float" then return format("%.14g", v) end
  if v == NULL then return "null" end
  if type(v) == "table" then return is_list(v) and "[…]" or "{…}" end
  return tostring(v)
end

-- "$.a == \"x\"", "not ($.n > 3)", "($.a is present) and ($.b <= $.c)".
local function condition(rule)
  if not is_object(rule) then return "?" end
  for _, op in ipairs{ "And", "Or" } do
    if is_list(rule[op]) then
      local parts = {}
      for i, r in ipairs(rule[op]) do parts[i] = "(" .. condition(r) .. ")" end
      return concat(parts, " " .. op:lower() .. " ")
    end
  end
  if rule.Not ~= nil then return "not (" .. condition(rule.Not) .. ")" end
  local var = type(rule.Variable) == "string" and rule.Variable or "?"
  for _, key in ipairs(sorted_keys(rule)) do
    if COMPARATORS[key] then
      local v = rule[key]
      return var .. " " .. COMPARATORS[key] .. " " .. (key:match("Path$") and tostring(v) or value_text(v))
    elseif TESTS[key] then
      return var .. (rule[key] == false and " is not " or " is ") .. TESTS[key]
    end
  end
  -- an operator this version does not know: name it rather than guess
  for _, key in ipairs(sorted_keys(rule)) do
    if key ~= "Variable" and key ~= "Next" then return var .. " " .. tostring(key) .. " " .. value_text(rule[key]) end
  end
  return var
end

---------------------------------------------------------------------------
-- The model
---------------------------------------------------------------------------
--
-- model = { title, flows = {machine...}, jobs = {job...}, problems = {...} }
-- machine = { id, title, path, states = {state...}, missing = {node...},
--             start = node or nil, problems = {} }
-- state = { id, name, type, lines = {...}, path, problems = {},
--           machines = {nested machine...} }
-- job = { id, name, lines, path, problems, target = node or nil }
-- edges = { {from, to, label, style = "next"|"choice"|"catch"|"each"|"start"} }

local Model = {}
Model.__index = Model

function Model:node_id()
  self.count = self.count + 1
  return "n" .. self.count
end

function Model:cluster_id()
  self.clusters = self.clusters + 1
  return "c" .. self.clusters
end

function Model:edge(from, to, label, style)
  self.edges[#self.edges + 1] = { from = from, to = to, label = label, style = style }
end

-- The action's short name and, for an HTTP action of this bundle, its
-- method and connection (or URL when it has no connection).
function Model:action_lines(ref)
  if type(ref) ~= "string" then return { "(no ActionName)" } end
  local common = ref:match("^zis:common:action:(.+)$")
  if common then return { "common: " .. common } end
  local name = ref:match("^zis:[^:]+:action:(.+)$")
  if not name then return { ref } end
  local lines = { name }
  local def = self.actions[name]
  if def then
    local how = { str(def.method) or "?" }
    local via = str(def.connectionName) or str(def.url) or str(def["url.$"])
    if via then how[2] = via end
    lines[2] = concat(how, " ")
  end
  return lines
end

function Model:state_lines(s)
  local t = s.Type
  if t == "Action" then return self:action_lines(s.ActionName)
  elseif t == "Wait" then
    if s.Seconds ~= nil then return { "wait " .. value_text(s.Seconds) .. " s" } end
    if s.SecondsPath ~= nil then return { "wait " .. tostring(s.SecondsPath) } end
  elseif t == "Map" then
    if str(s.ItemsPath) then return { "each of " .. s.ItemsPath } end
  elseif t == "Fail" then
    if str(s.Error) then return { s.Error } end
  elseif t == "Parallel" and is_list(s.Branches) then
    return { #s.Branches .. " branches" }
  end
  return {}
end

-- The targets a state names, in a fixed order, as {name, label, style}.
local function targets(s)
  local out = {}
  if s.Type == "Choice" and is_list(s.Choices) then
    for _, rule in ipairs(s.Choices) do
      if is_object(rule) and rule.Next ~= nil then
        -- one line: a newline inside a compared string shows as ␤
        out[#out + 1] = { rule.Next, shorten(clean(condition(rule)):gsub("\n", "␤"), 48), "choice" }
      end
    end
    if s.Default ~= nil then out[#out + 1] = { s.Default, "default", "choice" } end
  end
  if s.Next ~= nil then out[#out + 1] = { s.Next, nil, "next" } end
  if is_list(s.Catch) then
    for _, c in ipairs(s.Catch) do
      if is_object(c) and c.Next ~= nil then
        local errors = {}
        if is_list(c.ErrorEquals) then
          for i, e in ipairs(c.ErrorEquals) do errors[i] = tostring(e) end
        end
        out[#out + 1] = { c.Next, shorten(clean(#errors > 0 and concat(errors, ", ") or "catch"), 60),
                          "catch" }
      end
    end
  end
  return out
end

-- A state machine ({StartAt, States}) of a flow, a Map or a Parallel
-- branch.  States are numbered from StartAt outwards, breadth first, so
-- the diagram reads top-down in the order the flow runs; states that
-- nothing reaches come last, by name, and are marked.
-- One step of a JSON path, written as zis.validate writes it: .key, or
-- ["key"] when the key has other characters.
local function seg(key)
  key = tostring(key)
  if key:match("^[%w_%-]+$") then return "." .. key end
  -- a key that is not UTF-8 cannot be JSON text: quote it as Lua would
  local ok, quoted = pcall(require("zis.core").encode_json, key)
  return "[" .. (ok and quoted or string.format("%q", key)) .. "]"
end

function Model:machine(def, path, title)
  local m = { id = self:cluster_id(), title = title, path = path, states = {}, missing = {},
              problems = {} }
  self.placed[#self.placed + 1] = { prefix = path, target = m }
  local states = is_object(def) and is_object(def.States) and def.States or {}
  local names = sorted_keys(states)
  local order, seen, by_name = {}, {}, {}
  local function visit(name)
    if type(name) == "string" and states[name] ~= nil and not seen[name] then
      seen[name] = true
      order[#order + 1] = name
    end
  end
  visit(is_object(def) and def.StartAt)
  local i = 1
  while i <= #order do
    local s = states[order[i]]
    if is_object(s) then for _, t in ipairs(targets(s)) do visit(t[1]) end end
    i = i + 1
  end
  local reached = #order
  for _, name in ipairs(names) do visit(name) end
  -- every state a node first, so edges can point forwards
  for k, name in ipairs(order) do
    local s = states[name]
    local node = { id = self:node_id(), name = clean(name), raw = name, problems = {}, machines = {},
                   path = path .. ".States" .. seg(name) }
    node.type = is_object(s) and type(s.Type) == "string" and s.Type or "?"
    node.lines = is_object(s) and self:state_lines(s) or {}
    for j, line in ipairs(node.lines) do node.lines[j] = shorten(clean(line), 48) end
    if k > reached then node.unreached = true end
    m.states[#m.states + 1] = node
    by_name[name] = node
    self.placed[#self.placed + 1] = { prefix = node.path, target = node }
  end
  if #m.states == 0 then
    -- an empty cluster would vanish: keep a node to carry the problem
    local node = { id = self:node_id(), name = "(no states)", type = "?", lines = {}, problems = {},
                   machines = {}, path = path .. ".States", missing_target = true }
    m.states[1] = node
    self.placed[#self.placed + 1] = { prefix = node.path, target = node }
  end
  -- a name no state has gets one red node per machine, whatever names it
  local function resolve(name)
    if by_name[name] then return by_name[name] end
    local key = clean(name)
    if not m.missing[key] then
      m.missing[key] = { id = self:node_id(), name = key, type = "missing", lines = { "no such state" },
                         problems = {}, machines = {} }
      m.missing[#m.missing + 1] = m.missing[key]
    end
    return m.missing[key]
  end
  m.start = is_object(def) and def.StartAt ~= nil and resolve(def.StartAt) or m.states[1]
  for _, name in ipairs(order) do
    local s, node = states[name], by_name[name]
    if is_object(s) then
      for _, t in ipairs(targets(s)) do self:edge(node, resolve(t[1]), t[2], t[3]) end
      local nested = {}
      if s.Type == "Map" then
        for _, key in ipairs{ "Iterator", "ItemProcessor" } do
          if s[key] ~= nil then nested[#nested + 1] = { s[key], node.path .. "." .. key, key } end
        end
      elseif s.Type == "Parallel" and is_list(s.Branches) then
        for j, b in ipairs(s.Branches) do
          nested[#nested + 1] = { b, format("%s.Branches[%d]", node.path, j), "branch " .. j }
        end
      end
      for _, n in ipairs(nested) do
        local inner = self:machine(n[1], n[2], node.name .. ": " .. n[3])
        node.machines[#node.machines + 1] = inner
        self:edge(node, inner.start, s.Type == "Map" and "each item" or nil, "each")
      end
    end
  end
  return m
end

-- Hangs each problem on the most specific thing drawn for its path: a
-- state, a machine (flow or iterator), a job spec, or else the bundle.
function Model:place(problems)
  for _, p in ipairs(problems) do
    local path, best = type(p.path) == "string" and p.path or "", nil
    for _, at in ipairs(self.placed) do
      local pre = at.prefix
      local c = path:sub(#pre + 1, #pre + 1)
      if path:sub(1, #pre) == pre and (c == "" or c == "." or c == "[")
         and (not best or #pre > #best.prefix) then
        best = at
      end
    end
    local list = best and best.target.problems or self.problems
    list[#list + 1] = clean((p.severity == "warning" and "warning: " or "") .. tostring(p.message))
  end
end

-- The path of a run (a zis.flow.run result): entered states get
-- .visited, followed edges .taken, the state the run failed in .failed
-- (with the error as an extra line).  Iterations ("Each[0] > Inner[1]")
-- are found through their Map states' machines.
function Model:overlay(result)
  local flow = is_object(result) and str(result.flow)
  local m
  for _, f in ipairs(self.flows) do
    if flow and f.title == "flow: " .. clean(flow) then m = f end
  end
  if not m or not is_list(result.trace) then return end
  local function node_in(machine, name)
    for _, n in ipairs(machine.states) do if n.raw == name then return n end end
  end
  -- the machine an entry ran in: the flow, or a Map's Iterator
  local function machine_of(iteration)
    local cur = m
    if type(iteration) ~= "string" then return cur end
    for step in iteration:gmatch("[^>]+") do
      local map_name = step:match("^%s*(.-)%[%d+%]%s*$")
      local map = map_name and cur and node_in(cur, map_name)
      cur = map and map.machines[1]
      if not cur then return nil end
    end
    return cur
  end
  local taken = {}
  for _, e in ipairs(result.trace) do
    local machine = is_object(e) and machine_of(e.iteration)
    local node = machine and node_in(machine, e.state)
    if node then
      node.visited = true
      if type(e.next) == "string" then
        local to = node_in(machine, e.next)
        if to then taken[node.id .. ">" .. to.id] = true end
      end
      if e.type == "Map" and node.machines[1] and (math_type(e.items) == "integer" and e.items > 0) then
        taken[node.id .. ">" .. node.machines[1].start.id] = true
      end
    end
  end
  if result.status == "failed" then
    local last
    for i = #result.trace, 1, -1 do
      local e = result.trace[i]
      if is_object(e) and e.state == result.state and not e.iteration then last = e break end
    end
    local node = last and node_in(m, last.state)
    if node then
      node.failed = true
      node.lines[#node.lines + 1] = shorten(clean("failed: " .. tostring(result.error)), 48)
    end
  end
  for _, e in ipairs(self.edges) do
    if taken[e.from.id .. ">" .. e.to.id] then e.taken = true end
  end
  self.traced = true
end

local function build(bundle, opts)
  local self = setmetatable({ count = 0, clusters = 0, edges = {}, placed = {}, flows = {}, jobs = {},
                              problems = {}, actions = {} }, Model)
  self.title = clean(str(bundle.name) or "bundle")
  local resources = is_object(bundle.resources) and bundle.resources or {}
  local keys = sorted_keys(resources)
  local flows_by_name = {}
  for _, key in ipairs(keys) do
    local r = resources[key]
    local p = is_object(r) and is_object(r.properties) and r.properties
    if p and r.type == "ZIS::Action::Http" and is_object(p.definition) then
      self.actions[str(p.name) or key] = p.definition
    end
  end
  for _, key in ipairs(keys) do
    local r = resources[key]
    local p = is_object(r) and is_object(r.properties) and r.properties
    if p and r.type == "ZIS::Flow" then
      local path = "resources" .. seg(key)
      local m = self:machine(p.definition, path .. ".properties.definition",
                             "flow: " .. clean(str(p.name) or key))
      -- problems of the resource itself (its name, say) belong to the flow
      self.placed[#self.placed + 1] = { prefix = path, target = m }
      self.flows[#self.flows + 1] = m
      flows_by_name[str(p.name) or key] = m
    end
  end
  for _, key in ipairs(keys) do
    local r = resources[key]
    local p = is_object(r) and is_object(r.properties) and r.properties
    if p and r.type == "ZIS::JobSpec" then
      local job = { id = self:node_id(), name = clean(str(p.name) or key), problems = {},
                    lines = { shorten(clean(tostring(p.event_source) .. " / " .. tostring(p.event_type)), 60) } }
      local flow = type(p.flow_name) == "string" and p.flow_name:match("^zis:[^:]+:flow:(.+)$")
      local m = flow and flows_by_name[flow]
      if m then self:edge(job, m.start, nil, "start") end
      self.jobs[#self.jobs + 1] = job
      self.placed[#self.placed + 1] = { prefix = "resources." .. tostring(key), target = job }
    end
  end
  if opts.validate ~= false then
    -- validate is another module's work: if it ever fails on a bundle it
    -- does not expect, the picture is still drawn, without its findings
    local ok, valid, problems = pcall(validate, bundle, { integration = opts.integration })
    if ok and not valid or ok and type(problems) == "table" then self:place(problems) end
  end
  -- unreachable states are problems too, unless validate already said so
  local function mark(m)
    for _, s in ipairs(m.states) do
      if s.unreached then
        local said = false
        for _, msg in ipairs(s.problems) do if msg:lower():find("reach", 1, true) then said = true end end
        if not said then s.problems[#s.problems + 1] = "unreachable: no path from StartAt leads here" end
      end
      for _, inner in ipairs(s.machines) do mark(inner) end
    end
  end
  for _, m in ipairs(self.flows) do mark(m) end
  if opts.trace ~= nil then self:overlay(opts.trace) end
  return self
end

---------------------------------------------------------------------------
-- Graphviz DOT
---------------------------------------------------------------------------

-- Inside a DOT double-quoted string only \" is an escape for the parser,
-- but labels and tooltips then read \n, \l, \N ... and HTML entities: so
-- backslashes are doubled, quotes escaped, & written as &amp; and
-- newlines as \n.
local function dot_string(s)
  return '"' .. s:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("&", "&amp;"):gsub("\n", "\\n") .. '"'
end

local DOT_STYLE = {
  Action   = 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
  Choice   = 'shape=diamond, style=filled, fillcolor="#fef3c7"',
  Map      = 'shape=box3d, style=filled, fillcolor="#ede9fe"',
  Wait     = 'shape=hexagon, style=filled, fillcolor="#e0f2fe"',
  Pass     = 'shape=box, style=filled, fillcolor="#f3f4f6"',
  Succeed  = 'shape=box, style="rounded,filled", peripheries=2, fillcolor="#dcfce7"',
  Fail     = 'shape=octagon, style=filled, fillcolor="#fde2e2"',
  Parallel = 'shape=parallelogram, style=filled, fillcolor="#fce7f3"',
  missing  = 'shape=box, style="dashed,filled", fillcolor="#ffffff"',
  job      = 'shape=cds, style=filled, fillcolor="#fff7ed"',
}
local DOT_UNKNOWN = 'shape=box, style="dashed,filled", fillcolor="#ffffff"'
local DOT_BROKEN = ', color="#dc2626", fontcolor="#991b1b", penwidth=3'
-- a traced run (opts.trace): states entered, the state it failed in
local DOT_VISITED = ', color="#1d4ed8", penwidth=3'
local DOT_FAILED = ', color="#b91c1c", fillcolor="#fca5a5", penwidth=4'
local DOT_TAKEN = ', color="#1d4ed8", fontcolor="#1d4ed8", penwidth=2.5'
local DOT_EDGE = {
  next = "", choice = "", start = ', color="#9a3412"',
  catch = ', style=dashed, color="#b45309", fontcolor="#b45309"',
  each = ', style=dotted, arrowhead=diamond',
}

local function label_of(node)
  local lines = { node.name }
  for _, l in ipairs(node.lines) do lines[#lines + 1] = l end
  return lines
end

local function dot_node(out, indent, node, kind)
  local tip = { (kind or node.type) .. ": " .. node.name }
  for _, p in ipairs(node.problems) do tip[#tip + 1] = p end
  local broken = #node.problems > 0 or node.type == "missing"
  local run = node.failed and DOT_FAILED or node.visited and DOT_VISITED or ""
  out[#out + 1] = format("%s%s [label=%s, tooltip=%s, %s%s%s];", indent, node.id,
                         dot_string(concat(label_of(node), "\n")), dot_string(concat(tip, "\n")),
                         DOT_STYLE[kind or node.type] or DOT_UNKNOWN, broken and DOT_BROKEN or "", run)
end

local function dot_machine(out, indent, m)
  local tip = { m.title }
  for _, p in ipairs(m.problems) do tip[#tip + 1] = p end
  out[#out + 1] = indent .. "subgraph cluster_" .. m.id .. " {"
  local inner = indent .. "  "
  out[#out + 1] = format("%slabel=%s; tooltip=%s; style=rounded; color=%s;%s", inner,
                         dot_string(m.title), dot_string(concat(tip, "\n")),
                         #m.problems > 0 and '"#dc2626"; penwidth=3' or '"#9ca3af"', "")
  for _, s in ipairs(m.states) do
    dot_node(out, inner, s)
    for _, nested in ipairs(s.machines) do dot_machine(out, inner, nested) end
  end
  for _, s in ipairs(m.missing) do dot_node(out, inner, s) end
  out[#out + 1] = indent .. "}"
end

local function to_dot(model)
  local out = { "digraph zis_bundle {" }
  local tip = { "bundle: " .. model.title }
  for _, p in ipairs(model.problems) do tip[#tip + 1] = p end
  out[#out + 1] = format('  graph [label=%s, tooltip=%s, labelloc=t, fontname="Helvetica", fontsize=14];',
                         dot_string(model.title), dot_string(concat(tip, "\n")))
  out[#out + 1] = '  node [fontname="Helvetica", fontsize=11];'
  out[#out + 1] = '  edge [fontname="Helvetica", fontsize=10];'
  for _, job in ipairs(model.jobs) do dot_node(out, "  ", job, "job") end
  for _, m in ipairs(model.flows) do dot_machine(out, "  ", m) end
  for _, e in ipairs(model.edges) do
    local attrs = (e.label and "label=" .. dot_string(e.label) or "") .. DOT_EDGE[e.style] ..
                  (e.taken and DOT_TAKEN or "")
    attrs = attrs:gsub("^, ", "")
    out[#out + 1] = format("  %s -> %s%s;", e.from.id, e.to.id, attrs ~= "" and " [" .. attrs .. "]" or "")
  end
  out[#out + 1] = "}"
  return concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- Mermaid
---------------------------------------------------------------------------

-- A Mermaid quoted label: Mermaid reads #name; and #123; as entities,
-- renders labels as HTML, and treats ` as the start of Markdown; so in one
-- pass # and the characters Mermaid or HTML would read (" < > & ` | ; and
-- the brackets) become entities, and newlines <br>.
local MERMAID_ENTITY = { ["#"] = "#35;", ['"'] = "#quot;", ["<"] = "#lt;", [">"] = "#gt;",
                         ["&"] = "#amp;", ["`"] = "#96;", ["|"] = "#124;", [";"] = "#59;",
                         ["["] = "#91;", ["]"] = "#93;", ["{"] = "#123;", ["}"] = "#125;",
                         ["("] = "#40;", [")"] = "#41;", ["\n"] = "<br>" }
local function mermaid_string(s)
  return '"' .. s:gsub('[#"<>&`|;%[%]{}()\n]', MERMAID_ENTITY) .. '"'
end

-- open, close: the node shape for each state type
local MERMAID_SHAPE = {
  Action = { "(", ")" }, Choice = { "{", "}" }, Map = { "[[", "]]" }, Wait = { "{{", "}}" },
  Pass = { "[", "]" }, Succeed = { "([", "])" }, Fail = { "[\\", "/]" }, Parallel = { "[/", "/]" },
  missing = { "[", "]" }, job = { ">", "]" },
}
local MERMAID_CLASS = {
  Action = "fill:#dbeafe,stroke:#1e3a8a", Choice = "fill:#fef3c7,stroke:#92400e",
  Map = "fill:#ede9fe,stroke:#5b21b6", Wait = "fill:#e0f2fe,stroke:#075985",
  Pass = "fill:#f3f4f6,stroke:#374151", Succeed = "fill:#dcfce7,stroke:#166534",
  Fail = "fill:#fde2e2,stroke:#9f1239", Parallel = "fill:#fce7f3,stroke:#9d174d",
  job = "fill:#fff7ed,stroke:#9a3412", other = "fill:#ffffff,stroke:#374151,stroke-dasharray:4",
  broken = "stroke:#dc2626,stroke-width:3px,color:#991b1b",
  visited = "stroke:#1d4ed8,stroke-width:3px",
  failed = "fill:#fca5a5,stroke:#b91c1c,stroke-width:4px",
}
local MERMAID_CLASS_ORDER = { "job", "Action", "Choice", "Map", "Wait", "Pass", "Succeed", "Fail",
                              "Parallel", "other", "broken", "visited", "failed" }
local MERMAID_ARROW = { next = "-->", choice = "-->", start = "-->", catch = "-.->", each = "==>" }

local function mermaid_node(out, indent, node, kind, classes)
  local shape = MERMAID_SHAPE[kind or node.type] or MERMAID_SHAPE.Pass
  local lines = label_of(node)
  for _, p in ipairs(node.problems) do lines[#lines + 1] = "⚠ " .. shorten(p, 80) end
  out[#out + 1] = indent .. node.id .. shape[1] .. mermaid_string(concat(lines, "\n")) .. shape[2]
  local class = MERMAID_CLASS[kind or node.type] and (kind or node.type) or "other"
  classes[class] = classes[class] or {}
  classes[class][#classes[class] + 1] = node.id
  if #node.problems > 0 or node.type == "missing" then
    classes.broken[#classes.broken + 1] = node.id
  end
  if node.failed then classes.failed[#classes.failed + 1] = node.id
  elseif node.visited then classes.visited[#classes.visited + 1] = node.id end
end

local function mermaid_machine(out, indent, m, classes)
  local title = m.title
  for _, p in ipairs(m.problems) do title = title .. "\n⚠ " .. shorten(p, 80) end
  out[#out + 1] = indent .. "subgraph " .. m.id .. "[" .. mermaid_string(title) .. "]"
  local inner = indent .. "  "
  for _, s in ipairs(m.states) do
    mermaid_node(out, inner, s, nil, classes)
    for _, nested in ipairs(s.machines) do mermaid_machine(out, inner, nested, classes) end
  end
  for _, s in ipairs(m.missing) do mermaid_node(out, inner, s, nil, classes) end
  out[#out + 1] = indent .. "end"
  if #m.problems > 0 then
    classes.styles[#classes.styles + 1] = "  style " .. m.id .. " stroke:#dc2626,stroke-width:3px"
  end
end

local function to_mermaid(model)
  local out = { "flowchart TD" }
  local classes = { broken = {}, styles = {}, visited = {}, failed = {} }
  for _, job in ipairs(model.jobs) do mermaid_node(out, "  ", job, "job", classes) end
  for _, m in ipairs(model.flows) do mermaid_machine(out, "  ", m, classes) end
  local taken = {}
  for i, e in ipairs(model.edges) do
    out[#out + 1] = "  " .. e.from.id .. " " .. MERMAID_ARROW[e.style] ..
                    (e.label and "|" .. mermaid_string(e.label) .. "|" or "") .. " " .. e.to.id
    if e.taken then taken[#taken + 1] = i - 1 end   -- linkStyle counts from 0
  end
  if #taken > 0 then
    classes.styles[#classes.styles + 1] = "  linkStyle " .. concat(taken, ",") .. " stroke:#1d4ed8,stroke-width:3px"
  end
  -- broken last, so its red outline wins over the type's colours
  for _, name in ipairs(MERMAID_CLASS_ORDER) do
    local ids = classes[name]
    if ids and #ids > 0 then
      out[#out + 1] = "  classDef " .. name .. " " .. MERMAID_CLASS[name]
      out[#out + 1] = "  class " .. concat(ids, ",") .. " " .. name
    end
  end
  for _, line in ipairs(classes.styles) do out[#out + 1] = line end
  return concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- The public functions
---------------------------------------------------------------------------

local graph = {}

local WRITERS = { dot = to_dot, mermaid = to_mermaid }
local FORMATS = { dot = true, mermaid = true, svg = true, png = true }

local function decode(bundle)
  if type(bundle) == "string" then
    local decoded, why = zis_core.decode_json(bundle)
    if decoded == nil then return nil, "not JSON: " .. tostring(why) end
    bundle = decoded
  end
  if not is_object(bundle) then return nil, "a bundle is a JSON object" end
  return bundle
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local INSTALL_HINT = "Graphviz's dot is not installed; install it with `apt-get install graphviz` " ..
                     "(Debian, Ubuntu), `dnf install graphviz` or `brew install graphviz`, or use " ..
                     "--format dot or --format mermaid"

-- DOT through Graphviz's dot, to SVG or PNG bytes.  io.popen goes one
-- way only, so the DOT text goes through a temporary file, and so do
-- dot's complaints.
local function run_dot(text, fmt, dot)
  if not os.execute("command -v " .. quote(dot) .. " >/dev/null 2>&1") then
    return nil, "--format " .. fmt .. ": " .. INSTALL_HINT, "usage"
  end
  local input, errors = os.tmpname(), os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen(format("%s -T%s %s 2>%s", quote(dot), fmt, quote(input), quote(errors)), "r"))
  local out = p:read("a")
  local ok = p:close()
  local e = io.open(errors, "rb")
  local message = e and e:read("a"):gsub("%s+$", "") or ""
  if e then e:close() end
  os.remove(input)
  os.remove(errors)
  if not ok or out == "" then
    return nil, "dot failed: " .. (message ~= "" and message or "no output"), "error"
  end
  return out
end

-- bundle (decoded) -> text | nil, message, code
local function produce(b, opts, fmt)
  if type(opts.trace) == "string" then
    local t, why = zis_core.decode_json(opts.trace)
    if t == nil then return nil, "the trace is not JSON: " .. tostring(why), "error" end
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.trace = t
    opts = copy
  end
  local model = build(b, opts)
  if WRITERS[fmt] then return WRITERS[fmt](model) end
  return run_dot(to_dot(model), fmt, type(opts.dot) == "string" and opts.dot or "dot")
end

-- zis.graph's options and the Lua types each takes.
local OPTIONS = {
  format = { string = true, text = "a string" },
  dot = { string = true, text = "a string (the dot program)" },
  validate = { boolean = true, text = "a boolean" },
  integration = { string = true, text = "a string" },
  trace = { string = true, table = true, text = "a zis.flow.run result or its JSON text" },
}
local OPTION_NAMES = concat(sorted_keys(OPTIONS), ", ")

-- Edit distance, for "did you mean": a misspelt key is one or two edits
-- away from the one meant.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(k)
  if type(k) ~= "string" then return "" end
  local best, best_d
  for name in pairs(OPTIONS) do
    local d = distance(k, name)
    if d <= 2 and (not best_d or d < best_d or (d == best_d and name < best)) then best, best_d = name, d end
  end
  return best and (" (did you mean '" .. best .. "'?)") or ""
end

--- zis.graph(bundle [, opts]) -> text | nil, message
-- bundle: a table or JSON text.  opts.format: "dot" (default), "mermaid",
-- "svg" or "png" (these two run Graphviz's dot: opts.dot, default "dot"
-- on PATH); opts.validate = false leaves zis.validate's findings out;
-- opts.integration is passed to zis.validate; opts.trace (a zis.flow.run
-- result, or its JSON text) draws the path that run took.  Misuse (a bundle that is
-- neither a table nor a string, an unknown format, an unknown option or
-- one of the wrong type) raises; text that is
-- not a JSON object, or a missing or failing dot, returns nil, message.
local function diagram(bundle, opts, level)
  if type(bundle) ~= "string" and type(bundle) ~= "table" then
    error("bad argument #1 to 'graph' (table or JSON string expected, got " .. type(bundle) .. ")", level)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'graph' (table expected, got " .. type(opts) .. ")", level)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      error("bad argument #2 to 'graph' (unknown option '" .. tostring(k) .. "'" .. suggest(k) ..
            "; known: " .. OPTION_NAMES .. ")", level)
    elseif not want[type(v)] then
      error("bad argument #2 to 'graph' (option '" .. k .. "' must be " .. want.text .. ", got " ..
            type(v) .. ")", level)
    end
  end
  local fmt = opts.format or "dot"
  if not FORMATS[fmt] then
    error("bad argument #2 to 'graph' (format must be dot, mermaid, svg or png, got " ..
          tostring(fmt) .. ")", level)
  end
  local b, why = decode(bundle)
  if not b then return nil, why end
  local out, message = produce(b, opts, fmt)
  if out == nil then return nil, message end
  return out   -- one value, so print(zis.graph(b)) prints the diagram alone
end
function graph.diagram(bundle, opts) return diagram(bundle, opts, 3) end

--- graph.render(bundle, {format =, dot =, ...}) -> text | nil, message, code
-- What `zis graph` does: as zis.graph, but it never raises.  code is
-- "usage" for an unknown format or a missing dot (the message says how to
-- install it: exit 2), "error" for a bundle that is not JSON or a dot
-- that fails (exit 1).
function graph.render(bundle, opts)
  opts = type(opts) == "table" and opts or {}
  local fmt = opts.format or "dot"
  if not FORMATS[fmt] then
    return nil, "unknown format '" .. tostring(fmt) .. "': use dot, mermaid, svg or png", "usage"
  end
  local b, why = decode(bundle)
  if not b then return nil, why, "error" end
  return produce(b, opts, fmt)
end

-- zis.graph(bundle, opts) is graph.diagram; graph.render is for the command.
return setmetatable(graph, { __call = function(_, bundle, opts) return diagram(bundle, opts, 3) end })

-- zis.graph.dot: writes a bundle's model (zis.graph.model) as Graphviz DOT
-- text: one cluster per flow and per nested machine, nodes styled by
-- state type, problems as red outlines and tooltips, a traced run in blue.

local text = require "zis.graph.text"

local concat, format, ipairs = table.concat, string.format, ipairs

local label_of = text.label_of

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

return { write = to_dot }

-- zis.graph.mermaid: writes a bundle's model (zis.graph.model) as a
-- Mermaid flowchart: one subgraph per flow and per nested machine, shapes
-- and classes by state type, problems as an extra label line (GitHub does
-- not show Mermaid's tooltips), a traced run in blue.

local text = require "zis.graph.text"

local concat, ipairs = table.concat, ipairs

local shorten, label_of = text.shorten, text.label_of

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

return { write = to_mermaid }

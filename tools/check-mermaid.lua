#!/usr/bin/env lua5.4
-- A strict syntax check for the Mermaid flowcharts zis.graph writes.
--
-- Mermaid's own parser needs a browser-like runtime; this checks the
-- subset zis.graph uses, more strictly than Mermaid does, so that what
-- passes here is accepted there:
--   * the first statement is `flowchart DIR`; every other line is one of a
--     known list of statement forms (node, edge, subgraph, end, direction,
--     classDef, class, style, %% comment), nothing else;
--   * ids are plain identifiers, not keywords, defined once; edges, class
--     and style name only defined nodes (or subgraphs, for style);
--   * every label is one double-quoted string in a known shape whose
--     brackets match; inside it no raw quote, backtick, < or > (but <br>),
--     and every # starts an entity (#quot; #35;);
--   * subgraph and end balance.
--
-- As a module: check(text) -> ok, errors, parsed, where parsed has nodes
-- (id -> decoded label), subgraphs (id -> decoded title) and edges
-- ({from, to, arrow, label}) and parent (id -> enclosing subgraph id).  As a script: check-mermaid.lua FILE...
-- prints each error as FILE:LINE: message and exits 1 if there are any.

local KEYWORDS = {}
for w in ([[end subgraph graph flowchart class classDef style click direction linkStyle
            default call href interpolate]]):gmatch("%S+") do KEYWORDS[w] = true end

-- node shapes: opening and closing text around the quoted label
local SHAPES = {
  { "[[", "]]" }, { "[(", ")]" }, { "[/", "/]" }, { "[\\", "/]" }, { "[/", "\\]" }, { "[\\", "\\]" },
  { "([", "])" }, { "((", "))" }, { "{{", "}}" }, { "[", "]" }, { "(", ")" }, { "{", "}" },
  { ">", "]" },
}
local ARROWS = { ["-->"] = true, ["-.->"] = true, ["==>"] = true, ["---"] = true,
                 ["-.-"] = true, ["==="] = true }
local DIRECTIONS = { TD = true, TB = true, BT = true, LR = true, RL = true }
local NAMED = { quot = '"', lt = "<", gt = ">", amp = "&", nbsp = "\u{A0}" }

local function is_id(s)
  return s ~= nil and s:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

-- Checks one label's content (between the quotes) and decodes it.
local function label(content, fail)
  if content:find('"', 1, true) then fail("raw quote inside a label") end
  if content:find("`", 1, true) then fail("raw backtick inside a label (Markdown string)") end
  if content:find("\n", 1, true) then fail("raw newline inside a label") end
  local rest = content:gsub("<br>", "")
  if rest:find("[<>]") then fail("raw < or > inside a label (use #lt; #gt;)") end
  for i in content:gmatch("()#") do
    local ent = content:match("^#(%w+);", i)
    if not ent or not (ent:match("^%d+$") or NAMED[ent]) then
      fail("'#' at byte " .. i .. " of a label starts no entity (write #35;)")
    end
  end
  return (content:gsub("<br>", "\n"):gsub("#(%w+);", function(e)
    if e:match("^%d+$") then return utf8.char(tonumber(e)) end
    return NAMED[e]
  end))
end

-- A quoted string at position i of s: its content and the position after it.
local function quoted(s, i)
  if s:sub(i, i) ~= '"' then return nil end
  local stop = s:find('"', i + 1, true)
  if not stop then return nil end
  return s:sub(i + 1, stop - 1), stop + 1
end

local function check(text)
  local errors, parsed = {}, { nodes = {}, subgraphs = {}, edges = {}, parent = {} }
  local lineno = 0
  local function fail(msg) errors[#errors + 1] = { line = lineno, message = msg } end
  local defined, stack, classdefs, uses = {}, {}, {}, {}
  local function define(id, kind)
    if not is_id(id) then fail("bad id '" .. tostring(id) .. "'")
    elseif defined[id] then fail("id '" .. id .. "' defined twice")
    else defined[id] = kind end
  end
  local header = false
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    local s = line:match("^%s*(.-)%s*$")
    if s:find("\r", 1, true) then fail("carriage return in a statement") end
    if s == "" or s:match("^%%%%") then -- luacheck: ignore 542
      -- blank or comment
    elseif not header then
      local dir = s:match("^flowchart (%u%u)$") or s:match("^graph (%u%u)$")
      if not DIRECTIONS[dir] then fail("the first statement must be 'flowchart TD' (or another direction)") end
      header = true
    elseif s == "end" then
      if #stack == 0 then fail("'end' without a subgraph") else stack[#stack] = nil end
    elseif s:match("^subgraph ") then
      local id, rest = s:match("^subgraph ([^%s%[]+)(.*)$")
      define(id, "subgraph")
      local title = id
      if rest ~= "" then
        local content, after = quoted(rest, 2)
        if rest:sub(1, 1) ~= "[" or not content or rest:sub(after) ~= "]" then
          fail("a subgraph title is [\"...\"]")
        else
          title = label(content, fail)
        end
      end
      if id then parsed.subgraphs[id], parsed.parent[id] = title, stack[#stack] end
      stack[#stack + 1] = id
    elseif s:match("^direction ") then
      if not DIRECTIONS[s:match("^direction (%u%u)$")] then fail("bad direction") end
    elseif s:match("^classDef ") then
      local name, css = s:match("^classDef ([%a_][%w_]*) (.+)$")
      if not name then fail("classDef NAME STYLE expected")
      else
        for prop in (css .. ","):gmatch("([^,]*),") do
          if not prop:match("^[%a%-]+:[#%w%.%- ]+$") then fail("bad style '" .. prop .. "'") end
        end
        classdefs[name] = true
      end
    elseif s:match("^class ") then
      local ids, name = s:match("^class ([%w_,]+) ([%a_][%w_]*)$")
      if not ids then fail("class ID[,ID...] NAME expected")
      else
        for id in ids:gmatch("[^,]+") do uses[#uses + 1] = { lineno, id, "node" } end
        uses[#uses + 1] = { lineno, name, "class" }
      end
    elseif s:match("^style ") then
      local id, css = s:match("^style ([%a_][%w_]*) (.+)$")
      if not id then fail("style ID STYLE expected")
      else
        uses[#uses + 1] = { lineno, id, "any" }
        for prop in (css .. ","):gmatch("([^,]*),") do
          if not prop:match("^[%a%-]+:[#%w%.%- ]+$") then fail("bad style '" .. prop .. "'") end
        end
      end
    else
      -- an edge: ID ARROW [|"label"|] ID
      local from, arrow, rest = s:match("^([%w_]+) ([%-%.=]+>?)(.*)$")
      if from and ARROWS[arrow] then
        local edge = { from = from, arrow = arrow }
        if rest:sub(1, 1) == "|" then
          local content, after = quoted(rest, 2)
          if not content or rest:sub(after, after) ~= "|" then
            fail("an edge label is |\"...\"|")
            rest = ""
          else
            edge.label = label(content, fail)
            rest = rest:sub(after + 1)
          end
        end
        edge.to = rest:match("^ ([%w_]+)$")
        if not edge.to then fail("an edge ends with ' ID'") end
        uses[#uses + 1] = { lineno, from, "node" }
        if edge.to then uses[#uses + 1] = { lineno, edge.to, "node" } end
        parsed.edges[#parsed.edges + 1] = edge
      else
        -- a node: ID SHAPE-OPEN "label" SHAPE-CLOSE
        local id, open = s:match('^([%w_]+)([^"%w_]*)"')
        local ok = false
        if id then
          local content, after = quoted(s, #id + #open + 1)
          local close = content and s:sub(after)
          for _, shape in ipairs(SHAPES) do
            if shape[1] == open and shape[2] == close then ok = true end
          end
          if ok then
            define(id, "node")
            parsed.nodes[id], parsed.parent[id] = label(content, fail), stack[#stack]
          end
        end
        if not ok then fail("not a statement this checker knows: " .. s) end
      end
    end
  end
  if not header then fail("no 'flowchart' header") end
  if #stack > 0 then fail(#stack .. " subgraph(s) without 'end'") end
  for _, u in ipairs(uses) do
    local line, id, want = u[1], u[2], u[3]
    local ok
    if want == "class" then ok = classdefs[id]
    elseif want == "node" then ok = defined[id] == "node"
    else ok = defined[id] ~= nil end
    if not ok then errors[#errors + 1] = { line = line, message = "'" .. id .. "' is not defined" } end
  end
  if next(parsed.nodes) == nil then fail("no nodes") end
  return #errors == 0, errors, parsed
end

-- run as a script with files (dofile and require pass no arguments)
if select("#", ...) > 0 then
  local bad = 0
  for _, file in ipairs{ ... } do
    local f = assert(io.open(file, "rb"))
    local _, errors = check(f:read("a"))
    f:close()
    for _, e in ipairs(errors) do
      io.stderr:write(file, ":", e.line, ": ", e.message, "\n")
      bad = bad + 1
    end
  end
  os.exit(bad == 0 and 0 or 1)
end

return check

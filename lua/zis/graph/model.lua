-- zis.graph.model: reads a bundle into the model the writers draw (flows,
-- their states and edges, job specs, and zis.validate's problems hung on
-- what they are about).
--
-- The model is built in a fixed order (resources by key, states from
-- StartAt outwards, then the rest by name) and node ids are numbered in
-- that order, so the same bundle always gives the same text: the
-- committed example image can be checked to be current.  Every name and
-- line in it has been through zis.graph.text's clean.

local zis_core = require "zis.core"
local validate = require "zis.validate"
local util = require "zis.util"
local text = require "zis.graph.text"
local overlay = require("zis.graph.trace").overlay

local concat, format, ipairs, pairs, pcall, setmetatable, tostring, type =
      table.concat, string.format, ipairs, pairs, pcall, setmetatable, tostring, type
local math_type = math.type

local NULL = zis_core.null

local sorted_keys, path_step = util.sorted_keys, util.path_step
local is_object, is_list = util.is_object, util.is_array
local str, clean, shorten = text.str, text.clean, text.shorten

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

-- One step of a JSON path, written as zis.validate writes it: .key, or
-- ["key"] when the key has other characters (a key that is a number is
-- a name here, so .7, not [7]).
local function seg(key) return path_step(tostring(key)) end

-- A state machine ({StartAt, States}) of a flow, a Map or a Parallel
-- branch.  States are numbered from StartAt outwards, breadth first, so
-- the diagram reads top-down in the order the flow runs; states that
-- nothing reaches come last, by name, and are marked.
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
  if opts.trace ~= nil then overlay(self, opts.trace) end
  return self
end

return { build = build }

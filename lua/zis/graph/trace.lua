-- zis.graph.trace: draws the path a run took over a bundle's model (the
-- states it entered and the edges it followed, the state it failed in),
-- from a zis.flow.run result.

local util = require "zis.util"
local text = require "zis.graph.text"

local ipairs, tostring, type = ipairs, tostring, type
local math_type = math.type

local is_object, is_list = util.is_object, util.is_array
local str, clean, shorten = text.str, text.clean, text.shorten

local M = {}

-- The path of a run (a zis.flow.run result): entered states get
-- .visited, followed edges .taken, the state the run failed in .failed
-- (with the error as an extra line).  Iterations ("Each[0] > Inner[1]")
-- are found through their Map states' machines.
function M.overlay(model, result)
  local flow = is_object(result) and str(result.flow)
  local m
  for _, f in ipairs(model.flows) do
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
  for _, e in ipairs(model.edges) do
    if taken[e.from.id .. ">" .. e.to.id] then e.taken = true end
  end
  model.traced = true
end

return M

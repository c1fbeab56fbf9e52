-- zis.validate.integration: which integration a bundle is for.  Collects
-- the zis:{integration}:... references of its job specs and flows and
-- works out the one integration they must all name (integration_of, for
-- zis.validate, zis.deploy and the command line).  "source:" comments
-- cite Zendesk's pages by the short names zis.validate's header lists.

local zis_core = require "zis.core"
local values = require "zis.validate.values"

local ipairs, type = ipairs, type
local format = string.format

local sorted_keys, seg = require("zis.util").sorted_keys, require("zis.util").path_step
local is_object, parse_ref = require("zis.util").is_object, values.parse_ref

local M = {}

-- The integration references: every zis:{integration}:flow:... flow_name
-- of a job spec, then every zis:{integration}:action:... ActionName of a
-- flow (states in name order, a Map's iterator after its own state), as
-- {path =, integration =}.  Resources are taken in key order.
local function references(bundle)
  local refs = {}
  local function add(path, ref, kind)
    local integration = parse_ref(ref, kind)
    if integration and integration ~= "common" then
      refs[#refs + 1] = { path = path, integration = integration }
    end
  end
  local resources = is_object(bundle.resources) and bundle.resources or {}
  local keys = sorted_keys(resources)
  for _, key in ipairs(keys) do
    local r = resources[key]
    if is_object(r) and r.type == "ZIS::JobSpec" and is_object(r.properties) then
      add("resources" .. seg(key) .. ".properties.flow_name", r.properties.flow_name, "flow")
    end
  end
  local function machine(path, def)
    if not is_object(def) or not is_object(def.States) then return end
    for _, name in ipairs(sorted_keys(def.States)) do
      local s, sp = def.States[name], path .. ".States" .. seg(name)
      if is_object(s) then
        if s.Type == "Action" then add(sp .. ".ActionName", s.ActionName, "action") end
        if s.Type == "Map" then machine(sp .. ".Iterator", s.Iterator) end
      end
    end
  end
  for _, key in ipairs(keys) do
    local r = resources[key]
    if is_object(r) and r.type == "ZIS::Flow" and is_object(r.properties) then
      machine("resources" .. seg(key) .. ".properties.definition", r.properties.definition)
    end
  end
  return refs
end

--- validate.integration_of(bundle [, integration]) -> integration, conflicts
-- The one place that works out which integration a bundle is for, used by
-- validate and by deploy (zis.deploy.integration_of) so the two always
-- agree.  bundle: a table or a JSON string.  integration: the one the
-- bundle is for, when the caller knows it; else the bundle's own: the one
-- its first job spec's flow_name names (job specs in key order), else its
-- first ActionName's.  Returns that integration (nil when no reference
-- names one) and a list of problems {severity = "error", path =, message =},
-- one for each other integration the references name, at its first
-- reference.  A bundle belongs to one integration: it is uploaded to
-- /registry/{integration}/bundles, and its flows and actions are scoped to
-- that integration.
-- source: bundles ("integration: The name of the integration this bundle
-- belongs to"); custom-actions ("Custom actions are scoped to a ZIS
-- integration"; ActionName: replace INTEGRATION "with your integration key")
function M.integration_of(bundle, integration)
  if type(bundle) == "string" then bundle = zis_core.decode_json(bundle) end
  if type(bundle) ~= "table" then return integration, {} end
  local refs = references(bundle)
  if integration == nil and refs[1] then integration = refs[1].integration end
  local conflicts, seen = {}, {}
  for _, r in ipairs(refs) do
    if r.integration ~= integration and not seen[r.integration] then
      seen[r.integration] = true
      conflicts[#conflicts + 1] = { severity = "error", path = r.path,
        message = format("names integration '%s', but the bundle is for '%s': a bundle " ..
                         "belongs to one integration", r.integration, integration) }
    end
  end
  return integration, conflicts
end

return M

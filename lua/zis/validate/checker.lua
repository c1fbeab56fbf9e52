-- zis.validate.checker: the Checker, which collects a bundle's problems
-- ({severity =, path =, message =}) and counts its errors, with the
-- checks every part of a bundle uses (a zis:... reference, a reference
-- path, an object field).  The rules of each part are its methods too,
-- taken from zis.validate.states, zis.validate.choice and
-- zis.validate.resources.  zis.validate makes one Checker per call:
-- setmetatable({problems = {}, errors = 0, names = {kind = {name = key}}},
-- Checker).  "source:" comments cite Zendesk's pages by the short names
-- zis.validate's header lists.

local zis_core = require "zis.core"
local values = require "zis.validate.values"

local assert, ipairs, pairs = assert, ipairs, pairs
local concat, format = table.concat, string.format
local null = zis_core.null

local sorted_keys = require("zis.util").sorted_keys
local is_object, nonempty_string, is_path, json_type, parse_ref =
      require("zis.util").is_object, values.nonempty_string, values.is_path, values.json_type,
      values.parse_ref

local Checker = {}
Checker.__index = Checker

function Checker:add(severity, path, message)
  self.problems[#self.problems + 1] = { severity = severity, path = path, message = message }
  if severity == "error" then self.errors = self.errors + 1 end
end

function Checker:error(path, message) self:add("error", path, message) end
function Checker:warning(path, message) self:add("warning", path, message) end

-- A reference to another resource: zis:{integration}:{kind}:{name}, or
-- zis:common:...  Which integration it names is integration_of's work.
function Checker:check_ref(path, ref, kind, what)
  -- source: custom-actions (ActionName "zis:INTEGRATION:action:NAME");
  -- bundles and jobspecs (flow_name "zis:example:flow:my_flow", mandatory)
  if not nonempty_string(ref) then
    self:error(path, what .. " is required: zis:{integration}:" .. kind .. ":{name}")
    return
  end
  if ref:match("^zis:common:") then return end
  local integration, name = parse_ref(ref, kind)
  if not integration then
    self:error(path, format("'%s' is not a %s reference: use zis:{integration}:%s:{name}",
                            ref, kind, kind))
    return
  end
  if self.names[kind][name] then return end
  if kind == "action" then
    -- source: custom-actions ("The custom action definition must be in the
    -- same bundle as the Action state. An Action state can't call an
    -- action from another bundle.")
    self:error(path, format("'%s' names no action of this bundle (defined: %s); an Action " ..
                            "state can only call an action of its own bundle", ref, self:defined(kind)))
  else
    -- no page restricts a job spec's flow to its own bundle: a flow of
    -- another bundle of the same integration works
    self:warning(path, format("'%s': flow not in this bundle; it must exist in another bundle " ..
                              "of the integration (this bundle's flows: %s)", ref, self:defined(kind)))
  end
end

function Checker:defined(kind)
  local names = sorted_keys(self.names[kind])
  return #names > 0 and concat(names, ", ") or "none"
end

-- InputPath, OutputPath, ResultPath, ItemsPath...: a reference path, or
-- null where Amazon States Language allows it (discard).  severity:
-- "error" where a Zendesk page documents the field as a reference path,
-- "warning" where only Amazon States Language does.
function Checker:check_path(path, v, nullable, severity)
  if v == nil or (nullable and v == null) then return end
  if not is_path(v) then
    self:add(severity or "error", path, format("must be a reference path starting with $%s (got %s)",
                                               nullable and ", or null" or "", json_type(v)))
  end
end

-- Parameters, ResultSelector: objects in Amazon States Language; no
-- Zendesk page states their type, so a warning.
function Checker:check_object(path, v)
  if v ~= nil and not is_object(v) then
    self:warning(path, format("should be an object (got %s)", json_type(v)))
  end
end

-- The rules of each part of a bundle, methods of the same Checker.
for _, part in ipairs{ "zis.validate.states", "zis.validate.choice", "zis.validate.resources" } do
  for name, rule in pairs(require(part)) do
    assert(Checker[name] == nil, name)
    Checker[name] = rule
  end
end

return Checker

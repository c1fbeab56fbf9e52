-- zis.validate: checks a bundle offline, before it is sent.
--
-- ZIS accepts many bundles that then fail only at run time (zis-api.md
-- sections 5 and 6).  This finds what can be found without the server:
-- the template version, the name, the resource types, at least one flow
-- and one job spec, the flow language's state types and their fields,
-- that StartAt and every Next / Default / Choices[].Next / Catch[].Next
-- names a state that exists, that a flow can end, the shape of Choice
-- rules, Catch and Retry blocks, HTTP action definitions, that Action
-- ActionName references resolve within the bundle (or to zis:common:...),
-- and that every zis:{integration}:... reference names one integration.
--
-- The rule it keeps: every shape Zendesk documents passes without an
-- error or a warning (spec/fixtures/bundles/ is the corpus that holds it
-- to that).  An ERROR is only what a page of Zendesk's documentation
-- refuses or says cannot work, and each error rule names that page in a
-- "source:" comment beside it (docs/manual.md lists the same sources).
-- Everything else (what the docs say ZIS ignores or advises against, and
-- Amazon States Language rules that Zendesk's pages do not state) is a
-- WARNING: it never makes a bundle invalid.
--
-- Every problem is {severity =, path =, message =}.  path is the JSON path
-- of the offending value: keys joined with ".", a key that is not made
-- of letters, digits, "_" and "-" written as ["key"] (JSON-quoted), array
-- indexes 1-based in brackets.  A problem inside a state always starts
-- with that state's own path (...definition.States.A, or
-- ...States.Each.Iterator.States.In for a Map's inner state), so tools
-- can mark the state.
--
-- This file holds the bundle's own rules (template version, name,
-- resources) and the calls; the rules of each part are in
-- lua/zis/validate/: checker.lua (the Checker, references, paths),
-- states.lua (state machines, states, Catch, Retry), choice.lua (Choice
-- rules), resources.lua (job specs, HTTP actions), integration.lua
-- (integration_of), values.lua (the value tests they share).
--
-- Sources, cited below by their last part (all under
-- https://developer.zendesk.com/):
--   bundles        api-reference/integration-services/registry/bundles/
--   jobspecs       api-reference/integration-services/registry/jobspecs/
--   flow-states    documentation/integration-services/developer-guide/understanding-flow-states/
--   limitations    documentation/integration-services/developer-guide/flow-state-limitations/
--   custom-actions documentation/integration-services/developer-guide/zis-custom-actions/
--   choice-state   documentation/integration-services/developer-guide/choice-state/
--   wait-state     documentation/integration-services/developer-guide/wait-state/
--   map-state      documentation/integration-services/developer-guide/map-state/
--   fail-state     documentation/integration-services/developer-guide/fail-state/
--   succeed-state  documentation/integration-services/developer-guide/succeed-state/
--   retry          documentation/integration-services/developer-guide/state-retry-error-handling/

local zis_core = require "zis.core"
local Checker = require "zis.validate.checker"
local integration_of = require("zis.validate.integration").integration_of
local values = require "zis.validate.values"

local error, ipairs, pairs, setmetatable, tostring, type =
      error, ipairs, pairs, setmetatable, tostring, type
local sort, format = table.sort, string.format

local TEMPLATE_VERSION = "2019-10-14"
-- ZIS::Config is accepted without checks: the lead's brief names it, but
-- Zendesk's pages document only the three others (see docs/manual.md).
local RESOURCE_TYPES = { ["ZIS::Flow"] = "flow", ["ZIS::Action::Http"] = "action",
                         ["ZIS::JobSpec"] = "job_spec", ["ZIS::Config"] = "config" }
-- the options validate understands, and their types
local OPTIONS = { integration = "string" }

local sorted_keys, seg = require("zis.util").sorted_keys, require("zis.util").path_step
local is_object, nonempty_string = require("zis.util").is_object, values.nonempty_string

-- Raises on a second argument validate cannot use, naming it.
local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("bad argument #2 to 'validate' (table or nil expected, got " .. type(opts) .. ")", 3)
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      error(format("bad argument #2 to 'validate' (unknown option '%s'; known: integration)",
                   tostring(k)), 3)
    elseif type(v) ~= want then
      error(format("bad argument #2 to 'validate' (option '%s' must be a %s, got %s)", k, want,
                   type(v)), 3)
    end
  end
  return opts
end

--- zis.validate(bundle [, opts]) -> ok, problems
-- bundle: a table or a JSON string.  opts: nil, or {integration = name}:
-- the integration the bundle is for (its references must name it; without
-- it, the bundle's own, as integration_of works it out); any other key
-- raises.  ok is false when any problem is an error, and only then:
-- warnings never make a bundle invalid.  problems lists errors and then
-- warnings, each {severity =, path =, message =}, sorted by path (an
-- empty list when there is nothing to say).
local function validate(bundle, opts)
  opts = check_options(opts)
  if type(bundle) == "string" then
    local decoded, why = zis_core.decode_json(bundle)
    if decoded == nil then
      return false, { { severity = "error", path = "", message = "not JSON: " .. why } }
    end
    bundle = decoded
  end
  if type(bundle) ~= "table" then
    error("bad argument #1 to 'validate' (table or JSON string expected, got " .. type(bundle) .. ")", 2)
  end
  local c = setmetatable({ problems = {}, errors = 0,
                           names = { flow = {}, action = {}, job_spec = {}, config = {} } }, Checker)
  -- source: bundles (zis_template_version: mandatory, "Allowed value of
  -- \"2019-10-14\""; name: mandatory string; description: string;
  -- resources: mandatory object)
  if bundle.zis_template_version ~= TEMPLATE_VERSION then
    c:error("zis_template_version", format("must be \"%s\" (got %s)", TEMPLATE_VERSION,
                                           tostring(bundle.zis_template_version)))
  end
  if not nonempty_string(bundle.name) then
    c:error("name", "is required: a non-empty string")
  elseif #bundle.name > 50 then
    c:warning("name", "is longer than 50 characters, which ZIS tools are known to refuse")
  end
  if bundle.description ~= nil and type(bundle.description) ~= "string" then
    c:error("description", "must be a string")
  end
  local resources = bundle.resources
  if not is_object(resources) then
    c:error("resources", "must be an object of resources keyed by name")
    resources = {}
  end
  -- first pass: names by kind, so references can be resolved in any order
  local keys = sorted_keys(resources)
  for _, key in ipairs(keys) do
    local r = resources[key]
    local kind = is_object(r) and RESOURCE_TYPES[r.type]
    if kind and is_object(r.properties) and nonempty_string(r.properties.name) then
      c.names[kind][r.properties.name] = key
    end
  end
  local count = { flow = 0, action = 0, job_spec = 0, config = 0 }
  for _, key in ipairs(keys) do
    local r, rp = resources[key], "resources" .. seg(key)
    if not is_object(r) then
      c:error(rp, "must be an object with type and properties")
    else
      local kind = RESOURCE_TYPES[r.type]
      local p = r.properties
      -- source: bundles (a bundle holds flows, custom action definitions
      -- and job specs; each resource {type, properties{name, ...}});
      -- custom-actions (type, properties, properties.name: mandatory)
      if not kind then
        c:error(rp .. ".type", format("must be ZIS::Flow, ZIS::Action::Http or ZIS::JobSpec (got %s)",
                                      tostring(r.type)))
      elseif not is_object(p) then
        c:error(rp .. ".properties", "must be an object")
      elseif kind ~= "config" then
        count[kind] = count[kind] + 1
        if not nonempty_string(p.name) then
          c:error(rp .. ".properties.name", "is required")
        elseif kind == "action" and p.name ~= key then
          -- custom-actions says properties.name "Must match the key for
          -- the resource" (and is at most 20 of [A-Za-z0-9_], which its own
          -- dotted examples break); published, working bundles break it
          -- too, so a warning.  References use properties.name.
          c:warning(rp .. ".properties.name", format("'%s' differs from the resource key '%s': " ..
            "Zendesk's guide asks an action's name to match its key", p.name, key))
        end
        if kind == "flow" then
          c:check_machine(rp .. ".properties.definition", p.definition)
        elseif kind == "job_spec" then
          c:check_job_spec(rp, p)
        elseif kind == "action" then
          c:check_http(rp .. ".properties.definition", p.definition)
        end
      end
    end
  end
  -- source: bundles ("A bundle can include: One or more flows, Zero or
  -- more custom action definitions, One or more job specs")
  if count.flow == 0 then c:error("resources", "a bundle needs at least one ZIS::Flow") end
  if count.job_spec == 0 then
    c:error("resources", "a bundle needs at least one ZIS::JobSpec (nothing would run the flow)")
  end
  -- references all name one integration: the one deployed to
  local _, conflicts = integration_of(bundle, opts.integration)
  for _, p in ipairs(conflicts) do c:error(p.path, p.message) end
  sort(c.problems, function(a, b)
    if a.severity ~= b.severity then return a.severity == "error" end
    if a.path ~= b.path then return a.path < b.path end
    return a.message < b.message
  end)
  return c.errors == 0, c.problems
end

-- zis.validate is this table's __call (a tail call: error levels are the
-- caller's); integration_of serves zis.deploy and the command line.
return setmetatable({ integration_of = integration_of },
                    { __call = function(_, ...) return validate(...) end })

-- zis.validate: checks a bundle offline, before it is sent.
--
-- ZIS accepts many bundles that then fail only at run time (zis-api.md
-- sections 5 and 6).  This finds what can be found without the server:
-- the template version, the name, the resource types, at least one flow
-- and one job spec, the flow language's state types, that StartAt and
-- every Next / Default / Choices[].Next names a state that exists, that a
-- flow can end, and that job spec flow_name and Action ActionName
-- references resolve within the bundle (or to zis:common:...).
--
-- Every problem names its JSON path (arrays 1-based, as Lua indexes them)
-- and says what to do; warnings are problems that do not stop an upload.

local zis_core = require "zis.core"

local ipairs, pairs, type, tostring, sort, format =
      ipairs, pairs, type, tostring, table.sort, string.format

local TEMPLATE_VERSION = "2019-10-14"
local RESOURCE_TYPES = { ["ZIS::Flow"] = "flow", ["ZIS::Action::Http"] = "action",
                         ["ZIS::JobSpec"] = "job_spec" }
local STATE_TYPES = { Action = true, Choice = true, Map = true, Wait = true,
                      Succeed = true, Fail = true, Pass = true }
local UNSUPPORTED = { Task = "use an Action state", Parallel = "ZIS has no Parallel state" }
-- states that must say where to go next, or End = true
local NEEDS_NEXT = { Action = true, Map = true, Wait = true, Pass = true }

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= zis_core.array_metatable
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  if getmetatable(v) == zis_core.array_metatable then return true end
  return next(v) == nil or v[1] ~= nil
end

local function nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

-- Splits "zis:{integration}:{kind}:{name}".
local function parse_ref(ref, kind)
  if type(ref) ~= "string" then return nil end
  return ref:match("^zis:([^:]+):" .. kind .. ":(.+)$")
end

local Checker = {}
Checker.__index = Checker

function Checker:add(severity, path, message)
  self.problems[#self.problems + 1] = { severity = severity, path = path, message = message }
  if severity == "error" then self.errors = self.errors + 1 end
end

function Checker:error(path, message) self:add("error", path, message) end
function Checker:warning(path, message) self:add("warning", path, message) end

-- A reference to another resource: zis:{integration}:{kind}:{name}, where
-- name is a resource of that kind in this bundle, or zis:common:...
function Checker:check_ref(path, ref, kind, what)
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
  self.integrations[integration] = self.integrations[integration] or path
  if not self.names[kind][name] then
    self:error(path, format("'%s' names no %s of this bundle (defined: %s)", ref,
                            kind, self:defined(kind)))
  end
end

function Checker:defined(kind)
  local names = sorted_keys(self.names[kind])
  return #names > 0 and table.concat(names, ", ") or "none"
end

-- A state machine: {StartAt, States}, for a flow or a Map's Iterator.
function Checker:check_machine(path, def)
  if not is_object(def) then
    self:error(path, "must be an object with StartAt and States")
    return
  end
  local states = def.States
  if not is_object(states) or next(states) == nil then
    self:error(path .. ".States", "must be an object with at least one state")
    return
  end
  if not nonempty_string(def.StartAt) then
    self:error(path .. ".StartAt", "is required: the name of the first state")
  elseif states[def.StartAt] == nil then
    self:error(path .. ".StartAt", format("names no state ('%s'); states: %s",
               def.StartAt, table.concat(sorted_keys(states), ", ")))
  end
  local terminal = false
  local function target(p, name)
    if not nonempty_string(name) then
      self:error(p, "must name a state")
    elseif states[name] == nil then
      self:error(p, format("names no state ('%s'); states: %s", name,
                 table.concat(sorted_keys(states), ", ")))
    end
  end
  for _, name in ipairs(sorted_keys(states)) do
    local s, sp = states[name], path .. ".States." .. tostring(name)
    if not is_object(s) then
      self:error(sp, "must be an object")
    else
      local t = s.Type
      if UNSUPPORTED[t] then
        self:error(sp .. ".Type", format("'%s' is not supported by ZIS: %s", t, UNSUPPORTED[t]))
      elseif not STATE_TYPES[t] then
        self:error(sp .. ".Type", format("must be one of Action, Choice, Map, Wait, Succeed, " ..
                                         "Fail, Pass (got %s)", tostring(t)))
      end
      if t == "Succeed" or t == "Fail" or s.End == true then terminal = true end
      if s.Next ~= nil then target(sp .. ".Next", s.Next) end
      if NEEDS_NEXT[t] and s.Next == nil and s.End ~= true then
        self:error(sp, "needs Next (the state that follows) or End = true")
      end
      if t == "Choice" then
        if not is_array(s.Choices) or #s.Choices == 0 then
          self:error(sp .. ".Choices", "must be a non-empty array of rules")
        else
          for i, rule in ipairs(s.Choices) do
            local rp = format("%s.Choices[%d]", sp, i)
            if not is_object(rule) then self:error(rp, "must be an object")
            else target(rp .. ".Next", rule.Next) end
          end
        end
        if s.Default ~= nil then target(sp .. ".Default", s.Default) end
      elseif t == "Action" then
        self:check_ref(sp .. ".ActionName", s.ActionName, "action", "ActionName")
      elseif t == "Wait" then
        if s.Timestamp ~= nil or s.TimestampPath ~= nil then
          self:error(sp, "ZIS Wait takes only Seconds or SecondsPath, not a timestamp")
        elseif s.Seconds == nil and s.SecondsPath == nil then
          self:error(sp, "needs Seconds or SecondsPath")
        end
      elseif t == "Map" then
        if s.MaxConcurrency ~= nil then self:error(sp .. ".MaxConcurrency", "is not supported by ZIS") end
        if s.Parameters ~= nil then self:error(sp .. ".Parameters", "is not supported by ZIS in a Map") end
        self:check_machine(sp .. ".Iterator", s.Iterator)
      end
    end
  end
  if not terminal then
    self:error(path .. ".States", "no state ends the flow: add a Succeed or Fail state, or End = true")
  end
end

--- zis.validate(bundle [, opts]) -> ok, problems
-- bundle: a table or a JSON string.  opts.integration: the integration the
-- bundle is for (its references must name it).  ok is false when any
-- problem is an error; problems lists errors and warnings, each
-- {severity =, path =, message =}, in a stable order.
local function validate(bundle, opts)
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
  opts = opts or {}
  local c = setmetatable({ problems = {}, errors = 0, integrations = {},
                           names = { flow = {}, action = {}, job_spec = {} } }, Checker)
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
  local count = { flow = 0, action = 0, job_spec = 0 }
  for _, key in ipairs(keys) do
    local r, rp = resources[key], "resources." .. tostring(key)
    if not is_object(r) then
      c:error(rp, "must be an object with type and properties")
    else
      local kind = RESOURCE_TYPES[r.type]
      local p = r.properties
      if not kind then
        c:error(rp .. ".type", format("must be ZIS::Flow, ZIS::Action::Http or ZIS::JobSpec (got %s)",
                                      tostring(r.type)))
      elseif not is_object(p) then
        c:error(rp .. ".properties", "must be an object")
      else
        count[kind] = count[kind] + 1
        if not nonempty_string(p.name) then
          c:error(rp .. ".properties.name", "is required")
        elseif p.name ~= key then
          c:warning(rp .. ".properties.name", format("'%s' differs from the resource key '%s'; " ..
            "keep them equal (tools that map job specs back to bundles assume it)", p.name, key))
        end
        if kind == "flow" then
          c:check_machine(rp .. ".properties.definition", p.definition)
        elseif kind == "job_spec" then
          for _, f in ipairs{ "event_source", "event_type" } do
            if not nonempty_string(p[f]) then
              c:error(rp .. ".properties." .. f, "is required (e.g. support, ticket.TicketCreated)")
            end
          end
          c:check_ref(rp .. ".properties.flow_name", p.flow_name, "flow", "flow_name")
        elseif kind == "action" then
          local d = p.definition
          if not is_object(d) then
            c:error(rp .. ".properties.definition", "must be an object with method and url")
          else
            if not nonempty_string(d.method) then
              c:error(rp .. ".properties.definition.method", "is required (GET, POST, ...)")
            end
            if d.url == nil and d["url.$"] == nil then
              c:error(rp .. ".properties.definition", "needs url or url.$")
            end
          end
        end
      end
    end
  end
  if count.flow == 0 then c:error("resources", "a bundle needs at least one ZIS::Flow") end
  if count.job_spec == 0 then
    c:error("resources", "a bundle needs at least one ZIS::JobSpec (nothing would run the flow)")
  end
  -- references should all name one integration: the one deployed to
  for integration, path in pairs(c.integrations) do
    if opts.integration and integration ~= opts.integration then
      c:error(path, format("names integration '%s', but the bundle is for '%s'", integration,
                           opts.integration))
    end
  end
  sort(c.problems, function(a, b)
    if a.severity ~= b.severity then return a.severity == "error" end
    return a.path < b.path
  end)
  return c.errors == 0, c.problems
end

return validate

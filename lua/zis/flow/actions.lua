-- zis.flow.actions: what an Action state calls, simulated.
--
-- Built-in actions
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/zis-built-in-actions/)
-- run against the run's own copies of opts.configs and opts.links, and
-- zis:common:transform:Jq runs jq through zis.jq (libjq).  Custom HTTP
-- actions (ZIS::Action::Http resources,
-- https://developer.zendesk.com/documentation/integration-services/developer-guide/zis-custom-actions/)
-- build the request they would send, which the trace records, and take
-- their answer from opts.stubs[name], or from opts.http when given.
--
-- call(run, ref, params) -> result, request.  A failure the flow can
-- catch raises a path.FlowError; a failure of the simulation itself (no
-- stub, a stub that raises) raises a SimError, which no Catch handles.

local zis_core = require "zis.core"
local path = require "zis.flow.path"

local error, getmetatable, ipairs, math, next, pairs, pcall, setmetatable, string, table, tostring, type =
      error, getmetatable, ipairs, math, next, pairs, pcall, setmetatable, string, table, tostring, type

local NULL, ARRAY_MT = zis_core.null, zis_core.array_metatable
local decode_json = zis_core.decode_json
local copy, raise, is_array, is_object = path.copy, path.raise, path.is_array, path.is_object

local M = {}

-- The simulation cannot go on (not the flow's fault): never caught.
local SimError = {}
SimError.__index = SimError
SimError.__tostring = function(e) return e.error .. ": " .. e.cause end
M.SimError = SimError
local function sim_fail(name, cause)
  error(setmetatable({ error = name, cause = cause }, SimError), 0)
end
function M.is_sim_error(e) return getmetatable(e) == SimError end
M.sim_fail = sim_fail

-- Assumption: Zendesk names no error for a failed action; ASL's
-- States.TaskFailed is used (only States.ALL can be caught in ZIS anyway).
local TASK_FAILED = "States.TaskFailed"

local function array(t) return setmetatable(t or {}, ARRAY_MT) end

local function need_string(params, key, action)
  local v = is_object(params) and params[key] or nil
  if type(v) ~= "string" and math.type(v) == nil then
    raise(TASK_FAILED, action .. ": the parameter '" .. key .. "' is required (a string)")
  end
  return tostring(v)
end

-- "a*b" with * as a wildcard (configs' scope and links' names accept an
-- asterisk: ZIS Configs and Links APIs).
local function wildcard(pattern, s)
  if not pattern:find("*", 1, true) then return pattern == s end
  return s:find("^" .. pattern:gsub("[^%w*]", "%%%0"):gsub("%*", ".*") .. "$") ~= nil
end

-- Merges b into a (objects only, recursively): PatchConfig "merges
-- changes with the existing configuration".
local function merge(a, b)
  if not is_object(a) or not is_object(b) then return copy(b) end
  local out = copy(a)
  for k, v in pairs(b) do out[k] = merge(out[k], v) end
  return out
end

---------------------------------------------------------------------------
-- Built-in actions
---------------------------------------------------------------------------

local BUILTIN = {}

-- LoadConfig {scope} -> {config = ...}; with a wildcard, the first
-- matching scope ("this action only returns the first configuration
-- found"; here: the first in sorted order).
BUILTIN["zis:common:action:LoadConfig"] = function(run, p)
  local scope = need_string(p, "scope", "LoadConfig")
  local scopes = {}
  for s in pairs(run.configs) do scopes[#scopes + 1] = s end
  table.sort(scopes)
  for _, s in ipairs(scopes) do
    if wildcard(scope, s) then return { config = copy(run.configs[s]) } end
  end
  -- opts.client, when given, is read for a scope the run does not hold
  -- (read only: PatchConfig never writes to it)
  if run.client and run.integration then
    local ok, page = pcall(run.client.list_configs, run.client, run.integration, { scope = scope })
    local found = ok and is_object(page) and is_array(page.configs) and page.configs[1]
    if found then return { config = copy(found.config) } end
  end
  -- Assumption: a missing config fails the action (the Configs API answers 404)
  raise(TASK_FAILED, "LoadConfig: no config for scope '" .. scope .. "' (give it in configs, " ..
        "or --config " .. scope .. "=FILE)")
end

-- PatchConfig {scope, config}: "No response from this action": the
-- result is an empty object (an assumption: Zendesk does not say what
-- ResultPath receives).
BUILTIN["zis:common:action:PatchConfig"] = function(run, p)
  local scope = need_string(p, "scope", "PatchConfig")
  if not is_object(p.config) then
    raise(TASK_FAILED, "PatchConfig: the parameter 'config' is required (an object)")
  end
  run.configs[scope] = merge(run.configs[scope], p.config)
  return path.new_object()
end

local function link_matches(l, p)
  if l.link_type ~= p.link_type then return false end
  local left, right = p.left_object_name, p.right_object_name
  local ln = is_object(l.left_object) and tostring(l.left_object.name) or ""
  local rn = is_object(l.right_object) and tostring(l.right_object.name) or ""
  return (left == nil or wildcard(tostring(left), ln)) and (right == nil or wildcard(tostring(right), rn))
end

-- LoadLinks {link_type, left_object_name and/or right_object_name,
-- page_size} -> {links = [...], count = n}.  Assumption: the shape of
-- the Links API's list answer (links, count); no cursor.
BUILTIN["zis:common:action:LoadLinks"] = function(run, p)
  need_string(p, "link_type", "LoadLinks")
  if p.left_object_name == nil and p.right_object_name == nil then
    raise(TASK_FAILED, "LoadLinks: one or both of left_object_name and right_object_name is required")
  end
  local size = math.tointeger(p.page_size) or 20
  local out = array()
  for _, l in ipairs(run.links) do
    if #out < size and link_matches(l, p) then out[#out + 1] = copy(l) end
  end
  return { links = out, count = #out }
end

local function link_object(v, key, action)
  if not is_object(v) or v.name == nil then
    raise(TASK_FAILED, action .. ": the parameter '" .. key .. "' needs a name")
  end
  local o = copy(v)
  o.name = path.as_text(o.name)   -- names are strings in the Links API
  return o
end

-- CreateLink {link_type, left_object{name}, right_object{name}} -> {link}
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/zis-links/).
BUILTIN["zis:common:action:CreateLink"] = function(run, p)
  local l = { link_type = need_string(p, "link_type", "CreateLink"),
              left_object = link_object(p.left_object, "left_object", "CreateLink"),
              right_object = link_object(p.right_object, "right_object", "CreateLink"),
              integration = run.integration,
              uuid = string.format("00000000-0000-4000-8000-%012d", #run.links + 1) }
  for _, old in ipairs(run.links) do
    if old.link_type == l.link_type and old.left_object.name == l.left_object.name
       and old.right_object.name == l.right_object.name then
      -- Assumption: the Links API refuses a second link with the same names
      raise(TASK_FAILED, "CreateLink: a link " .. l.link_type .. " " .. l.left_object.name .. " -> " ..
            l.right_object.name .. " exists already")
    end
  end
  run.links[#run.links + 1] = l
  return { link = copy(l) }
end

local function find_link(run, p, action)
  need_string(p, "link_type", action)
  need_string(p, "left_object_name", action)
  need_string(p, "right_object_name", action)
  for i, l in ipairs(run.links) do
    if l.link_type == p.link_type and l.left_object.name == tostring(p.left_object_name)
       and l.right_object.name == tostring(p.right_object_name) then
      return i, l
    end
  end
  raise(TASK_FAILED, action .. ": no link " .. tostring(p.link_type) .. " " .. tostring(p.left_object_name) ..
        " -> " .. tostring(p.right_object_name))
end

-- PatchLink {link_type, left_object_name, right_object_name,
-- left_object?, right_object?} -> {link}.  Assumption: the parameters of
-- the Links API's update endpoint.
BUILTIN["zis:common:action:PatchLink"] = function(run, p)
  local _, l = find_link(run, p, "PatchLink")
  if p.left_object ~= nil then
    l.left_object = merge(l.left_object, link_object(p.left_object, "left_object", "PatchLink"))
  end
  if p.right_object ~= nil then
    l.right_object = merge(l.right_object, link_object(p.right_object, "right_object", "PatchLink"))
  end
  return { link = copy(l) }
end

-- DeleteLink {link_type, left_object_name, right_object_name}: no answer.
BUILTIN["zis:common:action:DeleteLink"] = function(run, p)
  local i = find_link(run, p, "DeleteLink")
  table.remove(run.links, i)
  return path.new_object()
end

-- Transform {expr, data}: the jq program's output.  Assumption: one
-- output is the result; several are an array of them; none is null.
BUILTIN["zis:common:transform:Jq"] = function(_, p)
  local expr = is_object(p) and p.expr
  if type(expr) ~= "string" then
    raise(TASK_FAILED, "Jq: the parameter 'expr' is required (a jq program as a string)")
  end
  local data = p.data
  if data == nil then data = NULL end
  local ok, jq = pcall(require, "zis.jq")
  if not ok then sim_fail("Simulator.NoJq", "zis.jq (libjq) cannot be loaded: " .. tostring(jq)) end
  local out, why = jq.eval(expr, data)
  if not out then raise(TASK_FAILED, "Jq: " .. tostring(why):gsub("^jq: ", "")) end
  if #out == 0 then return NULL end
  if #out == 1 then return out[1] end
  return array(out)
end

-- The names of the brief's first draft, kept as aliases of Zendesk's.
BUILTIN["zis:common:action:CreateLinks"] = BUILTIN["zis:common:action:CreateLink"]
BUILTIN["zis:common:action:PatchLinks"] = BUILTIN["zis:common:action:PatchLink"]
BUILTIN["zis:common:action:DeleteLinks"] = BUILTIN["zis:common:action:DeleteLink"]

M.BUILTIN = BUILTIN

---------------------------------------------------------------------------
-- Custom HTTP actions
---------------------------------------------------------------------------

-- headers / queryParams: [{key, value | value.$}] or "headers.$": a path
-- to such a list -> an object name -> value (the last of a repeated key).
local function pairs_of(def, field, input, action)
  local list = def[field]
  if def[field .. ".$"] ~= nil then list = path.dynamic(def[field .. ".$"], input, action .. "." .. field) end
  local out = path.new_object()
  if list == nil then return out end
  if not is_array(list) then
    if is_object(list) and next(list) == nil then return out end
    raise(TASK_FAILED, action .. ": " .. field .. " must be a list of {key, value}")
  end
  for _, kv in ipairs(list) do
    if is_object(kv) and kv.key ~= nil then
      local v = kv.value
      if kv["value.$"] ~= nil then v = path.dynamic(kv["value.$"], input, action .. "." .. field) end
      out[tostring(kv.key)] = path.as_text(v)
    end
  end
  return out
end

-- The request an HTTP action would send, its templates resolved against
-- the action's input (the state's Parameters).  No credential is ever
-- added: a connection is recorded by name only.
function M.request(run, name, def, input)
  local where = "action " .. name
  local req = { action = name, method = tostring(def.method or "GET"):upper() }
  if def["url.$"] ~= nil then req.url = path.as_text(path.dynamic(def["url.$"], input, where .. ".url"))
  elseif def.url ~= nil then req.url = def.url end
  if def["path.$"] ~= nil then req.path = path.as_text(path.dynamic(def["path.$"], input, where .. ".path"))
  elseif def.path ~= nil then req.path = def.path end
  req.connection = def.connectionName
  if req.url == nil and req.path ~= nil and req.connection ~= nil then
    local c = run.connections[req.connection]
    local domain = is_object(c) and (c.allowed_domain or c.domain) or nil
    if type(domain) == "string" then req.url = "https://" .. domain .. req.path end
  end
  req.headers = pairs_of(def, "headers", input, where)
  req.query = pairs_of(def, "queryParams", input, where)
  if def["requestBody.$"] ~= nil then
    req.body = copy(path.dynamic(def["requestBody.$"], input, where .. ".requestBody"))
  elseif def.requestBody ~= nil then
    req.body = path.fill(def.requestBody, input, where .. ".requestBody")
  end
  return req
end

-- A stub's answer -> {status, body, headers}.  {status =, body =,
-- headers =} is a full answer; any other table is a 200 JSON body.
local ANSWER_KEYS = { status = true, body = true, headers = true }
local function as_response(v, name)
  if type(v) == "table" and math.type(v.status) == "integer" then
    for k in pairs(v) do
      if not ANSWER_KEYS[k] then return { status = 200, body = v } end
    end
    return { status = v.status, body = v.body, headers = v.headers or {} }
  end
  if type(v) == "table" or type(v) == "string" or math.type(v) or type(v) == "boolean" then
    return { status = 200, body = v, headers = {} }
  end
  sim_fail("Simulator.StubError", "the stub of " .. name .. " answered with nothing usable " ..
           "(give a table {status =, body =, headers =}, a JSON body, or a function returning one)")
end

local function stub_answer(run, name, stub, req)
  if type(stub) == "function" then
    local ok, v = pcall(stub, copy(req))
    if not ok then sim_fail("Simulator.StubError", "the stub of " .. name .. " raised: " .. tostring(v)) end
    return as_response(v, name)
  end
  if is_array(stub) then
    local n = (run.stub_calls[name] or 0) + 1
    run.stub_calls[name] = n
    if stub[n] == nil then
      sim_fail("Simulator.StubExhausted", "the stub of " .. name .. " has " .. #stub ..
               " answer(s); call " .. n .. " has none (add answers to its list)")
    end
    return as_response(stub[n], name)
  end
  return as_response(stub, name)
end

-- A 2xx body as the action's result: JSON as a value, other text under
-- __httpresponse (zis-custom-actions: "Otherwise, the response is
-- available in $.RESULT_PATH.__httpresponse").
local function body_result(body)
  if body == nil then return path.new_object() end
  if type(body) == "string" then
    local v = decode_json(body)
    if v ~= nil then return v end
    return { __httpresponse = body }
  end
  return copy(body)
end

local function call_http(run, name, def, input)
  local req = M.request(run, name, def, input)
  local stub = run.stubs[name]
  local resp
  if stub ~= nil then
    resp = stub_answer(run, name, stub, req)
  elseif run.http then
    local ok, v = pcall(run.http, copy(req))
    if not ok then sim_fail("Simulator.HttpError", "sending " .. name .. " failed: " .. tostring(v)) end
    resp = as_response(v, name)
  else
    sim_fail("Simulator.NoStub", "action " .. name .. " has no stub: give stubs[\"" .. name ..
             "\"] (a response table, a list, or a function), or --stub " .. name .. "=FILE")
  end
  req.status = resp.status
  if math.type(resp.status) ~= "integer" or resp.status < 200 or resp.status > 299 then
    -- ZIS: "external action failed due to status code: {http_status_code}"
    -- (https://developer.zendesk.com/documentation/integration-services/developer-guide/state-retry-error-handling/)
    raise(TASK_FAILED, "external action failed due to status code: " .. tostring(resp.status))
  end
  return body_result(resp.body), req
end

--- call(run, ref, params) -> result, request (nil for a built-in).
-- ref is the state's ActionName.
function M.call(run, ref, params)
  local builtin = BUILTIN[ref]
  if builtin then
    -- a stub may stand in for a built-in too (say, a LoadConfig answer)
    local short = ref:match("[^:]+$")
    if run.stubs[ref] ~= nil or run.stubs[short] ~= nil then
      local resp = stub_answer(run, short, run.stubs[ref] or run.stubs[short], { action = short, body = params })
      if resp.status < 200 or resp.status > 299 then
        raise(TASK_FAILED, "external action failed due to status code: " .. tostring(resp.status))
      end
      return body_result(resp.body)
    end
    return builtin(run, params)
  end
  if ref:match("^zis:common:") then
    sim_fail("Simulator.UnknownBuiltin", "'" .. ref .. "' is not a built-in action this simulator knows " ..
             "(it knows LoadConfig, PatchConfig, LoadLinks, CreateLink, PatchLink, DeleteLink and " ..
             "zis:common:transform:Jq); stub it with stubs[\"" .. ref:match("[^:]+$") .. "\"]")
  end
  local name = ref:match("^zis:[^:]+:action:(.+)$")
  local def = name and run.actions[name]
  if not def then
    raise("States.Runtime", "'" .. tostring(ref) .. "' names no action of this bundle")
  end
  return call_http(run, name, def, params)
end

return M

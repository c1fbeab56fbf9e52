-- zis.flow.path: reference paths, path placeholders and Parameters, as
-- a ZIS flow reads and writes its data.
--
-- ZIS's flow language is "similar to Amazon States Language"
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/understanding-flow-states/);
-- where Zendesk's pages say nothing, the Amazon States Language spec
-- (https://states-language.net/spec.html) decides.
--
-- The subset of JSONPath a reference path may use: $, $.a.b, $.a[0],
-- $['x'] and $["x"] (ASL, "Reference Paths": a path that selects one
-- node only, no wildcards, filters or slices).  Indexes are 0-based, as
-- in JSONPath.  $$ (ASL's context object) is refused: ZIS documents none.
--
-- Values are never changed in place: set() copies along the path it
-- writes, so a value the trace has recorded keeps what it had.

local zis_core = require "zis.core"

local error, getmetatable, ipairs, math, pairs, pcall, setmetatable, table, tonumber, tostring, type =
      error, getmetatable, ipairs, math, pairs, pcall, setmetatable, table, tonumber, tostring, type

local NULL = zis_core.null
local ARRAY_MT, OBJECT_MT = zis_core.array_metatable, zis_core.object_metatable
local encode_json = zis_core.encode_json

local M = {}

-- A runtime error of the flow: raised as a table so the runner can tell
-- it from a bug and hand it to Catch (ASL "Errors": States.* names).
local FlowError = {}
FlowError.__index = FlowError
FlowError.__tostring = function(e) return e.error .. ": " .. e.cause end
M.FlowError = FlowError

function M.raise(name, cause)
  error(setmetatable({ error = name, cause = cause }, FlowError), 0)
end

function M.is_flow_error(e) return getmetatable(e) == FlowError end

-- Arrays and objects as every module reads them (zis.util).
local is_array, is_object = require("zis.util").is_array, require("zis.util").is_object
M.is_array, M.is_object = is_array, is_object

--- The JSON type name of a value, for messages ("object", "array",
-- "string", "number", "boolean", "null", or "missing").
function M.json_type(v)
  if v == nil then return "missing" end
  if v == NULL then return "null" end
  if type(v) == "table" then return is_array(v) and "array" or "object" end
  return type(v)
end

--- A deep copy that keeps the array/object marks.
local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return setmetatable(out, getmetatable(v))
end
M.copy = copy

function M.new_object() return setmetatable({}, OBJECT_MT) end

---------------------------------------------------------------------------
-- Parsing a reference path
---------------------------------------------------------------------------

local cache = setmetatable({}, { __mode = "k" })

-- "$.a['b c'][2]" -> { "a", "b c", 2 } (indexes 0-based, as written), or
-- nil, why.
local function parse(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "$" then
    return nil, "a reference path starts with $"
  end
  if path:sub(1, 2) == "$$" then
    return nil, "context paths ($$) are not part of ZIS's flow language"
  end
  local segs, i, n = {}, 2, #path
  while i <= n do
    local c = path:sub(i, i)
    if c == "." then
      local name = path:match("^[^%.%[%]]+", i + 1)
      if not name then return nil, "a name must follow '.' at character " .. i end
      if name:find("[*?@]") then return nil, "wildcards and filters are not reference paths" end
      segs[#segs + 1] = name
      i = i + 1 + #name
    elseif c == "[" then
      local num = path:match("^%[(%d+)%]", i)
      if num then
        segs[#segs + 1] = math.tointeger(tonumber(num))
        i = i + 2 + #num
      else
        local q = path:sub(i + 1, i + 1)
        if q ~= "'" and q ~= '"' then
          return nil, "only [N] and ['name'] may follow '[' (character " .. i .. ")"
        end
        local close = path:find(q .. "]", i + 2, true)
        if not close then return nil, "unclosed [" .. q .. " at character " .. i end
        segs[#segs + 1] = path:sub(i + 2, close - 1)
        i = close + 2
      end
    else
      return nil, "unexpected '" .. c .. "' at character " .. i
    end
  end
  return segs
end

local function segments(path)
  local hit = cache[path]
  if hit then return hit end
  local segs, why = parse(path)
  if not segs then
    -- ASL: an invalid path is a runtime error of the state (States.Runtime)
    M.raise("States.Runtime", "'" .. tostring(path) .. "' is not a reference path: " .. why)
  end
  return segs
end

function M.check(path)
  return parse(path)
end

--- get(data, path) -> found, value.  A missing key, an index past the
-- end, or a step into a value that is not an object or array is "not
-- found" (the caller decides whether that is an error).
function M.get(data, path)
  local v = data
  for _, s in ipairs(segments(path)) do
    if math.type(s) == "integer" then
      if not is_array(v) then return false end
      v = v[s + 1]
    else
      if not is_object(v) then return false end
      v = v[s]
    end
    if v == nil then return false end
  end
  return true, v
end

--- resolve(data, path, what) -> value, or raises States.Runtime naming
-- the path: ASL "Errors" (a path that does not match is States.Runtime);
-- ZIS's retry page lists "JSON path resolution errors" among runtime errors
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/state-retry-error-handling/).
function M.resolve(data, path, what)
  local found, v = M.get(data, path)
  if not found then
    M.raise("States.Runtime", (what and what .. ": " or "") .. "the path '" .. path ..
            "' matches nothing in the state's input")
  end
  return v
end

--- set(data, path, value) -> a new value: data with value at path.  "$"
-- replaces the whole; missing objects along the path are created (ASL
-- "ResultPath": "the ResultPath field's value ... new fields are added");
-- a step into a value that is not an object is States.ResultPathMatchFailure.
function M.set(data, path, value)
  local segs = segments(path)
  if #segs == 0 then return value end
  local root = is_object(data) and copy(data) or nil
  if root == nil then
    M.raise("States.ResultPathMatchFailure", "ResultPath '" .. path .. "' needs the state's input " ..
            "to be an object (got " .. M.json_type(data) .. ")")
  end
  local node = root
  for k = 1, #segs - 1 do
    local s = segs[k]
    local key = math.type(s) == "integer" and s + 1 or s
    if math.type(s) == "integer" and not is_array(node) or math.type(s) ~= "integer" and not is_object(node) then
      M.raise("States.ResultPathMatchFailure", "ResultPath '" .. path .. "' steps into a " ..
              M.json_type(node))
    end
    local child = node[key]
    if child == nil then
      child = M.new_object()
    elseif type(child) ~= "table" then
      M.raise("States.ResultPathMatchFailure", "ResultPath '" .. path .. "' steps into a " ..
              M.json_type(child) .. " at '" .. tostring(s) .. "'")
    end
    node[key] = child   -- already a copy: root was copied deeply
    node = child
  end
  local last = segs[#segs]
  if math.type(last) == "integer" then
    if not is_array(node) then
      M.raise("States.ResultPathMatchFailure", "ResultPath '" .. path .. "' indexes a " .. M.json_type(node))
    end
    node[last + 1] = value
  else
    if not is_object(node) then
      M.raise("States.ResultPathMatchFailure", "ResultPath '" .. path .. "' names a key of a " ..
              M.json_type(node))
    end
    node[last] = value
  end
  return root
end

---------------------------------------------------------------------------
-- Path placeholders: "Ticket {{$.input.ticket_event.ticket.id}}"
---------------------------------------------------------------------------

-- A value as placeholder text: a string as it is, anything else as JSON.
-- Assumption: Zendesk documents placeholders with scalar values only.
local function as_text(v)
  if type(v) == "string" then return v end
  if v == NULL then return "null" end
  local ok, text = pcall(encode_json, v)
  return ok and text or tostring(v)
end
M.as_text = as_text

function M.has_placeholder(s)
  return type(s) == "string" and s:find("{{", 1, true) ~= nil
end

--- expand(s, data, what) -> s with each {{$path}} replaced by the text of
-- its value (custom actions: "url.$": "https://webhook.site/{{$.path_name}}",
-- https://developer.zendesk.com/documentation/integration-services/developer-guide/zis-custom-actions/).
-- A placeholder whose path matches nothing is a runtime error.
function M.expand(s, data, what)
  return (s:gsub("{{%s*(%$[^}]*)%s*}}", function(p)
    p = p:gsub("%s+$", "")
    return as_text(M.resolve(data, p, what))
  end))
end

--- A ".$" value: a path placeholder string when it holds {{...}}, else
-- a reference path whose value is taken as it is (ASL "Parameters": a
-- key ending in .$ takes a path).  Anything else is a runtime error.
function M.dynamic(s, data, what)
  if type(s) ~= "string" then
    M.raise("States.Runtime", what .. ": the value of a '.$' key must be a string (got " ..
            M.json_type(s) .. ")")
  end
  if M.has_placeholder(s) then return M.expand(s, data, what) end
  if s:sub(1, 1) == "$" then return M.resolve(data, s, what) end
  M.raise("States.Runtime", what .. ": '" .. s .. "' is neither a reference path ($...) nor " ..
          "holds a {{$...}} placeholder")
end

--- Message, Error and Cause of Succeed and Fail "support reference paths
-- and path placeholders"
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/fail-state/).
-- A value that is one reference path (no spaces) takes its value's text.
function M.text(s, data, what)
  if type(s) ~= "string" then return s end
  if M.has_placeholder(s) then return M.expand(s, data, what) end
  if s:match("^%$[^%s]*$") then return as_text(M.resolve(data, s, what)) end
  return s
end

--- fill(template, data, what) -> Parameters (or requestBody, Result
-- selector) resolved against data: keys ending in ".$" lose the suffix
-- and take dynamic(value); nested objects and arrays are filled the same
-- way; other values are copied (ASL "Parameters").
function M.fill(t, data, what)
  if type(t) ~= "table" then return t end
  if is_array(t) then
    local out = setmetatable({}, ARRAY_MT)
    for i, v in ipairs(t) do out[i] = M.fill(v, data, what) end
    return out
  end
  local out = M.new_object()
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    local base = type(k) == "string" and k:match("^(.*)%.%$$")
    if base then
      out[base] = copy(M.dynamic(v, data, (what or "Parameters") .. "." .. k))
    else
      out[k] = M.fill(v, data, what)
    end
  end
  return out
end

function M.is_null(v) return v == NULL end
M.null = NULL

return M

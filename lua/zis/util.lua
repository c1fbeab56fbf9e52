-- zis.util: small helpers the Lua modules share.

local core = require "zis.core"

local getmetatable, next, pairs, pcall, sort, tostring, type =
      getmetatable, next, pairs, pcall, table.sort, tostring, type
local format = string.format

local M = {}

local ARRAY_MT, OBJECT_MT = core.array_metatable, core.object_metatable

--- Is v what the encoder writes as a JSON array?  A table the decoder
-- made from an array (or marked zis.array), or an unmarked sequence.  An
-- empty unmarked table is an object ({}), as the encoder writes it: where
-- a caller's empty Lua table should count as an empty list, say so with
-- is_empty.  One meaning, for every module.
function M.is_array(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt == ARRAY_MT then return true end
  if mt == OBJECT_MT then return false end
  return v[1] ~= nil
end

--- Is v what the encoder writes as a JSON object?
function M.is_object(v)
  return type(v) == "table" and not M.is_array(v)
end

--- Is v an unmarked empty table (a Lua {} that may mean [] or {})?
function M.is_empty(v)
  return type(v) == "table" and getmetatable(v) == nil and next(v) == nil
end

--- Does v hold a list where the API takes one: an array, or an unmarked
-- empty table (a Lua {} written for "none").
function M.is_list(v)
  return M.is_array(v) or M.is_empty(v)
end

--- One step of a JSON path: .key for a plain key, ["odd key"] (JSON
-- quoted) otherwise, [n] for an index; the path's root is "".
function M.path_step(key)
  if type(key) == "number" then return "[" .. tostring(key) .. "]" end
  key = tostring(key)
  if key:match("^[%w_%-]+$") then return "." .. key end
  -- a key that is not UTF-8 cannot be JSON text: quote it as Lua would
  local ok, quoted = pcall(core.encode_json, key)
  return "[" .. (ok and quoted or format("%q", key)) .. "]"
end

--- path .. step, with no leading "." at the root.
function M.join_path(path, key)
  local s = M.path_step(key)
  if path == "" then return (s:gsub("^%.", "")) end
  return path .. s
end

--- The keys of t, sorted as text, so output built from a table (problems,
-- diagrams, plans) comes out the same every time.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

return M

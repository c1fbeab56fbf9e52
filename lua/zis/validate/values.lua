-- zis.validate.values: the tests of a value that zis.validate's rules
-- share: an array as validate reads one, a non-empty string, a reference
-- path, a value's JSON type name, and the parts of a zis:... reference.

local zis_core = require "zis.core"

local type = type
local null = zis_core.null

local M = {}

-- Arrays and objects as every module reads them (zis.util; a bundle
-- written as Lua may give an empty {} where a list is expected: is_list).
local util = require "zis.util"
local is_object = util.is_object

function M.nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

function M.is_path(v)
  return type(v) == "string" and v:sub(1, 1) == "$"
end

function M.json_type(v)
  if v == null then return "null" end
  if type(v) == "table" then return is_object(v) and "object" or "array" end
  return type(v)
end

-- Splits "zis:{integration}:{kind}:{name}".
function M.parse_ref(ref, kind)
  if type(ref) ~= "string" then return nil end
  return ref:match("^zis:([^:]+):" .. kind .. ":(.+)$")
end

return M

-- pretty_json as lua-zis wrote it in Lua before it moved into C: the
-- reference for its output format (spec/json_codec_spec.lua) and the
-- baseline for its speed (bench/json.lua).
local zis = require "zis"

local encode_json, array_mt, object_mt = zis.encode_json, zis.array_metatable, zis.object_metatable

local function is_array(t)
  local mt = getmetatable(t)
  if mt == array_mt then return true end
  if mt == object_mt then return false end
  return next(t) ~= nil and t[1] ~= nil
end

local function pretty(v, indent, out)
  if type(v) ~= "table" then out[#out + 1] = encode_json(v) return end
  local inner = indent .. "  "
  if is_array(v) then
    encode_json(v)
    if #v == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, #v do
      out[#out + 1] = inner
      pretty(v[i], inner, out)
      out[#out + 1] = i < #v and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  if #keys == 0 then out[#out + 1] = "{}" return end
  for _, k in ipairs(keys) do if type(k) ~= "string" then encode_json(v) end end
  table.sort(keys)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. encode_json(k) .. ": "
    pretty(v[k], inner, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

return function(value)
  local out = {}
  pretty(value, "", out)
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- zis.plan.diff: exact comparison of JSON values, and the JSON paths where
-- two values differ (how plan shows what changed inside a bundle or a
-- config).

local zis_core = require "zis.core"
local manifest = require "zis.manifest"

local getmetatable, ipairs, pairs, type = getmetatable, ipairs, pairs, type
local sort = table.sort
local array, array_mt = zis_core.array, zis_core.array_metatable
local join = manifest.join

local M = {}

-- Is b the same JSON as a: integers vs floats, arrays vs objects, null,
-- strings byte for byte?
local function same(a, b)
  local ta = type(a)
  if ta ~= type(b) then return false end
  if ta == "number" then return math.type(a) == math.type(b) and a == b end
  if ta ~= "table" then return a == b end
  if (getmetatable(a) == array_mt) ~= (getmetatable(b) == array_mt) then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M.same = same

-- Appends {op =, path =} to out for each difference from live to declared:
-- added (declared only), removed (live only), changed (the deepest path
-- where both have a value and they differ).
local function diff(live, declared, path, out)
  if same(live, declared) then return end
  if type(live) == "table" and type(declared) == "table"
     and (getmetatable(live) == array_mt) == (getmetatable(declared) == array_mt) then
    local keys, seen = {}, {}
    for k in pairs(live) do keys[#keys + 1], seen[k] = k, true end
    for k in pairs(declared) do if not seen[k] then keys[#keys + 1] = k end end
    sort(keys, function(x, y)
      if type(x) == type(y) then return x < y end
      return type(x) == "number"
    end)
    for _, k in ipairs(keys) do
      local p = join(path, k)
      if live[k] == nil then out[#out + 1] = { op = "added", path = p }
      elseif declared[k] == nil then out[#out + 1] = { op = "removed", path = p }
      else diff(live[k], declared[k], p, out) end
    end
    return
  end
  out[#out + 1] = { op = "changed", path = path }
end
M.diff = diff

-- The top-level fields of a bundle that plan compares; uuid, name,
-- integration and zendesk_account_id are the server's.
local BUNDLE_FIELDS = { "description", "resources", "zis_template_version" }

-- The differences between a live bundle and the manifest's, as paths.
function M.bundle(live, declared)
  local out = array{}
  for _, f in ipairs(BUNDLE_FIELDS) do
    local d = declared[f]
    if f == "description" and d == nil then d = "" end
    local l = live[f]
    -- a field the manifest's bundle does not have is not compared
    if l == nil and d ~= nil then out[#out + 1] = { op = "added", path = f }
    elseif d ~= nil then diff(l, d, f, out) end
  end
  return out
end

-- The differences between two configs, as paths under "config".
function M.config(live, declared)
  local out = array{}
  diff(live, declared, "config", out)
  return out
end

return M

-- zis.util: small helpers the Lua modules share.

local pairs, sort, tostring = pairs, table.sort, tostring

local M = {}

--- The keys of t, sorted as text, so output built from a table (problems,
-- diagrams, plans) comes out the same every time.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

return M

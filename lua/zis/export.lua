-- client:export: every bundle of an integration, with its resources, to a
-- folder of pretty JSON files, fetched concurrently on one connection pool.
--
-- Each file is written to a temporary name and renamed into place, so a
-- file is there whole or not at all; a bundle that failed to fetch is
-- reported, and the others are still written.

local zis_core = require "zis.core"

local io, ipairs, math, os, pairs, table, tostring, type =
      io, ipairs, math, os, pairs, table, tostring, type

-- A file name from a bundle name: letters, digits, . _ - kept, the rest _.
local function file_name(name, uuid, used)
  local base = (type(name) == "string" and name ~= "") and name or uuid
  base = base:gsub("[^%w%._%-]", "_"):gsub("^%.", "_")
  if used[base] then base = base .. "-" .. uuid:gsub("[^%w%-]", "_") end
  used[base] = true
  return base .. ".json"
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Writes `text` to `path` whole, or not at all.
local function write_whole(path, text)
  local tmp = path .. ".tmp-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e9))
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, werr or cerr
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end

--- client:export(integration, dir [, opts]) -> report
-- opts: concurrency (default 8), progress (function(done, total)).
-- report: ok, dir, written ({name, uuid, file}), failed ({uuid, error}).
local function export(client, integration, dir, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #3 to 'export' (table expected)", 2) end
  for k in pairs(opts) do
    if k ~= "concurrency" and k ~= "progress" then
      error("bad argument #3 to 'export' (unknown option '" .. tostring(k) .. "')", 2)
    end
  end
  if not require("zis.client").valid_name(integration) then
    error("bad argument #1 to 'export' (integration name must be 1 to 64 of a-z 0-9 - _)", 2)
  end
  if type(dir) ~= "string" or dir == "" or dir:find("%z") then
    error("bad argument #2 to 'export' (a folder path expected)", 2)
  end
  local pretty_json = require("zis").pretty_json
  local report = { ok = false, dir = dir, written = {}, failed = {} }
  -- the list first: names and uuids (an error here raises from the iterator)
  local listed = {}
  local ok, err = pcall(function()
    for b in client:bundles(integration, { page_size = 100 }) do listed[#listed + 1] = b end
  end)
  if not ok then
    report.error = err
    return report
  end
  if not os.execute("mkdir -p " .. shell_quote(dir)) then
    report.error = "cannot create folder " .. dir
    return report
  end
  local uuids = {}
  for i, b in ipairs(listed) do uuids[i] = b.uuid end
  local total, done = #uuids, 0
  local progress = opts.progress
  if progress then progress(0, total) end
  -- fetch in chunks, so the progress line moves and memory stays bounded
  local used = {}
  local chunk = (opts.concurrency or 8) * 4
  for first = 1, total, chunk do
    local part = table.move(uuids, first, math.min(first + chunk - 1, total), 1, {})
    local bundles, errors = client:get_bundles(integration, part, { concurrency = opts.concurrency })
    for i, uuid in ipairs(part) do
      local b = bundles[i]
      if b then
        local file = dir .. "/" .. file_name(b.name, uuid, used)
        local wok, werr = write_whole(file, pretty_json(b))
        if wok then
          report.written[#report.written + 1] = { name = b.name, uuid = uuid, file = file }
        else
          report.failed[#report.failed + 1] = { uuid = uuid, error = werr }
        end
      else
        report.failed[#report.failed + 1] = { uuid = uuid, error = errors and errors[i] }
      end
      done = done + 1
    end
    if progress then progress(done, total) end
  end
  report.ok = #report.failed == 0
  return report
end

return export

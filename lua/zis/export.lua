-- client:export: every bundle of an integration, with its resources, to a
-- folder of pretty JSON files, fetched concurrently on one connection pool.
--
-- Each file is written to a temporary name and renamed into place (by
-- zis.core.write_file), so a file is there whole or not at all; a bundle
-- that failed to fetch or write is reported, and the others are still
-- written.

local zis_core = require "zis.core"

local error, ipairs, math, os, pairs, pcall, string, table, tostring, type =
      error, ipairs, math, os, pairs, pcall, string, table, tostring, type

-- File names stay well under the 255 bytes most file systems allow, with
-- room for the temporary name's affixes.
local MAX_BASE = 180
local TMP_PATTERN = "^%..+%.zis%-tmp%-%x+$"   -- "." .. final name .. ".zis-tmp-" .. hex

-- A stable 32-bit FNV-1a hash of s, as 8 hex digits: the same long name
-- always gets the same file name.
local function hash8(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
  end
  return string.format("%08x", h)
end

-- A file name from a bundle name: letters, digits, . _ - kept, the rest _;
-- a long one is cut and given a hash of the whole name.
local function file_name(name, uuid, used)
  local base = (type(name) == "string" and name ~= "") and name or tostring(uuid)
  base = base:gsub("[^%w%._%-]", "_"):gsub("^%.", "_")
  if used[base] then base = base .. "-" .. tostring(uuid):gsub("[^%w%-]", "_") end
  if #base > MAX_BASE then base = base:sub(1, MAX_BASE - 9) .. "-" .. hash8(base) end
  used[base] = true
  return base .. ".json"
end

local is_interrupt = require("zis.errors").is_interrupt

-- Writes `text` to dir/name whole, or not at all, through the one writer
-- (src/zis_fs.c): a temporary file in the same folder, created without
-- following symlinks, fsynced, renamed into place, then the folder
-- fsynced; a symlink at the path is refused.
local function write_whole(dir, name, text)
  return zis_core.write_file(dir .. "/" .. name, text, 420)   -- 0644
end

-- Removes temporary files an earlier, killed run left in dir.
local function remove_stale(dir)
  local names = zis_core.list_dir(dir)
  for _, n in ipairs(names or {}) do
    if n:match(TMP_PATTERN) then os.remove(dir .. "/" .. n) end
  end
end

--- client:export(integration, dir [, opts]) -> report
-- opts: concurrency (1 to 64, default 8), progress (function(done, total)),
-- on_progress (function(figures): done, total, rate, eta, waiting; zis.pace).
-- One bundle that cannot be fetched, encoded or written is reported in
-- `failed`; every other bundle is still written.  An interrupt (Ctrl-C)
-- raises, after removing the temporary file being written.
-- report: ok, dir, written ({name, uuid, file}), failed ({uuid, error}).
local function export(client, integration, dir, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #3 to 'export' (table expected)", 2) end
  for k in pairs(opts) do
    if k ~= "concurrency" and k ~= "progress" and k ~= "on_progress" then
      error("bad argument #3 to 'export' (unknown option '" .. tostring(k) .. "')", 2)
    end
  end
  local concurrency = opts.concurrency == nil and 8 or opts.concurrency
  if math.type(concurrency) ~= "integer" or concurrency < 1 or concurrency > 64 then
    error("bad argument #3 to 'export' (concurrency must be an integer from 1 to 64)", 2)
  end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    error("bad argument #3 to 'export' (progress must be a function)", 2)
  end
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    error("bad argument #3 to 'export' (on_progress must be a function)", 2)
  end
  if not require("zis.request").valid_name(integration) then
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
    if is_interrupt(err) then error(err, 0) end
    report.error = err
    return report
  end
  local mok, merr = zis_core.mkdirs(dir, 493)   -- 0755
  if not mok then
    report.error = "cannot create folder " .. dir .. ": " .. merr:gsub("^.-: ", "")
    return report
  end
  remove_stale(dir)
  local uuids = {}
  for i, b in ipairs(listed) do uuids[i] = b.uuid end
  local total, done = #uuids, 0
  local progress = opts.progress
  if progress then progress(0, total) end
  -- on_progress: the figures (zis.pace) after each chunk, and the waits
  -- of the rate limit as they begin
  local now = zis_core.now
  local tracker = opts.on_progress and require("zis.pace").progress(opts.on_progress, total, now())
  local chunk_opts = { concurrency = concurrency, on_progress = tracker and function(p)
    if p.waiting > 0 then tracker:wait(p.waiting, p.wait_reason, now()) end
  end or nil }
  -- fetch in chunks, so the progress line moves and memory stays bounded
  local used = {}
  local chunk = concurrency * 4
  for first = 1, total, chunk do
    local part = table.move(uuids, first, math.min(first + chunk - 1, total), 1, {})
    local bundles, errors = client:get_bundles(integration, part, chunk_opts)
    for i, uuid in ipairs(part) do
      local b = bundles[i]
      if b then
        local name = file_name(b.name, uuid, used)
        local file = dir .. "/" .. name
        -- the encoder refuses what the decoder let through (invalid UTF-8,
        -- 1e400): that bundle fails, the others are still written
        local eok, text = pcall(pretty_json, b)
        if not eok and is_interrupt(text) then error(text, 0) end
        local wok, werr = false, text
        if eok then wok, werr = write_whole(dir, name, text) end
        if wok then
          report.written[#report.written + 1] = { name = b.name, uuid = uuid, file = file }
        else
          report.failed[#report.failed + 1] = { uuid = uuid, error = werr }
        end
      else
        local e = errors and errors[i]
        if is_interrupt(e) then error(e, 0) end
        report.failed[#report.failed + 1] = { uuid = uuid, error = e }
      end
      done = done + 1
    end
    if progress then progress(done, total) end
    if tracker then tracker:step(#part, now()) end
  end
  report.ok = #report.failed == 0
  return report
end

return export

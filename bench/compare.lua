-- bench/compare.lua: time per request of lua-zis against the C floor and
-- the alternatives, on a fast local responder (bench/responder.c).  Run by
-- `make bench`.  The tools take turns: each round runs every tool once,
-- so a busy spell of the machine hits all of them; each figure is the
-- median of RUNS rounds (default 5), the ratios to the floor of the same
-- run.  Then lua-zis and the floor alternate PAIRS times (default 15) on
-- small GETs: the ratio of each pair, median and range.
local socket = require "socket"
local U = dofile("bench/util.lua")

local RUNS = tonumber(os.getenv("BENCH_RUNS")) or 5
local PAIRS = tonumber(os.getenv("BENCH_PAIRS")) or 15
local B = U.B
local sh, have = U.sh, U.have

local base, stopper <close> = U.responder(100000, 0)  -- luacheck: ignore 211
local REG = base .. "/api/services/zis/registry/bench/bundles"

-- a 100 KB bundle to upload
local upload_file = B .. "/upload-100k.json"
do
  local parts = {}
  for i = 1, 400 do
    parts[i] = string.format('"f%d":{"type":"ZIS::Flow","properties":{"name":"f%d","definition":' ..
      '{"StartAt":"A","States":{"A":{"Type":"Succeed","Message":"%s"}}}}}', i, i, string.rep("x", 120))
  end
  local f = assert(io.open(upload_file, "w"))
  f:write('{"zis_template_version":"2019-10-14","name":"upload","resources":{', table.concat(parts, ","), "}}")
  f:close()
end

local WORKLOADS = {
  { key = "small", label = "show one bundle (small JSON)", url = REG .. "/small", count = 2000 },
  { key = "list", label = "list a page of 100 bundles", url = REG .. "?page%5Bsize%5D=100", count = 300 },
  { key = "big", label = "show a 1.4 MB bundle", url = REG .. "/big", count = 20 },
  { key = "upload", label = "upload a 100 KB bundle", url = REG, count = 300, post = upload_file },
}

-- each tool: a function(workload) -> seconds per request, or nil if missing
local curl_config = B .. "/curl.config"
local TOOLS = {
  { name = "C + libcurl (floor)", run = function(w)
      local _, out = sh(string.format("%s/floor '%s' %d %s", B, w.url, w.count, w.post or ""))
      return tonumber(out)
    end },
  { name = "lua-zis", run = function(w)
      local _, out = sh(string.format("lua5.4 bench/clients/zis.lua %s %s %d %s", w.key, base, w.count, w.post or ""))
      return tonumber(out)
    end },
  { name = "curl command", check = "curl --version", run = function(w)
      local f = assert(io.open(curl_config, "w"))
      if w.post then f:write('data-binary = "@', w.post, '"\nheader = "Content-Type: application/json"\n') end
      f:write('header = "Accept: application/json"\n')
      for _ = 1, w.count do f:write('url = "', w.url, '"\noutput = "/dev/null"\n') end
      f:close()
      local t0 = socket.gettime()
      assert(os.execute("curl -s --config " .. curl_config))
      return (socket.gettime() - t0) / w.count
    end },
  { name = "Python requests", check = "/usr/bin/python3 -c 'import requests'", run = function(w)
      local _, out = sh(string.format("/usr/bin/python3 bench/clients/requests_client.py '%s' %d %s",
                                      w.url, w.count, w.post or ""))
      return tonumber(out)
    end },
  { name = "Node fetch", check = "node -e 'fetch'", run = function(w)
      local _, out = sh(string.format("node bench/clients/fetch_client.mjs '%s' %d %s", w.url, w.count, w.post or ""))
      return tonumber(out)
    end },
  { name = "luasocket socket.http", run = function(w)
      local _, out = sh(string.format("lua5.4 bench/clients/luasocket.lua '%s' %d %s", w.url,
                                      math.max(1, w.count // 4), w.post or ""))
      return tonumber(out)
    end },
}

-- the baseline of a large GET: the floor's request plus cjson.decode of
-- the same body (bench/clients/cjson_decode.lua), measured in the same rounds
local function cjson_decode_time(w)
  local _, out = sh(string.format("lua5.4 bench/clients/cjson_decode.lua '%s' %d", w.url, w.count))
  return tonumber((out:match("^%S+")))
end


local missing = {}
for _, t in ipairs(TOOLS) do
  t.present = not t.check or have(t.check)
  if not t.present then missing[#missing + 1] = t.name end
end

local median = U.median

local function fmt(s)
  if s == nil then return "-" end
  if s < 1e-3 then return string.format("%.0f µs", s * 1e6) end
  return string.format("%.2f ms", s * 1e3)
end

local load0 = U.load()
local times = {}   -- times[workload key][tool name] = { seconds, ... }
for _, w in ipairs(WORKLOADS) do
  times[w.key] = {}
  for _, t in ipairs(TOOLS) do times[w.key][t.name] = {} end
end
local big_cjson = {}   -- cjson.decode of the large body, per round
for _ = 1, RUNS do
  for _, w in ipairs(WORKLOADS) do
    for _, t in ipairs(TOOLS) do
      if t.present then local xs = times[w.key][t.name]; xs[#xs + 1] = t.run(w) or math.huge end
    end
    if w.key == "big" then big_cjson[#big_cjson + 1] = cjson_decode_time(w) or math.huge end
  end
end
print(string.format("Per request, median of %d rounds (the tools take turns), responder on loopback " ..
                    "(keep-alive where the tool has it); load %s at the start, %s at the end", RUNS, load0, U.load()))
local header = { "workload" }
for _, t in ipairs(TOOLS) do if t.present then header[#header + 1] = t.name end end
print("| " .. table.concat(header, " | ") .. " |")
print("|" .. string.rep(" --- |", #header))
for _, w in ipairs(WORKLOADS) do
  local row, floor = { w.label }, nil
  for _, t in ipairs(TOOLS) do
    if t.present then
      local m = median(times[w.key][t.name])
      if not floor then floor = m row[#row + 1] = fmt(m)
      else row[#row + 1] = string.format("%s (%.2f×)", fmt(m), m / floor) end
    end
  end
  print("| " .. table.concat(row, " | ") .. " |")
end
print("missing tools: " .. (#missing > 0 and table.concat(missing, ", ") or "none"))
do
  local fl, zs, cj = median(times.big["C + libcurl (floor)"]), median(times.big["lua-zis"]), median(big_cjson)
  local ratio = zs / (fl + cj)
  print(string.format("large GET, in a loop (the collector's work on each answer included): lua-zis %s " ..
                      "against the floor %s + cjson.decode %s = %s: %.2f× (target <= 0.60×: %s)",
                      fmt(zs), fmt(fl), fmt(cj), fmt(fl + cj), ratio, ratio <= 0.60 and "met" or "missed"))
end
print("(lua-zis, Python and Node decode the JSON they fetch, as a user would; luasocket too, with")
print(" lua-cjson, over a new connection each time; the floor and the curl command do not decode)")

-- small GETs: lua-zis and the floor alternating, the ratio of each pair
do
  local small, ratios, fl, zs = WORKLOADS[1], {}, {}, {}
  for i = 1, PAIRS do
    local f, z
    if i % 2 == 1 then f = TOOLS[1].run(small) z = TOOLS[2].run(small)
    else z = TOOLS[2].run(small) f = TOOLS[1].run(small) end
    fl[i], zs[i], ratios[i] = f, z, z / f
  end
  local lo, hi = U.range(ratios)
  local m = median(ratios)
  print(string.format("small GET, %d alternating pairs (load %s): floor %s, lua-zis %s; lua-zis / floor " ..
                      "median %.2f×, range %.2f–%.2f×", PAIRS, U.load(), fmt(median(fl)), fmt(median(zs)), m, lo, hi))
  print(string.format("target: lua-zis on small requests <= 1.10x the floor: %.2fx (%s)", m,
                      m <= 1.10 and "met" or "missed"))
end

-- memory: iterating 100,000 bundles must cost about what 1,000 cost
local function peak(n)
  local _, out = sh(string.format("lua5.4 bench/memory.lua %s %d", base, n))
  local seen, kb = out:match("(%d+)%s+(%d+)")
  assert(tonumber(seen) == n, "iterated " .. tostring(seen))
  return tonumber(kb)
end
local small, large = peak(1000), peak(100000)
print(string.format("memory: peak RSS iterating 1,000 bundles %d KB, 100,000 bundles %d KB (+%d KB)",
                    small, large, large - small))

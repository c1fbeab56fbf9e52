-- bench/bulk.lua: client:get_bundles of N bundles (default 1,000) at 20 ms
-- of server latency, at concurrency 8, 16 and 32, beside
-- `curl --parallel --parallel-max K` over the same URLs, in the same run.
--
-- The server is bench/responder.c with a non-blocking delay: one poll loop
-- on timers, so it is not the bottleneck (its max_in_flight counter shows
-- how many requests overlapped).  One at a time is measured on SEQ
-- (default 100) calls of client:get_bundle and extrapolated to N.  Each
-- batch uses a new client, so "connections" is what that batch opened.
-- ROUNDS (default 3) alternations of lua-zis and curl; medians, ranges.
local zis = require "zis"
local socket = require "socket"
local U = dofile("bench/util.lua")

local N = tonumber(os.getenv("BENCH_BUNDLES")) or 1000
local SEQ = tonumber(os.getenv("BENCH_SEQ")) or 100
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 3
local LATENCY_MS = 20
local LEVELS = { 8, 16, 32 }

local base, stopper <close> = U.responder(1000, LATENCY_MS)  -- luacheck: ignore 211
local REG = base .. "/api/services/zis/registry/bench/bundles/"

local uuids = {}
for i = 1, N do uuids[i] = string.format("%08x-0000-4000-a000-%012d", i, i) end

local function client()
  return zis.new{ url = base, email = "admin@example.com", token = "fake-api-token", retries = 0 }
end

-- one at a time
local load0 = U.load()
local seq
do
  local c = client()
  assert(c:get_bundle("bench", uuids[1]))
  local t0 = socket.gettime()
  for i = 1, SEQ do assert(c:get_bundle("bench", uuids[i]).uuid == "small") end
  seq = (socket.gettime() - t0) / SEQ
  c:close()
end

-- curl's URL list
local curl_config = U.B .. "/bulk-curl.config"
do
  local f = assert(io.open(curl_config, "w"))
  f:write('header = "Accept: application/json"\n')
  for _, u in ipairs(uuids) do f:write('url = "', REG, u, '"\noutput = "/dev/null"\n') end
  f:close()
end
local has_curl = U.have("curl --version")

local function zis_batch(k)
  local c = client()
  U.stats(base, true)
  local t0 = socket.gettime()
  local bundles, errors = c:get_bundles("bench", uuids, { concurrency = k })
  local wall = socket.gettime() - t0
  assert(errors == nil and #bundles == N and bundles[N].uuid == "small")
  c:close()
  return wall, U.stats(base)
end

local function curl_batch(k)
  U.stats(base, true)
  local t0 = socket.gettime()
  assert(os.execute(string.format("curl -s --fail --parallel --parallel-immediate --parallel-max %d -K %s 2>/dev/null",
                                  k, curl_config)))
  return socket.gettime() - t0, U.stats(base)
end

local res = {}
for _, k in ipairs(LEVELS) do res[k] = { zis = {}, curl = {}, zconn = {}, cconn = {}, zmax = {}, cmax = {} } end
for _ = 1, ROUNDS do
  for _, k in ipairs(LEVELS) do
    local r = res[k]
    local w, st = zis_batch(k)
    assert(st.requests == N, "the responder saw " .. tostring(st.requests) .. " requests")
    r.zis[#r.zis + 1], r.zconn[#r.zconn + 1], r.zmax[#r.zmax + 1] = w, st.connections, st.max_in_flight
    if has_curl then
      w, st = curl_batch(k)
      r.curl[#r.curl + 1], r.cconn[#r.cconn + 1], r.cmax[#r.cmax + 1] = w, st.connections, st.max_in_flight
    end
  end
end

local function rng(xs, f)
  local lo, hi = U.range(xs)
  if f(lo) == f(hi) then return f(lo) end
  return f(lo) .. "–" .. f(hi)
end
local function s2(x) return string.format("%.2f s", x) end
local function i0(x) return string.format("%d", x) end

print(string.format("Bulk: %d bundles, %d ms latency per request (bench/responder.c, non-blocking delay), " ..
                    "median of %d rounds, lua-zis and curl alternating (load %s at the start, %s at the end)",
                    N, LATENCY_MS, ROUNDS, load0, U.load()))
print(string.format("one at a time: %.2f ms per get_bundle (%d calls), so %.2f s for %d",
                    seq * 1e3, SEQ, seq * N, N))
print("| concurrency | tool | wall time (range) | speedup | speedup / concurrency | connections opened | " ..
      "server max in flight |")
print("| --- | --- | --- | --- | --- | --- | --- |")
local worst = math.huge
for _, k in ipairs(LEVELS) do
  local r = res[k]
  local rows = { { "lua-zis get_bundles", r.zis, r.zconn, r.zmax } }
  if has_curl then rows[2] = { "curl --parallel", r.curl, r.cconn, r.cmax } end
  for _, row in ipairs(rows) do
    local m = U.median(row[2])
    local speedup = seq * N / m
    if row == rows[1] then worst = math.min(worst, speedup / k) end
    print(string.format("| %d | %s | %.2f s (%s) | %.1f× | %.2f | %s | %s |", k, row[1], m, rng(row[2], s2),
                        speedup, speedup / k, rng(row[3], i0), rng(row[4], i0)))
  end
end
if not has_curl then print("missing tools: curl") end
print(string.format("target: each lua-zis speedup >= 0.9 x the concurrency: worst %.2f (%s)", worst,
                    worst >= 0.9 and "met" or "missed"))

-- bench/bulk.lua: fetching many bundles one at a time vs client:get_bundles
-- (curl multi), against the local registry with 20 ms latency per request
-- (answers are delayed without blocking, so concurrent requests overlap).
-- Run by `make bench` under tools/with-mock.
local zis = require "zis"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"

local url = assert(os.getenv("ZIS_MOCK_URL"))
local N = tonumber(os.getenv("BENCH_BUNDLES")) or 1000
local LATENCY = 0.02

local function control(path, body)
  http.request{ url = url .. "/__mock/" .. path, method = "POST",
                source = ltn12.source.string(body), headers = { ["content-length"] = #body } }
end

local c = zis.new{ url = url, email = "admin@example.com", token = "fake-api-token" }
control("reset", "")
assert(c:create_integration("bench"))
for i = 1, N do
  assert(c:upload_bundle("bench", { zis_template_version = "2019-10-14", name = "b" .. i,
    resources = { f = { type = "ZIS::Flow", properties = { name = "f", definition = {
      StartAt = "S", States = { S = { Type = "Succeed" } } } } } } }))
end
local uuids = {}
for b in c:bundles("bench", { page_size = 100 }) do uuids[#uuids + 1] = b.uuid end
control("config", '{"latency":' .. LATENCY .. '}')

local t0 = socket.gettime()
for _, u in ipairs(uuids) do assert(c:get_bundle("bench", u)) end
local one = socket.gettime() - t0

local results = {}
for _, k in ipairs{ 8, 16, 32 } do
  t0 = socket.gettime()
  local bundles, errors = c:get_bundles("bench", uuids, { concurrency = k })
  assert(errors == nil and #bundles == N)
  results[#results + 1] = { k, socket.gettime() - t0 }
end
control("config", '{"latency":0}')

print(string.format("Bulk: %d bundles, %d ms latency per request (local registry), wall time", N, LATENCY * 1000))
print(string.format("  %-32s %8.2f s   1.0x", "one at a time (get_bundle)", one))
for _, r in ipairs(results) do
  print(string.format("  %-32s %8.2f s  %5.1fx", "get_bundles, concurrency " .. r[1], r[2], one / r[2]))
end

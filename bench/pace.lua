-- bench/pace.lua: a long job at the account's limit.  The local registry
-- (lua/zis/mock.lua) enforces a limit as Zendesk describes it: fixed
-- windows, the rate-limit headers on every answer, 429 with Retry-After
-- past it (/__mock/config {rate_limit = {requests =, window =}}).
--
-- Zendesk's limits are per minute; scaled down in time so that the bench
-- stays under a minute: LIMIT (default 100) requests per WINDOW (default
-- 1) second, N (default 2,000) get_bundles at concurrency 16.  The ideal
-- time the limit allows is N / LIMIT windows (20 s: the first window's
-- burst aside, a job of N requests needs that long at the limit's rate).
-- One client paces (the default), one does not (rate_limit = false); both
-- retry up to 20 times.  Targets: the paced client within 5 % of the
-- ideal time with at most 1 % of its requests answered 429; the client
-- without pacing gets several times more 429s.
local zis = require "zis"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local U = dofile("bench/util.lua")

local N = tonumber(os.getenv("BENCH_PACE_BUNDLES")) or 2000
local LIMIT = tonumber(os.getenv("BENCH_PACE_LIMIT")) or 100
local WINDOW = tonumber(os.getenv("BENCH_PACE_WINDOW")) or 1
local CONCURRENCY = 16
local I = "pacebench"

-- the local registry on a free port, stopped however the run ends
local function registry()
  local portfile = os.tmpname()
  os.remove(portfile)
  os.execute(string.format("lua5.4 bin/zis mock --port 0 --port-file %s --quiet >/dev/null 2>&1 &", portfile))
  local port
  for _ = 1, 200 do
    local f = io.open(portfile)
    if f then port = f:read("n") f:close() end
    if port then break end
    socket.sleep(0.025)
  end
  os.remove(portfile)
  assert(port, "the local registry did not start")
  local base = "http://127.0.0.1:" .. port
  return base, setmetatable({}, { __close = function()
    http.request{ url = base .. "/__mock/shutdown", method = "POST" }
  end })
end

local base, stopper <close> = registry()  -- luacheck: ignore 211

local function control(method, path, body)
  local out = {}
  local src = body and zis.encode_json(body) or ""
  http.request{ url = base .. "/__mock/" .. path, method = method, sink = ltn12.sink.table(out),
                source = ltn12.source.string(src),
                headers = { ["content-length"] = #src, ["content-type"] = "application/json" } }
  local text = table.concat(out)
  return text ~= "" and zis.decode_json(text) or true
end

local function client(opts)
  local o = { url = base, email = "admin@example.com", token = "fake-api-token", retries = 20 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return zis.new(o)
end

-- ten bundles, fetched N times in all
local uuids = {}
do
  local c = client()
  assert(c:create_integration(I, { description = "bench" }))
  for i = 1, 10 do
    local b = string.format('{"zis_template_version":"2019-10-14","name":"b%d","description":"x",' ..
                            '"resources":{}}', i)
    assert(c:upload_bundle(I, b))
  end
  local list = {}
  for b in c:bundles(I) do list[#list + 1] = b.uuid end
  for i = 1, N do uuids[i] = list[(i - 1) % #list + 1] end
  c:close()
end

local function run(opts)
  control("POST", "config", { rate_limit = { requests = LIMIT, window = WINDOW } })
  local before = control("GET", "stats")
  local c = client(opts)
  local t0 = socket.gettime()
  local got, errs = c:get_bundles(I, uuids, { concurrency = CONCURRENCY })
  local wall = socket.gettime() - t0
  c:close()
  local after = control("GET", "stats")
  local failed = 0
  for i = 1, N do if not got[i] then failed = failed + 1 end end
  assert(errs == nil or failed > 0)
  return { wall = wall, limited = after.rate_limited or 0, requests = after.requests - before.requests,
           failed = failed }
end

local ideal = N / LIMIT * WINDOW
local load0 = U.load()
local paced = run({})
local unpaced = run({ rate_limit = false })
control("POST", "config", { rate_limit = false })

print(string.format("Pacing: %d get_bundles at concurrency %d against the local registry limiting to %d " ..
                    "requests per %g s window (Zendesk's per-minute limits scaled down in time); ideal " ..
                    "%.1f s (load %s at the start, %s at the end)", N, CONCURRENCY, LIMIT, WINDOW, ideal,
                    load0, U.load()))
print("| client | wall time | of the ideal | requests sent | answered 429 | 429 share | failed |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for _, row in ipairs{ { "paced (default)", paced }, { "rate_limit = false", unpaced } } do
  local r = row[2]
  print(string.format("| %s | %.2f s | %.3f× | %d | %d | %.2f %% | %d |", row[1], r.wall, r.wall / ideal,
                      r.requests, r.limited, 100 * r.limited / r.requests, r.failed))
end
local within = paced.wall <= ideal * 1.05
local few = paced.limited <= 0.01 * paced.requests
local more = unpaced.limited >= 3 * math.max(paced.limited, 1)
print(string.format("target: paced within 5 %% of the ideal (%.3f×: %s), at most 1 %% answered 429 " ..
                    "(%.2f %%: %s); without pacing several times more 429s (%d against %d: %s)",
                    paced.wall / ideal, within and "met" or "missed", 100 * paced.limited / paced.requests,
                    few and "met" or "missed", unpaced.limited, paced.limited, more and "met" or "missed"))

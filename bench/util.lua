-- bench/util.lua: what the benchmarks share: a shell helper, the C
-- responder (bench/responder.c) started on a free loopback port and
-- stopped however the run ends, medians and ranges.
local socket = require "socket"
local http = require "socket.http"

local M = {}

M.B = "build/bench"

function M.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

function M.have(cmd) return (M.sh(cmd .. " >/dev/null 2>&1")) end

-- Starts the responder: returns its base URL and a to-be-closed stopper.
function M.responder(total, delay_ms)
  local portfile = os.tmpname()
  os.remove(portfile)
  os.execute(string.format("%s/responder %s %d %s 2>/dev/null &", M.B, portfile, total or 100000,
                           delay_ms or 0))
  local port
  for _ = 1, 100 do
    local f = io.open(portfile)
    if f then port = f:read("n") f:close() end
    if port then break end
    socket.sleep(0.02)
  end
  os.remove(portfile)
  assert(port, "the responder did not start")
  local base = "http://127.0.0.1:" .. port
  return base, setmetatable({}, { __close = function() http.request(base .. "/__stop") end })
end

-- The responder's counters: {connections =, requests =, max_in_flight =}.
function M.stats(base, reset)
  local body = assert(http.request(base .. (reset and "/__reset" or "/__stats")))
  local t = {}
  for k, v in body:gmatch('"([%w_]+)":(%d+)') do t[k] = tonumber(v) end
  return t
end

function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

function M.range(xs)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do lo, hi = math.min(lo, x), math.max(hi, x) end
  return lo, hi
end

-- The 1-minute load average, to say when the machine was busy.
function M.load()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local l = f:read("l")
  f:close()
  return l:match("^(%S+)")
end

return M

-- zis.mock.server: the local registry on loopback, HTTP/1.1 over
-- luasocket: keep-alive, several connections at once through select,
-- answers held back for latency and delay faults without blocking the
-- others, gzip and chunked bodies (zis.mock.wire).

local socket = require "socket"
local registry = require "zis.mock.registry"
local wire = require "zis.mock.wire"

local concat, insert, remove = table.concat, table.insert, table.remove
local REASONS, is_loopback, api_error = registry.REASONS, registry.is_loopback, registry.api_error

local M = {}

-- How an API answer goes on the wire: gzipped when the request accepts
-- gzip and the mode says so; chunked when configured or the fault asks.
-- Control answers, 204s and the transport faults stay plain.
local function encoding(reg, req, status, body, fault)
  if req.target:sub(1, 8) == "/__mock/" or status == 204 or status == 304
    or (fault and (fault.cut or fault.hangup)) then
    return nil
  end
  local accepts = wire.accepts_gzip(req.headers["accept-encoding"])
  local gz = accepts and #body > 0 and (reg.gzip_mode == "always"
    or (reg.gzip_mode == "default" and #body >= wire.GZIP_MIN_LENGTH))
  local chunks = (fault and math.type(fault.chunked) == "integer" and fault.chunked) or reg.chunks
  return { gzip = gz, varies = accepts and reg.gzip_mode ~= "never", chunks = chunks }
end

---------------------------------------------------------------------------
-- HTTP/1.1 over luasocket: keep-alive, several connections via select
---------------------------------------------------------------------------

-- Reads one request from `c`; nil at end of connection or on garbage.
local function read_request(c)
  local line = c:receive("*l")
  if not line or line == "" then return nil end
  local method, target, version = line:match("^(%u+) (%S+) (HTTP/1%.%d)$")
  if not method then return nil end
  local headers = {}
  while true do
    local h = c:receive("*l")
    if not h then return nil end
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  local n = tonumber(headers["content-length"] or "0")
  if n and n > 0 then
    body = c:receive(n)
    if not body then return nil end
  end
  local keep = version == "HTTP/1.1" and (headers.connection or ""):lower() ~= "close"
  return { method = method, target = target, headers = headers, body = body, keep = keep }
end

-- enc: nil, or {gzip = bool, chunks = N} (see Registry:encoding)
local function write_response(c, status, body, ctype, extra, req_id, keep, fault, enc)
  local h = {
    string.format("HTTP/1.1 %d %s", status, REASONS[status] or "Status"),
    "X-Request-Id: " .. req_id,
  }
  if enc and enc.gzip then
    body = wire.gzip(body)
    h[#h + 1] = "Content-Encoding: gzip"
  end
  if enc and (enc.gzip or enc.varies) then h[#h + 1] = "Vary: Accept-Encoding" end
  if enc and enc.chunks > 0 then
    h[#h + 1] = "Transfer-Encoding: chunked"
    body = wire.chunked(body, enc.chunks)
  else
    insert(h, 2, "Content-Length: " .. #body)
  end
  if ctype and status ~= 204 then h[#h + 1] = "Content-Type: " .. ctype end
  if not keep then h[#h + 1] = "Connection: close" end
  for k, v in pairs(extra or {}) do h[#h + 1] = k .. ": " .. tostring(v) end
  if fault and fault.cut then body = body:sub(1, fault.cut) end
  c:send(concat(h, "\r\n") .. "\r\n\r\n" .. body)
end

--- Serves until POST /__mock/shutdown.  opts: host (loopback only), port
-- (0 picks a free one), port_file (written once listening), quiet, and
-- the accepted fake credentials (email, token, password, oauth_token).
function M.serve(opts)
  opts = opts or {}
  local host = opts.host or "127.0.0.1"
  if not is_loopback(host) then
    error("zis.mock: refusing to listen on " .. host .. ": loopback only", 2)
  end
  local reg = registry.new(opts)
  reg.latency = tonumber(opts.latency) or 0
  -- a backlog of 128: bursts of concurrent connects (batches, event loops) are not
  -- left waiting on SYN retransmits as with luasocket's default of 32
  local server = assert(socket.bind(host, opts.port or 8089, 128))
  server:settimeout(0)
  local _, port = server:getsockname()
  if opts.port_file then
    local f = assert(io.open(opts.port_file .. ".tmp", "w"))
    f:write(port, "\n")
    f:close()
    assert(os.rename(opts.port_file .. ".tmp", opts.port_file))
  end
  if not opts.quiet then
    io.stderr:write(string.format("zis mock registry on http://%s:%d\n", host, port))
  end
  local stats = { connections = 0, requests = 0, max_in_flight = 0 }
  local clients, seq = {}, 0
  -- answers waiting for their time (latency, delay faults): the loop keeps
  -- serving other connections meanwhile, so concurrent clients overlap
  local waiting = {}   -- socket -> {due =, send = function}
  -- answers still pending from before a reset (a client that gave up on a
  -- slow answer) do not count as in flight after it
  local function in_flight()
    local n = 0
    for _, w in pairs(waiting) do
      if w.generation == reg.generation then n = n + 1 end
    end
    return n
  end
  local function drop(s)
    s:close()
    for i, x in ipairs(clients) do if x == s then remove(clients, i) break end end
  end
  while not reg.stopping do
    local watch, soonest = { server }, nil
    for i = 1, #clients do
      if not waiting[clients[i]] then watch[#watch + 1] = clients[i] end
    end
    for _, w in pairs(waiting) do
      if not soonest or w.due < soonest then soonest = w.due end
    end
    local timeout = soonest and math.max(0, soonest - socket.gettime()) or 1
    local readable = socket.select(watch, nil, timeout)
    for _, s in ipairs(readable) do
      if s == server then
        local c = server:accept()
        if c then
          c:settimeout(10)
          c:setoption("tcp-nodelay", true)
          clients[#clients + 1] = c
          stats.connections = stats.connections + 1
        end
      else
        local req = read_request(s)
        if not req then drop(s)
        else
          seq = seq + 1
          local okh, status, body, ctype, extra, fault = pcall(reg.handle, reg, req, stats)
          if not okh then
            status, body, ctype = api_error(500, "1050", "mock error: " .. tostring(status),
                                            "Internal Server Error")
          end
          local keep = req.keep and not reg.stopping
          local id = "mock-" .. seq
          local enc = encoding(reg, req, status, body, fault)
          local function send()
            if fault and (fault.hangup or fault.cut) then
              if fault.cut then write_response(s, status, body, ctype, extra, id, true, fault) end
              drop(s)
            else
              write_response(s, status, body, ctype, extra, id, keep, nil, enc)
              if not keep then drop(s) end
            end
          end
          local delay = (fault and fault.delay or 0) + (req.target:sub(1, 8) ~= "/__mock/" and reg.latency or 0)
          if delay > 0 then
            waiting[s] = { due = socket.gettime() + delay, send = send, generation = reg.generation }
            local n = in_flight()
            if n > stats.max_in_flight then stats.max_in_flight = n end
          else
            send()
          end
        end
      end
    end
    local now = socket.gettime()
    for s, w in pairs(waiting) do
      if w.due <= now then
        waiting[s] = nil
        w.send()
      end
    end
  end
  for _, c in ipairs(clients) do c:close() end
  server:close()
end

return M

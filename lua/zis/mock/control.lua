-- zis.mock.control: the local registry's control endpoints under /__mock/
-- (no auth; loopback only), for tests: the log, the stats, a reset, queued
-- faults, the configuration (tokens, latency, gzip, chunks, token life,
-- the readings of what no source settles) and expiring minted tokens; and the fault a request meets.  Adds
-- Registry:control and :take_fault to zis.mock.state's Registry.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"

local decode, encode = core.decode_json, core.encode_json
local insert, remove = table.insert, table.remove
local api_error, ok, json_array = answers.api_error, answers.ok, answers.json_array
local Registry = state.Registry

local M = {}

-- The first queued fault matching the request, consumed once per use.
function Registry:take_fault(method, path)
  for i, f in ipairs(self.faults) do
    local p = f.path
    local match = (f.method == nil or f.method == method) and (p == nil or p == path
      or (p:sub(-1) == "*" and path:sub(1, #p - 1) == p:sub(1, -2)))
    if match then
      f.times = (f.times or 1) - 1
      if f.times <= 0 then remove(self.faults, i) end
      return f
    end
  end
end

function Registry:control(method, path, body, stats)
  if path == "/__mock/log" and method == "GET" then
    return ok(json_array(self.log))
  elseif path == "/__mock/stats" and method == "GET" then
    return ok(encode(stats))
  elseif path == "/__mock/reset" and method == "POST" then
    self:reset()
    stats.connections, stats.requests, stats.max_in_flight = 0, 0, 0
    return 204, "", "text/plain"
  elseif path == "/__mock/faults" and method == "POST" then
    local faults = decode(body)
    if type(faults) ~= "table" then return api_error(400, "1010", "expected a JSON array") end
    for _, f in ipairs(faults) do insert(self.faults, f) end
    return 204, "", "text/plain"
  elseif path == "/__mock/config" and method == "POST" then
    local cfg = decode(body)
    if type(cfg) ~= "table" then return api_error(400, "1010", "expected a JSON object") end
    if type(cfg.latency) == "number" then self.latency = cfg.latency end
    if cfg.gzip ~= nil then
      if cfg.gzip ~= "default" and cfg.gzip ~= "always" and cfg.gzip ~= "never" then
        return api_error(400, "1010", "gzip must be default, always or never")
      end
      self.gzip_mode = cfg.gzip
    end
    if math.type(cfg.chunked) == "integer" and cfg.chunked >= 0 then self.chunks = cfg.chunked end
    if math.type(cfg.token_ttl) == "integer" and cfg.token_ttl >= 0 then
      self.token_ttl = cfg.token_ttl > 0 and cfg.token_ttl or nil
    end
    if cfg.readings ~= nil then
      if type(cfg.readings) ~= "table" then return api_error(400, "1010", "readings must be a JSON object") end
      for name, value in pairs(cfg.readings) do
        local why = state.check_reading(name, value)
        if why then return api_error(400, "1010", why) end
      end
      for name, value in pairs(cfg.readings) do self.readings[name] = value end
    end
    if type(cfg.oauth_tokens) == "table" then
      self.oauth_tokens = {}
      for _, t in ipairs(cfg.oauth_tokens) do self.oauth_tokens[t] = true end
    end
    return 204, "", "text/plain"
  elseif path == "/__mock/tokens/expire" and method == "POST" then
    local sel = body ~= "" and decode(body) or {}
    if type(sel) ~= "table" then return api_error(400, "1010", "expected a JSON object") end
    local n = 0
    for _, rec in pairs(self.minted) do
      if not rec.expired and (sel.integration == nil or sel.integration == rec.integration) then
        rec.expired, n = true, n + 1
      end
    end
    return ok(encode{ expired = n })
  elseif path == "/__mock/shutdown" and method == "POST" then
    self.stopping = true
    return 204, "", "text/plain"
  end
  return api_error(404, "1020", "no such control endpoint", "Missing Resource")
end

return M

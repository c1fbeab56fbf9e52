-- zis.mock.ratelimit: the local registry's rate limit, as Zendesk
-- describes it (docs/zendesk-api.md, Behaviours):
-- POST /__mock/config {rate_limit = {requests = 100, window = 10}}
-- counts API requests in fixed windows of `window` seconds (the first
-- starts with the first request after the config), sends X-Rate-Limit,
-- X-Rate-Limit-Remaining, ratelimit-limit, -remaining and -reset on every
-- API answer (`headers = "x"`, `"ratelimit"` or `"none"` sends one kind
-- or neither; default both), and answers a request past the limit 429
-- text/plain with Retry-After: the seconds left in the window (not
-- counted).  Times are sent with three decimals so that a window scaled
-- down for tests (a second) keeps its precision; Zendesk sends whole
-- seconds.  `rate_limit = false` (or a reset) turns it off.  The log's
-- entries carry `at` (socket.gettime(), rate limit or not) and, for a
-- 429, `rate_limited`;
-- /__mock/stats counts `rate_limited` answers.
--
-- install(Registry) wraps the registry's reset, control and handle;
-- zis.mock.registry calls it once they are all defined.

local socket = require "socket"
local core = require "zis.core"
local answers = require "zis.mock.answers"

local decode = core.decode_json
local insert, remove = table.insert, table.remove
local null = core.null
local api_error = answers.api_error

local M = {}

local function rate_seconds(x)
  return (string.format("%.3f", x):gsub("0+$", ""):gsub("%.$", ""))
end

function M.install(Registry)
  local plain_reset, plain_control, plain_handle = Registry.reset, Registry.control, Registry.handle

  function Registry:reset()
    plain_reset(self)
    self.rate = nil
  end

  function Registry:control(method, path, body, stats)
    if path == "/__mock/config" and method == "POST" then
      local cfg = decode(body)
      local rl = type(cfg) == "table" and cfg.rate_limit
      if rl == false then
        self.rate = nil
      elseif rl ~= nil and rl ~= null then
        if type(rl) ~= "table" or math.type(rl.requests) ~= "integer" or rl.requests < 1
           or type(rl.window) ~= "number" or rl.window <= 0
           or (rl.headers ~= nil and rl.headers ~= "both" and rl.headers ~= "x"
               and rl.headers ~= "ratelimit" and rl.headers ~= "none") then
          return api_error(400, "1010", "rate_limit must be {requests = N >= 1, window = seconds > 0, " ..
                                        "headers = both|x|ratelimit|none}")
        end
        self.rate = { requests = rl.requests, window = rl.window, headers = rl.headers or "both",
                      start = nil, count = 0 }
        stats.rate_limited = 0
      end
    end
    return plain_control(self, method, path, body, stats)
  end

  function Registry:handle(req, stats)
    local rate, now = self.rate, socket.gettime()
    if req.target:sub(1, 8) == "/__mock/" then return plain_handle(self, req, stats) end
    if not rate then
      local s, b, ct, extra, fault = plain_handle(self, req, stats)
      local last = self.log[#self.log]
      if last then last.at = now end
      return s, b, ct, extra, fault
    end
    if not rate.start or now >= rate.start + rate.window then
      -- a new window: aligned to the last one's end when it follows at once
      local start = rate.start and rate.start + rate.window * ((now - rate.start) // rate.window) or now
      rate.start, rate.count = start, 0
    end
    local reset = rate.start + rate.window - now
    local s, b, ct, extra, fault
    if rate.count >= rate.requests then
      stats.requests = stats.requests + 1
      stats.rate_limited = (stats.rate_limited or 0) + 1
      if #self.log >= 10000 then remove(self.log, 1) end
      insert(self.log, { method = req.method, path = req.target, headers = req.headers,
                         body = req.body, at = now, rate_limited = true })
      s, b, ct, extra = 429, "Rate limit exceeded", "text/plain", { ["Retry-After"] = rate_seconds(reset) }
    else
      rate.count = rate.count + 1
      s, b, ct, extra, fault = plain_handle(self, req, stats)
      local last = self.log[#self.log]
      if last then last.at = now end
    end
    local h = {}
    for k, v in pairs(extra or {}) do h[k] = v end
    local left = rate.requests - rate.count
    if rate.headers == "both" or rate.headers == "x" then
      h["X-Rate-Limit"], h["X-Rate-Limit-Remaining"] = rate.requests, left
    end
    if rate.headers == "both" or rate.headers == "ratelimit" then
      h["ratelimit-limit"], h["ratelimit-remaining"] = rate.requests, left
      h["ratelimit-reset"] = rate_seconds(reset)
    end
    return s, b, ct, h, fault
  end
end

return M

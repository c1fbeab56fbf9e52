-- lua-zis in parts, for bench/callgrind.lua: MODE URL COUNT
--   call     client:get_bundle (the whole path: build, call, run, decode)
--   engine   core.submit + core.wait, the body decoded by the engine, no
--            policy in Lua
--   raw      core.submit + core.wait, the body handed over as a string
--   decode   the small bundle's body decoded, no request
local zis = require "zis"
local core = require "zis.core"
local mode, url, count = arg[1], arg[2], tonumber(arg[3])
local c = zis.new{ url = url, email = "admin@example.com", token = "fake", retries = 0 }
local full = url .. "/api/services/zis/registry/bench/bundles/small"
local submit, wait, decode = core.submit, core.wait, core.decode_json
assert(c:get_bundle("bench", "small"))  -- warm: the connection is open
local once
if mode == "call" then
  once = function() return c:get_bundle("bench", "small") end
elseif mode == "engine" or mode == "raw" then
  local dec = mode == "engine"
  once = function()
    submit(c, "GET", full, "basic", nil, false, dec)
    local r = wait(c, 3600)
    assert(r.status == 200)
    if dec then return r.value end
    return r
  end
elseif mode == "decode" then
  submit(c, "GET", full, "basic", nil, false)
  local body = wait(c, 3600).body
  once = function() return decode(body) end
else
  error("unknown mode " .. tostring(mode))
end
for _ = 1, count do assert(once()) end

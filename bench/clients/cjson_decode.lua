-- lua-cjson's decode alone, as a script would run it: URL COUNT -> seconds
-- per decode of the body at URL (fetched once).  With the floor's time per
-- request it makes "floor + cjson.decode", the baseline issue 11 gives
-- for a large GET.  The decodes run in a loop in lua5.4 with its default
-- (generational) collector, as lua-zis's requests do in bench/clients/zis.lua;
-- with BENCH_COLLECTED set, each one alone after a full collection.
local http = require "socket.http"
local cjson = require "cjson"
local socket = require "socket"
local url, count = arg[1], tonumber(arg[2])
local text = assert(http.request(url))
assert(cjson.decode(text))  -- warm
if os.getenv("BENCH_COLLECTED") then  -- as bench/clients/zis.lua: each decode alone, after a collection
  local total = 0
  for _ = 1, count do
    collectgarbage()
    local t0 = socket.gettime()
    assert(cjson.decode(text))
    total = total + socket.gettime() - t0
  end
  print(total / count)
  return
end
local t0 = socket.gettime()
for _ = 1, count do assert(cjson.decode(text)) end  -- each result dropped, as bench/clients/zis.lua does
print((socket.gettime() - t0) / count)

-- lua-cjson's decode alone, as a script would run it: URL COUNT -> seconds
-- per decode of the body at URL (fetched once).  With the floor's time per
-- request it makes "floor + cjson.decode", the baseline issue 11 gives
-- for a large GET.  The decodes run in a loop in lua5.4 with its default
-- (generational) collector, as lua-zis's requests do in bench/clients/zis.lua.
local http = require "socket.http"
local cjson = require "cjson"
local socket = require "socket"
local url, count = arg[1], tonumber(arg[2])
local text = assert(http.request(url))
assert(cjson.decode(text))  -- warm
local t0 = socket.gettime()
for _ = 1, count do assert(cjson.decode(text)) end  -- each result dropped, as bench/clients/zis.lua does
print((socket.gettime() - t0) / count)

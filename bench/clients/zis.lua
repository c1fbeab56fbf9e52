-- lua-zis: WORKLOAD URL COUNT [POST_FILE] -> seconds per request (decoded)
local zis = require "zis"
local socket = require "socket"
local workload, url, count, post = arg[1], arg[2], tonumber(arg[3]), arg[4]
local c = zis.new{ url = url, email = "admin@example.com", token = "fake", retries = 0 }
local body = post and assert(io.open(post, "rb")):read("a")
local calls = {
  small = function() return c:get_bundle("bench", "small") end,
  big = function() return c:get_bundle("bench", "big") end,
  list = function() return c:list_bundles("bench", { page_size = 100 }) end,
  upload = function() return c:upload_bundle("bench", body) end,
}
local f = calls[workload]
assert(f())  -- warm: the connection is open
local t0 = socket.gettime()
for _ = 1, count do assert(f()) end
print((socket.gettime() - t0) / count)

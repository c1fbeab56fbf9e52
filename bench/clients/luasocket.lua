-- luasocket's socket.http (a new connection per request): URL COUNT [POST_FILE]
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"
local socket = require "socket"
local url, count, post = arg[1], tonumber(arg[2]), arg[3]
local body = post and assert(io.open(post, "rb")):read("a")
local function once()
  local out = {}
  local _, status = http.request{ url = url, method = body and "POST" or "GET", sink = ltn12.sink.table(out),
    source = body and ltn12.source.string(body),
    headers = { accept = "application/json", ["content-length"] = body and #body or nil,
                ["content-type"] = body and "application/json" or nil } }
  assert(status == 200)
  local text = table.concat(out)
  if text ~= "" then cjson.decode(text) end
end
once()
local t0 = socket.gettime()
for _ = 1, count do once() end
print((socket.gettime() - t0) / count)

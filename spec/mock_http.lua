-- Raw HTTP for the local registry's own specs: sends exact bytes, keeps the
-- answer's exact bytes, and decodes them (chunked, gzip) only on request.
local socket = require "socket"
local mime = require "mime"
local core = require "zis.core"
local H = require "spec.helper"

local R = {}

local host, port = H.url:match("^http://([^:/]+):(%d+)$")
port = tonumber(port)

R.BASIC = "Basic " .. mime.b64(H.email .. "/token:" .. H.token)
R.PASSWORD = "Basic " .. mime.b64(H.email .. ":" .. H.password)

-- Undoes chunked transfer coding; returns the body and the number of
-- data chunks, or raises on a malformed stream.
function R.dechunk(raw)
  local out, pos, chunks = {}, 1, 0
  while true do
    local size_hex, after = raw:match("^(%x+)[^\r\n]*\r\n()", pos)
    assert(size_hex, "malformed chunk size at byte " .. pos)
    local size = tonumber(size_hex, 16)
    if size == 0 then
      assert(raw:sub(after, after + 1) == "\r\n", "no CRLF after the last chunk")
      assert(after + 1 == #raw, "bytes after the last chunk")
      return table.concat(out), chunks
    end
    out[#out + 1] = raw:sub(after, after + size - 1)
    assert(#out[#out] == size, "short chunk")
    assert(raw:sub(after + size, after + size + 1) == "\r\n", "no CRLF after a chunk")
    chunks = chunks + 1
    pos = after + size + 2
  end
end

-- gunzips with the system's gzip, so a real decoder checks CRC and length
function R.gunzip(data)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(data)
  f:close()
  local p = assert(io.popen("gzip -dc < " .. name .. " 2>/dev/null; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  os.remove(name)
  local body, rc = out:match("^(.*)rc=(%d+)\n$")
  assert(rc == "0", "gzip -dc failed: " .. tostring(rc))
  return body
end

--- Sends one request; opts: headers (array of "Name: value" lines, sent
-- as given), body (string, or a table sent as JSON), auth (the whole
-- Authorization value; default the admin's API token; false: none).
-- Returns {status, headers (lower-case keys), raw (body bytes as sent),
-- body (de-chunked, gunzipped), json (decoded when the body is JSON), chunks}.
function R.request(method, target, opts)
  opts = opts or {}
  local body = opts.body
  if type(body) == "table" then body = core.encode_json(body) end
  local lines = { method .. " " .. target .. " HTTP/1.1", "Host: " .. host .. ":" .. port,
                  "Connection: close" }
  local auth = opts.auth == nil and R.BASIC or opts.auth
  if auth then lines[#lines + 1] = "Authorization: " .. auth end
  for _, l in ipairs(opts.headers or {}) do lines[#lines + 1] = l end
  if body then
    lines[#lines + 1] = "Content-Type: application/json"
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  local c = assert(socket.connect(host, port))
  c:settimeout(10)
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
  local all, err, partial = c:receive("*a")
  c:close()
  all = all or partial
  assert(all and all ~= "", "no answer: " .. tostring(err))
  local head, raw = all:match("^(.-)\r\n\r\n(.*)$")
  local status = tonumber(head:match("^HTTP/1%.1 (%d%d%d)"))
  local headers = {}
  for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[k:lower()] = v end
  local res = { status = status, headers = headers, raw = raw, body = raw }
  if headers["transfer-encoding"] == "chunked" then
    res.body, res.chunks = R.dechunk(raw)
  else
    assert(tonumber(headers["content-length"]) == #raw, "Content-Length does not match the body")
  end
  if headers["content-encoding"] == "gzip" then res.body = R.gunzip(res.body) end
  if (headers["content-type"] or ""):match("json") and res.body ~= "" then
    res.json = core.decode_json(res.body)
  end
  return res
end

--- Mints the integration's own token: the Support API's client list, then
-- POST /api/v2/oauth/tokens for the zis_<integration> client.
function R.mint(integration, extra)
  local clients = R.request("GET", "/api/v2/oauth/clients").json.clients
  local id
  for _, c in ipairs(clients) do
    if c.identifier == "zis_" .. integration then id = c.id end
  end
  assert(id, "no OAuth client for " .. integration)
  local tok = { client_id = id, scopes = core.array{ "read", "write" } }
  for k, v in pairs(extra or {}) do tok[k] = v end
  local res = R.request("POST", "/api/v2/oauth/tokens", { body = { token = tok } })
  assert(res.status == 201, "minting: " .. res.status .. " " .. res.body)
  return res.json.token.full_token, res.json.token
end

--- A request with the integration's minted token (opts.token).
function R.zis(method, target, token, opts)
  opts = opts or {}
  opts.auth = "Bearer " .. token
  return R.request(method, target, opts)
end

--- The error envelope's detail, for short assertions.
function R.detail(res)
  return res.json and res.json.errors and res.json.errors[1].detail
end

return R

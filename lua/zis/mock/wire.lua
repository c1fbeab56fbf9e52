-- zis.mock.wire: the local registry's body encodings, so that specs can
-- cover what a real server may send: gzip (Content-Encoding) and chunked
-- transfer coding.  No zlib: a gzip member made of stored (uncompressed)
-- deflate blocks and a CRC-32 is valid gzip (RFC 1951 3.2.4, RFC 1952).

local byte, char, concat = string.byte, string.char, table.concat

local W = {}

-- Bodies at least this long are gzipped by default when the request
-- accepts gzip (nginx's gzip_min_length is in the same spirit).
W.GZIP_MIN_LENGTH = 1024

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  crc_table[i] = c
end

--- The CRC-32 (IEEE 802.3, as gzip uses) of `s`.
function W.crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = crc_table[(c ~ byte(s, i)) & 0xFF] ~ (c >> 8)
  end
  return c ~ 0xFFFFFFFF
end

local function le32(n)
  return char(n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF, (n >> 24) & 0xFF)
end

local function le16(n) return char(n & 0xFF, (n >> 8) & 0xFF) end

--- One gzip member holding `s` in stored deflate blocks (at most 65535
-- bytes each; an empty body is one empty final block).
function W.gzip(s)
  local out = { "\31\139\8\0\0\0\0\0\0\255" }  -- magic, deflate, no flags, mtime 0, OS unknown
  local n, pos = #s, 1
  repeat
    local len = math.min(65535, n - pos + 1)
    local final = (pos + len > n) and 1 or 0
    out[#out + 1] = char(final) .. le16(len) .. le16(~len & 0xFFFF)
    out[#out + 1] = s:sub(pos, pos + len - 1)
    pos = pos + len
  until pos > n
  out[#out + 1] = le32(W.crc32(s)) .. le32(n & 0xFFFFFFFF)
  return concat(out)
end

--- Does an Accept-Encoding header value accept gzip (and not with q=0)?
function W.accepts_gzip(value)
  if not value then return false end
  for item in value:lower():gmatch("[^,]+") do
    local coding, params = item:match("^%s*([%w%-%*]+)%s*(.-)%s*$")
    if coding == "gzip" or coding == "x-gzip" or coding == "*" then
      local q = params:match("q%s*=%s*([%d.]+)")
      if not q or tonumber(q) ~= 0 then return true end
    end
  end
  return false
end

--- `s` in chunked transfer coding, in `pieces` chunks (at least one data
-- chunk when `s` is not empty), then the last chunk and no trailers.
function W.chunked(s, pieces)
  pieces = math.max(1, math.floor(pieces or 3))
  local out, n = {}, #s
  local size = math.max(1, -(-n // pieces))
  local pos = 1
  while pos <= n do
    local piece = s:sub(pos, pos + size - 1)
    out[#out + 1] = string.format("%x\r\n", #piece) .. piece .. "\r\n"
    pos = pos + #piece
  end
  out[#out + 1] = "0\r\n\r\n"
  return concat(out)
end

return W

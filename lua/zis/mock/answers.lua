-- zis.mock.answers: what every route of the local registry shares: the
-- status reasons and Zendesk's error envelope, the 200, 201 and 204
-- answers, the request checks (a JSON object body, a decoded path
-- segment, `*` wildcards), cursor paging and the merge of a PATCH.

local core = require "zis.core"
local is_object = require("zis.util").is_object

local decode, encode = core.decode_json, core.encode_json
local null = core.null
local array_mt = getmetatable(core.array{})

local M = {}

-- The prefix of every ZIS services path.
M.ZIS = "/api/services/zis"

local REASONS = {
  [200] = "OK", [201] = "Created", [204] = "No Content", [302] = "Found",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function url_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

-- A JSON array, even when empty (an unmarked empty table encodes as {}).
local function json_array(items)
  return encode(core.array(items))
end

-- Zendesk's error envelope
local function api_error(status, code, detail, message)
  return status, encode{
    errors = { { code = code, detail = detail, status = tostring(status) } },
    message = message or REASONS[status],
  }, "application/json; charset=utf-8"
end

local function ok(body) return 200, body, "application/json; charset=utf-8" end

-- Pages through `items` with opaque cursors (an item's uuid, or what
-- cursor_of returns), as ZIS does: {<key> = [...], meta = {after =,
-- before =, has_more =}}, or what render(page, meta) makes of the page.
-- page[size] must be a plain integer (digits only) from 1 to 100.
local function paginate(items, q, key, strip, cursor_of, render)
  cursor_of = cursor_of or function(it) return it.uuid end
  local size = 20
  local given = q["page[size]"]
  if given then
    size = given:match("^%d+$") and tonumber(given)
    if not size or size < 1 or size > 100 then
      return api_error(400, "1010", "page[size] must be an integer from 1 to 100",
                       "Invalid parameter")
    end
  end
  local first, last
  local function index_of(cursor)
    for i, it in ipairs(items) do if tostring(cursor_of(it)) == cursor then return i end end
  end
  if q["page[after]"] then
    local i = index_of(q["page[after]"])
    if not i then return api_error(400, "1010", "invalid cursor", "Invalid parameter") end
    first = i + 1
  elseif q["page[before]"] then
    local i = index_of(q["page[before]"])
    if not i then return api_error(400, "1010", "invalid cursor", "Invalid parameter") end
    first = math.max(1, i - size)
    last = i - 1
  else
    first = 1
  end
  last = math.min(last or first + size - 1, #items)
  local page = {}
  for i = first, last do page[#page + 1] = strip and strip(items[i]) or items[i] end
  local meta = {
    has_more = last < #items,
    after = (last < #items and #page > 0) and tostring(cursor_of(items[last])) or null,
    before = (first > 1 and #page > 0) and tostring(cursor_of(items[first])) or null,
  }
  if render then return render(page, meta) end
  return ok('{"' .. key .. '":' .. json_array(page) .. ',"meta":' .. encode(meta) .. '}')
end

local function now_iso() return os.date("!%Y-%m-%dT%H:%M:%SZ") end
local function created(key, value)
  return 201, encode{ [key] = value }, "application/json; charset=utf-8"
end
local function no_content() return 204, "", "text/plain; charset=utf-8" end
local function invalid(detail) return api_error(400, "1010", detail, "Invalid parameter") end
local function missing(detail) return api_error(404, "1020", detail, "Missing Resource") end

-- A request body that is a JSON object, or nil (empty, an array, not JSON).
local function body_object(body)
  if body == "" then return nil end
  local t = decode(body)
  if type(t) ~= "table" or getmetatable(t) == array_mt then return nil end
  return t
end

-- "*" matches any run of characters; everything else literally.
local function wildcard(pattern)
  local p = pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
  return "^" .. p .. "$"
end

-- Merges changes into a stored object, objects key by key (a PATCH).
local function deep_merge(into, changes)
  for k, v in pairs(changes) do
    if is_object(v) and is_object(into[k]) then deep_merge(into[k], v)
    else into[k] = v end
  end
  return into
end

M.REASONS, M.url_decode, M.json_array, M.api_error, M.ok, M.paginate = REASONS, url_decode,
  json_array, api_error, ok, paginate
M.now_iso, M.created, M.no_content, M.invalid, M.missing = now_iso, created, no_content, invalid, missing
M.body_object, M.wildcard, M.deep_merge = body_object, wildcard, deep_merge
return M

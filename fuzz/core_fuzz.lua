-- fuzz/core_fuzz.lua: the Lua half of core_fuzz (make fuzz).
--
-- core_fuzz.c loads this file once into its lua_State (lua/ on the path,
-- zis.core linked in) and gets back two functions:
--
--   call(bytes)        the bytes become a row of zis.endpoints and the
--                      arguments of zis.request.build(row, ...);
--   response(r, bytes) r is a result table as the engine makes it from
--                      the headers and body the C side fed through the
--                      engine's own callbacks; it becomes an error object
--                      through zis.errors.http (or .transport, .decode).
--
-- Each raises "invariant: ..." when the code under test breaks a promise;
-- the C side then aborts, so libFuzzer keeps the input.  The promises:
--   * build either returns or raises a plain message (a string with no
--     Lua source position: argument errors, never a runtime error);
--   * a built path is the row's template with every hole filled by
--     unreserved characters or %XX escapes only, each hole decoding to the
--     argument given, no "." or ".." segment; the query is name=value pairs
--     of the row's own parameters, encoded the same way; a body that
--     build encoded is JSON the decoder takes back;
--   * an error object has the errors metatable and its fields' types, and
--     tostring(err) is one line starting "zis: ".
local client = require "zis.request"
local errors = require "zis.errors"
local endpoints = require "zis.endpoints"
local core = require "zis.core"

local byte, char, format, sub = string.byte, string.char, string.format, string.sub
local concat = table.concat

local function fail(fmt, ...)
  error("invariant: " .. format(fmt, ...), 0)
end

-- A reader over the fuzz bytes: past the end it gives zeros.
local function reader(s)
  local pos = 1
  local R = {}
  function R.byte()
    local b = byte(s, pos) or 0
    pos = pos + 1
    return b
  end
  function R.bytes(n)  -- up to n bytes
    local t = sub(s, pos, pos + n - 1)
    pos = pos + n
    return t
  end
  function R.str()  -- a length-prefixed string
    return R.bytes(R.byte())
  end
  function R.rest() local t = sub(s, pos) pos = #s + 1 return t end
  return R
end

-- Bytes mapped onto an alphabet (to reach the paths that accept a value).
local NAME = "abcdefghijklmnopqrstuvwxyz0123456789_-"
local function within(s, alphabet)
  local out = {}
  for i = 1, #s do
    local k = byte(s, i) % #alphabet + 1
    out[i] = sub(alphabet, k, k)
  end
  return concat(out)
end

local ODD = { 0 / 0, 1 / 0, -1 / 0, 0.5, -0.0, math.maxinteger, math.mininteger, 2 ^ 53 }

local value  -- forward

-- A table from the bytes: a small array or object of values.
local function table_from(R, depth)
  local t, n = {}, R.byte() % 5
  local as_array = R.byte() % 2 == 0
  for i = 1, n do
    local v = value(R, depth + 1)
    if v ~= nil then
      if as_array then t[i] = v else t[R.str()] = v end
    end
  end
  return t
end

-- Any value, by a selector byte; `plausible` (a function) makes the value
-- the argument's kind expects, so that build gets past its checks often.
function value(R, depth, plausible)
  local sel = R.byte() % 10
  if depth > 3 and sel == 3 then sel = 1 end
  if sel == 0 then return nil
  elseif sel == 1 then return R.str()
  elseif sel == 2 then return R.byte() - 64
  elseif sel == 3 then return table_from(R, depth)
  elseif sel == 4 then return core.null
  elseif sel == 5 then return R.byte() % 2 == 0
  elseif sel == 6 then return ODD[R.byte() % #ODD + 1]
  elseif plausible then return plausible(R)
  else return R.str() end
end

-- The kind's plausible value.
local function plausible_for(a, integ)
  local kind = a[2]
  if kind == "integration" then
    return function(R) local s = within(R.str(), NAME) return s ~= "" and s or "x" end
  elseif kind == "enum" then
    return function(R) return a.values[R.byte() % #a.values + 1] end
  elseif kind == "job_spec" then
    return function(R)
      local s = R.str()
      if R.byte() % 2 == 0 and type(integ) == "string" then s = "zis:" .. integ .. ":job_spec:" .. s end
      return s
    end
  elseif kind == "body" then
    return function(R)
      if a.text and R.byte() % 2 == 0 then return R.str() end
      return table_from(R, 1)
    end
  elseif kind == "options" then
    return function(R)
      local t, n = {}, R.byte() % (#a.options + 2)
      for _ = 1, n do
        local k = R.byte()
        local o = a.options[k % (#a.options + 1) + 1]
        local key = o and o[1] or R.str()
        local v
        if o and o[2] == "page_size" and R.byte() % 2 == 0 then v = R.byte() % 110
        else v = value(R, 2, function(RR) return RR.str() end) end
        t[key] = v
      end
      return t
    end
  end
  return function(R) return R.str() end
end

-- Percent-decodes an encoded piece, checking it is only unreserved
-- characters and %XX escapes (what zis.request.pct may produce).
local function decoded(piece, where)
  local plain = piece:gsub("%%%x%x", "")
  if plain:find("[^%w%-_~]") then fail("%s holds a character it should escape: %q", where, piece) end
  if piece:find("%%%X") or piece:find("%%%x%X") or piece:find("%%.?$") then
    fail("%s holds a cut escape: %q", where, piece)
  end
  return (piece:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local function is_message(m, row)
  if type(m) ~= "string" then fail("%s raised a %s, not a message", row.name, type(m)) end
  if m:find("^[^\n]-%.lua:%d+:") then fail("%s raised a runtime error: %s", row.name, m) end
end

-- The path part against the template: literal pieces exactly, holes
-- encoded and decoding to the value given.
local function check_path(row, p, values)
  local pos = 1
  for j, piece in ipairs(row.pieces) do
    if type(piece) == "string" then
      if sub(p, pos, pos + #piece - 1) ~= piece then
        fail("%s: path %q does not follow the template %q", row.name, p, row.path)
      end
      pos = pos + #piece
    else
      local e = p:find("/", pos, true) or #p + 1
      if j == #row.pieces then e = #p + 1 end
      local hole = sub(p, pos, e - 1)
      if hole == "" then fail("%s: empty hole {%s} in %q", row.name, piece[1], p) end
      local v = decoded(hole, row.name .. " hole {" .. piece[1] .. "}")
      if v ~= values[piece[1]] then
        fail("%s: hole {%s} is %q, decoding to %q, but the argument was %q", row.name, piece[1],
             hole, v, tostring(values[piece[1]]))
      end
      pos = e
    end
  end
  if pos ~= #p + 1 then fail("%s: path %q longer than its template %q", row.name, p, row.path) end
  for seg in p:gmatch("[^/]+") do
    if seg == "." or seg == ".." then fail("%s: dot segment in %q", row.name, p) end
  end
  if p:find("//", 1, true) then fail("%s: empty segment in %q", row.name, p) end
end

-- The query's parameters: those the row names, encoded.
local function check_query(row, q)
  local params = {}
  for _, a in ipairs(row.args) do
    if a.param then params[a.param] = true end
    for _, o in ipairs(a.options or {}) do if o.param then params[o.param] = true end end
  end
  for item in (q .. "&"):gmatch("([^&]*)&") do
    local k, v = item:match("^([^=]*)=(.*)$")
    if not k then fail("%s: query item %q is not name=value", row.name, item) end
    local name = decoded(k, row.name .. " query name")
    decoded(v, row.name .. " query value")
    if not params[name] then fail("%s: query names %q, not a parameter of the row", row.name, name) end
  end
end

local rows = {}
for _, row in ipairs(endpoints) do rows[#rows + 1] = row end

local M = {}

function M.call(bytes)
  local R = reader(bytes)
  local row = rows[R.byte() % #rows + 1]
  local nargs = R.byte() % (#row.args + 2)
  local args, integ = {}, nil
  for i = 1, nargs do
    local a = row.args[i]
    local v = value(R, 0, a and plausible_for(a, integ) or nil)
    if a and a[2] == "integration" then integ = v end
    args[i] = v
  end
  -- the general builder says what the request is; the fast path (rows of
  -- path holes only) must agree with it to the byte, or raise as it does
  local ok, path, body, values = pcall(client.build_general, row, table.unpack(args, 1, nargs))
  local fok, fpath = pcall(client.build, row, table.unpack(args, 1, nargs))
  if ok ~= fok or (ok and fpath ~= path) then
    fail("%s: the fast path gives %s, the general one %s", row.name, tostring(fpath), tostring(path))
  end
  if not ok then return is_message(path, row) end
  if type(path) ~= "string" then fail("%s: build returned a %s path", row.name, type(path)) end
  local p, q = path:match("^([^?]*)%?(.*)$")
  check_path(row, p or path, values)
  if q then check_query(row, q) end
  if body ~= nil then
    if type(body) ~= "string" then fail("%s: build returned a %s body", row.name, type(body)) end
    local raw = false
    for i, a in ipairs(row.args) do
      if a[2] == "body" and a.text and type(args[i]) == "string" then raw = true end
    end
    if not raw then
      local v, why = core.decode_json(body)
      if v == nil and why then fail("%s: the body build encoded does not decode (%s): %q", row.name, why, body) end
    end
  end
end

local FIELDS = { kind = "string", status = "number", code = "string", message = "string",
                 detail = "string", errors = "table", method = "string", path = "string",
                 retry_after = "number", request_id = "string", attempts = "number",
                 hint = "string", body = "string" }

local function check_error(e, what)
  if not errors.is_error(e) then fail("%s did not make an error object", what) end
  for k, t in pairs(FIELDS) do
    if e[k] ~= nil and type(e[k]) ~= t then fail("%s: field %s is a %s", what, k, type(e[k])) end
  end
  local ok, s = pcall(tostring, e)
  if not ok then fail("%s: tostring raised %s", what, tostring(s)) end
  if type(s) ~= "string" or s:sub(1, 5) ~= "zis: " then fail("%s: tostring gave %q", what, tostring(s)) end
  if s:find("[\r\n]") then fail("%s: tostring is more than one line: %q", what, s) end
end

local METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE" }

function M.response(r, bytes)
  local R = reader(bytes)
  local row = rows[R.byte() % #rows + 1]
  local flags = R.byte()
  local st = { follow_redirects = flags & 1 ~= 0, has_basic = flags & 2 ~= 0,
               has_oauth = flags & 4 ~= 0, integration = flags & 8 ~= 0 and "x" or nil,
               max_response_bytes = 4096 }
  local method = METHODS[R.byte() % #METHODS + 1]
  local path = row.path
  if r.kind then
    check_error(errors.transport(st, method, path, r, 1), "errors.transport")
    return
  end
  if r.status >= 200 and r.status < 300 then
    if r.value == nil then check_error(errors.decode(method, path, r, 1, r.decode_error), "errors.decode") end
    return
  end
  check_error(errors.http(row, st, method, path, r, 1 + flags % 3), "errors.http")
end

return M

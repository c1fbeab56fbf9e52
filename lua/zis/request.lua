-- zis.request: a request from an endpoint row and a method's arguments.
--
-- Every argument is checked by its kind (zis.endpoints says which) and a
-- misuse raises here, before anything is sent; values that go into a path
-- are percent-encoded, so nothing a caller passes can change which
-- endpoint is called.  build(row, ...) -> path (with query), body text.
-- The checks Zendesk documents for connections (names, domains, header
-- names) are here too, so the client refuses no more and no less than
-- the local registry does.

local core = require "zis.core"
local ENDPOINTS = require "zis.endpoints"

local encode, null = core.encode_json, core.null
local error, ipairs, next, pairs, select, tostring, type =
      error, ipairs, next, pairs, select, tostring, type
local math_type = math.type
local format, concat = string.format, table.concat

local M = {}

---------------------------------------------------------------------------
-- Arguments: checks (misuse raises before any request) and encoding
---------------------------------------------------------------------------

local function argerror(row, i, msg)
  error(format("bad argument #%d to '%s' (%s)", i, row.name, msg), 0)
end

-- Percent-encodes everything but unreserved ALPHA DIGIT - _ ~ ('.' too,
-- so no value can form a dot segment): nothing a caller passes can change
-- which endpoint is called.
local PCT = {}
for b = 0, 255 do PCT[string.char(b)] = format("%%%02X", b) end
-- Recent answers are kept (at most 256, then forgotten at once): a client
-- mostly repeats its integration name and the same few ids.
local find = string.find
local pct_seen, pct_count = {}, 0
local function pct(s)
  local e = pct_seen[s]
  if e then return e end
  e = find(s, "[^%w%-_~]") and (s:gsub("[^%w%-_~]", PCT)) or s
  if pct_count >= 256 then pct_seen, pct_count = {}, 0 end
  pct_seen[s], pct_count = e, pct_count + 1
  return e
end
M.pct = pct

local names_ok, names_count = {}, 0   -- names found valid (at most 64 kept)
local function valid_name(s)
  if names_ok[s] then return true end
  if type(s) == "string" and #s >= 1 and #s <= 64 and not find(s, "[^a-z0-9_-]") then
    if names_count >= 64 then names_ok, names_count = {}, 0 end
    names_ok[s], names_count = true, names_count + 1
    return true
  end
  return false
end
M.valid_name = valid_name
M.argerror = argerror

local function check_string(row, i, v, what)
  if type(v) ~= "string" then
    argerror(row, i, (what and ("option '" .. what .. "' must be a string")
                      or ("string expected, got " .. (v == nil and "no value" or type(v)))))
  end
end

-- Reads one option value by its type; returns the query text or the value.
M.check_string = check_string

local function option_value(row, i, o, v)
  local key, kind = o[1], o[2]
  if kind == "page_size" then
    if math_type(v) ~= "integer" or v < 1 or v > 100 then
      argerror(row, i, "option '" .. key .. "' must be an integer from 1 to 100")
    end
    return tostring(v)
  elseif kind == "cursor" then
    if v == null then
      argerror(row, i, "option '" .. key .. "' is zis.null: the last page has no next cursor; " ..
                       "stop when meta.has_more is false")
    end
    check_string(row, i, v, key)
    if v == "" then argerror(row, i, "option '" .. key .. "' must not be empty") end
    return v
  elseif kind == "string" then
    check_string(row, i, v, key)
    if v == "" then argerror(row, i, "option '" .. key .. "' must not be empty") end
    return v
  elseif kind == "text" then
    check_string(row, i, v, key)
    return v
  end
  return v
end

-- Encodes a JSON value for the body, naming its root in errors.
local function encode_value(v, root)
  return encode(v, root)
end

-- The job spec's full name: short or zis:{integration}:job_spec:{name}.
local function job_spec_name(row, i, v, integ)
  check_string(row, i, v)
  local name = v
  if v:sub(1, 4) == "zis:" then
    local prefix = "zis:" .. integ .. ":job_spec:"
    if v:sub(1, #prefix) ~= prefix or #v == #prefix then
      if v:sub(1, #prefix) == prefix then argerror(row, i, "job spec name must not be empty") end
      argerror(row, i, "full job spec name must be 'zis:" .. integ .. ":job_spec:NAME'")
    end
    name = v:sub(#prefix + 1)
  end
  if name == "" then argerror(row, i, "job spec name must not be empty") end
  if name:find("%z") then argerror(row, i, "job spec name must not contain NUL") end
  return "zis:" .. integ .. ":job_spec:" .. name
end

-- The fast path of build, for rows whose arguments are all path holes
-- of kind integration or string (get_bundle, delete_bundle, ...): each
-- hole's argument index and the literal pieces around the holes, or false.
-- Any argument it does not like goes to the general path, which raises
-- the same errors as ever.
local function fast_plan(row)
  local args, pieces = row.args, row.pieces
  if row.check or #args == 0 or #args > 3 or #pieces ~= 2 * #args + 1 then return false end
  local index = {}
  for i, a in ipairs(args) do
    if a.to ~= "path" or (a[2] ~= "integration" and a[2] ~= "string") then return false end
    index[a[1]] = i
  end
  local plan = { n = #args }
  for j = 1, #args do
    local hole = pieces[2 * j]
    if type(hole) ~= "table" then return false end
    local i = index[hole[1]]
    if not i then return false end
    index[hole[1]] = nil   -- each argument once
    plan[j] = { i, args[i][2] == "integration" }
  end
  if next(index) then return false end
  return plan
end

local function fast_ok(v, integ)
  if type(v) ~= "string" then return false end
  if integ then return valid_name(v) end
  return v ~= ""
end

local build_general

-- Builds a request from a row and the method's arguments: returns the
-- path (with query) and the body text (or nil).  Raises on misuse.
local function build(row, ...)
  local plan = row.fast_plan
  if plan == nil then plan = fast_plan(row) row.fast_plan = plan end
  if plan and select("#", ...) <= plan.n then
    local pieces, a, b = row.pieces, plan[1], plan[2]
    local va = select(a[1], ...)
    if fast_ok(va, a[2]) then
      if not b then return pieces[1] .. pct(va) .. pieces[3] end
      local vb = select(b[1], ...)
      if fast_ok(vb, b[2]) then
        local c = plan[3]
        if not c then return pieces[1] .. pct(va) .. pieces[3] .. pct(vb) .. pieces[5] end
        local vc = select(c[1], ...)
        if fast_ok(vc, c[2]) then
          return pieces[1] .. pct(va) .. pieces[3] .. pct(vb) .. pieces[5] .. pct(vc) .. pieces[7]
        end
      end
    end
  end
  return build_general(row, ...)
end

function build_general(row, ...)
  local args, nargs = row.args, select("#", ...)
  if nargs > #args then
    argerror(row, #args + 1, "no more than " .. #args .. " argument" .. (#args == 1 and "" or "s") ..
                             " expected")
  end
  local values, query, body_parts, whole_body = {}, nil, nil, nil
  for i, a in ipairs(args) do
    local name, kind, to = a[1], a[2], a.to
    local v = select(i, ...)
    if kind == "integration" then
      check_string(row, i, v)
      if not valid_name(v) then argerror(row, i, "integration name must be 1 to 64 of a-z 0-9 - _") end
    elseif kind == "string" then
      check_string(row, i, v)
      if v == "" then argerror(row, i, "must not be empty") end
    elseif kind == "webhook_uuid" then
      check_string(row, i, v)
      if v == "" then argerror(row, i, "must not be empty") end
      -- a webhook's id (a ULID) is not its uuid, and paths take the uuid
      if v:find("^%d+$") or (#v == 26 and not v:find("[^0-9A-HJKMNP-TV-Z]")) then
        argerror(row, i, "'" .. v .. "' looks like the webhook's id: paths take its uuid " ..
                         "(the 'uuid' field of the webhook)")
      end
    elseif kind == "enum" then
      local ok = false
      for _, x in ipairs(a.values) do if v == x then ok = true end end
      if not ok then argerror(row, i, "must be one of " .. concat(a.values, ", ")) end
    elseif kind == "job_spec" then
      v = job_spec_name(row, i, v, values.integration)
    elseif kind == "body" then
      -- a JSON string (where the row allows text) is sent byte for byte
      if not (type(v) == "string" and a.text) and type(v) ~= "table" then
        argerror(row, i, (a.text and "table or JSON string" or "table") .. " expected, got " ..
                         (v == nil and "no value" or type(v)))
      end
    elseif kind == "options" then
      if v == nil then
        if a.required then argerror(row, i, "table expected, got no value") end
      elseif type(v) ~= "table" then
        argerror(row, i, "table expected, got " .. type(v))
      else
        local known = {}
        for _, o in ipairs(a.options) do known[o[1]] = o end
        for k in pairs(v) do
          if not known[k] then argerror(row, i, "unknown option '" .. tostring(k) .. "'") end
        end
        for _, o in ipairs(a.options) do
          local ov = v[o[1]]
          if ov == nil then
            if o.required then argerror(row, i, "option '" .. o[1] .. "' is required") end
          else
            ov = option_value(row, i, o, ov)
            if o.to == "query" then
              query = query or {}
              query[#query + 1] = pct(o.param) .. "=" .. pct(ov)
            else  -- body.<field>
              body_parts = body_parts or {}
              body_parts[#body_parts + 1] = { o.to:sub(6), ov }
            end
          end
        end
        if a.names and v.left_object_name == nil and v.right_object_name == nil then
          argerror(row, i, "give left_object_name or right_object_name (or both)")
        end
      end
      if to == "body" then body_parts = body_parts or {} end
    end
    values[name] = v
    if to == "query" then
      query = query or {}
      query[#query + 1] = pct(a.param) .. "=" .. pct(v)
    elseif to == "body" and kind == "body" then
      whole_body = v
    elseif to and to:sub(1, 5) == "body." then
      body_parts = body_parts or {}
      body_parts[#body_parts + 1] = { to:sub(6), v, kind == "body" }
    end
  end
  -- the path, holes percent-encoded
  local pieces = row.pieces
  local path
  if #pieces == 1 then
    path = pieces[1]
  else
    local out = {}
    for j, p in ipairs(pieces) do
      out[j] = type(p) == "table" and pct(values[p[1]]) or p
    end
    path = concat(out)
  end
  if query then path = path .. "?" .. concat(query, "&") end
  -- the body
  local body
  if whole_body ~= nil then
    body = type(whole_body) == "string" and whole_body or encode_value(whole_body, row.body)
  elseif body_parts then
    local out = {}
    for j, part in ipairs(body_parts) do
      out[j] = encode(part[1]) .. ":" .. encode_value(part[2], part[3] and row.body or part[1])
    end
    body = "{" .. concat(out, ",") .. "}"
  end
  if row.check then M.checks[row.check](row, values) end
  return path, body, values
end
M.build = build
M.build_general = build_general   -- every row (the fuzz target checks the two agree)

---------------------------------------------------------------------------
-- Client-side checks the API documents (before any request)
---------------------------------------------------------------------------

M.checks = {}

-- The header names an API key connection may not use, as a set, and the
-- prefixes: from zis.endpoints, which the local registry reads too, so the
-- client refuses no more and no less.
local RESERVED_HEADERS = {}
for _, h in ipairs(ENDPOINTS.RESERVED_HEADER_NAMES) do RESERVED_HEADERS[h] = true end
local RESERVED_PREFIXES = ENDPOINTS.RESERVED_HEADER_PREFIXES
M.RESERVED_HEADERS, M.RESERVED_PREFIXES = RESERVED_HEADERS, RESERVED_PREFIXES

-- A host name (the API's examples: "api.example.com"; connections are
-- used over https only, so no scheme is given), at most 128 characters,
-- labels of 1 to 63 letters, digits or hyphens (not at either end), an
-- optional leading "*." that must not cover a bare suffix ("*.com").
function M.check_allowed_domain(d)
  if type(d) ~= "string" or d == "" then return "allowed_domain must be a non-empty string" end
  if d:find("^%a[%w+.-]*://") or d:find("/", 1, true) then
    return "allowed_domain must be a host name such as api.example.com, without a scheme " ..
           "or path (connections are used over https only)"
  end
  if #d > 128 then return "allowed_domain must be at most 128 characters" end
  local host, wild = d, d:sub(1, 2) == "*."
  if wild then host = d:sub(3) end
  local labels = 0
  for label in (host .. "."):gmatch("([^.]*)%.") do
    labels = labels + 1
    if #label < 1 or #label > 63 or not label:find("^%w[%w-]*$") or not label:find("%w$") then
      return "allowed_domain labels must be 1 to 63 letters, digits or hyphens " ..
             "(not at either end), with an optional leading '*.'"
    end
  end
  if wild and labels < 2 then return "allowed_domain '*.' must not cover a bare suffix" end
  return nil
end

function M.check_header_name(h)
  if type(h) ~= "string" then return "header_name must be a string" end
  if h == "" or #h > 128 or h:find("[^%a_-]") then
    return "header_name must be 1 to 128 letters, '-' or '_'"
  end
  local l = h:lower()
  local reserved = RESERVED_HEADERS[l]
  for _, p in ipairs(RESERVED_PREFIXES) do
    if l:sub(1, #p) == p then reserved = true end
  end
  if reserved then
    return "header_name '" .. h .. "' is reserved (Host, Cookie, User-Agent and the like, " ..
           "and any x-zis-, x-amz-, x-forwarded-, proxy- or sec- header)"
  end
  return nil
end

-- A connection's name: 3 to 64 letters, digits, '_' or '-', unique
-- across types; "zendesk" is reserved for an OAuth connection
-- (docs/zendesk-api.md, "Behaviours").
function M.check_connection_name(name, oauth)
  if type(name) ~= "string" then return "name must be a string" end
  if #name < 3 or #name > 64 or name:find("[^%w_%-]") then
    return "name must be 3 to 64 letters, digits, '_' or '-'"
  end
  if name == "zendesk" and not oauth then
    return "name 'zendesk' is reserved for an OAuth connection"
  end
  return nil
end

M.checks.connection = function(row, values)
  local f = values.fields
  local i = #row.args
  local why
  if f.allowed_domain ~= nil then why = M.check_allowed_domain(f.allowed_domain) end
  if not why and f.header_name ~= nil then why = M.check_header_name(f.header_name) end
  if not why and row.name == "create_connection" and f.name ~= nil then
    why = M.check_connection_name(f.name, false)
  end
  if why then argerror(row, i, why) end
end

M.checks.oauth_flow = function(row, values)
  local f = values.fields
  if f.name ~= nil then
    local why = M.check_connection_name(f.name, true)
    if why then argerror(row, #row.args, why) end
  end
end

return M

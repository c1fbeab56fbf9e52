-- zis.errors: the error objects of lua-zis, made in one place.
--
-- A failure returns nil, err where err is a table with this module's
-- metatable: kind, status, code, message, detail, errors, method, path,
-- retry_after, request_id, attempts, hint, body (see docs/manual.md).
-- tostring(err) is one line; no field ever holds a credential (the
-- engine never hands a request's headers to Lua).

local core = require "zis.core"

local decode = core.decode_json
local getmetatable, setmetatable, tostring, type, math_type =
      getmetatable, setmetatable, tostring, type, math.type
local concat = table.concat

local M = {}

local MT = { __name = "zis.error" }
M.metatable = MT

local function text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return math_type(v) == "integer" and tostring(v) or tostring(v) end
  return nil
end

-- zis: DELETE /path: 404 Missing Resource (1020: bundle not found); hint
MT.__tostring = function(e)
  local out = { "zis: ", text(e.method) or "?", " ", text(e.path) or "?", ": " }
  if math_type(e.status) == "integer" then
    out[#out + 1] = e.status .. " "
  else
    out[#out + 1] = (text(e.kind) or "error") .. ": "
  end
  out[#out + 1] = text(e.message) or ""
  local code, detail = text(e.code), text(e.detail)
  if code and detail then out[#out + 1] = " (" .. code .. ": " .. detail .. ")"
  elseif detail then out[#out + 1] = " (" .. detail .. ")"
  elseif code then out[#out + 1] = " (" .. code .. ")" end
  if text(e.hint) then out[#out + 1] = "; " .. e.hint end
  -- one line whatever the server sent: control characters (a line break
  -- in a message, a terminal escape) become spaces
  return (concat(out):gsub("%c", " "))
end

function M.is_error(v)
  return type(v) == "table" and getmetatable(v) == MT
end

-- Is `e` a Ctrl-C?  lua5.4 turns SIGINT into a hook that raises
-- "interrupted!" (with a position) at the next instruction; the engine
-- lets it through (core.wait returns at once).  Code that catches errors
-- to report them (deploy, apply, export) must raise these again.
function M.is_interrupt(e)
  if type(e) == "table" then
    return e.kind == "interrupted" or (type(e.message) == "string" and e.message:match("interrupted!$") ~= nil)
  end
  return type(e) == "string" and e:match("interrupted!$") ~= nil
end

function M.new(fields)
  return setmetatable(fields, MT)
end

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [500] = "Internal Server Error",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

-- Copies t[k] into e[k] when it is a string (or a number, made a string:
-- the API sends codes as strings, but be lenient).
local function copy(e, t, k, as)
  local v = text(t[k])
  if v then e[as or k] = v end
end

-- The API-token timeline (docs/zendesk-api.md, "Credentials"), for hints.
M.TIMELINE = "no API token can be created since 2026-10-27, and all stop working on 2027-04-30"

-- The hint: what to do about the likely cause.  `auth`: the credential
-- the attempt carried ("basic" or "bearer").
local function hint(e, row, st, auth)
  local status = e.status
  if row.auth == "upload" and auth == "bearer" and (status == 401 or status == 403) then
    return "Zendesk refuses OAuth tokens on bundle upload: it takes basic credentials " ..
           "(email with an API token; " .. M.TIMELINE .. ")"
  end
  if row.auth == "services" and auth == "basic" and (status == 401 or status == 403) then
    return "ZIS services take only the integration's own OAuth token: " ..
           "use client:for_integration(integration)"
  end
  if status >= 300 and status < 400 then
    return st.follow_redirects
      and "redirect not followed: it leaves the client's host (or loops), so credentials are not sent there"
      or "redirects are not followed; follow_redirects = true follows those that stay on the same host"
  end
  if status == 401 then
    if (row.auth == "services" or row.auth == "registry") and st.bearer_kind == "user" then
      return "Zendesk takes only a token bound to the integration here (401 integration mismatch " ..
             "for any other): use client:for_integration(integration)"
    end
    return "check the credentials"
  end
  return nil
end

-- An HTTP error (a non-2xx answer).  `r` is the engine's result.  The
-- body is Zendesk's envelope {"errors":[{code,title,detail,status}],
-- "message":...} or {"error":..., "description":...} when JSON; else plain
-- text (proxies, 429s), kept in part.
function M.http(row, st, method, path, r, attempts, auth)
  local e = setmetatable({ kind = "http", status = r.status, method = method, path = path,
                           attempts = attempts, request_id = r.request_id,
                           retry_after = r.retry_after }, MT)
  local body = r.body
  local ok, t = false, nil
  if body and body ~= "" then
    t = decode(body)
    ok = type(t) == "table"
  end
  if ok then
    copy(e, t, "message")
    local list = t.errors
    if type(list) == "table" then
      e.errors = list
      local first = list[1]
      if type(first) == "table" then
        copy(e, first, "code")
        copy(e, first, "detail")
        if not e.message then copy(e, first, "title", "message") end
      end
    elseif type(t.error) == "string" then
      e.code = t.error
      copy(e, t, "description", "detail")
    elseif type(t.error) == "table" then      -- {"error":{"title":..,"message":..}}
      copy(e, t.error, "title", "code")
      copy(e, t.error, "message", "detail")
    end
  elseif body and body ~= "" then
    e.body = body:sub(1, 512)
  end
  if not e.message then e.message = r.reason or REASONS[r.status] or "HTTP error" end
  e.hint = hint(e, row, st, auth)
  return e
end

-- A transport failure: kind network, timeout, tls or too_large.
function M.transport(st, method, path, r, attempts)
  local kind = r.kind == "connect" and "network" or r.kind
  -- libcurl quotes URLs in its messages, a proxy's with its password:
  -- user info never reaches an error
  local message = r.message and (r.message:gsub("([%w+.-]+://)[^%s/@']*@", "%1***@"))
  if kind == "too_large" and not message then
    message = "response larger than max_response_bytes (" .. st.max_response_bytes .. ")"
  end
  -- permanent: no retry can fix it (a malformed URL, TLS verification);
  -- sent = false: the request never left (safe to send again)
  return setmetatable({ kind = kind, method = method, path = path, attempts = attempts,
                        message = message, request_id = r.request_id,
                        permanent = r.permanent or nil, sent = r.sent }, MT)
end

-- A 2xx whose body is not what the call promised.
function M.decode(method, path, r, attempts, why)
  return setmetatable({ kind = "decode", status = r.status, method = method, path = path,
                        attempts = attempts, request_id = r.request_id,
                        message = "invalid JSON in a " .. r.status .. " response: " .. why }, MT)
end

return M

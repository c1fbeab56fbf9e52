-- zis.token: the integration's own OAuth token.
--
-- ZIS services (configs, connections, links, inbound webhooks) take only
-- an OAuth token minted for the integration's own OAuth client,
-- zis_<integration>, which create_integration made.  The Support API mints
-- one: POST /api/v2/oauth/tokens with the client's numeric id, as an
-- admin.  client:integration_token does that; client:for_integration
-- returns a client that does it on first use, again after a 401, and
-- shortly before the token expires.

local core = require "zis.core"
local errors = require "zis.errors"
local endpoints = require "zis.endpoints"
local request = require "zis.request"
local run = require "zis.run"

local error, os, pairs, tonumber, type = error, os, pairs, tonumber, type
local null = core.null

local M = {}

local CLIENTS, MINT = endpoints.support_oauth_clients, endpoints.mint_oauth_token

local function check_name(method, integration)
  if not request.valid_name(integration) then
    error("bad argument #1 to '" .. method .. "' (integration name must be 1 to 64 of a-z 0-9 - _)", 3)
  end
end

-- Seconds since the epoch of an ISO 8601 UTC time ("2026-11-23T12:00:00Z").
local function iso_seconds(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec = s:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  local t = { year = tonumber(y), month = tonumber(mo), day = tonumber(d),
              hour = tonumber(h), min = tonumber(mi), sec = tonumber(sec), isdst = false }
  -- os.time reads local time: correct by this machine's offset from UTC
  local now = os.time()
  local offset = os.time(os.date("*t", now)) - os.time(os.date("!*t", now))
  return os.time(t) + offset
end

-- The numeric id of the zis_<integration> OAuth client, from what
-- create_integration recorded, else from the Support API's client list.
local function client_id(self, st, integration)
  local known = st.oauth_client_ids and st.oauth_client_ids[integration]
  if known then return known end
  local identifier = "zis_" .. integration
  local page = 1
  while true do
    local path = request.build(CLIENTS, { page = page, per_page = 100 })
    local res, err = run.call(self, CLIENTS, path)
    if not res then return nil, err end
    for _, c in pairs(type(res.clients) == "table" and res.clients or {}) do
      if type(c) == "table" and c.identifier == identifier and c.id ~= nil then
        st.oauth_client_ids = st.oauth_client_ids or {}
        st.oauth_client_ids[integration] = c.id
        return c.id
      end
    end
    if res.next_page == nil or res.next_page == null or page >= 100 then break end
    page = page + 1
  end
  return nil, errors.new{ kind = "http", status = 404, method = "GET", path = "/api/v2/oauth/clients",
    message = "no OAuth client '" .. identifier .. "' on this account",
    hint = "create_integration makes it; the integration must belong to this account" }
end

--- client:integration_token(integration) -> {token =, expires_at =, expires_in =, scopes =}
function M.integration_token(self, integration)
  check_name("integration_token", integration)
  local st = core.state(self)
  local id, err = client_id(self, st, integration)
  if not id then return nil, err end
  local path, body = request.build(MINT, { client_id = id, scopes = core.array{ "read", "write" } })
  local res
  res, err = run.call(self, MINT, path, body)
  if not res then return nil, err end
  local t = type(res.token) == "table" and res.token or {}
  local token = t.full_token
  if type(token) ~= "string" or token == "" then
    return nil, errors.new{ kind = "decode", status = 201, method = "POST", path = MINT.path,
                            message = "the token answer has no token.full_token" }
  end
  local expires_in = type(t.expires_in) == "number" and t.expires_in or nil
  local at = iso_seconds(t.expires_at)
  if not expires_in and at then expires_in = at - os.time() end
  return { token = token, expires_at = t.expires_at ~= null and t.expires_at or nil,
           expires_in = expires_in, scopes = t.scopes, client_id = id }
end

--- client:for_integration(integration) -> a client for the ZIS services
-- It carries the integration's own token, minted through this client
-- (basic or the admin's OAuth token) on first use, again after a 401
-- and shortly before it expires; it shares this client's basic
-- credential, copied in C, for the registry calls Zendesk takes it on.
-- `sibling(parent, bearer)` makes it (init.lua).
function M.for_integration(self, integration, sibling)
  check_name("for_integration", integration)
  if not core.is_open(self) then error("zis: client is closed", 2) end
  local admin = self
  return sibling(self, { kind = "integration", integration = integration,
    token_fn = function()
      local t, err = M.integration_token(admin, integration)
      if not t then return nil, err end  -- the call returns nil, err
      return t.token, t.expires_in
    end })
end

M.iso_seconds = iso_seconds
return M

-- zis.run.auth: which credential an attempt uses, as Zendesk decides per
-- endpoint (auth_for), and the token refresh: asking the token function
-- (or a minter) for a bearer and handing it to the engine.  Part of
-- zis.run's policy (lua/zis/run.lua), which binds these functions once.

local core = require "zis.core"
local errors = require "zis.errors"

local set_bearer, now = core.set_bearer, core.now
local error, pcall, tostring, type = error, pcall, tostring, type
local min = math.min
local running = coroutine.running

local M = {}

-- Which credential an attempt uses, as Zendesk decides per endpoint
-- (docs/zendesk-api.md, "Credentials"; the manual's table, spec'd cell by
-- cell in spec/auth_matrix_spec.lua).  A client's bearer is of one kind:
--   "user"         oauth_token given by the caller: whom it is bound to
--                  is not known, so it goes wherever nothing better is held;
--   "admin"        minted from the admin's OAuth client (oauth_client):
--                  Zendesk takes it on the admin endpoints only;
--   "integration"  minted by for_integration: bound to st.integration,
--                  refused (401 integration mismatch) for any other.
-- Returns "basic", "bearer", "client_credentials", or nil and why none fits
-- (the call then fails before any request).
local function auth_for(st, row, integ)
  local class, kind = row.auth, st.bearer_kind
  local bound = kind == "integration" and integ ~= nil and integ == st.integration
  if class == "registry" then
    -- a token known to be bound, else basic: any other bearer gets 401
    if bound then return "bearer" end
    if st.has_basic then return "basic" end
    if kind == "user" then return "bearer" end
  elseif class == "services" then
    if bound or kind == "user" then return "bearer" end
    -- refused by Zendesk (403 API token is not supported): reported
    -- plainly, unless this client's token belongs elsewhere (said below)
    if st.has_basic and kind ~= "integration" then return "basic" end
  elseif class == "admin" then
    if st.has_basic then return "basic" end
    if kind == "admin" or kind == "user" then return "bearer" end
  elseif class == "upload" then
    -- Zendesk refuses every OAuth token here today; a 401 says so (errors.hint)
    if st.has_basic then return "basic" end
    if st.has_oauth then return "bearer" end
  elseif class == "client_credentials" then
    return "client_credentials"
  end
  if kind == "admin" then
    return nil, "this client holds the admin's OAuth token, which Zendesk accepts only to list " ..
                "and create integrations and to mint tokens: use client:for_integration(integration)"
  elseif kind == "integration" then
    return nil, "this client's token is bound to integration '" .. st.integration .. "'" ..
                (class == "admin" and ": list or create integrations with the client that " ..
                 "for_integration was called on" or ("; use for_integration('" .. tostring(integ) ..
                 "') on the admin's client"))
  end
  return nil, "no credential this endpoint accepts"
end
M.auth_for = auth_for

-- Asks the token function (or a minter) for a token and hands it to the
-- engine.  Runs user code, which may itself call a client (even this one)
-- or yield to a loop: st.refreshing makes the other calls wait for this
-- one refresh rather than start their own.  A function that answers nil
-- and an error object (a minter, when minting fails) makes that the
-- call's error: returned, not raised, as every failure on the way to the
-- server is.
local function refresh_token(client, st)
  st.refreshing = running()
  local ok, tok, ttl = pcall(st.token_fn)
  st.refreshing = false
  if not ok then error(tok, 0) end
  if tok == nil and errors.is_error(ttl) then return ttl end
  if type(tok) ~= "string" or tok == "" or tok:find("[%z\r\n]") then
    error("zis: oauth_token function must return a non-empty token string", 0)
  end
  set_bearer(client, tok)
  st.bearer_set = true
  st.bearer_gen = (st.bearer_gen or 0) + 1   -- which token an attempt carried
  -- re-mint a little before the token expires, when its life is known
  st.bearer_expires = (type(ttl) == "number" and ttl > 0) and now() + ttl - min(60, ttl / 10) or nil
end

local function token_due(st)
  return not st.bearer_set or (st.bearer_expires and now() >= st.bearer_expires)
end
M.refresh_token, M.token_due = refresh_token, token_due

return M

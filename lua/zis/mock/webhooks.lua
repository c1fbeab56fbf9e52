-- zis.mock.webhooks: the ZIS inbound webhooks service in the local
-- registry: create (the credentials shown once), list, show by uuid and
-- delete (which revokes the credentials).  Adds Registry:webhooks to
-- zis.mock.state's Registry; zis.mock.services routes to it.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"

local encode = core.encode_json
local ok, json_array, api_error = answers.ok, answers.json_array, answers.api_error
local invalid, missing, body_object = answers.invalid, answers.missing, answers.body_object
local url_decode, ZIS = answers.url_decode, answers.ZIS
local Registry = state.Registry
local ACCOUNT_ID = state.ACCOUNT_ID

local M = {}

local function webhook_view(w, with_password)
  return { id = w.id, uuid = w.uuid, integration = w.integration, path = w.path,
           username = w.username, password = with_password and w.password or nil,
           source_system = w.source_system, event_type = w.event_type,
           zendesk_account_id = ACCOUNT_ID }
end

function Registry:webhooks(integ, method, rest, body, host)
  local st = self:services_state(integ)
  if rest == "" and method == "POST" then
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    for _, f in ipairs{ "source_system", "event_type" } do
      if type(req[f]) ~= "string" or req[f] == "" then return invalid(f .. " is required") end
    end
    self.next_id = self.next_id + 1
    local token = string.format("fakeingest%08d", self.next_id)
    local w = { id = self.ulid(), uuid = self:uuid(), integration = integ, source_system = req.source_system,
                event_type = req.event_type,
                path = "http://" .. host .. ZIS .. "/inbound_webhooks/generic/ingest/" .. token,
                username = "fake-webhook-user-" .. self.next_id,
                password = "fake-webhook-password-" .. self.next_id }
    st.webhooks[#st.webhooks + 1] = w
    -- 201 documented, 200 seen (readings.webhook_create_status)
    return self.readings.webhook_create_status, encode(webhook_view(w, true)), "application/json; charset=utf-8"
  end
  -- the list may not exist at all (readings.webhook_list)
  if rest == "/all" and method == "GET" and self.readings.webhook_list == "missing" then
    return api_error(404, "1020", "no such endpoint", "Missing Resource")
  end
  if rest == "/all" and method == "GET" then
    local items = {}
    for i, w in ipairs(st.webhooks) do items[i] = webhook_view(w, false) end
    return ok('{"webhooks":' .. json_array(items) .. '}')
  end
  local uuid = rest:match("^/([^/]+)$")
  if uuid and (method == "GET" or method == "DELETE") then
    uuid = url_decode(uuid)
    for i, w in ipairs(st.webhooks) do
      if w.uuid == uuid then
        if method == "GET" then return ok(encode(webhook_view(w, false))) end
        table.remove(st.webhooks, i)   -- its credentials no longer work
        return self:deleted()
      end
    end
    return missing("inbound webhook " .. uuid .. " not found")
  end
  return nil
end

return M

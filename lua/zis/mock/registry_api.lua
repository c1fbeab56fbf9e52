-- zis.mock.registry_api: the local registry's Registry API routes
-- (zis-api.md 1.1): listing and creating integrations, uploading, listing,
-- showing and deleting bundles, listing job specs and (un)installing them,
-- each with the credentials it takes.  Adds Registry:route, :upload and
-- :job_spec_target to zis.mock.state's Registry.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"

local decode, encode = core.decode_json, core.encode_json
local remove, sort = table.remove, table.sort
local api_error, ok, json_array = answers.api_error, answers.ok, answers.json_array
local url_decode, paginate = answers.url_decode, answers.paginate
local Registry = state.Registry
local ACCOUNT_ID = state.ACCOUNT_ID

local M = {}

local REG = "/api/services/zis/registry"
local TEMPLATE_VERSION = "2019-10-14"

local function bundle_summary(b)
  return { uuid = b.uuid, name = b.name, integration = b.integration,
           description = b.description, zendesk_account_id = b.zendesk_account_id,
           zis_template_version = b.zis_template_version }
end

local function job_spec_view(j)
  return { uuid = j.uuid, name = j.name, description = j.description,
           event_source = j.event_source, event_type = j.event_type,
           flow_name = j.flow_name, installed = j.installed,
           integration = j.integration }
end

-- Upsert by name.  The bundle's job specs are (re)registered uninstalled,
-- as on ZIS, where an upload orphans installed job specs; an installed job
-- spec the new bundle no longer has stays installed (a stale one).
function Registry:upload(integ, body)
  local b = decode(body)
  if type(b) ~= "table" then
    return api_error(400, "1010", "request body is not a JSON object", "Invalid bundle")
  end
  if b.zis_template_version ~= TEMPLATE_VERSION then
    return api_error(400, "1010", "zis_template_version must be " .. TEMPLATE_VERSION,
                     "Invalid bundle")
  end
  if type(b.name) ~= "string" or b.name == "" then
    return api_error(400, "1010", "name is required", "Invalid bundle")
  end
  if b.resources ~= nil and type(b.resources) ~= "table" then
    return api_error(400, "1010", "resources must be an object", "Invalid bundle")
  end
  local list = self.bundles[integ]
  local old
  for _, x in ipairs(list) do if x.name == b.name then old = x end end
  local stored = old or { uuid = self:uuid(), name = b.name }
  stored.integration = integ
  stored.zendesk_account_id = ACCOUNT_ID
  stored.description = b.description or ""
  stored.zis_template_version = b.zis_template_version
  stored.resources = b.resources or {}
  if not old then list[#list + 1] = stored end
  -- job specs
  local specs = self.job_specs[integ]
  for i = #specs, 1, -1 do
    local j = specs[i]
    if j.bundle == stored.uuid and not j.installed then remove(specs, i) end
  end
  local keys = {}
  for k in pairs(stored.resources) do keys[#keys + 1] = k end
  sort(keys)
  for _, k in ipairs(keys) do
    local r = stored.resources[k]
    if type(r) == "table" and r.type == "ZIS::JobSpec" and type(r.properties) == "table" then
      local p = r.properties
      local name = type(p.name) == "string" and p.name or k
      local j = self:find_job_spec(integ, name)
      if not j then
        j = { uuid = self:uuid(), name = name }
        specs[#specs + 1] = j
      end
      j.bundle, j.integration, j.installed = stored.uuid, integ, false
      j.description, j.event_source = p.description or "", p.event_source
      j.event_type, j.flow_name = p.event_type, p.flow_name
    end
  end
  -- 200 or 201, empty, text or JSON: no source settles it (readings)
  local status, kind = self.readings.bundle_upload_status, self.readings.bundle_upload_body
  if kind == "text" then return status, "OK", "text/plain; charset=utf-8" end
  if kind == "json" then
    return status, encode{ bundle = bundle_summary(stored) }, "application/json; charset=utf-8"
  end
  return status, "", "text/plain; charset=utf-8"
end

-- Parses job_spec_name=zis:{integration}:job_spec:{name}
function Registry:job_spec_target(q)
  local full = q.job_spec_name
  if not full then
    return nil, api_error(400, "1010", "job_spec_name is required", "Invalid parameter")
  end
  local integ, name = full:match("^zis:([a-z0-9_%-]+):job_spec:(.+)$")
  if not integ then
    return nil, api_error(400, "1010", "job_spec_name must be zis:{integration}:job_spec:{name}",
                          "Invalid parameter")
  end
  local j = self:find_job_spec(integ, name)
  if not j then
    return nil, api_error(404, "1020", "job spec " .. full .. " not found", "Missing Resource")
  end
  return j
end

local function oauth_disabled()
  return api_error(401, "1001", "OAuth being disabled for this API request", "Unauthorized")
end

local function integration_mismatch()
  return api_error(401, "1001", "Authorization failed due to integration mismatch", "Unauthorized")
end

-- Routes an authenticated registry request; returns status, body, content
-- type.  auth: "basic", "oauth" or "zis" (then token: the minted token).
function Registry:route(method, path, q, body, auth, token)
  local integ_path = path:match("^" .. REG .. "/([^/]+)$")
  -- listing and creating integrations: basic, or an admin's own OAuth
  -- token (docs/zendesk-api.md); a token bound to an integration is not
  if auth == "zis" and ((path == REG .. "/integrations" and method == "GET")
                        or (integ_path and integ_path ~= "integrations" and method == "POST")) then
    return oauth_disabled()
  end
  if path == REG .. "/integrations" and method == "GET" then
    local names = {}
    for n in pairs(self.integrations) do names[#names + 1] = n end
    sort(names)
    local items = {}
    for i, n in ipairs(names) do items[i] = self.integrations[n] end
    return ok('{"integrations":' .. json_array(items) .. '}')
  elseif path == REG .. "/job_specs/install" and (method == "POST" or method == "DELETE") then
    local j, s, b, ct = self:job_spec_target(q)
    if not j then return s, b, ct end
    -- a bearer must be bound to the job spec's integration
    if auth == "oauth" or (auth == "zis" and token.integration ~= j.integration) then
      return integration_mismatch()
    end
    if method == "POST" then
      j.installed = true
      return 200, "", "text/plain; charset=utf-8"
    end
    j.installed = false
    if not self:find_bundle(j.integration, j.bundle) then  -- stale: forget it
      local _, i = self:find_job_spec(j.integration, j.name)
      remove(self.job_specs[j.integration], i)
    end
    return self:deleted()
  elseif integ_path and method == "POST" then
    local name = url_decode(integ_path)
    if not name:match("^[a-z0-9_%-]+$") or #name > 64 then
      return api_error(400, "1010", "integration name must be 1 to 64 of a-z 0-9 - _",
                       "Invalid integration name")
    end
    if self.integrations[name] then
      return api_error(409, "1010", "integration " .. name .. " already exists", "Conflict")
    end
    local req = body ~= "" and decode(body) or {}
    if type(req) ~= "table" then
      return api_error(400, "1010", "request body is not a JSON object", "Invalid parameter")
    end
    local integ = {
      name = name,
      description = type(req.description) == "string" and req.description or "",
      jwt_public_key = "-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
      zendesk_oauth_client = { id = 900000 + self.next_id, identifier = "zis_" .. name,
                               secret = "mock-client-secret" },
    }
    -- when the Support API's client list shows it (not part of the answer)
    local client_created = os.date("!%Y-%m-%dT%H:%M:%SZ")
    self.next_id = self.next_id + 1
    self.integrations[name] = integ
    self.client_created = self.client_created or {}
    self.client_created[integ.zendesk_oauth_client.id] = client_created
    self.bundles[name], self.job_specs[name] = {}, {}
    return ok(encode{ description = integ.description, jwt_public_key = integ.jwt_public_key,
                      zendesk_oauth_client = integ.zendesk_oauth_client })
  end
  local integ, rest = path:match("^" .. REG .. "/([^/]+)/(.*)$")
  if not integ then
    return api_error(404, "1020", "no such endpoint", "Missing Resource")
  end
  integ = url_decode(integ)
  if rest == "bundles" and method == "POST" and auth ~= "basic" then return oauth_disabled() end
  -- a bearer must be bound to the integration in the path
  if auth == "oauth" or (auth == "zis" and token.integration ~= integ) then
    return integration_mismatch()
  end
  if not self.integrations[integ] then
    return api_error(404, "1020", "integration " .. integ .. " not found", "Missing Resource")
  end
  if rest == "bundles" and method == "GET" then
    return paginate(self.bundles[integ], q, "bundles", bundle_summary)
  elseif rest == "bundles" and method == "POST" then
    if auth ~= "basic" then return oauth_disabled() end
    return self:upload(integ, body)
  elseif rest == "job_specs" and method == "GET" then
    return paginate(self.job_specs[integ], q, "job_specs", job_spec_view)
  end
  local uuid = rest:match("^bundles/([^/]+)$")
  if uuid and (method == "GET" or method == "DELETE") then
    uuid = url_decode(uuid)
    local b, i = self:find_bundle(integ, uuid)
    if not b then
      return api_error(404, "1020", "bundle not found", "Missing Resource")
    end
    if method == "GET" then return ok(encode(b)) end
    remove(self.bundles[integ], i)
    local specs = self.job_specs[integ]
    for k = #specs, 1, -1 do
      if specs[k].bundle == uuid and not specs[k].installed then remove(specs, k) end
    end
    return self:deleted()
  end
  return api_error(404, "1020", "no such endpoint", "Missing Resource")
end

return M

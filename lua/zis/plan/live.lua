-- zis.plan.live: reads what plan compares from the API (GET requests
-- only).  The admin's client lists integrations; every other read goes
-- through the integration's own token (svc()).

local zis_core = require "zis.core"
local manifest = require "zis.manifest"
local deploy = require "zis.deploy"

local error, ipairs, next, tostring, type = error, ipairs, next, tostring, type
local null = zis_core.null
local sorted_keys = require("zis.util").sorted_keys

local M = {}

-- Collects an iterator into a list; the iterator raises error objects.
local function collect(it, ...)
  local list = {}
  for x in it(...) do list[#list + 1] = x end
  return list
end

local function check(v, err)
  if v == nil then error(err, 0) end
  return v
end

function M.nonnull(v) if v == null then return nil end return v end

-- The key of a webhook in a manifest: "source_system:event_type".
function M.webhook_key(w) return tostring(w.source_system) .. ":" .. tostring(w.event_type) end

-- The links apply made to record the webhooks it created: uuid -> key.
local function webhook_records(c, integration)
  local rec = {}
  for _, l in ipairs(collect(c.links, c, integration, { link_type = manifest.WEBHOOK_LINK,
                                                        left_object_name = "*", page_size = 100 })) do
    local key, uuid = l.left_object and l.left_object.name, l.right_object and l.right_object.name
    if type(key) == "string" and type(uuid) == "string" then rec[uuid] = key end
  end
  return rec
end

-- Fills live.webhooks (key -> {uuid, source_system, event_type}, the one
-- apply recorded) and live.unrecorded (key -> array: webhooks no finished
-- apply recorded).  The list endpoint is not in Zendesk's reference
-- (zaf-toolbox calls it, a runbook says there is none): on 404 or 405 the
-- webhooks are those the records name, each confirmed with a GET, and
-- live.listed is false (a webhook made otherwise is then unknown).
local function read_webhooks(c, integration, live)
  local rec = webhook_records(c, integration)
  live.records = rec
  local res, err = c:list_inbound_webhooks(integration)
  if res then
    live.listed = true
    for _, w in ipairs(type(res.webhooks) == "table" and res.webhooks or {}) do
      if type(w) == "table" and type(w.uuid) == "string" then
        local key = M.webhook_key(w)
        local v = { uuid = w.uuid, source_system = w.source_system, event_type = w.event_type }
        if rec[w.uuid] and not live.webhooks[key] then
          live.webhooks[key] = v
        else
          live.unrecorded[key] = live.unrecorded[key] or {}
          local u = live.unrecorded[key]
          u[#u + 1] = v
        end
      end
    end
    return
  end
  if err.status ~= 404 and err.status ~= 405 then error(err, 0) end
  live.listed = false
  for _, uuid in ipairs(sorted_keys(rec)) do
    local key = rec[uuid]
    local w, gerr = c:get_inbound_webhook(integration, uuid)
    if w then
      live.webhooks[key] = { uuid = uuid, source_system = w.source_system, event_type = w.event_type }
    elseif gerr.status ~= 404 then
      error(gerr, 0)
    end
  end
end

--- read(admin, svc, integration) -> live.  Raises error objects (the
-- caller catches them).
-- on_progress (optional): the figures of the bundles' fetch (zis.pace).
function M.read(admin, svc, integration, on_progress)
  local live = { exists = false, bundles = {}, job_specs = {}, configs = {}, connections = {},
                 oauth_clients = {}, webhooks = {}, unrecorded = {}, records = {} }
  local list = check(admin:list_integrations())
  for _, i in ipairs(type(list.integrations) == "table" and list.integrations or {}) do
    if i.name == integration then live.exists, live.description = true, M.nonnull(i.description) end
  end
  if not live.exists then return live end
  local c = svc()
  local uuids = {}
  for _, b in ipairs(collect(c.bundles, c, integration, { page_size = 100 })) do uuids[#uuids + 1] = b.uuid end
  local full, errs = c:get_bundles(integration, uuids, on_progress and { on_progress = on_progress } or nil)
  if errs then
    local _, e = next(errs)
    error(e, 0)
  end
  for _, b in ipairs(full) do live.bundles[b.name] = b end
  for _, js in ipairs(collect(c.job_specs, c, integration, { page_size = 100 })) do
    live.job_specs[deploy.short_name(integration, js.name)] = js
  end
  -- Zendesk answers 404 when there is no config yet: the iterator yields none
  for _, x in ipairs(collect(c.configs, c, integration, { scope = "*", page_size = 100 })) do
    live.configs[x.scope] = x.config
  end
  for _, x in ipairs(collect(c.connections, c, integration, { page_size = 100 })) do
    live.connections[x.name] = x
  end
  local oc = check(c:list_oauth_clients(integration))
  -- (list_oauth_clients answers {clients = ...} whatever shape Zendesk gave)
  for _, x in ipairs(oc.clients) do
    if type(x) == "table" and type(x.name) == "string" then live.oauth_clients[x.name] = x end
  end
  read_webhooks(c, integration, live)
  return live
end

return M

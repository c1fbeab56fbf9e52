-- quickstart.lua: drive a ZIS integration end to end.
--
--   make demo                       (against the local registry)
--   ZENDESK_SUBDOMAIN=acme ZENDESK_EMAIL=... ZENDESK_API_TOKEN=... \
--     lua5.4 examples/quickstart.lua   (against a real account: careful,
--                                       integration names are global and
--                                       cannot be deleted)
local zis = require "zis"

local client
if os.getenv("ZIS_MOCK_URL") then
  -- the local registry accepts these obviously fake credentials
  client = zis.new{ url = os.getenv("ZIS_MOCK_URL"),
                    email = "admin@example.com", token = "fake-api-token" }
else
  client = zis.from_env()
end
print("client:", tostring(client))

local integration = os.getenv("ZIS_INTEGRATION") or "quickstart_demo"

-- 1. Create the integration; 409 means it exists already, which is fine.
local created, err = client:create_integration(integration, { description = "lua-zis quickstart" })
if created then
  print("created integration " .. integration .. ", OAuth client " ..
        created.zendesk_oauth_client.identifier)
elseif err.status == 409 then
  print("integration " .. integration .. " exists already")
else
  error(err, 0)
end

-- 2. Upload a few bundles (an upsert by name).
local function bundle(name)
  return {
    zis_template_version = "2019-10-14",
    name = name,
    description = "quickstart bundle " .. name,
    resources = {
      hello_flow = { type = "ZIS::Flow", properties = { name = "hello_flow", definition = {
        StartAt = "Done", States = { Done = { Type = "Succeed", Message = "hello" } } } } },
      on_ticket = { type = "ZIS::JobSpec", properties = {
        name = "on_ticket_" .. name, event_source = "support",
        event_type = "ticket.TicketCreated",
        flow_name = "zis:" .. integration .. ":flow:hello_flow" } },
    },
  }
end
for i = 1, 5 do
  assert(client:upload_bundle(integration, bundle("bundle_" .. i)))
end
print("uploaded 5 bundles")

-- 3. One page, then every bundle through the lazy iterator (2 per page).
local page = assert(client:list_bundles(integration, { page_size = 2 }))
print(string.format("first page: %d bundles, has_more = %s", #page.bundles,
                    tostring(page.meta.has_more)))
local uuid
for b in client:bundles(integration, { page_size = 2 }) do
  print("  bundle " .. b.name .. "  " .. b.uuid)
  uuid = uuid or b.uuid
end

-- 4. Show one bundle, with its resources.
local b = assert(client:get_bundle(integration, uuid))
local keys = {}
for k in pairs(b.resources) do keys[#keys + 1] = k end
table.sort(keys)
print("bundle " .. b.name .. " has resources: " .. table.concat(keys, ", "))

-- 5. Install its job spec and read the state back.
local spec = b.resources.on_ticket.properties.name
assert(client:install_job_spec(integration, spec))
for js in client:job_specs(integration) do
  if js.name == spec then print("job spec " .. js.name .. " installed: " .. tostring(js.installed)) end
end

-- 6. Delete the bundle; a second look says 404.
assert(client:delete_bundle(integration, uuid))
local gone, why = client:get_bundle(integration, uuid)
print("deleted; fetching it again: " .. (gone and "still there?!" or tostring(why)))
client:close()

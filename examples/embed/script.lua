-- script.lua: what a host's script does with lua-zis (run by embed.c).
-- THREAD is set by the host; each thread has its own state and client.
local zis = require "zis"

local client <close> = zis.new{ url = assert(os.getenv("ZIS_MOCK_URL"), "ZIS_MOCK_URL"),
                                email = "admin@example.com", token = "fake-api-token" }
local integration = "embed_" .. THREAD
local _, err = client:create_integration(integration, { description = "from embed.c" })
if err and err.status ~= 409 then error(err) end  -- an error object: the host prints it
assert(client:upload_bundle(integration, {
  zis_template_version = "2019-10-14", name = "b" .. THREAD, resources = zis.object{},
}))
local n = 0
for _ in client:bundles(integration) do n = n + 1 end
print(string.format("thread %d: %s has %d bundle(s)", THREAD, integration, n))
if os.getenv("EMBED_FAIL") then
  -- show how a failure reaches the host: raise the error object
  local _, missing = client:get_bundle(integration, "no-such-uuid")
  error(missing)
end

-- poll_script.lua: the tasks poll_host.c drives from its own poll() loop.
-- Each task has its own client on the generic host adapter; the calls
-- read as blocking code, and yield to the host where they would block.
local zis = require "zis"
local loop = require "zis.loop"

local url = assert(os.getenv("ZIS_MOCK_URL"), "ZIS_MOCK_URL")
local host = loop.host()

local tasks = {}
for t = 1, 3 do
  tasks[t] = loop.task(function()
    local client <close> = zis.new{ url = url, email = "admin@example.com",
                                    token = "fake-api-token", scheduler = host }
    local integration = "poll_" .. t
    local _, err = client:create_integration(integration, { description = "from poll_host.c" })
    if err and err.status ~= 409 then error(err) end
    assert(client:upload_bundle(integration, {
      zis_template_version = "2019-10-14", name = "b" .. t, resources = zis.object{},
    }))
    local n = 0
    for _ in client:bundles(integration) do n = n + 1 end
    print(string.format("task %d: %s has %d bundle(s)", t, integration, n))
  end)
end
return tasks

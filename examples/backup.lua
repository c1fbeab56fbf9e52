-- backup.lua: every bundle of an integration to a folder of JSON files.
--
--   lua5.4 examples/backup.lua INTEGRATION DIR
--
-- Against the local registry when ZIS_MOCK_URL is set (make test does),
-- else against the account in ZENDESK_* (see zis.from_env).
local zis = require "zis"

local integration = arg[1] or "example_integration"
local dir = arg[2] or "backup"

local client = os.getenv("ZIS_MOCK_URL")
  and zis.new{ url = os.getenv("ZIS_MOCK_URL"), email = "admin@example.com", token = "fake-api-token" }
  or zis.from_env()

local report = client:export(integration, dir, {
  concurrency = 8,
  progress = function(done, total) io.stderr:write(string.format("\rbackup: %d/%d", done, total)) end,
})
io.stderr:write("\n")
if report.error then
  print("backup failed: " .. tostring(report.error))
  os.exit(1)
end
for _, w in ipairs(report.written) do print("wrote " .. w.file) end
for _, f in ipairs(report.failed) do print("FAILED " .. f.uuid .. ": " .. tostring(f.error)) end
print(string.format("%d bundle(s) backed up to %s, %d failed", #report.written, dir, #report.failed))
os.exit(report.ok and 0 or 1)

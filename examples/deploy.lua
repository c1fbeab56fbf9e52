-- deploy.lua: validate -> deploy -> report, the safe path for a bundle.
--
--   lua5.4 examples/deploy.lua [BUNDLE.json] [INTEGRATION]
--
-- Against the local registry when ZIS_MOCK_URL is set (make test does),
-- else against the account in ZENDESK_* (see zis.from_env).
local zis = require "zis"

local file = arg[1] or "examples/bundles/example.json"
local integration = arg[2] or "example_integration"

local client = os.getenv("ZIS_MOCK_URL")
  and zis.new{ url = os.getenv("ZIS_MOCK_URL"), email = "admin@example.com", token = "fake-api-token" }
  or zis.from_env()

local text = assert(io.open(file, "rb")):read("a")

-- 1. offline checks first: nothing is sent for a bundle with errors
local ok, problems = zis.validate(text, { integration = integration })
for _, p in ipairs(problems) do print(p.severity .. ": " .. p.path .. ": " .. p.message) end
if not ok then
  print(file .. " is not valid; nothing sent")
  os.exit(1)
end

-- 2. what would happen, without writing
local plan = client:deploy(integration, text, { dry_run = true })
for _, step in ipairs(plan.steps) do print("plan: " .. step) end

-- 3. deploy: create if missing, upload, install every job spec, read back,
-- and remove job specs left installed by older bundles
local report = client:deploy(integration, text, { uninstall_stale = true })
for _, step in ipairs(report.steps) do print("  " .. step) end
for _, f in ipairs(report.failed) do print("failed: " .. f.name .. ": " .. tostring(f.error)) end
print(report.summary)
os.exit(report.ok and 0 or 1)

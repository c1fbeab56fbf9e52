-- The examples run against the local registry, so they never rot.
local H = require "spec.helper"

local function run(script)
  local p = assert(io.popen("ZIS_MOCK_URL=" .. H.url .. " ZIS_INTEGRATION=example_run lua5.4 "
                            .. script .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

describe("examples", function()
  it("quickstart.lua runs end to end", function()
    H.reset()
    local ok, out = run("examples/quickstart.lua")
    assert.is_true(ok, out)
    assert.matches("created integration example_run", out)
    assert.matches("bundle bundle_5", out)
    assert.matches("installed: true", out)
    assert.matches("404 Missing Resource", out)
    -- and a second run finds the integration there already
    ok, out = run("examples/quickstart.lua")
    assert.is_true(ok, out)
    assert.matches("exists already", out)
  end)

  it("deploy.lua validates, plans, deploys and reports", function()
    H.reset()
    local ok, out = run("examples/deploy.lua")
    assert.is_true(ok, out)
    assert.matches("plan: would create integration example_integration", out)
    assert.matches("installed job spec on_ticket_created", out)
    assert.matches("deployed: bundle example_bundle", out)
    ok, out = run("examples/deploy.lua")  -- twice: still fine
    assert.is_true(ok, out)
  end)

  it("backup.lua exports every bundle", function()
    local dir = os.tmpname()
    os.remove(dir)
    local ok, out = run("examples/backup.lua example_integration " .. dir)
    assert.is_true(ok, out)
    assert.matches("1 bundle%(s%) backed up", out)
    assert.equal("example_bundle", require("zis").decode_json(H.read(dir .. "/example_bundle.json")).name)
    os.execute("rm -rf " .. dir)
  end)
end)

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
end)

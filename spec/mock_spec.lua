-- The local registry itself: loopback only, and its control endpoints.
local mock = require "zis.mock"
local H = require "spec.helper"

describe("local registry", function()
  it("refuses to listen anywhere but loopback", function()
    for _, host in ipairs{ "0.0.0.0", "192.0.2.1", "::", "example.com" } do
      assert.has_error(function() mock.serve{ host = host, port = 0, quiet = true } end,
        "zis.mock: refusing to listen on " .. host .. ": loopback only")
    end
  end)

  it("counts connections and requests, and reset clears them", function()
    H.reset()
    local s = H.stats()
    assert.equal(0, s.requests)
    H.client():list_integrations()
    assert.equal(1, H.stats().requests)
  end)

  it("answers an unknown path with a Zendesk-shaped 404", function()
    local c = H.client()
    local res, err = c:get_bundle("demo", "x")  -- no integration "demo" after reset
    assert.is_nil(res)
    assert.equal(404, err.status)
    assert.equal("1020", err.code)
    assert.equal("Missing Resource", err.message)
  end)
end)

-- The per-call fast paths (zis.request's build for rows of path holes, its
-- bounded caches; the engine's slots keeping their set-up for the next
-- plain GET) give what the general path gives.
local dispatch = require "zis.request"
local endpoints = require "zis.endpoints"
local H = require "spec.helper"
local zis_ua = require("zis").user_agent

local function row(name)
  for _, r in ipairs(endpoints) do if r.name == name then return r end end
end

describe("per-call fast path", function()
  it("percent-encodes every id the same way across cache resets", function()
    local r = row("get_bundle")
    for i = 1, 600 do
      local id = "id " .. i .. "/..%"
      local path = dispatch.build(r, "acme", id)
      assert.are.equal("/api/services/zis/registry/acme/bundles/id%20" .. i .. "%2F%2E%2E%25", path)
    end
  end)

  it("still refuses bad arguments with the general path's messages", function()
    local r = row("get_bundle")
    assert.has_error(function() dispatch.build(r, "Bad Name", "x") end,
      "bad argument #1 to 'get_bundle' (integration name must be 1 to 64 of a-z 0-9 - _)")
    assert.has_error(function() dispatch.build(r, "acme", "") end,
      "bad argument #2 to 'get_bundle' (must not be empty)")
    assert.has_error(function() dispatch.build(r, "acme", 5) end,
      "bad argument #2 to 'get_bundle' (string expected, got number)")
    assert.has_error(function() dispatch.build(r, "acme", "x", "y") end,
      "bad argument #3 to 'get_bundle' (no more than 2 arguments expected)")
    for i = 1, 100 do assert.is_true(dispatch.valid_name("n" .. i)) end
    assert.is_false(dispatch.valid_name("Bad"))
  end)

  it("a slot reused for a GET, an upload, a delete and a GET sends each its own method and headers", function()
    H.reset()
    local I = "percall"
    H.fresh(I)
    local c = H.client()
    local up = assert(c:upload_bundle(I, H.bundle(I, "one")))
    local uuid = type(up) == "table" and up.uuid or assert(c:list_bundles(I)).bundles[1].uuid
    assert.truthy(c:get_bundle(I, uuid))
    local n = #H.log()
    assert.truthy(c:get_bundle(I, uuid))
    assert.truthy(c:upload_bundle(I, H.bundle(I, "two")))
    assert.truthy(c:get_bundle(I, uuid))
    assert.is_true(c:delete_bundle(I, uuid))
    assert.is_nil((c:get_bundle(I, uuid)))
    local log = H.log()
    local seen = {}
    for k = n + 1, #log do
      local r = log[k]
      seen[#seen + 1] = r.method
      assert.equal(zis_ua, r.headers["user-agent"])
      assert.equal("application/json", r.headers.accept)
      assert.truthy(r.headers.authorization)
      if r.method == "GET" or r.method == "DELETE" then
        assert.is_nil(r.headers["content-type"])
        assert.is_nil(r.headers["expect"])
      else
        assert.equal("application/json", r.headers["content-type"])
      end
    end
    assert.same({ "GET", "POST", "GET", "DELETE", "GET" }, seen)
    c:close()
  end)
end)

-- client:get_bundles (concurrent, curl multi) and client:export
local zis = require "zis"
local H = require "spec.helper"

local function seed(c, integration, n)
  for i = 1, n do
    assert(c:upload_bundle(integration, H.bundle(integration, string.format("b%03d", i), {})))
  end
  local uuids = {}
  for b in c:bundles(integration, { page_size = 100 }) do uuids[#uuids + 1] = b.uuid end
  return uuids
end

describe("client:get_bundles", function()
  local c, uuids
  setup(function()
    H.fresh("bulk")
    c = H.client()
    uuids = seed(c, "bulk", 24)
  end)
  after_each(function() H.control("POST", "config", { latency = 0 }) end)

  it("returns every bundle, with resources, in the caller's order", function()
    local order = { uuids[7], uuids[1], uuids[24], uuids[3] }
    local bundles, errors = c:get_bundles("bulk", order)
    assert.is_nil(errors)
    for i, uuid in ipairs(order) do
      assert.equal(uuid, bundles[i].uuid)
      assert.is_table(bundles[i].resources)
    end
  end)

  it("runs requests at once, up to the concurrency limit, on few connections", function()
    H.control("POST", "config", { latency = 0.05 })
    local before = H.stats()
    local bundles = c:get_bundles("bulk", uuids, { concurrency = 6 })
    assert.equal(24, #bundles)
    local after = H.stats()
    assert.is_true(after.max_in_flight > 1, "no overlap")
    assert.is_true(after.max_in_flight <= 6, "more in flight than asked: " .. after.max_in_flight)
    -- one pool: at most one connection per slot (+1 for the stats request)
    assert.is_true(after.connections - before.connections <= 6 + 1)
  end)

  it("one failure does not lose the others", function()
    local list = { uuids[1], "no-such-uuid", uuids[2] }
    local bundles, errors = c:get_bundles("bulk", list, { concurrency = 2 })
    assert.equal(uuids[1], bundles[1].uuid)
    assert.is_nil(bundles[2])
    assert.equal(uuids[2], bundles[3].uuid)
    assert.is_true(zis.is_error(errors[2]))
    assert.equal(404, errors[2].status)
    assert.is_nil(errors[1])
  end)

  it("retries each item by the usual rules, honouring Retry-After", function()
    H.faults{ { method = "GET", path = "/api/services/zis/registry/bulk/bundles/" .. uuids[5], status = 429,
                body = "", headers = { ["Retry-After"] = "0" }, times = 2 } }
    local events = {}
    local c2 = H.client{ retries = 3, on_request = function(e) events[#events + 1] = e end }
    local bundles, errors = c2:get_bundles("bulk", { uuids[4], uuids[5], uuids[6] }, { concurrency = 3 })
    assert.is_nil(errors)
    assert.equal(uuids[5], bundles[2].uuid)
    local retried = 0
    for _, e in ipairs(events) do if e.status == 429 then retried = retried + 1 end end
    assert.equal(2, retried)
  end)

  it("gives up on an item after `retries`, reporting its attempts", function()
    H.faults{ { method = "GET", path = "/api/services/zis/registry/bulk/bundles/" .. uuids[8], status = 503,
                body = "", headers = { ["Retry-After"] = "0" }, times = 10 } }
    local _, errors = H.client{ retries = 2 }:get_bundles("bulk", { uuids[8], uuids[9] })
    assert.equal(503, errors[1].status)
    assert.equal(3, errors[1].attempts)
    assert.is_nil(errors[2])
    H.reset()
    H.fresh("bulk")
    uuids = seed(c, "bulk", 24)
  end)

  it("handles an empty list, and raises on misuse before any request", function()
    local bundles, errors = c:get_bundles("bulk", {})
    assert.same({}, bundles)
    assert.is_nil(errors)
    assert.has_error(function() c:get_bundles("Bad", {}) end)
    assert.has_error(function() c:get_bundles("bulk", { 42 }) end)
    assert.has_error(function() c:get_bundles("bulk", { "" }) end)
    assert.has_error(function() c:get_bundles("bulk", {}, { concurrency = 0 }) end)
    assert.has_error(function() c:get_bundles("bulk", {}, { speed = 1 }) end)
  end)

  it("survives a hook that raises or collects mid-batch", function()
    local n = 0
    local c2 = H.client{ on_request = function()
      n = n + 1
      collectgarbage()
      if n == 3 then error("hook stop", 0) end
    end }
    assert.has_error(function() c2:get_bundles("bulk", uuids, { concurrency = 4 }) end, "hook stop")
    collectgarbage()
    local bundles = H.client():get_bundles("bulk", uuids, { concurrency = 4 })
    assert.equal(#uuids, #bundles)
  end)
end)

describe("client:export", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("writes every bundle as pretty, sorted, exact JSON, one file each", function()
    H.fresh("exp")
    local c = H.client()
    local fidelity = H.read("spec/fixtures/fidelity_bundle.json")
    assert(c:upload_bundle("exp", fidelity))
    seed(c, "exp", 5)
    local calls = {}
    local report = c:export("exp", dir, { concurrency = 3,
      progress = function(done, total) calls[#calls + 1] = done .. "/" .. total end })
    assert.is_true(report.ok)
    assert.equal(6, #report.written)
    assert.equal("0/6", calls[1])
    assert.equal("6/6", calls[#calls])
    local text = H.read(dir .. "/fidelity.json")
    assert.matches('^{\n  "description": ', text)
    local back = zis.decode_json(text)
    local original = zis.decode_json(fidelity)
    for _, k in ipairs{ "name", "resources", "zis_template_version", "description" } do
      local ok, why = H.same_json(original[k], back[k])
      assert.is_true(ok, why)
    end
    -- the same export twice gives the same bytes
    local first = text
    assert.is_true(c:export("exp", dir).ok)
    assert.equal(first, H.read(dir .. "/fidelity.json"))
    -- and leaves no temporary file behind
    local p = io.popen("ls -a '" .. dir .. "' | grep -c tmp")
    assert.equal("0", p:read("l"))
    p:close()
  end)

  it("reports a failed bundle and still writes the others", function()
    H.fresh("exp")
    local c = H.client()
    local uuids = seed(c, "exp", 3)
    H.faults{ { method = "GET", path = "/api/services/zis/registry/exp/bundles/" .. uuids[2],
                status = 500, body = "" } }
    local report = c:export("exp", dir)
    assert.is_false(report.ok)
    assert.equal(2, #report.written)
    assert.equal(uuids[2], report.failed[1].uuid)
    assert.equal(500, report.failed[1].error.status)
  end)

  it("raises on misuse", function()
    local c = H.client()
    assert.has_error(function() c:export("Bad Name", dir) end)
    assert.has_error(function() c:export("exp", "") end)
    assert.has_error(function() c:export("exp", dir, { colour = 1 }) end)
  end)
end)

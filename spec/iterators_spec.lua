-- client:bundles and client:job_specs: lazy, cursor-following, raising.
local zis = require "zis"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"

local function count_requests(path_prefix)
  local n = 0
  for _, r in ipairs(H.log()) do
    if r.path:sub(1, #path_prefix) == path_prefix then n = n + 1 end
  end
  return n
end

describe("iterators", function()
  local c

  -- A registry with "demo": 7 bundles, 9 job specs, several pages either way.
  local function seed_demo()
    H.fresh("demo")
    c = c or H.client()
    for i = 1, 7 do
      local specs = {}
      if i <= 3 then specs = { "js" .. i .. "a", "js" .. i .. "b", "js" .. i .. "c" } end
      assert(c:upload_bundle("demo", H.bundle("demo", string.format("b%02d", i), specs)))
    end
  end

  setup(seed_demo)

  it("bundles follows meta.after across pages, fetching lazily", function()
    local before = count_requests(REG .. "/demo/bundles")
    local names = {}
    for b in c:bundles("demo", { page_size = 3 }) do
      names[#names + 1] = b.name
      -- one page fetched per three items, never ahead
      assert.equal(before + (#names - 1) // 3 + 1, count_requests(REG .. "/demo/bundles"))
    end
    assert.same({ "b01", "b02", "b03", "b04", "b05", "b06", "b07" }, names)
    assert.equal(before + 3, count_requests(REG .. "/demo/bundles"))
  end)

  it("job_specs follows the cursor too", function()
    local names = {}
    for j in c:job_specs("demo", { page_size = 2 }) do names[#names + 1] = j.name end
    assert.equal(9, #names)
    assert.equal("js1a", names[1])
    assert.equal("js3c", names[9])
  end)

  it("uses the default page size when none is given", function()
    local n = 0
    for _ in c:bundles("demo") do n = n + 1 end
    assert.equal(7, n)
    assert.equal(REG .. "/demo/bundles", H.last().path)
  end)

  it("starts after a given cursor", function()
    local first = c:list_bundles("demo", { page_size = 2 })
    local names = {}
    for b in c:bundles("demo", { page_size = 2, after = first.meta.after }) do
      names[#names + 1] = b.name
    end
    assert.equal("b03", names[1])
    assert.equal(5, #names)
  end)

  it("ends at once on an empty list", function()
    H.fresh("empty")
    local c2 = H.client()
    for _ in c2:bundles("empty") do error("no bundle expected") end
    seed_demo()
  end)

  it("raises the error object when a page fails, never ending in silence", function()
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 500,
                body = '{"errors":[{"code":"1050","detail":"boom","status":"500"}],"message":"Internal"}' } }
    local seen = 0
    local ok, err = pcall(function()
      for _ in c:bundles("demo", { page_size = 3 }) do seen = seen + 1 end
    end)
    assert.is_false(ok)
    assert.is_true(zis.is_error(err))
    assert.equal(500, err.status)
    assert.equal("1050", err.code)
    assert.equal(0, seen)
  end)

  it("raises mid-way when a later page fails", function()
    local seen = 0
    local ok, err = pcall(function()
      for _ in c:bundles("demo", { page_size = 3 }) do
        seen = seen + 1
        if seen == 3 then
          H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 503, body = "down",
                      content_type = "text/plain" } }
        end
      end
    end)
    assert.is_false(ok)
    assert.equal(503, err.status)
    assert.equal("down", err.body)
    assert.equal(3, seen)
  end)

  it("refuses a server that repeats a cursor instead of looping", function()
    local page = '{"bundles":[{"name":"x","uuid":"u1"}],"meta":{"after":"same","before":null,"has_more":true}}'
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 200, body = page, times = 3 } }
    local seen = 0
    local ok, err = pcall(function()
      for _ in c:bundles("demo") do seen = seen + 1 end
    end)
    assert.is_false(ok)
    assert.is_true(zis.is_error(err))
    assert.equal("decode", err.kind)
    assert.matches("repeated cursor 'same'", tostring(err))
    assert.equal(2, seen)
    seed_demo()
  end)

  it("refuses a page without the list", function()
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 200, body = '{"meta":{}}' } }
    local ok, err = pcall(function() for _ in c:bundles("demo") do end end)
    assert.is_false(ok)
    assert.matches("no 'bundles' array", tostring(err))
  end)

  it("raises at once on misuse", function()
    assert.has_error(function() c:bundles("Bad Name") end)
    assert.has_error(function() c:bundles("demo", { page_size = 500 }) end)
    assert.has_error(function() c:job_specs("demo", { colour = 1 }) end)
    assert.has_error(function() c:bundles("demo", 3) end)
  end)

  it("returns a to-be-closed value, so break releases the page", function()
    local f, s, ctl, closer = c:bundles("demo", { page_size = 2 })
    assert.is_function(f)
    assert.is_nil(s)
    assert.is_nil(ctl)
    assert.is_function(getmetatable(closer).__close)
    assert.truthy(f())
    getmetatable(closer).__close(closer)
    assert.is_nil(f())  -- closed: ends, fetching nothing
    for b in c:bundles("demo", { page_size = 2 }) do  -- luacheck: ignore 512
      assert.truthy(b)
      break
    end
  end)

  it("survives forced collection while iterating", function()
    local n = 0
    for _ in c:bundles("demo", { page_size = 1 }) do
      n = n + 1
      collectgarbage()
    end
    assert.equal(7, n)
  end)
end)

describe("an iterator meets a page it cannot read", function()
  before_each(function() H.fresh("demo") end)
  local BUNDLES = REG .. "/demo/bundles"

  local function raises(body, pattern)
    H.faults{ { method = "GET", path = BUNDLES, status = 200, body = body } }
    local c = H.client()
    local ok, err = pcall(function() for _ in c:bundles("demo") do end end)
    assert.is_false(ok)
    assert.is_true(zis.is_error(err), tostring(err))
    assert.matches(pattern, tostring(err), 1, true)
    c:close()
  end

  it("raises when the list is an object, not an array", function()
    raises('{"bundles":{"a":1},"meta":{"has_more":false}}', "response has no 'bundles' array")
  end)

  it("raises when has_more is not a boolean", function()
    raises('{"bundles":[{"uuid":"u1"}],"meta":{"has_more":"true","after":"u1"}}',
           'meta.has_more is true, not true or false')
  end)
end)

describe("get_bundles and the length of uuids", function()
  it("raises on a negative or fractional #uuids (a __len), before any request", function()
    local c = H.client()
    for _, n in ipairs{ -5, 1.5 } do
      local uuids = setmetatable({}, { __len = function() return n end })
      assert.has_error(function() c:get_bundles("demo", uuids) end,
        "bad argument #2 to 'get_bundles' (its length must be a non-negative integer, got " .. tostring(n) .. ")")
    end
    c:close()
  end)
end)

-- Where no source settles what Zendesk answers, lua-zis takes both shapes
-- (docs/zendesk-api.md, "Unsettled"): each reading, both ways.
local H = require "spec.helper"

local ZIS = "/api/services/zis"

describe("both readings of what no source settles", function()
  local admin, c
  before_each(function()
    H.fresh("demo")
    admin = H.client()
    c = admin:for_integration("demo")
  end)
  after_each(function() c:close() admin:close() end)

  it("a search with no match: 404 or an empty 200, the same empty list (configs, links)", function()
    local cases = {
      { ZIS .. "/integrations/demo/configs", function() return c:list_configs("demo", { scope = "x*" }) end,
        function() local n = 0 for _ in c:configs("demo", { scope = "x*" }) do n = n + 1 end return n end,
        "configs" },
      { ZIS .. "/links/demo", function() return c:list_links("demo", { link_type = "t", left_object_name = "x" }) end,
        function() local n = 0 for _ in c:links("demo", { link_type = "t", left_object_name = "x" }) do n = n + 1 end
          return n end, "links" },
    }
    for _, case in ipairs(cases) do
      local path, list, loop, key = case[1], case[2], case[3], case[4]
      for _, answer in ipairs{ { status = 404, body = '{"errors":[{"code":"1020","detail":"none","status":"404"}]}' },
                               { status = 200, body = '{"' .. key .. '":[],"meta":{"has_more":false}}' } } do
        H.faults{ { method = "GET", path = path, status = answer.status, body = answer.body, times = 2 } }
        local page = assert(list())
        assert.same({}, page[key], path .. " " .. answer.status)
        assert.is_false(page.meta.has_more)
        assert.equal(0, loop())
      end
    end
  end)

  it("a typed connection read, bare or wrapped", function()
    assert(c:create_connection("demo", "bearer_token", { name = "tok1", token = "fake",
                                                          allowed_domain = "api.example.com" }))
    local wrapped = assert(c:get_connection("demo", "tok1", "bearer_token"))
    H.faults{ { path = ZIS .. "/integrations/demo/connections/bearer_token/tok1", status = 200,
                body = '{"name":"tok1","token":"*****","allowed_domain":"api.example.com"}' } }
    local bare = assert(c:get_connection("demo", "tok1", "bearer_token"))
    for _, x in ipairs{ wrapped, bare } do
      assert.equal("tok1", x.name)
      assert.equal("bearer_token", x.type)
      assert.equal("api.example.com", x.allowed_domain)
    end
  end)
end)

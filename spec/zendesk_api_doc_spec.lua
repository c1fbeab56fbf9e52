-- docs/zendesk-api.md is the local registry's warrant: every route the
-- registry answers is a row there, with its behaviour, a source and how
-- sure that source is; and the registry answers no route the file does
-- not list (zis.mock's gate: 404, or 405 for another method).
local mock = require "zis.mock"
local H = require "spec.helper"
local R = require "spec.mock_http"

local CONFIDENCE = { documented = true, ["zendesk-code"] = true, observed = true, unconfirmed = true }

-- The rows of the "## Routes" table: {route =, behaviour =, source =, confidence =}.
local function doc_routes()
  local text = H.read("docs/zendesk-api.md")
  local section = text:match("\n## Routes\n(.-)\n## ")
  assert(section, "docs/zendesk-api.md has no '## Routes' section")
  local rows = {}
  for line in section:gmatch("[^\n]+") do
    local route, behaviour, source, confidence =
      line:match("^| `([^`]+)` | (.-) | (.-) | (.-) |$")
    if route then
      rows[#rows + 1] = { route = route, behaviour = behaviour, source = source, confidence = confidence }
    end
  end
  return rows
end

describe("docs/zendesk-api.md", function()
  it("lists exactly the routes the local registry answers", function()
    local documented, served = {}, {}
    for _, r in ipairs(doc_routes()) do
      assert.is_nil(documented[r.route], "listed twice: " .. r.route)
      documented[r.route] = true
    end
    for _, r in ipairs(mock.ROUTES) do
      served[r] = true
      assert.is_true(documented[r] == true, "the registry answers a route the file does not list: " .. r)
    end
    for r in pairs(documented) do
      assert.is_true(served[r] == true, "listed, but the registry does not answer it: " .. r)
    end
  end)

  it("gives every route a behaviour, a source and a confidence", function()
    for _, r in ipairs(doc_routes()) do
      assert.is_true(#r.behaviour > 10, r.route)
      assert.is_true(CONFIDENCE[r.confidence] == true, r.route .. ": confidence '" .. r.confidence .. "'")
      if r.confidence ~= "unconfirmed" then
        -- a URL or a repository path
        assert.is_truthy(r.source:find("zendesk%.com/") or r.source:find("[%w%-]+/[%w%-_.]+ [%w/]"),
                         r.route .. ": no source")
      end
    end
  end)

  it("the registry refuses what no row lists", function()
    H.fresh("demo")
    for _, probe in ipairs{ { "GET", "/api/services/zis/registry/demo/resources" },
                            { "GET", "/api/services/zis/integrations/demo/flows" },
                            { "GET", "/api/v2/tickets" },
                            { "POST", "/api/services/zis/connections/oauth/authorize" } } do
      local res = R.request(probe[1], probe[2], { body = probe[1] == "POST" and {} or nil })
      assert.equal(404, res.status, probe[2])
    end
  end)
end)

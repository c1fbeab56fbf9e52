-- Every public function that takes an options table refuses a misspelt
-- option, naming it and the right argument (issue 25).  A failure in a
-- file this spec's author does not own is pending, with what to change.
local zis = require "zis"
local H = require "spec.helper"

local EXAMPLE = "examples/bundles/example.json"
local MANIFEST = "examples/manifest/manifest.lua"

local function raise_of(f)
  local ok, e = pcall(f)
  assert.is_false(ok, "no error raised")
  return tostring(e)
end

describe("a misspelt option", function()
  local text = H.read(EXAMPLE)
  local client
  before_each(function()
    H.reset()
    client = H.client()
  end)
  after_each(function() client:close() end)

  -- name, the call, the argument the raise must name, the key
  local CASES = {
    { "zis.new", function() return zis.new{ url = H.url, email = "a", token = "b", timout = 3 } end,
      nil, "timout" },
    { "zis.from_env", function()
      local env = { ZENDESK_URL = H.url, ZENDESK_OAUTH_TOKEN = "x" }
      return zis.from_env({ timout = 3 }, function(k) return env[k] end)
    end, nil, "timout" },
    { "zis.graph", function() return zis.graph(text, { fromat = "svg" }) end, "#2 to 'graph'", "fromat" },
    { "zis.validate", function() return zis.validate(text, { integraton = "x" }) end, "#2 to 'validate'",
      "integraton" },
    { "zis.plan", function() return zis.plan(client, MANIFEST, { prnue = true }) end, "#3 to 'plan'", "prnue" },
    { "zis.apply", function() return zis.apply(client, MANIFEST, { prnue = true }) end, "#3 to 'apply'", "prnue" },
    { "zis.import", function() return zis.import(client, "example_integration", "/tmp/zis-import-never",
                                                 { prnue = true }) end, "#4 to 'import'", "prnue" },
    { "zis.flow.run", function() return zis.flow.run(text, { flwo = "x" }) end, "#2 to 'run'", "flwo" },
    { "client:list_bundles", function() return client:list_bundles("x", { page_sise = 1 }) end,
      "#2 to 'list_bundles'", "page_sise" },
    { "client:list_job_specs", function() return client:list_job_specs("x", { page_sise = 1 }) end,
      "#2 to 'list_job_specs'", "page_sise" },
    { "client:bundles", function() return client:bundles("x", { page_sise = 1 }) end, "#2 to 'bundles'", "page_sise" },
    { "client:job_specs", function() return client:job_specs("x", { page_sise = 1 }) end, "#2 to 'job_specs'",
      "page_sise" },
    { "client:create_integration", function() return client:create_integration("x", { descripton = "d" }) end,
      "#2 to 'create_integration'", "descripton" },
    { "client:get_bundles", function() return client:get_bundles("x", {}, { concurency = 2 }) end,
      "#3 to 'get_bundles'", "concurency" },
    { "client:deploy", function() return client:deploy("x", text, { dry_runn = true }) end, "#3 to 'deploy'",
      "dry_runn" },
    { "client:export", function() return client:export("x", "/tmp/zis-export-never", { concurency = 2 }) end,
      "#3 to 'export'", "concurency" },
    { "client:list_configs", function() return client:list_configs("x", { scoep = "*" }) end,
      "#2 to 'list_configs'", "scoep" },
    { "client:configs", function() return client:configs("x", { scoep = "*" }) end, "#2 to 'configs'", "scoep" },
    { "client:list_connections", function() return client:list_connections("x", { page_sise = 1 }) end,
      "#2 to 'list_connections'", "page_sise" },
    { "client:connections", function() return client:connections("x", { page_sise = 1 }) end,
      "#2 to 'connections'", "page_sise" },
    { "client:list_links", function() return client:list_links("x", { link_typ = "a", left_object_name = "b" }) end,
      "#2 to 'list_links'", "link_typ" },
    { "client:links", function() return client:links("x", { link_typ = "a", left_object_name = "b" }) end,
      "#2 to 'links'", "link_typ" },
  }

  for _, c in ipairs(CASES) do
    it(c[1] .. " names '" .. c[4] .. "'" .. (c[3] and (" as argument " .. c[3]) or ""), function()
      local e = raise_of(c[2])
      local good = e:find("unknown option '" .. c[4] .. "'", 1, true) and
                   (not c[3] or e:find("bad argument " .. c[3], 1, true))
      if not good and c.pending then return pending(c.pending .. " (today: " .. e .. ")") end
      assert.truthy(e:find("unknown option '" .. c[4] .. "'", 1, true), e)
      if c[3] then assert.truthy(e:find("bad argument " .. c[3], 1, true), e) end
      assert.same({}, H.log(), c[1] .. " sent a request")
    end)
  end
end)

describe("zis.graph's options", function()
  local text = H.read(EXAMPLE)
  it("suggests the option meant", function()
    local e = raise_of(function() return zis.graph(text, { fromat = "svg" }) end)
    assert.matches("(did you mean 'format'?)", e, 1, true)
    assert.matches("known: dot, format, integration, trace, validate", e, 1, true)
  end)
  it("refuses an option of the wrong type, naming it", function()
    assert.matches("option 'validate' must be a boolean, got string",
                   raise_of(function() return zis.graph(text, { validate = "no" }) end), 1, true)
    assert.matches("option 'format' must be a string, got number",
                   raise_of(function() return zis.graph(text, { format = 1 }) end), 1, true)
    assert.matches("option 'trace' must be a zis.flow.run result or its JSON text, got boolean",
                   raise_of(function() return zis.graph(text, { trace = true }) end), 1, true)
  end)
  it("raises at the caller's line", function()
    local e = raise_of(function() return zis.graph(text, { fromat = "svg" }) end)
    assert.matches("options_spec%.lua:%d+: bad argument #2 to 'graph'", e)
  end)
  it("still takes every documented option", function()
    assert.is_string(zis.graph(text, { format = "mermaid", validate = false, integration = "example_integration" }))
  end)
end)

-- Manifests are confined: their files stay in their folder, they cannot
-- send the admin's own credentials anywhere, and a Lua manifest runs on a
-- time and memory budget.
local zis = require "zis"
local manifest = require "zis.manifest"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local q = P.q

describe("manifest confinement", function()
  local dir, file
  before_each(function()
    H.reset()
    dir = P.workdir()
    file = dir .. "/manifest.lua"
  end)
  after_each(function() P.rm(dir) end)

  it("refuses bundle files outside the manifest's folder, absolute or climbing out", function()
    local outside = P.tmpdir()
    assert(os.execute("cp " .. q(dir .. "/bundles/acme_sync.json") .. " " .. q(outside .. "/b.json")))
    for _, p in ipairs{ outside .. "/b.json", "../" .. outside:match("[^/]+$") .. "/b.json",
                        "bundles/../../x.json" } do
      P.write(dir .. "/m.lua", 'return { integration = "acme_sync", bundles = { "' .. p .. '" } }')
      local m, err = manifest.load(dir .. "/m.lua")
      assert.is_nil(m)
      assert.equal(dir .. "/m.lua: bundles[1]: " .. p .. " is outside the manifest's folder (absolute, or " ..
                   "climbing out with ..): refused unless --allow-outside (allow_outside = true)", err)
    end
    -- allowed, and then named by the plan
    P.write(dir .. "/m.lua", 'return { integration = "acme_sync", bundles = { "' .. outside .. '/b.json" } }')
    local plan = assert(zis.plan(H.client(), dir .. "/m.lua", { allow_outside = true }))
    assert.same({ outside .. "/b.json" }, plan.outside)
    local code, out = P.zis("plan --allow-outside " .. q(dir .. "/m.lua"))
    assert.equal(2, code)
    assert.matches("outside the manifest's folder (--allow-outside): " .. outside .. "/b.json", out, 1, true)
    code = P.zis("plan " .. q(dir .. "/m.lua"))
    assert.equal(1, code)
    P.rm(outside)
  end)

  it("refuses a credentials_file outside the folder, and a bundle file that is a symlink", function()
    P.edit(file, '"secrets/acme_webhook.json"', '"../acme_webhook.json"')
    local m, err = manifest.load(file)
    assert.is_nil(m)
    assert.matches("inbound_webhooks[1].credentials_file: ../acme_webhook.json is outside the manifest's folder",
                   err, 1, true)
    P.edit(file, '"../acme_webhook.json"', '"secrets/acme_webhook.json"')
    assert(os.execute("mv " .. q(dir .. "/bundles/acme_sync.json") .. " " .. q(dir .. "/real.json") ..
                      " && ln -s ../real.json " .. q(dir .. "/bundles/acme_sync.json")))
    m, err = manifest.load(file)
    assert.is_nil(m)
    assert.matches("bundles[1]: bundles/acme_sync.json is a symbolic link: refused unless --allow-outside",
                   err, 1, true)
  end)

  it("refuses env names of the credentials lua-zis itself reads", function()
    for _, name in ipairs{ "ZENDESK_API_TOKEN", "ZENDESK_PASSWORD", "ZENDESK_OAUTH_TOKEN",
                           "ZENDESK_OAUTH_CLIENT_SECRET", "ZENDESK_EMAIL", "ZENDESK_OTHER_SECRET" } do
      local m, err = manifest.load{ integration = "acme_sync", connections = {
        z = { type = "bearer_token", token = { env = name }, allowed_domain = "evil.example" } } }
      assert.is_nil(m)
      assert.equal('manifest: connections.z.token: env "' .. name .. '" is a credential lua-zis itself reads ' ..
                   "(the admin's): a manifest may not send it anywhere; give this secret a variable of its own",
                   err)
    end
  end)

  it("stops a Lua manifest that runs too long or takes too much memory, clearly", function()
    local saved = manifest.BUDGET
    manifest.BUDGET = { seconds = 0.2, memory_kb = 8 * 1024 }
    P.write(dir .. "/loop.lua", "while true do end")
    local m, err = manifest.load(dir .. "/loop.lua")
    assert.is_nil(m)
    assert.equal(dir .. "/loop.lua: ran for more than 0.2 s (a manifest only builds a table)", err)
    P.write(dir .. "/mem.lua", "local t = {} for i = 1, 1e8 do t[i] = {} end return t")
    -- time enough that memory runs out first, even under a sanitizer
    manifest.BUDGET = { seconds = 60, memory_kb = 8 * 1024 }
    m, err = manifest.load(dir .. "/mem.lua")
    assert.is_nil(m)
    assert.equal(dir .. "/mem.lua: used more than 8 MB of memory", err)
    manifest.BUDGET = saved
    assert(manifest.load(file))   -- a real manifest is well within it
  end)
end)

describe("a Lua manifest being evaluated", function()
  it("Ctrl-C stops it: zis plan exits 130, in well under the time budget", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local f = assert(io.open(dir .. "/spin.lua", "w"))
    f:write("while true do end\n")
    f:close()
    local t0 = require("socket").gettime()
    local ok, _, code = os.execute("ZENDESK_URL=http://127.0.0.1:1 ZENDESK_EMAIL=a@example.com " ..
      "ZENDESK_API_TOKEN=fake timeout --preserve-status -s INT 0.5 bin/zis plan " .. dir ..
      "/spin.lua 2>/dev/null")
    local took = require("socket").gettime() - t0
    os.execute("rm -rf " .. dir)
    assert.is_nil(ok)
    assert.equal(130, code)
    assert.is_true(took < 1.8, "took " .. took)
  end)
end)

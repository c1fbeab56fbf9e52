-- zis import never overwrites, says what it wrote, and writes manifests
-- that zis plan accepts as they are.
local zis = require "zis"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local I, q = P.I, P.q

describe("zis.import", function()
  local out, c
  before_each(function()
    H.reset()
    out = P.tmpdir()
    c = H.client()
    assert(c:create_integration(I))
  end)
  after_each(function()
    c:close()
    P.rm(out)
  end)

  it("gives colliding, long, unicode and odd bundle names distinct files, and plan then finds no change",
     function()
    local names = { "a/b", "a_b", "A_B", "a.b", "résumé", ".hidden", "with space",
                    string.rep("long", 12) .. "x" }
    for _, n in ipairs(names) do assert(c:upload_bundle(I, H.bundle(I, n, { "js_" .. #n .. "_" .. n:byte(1) }))) end
    local r = assert(zis.import(c, I, out))
    assert.equal(#names, #r.bundles)
    local seen = {}
    for _, f in ipairs(r.bundles) do
      assert.is_nil(seen[f:lower()], f)
      seen[f:lower()] = true
      assert.is_truthy(f:match("/bundles/[%w_%-]+%.json$"), f)
    end
    assert.equal(out .. "/manifest.json", r.manifest)
    assert.equal(#names + 1, #r.written)
    local plan = assert(zis.plan(c, r.manifest))
    assert.equal(0, plan.changes, plan.summary)
  end)

  it("refuses a folder holding a manifest or bundle files, naming them, unless forced", function()
    assert(c:upload_bundle(I, H.bundle(I, "one")))
    assert(os.execute("mkdir " .. q(out .. "/bundles")))
    P.write(out .. "/manifest.lua", "return {}")
    P.write(out .. "/bundles/mine.json", "{}")
    local r, err = zis.import(c, I, out)
    assert.is_nil(r)
    assert.equal(out .. " already holds " .. out .. "/bundles/mine.json, " .. out ..
                 "/manifest.lua: import would replace them (--force to replace)", err)
    assert.equal("{}", H.read(out .. "/bundles/mine.json"))
    r = assert(zis.import(c, I, out, { force = true }))
    assert.same({ out .. "/bundles/mine.json", out .. "/manifest.lua" }, r.replaced)
  end)

  it("says on the command line what it wrote, and refuses a second import without --force", function()
    assert(c:upload_bundle(I, H.bundle(I, "one")))
    local code, o, err = P.zis("import acme_sync " .. q(out))
    assert.equal(0, code, err)
    assert.matches("wrote " .. out .. "/bundles/one.json\n", o, 1, true)
    assert.matches("wrote " .. out .. "/manifest.json\n", o, 1, true)
    code, o, err = P.zis("import acme_sync " .. q(out))
    assert.equal(1, code)
    assert.equal("", o)
    assert.matches("already holds .*manifest%.json: import would replace them %(%-%-force to replace%)", err)
    code, o = P.zis("import acme_sync " .. q(out) .. " --force")
    assert.equal(0, code)
    assert.matches("(replaced: ", o, 1, true)
    code = P.zis("plan " .. q(out .. "/manifest.json"))
    assert.equal(0, code)
  end)

  it("export says which files it wrote", function()
    assert(c:upload_bundle(I, H.bundle(I, "one")))
    local code, o, err = P.zis("export acme_sync " .. q(out .. "/x"))
    assert.equal(0, code, err)
    assert.matches("wrote " .. out .. "/x/one.json\n", o, 1, true)
  end)
end)

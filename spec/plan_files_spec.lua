-- Every file lua-zis writes goes through zis.core.write_file or
-- open_private (src/zis_fs.c): never through a symlink, never by a shell.
-- A symlink planted at each path the library writes is refused with a
-- clear error, and its target is untouched.
local zis = require "zis"
local core = require "zis.core"
local H = require "spec.helper"
local P = require "spec.plan_helper"

local I, getenv, q = P.I, P.getenv, P.q

-- A target file outside the folder, and a symlink to it at `at`.
local function plant(at)
  local target = os.tmpname()
  P.write(target, "precious\n")
  assert(os.execute("mkdir -p " .. q(at:match("^(.*)/")) .. " && ln -s " .. q(target) .. " " .. q(at)))
  return target
end

local function untouched(target)
  assert.equal("precious\n", H.read(target))
  os.remove(target)
end

describe("zis.core.write_file", function()
  local dir
  before_each(function() dir = P.tmpdir() end)
  after_each(function() P.rm(dir) end)

  it("writes whole with the mode asked for, replacing a file, leaving no temporary file", function()
    assert.is_true(core.write_file(dir .. "/a.json", "one", 420))
    assert.equal("644", P.stat_mode(dir .. "/a.json"))
    assert.is_true(core.write_file(dir .. "/a.json", "two", 384))
    assert.equal("two", H.read(dir .. "/a.json"))
    assert.equal("600", P.stat_mode(dir .. "/a.json"))
    assert.same({ "a.json" }, core.list_dir(dir))
  end)

  it("refuses a symlink at the path, naming it, and leaves its target alone", function()
    local target = plant(dir .. "/a.json")
    local ok, err = core.write_file(dir .. "/a.json", "evil", 420)
    assert.is_nil(ok)
    assert.equal(dir .. "/a.json: is a symbolic link (refusing to write through it; remove it first)", err)
    untouched(target)
    assert.same({ "a.json" }, core.list_dir(dir))   -- no temporary file left
  end)

  it("open_private makes a new 0600 file only, never through a symlink", function()
    local f = assert(core.open_private(dir .. "/creds.json"))
    assert.is_true(f:write("secret"))
    assert.is_true(f:close())
    assert.equal("600", P.stat_mode(dir .. "/creds.json"))
    local g, err = core.open_private(dir .. "/creds.json")
    assert.is_nil(g)
    assert.matches("creds.json: already exists", err, 1, true)
    local target = plant(dir .. "/link.json")
    g, err = core.open_private(dir .. "/link.json")
    assert.is_nil(g)
    assert.matches("link.json: is a symbolic link", err, 1, true)
    untouched(target)
  end)

  it("is the only writer: the plan, import, export and manifest modules run no shell and no io.open to write",
     function()
    for _, f in ipairs{ "lua/zis/plan.lua", "lua/zis/plan/diff.lua", "lua/zis/plan/live.lua",
                        "lua/zis/plan/steps.lua", "lua/zis/plan/webhooks.lua", "lua/zis/plan/import.lua",
                        "lua/zis/export.lua", "lua/zis/manifest.lua" } do
      local text = H.read(f)
      assert.is_nil(text:find("os.execute", 1, true), f)
      assert.is_nil(text:find("io.popen", 1, true), f)
      assert.is_nil(text:find('io.open%([^)]*"w'), f)
    end
  end)
end)

describe("a symlink planted where lua-zis writes", function()
  local dir, c
  before_each(function()
    H.reset()
    dir = P.workdir()
    c = H.client()
  end)
  after_each(function()
    c:close()
    P.rm(dir)
  end)

  it("export: that bundle fails with a clear error, its target untouched", function()
    assert.is_true(assert(zis.apply(c, dir .. "/manifest.lua", { getenv = getenv })).ok)
    local target = plant(dir .. "/out/acme_sync.json")
    local r = c:export(I, dir .. "/out")
    assert.is_false(r.ok)
    assert.equal(dir .. "/out/acme_sync.json: is a symbolic link (refusing to write through it; remove it first)",
                 r.failed[1].error)
    untouched(target)
    -- and on the command line
    target = plant(dir .. "/out2/acme_sync.json")
    local code, _, err = P.zis("export acme_sync " .. q(dir .. "/out2"))
    assert.equal(1, code)
    assert.matches("acme_sync.json: is a symbolic link", err, 1, true)
    untouched(target)
  end)

  it("import: the manifest and a bundle file are refused, even with force", function()
    assert.is_true(assert(zis.apply(c, dir .. "/manifest.lua", { getenv = getenv })).ok)
    for _, at in ipairs{ "manifest.json", "bundles/acme_sync.json" } do
      local out = P.tmpdir()
      local target = plant(out .. "/" .. at)
      local r, err = zis.import(c, I, out)
      assert.is_nil(r)
      assert.matches("already holds " .. out .. "/" .. at, err, 1, true)
      r, err = zis.import(c, I, out, { force = true })
      assert.is_nil(r)
      assert.matches(out .. "/" .. at .. ": is a symbolic link (refusing to write through it", err, 1, true)
      untouched(target)
      local code, _, cerr = P.zis("import acme_sync " .. q(out) .. " --force")
      assert.equal(1, code)
      assert.matches("^zis: [^\n]*" .. at:gsub("%p", "%%%0") .. ": is a symbolic link", cerr)
      P.rm(out)
    end
  end)

  it("apply's credentials_file: plan says so, apply writes nothing and creates no webhook", function()
    local target = plant(dir .. "/secrets/acme_webhook.json")
    local plan = assert(zis.plan(c, dir .. "/manifest.lua", { getenv = getenv }))
    assert.same({ "credentials_file secrets/acme_webhook.json is a symbolic link: apply refuses to write " ..
                  "through it (remove it first)" }, plan.blocked)
    local r = assert(zis.apply(c, dir .. "/manifest.lua", { getenv = getenv }))
    assert.is_false(r.ok)
    assert.matches("is a symbolic link", tostring(r.failed.error), 1, true)
    assert.same({}, P.writes())
    untouched(target)
    local code, out = P.zis("apply " .. q(dir .. "/manifest.lua"))
    assert.equal(1, code)
    assert.matches("FAILED: prepare credentials files: credentials_file secrets/acme_webhook.json is a " ..
                   "symbolic link", out, 1, true)
  end)

  it("zis webhooks create --credentials-file: refused before the request, target untouched", function()
    assert.is_true(assert(zis.apply(c, dir .. "/manifest.lua", { getenv = getenv })).ok)
    local target = plant(dir .. "/hook.json")
    local n = #H.log()
    local code, _, err = P.zis("webhooks create acme_sync acme x --credentials-file " .. q(dir .. "/hook.json"))
    assert.equal(1, code)
    assert.equal("zis: cannot create " .. dir .. "/hook.json: is a symbolic link (refusing to write " ..
                 "through it; remove it first)\n", err)
    assert.same({}, P.writes(n + 1))
    untouched(target)
  end)
end)

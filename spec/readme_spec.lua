-- The README runs as written, from the repository root, in a clean
-- environment: no LUA_PATH, no LUA_CPATH, nothing but PATH and HOME (and,
-- for the Lua blocks, the local registry's address).  So a line that only
-- works because `make test` sets LUA_PATH fails here.
local H = require "spec.helper"

local readme = H.read("README.md")
local CLEAN = "env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=" .. (os.getenv("HOME") or "/tmp")

-- Runs a shell script with bash -e in the clean environment; returns ok, output.
local function run_clean(script, extra_env)
  local p = assert(io.popen(CLEAN .. " " .. (extra_env or "") .. " bash -e 2>&1 <<'README'\n" ..
                            script .. "\nREADME"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

describe("README Lua blocks", function()
  -- the README says how a script finds the module from the repository
  local how = readme:match("a script finds the module with\n`([^`]+)`")
  it("says how to run a script from the repository", function()
    assert.is_string(how)
    assert.matches("script%.lua$", how)
  end)

  local blocks = {}
  for code in readme:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end
  it("has Lua examples", function() assert.is_true(#blocks >= 5) end)

  -- Each block runs as a script, started exactly as the README says, after
  -- a prelude that points zis.new at the local registry with its fake
  -- credentials (whatever the block says: examples show real settings and
  -- stay offline) and provides the `client` and `bundle` the text assumes.
  local PRELUDE = [[
local zis = require "zis"
local mock_url = os.getenv("ZIS_MOCK_URL")
local offline = setmetatable({}, { __index = zis })
function offline.new(opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.url, o.subdomain = mock_url, nil
  if o.email or o.token or o.password then
    o.email, o.token, o.password = "admin@example.com", "fake-api-token", nil
  end
  if o.oauth_token then o.oauth_token = "fake-oauth-token" end
  if o.oauth_client then
    o.oauth_client = { id = "fake-admin-client", secret = "fake-admin-client-secret" }
  end
  return zis.new(o)
end
function offline.from_env(opts) return offline.new(opts or { email = "x", token = "x" }) end
package.loaded.zis = offline
client = offline.new{ email = "x", token = "x" }
bundle = ]]

  for i, code in ipairs(blocks) do
    it("Lua block " .. i .. " runs as the README says", function()
      H.fresh("my_integration")
      local c = H.client()
      assert(c:upload_bundle("my_integration", H.bundle("my_integration", "example")))
      c:close()
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(PRELUDE, string.format("%q", require("zis").encode_json(H.bundle("my_integration", "example"))),
              "\nprint = function() end\n", "do\n", code, "\nend\n")
      f:close()
      local ok, out = run_clean(how:gsub("script%.lua$", script),
                                "ZIS_MOCK_URL=" .. H.url .. " ACME_TOKEN=fake-acme-token")
      os.remove(script)
      assert.is_true(ok, out)
    end)
  end

  -- "Setting up a whole integration" leaves the whole integration behind
  it("the whole-integration walkthrough sets up every piece", function()
    local section = readme:match("\n## Setting up a whole integration\n(.-)\n## ")
    assert.is_string(section)
    local code = section:match("```lua\n(.-)```")
    assert.is_string(code)
    H.reset()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(PRELUDE, "nil\n", code)
    f:close()
    local ok, out = run_clean(how:gsub("script%.lua$", script),
                              "ZIS_MOCK_URL=" .. H.url .. " ACME_TOKEN=fake-acme-token")
    os.remove(script)
    assert.is_true(ok, out)
    assert.matches("zis_example_integration token expires at %d%d%d%d%-", out)
    assert.matches("on_ticket_created\tinstalled", out)
    assert.matches("the sender POSTs to http://[^ ]+/ingest/%S+ as fake%-webhook%-user", out)
    local admin = H.client()
    local svc = admin:for_integration("example_integration")
    local cfg = assert(svc:list_configs("example_integration", { scope = "settings" })).configs
    assert.equal("high", cfg[1].config.priority)
    local conn = assert(svc:get_connection("example_integration", "acme_api", "bearer_token"))
    assert.equal("bearer_token", conn.type)
    assert.equal("api.acme.com", conn.allowed_domain)
    local posted
    for _, l in ipairs(H.log()) do
      if l.path:match("/inbound_webhooks/generic/example_integration$") then posted = true end
    end
    assert.is_true(posted)
    svc:close()
    admin:close()
  end)
end)

describe("README shell blocks", function()
  -- the walkthrough ("# try it") is run as written, on a free port
  it("the deployment walkthrough runs as written", function()
    local block = readme:match("```sh\n(# try it[^\n]*\n.-)```")
    assert.is_string(block)
    local port = tostring(H.dead_port())
    local script = block:gsub("8089", port):gsub("/tmp/zis%-backup", "/tmp/zis-backup-" .. port)
    local ok, out = run_clean(script)
    os.execute("rm -rf /tmp/zis-backup-" .. port)
    assert.is_true(ok, out)
    assert.matches("examples/bundles/example.json: valid", out)
    assert.matches("would create integration example_integration", out)
    assert.matches("deployed: bundle example_bundle", out)
    assert.matches("on_ticket_created%s+yes", out)
    assert.matches("exported 1 bundle%(s%)", out)
  end)

  -- each way of starting the local registry the README shows, as written
  local starts = {}
  for block in readme:gmatch("```sh\n(.-)```") do
    for line in block:gmatch("[^\n]+") do
      local cmd = line:gsub("%s+#.*$", "")
      if cmd:match("%-%-port 8089$") and not cmd:match("^zis") then starts[#starts + 1] = cmd end
    end
  end
  it("shows how to start the local registry", function() assert.is_true(#starts >= 1) end)
  for _, cmd in ipairs(starts) do
    it("starts the local registry as written: " .. cmd, function()
      local port = tostring(H.dead_port())
      local ok, out = run_clean(cmd:gsub("8089", port) .. " --quiet & pid=$!\n" ..
        "for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:" .. port .. "/__mock/log && break; " ..
        "sleep 0.1; done\n" ..
        "curl -s -X POST http://127.0.0.1:" .. port .. "/__mock/shutdown; wait $pid; echo served")
      assert.is_true(ok, out)
      assert.matches("served", out)
    end)
  end

  -- every other shell line is one that something else runs; a new one
  -- must be added here with what exercises it
  local EXERCISED = {
    ["make demo"] = "spec/examples_spec.lua runs examples/quickstart.lua, as make demo does",
    ["make test"] = "CI runs it",
    ["luarocks --lua-version=5.4 make rockspec/lua-zis-scm-1.rockspec"] = "make check-install",
    ["export ZENDESK_SUBDOMAIN=acme ZENDESK_EMAIL=admin@acme.com ZENDESK_API_TOKEN=your-token"] =
      "a real account: the walkthrough runs the same commands locally",
    ["zis validate bundle.json"] = "the walkthrough", ["zis deploy bundle.json --dry-run"] = "the walkthrough",
    ["zis deploy bundle.json --uninstall-stale"] = "spec/cli_spec.lua",
    ["export ACME_TOKEN=fake-acme-token"] = "README shell blocks, from a fresh clone",
  }
  it("every other shell line is exercised elsewhere", function()
    local started = {}
    for _, cmd in ipairs(starts) do started[cmd] = true end
    for block in readme:gmatch("```sh\n(.-)```") do
      if not block:match("^# try it") then
        for line in block:gmatch("[^\n]+") do
          local cmd = line:gsub("%s+#.*$", ""):gsub("%s+$", "")
          if cmd ~= "" and not started[cmd] and not cmd:match("^zis ") then
            assert(EXERCISED[cmd], "README shell line not exercised: " .. cmd)
          end
          -- zis lines of the command line section: the parser must take them
          if cmd:match("^zis ") and not EXERCISED[cmd] then
            local _, _, code = os.execute(CLEAN .. " bin/zis " .. cmd:sub(5) .. " --help >/dev/null 2>&1")
            assert.equal(0, code, "README line refused by the parser: " .. cmd)
          end
        end
      end
    end
  end)
end)

-- The README's shell blocks as a user runs them: from a fresh clone (git
-- clone of this repository, then make there once), in a clean environment
-- with only the clone's bin/ (and the system's) on PATH, and the
-- ZENDESK_* settings the "try it" walkthrough exports (pointing at the
-- local registry).  Anything else a block needs, the block sets itself:
-- ACME_TOKEN is not given here.  Each line's exit status is checked.
describe("README shell blocks, from a fresh clone", function()
  local pwd = io.popen("pwd")
  local root = pwd:read("l")
  pwd:close()
  local clone = os.tmpname()
  os.remove(clone)
  local built
  setup(function()
    -- as a new user would: a clean environment (so none of make asan's
    -- preloads reach git).  The clone's build/ is this checkout's: `make`
    -- in a fresh clone is what CI runs first (.ci/run), and compiling
    -- again here cost a third of this file's time.
    built = os.execute(CLEAN .. " sh -c 'git clone -q " .. root .. " " .. clone .. " 2>&1 && ln -s " ..
                       root .. "/build " .. clone .. "/build'")
  end)
  teardown(function() os.execute("rm -rf " .. clone) end)

  -- Runs `block` in the clone, each command line followed by its status;
  -- returns the statuses in order and the whole output.
  local function run_block(block)
    local lines = {}
    for line in block:gmatch("[^\n]+") do
      lines[#lines + 1] = line
      if not line:match("^%s*#") and not line:match("^export ") then
        lines[#lines + 1] = 'echo "[status $?]"'
      end
    end
    local p = assert(io.popen("cd " .. clone .. " && env -i PATH=" .. clone .. "/bin:/usr/bin:/bin HOME=" ..
      clone .. " ZENDESK_URL=" .. H.url .. " ZENDESK_EMAIL=" .. H.email .. " ZENDESK_API_TOKEN=" .. H.token ..
      " bash 2>&1 <<'README'\n" .. table.concat(lines, "\n") .. "\nREADME"))
    local out = p:read("a")
    p:close()
    local statuses = {}
    for n in out:gmatch("%[status (%d+)%]") do statuses[#statuses + 1] = tonumber(n) end
    return statuses, out
  end

  local function block_after(heading_pattern)
    local section = readme:match(heading_pattern)
    return section and section:match("```sh\n(.-)```")
  end

  it("zis test examples/flows", function()
    assert.is_true(built, "git clone and make in " .. clone)
    local block = readme:match("```sh\n(zis test examples/flows[^\n]*\n)```")
    assert.is_string(block)
    local statuses, out = run_block(block)
    assert.same({ 0 }, statuses, out)
    assert.matches("4 passed, 0 failed", out)
  end)

  it("Deployments as code: plan, apply, plan --prune, import", function()
    assert.is_true(built, "git clone and make in " .. clone)
    H.reset()
    local block = block_after("\n## Deployments as code\n(.-)\n## ")
    assert.is_string(block)
    assert.matches("export ACME_TOKEN=", block, 1, true)
    local statuses, out = run_block(block)
    -- plan: changes pending (2); apply: done (0); plan --prune: nothing (0); import (0)
    assert.same({ 2, 0, 0, 0 }, statuses, out)
    assert.matches("applied: %d+ step%(s%) done", out)
    assert.is_nil(out:find("zis: ", 1, true), out)
  end)

  it("Setting up a whole integration, from the shell", function()
    assert.is_true(built, "git clone and make in " .. clone)
    H.reset()
    local block = block_after("\n## Setting up a whole integration\n(.-)\n## ")
    assert.is_string(block)
    -- the files the text says are yours
    assert(os.execute("cp examples/manifest/bundles/acme_sync.json " .. clone .. "/bundle.json && " ..
                      "echo '{\"priority\": \"high\"}' > " .. clone .. "/settings.json && " ..
                      "rm -f " .. clone .. "/acme_webhook.json"))
    local statuses, out = run_block(block)
    assert.same({ 0, 0, 0, 0, 0, 0, 0 }, statuses, out)
    assert.matches("credentials written to acme_webhook.json", out, 1, true)
    local p = io.popen("stat -c %a " .. clone .. "/acme_webhook.json")
    assert.equal("600", p:read("l"))
    p:close()
  end)
end)

-- plain `busted` from the root works: .busted says where the modules are
describe(".busted", function()
  it("sets the module paths and the Lua version", function()
    local conf = dofile(".busted")
    assert.equal("tools/with-mock lua5.4", conf.default.lua)
    assert.matches("lua/%?%.lua", conf.default.lpath)
    assert.matches("build/%?%.so", conf.default.cpath)
  end)
end)

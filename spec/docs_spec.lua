-- The docs stay true: every public name has a reference entry, and every
-- Lua block of the README runs (against the local registry).
local zis = require "zis"
local mock = require "zis.mock"
local core = require "zis.core"
local H = require "spec.helper"

local manual = H.read("docs/manual.md")
local readme = H.read("README.md")

local function documented(pattern)
  return manual:find(pattern, 1, true) ~= nil
end

describe("docs/manual.md", function()
  it("has an entry for every module function and value", function()
    for name in pairs(zis) do
      assert(documented("### `zis." .. name), "no entry for zis." .. name)
    end
  end)

  it("has an entry for every client method", function()
    for name in pairs(core.methods) do
      assert(documented("### `client:" .. name .. "("), "no entry for client:" .. name)
    end
  end)

  it("has a row for every option", function()
    for _, name in ipairs(zis.options) do
      assert(documented("| `" .. name .. "` |"), "no row for option " .. name)
    end
  end)

  it("has a row for every field real error objects and hook events carry", function()
    H.fresh("demo")
    local fields, events = {}, {}
    local c = H.client{ on_request = function(e) for k in pairs(e) do events[k] = true end end,
                        retries = 1, retry_base_delay = 0.001 }
    H.faults{ { path = "/api/services/zis/registry/demo/bundles", status = 429, body = "x",
                headers = { ["Retry-After"] = "0" }, times = 2 } }
    local _, e1 = c:list_bundles("demo")
    local _, e2 = c:get_bundle("demo", "missing")
    local _, e3 = zis.new{ url = "http://127.0.0.1:" .. H.dead_port(), oauth_token = "t",
                           retries = 0 }:list_bundles("demo")
    local _, e4 = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }
                    :upload_bundle("demo", H.bundle("demo", "b"))
    for _, e in ipairs{ e1, e2, e3, e4 } do for k in pairs(e) do fields[k] = true end end
    for k in pairs(fields) do assert(documented("| `" .. k .. "` |"), "no row for error field " .. k) end
    for k in pairs(events) do assert(documented("| `" .. k .. "` |"), "no row for event field " .. k) end
    assert.truthy(fields.retry_after and fields.request_id and fields.hint and fields.body)
  end)

  it("has an entry for every command of the zis command line", function()
    local p = assert(io.popen("bin/zis --help"))
    local usage = p:read("a")
    p:close()
    local n = 0
    for line in usage:match("Commands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local cmd = line:match("^  ([%a%-]+)")
      if cmd then
        n = n + 1
        assert(documented("### `zis " .. cmd .. "`"), "no entry for zis " .. cmd)
      end
    end
    assert.is_true(n >= 12)
  end)

  it("gives every entry a short example", function()
    local body = manual:match("\n(## Module functions.*)$")
    local entries = 0
    -- each entry runs from its ### heading to the next heading of any level
    for heading, rest in body:gmatch("\n### ([^\n]+)\n()") do
      local stop = body:find("\n##", rest, true) or #body + 1
      local entry = body:sub(rest, stop - 1)
      entries = entries + 1
      if not heading:match("^`zis` %(the command line%)") then
        assert(entry:find("```", 1, true), "no example under " .. heading)
      end
    end
    assert.is_true(entries > 40)
  end)

  it("has an entry for every function of the local registry", function()
    for name, v in pairs(mock) do
      if type(v) == "function" then
        assert(documented("### `zis.mock." .. name), "no entry for zis.mock." .. name)
      end
    end
  end)
end)

describe("README", function()
  -- every ```lua block, run in order with a shared prelude: zis.new is
  -- pointed at the local registry with its fake credentials, whatever the
  -- block says, so examples can show real configuration and stay offline
  local blocks = {}
  for code in readme:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end

  it("has Lua examples", function() assert.is_true(#blocks >= 5) end)

  for i, code in ipairs(blocks) do
    it("Lua block " .. i .. " runs", function()
      H.fresh("my_integration")
      local offline = setmetatable({}, { __index = zis })
      offline.new = function(opts)
        local o = {}
        for k, v in pairs(opts) do o[k] = v end
        o.url, o.subdomain = H.url, nil
        if o.email or o.token or o.password then
          o.email, o.token, o.password = H.email, H.token, nil
        end
        if o.oauth_token then o.oauth_token = H.oauth end
        return zis.new(o)
      end
      offline.from_env = function(opts) return offline.new(opts or { email = "x", token = "x" }) end
      local env = setmetatable({
        bundle = H.bundle("my_integration", "example"),
        require = function(name) if name == "zis" then return offline end return require(name) end,
        print = function() end,
      }, { __index = _G })
      env.client = offline.new{ email = "x", token = "x" }
      assert(env.client:upload_bundle("my_integration", env.bundle))
      local chunk = assert(load(code, "README block " .. i, "t", env))
      chunk()
    end)
  end
end)

describe("README shell blocks", function()
  -- the walkthrough ("# try it") is run as written, on a free port
  it("the deployment walkthrough runs as written", function()
    local block = readme:match("```sh\n(# try it[^\n]*\n.-)```")
    assert.is_string(block)
    local port = tostring(H.dead_port())
    local script = block:gsub("8089", port):gsub("/tmp/zis%-backup", "/tmp/zis-backup-" .. port)
    local p = assert(io.popen("bash -e 2>&1 <<'WALKTHROUGH'\n" .. script .. "\nWALKTHROUGH"))
    local out = p:read("a")
    local ok = p:close()
    os.execute("rm -rf /tmp/zis-backup-" .. port)
    assert.is_true(ok, out)
    assert.matches("examples/bundles/example.json: valid", out)
    assert.matches("would create integration example_integration", out)
    assert.matches("deployed: bundle example_bundle", out)
    assert.matches("on_ticket_created%s+yes", out)
    assert.matches("exported 1 bundle%(s%)", out)
  end)

  -- every other shell line is one that something else runs; a new one
  -- must be added here with what exercises it
  local EXERCISED = {
    ["make demo"] = "spec/examples_spec.lua runs examples/quickstart.lua, as make demo does",
    ["make test"] = "CI runs it",
    ["luarocks --lua-version=5.4 make rockspec/lua-zis-scm-1.rockspec"] = "make check-install",
    ["bin/zis-mock --port 8089"] = "tools/with-mock starts the same server",
    ["lua5.4 -e 'require\"zis.mock\".main()' -- --port 8089"] = "tools/with-mock runs exactly this",
    ["export ZENDESK_SUBDOMAIN=acme ZENDESK_EMAIL=admin@acme.com ZENDESK_API_TOKEN=your-token"] =
      "a real account: the walkthrough runs the same commands locally",
    ["zis validate bundle.json"] = "the walkthrough", ["zis deploy bundle.json --dry-run"] = "the walkthrough",
    ["zis deploy bundle.json --uninstall-stale"] = "spec/cli_spec.lua",
  }
  it("every other shell line is exercised elsewhere", function()
    for block in readme:gmatch("```sh\n(.-)```") do
      if not block:match("^# try it") then
        for line in block:gmatch("[^\n]+") do
          local cmd = line:gsub("%s+#.*$", ""):gsub("%s+$", "")
          if cmd ~= "" then assert(EXERCISED[cmd], "README shell line not exercised: " .. cmd) end
        end
      end
    end
  end)
end)

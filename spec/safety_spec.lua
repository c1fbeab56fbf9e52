-- Safety boundaries, each spec here written to kill a mutant of
-- tools/mutants.lua (make mutate) that no other spec killed: credentials
-- never follow a redirect off the origin and are overwritten before they
-- are freed, answers stay within max_response_bytes and the batch budget,
-- plan sees every change of a config, the JSON decoder refuses a lone
-- low surrogate, integration names are checked before any request.
local zis = require "zis"
local core = require "zis.core"
local socket = require "socket"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"
local BUNDLES = REG .. "/demo/bundles"

-- The requests the registry received since the last reset, as "METHOD path".
local function received()
  local out = {}
  for _, r in ipairs(H.log()) do out[#out + 1] = r.method .. " " .. r.path end
  return out
end

describe("safety: redirects off the origin", function()
  -- A listener on another loopback address that answers nothing: any
  -- connection to it, and what was sent on it, is kept to look at.
  local other, other_url
  before_each(function()
    H.fresh("demo")
    other = assert(socket.bind("127.0.0.2", 0))
    local _, port = other:getsockname()
    other_url = "http://127.0.0.2:" .. port
    -- the origins compare as text; the same length makes the mistake of
    -- not comparing them show (the rest of the URL would be a path)
    assert.equal(#H.url, #other_url)
  end)
  after_each(function() other:close() end)

  local function what_other_got()
    other:settimeout(0.2)
    local conn = other:accept()
    if not conn then return nil end
    conn:settimeout(0.5)
    local lines = {}
    repeat
      local line = conn:receive("*l")
      lines[#lines + 1] = line
    until not line or line == ""
    conn:close()
    return table.concat(lines, "\n")
  end

  for _, case in ipairs{
    { status = 302, auth = "basic" }, { status = 307, auth = "basic" },
    { status = 301, auth = "bearer" }, { status = 308, auth = "bearer" },
  } do
    it(case.status .. " to another origin, " .. case.auth .. " auth: returned, never followed", function()
      for _, to in ipairs{ other_url .. BUNDLES, H.url:gsub("127%.0%.0%.1", "localhost") .. BUNDLES } do
        H.reset()
        H.faults{ { path = BUNDLES, status = case.status, headers = { Location = to } } }
        local c = H.client{ follow_redirects = true, timeout = 2,
                            oauth_token = case.auth == "bearer" and H.oauth or nil,
                            email = case.auth == "bearer" and false or nil,
                            token = case.auth == "bearer" and false or nil }
        local res, err = c:list_bundles("demo")
        c:close()
        assert.is_nil(res)
        assert.equal(case.status, err.status)
        assert.matches("leaves the client's host", err.hint)
        -- not sent again anywhere: not to the other host, not to a path
        -- of this one
        local got = what_other_got()
        assert.is_nil(got, "the other host received: " .. tostring(got))
        assert.same({ "GET " .. BUNDLES }, received())
      end
    end)
  end
end)

describe("safety: credentials are overwritten before they are freed", function()
  -- build/freecheck.so (tools/freecheck.c), LD_PRELOAD'ed into a Lua
  -- process: every block freed is looked at first, and one that still
  -- starts "Authorization: " (a header line: the client's, or a request's
  -- copy in its header list) or with the canary email (the email:token
  -- text the Basic header is made from) is reported.
  it("Basic and Bearer headers and the email:token text, after requests and close", function()
    local script = [[
      local zis = require "zis"
      local url = os.getenv("ZIS_MOCK_URL")
      local c = zis.new{ url = url, email = "canary@example.com", token = "canary-token-0123456789",
                         retries = 0 }
      for _ = 1, 3 do c:list_bundles("demo") end
      assert(#c:get_bundles("demo", { "a", "b", "c" }) == 0)
      c:close()
      local b = zis.new{ url = url, oauth_token = "canary-bearer-0123456789", retries = 0 }
      b:list_bundles("demo")
      b:close()
      -- and one left to the collector at exit
      zis.new{ url = url, email = "canary@example.com", password = "canary-password-0123456789" }
        :list_bundles("demo")
    ]]
    -- (make asan's LUA_INIT would load its module without its runtime)
    local p = assert(io.popen("env -u LUA_INIT_5_4 -u LUA_INIT LD_PRELOAD=$PWD/build/freecheck.so " ..
                              "ZIS_FREECHECK='Authorization: |canary@example.com' " ..
                              "lua5.4 -e '" .. script .. "' 2>&1"))
    local out = p:read("a")
    assert.is_true(p:close(), out)
    local checked, unzeroed = out:match("zis%-freecheck: (%d+) blocks checked, (%d+) credentials freed unzeroed")
    assert.truthy(checked, "build/freecheck.so was not loaded: " .. out)
    assert.is_true(tonumber(checked) > 1000, out)
    assert.equal("0", unzeroed, out)
  end)
end)

describe("safety: the size of answers", function()
  before_each(function() H.fresh("demo") end)

  -- Without a Content-Length (chunked) libcurl cannot refuse the answer up
  -- front: the body callback must stop it at max_response_bytes, counted
  -- after gzip is undone.  30 KB is over the 10 KB limit, but within the
  -- batch budget (4 times it), so only that check can stop it.
  for _, case in ipairs{
    { gzip = "always", chunked = 4 }, { gzip = "never", chunked = 4 },
    { gzip = "always", chunked = 1 }, { gzip = "never" },
  } do
    it(string.format("max_response_bytes stops a larger answer (gzip %s, %s)", case.gzip,
                     case.chunked and (case.chunked .. " chunks") or "Content-Length"), function()
      H.control("POST", "config", { gzip = case.gzip })
      H.faults{ { path = BUNDLES, status = 200, size = 30000, chunked = case.chunked } }
      local c = H.client{ max_response_bytes = 10000 }
      local res, err = c:list_bundles("demo")
      assert.is_nil(res)
      assert.equal("too_large", err.kind)
      assert.equal(0, core.engine_stats(c).held)
      c:close()
    end)
  end

  -- Answers each within max_response_bytes but together over the batch
  -- budget (4 x max_response_bytes = 400 KB): the engine is driven
  -- directly (core.submit, core.perform) and no result is taken until all
  -- have ended, so whatever was read is held at once.
  it("answers held together stay within the batch budget", function()
    local c = H.client{ max_response_bytes = 100000 }
    H.faults{ { path = BUNDLES .. "/*", status = 200, size = 90000, times = 16 } }
    local ids = {}
    for i = 1, 16 do ids[core.submit(c, "GET", H.url .. BUNDLES .. "/u" .. i, "basic")] = true end
    local deadline = socket.gettime() + 10
    while core.perform(c) < 16 do
      assert.is_true(socket.gettime() < deadline, "the answers did not all end")
      socket.sleep(0.005)
    end
    local st = core.engine_stats(c)
    assert.equal(400000, st.budget)
    assert.is_true(st.peak_held <= st.budget, st.peak_held .. " > " .. st.budget)
    local over, whole = 0, 0
    for _ = 1, 16 do
      local r = assert(core.wait(c, 1))
      assert.is_true(ids[r.id])
      if r.kind == "too_large" then
        over = over + 1
        assert.equal("responses in flight exceed the client's budget", r.message)
      else
        assert.equal(200, r.status)
        whole = whole + 1
      end
    end
    -- 4 whole answers of 90 KB fit the budget; the others cannot
    assert.is_true(over >= 12, over .. " refused")
    assert.is_true(whole >= 1, whole .. " read whole")
    assert.equal(0, core.engine_stats(c).held)
    c:close()
  end)
end)

describe("safety: plan sees every change of a config", function()
  local I = "safety_plan"
  local function manifest(config)
    return { integration = I, description = "safety", configs = { settings = config } }
  end
  local function config_item(plan)
    for _, it in ipairs(plan.items) do
      if it.kind == "config" then return it end
    end
  end
  local base = { nested = { level = { deep = "a", list = { 1, 2 } } }, count = 1, ratio = 0.5 }

  before_each(function()
    H.reset()
    local c = H.client()
    local r = assert(zis.apply(c, manifest(base)))
    assert.is_true(r.ok, r.summary)
    local plan = assert(zis.plan(c, manifest(base)))
    assert.equal("unchanged", config_item(plan).action)
    c:close()
  end)

  for _, case in ipairs{
    { what = "a nested value", path = "config.nested.level.deep",
      config = { nested = { level = { deep = "b", list = { 1, 2 } } }, count = 1, ratio = 0.5 } },
    { what = "an array element", path = "config.nested.level.list[2]",
      config = { nested = { level = { deep = "a", list = { 1, 3 } } }, count = 1, ratio = 0.5 } },
    { what = "1 become 1.0 (the API keeps integers and floats apart)", path = "config.count",
      config = { nested = { level = { deep = "a", list = { 1, 2 } } }, count = 1.0, ratio = 0.5 } },
  } do
    it("reports " .. case.what .. " as an update, and apply sends it", function()
      local c = H.client()
      local plan = assert(zis.plan(c, manifest(case.config)))
      local item = config_item(plan)
      assert.equal("update", item.action)
      local paths = {}
      for _, d in ipairs(item.paths or item.details or {}) do
        paths[#paths + 1] = type(d) == "table" and d.path or tostring(d)
      end
      assert.matches(case.path, table.concat(paths, " "), 1, true)
      assert.equal(1, plan.changes)
      local r = assert(zis.apply(c, manifest(case.config)))
      assert.is_true(r.ok, r.summary)
      local live = assert(c:for_integration(I):list_configs(I, { scope = "settings" })).configs[1].config
      assert.is_true(H.same_json(zis.decode_json(zis.encode_json(case.config)), live))
      c:close()
    end)
  end
end)

describe("safety: the JSON decoder and surrogates", function()
  it("refuses a lone low surrogate, wherever it is", function()
    for _, text in ipairs{ '"\\udc00"', '"a\\udc00b"', '["\\udfff"]', '{"k":"\\udc00\\ud800"}',
                           '"\\ud800"', '"\\ud800x"', '"\\ud800\\u0041"' } do
      local v, err = zis.decode_json(text)
      assert.is_nil(v, text)
      assert.matches("lone surrogate", tostring(err), 1, true)
    end
  end)

  it("decodes a pair into one UTF-8 character", function()
    assert.equal("\u{1F600}", zis.decode_json('"\\ud83d\\ude00"'))
    assert.equal("\u{10000}\u{10FFFF}", zis.decode_json('"\\ud800\\udc00\\udbff\\udfff"'))
  end)
end)

describe("safety: integration names", function()
  before_each(function() H.fresh("demo") end)

  it("are checked before any request: 1 to 64 of a-z 0-9 - _", function()
    local c = H.client()
    H.reset()
    for _, name in ipairs{ "Demo", "de mo", "../admin", "a/b", "demo?x=1", "d%2e", "é", "",
                           string.rep("a", 65) } do
      assert.has_error(function() c:list_bundles(name) end,
                       "bad argument #1 to 'list_bundles' (integration name must be 1 to 64 of a-z 0-9 - _)")
      assert.has_error(function() c:get_bundles(name, { "u" }) end,
                       "bad argument #1 to 'get_bundles' (integration name must be 1 to 64 of a-z 0-9 - _)")
    end
    assert.same({}, received())
    assert.truthy(c:list_bundles(string.rep("a", 64)) or true)
    c:close()
  end)
end)

-- Bad input never crashes the process: every public function, called with
-- wrong types, huge strings, embedded NULs or invalid UTF-8, either works
-- (a value, or nil and an error object) or raises a clear Lua error.
local zis = require "zis"
local H = require "spec.helper"

local WEIRD = {
  { "nil", nil }, { "true", true }, { "zero", 0 }, { "negative", -1 }, { "float", 1.5 },
  { "huge number", math.huge }, { "NaN", 0 / 0 }, { "maxinteger", math.maxinteger },
  { "empty string", "" }, { "NUL", "a\0b" }, { "invalid UTF-8", "\xff\xfe" },
  { "huge string", string.rep("z", 100000) }, { "path tricks", "../../x?y=1#z" },
  { "CRLF", "a\r\nX-Injected: 1" }, { "empty table", {} }, { "function", print },
  { "coroutine", coroutine.create(print) }, { "userdata", io.stdout },
  { "zis.null", zis.null }, { "nested", { { { "deep" } } } },
}

-- Runs f; passes if it returned (anything) or raised a string or an error
-- object.  A crash would end the whole busted process, failing the suite.
local function survives(f, ...)
  local ok, err = pcall(f, ...)
  if not ok then
    assert(type(err) == "string" or zis.is_error(err), "unclear error: " .. tostring(err))
    assert(#tostring(err) > 0)
  end
  return ok
end

describe("bad input", function()
  setup(function() H.fresh("demo") end)

  it("module functions", function()
    local fns = { zis.new, zis.from_env, zis.is_error, zis.decode_json, zis.encode_json,
                  zis.array, zis.object }
    for _, f in ipairs(fns) do
      for _, w in ipairs(WEIRD) do survives(f, w[2]) end
    end
  end)

  it("zis.new option values", function()
    local names = { "url", "subdomain", "email", "token", "password", "oauth_token", "timeout",
                    "connect_timeout", "retries", "retry_base_delay", "max_retry_wait",
                    "max_response_bytes", "allow_insecure_http", "follow_redirects",
                    "on_request", "debug", "ca_file", "ca_path", "proxy" }
    for _, name in ipairs(names) do
      for _, w in ipairs(WEIRD) do
        survives(zis.new, { url = H.url, email = H.email, token = H.token, [name] = w[2] })
      end
    end
  end)

  it("every method, every argument position, with a request made when valid", function()
    local c = H.client()
    local methods = {}
    for _, e in ipairs(zis.endpoints) do methods[#methods + 1] = e.name end
    for _, m in ipairs{ "bundles", "job_specs", "close" } do methods[#methods + 1] = m end
    for _, m in ipairs(methods) do
      if m ~= "close" then
        for _, w in ipairs(WEIRD) do
          survives(c[m], c, w[2])
          survives(c[m], c, "demo", w[2])
          survives(c[m], c, w[2], w[2])
          survives(c[m], w[2], "demo", "x")  -- self is not a client
        end
      end
    end
    -- the client still works after all that
    assert.truthy(c:list_bundles("demo"))
    c:close()
    for _, m in ipairs(methods) do survives(c[m], c, "demo", "x") end
  end)

  it("iterator steps keep raising clearly after a failure", function()
    local c = H.client()
    local step = c:bundles("nope")
    assert.has_error(function() step() end)
    assert.is_nil(step())  -- finished, not crashed
  end)

  it("error objects are plain tables that tostring and compare", function()
    local _, err = H.client():get_bundle("demo", "missing\0with\xffbytes")
    assert.is_true(zis.is_error(err))
    assert.is_string(tostring(err))
    assert.is_false(zis.is_error({ kind = "http" }))
    assert.is_false(zis.is_error(setmetatable({}, {})))
  end)
end)

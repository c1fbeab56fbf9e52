-- Failures on the way to or at the server: nil, err with a structured,
-- one-line error object; retries as SPEC.md says.
local zis = require "zis"
local socket = require "socket"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"

describe("errors", function()
  before_each(function() H.fresh("demo") end)

  it("network: nothing listening", function()
    local c = zis.new{ url = "http://127.0.0.1:" .. H.dead_port(), oauth_token = "t", retries = 0 }
    local res, err = c:list_bundles("demo")
    assert.is_nil(res)
    assert.is_true(zis.is_error(err))
    assert.equal("network", err.kind)
    assert.is_nil(err.status)
    assert.equal("GET", err.method)
    assert.equal(REG .. "/demo/bundles", err.path)
    assert.equal(1, err.attempts)
    assert.matches("^zis: GET " .. REG:gsub("%p", "%%%0") .. "/demo/bundles: network: ", tostring(err))
  end)

  it("network: a connection refused is retried for any method, even a create", function()
    local c = zis.new{ url = "http://127.0.0.1:" .. H.dead_port(), email = H.email, token = H.token,
                       retries = 2, retry_base_delay = 0.01 }
    local _, err = c:create_integration("x")
    assert.equal("network", err.kind)
    assert.equal(3, err.attempts)
  end)

  it("timeout: a server that accepts and never answers", function()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    local c = zis.new{ url = "http://127.0.0.1:" .. port, oauth_token = "t", timeout = 0.3, retries = 2 }
    local t0 = socket.gettime()
    local _, err = c:list_bundles("demo")
    local elapsed = socket.gettime() - t0
    server:close()
    assert.equal("timeout", err.kind)
    assert.equal(1, err.attempts)  -- a timed-out request is not repeated
    assert.is_true(elapsed < 2, "took " .. elapsed)
  end)

  it("tls: https to a server that does not speak it", function()
    local c = zis.new{ url = H.url:gsub("^http:", "https:"), oauth_token = "t", retries = 0 }
    local _, err = c:list_bundles("demo")
    assert.equal("tls", err.kind)
  end)

  it("decode: a 2xx whose body is not JSON", function()
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 200, body = "<html>oops</html>",
                content_type = "text/html" } }
    local res, err = H.client():list_bundles("demo")
    assert.is_nil(res)
    assert.equal("decode", err.kind)
    assert.equal(200, err.status)
    assert.matches("invalid JSON in a 200 response", err.message)
  end)

  it("decode: a 2xx with an empty body where data was promised", function()
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 200, body = "" } }
    local _, err = H.client():list_bundles("demo")
    assert.equal("decode", err.kind)
  end)

  it("too_large: a body over max_response_bytes", function()
    H.faults{ { method = "GET", path = REG .. "/demo/bundles", status = 200,
                body = '{"bundles":[],"pad":"' .. string.rep("x", 5000) .. '"}' } }
    local c = H.client{ max_response_bytes = 1000 }
    local _, err = c:list_bundles("demo")
    assert.equal("too_large", err.kind)
    assert.matches("max_response_bytes", tostring(err))
    assert.truthy(c:list_bundles("demo"))  -- the client still works after
  end)

  it("http: a non-JSON error body is kept, with the reason as message", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 502, body = "<html>Bad gateway</html>",
                content_type = "text/html" } }
    local _, err = H.client():list_bundles("demo")
    assert.equal(502, err.status)
    assert.equal("Bad Gateway", err.message)
    assert.equal("<html>Bad gateway</html>", err.body)
    assert.equal("zis: GET " .. REG .. "/demo/bundles: 502 Bad Gateway", tostring(err))
  end)

  it("a redirect is not followed, so credentials stay on the host", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 302, body = "",
                headers = { Location = "http://127.0.0.2:1/steal" } } }
    local _, err = H.client():list_bundles("demo")
    assert.equal("http", err.kind)
    assert.equal(302, err.status)
  end)
end)

describe("retries", function()
  before_each(function() H.fresh("demo") end)

  it("429 and 503 are retried for every method, honouring Retry-After", function()
    H.faults{ { method = "POST", path = REG .. "/new", status = 429, body = "Too many",
                content_type = "text/plain", headers = { ["Retry-After"] = "0" } },
              { method = "POST", path = REG .. "/new", status = 503, body = "",
                headers = { ["Retry-After"] = "0" } } }
    local events = {}
    local c = H.client{ retries = 3, on_request = function(e) events[#events + 1] = e end }
    assert.truthy(c:create_integration("new"))
    assert.equal(3, #events)
    assert.same({ 429, 503, 200 }, { events[1].status, events[2].status, events[3].status })
    assert.same({ 1, 2, 3 }, { events[1].attempt, events[2].attempt, events[3].attempt })
    assert.equal(0, events[1].retry_in)
    assert.is_nil(events[3].retry_in)
  end)

  it("gives up after `retries` and reports attempts and retry_after", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 429, body = "slow down", times = 5,
                content_type = "text/plain", headers = { ["Retry-After"] = "0" } } }
    local _, err = H.client{ retries = 2 }:list_bundles("demo")
    assert.equal(429, err.status)
    assert.equal(3, err.attempts)
    assert.equal(0, err.retry_after)
    assert.equal("Too Many Requests", err.message)
    assert.equal("slow down", err.body)
    H.control("POST", "reset")
  end)

  it("a Retry-After longer than max_retry_wait fails at once, saying what the server asked", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 503, body = "", headers = { ["Retry-After"] = "3600" } } }
    local t0 = socket.gettime()
    local c = H.client{ retries = 1, max_retry_wait = 0.05 }
    local res, err = c:list_bundles("demo")
    assert.is_nil(res)
    assert.equal(503, err.status)
    assert.equal(1, err.attempts)
    assert.matches("asked to wait 3600 s %(Retry%-After%), more than max_retry_wait %(0.05 s%)", tostring(err))
    assert.is_true(socket.gettime() - t0 < 2)
    H.control("POST", "reset")
  end)

  it("502/504 are retried for GET, DELETE and uploads, not for a create", function()
    H.faults{ { method = "GET", status = 502, body = "" }, { method = "GET", status = 504, body = "" } }
    local c = H.client{ retries = 3, retry_base_delay = 0.01 }
    assert.truthy(c:list_bundles("demo"))
    H.faults{ { method = "POST", path = REG .. "/demo/bundles", status = 502, body = "" } }
    assert.is_true(c:upload_bundle("demo", H.bundle("demo", "b")))
    H.faults{ { method = "POST", path = REG .. "/other", status = 502, body = "" } }
    local _, err = c:create_integration("other")
    assert.equal(502, err.status)
    assert.equal(1, err.attempts)
    H.faults{ { method = "POST", path = REG .. "/job_specs/install", status = 504, body = "" } }
    _, err = c:install_job_spec("demo", "on_ticket")
    assert.equal(504, err.status)
    assert.equal(1, err.attempts)
  end)

  it("retries = 0 turns retrying off", function()
    H.faults{ { status = 503, body = "", headers = { ["Retry-After"] = "0" } } }
    local _, err = H.client{ retries = 0 }:list_bundles("demo")
    assert.equal(503, err.status)
    assert.equal(1, err.attempts)
  end)

  it("4xx other than 429 are not retried", function()
    local _, err = H.client{ retries = 3 }:get_bundle("demo", "nope")
    assert.equal(404, err.status)
    assert.equal(1, err.attempts)
  end)

  it("hook events carry no credential", function()
    local events = {}
    local c = H.client{ on_request = function(e) events[#events + 1] = e end }
    assert.truthy(c:list_bundles("demo"))
    local e = events[1]
    assert.equal("GET", e.method)
    assert.equal(REG .. "/demo/bundles", e.path)
    assert.equal(200, e.status)
    assert.equal(1, e.attempt)
    assert.is_number(e.elapsed)
    assert.matches("^mock%-", e.request_id)
    for _, v in pairs(e) do assert.is_nil(tostring(v):find(H.token, 1, true)) end
  end)
end)

describe("user code inside a call", function()
  before_each(function() H.fresh("demo") end)

  it("a hook may call its own client: the calls share it, each gets its own answer", function()
    local c, inner, depth = nil, {}, 0
    c = H.client{ on_request = function(e)
      if depth == 0 and e.path:find("/bundles$") then
        depth = depth + 1
        inner[#inner + 1] = c:list_integrations()
        depth = depth - 1
      end
    end }
    local page = assert(c:get_bundles("demo", { "nope-1", "nope-2" }, { concurrency = 2 }))
    assert.same({}, page)   -- both 404: errors, in their own slots
    local list = assert(c:list_bundles("demo"))
    assert.is_table(list.bundles)
    assert.equal(1, #inner)
    assert.equal("demo", inner[1].integrations[1].name)
    assert.truthy(c:list_bundles("demo"))
  end)

  it("an error raised by a hook propagates and leaves the client usable", function()
    local raise = true
    local c = H.client{ on_request = function() if raise then error("hook failed", 0) end end }
    assert.has_error(function() c:list_bundles("demo") end, "hook failed")
    raise = false
    assert.truthy(c:list_bundles("demo"))
    collectgarbage()
  end)

  it("an oauth_token function that raises leaves the client usable", function()
    local fail = true
    local bound = H.bound_token("demo")
    local c = zis.new{ url = H.url, retries = 0, oauth_token = function()
      if fail then error("vault sealed", 0) end
      return bound
    end }
    assert.has_error(function() c:list_bundles("demo") end, "vault sealed")
    fail = false
    assert.truthy(c:list_bundles("demo"))
  end)
end)

describe("error bodies", function()
  before_each(function() H.fresh("demo") end)

  it("reads Zendesk's other error shape {error, description}", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 403,
                body = '{"error":"Forbidden","description":"Only admin user is allowed"}' } }
    local _, err = H.client():list_bundles("demo")
    assert.equal(403, err.status)
    assert.equal("Forbidden", err.code)
    assert.equal("Only admin user is allowed", err.detail)
    assert.equal("zis: GET " .. REG .. "/demo/bundles: 403 Forbidden (Forbidden: Only admin user is allowed)",
                 tostring(err))
  end)

  it("keeps a JSON error body that is not an object as text", function()
    H.faults{ { path = REG .. "/demo/bundles", status = 500, body = '"oops"' } }
    local _, err = H.client():list_bundles("demo")
    assert.equal('"oops"', err.body)
    assert.equal("Internal Server Error", err.message)
  end)
end)

describe("connections", function()
  it("one client reuses one connection across calls", function()
    H.fresh("demo")
    local c = H.client()
    local before = H.stats().connections
    for _ = 1, 10 do assert.truthy(c:list_bundles("demo")) end
    assert.truthy(c:upload_bundle("demo", H.bundle("demo", "b")))
    assert.truthy(c:list_job_specs("demo"))
    -- the control request that reads the stats opens one connection itself
    assert.equal(before + 2, H.stats().connections)
  end)
end)

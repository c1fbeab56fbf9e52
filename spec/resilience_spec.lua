-- Faults the network and the server can throw (issue: resilience).
local zis = require "zis"
local socket = require "socket"
local mime = require "mime"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"
local BUNDLES = REG .. "/demo/bundles"

-- A second local registry on another loopback address: "another host".
local function start_other_registry()
  local dir = os.tmpname()
  os.remove(dir)
  local portfile = dir .. ".port"
  os.execute("lua5.4 bin/zis mock --host 127.0.0.2 --port 0 " ..
             "--port-file " .. portfile .. " --quiet &")
  for _ = 1, 100 do
    local f = io.open(portfile)
    if f then
      local port = f:read("n")
      f:close()
      if port then
        os.remove(portfile)
        return "http://127.0.0.2:" .. port
      end
    end
    socket.sleep(0.05)
  end
  error("the second registry did not start")
end

local function other_control(url, method, path)
  local out = {}
  local http = require "socket.http"
  http.request{ url = url .. "/__mock/" .. path, method = method,
                sink = require("ltn12").sink.table(out) }
  local text = table.concat(out)
  return text ~= "" and zis.decode_json(text) or true
end

describe("resilience", function()
  before_each(function() H.fresh("demo") end)

  describe("Retry-After", function()
    it("accepts an HTTP date", function()
      H.faults{ { path = BUNDLES, status = 503, body = "",
                  headers = { ["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT" } } }
      local events = {}
      local c = H.client{ retries = 1, on_request = function(e) events[#events + 1] = e end }
      assert.truthy(c:list_bundles("demo"))
      assert.equal(0, events[1].retry_in)  -- a date in the past: at once
    end)

    it("a future date past max_retry_wait fails at once, naming the wait asked for", function()
      local future = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600)
      H.faults{ { path = BUNDLES, status = 429, body = "", headers = { ["Retry-After"] = future } } }
      local events = {}
      local c = H.client{ retries = 1, max_retry_wait = 0.2,
                          on_request = function(e) events[#events + 1] = e end }
      local t0 = socket.gettime()
      local res, err = c:list_bundles("demo")
      assert.is_nil(res)
      assert.is_nil(events[1].retry_in)
      assert.matches("asked to wait 3[56]%d%d s", tostring(err))
      assert.is_true(socket.gettime() - t0 < 0.2)
    end)

    it("reports retry_after on the error when retrying is off", function()
      H.faults{ { path = BUNDLES, status = 429, body = "", headers = { ["Retry-After"] = "17" } } }
      local _, err = H.client{ retries = 0 }:list_bundles("demo")
      assert.equal(17, err.retry_after)
    end)
  end)

  describe("transport faults", function()
    it("a hang-up without answer is a network error, retried for GET", function()
      H.faults{ { path = BUNDLES, hangup = true } }
      local c = H.client{ retries = 2, retry_base_delay = 0.01 }
      assert.truthy(c:list_bundles("demo"))
      -- (libcurl itself re-sends once when a reused keep-alive connection
      -- dies unanswered, so queue more hang-ups than can be consumed)
      H.faults{ { path = BUNDLES, hangup = true, times = 20 } }
      local _, err = c:list_bundles("demo")
      assert.equal("network", err.kind)
      assert.equal(3, err.attempts)
      H.reset()
    end)

    it("a hang-up is not retried for an integration create (it may have happened)", function()
      H.faults{ { method = "POST", path = REG .. "/maybe", hangup = true } }
      local _, err = H.client{ retries = 3, retry_base_delay = 0.01 }:create_integration("maybe")
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
    end)

    it("a create reaches the server once, even when a reused connection dies", function()
      local c = H.client{ retries = 3, retry_base_delay = 0.01 }
      assert(c:list_integrations())  -- a keep-alive connection is open for reuse
      H.faults{ { method = "POST", path = REG .. "/once", hangup = true, times = 5 } }
      local _, err = c:create_integration("once")
      assert.equal("network", err.kind)
      assert.equal(1, err.attempts)
      local posts = 0
      for _, r in ipairs(H.log()) do
        if r.method == "POST" and r.path == REG .. "/once" then posts = posts + 1 end
      end
      assert.equal(1, posts)  -- libcurl's own silent re-send would make it 2 or more
      H.reset()
    end)

    it("a body cut mid-way is a network error, never a short success", function()
      H.faults{ { path = BUNDLES, status = 200, body = '{"bundles":[],"meta":{"has_more":false}}', cut = 10 } }
      local res, err = H.client{ retries = 0 }:list_bundles("demo")
      assert.is_nil(res)
      assert.equal("network", err.kind)
    end)

    it("a slow answer past the timeout is a timeout, within the timeout", function()
      H.faults{ { path = BUNDLES, status = 200, body = "{}", delay = 1.5 } }
      local t0 = socket.gettime()
      local _, err = H.client{ timeout = 0.4, retries = 2 }:list_bundles("demo")
      local took = socket.gettime() - t0
      assert.equal("timeout", err.kind)
      assert.is_true(took < 1.2, "took " .. took)
    end)

    it("a slow answer within the timeout is fine", function()
      H.faults{ { path = BUNDLES, delay = 0.2, status = 200,
                  body = '{"bundles":[],"meta":{"has_more":false}}' } }
      assert.truthy(H.client{ timeout = 5 }:list_bundles("demo"))
    end)

    it("an oversized body stops at max_response_bytes", function()
      H.faults{ { path = BUNDLES, status = 200, size = 3 * 1024 * 1024 } }
      local _, err = H.client{ max_response_bytes = 1024 * 1024 }:list_bundles("demo")
      assert.equal("too_large", err.kind)
    end)

    it("an HTML page from a proxy on a 2xx is a decode error, on a 5xx an http error", function()
      H.faults{ { path = BUNDLES, status = 200, body = "<html><body>Login</body></html>",
                  content_type = "text/html" },
                { path = BUNDLES, status = 504, body = "<html>Gateway Timeout</html>",
                  content_type = "text/html" } }
      local c = H.client{ retries = 0 }
      local _, err = c:list_bundles("demo")
      assert.equal("decode", err.kind)
      _, err = c:list_bundles("demo")
      assert.equal("http", err.kind)
      assert.equal(504, err.status)
      assert.equal("<html>Gateway Timeout</html>", err.body)
    end)
  end)

  describe("redirects", function()
    it("are not followed by default", function()
      H.faults{ { path = BUNDLES, status = 301, headers = { Location = H.url .. BUNDLES .. "?x=1" } } }
      local _, err = H.client():list_bundles("demo")
      assert.equal(301, err.status)
      assert.matches("follow_redirects", err.hint)
    end)

    it("with follow_redirects, same-origin ones are followed with the credential", function()
      H.faults{ { path = BUNDLES, status = 302, headers = { Location = REG .. "/demo/job_specs" } } }
      local res = assert(H.client{ follow_redirects = true }:list_bundles("demo"))
      assert.is_table(res.job_specs)
      local last = H.last()
      assert.equal(REG .. "/demo/job_specs", last.path)
      assert.truthy(last.headers.authorization)
    end)

    it("never to another host: the Authorization header never reaches it", function()
      local other = start_other_registry()
      finally(function() other_control(other, "POST", "shutdown") end)
      for _, to in ipairs{ other .. BUNDLES, H.url:gsub("127%.0%.0%.1", "localhost") .. BUNDLES } do
        H.faults{ { path = BUNDLES, status = 307, headers = { Location = to } } }
        local _, err = H.client{ follow_redirects = true, oauth_token = H.oauth }:list_bundles("demo")
        assert.equal(307, err.status)
        assert.matches("leaves the client's host", err.hint)
      end
      assert.same({}, other_control(other, "GET", "log"))
    end)

    it("a POST is followed only on 307/308", function()
      H.faults{ { method = "POST", path = BUNDLES, status = 302, headers = { Location = BUNDLES } } }
      local _, err = H.client{ follow_redirects = true }:upload_bundle("demo", H.bundle("demo", "b"))
      assert.equal(302, err.status)
      H.faults{ { method = "POST", path = BUNDLES, status = 308, headers = { Location = BUNDLES } } }
      assert.is_true(H.client{ follow_redirects = true }:upload_bundle("demo", H.bundle("demo", "b")))
      assert.same(H.bundle("demo", "b"), zis.decode_json(H.last().body))
    end)

    it("stop after 5", function()
      H.faults{ { path = BUNDLES, status = 302, headers = { Location = BUNDLES }, times = 10 } }
      local _, err = H.client{ follow_redirects = true }:list_bundles("demo")
      assert.equal(302, err.status)
      assert.equal(6, err.attempts)
      H.reset()
    end)
  end)

  describe("proxy", function()
    it("the proxy option sends requests through the proxy", function()
      local c = zis.new{ url = "http://127.0.0.2:9", proxy = H.url, email = H.email,
                         token = H.token, retries = 0 }
      assert.truthy(c:list_bundles("demo"))
      assert.equal("http://127.0.0.2:9", H.last().proxied)
    end)

    it("libcurl's proxy environment variables work", function()
      local script = "local zis = require 'zis'; local c = zis.new{ url = 'http://127.0.0.2:9', " ..
        "email = '" .. H.email .. "', token = '" .. H.token .. "', retries = 0 }; " ..
        "assert(c:list_bundles('demo'))"
      assert.is_true(os.execute("http_proxy=" .. H.url .. " lua5.4 -e \"" .. script .. "\""))
      assert.equal("http://127.0.0.2:9", H.last().proxied)
    end)
  end)

  describe("observability without leaks", function()
    it("debug = true prints each attempt to stderr, without credentials", function()
      H.faults{ { path = BUNDLES, status = 503, body = "", headers = { ["Retry-After"] = "0" } } }
      local token, bearer = "fake-debug-token-9876", "fake-debug-bearer-5432"
      local script = "local zis = require 'zis'; local c = zis.new{ url = '" .. H.url .. "', " ..
        "email = 'admin@example.com', token = '" .. token .. "', oauth_token = '" .. bearer .. "', " ..
        "debug = true, retries = 1 }; c:list_bundles('demo'); c:upload_bundle('demo', {})"
      local p = io.popen("lua5.4 -e \"" .. script .. "\" 2>&1")
      local out = p:read("a")
      p:close()
      assert.matches("zis: GET " .. BUNDLES:gsub("%p", "%%%0") .. " %-> 503 %(", out)
      assert.matches("attempt 1%), retrying", out)
      assert.matches("attempt 2%)", out)
      for _, secret in ipairs{ token, bearer, mime.b64("admin@example.com/token:" .. token) } do
        assert.is_nil(out:find(secret, 1, true))
      end
    end)

    it("survives collection during requests, in iterators and after errors", function()
      for i = 1, 5 do assert(H.client():upload_bundle("demo", H.bundle("demo", "b" .. i, {}))) end
      local c = H.client{ on_request = function() collectgarbage() end, retries = 1,
                          retry_base_delay = 0.001 }
      H.faults{ { path = BUNDLES, status = 503, body = "", headers = { ["Retry-After"] = "0" } } }
      local n = 0
      for _ in c:bundles("demo", { page_size = 1 }) do
        n = n + 1
        collectgarbage()
      end
      assert.equal(5, n)
      for _ = 1, 3 do
        local _, err = c:get_bundle("demo", "missing")
        collectgarbage()
        assert.equal(404, err.status)
      end
    end)
  end)
end)

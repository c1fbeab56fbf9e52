-- The engine's failure results, read through core.submit / core.wait
-- directly (no client.lua policy in between): which failures a retry
-- cannot fix (`permanent = true`), and which requests timed out before
-- they were sent (`sent = false`, and a message that says so).
local core = require "zis.core"
local socket = require "socket"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"

-- One attempt, waited for; returns its result table.
-- `auth` is "basic" for the spec helper's clients, nil for bare ones.
local function attempt(c, url, auth)
  local id = core.submit(c, "GET", url, auth)
  local r = core.wait(c, 10)
  assert.is_table(r, "no result within 10 s")
  assert.equal(id, r.id)
  return r
end

-- A loopback TCP server that never accepts: the kernel completes the
-- handshake, and then nothing is ever said.  Returns it and its port.
local function mute_server(backlog)
  local s = assert(socket.tcp())
  assert(s:bind("127.0.0.1", 0))
  assert(s:listen(backlog or 32))
  local _, port = s:getsockname()
  return s, port
end

describe("engine failures: what a retry cannot fix is marked permanent", function()
  local c
  before_each(function()
    H.fresh("fail")
    c = H.client{ timeout = 5 }
  end)
  after_each(function() c:close() end)

  it("a 1 MB response header", function()
    local path = REG .. "/fail/bundles"
    H.faults{ { path = path, status = 200, body = "{}",
                headers = { ["X-Huge"] = string.rep("h", 1024 * 1024) } } }
    local r = attempt(c, H.url .. path, "basic")
    assert.is_nil(r.status)
    assert.equal("network", r.kind)
    assert.is_true(r.permanent, tostring(r.message))
    assert.matches("response header", r.message)
  end)

  it("a 9 MB URL", function()
    -- an attempt first: the next one reuses its handle, whose times would
    -- otherwise say the refused one was sent
    assert(attempt(c, H.url .. REG .. "/fail/bundles", "basic").status)
    local logged = #H.log()
    local r = attempt(c, H.url .. REG .. "/fail/bundles/" .. string.rep("u", 9 * 1024 * 1024), "basic")
    assert.equal("network", r.kind)
    assert.is_true(r.permanent, tostring(r.message))
    assert.is_false(r.sent)
    assert.matches("^libcurl refused the URL", r.message)
    assert.equal(logged, #H.log())   -- nothing reached the registry
  end)

  it("a scheme libcurl is not allowed to use", function()
    local r = attempt(c, "ftp://127.0.0.1:1/x", "basic")
    assert.is_true(r.permanent, tostring(r.message))
  end)

  it("a body in an encoding that does not decode", function()
    local path = REG .. "/fail/bundles"
    H.faults{ { path = path, status = 200, body = "this is not gzip",
                headers = { ["Content-Encoding"] = "gzip" } } }
    local r = attempt(c, H.url .. path, "basic")
    assert.equal("network", r.kind)
    assert.is_true(r.permanent, tostring(r.message))
  end)

  it("a CA file that cannot be read", function()
    local srv, port = mute_server()
    local t = core.new{ base_url = "https://127.0.0.1:" .. port, ca_file = "/nonexistent/ca.pem",
                        timeout = 5, state = {} }
    local r = attempt(t, "https://127.0.0.1:" .. port .. "/x")
    assert.equal("tls", r.kind)
    assert.is_true(r.permanent, tostring(r.message))
    t:close()
    srv:close()
  end)

  it("but not what may pass: a refused connection, a hang-up, a cut body, a 503", function()
    local path = REG .. "/fail/bundles"
    local r = attempt(c, "http://127.0.0.1:" .. H.dead_port() .. path, "basic")
    assert.equal("connect", r.kind)
    assert.is_nil(r.permanent)
    assert.is_false(r.sent)
    H.faults{ { path = path, hangup = true } }
    r = attempt(c, H.url .. path, "basic")
    assert.equal("network", r.kind)
    assert.is_nil(r.permanent)
    H.faults{ { path = path, status = 200, size = 100000, cut = 1000 } }
    r = attempt(c, H.url .. path, "basic")
    assert.equal("network", r.kind)
    assert.is_nil(r.permanent)
    assert.is_nil(r.sent)
    H.faults{ { path = path, status = 503, body = "busy" } }
    r = attempt(c, H.url .. path, "basic")
    assert.equal(503, r.status)
    assert.is_nil(r.permanent)
  end)
end)

describe("engine failures: a certificate that does not verify", function()
  local dir, pid_file, port

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    assert(os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 " ..
      "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 " ..
      "-keyout " .. dir .. "/key.pem -out " .. dir .. "/cert.pem 2>/dev/null"))
    port = H.dead_port()
    pid_file = dir .. "/pid"
    assert(os.execute("cd " .. dir .. " && (openssl s_server -quiet -HTTP -accept 127.0.0.1:" ..
      port .. " -cert cert.pem -key key.pem >/dev/null 2>&1 & echo $! > " .. pid_file .. ")"))
    for _ = 1, 100 do
      local s = socket.connect("127.0.0.1", port)
      if s then s:close() break end
      socket.sleep(0.05)
    end
  end)

  teardown(function()
    local f = io.open(pid_file)
    if f then os.execute("kill " .. f:read("l") .. " 2>/dev/null") f:close() end
    os.execute("rm -rf " .. dir)
  end)

  it("is tls and permanent", function()
    local t = core.new{ base_url = "https://127.0.0.1:" .. port, timeout = 5, state = {} }
    local r = attempt(t, "https://127.0.0.1:" .. port .. "/x")
    assert.equal("tls", r.kind)
    assert.matches("certificate", r.message)
    assert.is_true(r.permanent)
    t:close()
  end)
end)

describe("engine failures: a timeout says whether the request was sent", function()
  it("before: the TLS handshake never ends", function()
    local srv, port = mute_server()
    local t = core.new{ base_url = "https://127.0.0.1:" .. port, timeout = 0.3, state = {} }
    local r = attempt(t, "https://127.0.0.1:" .. port .. "/x")
    assert.equal("timeout", r.kind)
    assert.is_false(r.sent)
    assert.is_nil(r.permanent)
    -- libcurl 7.88 counts the handshake as part of connecting (its connect
    -- time is set once TLS is up); later ones may tell them apart
    local stage = r.message:match("^timed out before the request was sent %((.-)%): ")
    assert.is_truthy(stage == "connecting" or stage == "the TLS handshake", r.message)
    t:close()
    srv:close()
  end)

  it("before: the connection is never accepted (a full backlog)", function()
    local srv, port = mute_server(0)
    -- fill the listen queue: further SYNs are dropped, so connect() hangs
    local fill = {}
    for i = 1, 4 do
      fill[i] = socket.tcp()
      fill[i]:settimeout(0)
      fill[i]:connect("127.0.0.1", port)
    end
    socket.sleep(0.1)
    local t = core.new{ base_url = "http://127.0.0.1:" .. port, timeout = 0.3, state = {} }
    local r = attempt(t, "http://127.0.0.1:" .. port .. "/x")
    assert.equal("timeout", r.kind)
    assert.is_false(r.sent)
    assert.matches("^timed out before the request was sent %(connecting%): ", r.message)
    t:close()
    for i = 1, 4 do fill[i]:close() end
    srv:close()
  end)

  it("after: the request went out and no answer came", function()
    local srv, port = mute_server()
    local t = core.new{ base_url = "http://127.0.0.1:" .. port, timeout = 0.3, state = {} }
    local r = attempt(t, "http://127.0.0.1:" .. port .. "/x")
    assert.equal("timeout", r.kind)
    assert.is_nil(r.sent)
    assert.is_nil(r.message:find("before the request", 1, true), r.message)
    t:close()
    srv:close()
  end)
end)

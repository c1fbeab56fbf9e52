-- TLS: verification is always on; ca_file and ca_path extend what is trusted.
-- A real TLS server on loopback: openssl s_server -HTTP serving files.
local zis = require "zis"
local socket = require "socket"
local H = require "spec.helper"

local BUNDLES = "/api/services/zis/registry/demo/bundles"

describe("TLS", function()
  local dir, port, pid_file, url

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/www" .. BUNDLES:match("^(.*)/") ..
                      " " .. dir .. "/cas"))
    local f = assert(io.open(dir .. "/www" .. BUNDLES, "w"))
    -- s_server -HTTP sends a file as the whole response, status line included
    local body = '{"bundles":[],"meta":{"after":null,"before":null,"has_more":false}}'
    f:write("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body ..
            "\r\n\r\n" .. body)
    f:close()
    assert(os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 " ..
      "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 " ..
      "-keyout " .. dir .. "/key.pem -out " .. dir .. "/cert.pem 2>/dev/null"))
    assert(os.execute("cp " .. dir .. "/cert.pem " .. dir .. "/cas/ && openssl rehash " ..
                      dir .. "/cas 2>/dev/null"))
    port = H.dead_port()
    pid_file = dir .. "/pid"
    assert(os.execute("cd " .. dir .. "/www && (openssl s_server -quiet -HTTP -accept 127.0.0.1:" ..
      port .. " -cert ../cert.pem -key ../key.pem >/dev/null 2>&1 & echo $! > " .. pid_file .. ")"))
    for _ = 1, 100 do
      local s = socket.connect("127.0.0.1", port)
      if s then s:close() break end
      socket.sleep(0.05)
    end
    url = "https://127.0.0.1:" .. port
  end)

  teardown(function()
    local f = io.open(pid_file)
    if f then
      os.execute("kill " .. f:read("l") .. " 2>/dev/null")
      f:close()
    end
    os.execute("rm -rf " .. dir)
  end)

  it("refuses a certificate it cannot verify", function()
    local c = zis.new{ url = url, oauth_token = "t", retries = 0 }
    local res, err = c:list_bundles("demo")
    assert.is_nil(res)
    assert.equal("tls", err.kind)
    assert.matches("certificate", err.message)
  end)

  it("trusts a CA given with ca_file", function()
    local c = zis.new{ url = url, oauth_token = "t", retries = 0, ca_file = dir .. "/cert.pem" }
    local res = assert(c:list_bundles("demo"))
    assert.same({}, res.bundles)
  end)

  it("trusts a CA directory given with ca_path", function()
    local c = zis.new{ url = url, oauth_token = "t", retries = 0, ca_path = dir .. "/cas" }
    assert.truthy(c:list_bundles("demo"))
  end)

  it("has no option that turns verification off", function()
    for _, opt in ipairs{ "insecure", "verify", "ssl_verify", "verify_peer", "ssl_verifypeer" } do
      assert.has_error(function() zis.new{ url = url, oauth_token = "t", [opt] = false } end,
        "zis.new: unknown option '" .. opt .. "'")
    end
  end)
end)

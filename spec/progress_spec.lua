-- Progress: on_progress's figures from Lua; the command line's progress
-- lines and rate-limit waits on a terminal (a pseudo-terminal from
-- python3's pty), and nothing of them in a pipe or with --quiet.
local H = require "spec.helper"

local I = "progress"

local function seed(n)
  H.fresh(I)
  local c = H.client()
  for i = 1, n do assert(c:upload_bundle(I, H.bundle(I, "b" .. i))) end
  local uuids = {}
  for b in c:bundles(I) do uuids[#uuids + 1] = b.uuid end
  c:close()
  return uuids
end

local ENV = "ZENDESK_URL=" .. H.url .. " ZENDESK_EMAIL=" .. H.email .. " ZENDESK_API_TOKEN=" .. H.token

-- Runs bin/zis ARGS on a pseudo-terminal (stdout and stderr both the
-- terminal): everything it wrote, and its exit status.
local function on_pty(args)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([==[
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", sys.argv[1]])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\nstatus=%d\n" % os.waitstatus_to_exitcode(status))
]==])
  f:close()
  -- without make asan's preloads: python is not ours, and zis, its child,
  -- then runs the normal build
  local p = io.popen("env -u LD_PRELOAD -u LUA_INIT_5_4 " .. H.python3 .. " " .. script .. " '" .. ENV ..
                     " lua5.4 bin/zis " .. args .. "'")
  local out = p:read("a")
  p:close()
  os.remove(script)
  return out
end

local function piped(args)
  local p = io.popen(ENV .. " lua5.4 bin/zis " .. args .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

describe("progress", function()
  after_each(function() H.control("POST", "config", { rate_limit = false }) end)

  it("get_bundles' on_progress: done, total, rate, eta, waiting", function()
    local uuids = seed(4)
    local list = {}
    for i = 1, 12 do list[i] = uuids[(i - 1) % 4 + 1] end
    local seen = {}
    local c = H.client()
    local got = c:get_bundles(I, list, { concurrency = 3, on_progress = function(p) seen[#seen + 1] = p end })
    assert.equal(12, #got)
    assert.equal(12, #seen)
    for i, p in ipairs(seen) do
      assert.equal(i, p.done)
      assert.equal(12, p.total)
      assert.equal(0, p.waiting)
    end
    local last = seen[#seen]
    assert.is_true(last.rate > 0)
    assert.equal(0, last.eta)
    assert.has_error(function() c:get_bundles(I, list, { on_progress = 1 }) end)
    c:close()
  end)

  it("on_progress says when the rate limit makes the batch wait", function()
    local uuids = seed(1)
    H.faults{ { path = "/api/services/zis/registry/" .. I .. "/bundles/*", status = 429, body = "",
                headers = { ["Retry-After"] = "1.2" } } }
    local waits = {}
    local c = H.client{ retries = 1 }
    local got = c:get_bundles(I, { uuids[1], uuids[1] }, { concurrency = 1, on_progress = function(p)
      if p.waiting > 0 then waits[#waits + 1] = p end
    end })
    assert.equal(2, #got)
    assert.equal(1, #waits)
    assert.equal("rate limited by the server", waits[1].wait_reason)
    -- the wait as told when it began: up to Retry-After, less what a busy
    -- machine took to get there
    assert.is_true(waits[1].waiting > 0.5 and waits[1].waiting <= 1.21, tostring(waits[1].waiting))
    c:close()
  end)

  it("zis export: a progress line on a terminal, nothing in a pipe or with --quiet", function()
    seed(3)
    local dir = os.tmpname()
    os.remove(dir)
    local out = on_pty("export " .. I .. " " .. dir)
    assert.matches("exporting " .. I .. ": 3/3 bundles", out)
    assert.matches("status=0", out)
    os.execute("rm -rf " .. dir)
    out = piped("export " .. I .. " " .. dir)
    assert.not_matches("exporting", out)
    assert.matches("exported 3 bundle", out)
    os.execute("rm -rf " .. dir)
    out = on_pty("--quiet export " .. I .. " " .. dir)
    assert.not_matches("exporting", out)
    assert.matches("exported 3 bundle", out)
    os.execute("rm -rf " .. dir)
  end)

  it("a wait longer than a second is said on a terminal, not in a pipe", function()
    seed(1)
    H.faults{ { path = "/api/services/zis/registry/" .. I .. "/bundles", status = 429, body = "",
                headers = { ["Retry-After"] = "1.5" } } }
    local out = on_pty("bundles " .. I)
    assert.matches("zis: rate limited by the server: resuming in 2 s %(at %d%d:%d%d:%d%d%)", out)
    assert.matches("status=0", out)
    H.faults{ { path = "/api/services/zis/registry/" .. I .. "/bundles", status = 429, body = "",
                headers = { ["Retry-After"] = "1.5" } } }
    out = piped("bundles " .. I)
    assert.not_matches("rate limited", out)
    assert.matches("^UUID", out)
  end)
end)

describe("on_progress of deploy and import", function()
  it("deploy tells each request done, to the last", function()
    H.fresh("progress_deploy")
    local c = H.client()
    local seen = {}
    local report = assert(c:deploy("progress_deploy", H.bundle("progress_deploy", "b", { "j1", "j2" }),
                                   { on_progress = function(p) seen[#seen + 1] = p.done .. "/" .. p.total end }))
    assert.is_true(report.ok)
    -- the integration, the upload, two installs, the read-back
    assert.same({ "1/5", "2/5", "3/5", "4/5", "5/5" }, seen)
    assert.has_error(function() c:deploy("progress_deploy", H.bundle("progress_deploy", "b"), { on_progress = 1 }) end)
    c:close()
  end)

  it("import tells each bundle fetched", function()
    H.fresh("progress_import")
    local c = H.client()
    for i = 1, 3 do assert(c:upload_bundle("progress_import", H.bundle("progress_import", "b" .. i))) end
    local dir = os.tmpname()
    os.remove(dir)
    local last
    local report = assert(require("zis").import(c, "progress_import", dir,
                                                { on_progress = function(p) last = p end }))
    os.execute("rm -rf " .. dir)
    assert.equal(4, #report.written)
    assert.equal(3, last.done)
    assert.equal(3, last.total)
    c:close()
  end)
end)

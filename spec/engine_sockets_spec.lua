-- The engine's sockets: the set event loops watch comes from libcurl's
-- socket callback, whole, with no FD_SETSIZE limit (descriptors of 1024
-- and above included), and plain-http batches open their connections at
-- once (CURLOPT_PIPEWAIT only for https).
local core = require "zis.core"
local H = require "spec.helper"

local REG = "/api/services/zis/registry"
local now = core.now

local function latency(s) H.control("POST", "config", { latency = s }) end

-- The measurement runs in a child lua5.4 whose descriptor limit is raised
-- first (ulimit -n 4096): it opens /dev/null `files` times, then makes
-- CALLS scheduler calls on each adapter, each in a coroutine on that
-- loop, through an adapter wrapper that records the largest descriptor
-- it was asked to watch.  One line per adapter:
--   <adapter> <files> <seconds per call> <largest fd watched> <waits> <blind waits>
local CHILD = [[
local files, calls = tonumber(arg[1]), tonumber(arg[2])
local zis = require "zis"
local core = require "zis.core"
local loop = require "zis.loop"
local keep = {}
for i = 1, files do keep[i] = assert(io.open("/dev/null")) end
local function wrap(real)
  local w = { maxfd = -1, waits = 0 }
  function w.wait(_, fds, secs, token)
    for fd in pairs(fds) do if fd > w.maxfd then w.maxfd = fd end end
    w.waits = w.waits + 1
    return real:wait(fds, secs, token)
  end
  function w.wake(_, token) return real:wake(token) end
  if real.yieldable then function w.yieldable() return real:yieldable() end end
  return w
end
for _, name in ipairs{ "luv", "cqueues", "host" } do
  local real = name == "host" and loop.host() or require("zis.loop." .. name)
  local sched = wrap(real)
  local c = zis.new{ url = os.getenv("ZIS_MOCK_URL"), email = "admin@example.com",
                     token = "fake-api-token", retries = 0, scheduler = sched }
  local t
  local function body()
    assert(c:list_integrations())   -- the connection first
    local t0 = core.now()
    for _ = 1, calls do assert(c:list_integrations()) end
    t = core.now() - t0
  end
  if name == "luv" then require("zis.loop.luv").run(body)
  elseif name == "cqueues" then
    local cq = require("cqueues").new()
    cq:wrap(body)
    assert(cq:loop())
  else loop.run{ loop.task(body) } end
  print(name, files, t / calls, sched.maxfd, sched.waits, core.engine_stats(c).blind_waits)
  c:close()
end
]]

local function measure(files, calls)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(CHILD)
  f:close()
  local p = assert(io.popen(string.format("sh -c 'ulimit -n 4096 && ZIS_MOCK_URL=%s lua5.4 %s %d %d' 2>&1",
                                          H.url, path, files, calls)))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  assert.is_true(ok, out)
  local rows = {}
  for name, n, per, maxfd, waits, blind in out:gmatch("(%a+)\t(%d+)\t(%S+)\t(%-?%d+)\t(%d+)\t(%d+)") do
    rows[name] = { files = tonumber(n), per = tonumber(per), maxfd = tonumber(maxfd),
                   waits = tonumber(waits), blind = tonumber(blind) }
  end
  for _, name in ipairs{ "luv", "cqueues", "host" } do assert.is_table(rows[name], out) end
  return rows
end

describe("engine sockets: past FD_SETSIZE", function()
  before_each(function() H.fresh("demo") end)

  it("with 1,100 files open, scheduler calls watch sockets above 1023 and never wait blind", function()
    local rows = measure(1100, 30)
    for name, r in pairs(rows) do
      assert.is_true(r.waits > 0, name)
      assert.is_true(r.maxfd > 1100, name .. ": largest fd watched " .. r.maxfd)
      assert.equal(0, r.blind, name)
    end
  end)

  it("with 1,100 files open, scheduler calls are about as fast as with 10 #timing", function()
    local few, many = measure(10, 100), measure(1100, 100)
    for _, name in ipairs{ "luv", "cqueues", "host" } do
      local a, b = few[name], many[name]
      io.stderr:write(string.format("\n[fds %s] 10 open: %.2f ms/call, 1,100 open: %.2f ms/call\n",
                                    name, a.per * 1000, b.per * 1000))
      assert.equal(0, b.blind)
      assert.is_true(b.per < 3 * a.per + 0.002, name .. ": " .. b.per .. " against " .. a.per)
    end
  end)

  it("core.sockets reports every socket of 64 attempts in flight", function()
    latency(0.5)
    local c = H.client()
    local url = H.url .. REG .. "/demo/bundles"
    for _ = 1, 64 do core.submit(c, "GET", url, "basic") end
    -- drive the engine without blocking until every attempt has its own
    -- connection and waits for its answer (HTTP/1.1: one socket each)
    local fds, most
    local deadline = now() + 3
    most = 0
    repeat
      core.perform(c)
      fds = core.sockets(c)
      local n = 0
      for _ in pairs(fds) do n = n + 1 end
      if n > most then most = n end
      core.poll(fds, 0.01)
    until most == 64 or now() > deadline
    assert.equal(64, most)
    assert.equal(64, core.engine_stats(c).sockets)
    for _, ev in pairs(fds) do assert.equal("r", ev) end
    -- and every result comes back through the same sockets
    local got = 0
    while got < 64 and now() < deadline + 3 do
      local r = core.wait(c, 0)
      if r then
        assert.equal(200, r.status)
        got = got + 1
      else
        core.poll(core.sockets(c), 0.05)
      end
    end
    assert.equal(64, got)
    assert.equal(0, core.engine_stats(c).sockets)
    assert.equal(0, core.engine_stats(c).blind_waits)
    c:close()
    latency(0)
  end)

  it("core.poll reports ready descriptors and their events", function()
    local socket = require "socket"
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local cl = assert(socket.connect("127.0.0.1", port))
    local peer = assert(srv:accept())
    local fd = cl:getfd()
    assert.same({ [fd] = "w" }, core.poll({ [fd] = "rw" }, 0))
    assert.same({}, core.poll({ [fd] = "r" }, 0.01))
    peer:send("x")
    assert.same({ [fd] = "r" }, core.poll({ [fd] = "r" }, 1))
    assert.same({}, core.poll({}, 0))
    assert.has_error(function() core.poll({ x = "r" }, 0) end)
    cl:close(); peer:close(); srv:close()
  end)
end)

describe("engine sockets: CURLOPT_PIPEWAIT only for https", function()
  local c, uuids
  setup(function()
    H.fresh("pw")
    c = H.client()
    for i = 1, 6 do assert(c:upload_bundle("pw", H.bundle("pw", "b" .. i))) end
    uuids = {}
    for b in c:bundles("pw") do uuids[#uuids + 1] = b.uuid end
    c:close()
  end)
  after_each(function() latency(0) end)

  it("a batch over http opens its connections at once, and none times out unsent", function()
    -- with PIPEWAIT over http, the batch waited for the first answer
    -- (0.3 s) before opening the other connections, and with a 0.5 s
    -- timeout those five timed out
    c = H.client{ timeout = 0.5 }
    assert(c:list_integrations())   -- one connection in the pool already
    latency(0.3)
    local t0 = now()
    local list, errs = c:get_bundles("pw", uuids, { concurrency = 6 })
    local took = now() - t0
    assert.is_nil(errs, errs and tostring(select(2, next(errs))))
    assert.equal(6, #list)
    assert.equal(6, H.stats().max_in_flight)
    assert.is_true(took < 0.5, "took " .. took)
    c:close()
  end)
end)

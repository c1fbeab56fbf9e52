-- The rate limit (zis.pace): the headers read on every answer, one budget
-- for every request of a client and of the clients for_integration makes,
-- spread when it runs low; a 429 pausing the whole client; a server's
-- wait longer than max_retry_wait failing at once.  Against the local
-- registry's rate limit (/__mock/config {rate_limit = ...}): fixed
-- windows, the headers, 429 with Retry-After past the limit.
local zis = require "zis"
local core = require "zis.core"
local loop = require "zis.loop"
local H = require "spec.helper"

local I = "pace"

local function limit(requests, window, headers)
  H.control("POST", "config", { rate_limit = { requests = requests, window = window, headers = headers } })
end

local function unlimit() H.control("POST", "config", { rate_limit = false }) end

-- n copies of one bundle's uuid, to fetch
local function uuids(n)
  local c = H.client()
  assert(c:upload_bundle(I, H.bundle(I, "b1")))
  local uuid
  for b in c:bundles(I) do uuid = b.uuid end
  c:close()
  local list = {}
  for i = 1, n do list[i] = uuid end
  return list
end

-- the API requests in the log since `from` (an index), with their times
local function api_log(from)
  local out = {}
  for i, e in ipairs(H.log()) do
    if i > (from or 0) then out[#out + 1] = e end
  end
  return out
end

local function budget(c) return core.state(c).pace end

describe("the rate limit", function()
  before_each(function() H.fresh(I) end)
  after_each(unlimit)

  describe("the headers", function()
    for _, kind in ipairs{ "both", "x", "ratelimit" } do
      it("are read from every answer (" .. kind .. ")", function()
        limit(50, 30, kind)
        local c = H.client()
        assert(c:list_bundles(I))
        assert(c:list_bundles(I))
        local p = budget(c)
        assert.is_true(p.active)
        assert.equal(50, p.limit)
        assert.equal(48, p.left)
        if kind ~= "x" then
          -- ratelimit-reset: the window's end, as the server says
          assert.is_true(p.window_end > core.now() + 25 and p.window_end <= core.now() + 30.5)
        end
        c:close()
      end)
    end

    it("no header and no rate_limit: nothing is paced", function()
      local c = H.client()
      assert(c:list_bundles(I))
      assert.is_false(budget(c).active)
      assert.is_nil(budget(c).limit)
      c:close()
    end)

    it("rate_limit sets the budget when the server sends no headers; false turns pacing off", function()
      local c = H.client{ rate_limit = 10 }
      assert.equal(10, budget(c).limit)
      for _ = 1, 3 do assert(c:list_bundles(I)) end
      assert.equal(7, budget(c).left)
      c:close()
      local off = H.client{ rate_limit = false }
      assert.is_nil(budget(off))
      limit(50, 30)
      assert(off:list_bundles(I))
      assert.is_nil(budget(off))
      off:close()
      assert.has_error(function() zis.new{ url = H.url, email = H.email, token = H.token, rate_limit = true } end,
                       "zis.new: option 'rate_limit' must be a number or false")
      assert.has_error(function() zis.new{ url = H.url, email = H.email, token = H.token, rate_limit = 0 } end)
    end)
  end)

  describe("one budget", function()
    it("spreads a batch over the windows: no 429, never more than the limit in a window", function()
      local list = uuids(45)
      limit(15, 0.5)
      local from = #H.log()
      local events = {}
      local c = H.client{ on_request = function(e) events[#events + 1] = e end }
      local got, errs = c:get_bundles(I, list, { concurrency = 8 })
      assert.is_nil(errs)
      assert.equal(45, #got)
      assert.equal(0, H.stats().rate_limited)
      local log = api_log(from)
      assert.equal(45, #log)
      -- the server's windows: count the requests in each
      local t0, per = log[1].at, {}
      for _, e in ipairs(log) do
        local w = math.floor((e.at - t0) / 0.5)
        per[w] = (per[w] or 0) + 1
      end
      for w, n in pairs(per) do assert.is_true(n <= 15, "window " .. w .. ": " .. n) end
      -- some attempts were held back, and the events say why
      local held = 0
      for _, e in ipairs(events) do
        if e.waited then
          held = held + 1
          assert.is_string(e.wait_reason)
        end
      end
      assert.is_true(held > 0)
      c:close()
    end)

    it("is shared by single calls, iterators and batches from several coroutines", function()
      local list = uuids(12)
      limit(10, 0.5)
      local c = H.client{ scheduler = loop.host() }
      local tasks = {
        loop.task(function() return c:get_bundles(I, list, { concurrency = 4 }) end),
        loop.task(function() for _ = 1, 6 do assert(c:list_bundles(I)) end return true end),
        loop.task(function() local n = 0 for _ in c:bundles(I) do n = n + 1 end return n end),
      }
      loop.run(tasks)
      for _, t in ipairs(tasks) do assert.truthy(t.results[1]) end
      assert.equal(0, H.stats().rate_limited)
      c:close()
    end)

    it("for_integration's clients share their parent's budget", function()
      limit(30, 30)
      local from = #H.log()
      local admin = H.client()
      local svc = admin:for_integration(I)
      assert.equal(budget(admin), budget(svc))
      assert(admin:list_bundles(I))
      assert(svc:list_configs(I, { scope = "*" }))   -- through the admin: the client's id, a token
      assert(admin:list_bundles(I))
      local sent = #api_log(from)
      assert.is_true(sent >= 4)
      assert.equal(30 - sent, budget(admin).left)
      assert.equal(30 - sent, budget(svc).left)
      svc:close()
      admin:close()
    end)
  end)

  describe("a 429", function()
    it("pauses the whole batch until Retry-After: nothing is sent meanwhile", function()
      local list = uuids(12)
      H.faults{ { path = "/api/services/zis/registry/" .. I .. "/bundles/*", status = 429, body = "slow down",
                  content_type = "text/plain", headers = { ["Retry-After"] = "0.6" } } }
      local from = #H.log()
      local c = H.client{ retries = 1 }
      local got, errs = c:get_bundles(I, list, { concurrency = 4 })
      assert.is_nil(errs)
      assert.equal(12, #got)
      local log = api_log(from)
      local t429 = log[1].at
      -- the first answer was the 429: the three sent with it were in
      -- flight; no other request until the pause ended
      for i = 5, #log do
        assert.is_true(log[i].at >= t429 + 0.55, "request " .. i .. " sent " .. (log[i].at - t429) ..
                       " s after the 429")
      end
      assert.equal(13, #log)
      c:close()
    end)

    it("pauses the client's other coroutines too", function()
      H.faults{ { method = "GET", path = "/api/services/zis/registry/" .. I .. "/job_specs", status = 429,
                  body = "", headers = { ["Retry-After"] = "0.6" } } }
      H.control("POST", "config", { latency = 0.05 })
      local from = #H.log()
      local c = H.client{ scheduler = loop.host(), retries = 1 }
      local tasks = {
        loop.task(function() return c:list_job_specs(I) end),
        loop.task(function()
          for _ = 1, 5 do assert(c:list_bundles(I)) end
          return true
        end),
      }
      loop.run(tasks)
      H.control("POST", "config", { latency = 0 })
      assert.truthy(tasks[1].results[1])
      assert.truthy(tasks[2].results[1])
      local log = api_log(from)
      local t429
      for _, e in ipairs(log) do
        if e.path:match("job_specs") then t429 = t429 or e.at end
      end
      -- the 429 reaches the client 0.05 s after the registry got the
      -- request (its latency); a list_bundles sent before that is
      -- answered; no other request is sent before the pause ends, 0.6 s
      -- after the 429 came back
      local during = 0
      for _, e in ipairs(log) do
        if e.at > t429 + 0.1 and e.at < t429 + 0.6 then during = during + 1 end
      end
      assert.equal(0, during)
      c:close()
    end)

    it("longer than max_retry_wait fails at once, with the server's number in the message", function()
      H.faults{ { path = "/api/services/zis/registry/" .. I .. "/bundles", status = 429, body = "",
                  headers = { ["Retry-After"] = "120" } } }
      local c = H.client{ retries = 3 }
      local t0 = core.now()
      local res, err = c:list_bundles(I)
      assert.is_nil(res)
      assert.equal(429, err.status)
      assert.equal(120, err.retry_after)
      assert.equal(1, err.attempts)
      assert.matches("the server asked to wait 120 s %(Retry%-After%), more than max_retry_wait %(60 s%)",
                     tostring(err))
      assert.is_true(core.now() - t0 < 5)
      -- and the client is not paused for it
      assert(c:list_bundles(I))
      c:close()
    end)

    it("without Retry-After, ratelimit-reset says how long", function()
      limit(2, 0.4)
      local c = H.client{ rate_limit = false, retries = 2 }
      local events = {}
      local d = H.client{ retries = 2, on_request = function(e) events[#events + 1] = e end }
      -- spend the window with a client that does not pace
      assert(c:list_bundles(I))
      assert(c:list_bundles(I))
      -- the registry sends Retry-After too; the budget knows the window's end
      assert(d:list_bundles(I))
      assert.equal(429, events[1].status)
      assert.equal("rate limited by the server", events[1].wait_reason)
      assert.is_true(events[1].retry_in > 0 and events[1].retry_in <= 0.4)
      c:close()
      d:close()
    end)
  end)
end)

-- One client, many calls: calls from any number of coroutines share it,
-- and no call that ends badly leaves anything behind.  For each way a call
-- can end badly, 100 later calls on the same client succeed.
local zis = require "zis"
local loop = require "zis.loop"
local H = require "spec.helper"

local I = "many"

local function hundred(c)
  for i = 1, 100 do
    local res, err = c:list_bundles(I)
    assert(res, "call " .. i .. " after: " .. tostring(err))
  end
end

describe("a call that ends badly leaves nothing behind", function()
  before_each(function() H.fresh(I) end)

  it("an error raised in a hook", function()
    local raise = true
    local c = H.client{ on_request = function() if raise then error("hook failed", 0) end end }
    assert.has_error(function() c:list_bundles(I) end, "hook failed")
    raise = false
    hundred(c)
    c:close()
  end)

  it("an error raised by the token function", function()
    local bound = H.bound_token(I)
    local fail = true
    local c = zis.new{ url = H.url, retries = 0, oauth_token = function()
      if fail then error("vault sealed", 0) end
      return bound
    end }
    assert.has_error(function() c:list_bundles(I) end, "vault sealed")
    fail = false
    hundred(c)
    c:close()
  end)

  it("an interrupt at any instruction of a call", function()
    local c = H.client()
    for n = 50, 4000, 53 do
      local left = n
      local ok, err = pcall(function()
        debug.sethook(function()
          left = left - 1
          if left <= 0 then debug.sethook() error("interrupted!", 0) end
        end, "", 1)
        local res = c:list_bundles(I)
        debug.sethook()
        return res
      end)
      debug.sethook()
      if not ok then assert.equal("interrupted!", err) end
    end
    hundred(c)
    c:close()
  end)

  it("a coroutine that dies of an error in the middle of a call, never closed", function()
    local c = H.client{ on_request = function() error("died", 0) end }
    local cos = {}
    for i = 1, 5 do
      cos[i] = coroutine.create(function() return c:list_bundles(I) end)
      local ok, err = coroutine.resume(cos[i])
      assert.is_false(ok)
      assert.equal("died", err)
    end
    local d = H.client()
    hundred(d)
    d:close()
    -- the same client, its hook quiet now: the dead calls are swept
    local c2 = H.client()
    hundred(c2)
    c2:close()
    c:close()
  end)

  it("a task suspended in the middle of a call and dropped", function()
    local host = loop.host()
    local c = H.client{ scheduler = host }
    H.control("POST", "config", { latency = 0.2 })   -- so each call must wait
    for _ = 1, 5 do
      local t = loop.task(function() return c:list_bundles(I) end)
      assert.is_false(t:step())   -- waiting on the engine
    end
    collectgarbage()
    collectgarbage()
    H.control("POST", "config", { latency = 0 })
    -- outside a coroutine the same client blocks as usual, and the
    -- dropped calls' attempts are swept
    hundred(c)
    c:close()
  end)

  it("close() while calls of other coroutines wait: they end with an error, nothing hangs", function()
    local host = loop.host()
    local c = H.client{ scheduler = host }
    H.control("POST", "config", { latency = 0.3 })
    local tasks = {}
    for i = 1, 4 do tasks[i] = loop.task(function() return c:list_bundles(I) end) end
    for _, t in ipairs(tasks) do assert.is_false(t:step()) end
    c:close()
    for _, t in ipairs(tasks) do
      local ok, err = pcall(function() while not t:step() do end end)
      assert.is_false(ok)
      assert.matches("closed", tostring(err))
    end
    H.control("POST", "config", { latency = 0 })
    assert.has_error(function() c:list_bundles(I) end, "zis: client is closed")
  end)
end)

describe("one client, many coroutines", function()
  before_each(function() H.fresh(I) end)

  it("share one token refresh", function()
    local host = loop.host()
    local bound = H.bound_token(I)
    local mints = 0
    local c = zis.new{ url = H.url, retries = 0, scheduler = host, oauth_token = function()
      mints = mints + 1
      -- a token function that waits on a loop itself (as minting does)
      coroutine.yield(loop.HOST_MARK, {}, 0.05, {})
      return bound
    end }
    local tasks = {}
    for i = 1, 6 do tasks[i] = loop.task(function() return c:list_bundles(I) end) end
    loop.run(tasks)
    for _, t in ipairs(tasks) do assert.is_table(t.results[1], tostring(t.results[2])) end
    assert.equal(1, mints)
    c:close()
  end)

  it("a hook's call in the middle of a batch gets its own answer; the batch gets its own", function()
    local uuids = {}
    local a = H.client()
    for i = 1, 4 do
      assert(a:upload_bundle(I, H.bundle(I, "b" .. i)))
    end
    for b in a:bundles(I) do uuids[#uuids + 1] = b.uuid end
    local c, seen = nil, {}
    c = H.client{ on_request = function(e)
      if e.path:find("/bundles/") and #seen < 2 then seen[#seen + 1] = assert(c:list_job_specs(I)) end
    end }
    local list, errs = c:get_bundles(I, uuids, { concurrency = 4 })
    assert.is_nil(errs)
    for i, b in ipairs(list) do assert.equal(uuids[i], b.uuid) end
    assert.equal(2, #seen)
    assert.is_table(seen[1].job_specs)
    c:close()
    a:close()
  end)
end)

describe("close() after a call died", function()
  it("is not held back by a coroutine that died of an error mid-call", function()
    H.fresh(I)
    local c = zis.new{ url = H.url, retries = 0, oauth_token = function() error("vault sealed", 0) end }
    local co = coroutine.create(function() return c:list_bundles(I) end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.equal("vault sealed", err)
    c:close()
    assert.has_error(function() c:list_bundles(I) end, "zis: client is closed")
    -- freed at once (its engine gone), not left pending on the dead call
    assert.has_error(function() require("zis.core").engine_stats(c) end, "zis: client is closed")
  end)
end)

-- The per-test deadline (spec/timeout.lua): a spec that hangs fails within
-- seconds, and the failure names it.  Throwaway spec files that hang run
-- in busted processes of their own, with a 1 s deadline.
require "spec.helper"  -- the deadlines (spec/timeout.lua)
local socket = require "socket"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Starts busted on `text` (a spec file) with a 0.5 s deadline and 0.5 s
-- of grace; returns a function that waits for it: output, seconds.
local function start(dir, name, text)
  local file = dir .. "/" .. name .. "_spec.lua"
  write(file, text)
  local t0 = socket.gettime()
  -- without make asan's preloads: these runs test the harness, and are
  -- interrupted and killed on purpose, which the leak checker does not survive
  local p = assert(io.popen("env -u LD_PRELOAD -u LUA_INIT_5_4 ZIS_SPEC_TIMEOUT=0.5 " ..
                            "ZIS_SPEC_TIMEOUT_GRACE=0.5 tools/with-mock busted --lua=lua5.4 " .. file .. " 2>&1"))
  return function()
    local out = p:read("a")
    p:close()
    return out, socket.gettime() - t0
  end
end

local HANGS = [[
local H = require "spec.helper"
describe("throwaway", function()
  it("loops in Lua forever", function() while true do end end)
  -- (the registry is set up before the test's clock starts)
  before_each(function()
    H.reset()
    H.faults{ { path = "/api/services/zis/registry/demo/bundles", delay = 3600 } }
  end)
  it("waits in the engine for an answer that never comes", function()
    H.client{ timeout = 3600 }:list_bundles("demo")
  end)
  it("hangs in a command run in this process", function()
    H.zis_main({ "integrations" }, setmetatable({}, { __index = function() while true do end end }))
  end)
  it("passes afterwards", function() assert.is_true(true) end)
end)
]]

local BLOCKS = [[
describe("throwaway", function()
  it("blocks in C, never back in Lua", function()
    local s = assert(require("socket").bind("127.0.0.1", 0))
    s:settimeout(nil)
    s:accept()
  end)
  it("never runs", function() end)
end)
]]

local SLOW = [[
local H = require "spec.helper"
describe("throwaway", function()
  it("takes 1 s, and says so", function()
    H.extend_timeout(10)
    require("socket").sleep(1)
  end)
end)
]]

describe("a test that hangs", function()
  -- the three throwaway runs start together, with the first test
  local dir, runs
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)
  local function result(name)
    if not runs then
      runs = { hangs = start(dir, "hangs", HANGS), blocks = start(dir, "blocks", BLOCKS),
               slow = start(dir, "slow", SLOW) }
    end
    return runs[name]()
  end

  it("fails within seconds, named, in Lua or in the engine's wait; the next tests run", function()
    local out, secs = result("hangs")
    assert.matches("1 success / 0 failures / 3 errors", out, 1, true)
    -- the Lua loop: the deadline's own error, with the test's name
    assert.matches("spec timeout: [^\n]*hangs_spec%.lua:3: throwaway loops in Lua forever: " ..
                   "still running after 0.5 s", out)
    -- the engine's wait: interrupted, the test named by the watchdog
    assert.matches("spec timeout: [^\n]*hangs_spec%.lua:9: throwaway waits in the engine for an " ..
                   "answer that never comes: still running after 0.5 s, interrupted", out)
    assert.matches("interrupted!", out, 1, true)
    -- zis's main in this process (H.zis_main) turns errors into a status:
    -- not the deadline's
    assert.matches("spec timeout: [^\n]*hangs_spec%.lua:12: throwaway hangs in a command run in this " ..
                   "process: still running after 0.5 s", out)
    assert.is_true(secs < 15, secs .. " s")
  end)

  it("blocked in C past the grace period, ends its busted process, named", function()
    local out, secs = result("blocks")
    assert.matches("spec timeout: [^\n]*blocks_spec%.lua:2: throwaway blocks in C, never back in " ..
                   "Lua: did not stop 0.5 s after the interrupt; ending the spec process", out)
    assert.is_nil(out:find("success", 1, true), out)
    assert.is_true(secs < 15, secs .. " s")
  end)

  it("can be given more time by the test itself (H.extend_timeout)", function()
    local out = result("slow")
    assert.matches("1 success / 0 failures / 0 errors", out, 1, true)
    assert.is_nil(out:find("spec timeout", 1, true), out)
  end)
end)

-- examples/embed: a C host embedding Lua 5.4, one state per thread.
local H = require "spec.helper"

local function run(env, args)
  local cmd = "env -u LUA_PATH -u LUA_CPATH ZIS_LUA_DIR=lua ZIS_LIB_DIR=build ZIS_MOCK_URL=" ..
              H.url .. " " .. env .. " build/embed " .. args .. " 2>&1"
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  return p:close(), out
end

describe("embedding", function()
  it("runs a script that uses zis, in four threads at once", function()
    H.reset()
    local ok, out = run("", "-t 4 examples/embed/script.lua")
    assert.is_true(ok, out)
    for t = 1, 4 do
      assert.matches("thread " .. t .. ": embed_" .. t .. " has 1 bundle%(s%)", out)
    end
  end)

  it("reports a lua-zis error object as its one-line message", function()
    local ok, out = run("EMBED_FAIL=1", "examples/embed/script.lua")
    assert.is_falsy(ok)
    assert.matches("embed%[1%]: zis: GET /api/services/zis/registry/embed_1/bundles/no%-such%-uuid: " ..
                   "404 Missing Resource %(1020: bundle not found%) %(a lua%-zis error object%)", out)
  end)
end)

-- docs/manual.md is current: its version examples are the code's
-- version, and the options table lists each option of zis.new once.
local zis = require "zis"
local H = require "spec.helper"

local manual = H.read("docs/manual.md")

describe("docs/manual.md, as the code is today", function()
  it("shows the current version wherever it shows one", function()
    local n = 0
    for v in manual:gmatch("lua%-zis[/ ](%d+%.%d+%.%d+)") do
      assert.equal(zis.version, v)
      n = n + 1
    end
    for v in manual:gmatch("e%.g%. `\"(%d+%.%d+%.%d+)\"`") do
      assert.equal(zis.version, v)
      n = n + 1
    end
    assert.is_true(n >= 3)
  end)

  it("lists each option of zis.new once, and only those", function()
    local section = manual:match("\n## Options\n(.-)\n## ")
    assert.is_string(section)
    local seen, rows = {}, {}
    for name in section:gmatch("\n| `([%w_]+)` |") do
      assert.is_nil(seen[name], "option listed twice: " .. name)
      seen[name] = true
      rows[#rows + 1] = name
    end
    table.sort(rows)
    assert.same(zis.options, rows)
  end)
end)

-- docs/design.md's table of files names exactly the files in src/ and lua/.
local H = require "spec.helper"

local function listed()
  local text = H.read("docs/design.md")
  local section = assert(text:match("\n## The files\n(.-)\n## "), "no '## The files' section")
  local names = {}
  for row in section:gmatch("\n| ([^\n]-) |") do
    for name in row:gmatch("`([%w_/%.]+%.[ch])`") do names[name] = true end
    for name in row:gmatch("`([%w_/%.]+%.lua)`") do names[name] = true end
  end
  return names
end

local function files()
  local out = {}
  local p = assert(io.popen("find src lua -type f \\( -name '*.c' -o -name '*.h' -o -name '*.lua' \\) | sort"))
  for line in p:lines() do out[line] = true end
  p:close()
  return out
end

describe("docs/design.md", function()
  it("lists every file of src/ and lua/, and no other", function()
    local doc, tree = listed(), files()
    for f in pairs(tree) do assert.is_true(doc[f] == true, "not in design.md's table: " .. f) end
    for f in pairs(doc) do assert.is_true(tree[f] == true, "in design.md's table, not in the tree: " .. f) end
  end)
end)

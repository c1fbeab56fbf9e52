-- The docs stay true: every public name has a reference entry (the README's
-- examples are run by spec/readme_spec.lua).
local zis = require "zis"
local mock = require "zis.mock"
local core = require "zis.core"
local H = require "spec.helper"

local manual = H.read("docs/manual.md")

local function documented(pattern)
  return manual:find(pattern, 1, true) ~= nil
end

describe("docs/manual.md", function()
  it("has an entry for every module function and value", function()
    for name in pairs(zis) do
      assert(documented("### `zis." .. name), "no entry for zis." .. name)
    end
  end)

  it("has an entry for every client method", function()
    for name in pairs(core.methods) do
      assert(documented("### `client:" .. name .. "("), "no entry for client:" .. name)
    end
  end)

  it("has a row for every option", function()
    for _, name in ipairs(zis.options) do
      assert(documented("| `" .. name .. "` |"), "no row for option " .. name)
    end
  end)

  it("has a row for every field real error objects and hook events carry", function()
    H.fresh("demo")
    local fields, events = {}, {}
    local c = H.client{ on_request = function(e) for k in pairs(e) do events[k] = true end end,
                        retries = 1, retry_base_delay = 0.001 }
    H.faults{ { path = "/api/services/zis/registry/demo/bundles", status = 429, body = "x",
                headers = { ["Retry-After"] = "0" }, times = 2 } }
    local _, e1 = c:list_bundles("demo")
    local _, e2 = c:get_bundle("demo", "missing")
    local _, e3 = zis.new{ url = "http://127.0.0.1:" .. H.dead_port(), oauth_token = "t",
                           retries = 0 }:list_bundles("demo")
    local _, e4 = zis.new{ url = H.url, oauth_token = H.oauth, retries = 0 }
                    :upload_bundle("demo", H.bundle("demo", "b"))
    for _, e in ipairs{ e1, e2, e3, e4 } do for k in pairs(e) do fields[k] = true end end
    for k in pairs(fields) do assert(documented("| `" .. k .. "` |"), "no row for error field " .. k) end
    for k in pairs(events) do assert(documented("| `" .. k .. "` |"), "no row for event field " .. k) end
    assert.truthy(fields.retry_after and fields.request_id and fields.hint and fields.body)
  end)

  it("has an entry for every command of the zis command line", function()
    local p = assert(io.popen("bin/zis --help"))
    local usage = p:read("a")
    p:close()
    local n = 0
    -- argparse's help: "   name   summary", continuation lines indented further
    for line in usage:match("Commands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local cmd = line:match("^   ([%a%-]+)")
      if cmd then
        n = n + 1
        assert(documented("### `zis " .. cmd .. "`"), "no entry for zis " .. cmd)
      end
    end
    assert.is_true(n >= 12)
  end)

  it("gives every entry a short example", function()
    local body = manual:match("\n(## Module functions.*)$")
    local entries = 0
    -- each entry runs from its ### heading to the next heading of any level
    for heading, rest in body:gmatch("\n### ([^\n]+)\n()") do
      local stop = body:find("\n##", rest, true) or #body + 1
      local entry = body:sub(rest, stop - 1)
      entries = entries + 1
      if not heading:match("^`zis` %(the command line%)") then
        assert(entry:find("```", 1, true), "no example under " .. heading)
      end
    end
    assert.is_true(entries > 40)
  end)

  it("has an entry for every function of the local registry", function()
    for name, v in pairs(mock) do
      if type(v) == "function" then
        assert(documented("### `zis.mock." .. name), "no entry for zis.mock." .. name)
      end
    end
  end)
end)

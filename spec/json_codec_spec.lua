-- The JSON codec's symmetry, shortest floats, pretty_json and error
-- propagation (issues 11 and 12).
local zis = require "zis"

local decode, encode, pretty = zis.decode_json, zis.encode_json, zis.pretty_json

-- pretty_json as it was written in Lua before it moved into C: the
-- reference for its output format.
local old_pretty = require "spec.old_pretty_json"

-- No decimal with one digit fewer than `text` reads back as x: the two
-- nearest such decimals (cut, and cut + 1) are both checked.
local function is_shortest(x, text)
  local mant, ex = text:match("^%-?([%d%.]+)e?([%+%-]?%d*)$")
  ex = tonumber(ex ~= "" and ex or "0")
  local int, frac = mant:match("^(%d+)%.?(%d*)$")
  local digits = (int .. frac):gsub("^0+", "")
  ex = ex - #frac
  digits = digits:gsub("0+$", function(z) ex = ex + #z return "" end)
  if #digits <= 1 then return true end
  local cut = math.tointeger(tonumber(digits:sub(1, -2)))
  for _, d in ipairs{ cut, cut + 1 } do
    if tonumber(string.format("%de%d", d, ex + 1)) == math.abs(x) then return false end
  end
  return true
end

describe("JSON floats", function()
  it("are the shortest that read back, every power of two included", function()
    for e = -1074, 1023 do
      local x = 2.0 ^ e
      local text = encode(x)
      assert.equal(x, tonumber(text))
      assert.is_true(is_shortest(x, text), text)
    end
    assert.equal("9007199254740992.0", encode(2.0 ^ 53))
  end)

  it("are the shortest on a few thousand random doubles, any bits", function()
    math.randomseed(11)
    for _ = 1, 4000 do
      local x = string.unpack("<d", string.pack("<i8", math.random(math.mininteger, math.maxinteger)))
      if x == x and x - x == 0 then
        local text = encode(x)
        assert.equal(x, tonumber(text), text)
        assert.is_true(is_shortest(x, text), text)
        assert.equal("float", math.type(decode(text)))
      end
    end
  end)

  it("keep the layout printf's %g gave: exponent switch, '.0', two exponent digits", function()
    assert.equal("[1e+15,100000000000000.0,0.0001,1e-05,1234567890123456.8,-1.5e-300,0.0]",
                 encode{ 1e15, 1e14, 1e-4, 1e-5, 1234567890123456.8, -1.5e-300, 0.0 })
  end)
end)

describe("JSON string decoding", function()
  it("gives the same bytes for short strings seen again and again, of every length", function()
    local words = {}
    for n = 0, 40 do
      for k = 1, 30 do words[#words + 1] = string.rep(string.char(97 + k % 26), n):gsub("^.", "K%%0", 1) .. k end
    end
    words[#words + 1] = ""
    for _ = 1, 3 do                                -- later rounds hit the cache
      local parts = {}
      for i, w in ipairs(words) do parts[i] = string.format("%q:[%q]", w, w) end
      local t = decode("{" .. table.concat(parts, ",") .. "}")
      for _, w in ipairs(words) do assert.equal(w, t[w][1]) end
      local n = 0
      for _ in pairs(t) do n = n + 1 end
      assert.equal(#words, n)
    end
    assert.same({ "", "a", "" }, { table.unpack(decode('["", "a", ""]')) })
  end)

  it("tells apart strings that differ only in their middle bytes", function()
    for n = 17, 40 do
      local head, tail = string.rep("h", 8), string.rep("t", 8)
      local words = {}
      for pos = 9, n - 8 do  -- one byte changed, at every position between head and tail
        local mid = { string.rep("m", n - 16):byte(1, -1) }
        mid[pos - 8] = string.byte("X")
        words[#words + 1] = head .. string.char(table.unpack(mid)) .. tail
      end
      words[#words + 1] = head .. string.rep("m", n - 16) .. tail
      for _ = 1, 2 do
        local parts = {}
        for i, w in ipairs(words) do parts[i] = string.format("%q", w) end
        local t = decode("[" .. table.concat(parts, ",") .. "]")
        for i, w in ipairs(words) do assert.equal(w, t[i]) end
      end
    end
  end)

  it("gives the same short string inside the text and at its very end", function()
    for n = 1, 7 do
      local w = string.sub("abcdefg", 1, n)
      assert.same({ w, w .. "z", w }, { table.unpack(decode(string.format('["%s","%sz","%s"]', w, w, w))) })
      assert.equal(w, decode('"' .. w .. '"'))          -- fewer than 8 bytes in all
      assert.equal(w .. "z", decode('"' .. w .. 'z"'))
      assert.same({ w }, { table.unpack(decode('["' .. w .. '"]')) })
      assert.equal(w:reverse(), decode('"' .. w:reverse() .. '"'))  -- after w was seen inside a text
    end
  end)
end)

describe("JSON number decoding", function()
  it("reads every float as Lua's own reader (strtod) does, halfway cases included", function()
    math.randomseed(5)
    for i = 1, 6000 do
      local text
      if i % 2 == 0 then
        local x = string.unpack("<d", string.pack("<i8", math.random(math.mininteger, math.maxinteger)))
        if x ~= x or x - x ~= 0 then x = 0.5 end
        text = string.format("%.17g", x)
        if not text:find("[%.e]") then text = text .. ".0" end
      else
        local digits = tostring(math.random(1, 9))
        for _ = 1, math.random(0, 19) do digits = digits .. math.random(0, 9) end
        local p = math.random(1, #digits)
        text = digits:sub(1, p) .. "." .. (p < #digits and digits:sub(p + 1) or "0") .. "e" .. math.random(-30, 30)
      end
      local v = decode(text)
      assert.equal(tonumber(text), v, text)
      assert.equal("float", math.type(v))
    end
    for _, text in ipairs{ "9007199254740993.0", "9007199254740995.0", "1.00000000000000011102230246251565e0",
                           "0.0", "-0.0", "0e999", "123456789012345678.5", "1e23", "8.98846567431158e307" } do
      assert.equal(tonumber(text), decode(text), text)
    end
    assert.equal(-1 / 0, 1 / decode("-0.0"))
  end)
end)

describe("JSON symmetry: what decodes, encodes", function()
  it("refuses invalid UTF-8 in a string, saying where", function()
    for _, bad in ipairs{ '["\xff"]', '["a\xc0\xaf"]', '["\xed\xa0\x80"]', '{"\xf4\x90\x80\x80":1}',
                          '["\x80"]', '["\xe2\x82"]' } do
      local v, err = decode(bad)
      assert.is_nil(v)
      assert.matches("^invalid UTF%-8 in string at byte %d+$", err)
    end
    assert.equal("invalid UTF-8 in string at byte 4", select(2, decode('["a\xff"]')))
    assert.equal("é😀", decode('["é😀"]')[1])
  end)

  it("refuses a number beyond a double, saying where", function()
    for _, bad in ipairs{ "1e400", "-1e400", "[1.5e309]", string.rep("9", 400) } do
      local v, err = decode(bad)
      assert.is_nil(v)
      assert.matches("^number out of range at byte %d+$", err)
    end
    assert.equal("number out of range at byte 7", select(2, decode('{"a": 1e999}')))
    assert.equal(0.0, decode("1e-400"))      -- underflow: a zero, which encodes
    assert.equal(1.7976931348623157e308, decode("1.7976931348623157e308"))
  end)

  it("a server reply with a number beyond a double is an error of kind decode", function()
    local H = require "spec.helper"
    H.fresh("demo")
    H.faults{ { method = "GET", path = "/api/services/zis/registry/demo/bundles", status = 200,
                body = '{"bundles": [], "n": 1e400}' } }
    local res, err = H.client():list_bundles("demo")
    assert.is_nil(res)
    assert.equal("decode", err.kind)
    assert.equal("invalid JSON in a 200 response: number out of range at byte 22", err.message)
  end)

  it("reads back everything it writes", function()
    local v = { a = { 0.1, 1e300, -0.0, 5e-324, math.maxinteger }, s = "é\0\"", e = zis.array{},
                o = zis.object{} }
    for _, text in ipairs{ encode(v), pretty(v) } do
      assert.equal(pretty(v), pretty(decode(text)))
    end
  end)
end)

describe("JSON decoding and errors that are not its own", function()
  local function raise_inside_decode(err)
    -- a hook that raises at the first call made from within decode_json,
    -- as lua5.4's Ctrl-C hook raises "interrupted!"
    debug.sethook(function()
      local caller = debug.getinfo(3, "f")
      if caller and caller.func == decode then
        debug.sethook()
        error(err, 0)
      end
    end, "c")
  end

  it("lets a string error such as 'interrupted!' through unchanged", function()
    raise_inside_decode("interrupted!")
    local ok, err = pcall(decode, '{"a": [1, 2, 3]}')
    debug.sethook()
    assert.is_false(ok)
    assert.equal("interrupted!", err)
  end)

  it("lets an error object through unchanged, and still works after", function()
    local obj = { kind = "mine" }
    raise_inside_decode(obj)
    local ok, err = pcall(decode, '[1, 2]')
    debug.sethook()
    assert.is_false(ok)
    assert.equal(obj, err)
    collectgarbage()
    assert.equal(2, #decode("[1, 2]"))
    assert.same({ nil, "unexpected character at byte 2" }, { decode("[x]") })
  end)
end)

describe("pretty_json", function()
  local function sample()
    return { resources = { flow = { type = "ZIS::Flow", properties = { name = "f",
             ratio = 1 / 3, definition = { StartAt = "A",
             States = { A = { Type = "Pass", Next = "B" }, B = { Type = "Succeed" } } } } },
             act = { type = "ZIS::Action::Http", properties = { headers = { { key = "k", value = "v" } },
             ids = { 360012345678901, 2.5, -0.0 }, empty = zis.array{}, none = {}, n = zis.null,
             flag = true, off = false, text = "q\"é\n" } } },
             name = "x", ["Zeta"] = 1, ["alpha"] = 2, ["a b"] = 3 }
  end

  it("writes what the Lua version wrote: two spaces, sorted keys, final newline", function()
    local v = sample()
    assert.equal(old_pretty(v), pretty(v))
    assert.equal("[]\n", pretty(zis.array{}))
    assert.equal("{}\n", pretty({}))
    assert.equal("1\n", pretty(1))
    assert.equal('"s"\n', pretty("s"))
    assert.equal('{\n  "B": 1,\n  "a": [\n    1,\n    {}\n  ]\n}\n', pretty{ a = { 1, {} }, B = 1 })
  end)

  it("writes a zis.object's integer keys as strings, sorted as text, as encode_json does", function()
    local o = zis.object{ "a", "b" }
    o[10] = "c"
    assert.equal('{\n  "1": "a",\n  "10": "c",\n  "2": "b"\n}\n', pretty(o))
    assert.same(decode(encode(o)), decode(pretty(o)))
  end)

  it("raises as encode_json does, with the whole path", function()
    local cases = {
      { { a = { b = { [1] = 1, [3] = 3 } } }, "zis: value.a.b: mixed or sparse" },
      { { a = { f = print } }, "zis: value.a.f: a function cannot be sent as JSON" },
      { { list = { 1, { x = 0 / 0 } } }, "zis: value.list%[2%].x: NaN or infinity" },
      { { [true] = 1 }, "not a string or an integer" },
      { { s = "\xff" }, "value.s: invalid UTF%-8" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(pretty, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err)
    end
  end)

  it("sorts big objects and deep ones, and names integer keys in errors deep down", function()
    local function level(d)
      local o = zis.object{}
      for k = 1, 40 do o[k] = k end
      for k = 1, 40 do o["k" .. k] = "v" end
      if d > 0 then o[7] = level(d - 1) end
      return o
    end
    local v = level(30)
    assert.equal(old_pretty(decode(encode(v))), pretty(v))
    local cur = v
    for _ = 1, 30 do cur = cur[7] end
    cur.bad = 0 / 0
    local ok, err = pcall(pretty, v)
    assert.is_false(ok)
    assert.equal("zis: value" .. string.rep(".7", 30) .. ".bad: NaN or infinity cannot be sent as JSON", err)
  end)

  it("raises at once on a cycle, whatever the keys", function()
    local t = { a = { b = {} } }
    t.a.b.c = t
    local ok, err = pcall(pretty, t)
    assert.is_false(ok)
    assert.matches("zis: value.a.b.c: table contains itself %(a cycle%)", err)
  end)

  it("writes the fidelity corpus as the Lua version did, and reads back the same", function()
    local f = assert(io.open("spec/fixtures/fidelity_bundle.json"))
    local v = decode(f:read("a"))
    f:close()
    assert.equal(old_pretty(v), pretty(v))
    assert.equal(pretty(v), pretty(decode(pretty(v))))
    assert.equal(pretty(v), pretty(decode(encode(v))))
  end)
end)

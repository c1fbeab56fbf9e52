-- Exact JSON: what comes in is what goes out.
local zis = require "zis"
local H = require "spec.helper"

local decode, encode = zis.decode_json, zis.encode_json

describe("JSON decoding", function()
  it("keeps integers as Lua integers with the same digits", function()
    for _, text in ipairs{ "0", "-1", "12345", "360012345678901", "9007199254740991",
                           "-9007199254740991", "9007199254740993", "9223372036854775807",
                           "-9223372036854775808" } do
      local v = decode("[" .. text .. "]")[1]
      assert.equal("integer", math.type(v))
      assert.equal(text, tostring(v))
    end
    local b = decode('{"zendesk_account_id": 12345}')
    assert.equal("12345", tostring(b.zendesk_account_id))
  end)

  it("makes an integer beyond 64 bits the nearest float", function()
    local v = decode("[123456789012345678901234567890]")[1]
    assert.equal("float", math.type(v))
    assert.equal(1.2345678901234568e29, v)
  end)

  it("makes numbers with a fraction or exponent floats", function()
    for text, want in pairs{ ["1.0"] = 1.0, ["0.1"] = 0.1, ["1e-7"] = 1e-7, ["-2.5E3"] = -2500.0,
                             ["1E+2"] = 100.0 } do
      local v = decode("[" .. text .. "]")[1]
      assert.equal("float", math.type(v))
      assert.equal(want, v)
    end
  end)

  it("keeps [] distinguishable from {}", function()
    local t = decode('{"a": [], "o": {}}')
    assert.equal(zis.array_metatable, getmetatable(t.a))
    assert.is_nil(getmetatable(t.o))
    assert.equal('[]', encode(t.a))
    assert.equal('{}', encode(t.o))
  end)

  it("decodes null as zis.null, distinct from absent", function()
    local t = decode('{"n": null, "l": [null, 1]}')
    assert.equal(zis.null, t.n)
    assert.is_nil(t.missing)
    assert.equal(zis.null, t.l[1])
    assert.equal(2, #t.l)
    assert.equal(require("cjson").null, zis.null)
  end)

  it("keeps strings byte for byte, escapes and UTF-8 included", function()
    local t = decode('["caf\\u00e9 \\ud83d\\ude00 \\"\\\\\\/\\b\\f\\n\\r\\t\\u0000", "日本 🎉 raw"]')
    assert.equal("café 😀 \"\\/\b\f\n\r\t\0", t[1])
    assert.equal("日本 🎉 raw", t[2])
  end)

  it("refuses what is not JSON, saying where", function()
    for _, bad in ipairs{ "", "[1,2", "{\"a\" 1}", "01", "1.", ".5", "+1", "0x10", "[1,]", "{,}",
                          "nul", "\"\\x\"", "\"a\nb\"", "[\"\\ud800\"]", "[] []", "{\"a\":1,}",
                          "NaN", "Infinity", "-", "1e", "\"unterminated" } do
      local v, err = decode(bad)
      assert.is_nil(v, bad)
      assert.is_string(err)
    end
    local _, err = decode("[1, 2, x]")
    assert.equal("unexpected character at byte 8", err)
  end)

  it("refuses nesting deeper than 1000 without crashing", function()
    assert.truthy(decode(string.rep("[", 1000) .. string.rep("]", 1000)))
    local v, err = decode(string.rep("[", 1001) .. string.rep("]", 1001))
    assert.is_nil(v)
    assert.matches("nesting deeper than 1000", err)
    assert.is_nil(decode(string.rep("[", 100000)))
  end)
end)

describe("JSON encoding", function()
  it("writes integers with all their digits", function()
    assert.equal("[360012345678901,9223372036854775807,-9223372036854775808,0]",
                 encode{ 360012345678901, math.maxinteger, math.mininteger, 0 })
  end)

  it("writes floats in the shortest form that reads back the same, marked as floats", function()
    assert.equal("[0.1,1e-07,1.0,100.0,-0.0,0.3333333333333333,5e-324,1.5e+300]",
                 encode{ 0.1, 1e-7, 1.0, 100.0, -0.0, 1 / 3, 5e-324, 1.5e300 })
    math.randomseed(42)
    for _ = 1, 2000 do
      local x = (math.random() - 0.5) * 10 ^ math.random(-300, 300)
      local back = decode(encode{ x })[1]
      assert.equal(x, back)
      assert.equal("float", math.type(back))
    end
  end)

  it("writes sequences as arrays, string keys as objects, empty as {}", function()
    assert.equal('[1,"a",true,false]', encode{ 1, "a", true, false })
    assert.equal('{"k":"v"}', encode{ k = "v" })
    assert.equal("{}", encode{})
  end)

  it("lets users mark arrays and objects, and write null", function()
    assert.equal("[]", encode(zis.array{}))
    assert.equal("[]", encode(zis.array()))
    assert.equal("{}", encode(zis.object{}))
    assert.equal('{"1":"a","2":"b"}', encode(zis.object{ "a", "b" }))
    assert.equal('{"a":null}', encode{ a = zis.null })
    assert.equal('[null,1]', encode{ zis.null, 1 })
    local t = { 1 }
    assert.equal(t, zis.array(t))
  end)

  it("escapes strings correctly and refuses invalid UTF-8", function()
    assert.equal('"q\\"b\\\\n\\nc\\u0001\\u001f/é😀"', encode("q\"b\\n\nc\1\31/é😀"))
    for _, bad in ipairs{ "\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80", "\xe2\x82" } do
      local ok, err = pcall(encode, { s = bad })
      assert.is_false(ok)
      assert.matches("value.s: invalid UTF%-8", err)
    end
  end)

  local bad_values = {
    { "a function", function() return { flow = { step = print } } end, "value.flow.step: a function" },
    { "a userdata", function() return { x = io.stdout } end, "value.x: a userdata" },
    { "a coroutine", function() return { co = coroutine.create(print) } end, "value.co: a thread" },
    { "a cycle", function() local t = { a = {} } t.a.back = t return t end, "value.a.back: table contains itself" },
    { "a mixed table", function() return { list = { 1, 2, x = 3 } } end, "value.list: mixed or sparse" },
    { "a sparse table", function() return { [1] = 1, [3] = 3 } end, "value: mixed or sparse" },
    { "NaN", function() return { n = { 0 / 0 } } end, "value.n%[1%]: NaN or infinity" },
    { "infinity", function() return { n = math.huge } end, "value.n: NaN or infinity" },
    { "a boolean key", function() return { [true] = 1 } end, "not a string or an integer" },
    { "a float key", function() return { [1.5] = 1 } end, "not a string or an integer" },
    { "a marked array with a string key", function() return zis.array{ 1, x = 2 } end, "keys other than 1..n" },
    { "nesting deeper than 1000", function()
        local t = {}
        local cur = t
        for _ = 1, 1001 do cur.x = {} cur = cur.x end
        return t
      end, "nesting deeper than 1000" },
  }
  for _, case in ipairs(bad_values) do
    it("raises before sending on " .. case[1] .. ", naming the path", function()
      local ok, err = pcall(encode, case[2]())
      assert.is_false(ok)
      assert.matches(case[3], err)
    end)
  end

  it("raises on a bad bundle before any request, naming the path", function()
    H.fresh("demo")
    local c = H.client()
    local n = H.stats().requests
    local b = H.bundle("demo", "bad")
    b.resources.flow.properties.definition.States.Done.Bad = 0 / 0
    assert.has_error(function() c:upload_bundle("demo", b) end,
      "zis: bundle.resources.flow.properties.definition.States.Done.Bad: NaN or infinity cannot be sent as JSON")
    assert.equal(n, H.stats().requests)
  end)
end)

describe("JSON isolation", function()
  it("never changes the caller's cjson settings, nor depends on them", function()
    local cjson = require "cjson"
    local before = cjson.encode{ 0.1234567890123 }
    cjson.encode_number_precision(3)
    assert.equal("[360012345678901,0.1234567890123]", encode{ 360012345678901, 0.1234567890123 })
    cjson.encode_number_precision(14)
    assert.equal(before, cjson.encode{ 0.1234567890123 })
  end)
end)

describe("JSON fidelity through the registry", function()
  local text = H.read("spec/fixtures/fidelity_bundle.json")
  local original = decode(text)

  it("the corpus decodes as written", function()
    local shape = original.resources.every_state.properties.definition.States.Shape.Result
    assert.equal("integer", math.type(shape.exact))
    assert.equal("float", math.type(shape.one))
    assert.equal(5e-324, shape.tiny)
    assert.equal(360012345678901, original.resources.post_it.properties.definition
                                    .requestBody.ticket.custom_fields[1].id)
  end)

  it("get -> upload sends exactly what was uploaded, by the registry's own log", function()
    H.fresh("fidelity")
    local c = H.client()
    assert(c:upload_bundle("fidelity", text))           -- as a string: byte for byte
    assert.equal(text, H.last().body)
    local uuid = c:list_bundles("fidelity").bundles[1].uuid
    local fetched = assert(c:get_bundle("fidelity", uuid))
    for _, k in ipairs{ "name", "description", "zis_template_version", "resources" } do
      assert.is_true(H.same_json(original[k], fetched[k]))
    end
    -- edit one thing, upload the table, compare what the registry received
    fetched.description = fetched.description .. " (edited)"
    assert(c:upload_bundle("fidelity", fetched))
    local received = decode(H.last().body)
    assert.equal(original.description .. " (edited)", received.description)
    received.description = original.description
    for _, k in ipairs{ "name", "zis_template_version", "resources" } do
      local ok, why = H.same_json(original[k], received[k])
      assert.is_true(ok, why)
    end
    assert.equal("integer", math.type(received.zendesk_account_id))
    assert.matches('"zendesk_account_id":12345[,}]', H.last().body)
  end)

  it("same_json tells integers from floats and arrays from objects", function()
    assert.is_false(H.same_json(decode("[1]"), decode("[1.0]")))
    assert.is_false(H.same_json(decode('{"a":[]}'), decode('{"a":{}}')))
    assert.is_false(H.same_json(decode('{"a":null}'), decode('{}')))
    assert.is_true(H.same_json(decode('{"a":[1,{"b":null}]}'), decode('{ "a" : [ 1 , { "b" : null } ] }')))
  end)
end)

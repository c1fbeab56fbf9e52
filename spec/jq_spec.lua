-- zis.jq: libjq from Lua, compared with the jq command on a corpus.
-- luacheck: max line length 150
local jq = require "zis.jq"
local zis = require "zis"

local INPUT = [[{"ticket_event":{"ticket":{"id":27642,"subject":"Printer on fire","priority":"urgent",
"tags":["vip","hardware"],"follower_ids":[35334,234,123456],"custom_fields":[{"id":12345,"value":"745"},
{"id":27648,"value":"yes"}],"requester":{"email":"a@example.com","name":null},"score":2.5,"big":9007199254740993}},
"comments":{"comments":[{"id":1,"attachments":[{"id":10},{"id":11}]},{"id":2,"attachments":[]}]}}]]

-- ~30 expressions of the kind ZIS flows use (Zendesk's jq cheat sheet)
local CORPUS = {
  ".", ".ticket_event.ticket.id", ".ticket_event.ticket.follower_ids[0]",
  ".ticket_event.ticket.custom_fields[1].id", ".ticket_event.ticket.tags | length",
  ".ticket_event.ticket.id | tostring", ".ticket_event.ticket.subject | ascii_downcase",
  "[.ticket_event.ticket.tags[] | {tag: .}]", ".ticket_event.ticket.custom_fields | map(.value)",
  ".ticket_event.ticket.custom_fields[] | select(.id == 27648) | .value",
  "{id: .ticket_event.ticket.id, who: .ticket_event.ticket.requester.email}",
  ".ticket_event.ticket.tags | index(\"hardware\")", ".ticket_event.ticket.tags | join(\",\")",
  "[.comments.comments[] | .attachments[] | .id]", ".ticket_event.ticket | keys",
  ".ticket_event.ticket | has(\"priority\")", ".ticket_event.ticket.requester.name // \"unknown\"",
  ".ticket_event.ticket.score * 2", ".ticket_event.ticket.follower_ids | add",
  ".ticket_event.ticket.follower_ids | sort", ".ticket_event.ticket.follower_ids | max",
  "if .ticket_event.ticket.priority == \"urgent\" then \"page\" else \"queue\" end",
  ".ticket_event.ticket.subject | split(\" \")", ".ticket_event.ticket.subject | test(\"fire\")",
  "[.ticket_event.ticket.tags[] | ascii_upcase] | first", ".ticket_event.ticket.custom_fields | from_entries? // \"n/a\"",
  ".ticket_event.ticket.tags | to_entries", "[range(0; 3)]", ".ticket_event.ticket.id, .ticket_event.ticket.priority",
  "empty", ".ticket_event.ticket.big", "\"Ticket \\(.ticket_event.ticket.id)\"", ".missing.deeper",
  "[.ticket_event.ticket.follower_ids[] | select(. > 1000)] | length",
}

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- `jq -c` on INPUT for every expression of the list, in one process (a
-- jq process compiles its builtins first, ~15 ms): the program
-- `"@@1", (e1), "@@2", (e2), ...` gives each expression its own lines,
-- after its marker.  Returns { [i] = lines of expression i }, ok.
local function jq_command(list)
  local f = os.tmpname()
  local h = assert(io.open(f, "wb"))
  h:write(INPUT)
  h:close()
  local parts = {}
  for i, expr in ipairs(list) do parts[#parts + 1] = string.format('"@@%d", (%s)', i, expr) end
  -- the jq command runs unsanitized under make asan (it is not ours)
  local p = assert(io.popen("env -u LD_PRELOAD jq -c " .. shell_quote(table.concat(parts, ", ")) .. " " .. f
                            .. " 2>/dev/null"))
  local lines, current = {}, 0
  for l in p:lines() do
    local i = l:match('^"@@(%d+)"$')
    if i then current = tonumber(i) lines[current] = {}
    else table.insert(lines[current], l) end
  end
  local ok = p:close()
  os.remove(f)
  return lines, ok
end

describe("zis.jq", function()
  it("gives what `jq -c` gives, on a corpus of expressions", function()
    assert.is_true(os.execute("command -v jq >/dev/null") == true, "the jq command is needed (apt-get install jq)")
    assert.is_true(#CORPUS >= 30)
    local wanted, ok = jq_command(CORPUS)
    assert.is_true(ok)
    for i, expr in ipairs(CORPUS) do
      local want = wanted[i]
      assert.is_table(want, expr)
      local got, why = jq.run(expr, INPUT)
      assert.is_table(got, tostring(why))
      assert.same(want, got, expr)
    end
  end)

  it("eval converts through zis's codec: integers stay integers", function()
    local out = assert(jq.eval(".n + 1, .f, .s, .a, .o", { n = 41, f = 2.5, s = "x", a = zis.array{ 1, 2 },
                                                           o = zis.object{} }))
    assert.equal(5, #out)
    assert.equal("integer", math.type(out[1]))
    assert.equal(42, out[1])
    assert.equal(2.5, out[2])
    assert.equal("x", out[3])
    assert.same({ 1, 2 }, out[4])
    assert.equal(zis.array_metatable, getmetatable(out[4]))
    assert.equal("{}", zis.encode_json(out[5]))   -- still an object
    assert.same({}, jq.eval("empty", {}))
    assert.equal(zis.null, jq.eval(".x", zis.object{})[1])
  end)

  it("returns nil and one line for compile, input and runtime errors, and halt_error", function()
    local r, why = jq.run(".a |", "{}")
    assert.is_nil(r)
    assert.matches("^jq: cannot compile the expression: error: syntax error", why)
    assert.is_nil(why:find("\n"))
    r, why = jq.run(".", "{x")
    assert.is_nil(r)
    assert.matches("^jq: input is not JSON", why)
    r, why = jq.run("error(\"boom\")", "{}")
    assert.is_nil(r)
    assert.equal("jq: error: boom", why)
    r, why = jq.run(".[] | .x", "[1]")
    assert.is_nil(r)
    assert.matches("Cannot index number", why)
    r, why = jq.run("\"stop\" | halt_error", "null")
    assert.is_nil(r)
    assert.equal("jq: halted: stop", why)
  end)

  -- A compiled program is kept and run again (libjq 1.6 compiles its
  -- builtins on every jq_init, ~15 ms): a kept program must start clean
  -- after an error, a halt and a partial run, and a run started from a
  -- finalizer while the same program runs must get its own answer.
  it("runs a kept program again from a clean state, after errors and halts", function()
    for _ = 1, 3 do
      assert.same({ "1", "2" }, jq.run(".[] | if . == 3 then error(\"three\") else . end", "[1,2]"))
      local r, why = jq.run(".[] | if . == 3 then error(\"three\") else . end", "[1,3,2]")
      assert.is_nil(r)
      assert.equal("jq: error: three", why)
      r, why = jq.run("if . then \"stop\" | halt_error else 7 end", "true")
      assert.is_nil(r)
      assert.equal("jq: halted: stop", why)
      assert.same({ "7" }, jq.run("if . then \"stop\" | halt_error else 7 end", "false"))
      r, why = jq.run(".", "{x")
      assert.is_nil(r)
      assert.matches("^jq: input is not JSON", why)
      assert.same({ "{\"a\":1}" }, jq.run(".", "{\"a\":1}"))
    end
    -- more distinct programs than are kept: each still gives its own
    -- answer, the first ones again after the cache started over
    assert.equal(64, jq.cache_limit(4))
    for i = 1, 7 do assert.same({ tostring(i) }, jq.run(". + " .. i, "0")) end
    for i = 7, 1, -1 do assert.same({ tostring(2 * i) }, jq.run(". + " .. i, tostring(i))) end
    local limit, kept = jq.cache_limit()
    assert.equal(4, limit)
    assert.is_true(kept >= 1 and kept <= 4, tostring(kept))
    jq.cache_limit(0)                        -- none kept: each run compiles
    for i = 1, 3 do assert.same({ tostring(i + 1) }, jq.run(". + 1", tostring(i))) end
    limit, kept = jq.cache_limit(64)
    assert.equal(0, limit)
    assert.equal(0, kept)
    assert.same({ "2" }, jq.run(". + 1", "1"))
    assert.same({ "2" }, jq.run(". + 1", "1"))
    assert.same({ 64, 1 }, { jq.cache_limit() })
    -- a program that halts is never kept, and never pushes another out
    jq.cache_limit(4)
    assert.same({ "1" }, jq.run(".a", '{"a":1}'))
    for _ = 1, 10 do assert.is_nil(jq.run("if . then halt_error else . end", "1")) end
    assert.same({ 4, 1 }, { jq.cache_limit(64) })
    assert.has_error(function() jq.cache_limit(-1) end)
    assert.has_error(function() jq.cache_limit(1.5) end)
  end)

  it("gives a run started by a finalizer during a run of the same program its own answer", function()
    local inner = {}
    local function plant()
      setmetatable({}, { __gc = function() inner[#inner + 1] = jq.run(".[] | . * 10", "[7]") end })
    end
    for _ = 1, 4 do plant() end
    local big = {}
    for i = 1, 3000 do big[i] = tostring(i) end
    local out = assert(jq.run(".[] | . * 10", "[" .. table.concat(big, ",") .. "]"))
    assert.equal(3000, #out)
    for i = 1, 3000 do assert.equal(tostring(i * 10), out[i]) end
    collectgarbage()
    assert.is_true(#inner > 0)
    for _, r in ipairs(inner) do assert.same({ "70" }, r) end
  end)

  it("raises on misuse, and on values JSON cannot hold", function()
    assert.has_error(function() jq.run(nil, "{}") end)
    assert.has_error(function() jq.run(".", {}) end)
    assert.has_error(function() jq.eval(".", function() end) end)
  end)

  it("leaves nothing behind across many runs and failures (collected)", function()
    for _ = 1, 40 do
      jq.run(".[]", "[1,2,3]")
      jq.run("bad |", "1")
      jq.run("error({a: 1})", "1")
      jq.eval(".", { a = { 1, 2, 3 } })
    end
    collectgarbage()
    collectgarbage()
    assert.same({ "3" }, jq.run("length", "[1,2,3]"))
  end)

  -- (ldd without make asan's preloads, which name libjq themselves)
  it("is a module of its own: zis.core does not link libjq", function()
    local p = assert(io.popen("env -u LD_PRELOAD ldd build/zis/core.so"))
    local deps = p:read("a")
    p:close()
    assert.is_nil(deps:find("libjq", 1, true))
    p = assert(io.popen("env -u LD_PRELOAD ldd build/zis/jq.so"))
    deps = p:read("a")
    p:close()
    assert.truthy(deps:find("libjq", 1, true))
  end)
end)

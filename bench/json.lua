-- bench/json.lua: lua-zis's exact JSON codec against lua-cjson alone, on a
-- ~1.4 MB bundle (the size issue 11 names).  Run by `make bench`; prints medians and ratios from one
-- run (the baseline is measured in the same process, same data).
local zis = require "zis"
local cjson = require("cjson").new()
local clock = os.clock

-- A bundle shaped like real ones: flows with states, HTTP actions with
-- ids, job specs; about 1.4 MB of JSON.
local function make_bundle(target_bytes)
  local resources, i = {}, 0
  local b = { zis_template_version = "2019-10-14", name = "bench", description = "bench bundle",
              resources = resources }
  repeat
    i = i + 1
    local states = {}
    for s = 1, 8 do
      states["State" .. s] = { Type = "Action", ActionName = "zis:bench:action:act" .. i,
        Parameters = { ticket_id = 360000000000 + i * 100 + s, ["value.$"] = "$.input.v" .. s,
                       ratio = s / 7, tags = { "a", "b", "c" } },
        ResultPath = "$.r" .. s, Next = s < 8 and ("State" .. (s + 1)) or "Done" }
    end
    states.Done = { Type = "Succeed", Message = "done é 😀" }
    resources["flow" .. i] = { type = "ZIS::Flow", properties = { name = "flow" .. i,
      definition = { StartAt = "State1", States = states } } }
    resources["act" .. i] = { type = "ZIS::Action::Http", properties = { name = "act" .. i,
      definition = { method = "POST", url = "https://example.invalid/api/" .. i,
        headers = { { key = "Content-Type", value = "application/json" } },
        requestBody = { ticket = { custom_fields = { { id = 360012345678901 + i, value = "x" } } } } } } }
    resources["job" .. i] = { type = "ZIS::JobSpec", properties = { name = "job" .. i,
      event_source = "support", event_type = "ticket.TicketCreated",
      flow_name = "zis:bench:flow:flow" .. i } }
  until #zis.encode_json(b) >= target_bytes or i > 100000
  return b
end

-- A float-heavy document: measurements as they come from sensors and
-- statistics, every number a float needing 15 to 17 digits.
local function make_floats(n)
  math.randomseed(7)
  local rows = {}
  for i = 1, n do
    rows[i] = { t = 1.7e9 + i * 0.25, x = math.random() * 1000, y = (math.random() - 0.5) * 1e-3,
                z = math.random() * 10 ^ math.random(-20, 20), w = { math.random(), math.random() / 3 } }
  end
  return { series = rows }
end

-- pretty_json as lua-zis wrote it in Lua before it moved into C: the
-- baseline for the C version.
local old_pretty_json = dofile("spec/old_pretty_json.lua")

-- Runs a and b alternately `runs` times each (so a busy machine slows
-- both alike) and returns their median CPU times and their fastest: on a
-- shared machine the noise only ever adds, so the fastest runs are the
-- codecs' own cost, the medians what a run is likely to see.
local function interleaved(a, b, runs)
  local ta, tb = {}, {}
  for r = 1, runs do
    collectgarbage()
    local t0 = clock() a() ta[r] = clock() - t0
    collectgarbage()
    t0 = clock() b() tb[r] = clock() - t0
  end
  table.sort(ta) table.sort(tb)
  return ta[(runs + 1) // 2], tb[(runs + 1) // 2], ta[1], tb[1]
end

local runs = tonumber(os.getenv("BENCH_RUNS")) or 31
local bundle = make_bundle(1400 * 1024)
local text = zis.encode_json(bundle)
local floats = make_floats(12000)
local ftext = zis.encode_json(floats)
assert(old_pretty_json(bundle) == zis.pretty_json(bundle), "pretty_json differs from the Lua version")

local rows = {}
local function row(name, base_name, tb, tz, fb, fz)
  rows[#rows + 1] = string.format("  %-24s %-8s %8.2f ms %8.2f ms %6.2fx %8.2f ms %8.2f ms %6.2fx", name, base_name,
                                  tb * 1e3, tz * 1e3, tz / tb, fb * 1e3, fz * 1e3, fz / fb)
end
-- both encoders are given the same tables (cjson writes a zis.array
-- table as an array too: it is a sequence)
row(string.format("decode %.0f KB bundle", #text / 1024), "cjson",
    interleaved(function() cjson.decode(text) end, function() zis.decode_json(text) end, runs))
row("encode bundle", "cjson",
    interleaved(function() cjson.encode(bundle) end, function() zis.encode_json(bundle) end, runs))
row(string.format("decode %.0f KB floats", #ftext / 1024), "cjson",
    interleaved(function() cjson.decode(ftext) end, function() zis.decode_json(ftext) end, runs))
row("encode floats", "cjson",
    interleaved(function() cjson.encode(floats) end, function() zis.encode_json(floats) end, runs))
row("pretty_json bundle", "old Lua",
    interleaved(function() old_pretty_json(bundle) end, function() zis.pretty_json(bundle) end, runs))

print(string.format("JSON: %d interleaved runs each (CPU time, GC included); ratio = lua-zis / baseline; " ..
                    "load %s", runs, (io.open("/proc/loadavg") or io.stdin):read("n") or "?"))
print(string.format("  %-24s %-8s %11s %11s %7s %11s %11s %7s", "", "baseline", "median", "lua-zis", "ratio",
                    "fastest", "lua-zis", "ratio"))
for _, r in ipairs(rows) do print(r) end
print("  (cjson alone is not exact: it decodes integers as floats, writes 14 digits, and turns [] into {})")

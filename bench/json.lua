-- bench/json.lua: lua-zis's exact JSON codec against lua-cjson alone, on a
-- ~1 MB bundle.  Run by `make bench`; prints medians and ratios from one
-- run (the baseline is measured in the same process, same data).
local zis = require "zis"
local cjson = require("cjson").new()
local clock = os.clock

-- A bundle shaped like real ones: flows with states, HTTP actions with
-- ids, job specs; about 1 MB of JSON.
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

local function median_time(f, runs)
  local t = {}
  for r = 1, runs do
    local t0 = clock()
    f()
    t[r] = clock() - t0
  end
  table.sort(t)
  return t[(runs + 1) // 2]
end

local bundle = make_bundle(1024 * 1024)
local text = zis.encode_json(bundle)
local runs = tonumber(os.getenv("BENCH_RUNS")) or 15
-- warm up both
for _ = 1, 3 do cjson.decode(text) zis.decode_json(text) cjson.encode(bundle) zis.encode_json(bundle) end

local cj_dec = median_time(function() cjson.decode(text) end, runs)
local zis_dec = median_time(function() zis.decode_json(text) end, runs)
local plain = cjson.decode(text)  -- cjson's own tables for its encoder
local cj_enc = median_time(function() cjson.encode(plain) end, runs)
local zis_enc = median_time(function() zis.encode_json(bundle) end, runs)

print(string.format("JSON: %.0f KB bundle, median of %d runs (CPU time)", #text / 1024, runs))
print(string.format("  %-28s %8s %8s %7s", "", "cjson", "lua-zis", "ratio"))
print(string.format("  %-28s %6.2f ms %6.2f ms %6.2fx", "decode 1 MB", cj_dec * 1e3, zis_dec * 1e3, zis_dec / cj_dec))
print(string.format("  %-28s %6.2f ms %6.2f ms %6.2fx", "encode 1 MB", cj_enc * 1e3, zis_enc * 1e3, zis_enc / cj_enc))
print("  (cjson alone is not exact: it decodes integers as floats, writes 14 digits, and turns [] into {})")

-- bench/callgrind.lua: user-space instructions per small GET (callgrind),
-- lua-zis against the floor (bench/floor.c), and where lua-zis's go.
-- Each figure is (Ir at COUNT_HI - Ir at COUNT_LO) / (COUNT_HI - COUNT_LO),
-- so start-up and loading cancel out.  Needs valgrind.
local U = dofile("bench/util.lua")

local LO = tonumber(os.getenv("BENCH_CG_LO")) or 200
local HI = tonumber(os.getenv("BENCH_CG_HI")) or 2000
local B = U.B

if not U.have("valgrind --version") then print("callgrind: valgrind missing, skipped") return end

local base, stopper <close> = U.responder(100000, 0)  -- luacheck: ignore 211
local small = base .. "/api/services/zis/registry/bench/bundles/small"
local out = os.tmpname()

-- Runs cmd (with %d for the count) under callgrind: total Ir and the
-- self cost by object and by function.
local function profile(cmd, n)
  local ok, log = U.sh(string.format("valgrind --tool=callgrind --callgrind-out-file=%s " .. cmd .. " 2>&1",
                                     out, n))
  assert(ok, log)
  local total = tonumber((assert(log:match("refs:%s*([%d,]+)"), log):gsub(",", "")))
  local objs, funcs = {}, {}
  local _, ann = U.sh("callgrind_annotate --threshold=100 " .. out .. " 2>/dev/null")
  for line in ann:gmatch("[^\n]+") do
    local ir, rest = line:match("^%s*([%d,]+) %(%s*[%d.]+%%%)%s+(.*)$")
    if ir and not rest:find("PROGRAM TOTALS", 1, true) then
      ir = tonumber((ir:gsub(",", "")))
      local obj = (rest:match("%[(.-)%]%s*$") or "?"):match("[^/]*$")
      local fn = rest:match(":([^:%[]-)%s*%[") or rest
      objs[obj] = (objs[obj] or 0) + ir
      local k = fn .. " (" .. obj .. ")"
      funcs[k] = (funcs[k] or 0) + ir
    end
  end
  os.remove(out)
  return total, objs, funcs
end

local function per_request(cmd)
  local t1, o1, f1 = profile(cmd, LO)
  local t2, o2, f2 = profile(cmd, HI)
  local d = HI - LO
  local function diff(a, b)
    local r = {}
    for k, v in pairs(b) do r[k] = (v - (a[k] or 0)) / d end
    return r
  end
  return (t2 - t1) / d, diff(o1, o2), diff(f1, f2)
end

local function top(t, n)
  local rows = {}
  for k, v in pairs(t) do rows[#rows + 1] = { k, v } end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  local r = {}
  for i = 1, math.min(n, #rows) do r[i] = rows[i] end
  return r
end

local zis_cmd = "lua5.4 bench/clients/zis_parts.lua %s " .. base .. " %%d"
local floor, floor_objs = per_request(B .. "/floor " .. small .. " %d")
local call, call_objs, call_funcs = per_request(zis_cmd:format("call"))
local engine = per_request(zis_cmd:format("engine"))
local raw = per_request(zis_cmd:format("raw"))
local decode = per_request(zis_cmd:format("decode"))

print(string.format("Instructions per small GET (callgrind, (Ir[%d] - Ir[%d]) / %d; load %s):", HI, LO, HI - LO,
                    U.load()))
print("| | instructions per request | vs the floor |")
print("| --- | --- | --- |")
local function row(label, v) print(string.format("| %s | %.0f | %.2f× |", label, v, v / floor)) end
row("C + libcurl easy loop (floor, bench/floor.c)", floor)
row("lua-zis `client:get_bundle`", call)
print("Where lua-zis's go (by difference of the parts, bench/clients/zis_parts.lua):")
print("| part | instructions per request | of the floor |")
print("| --- | --- | --- |")
local function part(label, v) print(string.format("| %s | %.0f | %.2f |", label, v, v / floor)) end
part("engine: submit + wait on the multi, result table (body as a string, not decoded)", raw)
part("  of which over the floor's easy loop", raw - floor)
part("JSON decode of the ~600-byte body", decode)
part("policy in Lua: build, call, run, guard (call - engine)", call - engine)
part("(engine - raw - decode: decoding in the engine, from its buffer, against a body string then " ..
     "decode_json; negative is a saving)", engine - raw - decode)
print("By object, lua-zis (floor):")
print("| object | lua-zis | floor |")
print("| --- | --- | --- |")
for _, r in ipairs(top(call_objs, 6)) do
  print(string.format("| %s | %.0f | %.0f |", r[1], r[2], floor_objs[r[1]] or 0))
end
print("Top functions, lua-zis (self, per request):")
for _, r in ipairs(top(call_funcs, 15)) do print(string.format("  %8.0f  %s", r[2], r[1])) end
local ratio = call / floor
print(string.format("target: lua-zis <= 1.4x the floor's instructions: %.2fx (%s)", ratio,
                    ratio <= 1.4 and "met" or "missed"))

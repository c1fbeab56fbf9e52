-- bench/startup.lua: the command line's start-up time against curl's, side
-- by side in one run: `zis --version` and `zis validate FILE` (bin/zis as a
-- user runs it, through its #!/usr/bin/env lua5.4 line) against
-- `curl --version`, taking turns ROUNDS times (default 30); medians of
-- wall time (fork, exec, dynamic linking, Lua's start and the modules
-- loaded).  Target: each within 1.3x curl's.
local socket = require "socket"
local U = dofile("bench/util.lua")

local ROUNDS = tonumber(os.getenv("BENCH_STARTUP_ROUNDS")) or 30
local CMDS = {
  { "curl --version", "curl --version" },
  { "zis --version", "bin/zis --version" },
  { "zis validate FILE", "bin/zis validate examples/bundles/example.json" },
  { "(lua5.4 bin/zis validate FILE, no env)", "lua5.4 bin/zis validate examples/bundles/example.json" },
}

if not U.have("curl --version") then print("startup: curl missing, not measured") return end
local times = {}
for i = 1, #CMDS do times[i] = {} end
local load0 = U.load()
for _ = 1, ROUNDS do
  for i, c in ipairs(CMDS) do
    local t0 = socket.gettime()
    assert(os.execute(c[2] .. " >/dev/null 2>&1"), c[2])
    local xs = times[i]
    xs[#xs + 1] = socket.gettime() - t0
  end
end
-- os.execute goes through sh -c: the same for every command, and counted
local base = U.median(times[1])
print(string.format("Start-up, median of %d rounds taking turns (load %s at the start, %s at the end)", ROUNDS,
                    load0, U.load()))
print("| command | wall time | vs curl --version |")
print("| --- | --- | --- |")
local worst = 0
for i, c in ipairs(CMDS) do
  local m = U.median(times[i])
  if i == 2 or i == 3 then worst = math.max(worst, m / base) end
  print(string.format("| %s | %.1f ms | %.2f× |", c[1], m * 1e3, m / base))
end
print(string.format("target: zis --version and zis validate within 1.3x curl --version: worst %.2fx (%s)", worst,
                    worst <= 1.3 and "met" or "missed"))

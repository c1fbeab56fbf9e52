-- bench/memory.lua: peak RSS of iterating N bundles through client:bundles
-- (pages of 100 from the responder).  `lua5.4 bench/memory.lua URL N`
-- prints N and the peak RSS in KB; bench/compare.lua runs it for 1,000 and
-- 100,000 in separate processes.
local zis = require "zis"
local url, n = arg[1], tonumber(arg[2])
local c = zis.new{ url = url, email = "admin@example.com", token = "fake", retries = 0 }
local seen = 0
for b in c:bundles("bench", { page_size = 100 }) do
  seen = seen + 1
  assert(b.uuid)
  if seen == n then break end
end
local status = assert(io.open("/proc/self/status")):read("a")
print(seen, status:match("VmHWM:%s*(%d+) kB"))

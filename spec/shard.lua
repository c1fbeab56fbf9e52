-- ZIS_SPEC_SHARD="K/N FILE" (tools/run-specs sets it): this busted process
-- runs only the tests of FILE whose place in it, counted as they are
-- registered, is K modulo N (K from 1 to N); tests of other files (a
-- busted the specs start, which inherits the variable) all run.  The N
-- processes, each with its own registry, run every test of FILE exactly
-- once between them.  Only for files whose tests do not depend on each
-- other (tools/run-specs lists them).
local k, n, file = (os.getenv("ZIS_SPEC_SHARD") or ""):match("^(%d+)/(%d+) (.+)$")
k, n = tonumber(k), tonumber(n)
local ok, busted = pcall(require, "busted")
if not (k and n and n > 1 and ok and type(busted) == "table" and busted.subscribe) then return {} end

local count = 0
busted.subscribe({ "register", "it" }, function(_, _, trace)
  local src = trace and trace.short_src
  if src ~= file and src ~= "./" .. file then return nil, true end
  count = count + 1
  if (count - 1) % n + 1 ~= k then return nil, false end  -- not registered: not run
  return nil, true
end, { priority = 1 })
return {}

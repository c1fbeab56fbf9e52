-- A deadline for every test (spec/helper.lua loads this once per busted
-- process): a test still running after ZIS_SPEC_TIMEOUT seconds (default
-- 30, fractions allowed, 0 turns it off) fails, and the failure names it.
--
-- Two ways, for the two ways a test hangs:
--  * Lua code that keeps running (a loop, a poll with a short timeout): a
--    count hook, set when the test starts, raises "spec timeout: ..." with
--    the test's name once the deadline is past.  Coroutines the test
--    creates inherit the hook.
--  * a wait inside C that never comes back to Lua (the engine's wait, a
--    blocking socket): tools/spec-watchdog.lua, a process started here,
--    reads the running test's name and deadline from a file this module
--    writes at each test's start and end.  At the deadline it names the
--    test on stderr and sends SIGINT: lua5.4 turns that into an
--    "interrupted!" error at the next instruction, and the engine's wait
--    notices it within 100 ms.  A test that still has not ended
--    ZIS_SPEC_TIMEOUT_GRACE seconds later (default 5: a blocking C call
--    that ignores signals, or a second interrupt, which lua5.4 no longer
--    catches) ends its busted process; the watchdog has named it.
local M = {}

local ok, busted = pcall(require, "busted")
local limit = tonumber(os.getenv("ZIS_SPEC_TIMEOUT") or "30")
if not ok or type(busted) ~= "table" or not busted.subscribe or not limit or limit <= 0 then
  return M
end
local gettime = require("socket").gettime
local grace = tonumber(os.getenv("ZIS_SPEC_TIMEOUT_GRACE") or "5") or 5

local here = debug.getinfo(1, "S").source:match("^@(.-)spec/timeout%.lua$") or ""
local status = os.tmpname()
-- $PPID, in the shell os.execute starts, is this process
os.execute(string.format("lua5.4 %q $PPID %q %s >&2 &",
                         here .. "tools/spec-watchdog.lua", status, grace))

local function full_name(element)
  local names = { element.name or element.descriptor }
  local parent = busted.parent(element)
  while parent and (parent.name or parent.descriptor) and parent.descriptor ~= "file" do
    table.insert(names, 1, parent.name or parent.descriptor)
    parent = busted.parent(parent)
  end
  local t = element.trace
  local where = t and t.short_src and (t.short_src .. ":" .. tostring(t.currentline) .. ": ") or ""
  return where .. table.concat(names, " ")
end

local function write_status(text)
  local f = io.open(status, "w")
  if f then f:write(text) f:close() end
end

local current  -- {name =, deadline =} of the running test

local function hook()
  if current and gettime() >= current.deadline then
    local name = current.name
    current = nil
    debug.sethook()
    error(string.format("spec timeout: %s: still running after %g s (ZIS_SPEC_TIMEOUT)",
                        name, limit), 2)
  end
end

-- The running test's deadline, moved: a test that waits on purpose for
-- longer than the default may ask for more.
function M.extend(seconds)
  if not current then return end
  current.deadline = gettime() + seconds
  write_status(string.format("%.3f %g\t%s\n", current.deadline, seconds, current.name))
end

busted.subscribe({ "test", "start" }, function(element)
  current = { name = full_name(element), deadline = gettime() + limit }
  write_status(string.format("%.3f %g\t%s\n", current.deadline, limit, current.name))
  debug.sethook(hook, "", 1000)
  return nil, true
end)

busted.subscribe({ "test", "end" }, function()
  current = nil
  debug.sethook()
  write_status("")
  return nil, true
end)

return M

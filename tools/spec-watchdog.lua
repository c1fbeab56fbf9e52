-- lua5.4 tools/spec-watchdog.lua PID STATUS-FILE GRACE
-- Started by spec/timeout.lua for each busted process PID.  STATUS-FILE
-- holds "DEADLINE LIMIT<TAB>TEST NAME" while a test runs (empty between
-- tests).  Past the deadline: names the test on stderr and sends SIGINT
-- (lua5.4's Ctrl-C: an "interrupted!" error at the next instruction); if
-- the same test is still running GRACE seconds later, names it again and
-- ends the process.  Leaves when PID does, removing STATUS-FILE.
local socket = require "socket"

local pid, status, grace = arg[1], arg[2], tonumber(arg[3]) or 5
assert(pid and pid:match("^%d+$") and status, "usage: spec-watchdog.lua PID STATUS-FILE GRACE")

local function alive()
  local f = io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f ~= nil
end

local interrupted = {}  -- status line -> when SIGINT was sent
while alive() do
  socket.sleep(0.2)
  local f = io.open(status)
  local line = f and f:read("l")
  if f then f:close() end
  local deadline, limit, name
  if line then deadline, limit, name = line:match("^([%d.]+) ([%d.]+)\t(.*)$") end
  if deadline then
    local now = socket.gettime()
    if not interrupted[line] and now >= tonumber(deadline) then
      io.stderr:write(string.format("\nspec timeout: %s: still running after %s s, interrupted\n",
                                    name, limit))
      interrupted[line] = now
      os.execute("kill -INT " .. pid .. " 2>/dev/null")
    elseif interrupted[line] and now >= interrupted[line] + grace then
      io.stderr:write(string.format("\nspec timeout: %s: did not stop %g s after the interrupt; " ..
                                    "ending the spec process %s\n", name, grace, pid))
      os.execute("kill -TERM " .. pid .. " 2>/dev/null")
      break
    end
  end
end
os.remove(status)

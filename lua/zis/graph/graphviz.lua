-- zis.graph.graphviz: runs Graphviz's dot on DOT text to make SVG or PNG
-- bytes (zis.graph's --format svg and png), and says how to install dot
-- when it is missing.

local assert, format, os, io = assert, string.format, os, io

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local INSTALL_HINT = "Graphviz's dot is not installed; install it with `apt-get install graphviz` " ..
                     "(Debian, Ubuntu), `dnf install graphviz` or `brew install graphviz`, or use " ..
                     "--format dot or --format mermaid"

-- DOT through Graphviz's dot, to SVG or PNG bytes.  io.popen goes one
-- way only, so the DOT text goes through a temporary file, and so do
-- dot's complaints.
local function run_dot(text, fmt, dot)
  if not os.execute("command -v " .. quote(dot) .. " >/dev/null 2>&1") then
    return nil, "--format " .. fmt .. ": " .. INSTALL_HINT, "usage"
  end
  local input, errors = os.tmpname(), os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen(format("%s -T%s %s 2>%s", quote(dot), fmt, quote(input), quote(errors)), "r"))
  local out = p:read("a")
  local ok = p:close()
  local e = io.open(errors, "rb")
  local message = e and e:read("a"):gsub("%s+$", "") or ""
  if e then e:close() end
  os.remove(input)
  os.remove(errors)
  if not ok or out == "" then
    return nil, "dot failed: " .. (message ~= "" and message or "no output"), "error"
  end
  return out
end

return { run = run_dot }

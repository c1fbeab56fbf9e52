-- lua5.4 tools/mutate.lua [NAME...]      (make mutate [MUTANTS="NAME..."])
--
-- Mutation testing: applies each mutant of tools/mutants.lua (or only
-- those named), one at a time, to a copy of the working tree (the files
-- git knows of or does not ignore, and build/), rebuilds the module when
-- a C file changed, and runs the mutant's spec files there
-- (tools/run-specs, without the #timing specs).  A mutant is "killed"
-- when a spec fails, "SURVIVED" when they all pass, "stale" when its
-- `from` text is not in its file exactly once.  The unmutated copy must
-- pass every spec named first.  Prints one line per mutant, then
-- "N killed, N survived" (and the stale count) and the time taken; exits
-- 1 when a mutant survived or is stale.
local socket = require "socket"

local started = socket.gettime()
local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function run(cmd) return os.execute(cmd) == true end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function count(hay, needle)
  local n, at = 0, 1
  while true do
    local i = hay:find(needle, at, true)
    if not i then return n end
    n, at = n + 1, i + 1
  end
end

local mutants = dofile("tools/mutants.lua")
local only = {}
for _, a in ipairs(arg) do for name in a:gmatch("%S+") do only[name] = true end end
if next(only) then
  local kept = {}
  for _, m in ipairs(mutants) do if only[m.name] then kept[#kept + 1] = m; only[m.name] = nil end end
  local unknown = next(only)
  if unknown then io.stderr:write("mutate: no mutant named " .. unknown .. "\n") os.exit(2) end
  mutants = kept
end

-- the copy
local dir = os.tmpname()
os.remove(dir)
assert(run("mkdir -p " .. sh_quote(dir)))
local function cleanup() os.execute("rm -rf " .. sh_quote(dir)) end
assert(run("git ls-files -z --cached --others --exclude-standard | " ..
           "xargs -0 sh -c 'for f; do [ -e \"$f\" ] && printf \"%s\\0\" \"$f\"; done' sh | " ..
           "tar --null -T - -cf - | tar -C " .. sh_quote(dir) .. " -xf - && cp -a build " .. sh_quote(dir) .. "/"),
       "mutate: could not copy the tree")
-- the built modules (a C file may be in core.so, net.so or both), to put
-- back after a C mutant, so that no later mutant runs against it
assert(run("cp -a " .. sh_quote(dir .. "/build/zis") .. " " .. sh_quote(dir .. "/modules.orig")))

local function specs_of(m) return m.specs and table.concat(m.specs, " ") or "spec" end

local function run_specs(list)
  return run("cd " .. sh_quote(dir) .. " && ./tools/run-specs --exclude-tags=timing " .. list ..
             " >" .. sh_quote(dir .. "/last.log") .. " 2>&1")
end

-- the baseline: every spec named must pass unmutated
do
  local all, seen = {}, {}
  for _, m in ipairs(mutants) do
    for s in specs_of(m):gmatch("%S+") do
      if not seen[s] then seen[s] = true; all[#all + 1] = s end
    end
  end
  io.write("baseline: ", #all, " spec files, unmutated ... ")
  io.flush()
  if not run_specs(table.concat(all, " ")) then
    io.write("FAILED\n", read(dir .. "/last.log") or "", "\nmutate: the specs fail without a mutant\n")
    cleanup()
    os.exit(1)
  end
  io.write("pass\n")
end

local killed, survived, stale = 0, 0, 0
for _, m in ipairs(mutants) do
  local t0 = socket.gettime()
  local path = dir .. "/" .. m.file
  local text = read(path)
  local n = text and count(text, m.from) or 0
  local result, note
  if n ~= 1 then
    result, note = "stale", (text and (n == 0 and "text not found" or n .. " matches") or "no such file")
    stale = stale + 1
  else
    local i = text:find(m.from, 1, true)
    write(path, text:sub(1, i - 1) .. m.to .. text:sub(i + #m.from))
    local is_c = m.file:match("%.[ch]$")
    local built = true
    if is_c then
      built = run("cd " .. sh_quote(dir) .. " && make -s --no-print-directory all >" ..
                  sh_quote(dir .. "/last.log") .. " 2>&1")
    end
    if not built then
      result, note = "killed", "does not compile"
      killed = killed + 1
    elseif run_specs(specs_of(m)) then
      result, note = "SURVIVED", m.why
      survived = survived + 1
    else
      local log = read(dir .. "/last.log") or ""
      -- the first test that failed: busted's "Failure -> file @ line" and its name
      local where, name = log:match("\n%a+ %-> ([^\n]+)\n([^\n]+)")
      result, note = "killed", where and (where .. ": " .. name) or "specs failed"
      killed = killed + 1
    end
    write(path, text)
    if is_c then
      assert(run("rm -rf " .. sh_quote(dir .. "/build/zis") .. " && cp -a " .. sh_quote(dir .. "/modules.orig") ..
                 " " .. sh_quote(dir .. "/build/zis")))
    end
  end
  io.write(string.format("%-9s %-27s %-21s %5.1f s  %s\n", result, m.name, m.file,
                         socket.gettime() - t0, note))
  io.flush()
end

cleanup()
io.write(string.format("%d killed, %d survived%s (%d mutants, %.0f s)\n", killed, survived,
                       stale > 0 and (", " .. stale .. " stale") or "", #mutants,
                       socket.gettime() - started))
os.exit((survived == 0 and stale == 0) and 0 or 1)

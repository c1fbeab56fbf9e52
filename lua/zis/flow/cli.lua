-- zis.flow.cli: `zis run` and `zis test`, the command line of zis.flow.
--
-- lua/zis/cli.lua holds the two command entries (name, options, run);
-- their run functions are here, so the simulator's command code stays
-- beside the simulator.  ctx is zis.cli's context (out, err, fail,
-- usage_error, read_file, json_out).
--
-- Exit status: 0 the flow succeeded (every case passed), 1 it failed (a
-- case failed), 2 usage or a bundle zis.validate rejects.

local _G, ipairs, load, math, next, pairs, pcall, require, setmetatable, string, table, tostring, type =
      _G, ipairs, load, math, next, pairs, pcall, require, setmetatable, string, table, tostring, type

-- Loaded when a command runs, not when zis.cli builds its parser: the
-- command line starts without the simulator (and `zis --version` without
-- the whole library).
local function lazy(name)
  return setmetatable({}, { __index = function(t, k)
    local m = require(name)
    setmetatable(t, { __index = m })
    return m[k]
  end })
end
-- the codec as zis gives it, from zis.core: a flow's run makes no
-- request, and the whole library would load libcurl (zis.net)
local zis = { decode_json = require("zis.core").decode_json, pretty_json = require("zis.core").pretty_json,
              encode_json = function(v) return require("zis.core").encode_json(v) end }
local flow = lazy "zis.flow"
local path = lazy "zis.flow.path"

local M = {}

local ARRAY_MT = require("zis.core").array_metatable   -- zis.array_metatable

---------------------------------------------------------------------------
-- Reading files
---------------------------------------------------------------------------

local function read_json(ctx, file, what)
  local v, why = zis.decode_json(ctx.read_file(file))
  if v == nil then ctx.fail(file .. ": " .. what .. " is not JSON: " .. tostring(why)) end
  return v
end

-- A Lua file: run in an empty environment but for the standard
-- functions a stub needs; it returns its value.
local function read_lua(ctx, file)
  local env = setmetatable({}, { __index = _G })
  local chunk, why = load(ctx.read_file(file), "@" .. file, "t", env)
  if not chunk then ctx.fail(why) end
  local ok, v = pcall(chunk)
  if not ok then ctx.fail(file .. ": " .. tostring(v)) end
  return v
end

local function read_value(ctx, file, what)
  if file:match("%.lua$") then return read_lua(ctx, file) end
  return read_json(ctx, file, what)
end

-- "NAME=FILE" -> name, file (a usage error otherwise).
local function split_pair(ctx, s, option)
  local name, file = s:match("^([^=]+)=(.+)$")
  if not name then ctx.usage_error(option .. " " .. s .. ": expected NAME=FILE") end
  return name, file
end

---------------------------------------------------------------------------
-- The trace as text
---------------------------------------------------------------------------

local function compact(v)
  local ok, text = pcall(zis.encode_json, v)
  return ok and text or tostring(v)
end

-- One line per state: where it ran, its name and type, what it did, and
-- where it went.
local function trace_line(e)
  local parts = { string.format("%-24s %-8s", e.state, e.type) }
  if e.action then parts[#parts + 1] = e.action end
  if e.request then
    local r = e.request
    parts[#parts + 1] = r.method .. " " .. (r.url or r.path or "?") ..
                        (r.status and (" -> " .. tostring(r.status)) or "")
  end
  if e.retries then parts[#parts + 1] = "(" .. #e.retries .. " retr" .. (#e.retries == 1 and "y" or "ies") .. ")" end
  if e.waited then parts[#parts + 1] = "waited " .. tostring(e.waited) .. " s" end
  if e.items then parts[#parts + 1] = e.items .. " item(s)" end
  if e.error then parts[#parts + 1] = "error " .. tostring(e.error) .. ": " .. tostring(e.cause) end
  if e.next then parts[#parts + 1] = (e.caught and "caught, " or "") .. "-> " .. e.next
  elseif not e.error then parts[#parts + 1] = "(end)" .. (e.message and (" \"" .. e.message .. "\"") or "")
  end
  if e.why then parts[#parts + 1] = "[" .. e.why .. "]" end
  local indent = e.iteration and ("  " .. e.iteration .. ": ") or "  "
  return (indent .. table.concat(parts, "  "):gsub("%s+$", ""))
end
M.trace_line = trace_line

local function print_result(ctx, r)
  ctx.out("flow ", r.flow, r.job_spec and (" (job spec " .. r.job_spec .. ")") or "", "\n")
  for _, e in ipairs(r.trace) do ctx.out(trace_line(e), "\n") end
  if r.status == "succeeded" then
    ctx.out("succeeded at ", tostring(r.state), r.message and (": " .. r.message) or "", "\n")
  else
    ctx.out("FAILED at ", tostring(r.state), ": ", tostring(r.error), ": ", tostring(r.cause), "\n")
  end
  if r.output ~= nil then ctx.out("output: ", zis.pretty_json(r.output)) end
end

-- The result as JSON: the trace's values are JSON already; empty tables
-- keep their kind.
local function result_json(r)
  local o = {}
  for k, v in pairs(r) do o[k] = v end
  o.trace = setmetatable(o.trace, ARRAY_MT)
  return o
end
M.result_json = result_json

local function invalid(ctx, err)
  for _, p in ipairs(err.problems or {}) do
    ctx.err(p.severity, ": ", p.path ~= "" and p.path or "(bundle)", ": ", p.message, "\n")
  end
  ctx.usage_error(err.message)
end

-- run's opts, as `zis run` builds them: a misuse raised by flow.run (an
-- unknown flow name) becomes a usage error naming it.
local function checked_run(ctx, bundle, opts)
  local ok, r, err = pcall(flow.run, bundle, opts)
  if not ok then
    local msg = tostring(r):match("%((.*)%)$") or tostring(r)
    ctx.usage_error(msg)
  end
  if not r then invalid(ctx, err) end
  return r
end

---------------------------------------------------------------------------
-- zis run
---------------------------------------------------------------------------

function M.run(ctx, a)
  if (a.flow == nil) == (a.job_spec == nil) then
    ctx.usage_error("give --flow NAME or --job-spec NAME (one of them)")
  end
  local opts = { flow = a.flow, job_spec = a.job_spec, max_steps = a.max_steps, stubs = {}, configs = {} }
  opts.input = read_json(ctx, a.input, "the event")
  for _, s in ipairs(a.stub or {}) do
    local name, file = split_pair(ctx, s, "--stub")
    opts.stubs[name] = read_value(ctx, file, "the stub")
  end
  for _, s in ipairs(a.config or {}) do
    local scope, file = split_pair(ctx, s, "--config")
    opts.configs[scope] = read_json(ctx, file, "the config")
  end
  local r = checked_run(ctx, ctx.read_file(a.bundle), opts)
  if ctx.json then ctx:json_out(result_json(r)) else print_result(ctx, r) end
  return r.status == "succeeded" and 0 or 1
end

---------------------------------------------------------------------------
-- zis test
---------------------------------------------------------------------------

-- Does `got` hold everything `want` says?  Objects: every key of want,
-- recursively; arrays: the same length, item by item; anything else:
-- equal.  -> true | false, the path where they differ.
local function holds(got, want, where)
  if type(want) == "table" then
    if type(got) ~= "table" then return false, where end
    if path.is_array(want) then
      if not path.is_array(got) and next(got) ~= nil then return false, where end
      if #got ~= #want then return false, where .. " (" .. #got .. " items, expected " .. #want .. ")" end
      for i, w in ipairs(want) do
        local ok, at = holds(got[i], w, where .. "[" .. (i - 1) .. "]")
        if not ok then return false, at end
      end
      return true
    end
    for k, w in pairs(want) do
      local ok, at = holds(got[k], w, where .. "." .. tostring(k))
      if not ok then return false, at end
    end
    return true
  end
  if math.type(want) and math.type(got) then return want == got, where end
  return got == want, where
end
M.holds = holds

local CASE_KEYS = { name = true, bundle = true, flow = true, job_spec = true, input = true, input_file = true,
                    stubs = true, configs = true, links = true, connections = true, account_id = true,
                    max_steps = true, expect = true, description = true }
local EXPECT_KEYS = { status = true, states = true, output = true, requests = true, error = true, cause = true,
                      configs = true, links = true }

-- One case -> ok, why.
local function run_case(ctx, file)
  local dir = file:match("^(.*)/[^/]*$") or "."
  local case = read_value(ctx, file, "the case")
  if type(case) ~= "table" then return false, "a case is an object (a table)" end
  for k in pairs(case) do
    if not CASE_KEYS[k] then return false, "unknown key '" .. tostring(k) .. "'" end
  end
  if type(case.bundle) ~= "string" then return false, "'bundle' (the bundle's file) is required" end
  local expect = case.expect or {}
  for k in pairs(expect) do
    if not EXPECT_KEYS[k] then return false, "unknown expectation '" .. tostring(k) .. "'" end
  end
  local function rel(p) return p:sub(1, 1) == "/" and p or dir .. "/" .. p end
  local input = case.input
  if case.input_file then input = read_json(ctx, rel(case.input_file), "the event") end
  local stubs = {}
  for name, s in pairs(case.stubs or {}) do
    -- a string is a file holding the stub
    stubs[name] = type(s) == "string" and read_value(ctx, rel(s), "the stub") or s
  end
  local ok, r, err = pcall(flow.run, ctx.read_file(rel(case.bundle)), {
    flow = case.flow, job_spec = case.job_spec, input = input, stubs = stubs, configs = case.configs,
    links = case.links, connections = case.connections, account_id = case.account_id,
    max_steps = case.max_steps })
  if not ok then return false, (tostring(r):match("%((.*)%)$") or tostring(r)) end
  if not r then return false, err.message end
  local function state_list()
    local t = {}
    for _, e in ipairs(r.trace) do if not e.iteration then t[#t + 1] = e.state end end
    return t
  end
  local status = expect.status or "succeeded"
  if r.status ~= status then
    return false, "status " .. r.status .. ", expected " .. status ..
                  (r.error and (" (" .. tostring(r.error) .. ": " .. tostring(r.cause) .. ")") or "")
  end
  for _, k in ipairs{ "error", "cause" } do
    if expect[k] ~= nil and r[k] ~= expect[k] then
      return false, k .. " " .. tostring(r[k]) .. ", expected " .. tostring(expect[k])
    end
  end
  if expect.states then
    local got = state_list()
    if table.concat(got, "\0") ~= table.concat(expect.states, "\0") then
      return false, "states " .. table.concat(got, ", ") .. "; expected " .. table.concat(expect.states, ", ")
    end
  end
  for _, k in ipairs{ "output", "requests", "configs", "links" } do
    if expect[k] ~= nil then
      local same, at = holds(r[k], expect[k], k)
      if not same then return false, at .. " differs: got " .. compact(r[k]) end
    end
  end
  return true
end

local function case_files(ctx, dir)
  local list, why = require("zis.core").list_dir(dir)
  if not list then ctx.usage_error("cannot read the folder " .. tostring(why)) end
  local files = {}
  for _, name in ipairs(list) do
    if name:match("%.test%.json$") or name:match("%.test%.lua$") then files[#files + 1] = dir .. "/" .. name end
  end
  table.sort(files)
  if #files == 0 then ctx.usage_error("no test cases (*.test.json, *.test.lua) in " .. dir) end
  return files
end

function M.test(ctx, a)
  local dir = (a.dir or "."):gsub("/+$", "")
  if dir == "" then dir = "/" end
  local passed, failed = 0, 0
  local report = setmetatable({}, ARRAY_MT)
  for _, file in ipairs(case_files(ctx, dir)) do
    -- a case that cannot be read fails alone, not the whole run
    local ok, good, why = pcall(run_case, ctx, file)
    if not ok then good, why = false, tostring(type(good) == "table" and good.message or good) end
    local name = file:match("([^/]+)%.test%.[a-z]+$")
    if good then passed = passed + 1 else failed = failed + 1 end
    report[#report + 1] = { case = name, ok = good, reason = why }
    if not ctx.json then
      ctx.out(good and "ok    " or "FAIL  ", name, good and "" or ": " .. tostring(why), "\n")
    end
  end
  if ctx.json then
    ctx:json_out{ passed = passed, failed = failed, cases = report }
  else
    ctx.out(passed, " passed, ", failed, " failed\n")
  end
  return failed == 0 and 0 or 1
end

---------------------------------------------------------------------------
-- The command entries (inserted into zis.cli's M.commands)
---------------------------------------------------------------------------

-- command(name, integer) -> the entry of `zis run` or `zis test`;
-- integer is zis.cli's M.integer (a bounded integer argument type).
function M.command(name, integer)
  for _, c in ipairs(M.commands(integer)) do
    if c.name == name then return c end
  end
end

function M.commands(integer)
  return {
    {
      name = "run", summary = "run one flow of a bundle offline, with stubbed actions",
      description = "Runs one flow of a bundle offline, from the event in --input, and prints each " ..
                    "state it entered (where it went, and why for a Choice) and the output. Custom " ..
                    "actions answer from --stub files (a JSON answer {status, body, headers}, a JSON " ..
                    "body, a list answered in turn, or a Lua file returning one or a function). Exit " ..
                    "status 0: the flow succeeded, 1: it failed, 2: usage or an invalid bundle.",
      args = { { "bundle", "the bundle, a JSON file" } },
      options = {
        { "--flow", "the flow (its name or resource key)", argname = "NAME", type = "nonempty" },
        { "--job-spec", "the job spec whose flow runs", argname = "NAME", type = "nonempty" },
        { "--input", "the event, a JSON file, as the job spec delivers it", argname = "EVENT.json",
          required = true },
        { "--stub", "the answer of custom action ACTION (repeatable)", argname = "ACTION=FILE", count = "*" },
        { "--config", "the config of SCOPE for LoadConfig (repeatable)", argname = "SCOPE=FILE", count = "*" },
        { "--max-steps", "give up after N states (default 1000)", argname = "N",
          type = integer(1, 1000000) },
      },
      run = M.run,
    },
    {
      name = "test", summary = "run flow test cases (DIR/*.test.json, *.test.lua)",
      description = "Runs each test case in DIR (default: the current folder): a file NAME.test.json " ..
                    "or NAME.test.lua naming a bundle, a flow or job spec, an input, stubs, and " ..
                    "what to expect (status, states in order, output, requests). Prints one line per " ..
                    "case and the totals; exit status 1 when any case fails.",
      args = { { "dir", "the folder of test cases", optional = true } },
      run = M.test,
    },
  }
end

return M

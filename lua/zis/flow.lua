-- zis.flow: runs one flow of a bundle offline, to its end, and says what
-- each state did.
--
--   local result = zis.flow.run(bundle, { job_spec = "on_ticket", input = event,
--                                         stubs = { post_note = { status = 201, body = {} } } })
--   result.status   -- "succeeded" or "failed"
--   result.trace    -- one entry per state entered
--
-- The flow language is ZIS's
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/understanding-flow-states/),
-- with the Amazon States Language (https://states-language.net/spec.html)
-- where Zendesk defers to it.  Each rule below carries its source; an
-- "Assumption:" comment marks behaviour no page documents.  Actions are
-- simulated (zis.flow.actions), data paths are zis.flow.path, Choice
-- rules zis.flow.choice.  Nothing is sent anywhere unless opts.http is
-- given; time is a simulated clock (Wait and Retry never sleep).
--
-- Errors: misuse raises (a bad option, a flow name the bundle does not
-- have); a bundle that is not JSON or that zis.validate rejects returns
-- nil, err, where err is a table {message =, problems =} whose
-- tostring is the message.  A flow that fails is a result with
-- status "failed", not an error.

local zis_core = require "zis.core"
local validate = require "zis.validate"
local path = require "zis.flow.path"
local choice = require "zis.flow.choice"
local actions = require "zis.flow.actions"

local error, ipairs, math, next, pairs, pcall, setmetatable, string, table, tostring, type =
      error, ipairs, math, next, pairs, pcall, setmetatable, string, table, tostring, type

local NULL, ARRAY_MT = zis_core.null, zis_core.array_metatable
local copy, is_object, is_array = path.copy, path.is_object, path.is_array

local M = {}

-- Options of run: name -> the Lua types it takes ("any": anything).
local OPTIONS = {
  flow = "string", job_spec = "string", input = "any", stubs = "table", configs = "table",
  links = "table", connections = "table", max_steps = "number", client = "any",
  http = "function", account_id = "any",
}
local OPTION_NAMES = {}
for k in pairs(OPTIONS) do OPTION_NAMES[#OPTION_NAMES + 1] = k end
table.sort(OPTION_NAMES)
M.options = OPTION_NAMES

-- Assumption: a guard of the simulator, not a ZIS limit (no page gives one).
M.DEFAULT_MAX_STEPS = 1000
-- Map: "The ItemsPath array size is limited to 100 objects ... the Map
-- state aborts" (https://developer.zendesk.com/documentation/integration-services/developer-guide/map-state/).
M.MAP_LIMIT = 100

local function bad(msg) error("bad argument #2 to 'run' (" .. msg .. ")", 3) end

local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("bad argument #2 to 'run' (table or nil expected, got " .. type(opts) .. ")", 3)
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      bad(string.format("unknown option '%s'; known: %s", tostring(k), table.concat(OPTION_NAMES, ", ")))
    elseif want ~= "any" and type(v) ~= want then
      bad(string.format("option '%s' must be a %s, got %s", k, want, type(v)))
    end
  end
  if opts.flow and opts.job_spec then bad("give flow or job_spec, not both") end
  if opts.max_steps and (math.type(opts.max_steps) ~= "integer" or opts.max_steps < 1) then
    bad("option 'max_steps' must be a whole number from 1")
  end
  return opts
end

local Invalid = { __tostring = function(e) return e.message end }

---------------------------------------------------------------------------
-- Finding the flow
---------------------------------------------------------------------------

local function resources_of(bundle, kind)
  local out = {}
  local keys = {}
  for k in pairs(bundle.resources) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local r = bundle.resources[key]
    if r.type == kind then out[#out + 1] = { key = key, name = r.properties.name, props = r.properties } end
  end
  return out
end

local function names(list)
  local t = {}
  for i, r in ipairs(list) do t[i] = r.name end
  return table.concat(t, ", ")
end

-- The flow resource opts names (by key or name), or through a job spec
-- (short name, full zis:{integration}:job_spec:{name}, or key); with
-- neither, the bundle's only flow.
local function find_flow(bundle, opts)
  local flows = resources_of(bundle, "ZIS::Flow")
  local function by_name(n)
    for _, f in ipairs(flows) do if f.key == n or f.name == n then return f end end
  end
  if opts.job_spec then
    local short = opts.job_spec:match("^zis:[^:]+:job_spec:(.+)$") or opts.job_spec
    local jobs = resources_of(bundle, "ZIS::JobSpec")
    for _, j in ipairs(jobs) do
      if j.key == short or j.name == short then
        return by_name(j.props.flow_name:match("^zis:[^:]+:flow:(.+)$")), j
      end
    end
    bad("no job spec '" .. opts.job_spec .. "' in the bundle; job specs: " .. names(jobs))
  end
  if opts.flow then
    local f = by_name(opts.flow:match("^zis:[^:]+:flow:(.+)$") or opts.flow)
    if not f then bad("no flow '" .. opts.flow .. "' in the bundle; flows: " .. names(flows)) end
    return f
  end
  if #flows ~= 1 then bad("the bundle has " .. #flows .. " flows (" .. names(flows) .. "): give flow or job_spec") end
  return flows[1]
end

---------------------------------------------------------------------------
-- Input and output processing (ASL "Input and Output Processing")
---------------------------------------------------------------------------

-- InputPath: the part of the state's input it works on; null gives {}
-- (ASL: "If the value of InputPath is null, ... the input is {}").
local function effective_input(s, data)
  if s.InputPath == NULL then return path.new_object() end
  if s.InputPath == nil then return data end
  return path.resolve(data, s.InputPath, "InputPath")
end

-- ResultPath: where the result goes in the state's *raw* input.  Absent:
-- "$" (the result replaces the input); null: the result is discarded and
-- the input passes through (ASL "ResultPath"; ZIS Catch: "Defaults to $").
local function place_result(s, data, result, result_path)
  if result_path == nil then result_path = s.ResultPath end
  if result_path == NULL then return data end
  if result_path == nil then return result end
  return path.set(data, result_path, result)
end

-- OutputPath: the part passed on; null gives {} (ASL "OutputPath").
local function effective_output(s, v)
  if s.OutputPath == NULL then return path.new_object() end
  if s.OutputPath == nil then return v end
  return path.resolve(v, s.OutputPath, "OutputPath")
end

---------------------------------------------------------------------------
-- Retry (ASL "Retrying after error"; ZIS:
-- https://developer.zendesk.com/documentation/integration-services/developer-guide/state-retry-error-handling/)
---------------------------------------------------------------------------

local function matches(list, name)
  if not is_array(list) then return false end
  for _, n in ipairs(list) do
    if n == "States.ALL" or n == name then return true end
  end
  return false
end

-- Runs attempt() under the state's Retry: the first retrier whose
-- ErrorEquals names the error (or States.ALL) retries it up to
-- MaxAttempts (default 3) times, waiting IntervalSeconds (default 1)
-- times BackoffRate (default 2.0) to the power of the retry count, on
-- the simulated clock.  Each retry is recorded in entry.retries.
local function with_retry(run, s, entry, attempt)
  local counts = {}
  while true do
    local ok, a, b = pcall(attempt)
    if ok then return a, b end
    if not path.is_flow_error(a) then error(a, 0) end
    local retried = false
    for i, r in ipairs(is_array(s.Retry) and s.Retry or {}) do
      if is_object(r) and matches(r.ErrorEquals, a.error) then
        local max = math.tointeger(r.MaxAttempts) or 3
        local n = counts[i] or 0
        if n < max then
          local wait = (r.IntervalSeconds or 1) * (r.BackoffRate or 2.0) ^ n
          if r.MaxDelaySeconds and wait > r.MaxDelaySeconds then wait = r.MaxDelaySeconds end
          counts[i] = n + 1
          run.clock = run.clock + wait
          entry.retries = entry.retries or setmetatable({}, ARRAY_MT)
          entry.retries[#entry.retries + 1] = { error = a.error, cause = a.cause, wait = wait }
          retried = true
        end
        break   -- ASL: only the first matching retrier applies
      end
    end
    if not retried then error(a, 0) end
  end
end

---------------------------------------------------------------------------
-- The states
---------------------------------------------------------------------------

local run_machine

-- Each returns next_state, output, terminal (nil, "succeeded" or
-- "failed"), and fills entry.  A runtime error raises a path.FlowError.
local STATES = {}

-- Pass: Result, else Parameters, else its input, as the result
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/pass-state/;
-- ASL "Pass State").
function STATES.Pass(_, s, data, entry)
  local input = effective_input(s, data)
  local result
  if s.Result ~= nil then result = copy(s.Result)
  elseif s.Parameters ~= nil then
    result = path.fill(s.Parameters, input, "Parameters")
    entry.parameters = result
  else result = input end
  entry.result = result
  return s.Next, effective_output(s, place_result(s, data, result))
end

-- Action: Parameters (or the input) to the action; its answer through
-- ResultSelector, ResultPath, OutputPath
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/action-state/).
function STATES.Action(run, s, data, entry)
  local input = effective_input(s, data)
  local params = input
  if s.Parameters ~= nil then
    params = path.fill(s.Parameters, input, "Parameters")
    entry.parameters = params
  end
  entry.action = s.ActionName
  local result = with_retry(run, s, entry, function()
    local r, req = actions.call(run, s.ActionName, params)
    entry.request = req
    if req then
      run.requests[#run.requests + 1] = req
    end
    return r
  end)
  if s.ResultSelector ~= nil then result = path.fill(s.ResultSelector, result, "ResultSelector") end
  entry.result = result
  return s.Next, effective_output(s, place_result(s, data, result))
end

-- Choice: the first rule that matches decides; else Default; else
-- States.NoChoiceMatched (ASL "Choice State";
-- https://developer.zendesk.com/documentation/integration-services/developer-guide/choice-state/).
-- Its output is its input.
function STATES.Choice(_, s, data, entry)
  local input = effective_input(s, data)
  local tried = {}
  for i, rule in ipairs(s.Choices) do
    local ok, why = choice.evaluate(rule, input)
    if ok then
      entry.why = "rule " .. i .. ": " .. why
      return rule.Next, effective_output(s, input)
    end
    tried[#tried + 1] = why
  end
  if s.Default ~= nil then
    entry.why = "default: no rule matched"
    return s.Default, effective_output(s, input)
  end
  path.raise("States.NoChoiceMatched", "no Choice rule matched and there is no Default (" ..
             table.concat(tried, "; ") .. ")")
end

-- Wait: Seconds or SecondsPath, on the simulated clock
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/wait-state/).
function STATES.Wait(run, s, data, entry)
  local input = effective_input(s, data)
  local secs = s.Seconds
  if s.SecondsPath ~= nil then secs = path.resolve(input, s.SecondsPath, "SecondsPath") end
  if math.type(secs) == nil or secs < 0 then
    path.raise("States.Runtime", "Wait: the seconds to wait must be a number from 0 (got " ..
               path.json_type(secs) .. ")")
  end
  run.clock = run.clock + secs
  entry.waited = secs
  return s.Next, effective_output(s, input)
end

-- Map: the Iterator runs once per item of ItemsPath, each item its input;
-- the outputs, in order, are the result; "If any iteration fails, the
-- entire Map state fails" (map-state page).
function STATES.Map(run, s, data, entry)
  local input = effective_input(s, data)
  local items = path.resolve(input, s.ItemsPath or "$", "ItemsPath")
  if not is_array(items) and not (is_object(items) and next(items) == nil) then
    path.raise("States.Runtime", "Map: ItemsPath " .. tostring(s.ItemsPath) .. " is a " ..
               path.json_type(items) .. ", not an array")
  end
  if #items > M.MAP_LIMIT then
    path.raise("States.Runtime", "Map: " .. #items .. " items; ZIS allows at most " .. M.MAP_LIMIT)
  end
  local result = with_retry(run, s, entry, function()
    local out = setmetatable({}, ARRAY_MT)
    for i, item in ipairs(items) do
      local where = (entry.iteration and entry.iteration .. " > " or "") .. entry.state .. "[" .. (i - 1) .. "]"
      local r = run_machine(run, s.Iterator, copy(item), where)
      if r.status == "failed" then path.raise(r.error, r.cause) end
      out[i] = r.output
    end
    return out
  end)
  entry.items = #items
  entry.result = result
  return s.Next, effective_output(s, place_result(s, data, result))
end

-- Succeed: "If you don't specify a Message, the description defaults to
-- 'Execution Successful'"; Message supports reference paths and path
-- placeholders (https://developer.zendesk.com/documentation/integration-services/developer-guide/succeed-state/).
function STATES.Succeed(_, s, data, entry)
  local input = effective_input(s, data)
  entry.message = s.Message ~= nil and path.text(s.Message, input, "Message") or "Execution Successful"
  return nil, effective_output(s, input), "succeeded"
end

-- Fail: Error and Cause, each a reference path or with placeholders
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/fail-state/).
function STATES.Fail(_, s, data, entry)
  entry.error = path.text(s.Error, data, "Error")
  entry.cause = path.text(s.Cause, data, "Cause")
  return nil, data, "failed"
end

---------------------------------------------------------------------------
-- A state machine: a flow, or a Map's Iterator
---------------------------------------------------------------------------

local function catcher_for(s, name)
  for _, c in ipairs(is_array(s.Catch) and s.Catch or {}) do
    if is_object(c) and matches(c.ErrorEquals, name) then return c end
  end
end

-- -> {status, output, error, cause, state}.  Raises only a SimError (or
-- a bug); a flow's own failure is a result.
function run_machine(run, def, data, iteration)
  local name = def.StartAt
  while true do
    run.steps = run.steps + 1
    if run.steps > run.max_steps then
      actions.sim_fail("Simulator.MaxSteps", "the flow entered more than " .. run.max_steps ..
                       " states (a loop?); raise max_steps (--max-steps) if it is meant to")
    end
    local s = def.States[name]
    local entry = { state = name, type = s.Type, input = data, iteration = iteration }
    run.trace[#run.trace + 1] = entry
    local ok, nxt, output, terminal = pcall(STATES[s.Type], run, s, data, entry)
    entry.clock = run.clock
    if not ok then
      local e = nxt
      if not path.is_flow_error(e) then error(e, 0) end
      entry.error, entry.cause = e.error, e.cause
      -- Catch: "Action and Map states support error handling using a
      -- Catch block"; the error output {Error, Cause} goes to its
      -- ResultPath, default $ (state-retry-error-handling page; ASL).
      local c = (s.Type == "Action" or s.Type == "Map") and catcher_for(s, e.error) or nil
      if not c then
        return { status = "failed", error = e.error, cause = e.cause, state = name, output = data }
      end
      entry.caught = true
      entry.next = c.Next
      local err_out = { Error = e.error, Cause = e.cause }
      local rp = c.ResultPath
      if rp == nil then rp = "$" end
      local pok, placed = pcall(place_result, s, data, err_out, rp)
      if not pok then
        if not path.is_flow_error(placed) then error(placed, 0) end
        return { status = "failed", error = placed.error, cause = placed.cause, state = name, output = data }
      end
      entry.output = placed
      data, name = placed, c.Next
    else
      entry.output = output
      if terminal == "succeeded" then
        return { status = "succeeded", output = output, state = name, message = entry.message }
      elseif terminal == "failed" then
        return { status = "failed", output = output, error = entry.error, cause = entry.cause, state = name }
      elseif s.End == true then
        -- "ZIS also uses this default description when a flow ends on a
        -- state with an End property of true" (succeed-state page)
        entry.message = "Execution Successful"
        return { status = "succeeded", output = output, state = name, message = entry.message }
      end
      entry.next = nxt
      data, name = output, nxt
    end
  end
end

---------------------------------------------------------------------------
-- run
---------------------------------------------------------------------------

local function decode_bundle(bundle)
  if type(bundle) == "string" then
    local v, why = zis_core.decode_json(bundle)
    if v == nil then
      return nil, setmetatable({ message = "the bundle is not JSON: " .. tostring(why), problems = {} }, Invalid)
    end
    bundle = v
  end
  if type(bundle) ~= "table" then
    error("bad argument #1 to 'run' (table or JSON string expected, got " .. type(bundle) .. ")", 3)
  end
  local ok, problems = validate(bundle)
  if not ok then
    local first
    for _, p in ipairs(problems) do
      if p.severity == "error" then first = p break end
    end
    local count = 0
    for _, p in ipairs(problems) do if p.severity == "error" then count = count + 1 end end
    return nil, setmetatable({
      message = string.format("the bundle is not valid (%d error%s; first: %s: %s)", count,
                              count == 1 and "" or "s", first.path ~= "" and first.path or "(bundle)", first.message),
      problems = problems }, Invalid)
  end
  return bundle
end

-- The integration the bundle's references name (for link records).
local function integration_of(bundle)
  for _, r in pairs(bundle.resources) do
    local ref = r.properties and r.properties.flow_name
    local i = type(ref) == "string" and ref:match("^zis:([^:]+):")
    if i then return i end
  end
end

--- zis.flow.run(bundle [, opts]) -> result | nil, err
function M.run(bundle, opts)
  opts = check_options(opts)
  local b, err = decode_bundle(bundle)
  if not b then return nil, err end
  local flow, job = find_flow(b, opts)
  local run = {
    actions = {}, stubs = opts.stubs or {}, configs = copy(opts.configs or {}),
    links = setmetatable(copy(opts.links or {}), ARRAY_MT), connections = opts.connections or {},
    http = opts.http, client = opts.client, integration = integration_of(b),
    stub_calls = {}, clock = 0, steps = 0, max_steps = opts.max_steps or M.DEFAULT_MAX_STEPS,
    trace = setmetatable({}, ARRAY_MT), requests = setmetatable({}, ARRAY_MT),
  }
  for _, a in ipairs(resources_of(b, "ZIS::Action::Http")) do run.actions[a.name] = a.props.definition end
  -- a stub for no action of the bundle is a typo, said before running
  for name in pairs(run.stubs) do
    if not run.actions[name] and not actions.BUILTIN["zis:common:action:" .. tostring(name)]
       and not actions.BUILTIN[name] and name ~= "Jq" then
      local known = {}
      for n in pairs(run.actions) do known[#known + 1] = n end
      table.sort(known)
      bad("stub '" .. tostring(name) .. "' names no action of the bundle (actions: " ..
          (#known > 0 and table.concat(known, ", ") or "none") .. ")")
    end
  end
  -- Assumption: a flow's data starts as {input = the event} (every
  -- Zendesk example reads the event at $.input), plus account_id when
  -- given (Zendesk's examples read $.account_id or $.accountId).
  local input = opts.input
  if input == nil then input = path.new_object() end
  local data = path.new_object()
  data.input = copy(input)
  if opts.account_id ~= nil then data.account_id = opts.account_id end
  local ok, r = pcall(run_machine, run, flow.props.definition, data, nil)
  if not ok then
    if not actions.is_sim_error(r) then error(r, 0) end
    local last = run.trace[#run.trace]
    r = { status = "failed", error = r.error, cause = r.cause, state = last and last.state,
          output = last and last.input, simulator = true }
    if last then last.error, last.cause = r.error, r.cause end
  end
  r.flow = flow.name
  r.job_spec = job and job.name or nil
  r.trace = run.trace
  r.requests = run.requests
  r.configs = run.configs
  r.links = run.links
  r.clock = run.clock
  r.steps = run.steps
  return r
end

M.STATES = STATES
return M

-- zis.validate: checks a bundle offline, before it is sent.
--
-- ZIS accepts many bundles that then fail only at run time (zis-api.md
-- sections 5 and 6).  This finds what can be found without the server:
-- the template version, the name, the resource types, at least one flow
-- and one job spec, the flow language's state types and their fields,
-- that StartAt and every Next / Default / Choices[].Next / Catch[].Next
-- names a state that exists, that a flow can end, the shape of Choice
-- rules, Catch and Retry blocks, HTTP action definitions, that Action
-- ActionName references resolve within the bundle (or to zis:common:...),
-- and that every zis:{integration}:... reference names one integration.
--
-- The rule it keeps: every shape Zendesk documents passes without an
-- error or a warning (spec/fixtures/bundles/ is the corpus that holds it
-- to that).  An ERROR is only what a page of Zendesk's documentation
-- refuses or says cannot work, and each error rule names that page in a
-- "source:" comment beside it (docs/manual.md lists the same sources).
-- Everything else (what the docs say ZIS ignores or advises against, and
-- Amazon States Language rules that Zendesk's pages do not state) is a
-- WARNING: it never makes a bundle invalid.
--
-- Every problem is {severity =, path =, message =}.  path is the JSON path
-- of the offending value: keys joined with ".", a key that is not made
-- of letters, digits, "_" and "-" written as ["key"] (JSON-quoted), array
-- indexes 1-based in brackets.  A problem inside a state always starts
-- with that state's own path (...definition.States.A, or
-- ...States.Each.Iterator.States.In for a Map's inner state), so tools
-- can mark the state.
--
-- Sources, cited below by their last part (all under
-- https://developer.zendesk.com/):
--   bundles        api-reference/integration-services/registry/bundles/
--   jobspecs       api-reference/integration-services/registry/jobspecs/
--   flow-states    documentation/integration-services/developer-guide/understanding-flow-states/
--   limitations    documentation/integration-services/developer-guide/flow-state-limitations/
--   custom-actions documentation/integration-services/developer-guide/zis-custom-actions/
--   choice-state   documentation/integration-services/developer-guide/choice-state/
--   wait-state     documentation/integration-services/developer-guide/wait-state/
--   map-state      documentation/integration-services/developer-guide/map-state/
--   fail-state     documentation/integration-services/developer-guide/fail-state/
--   succeed-state  documentation/integration-services/developer-guide/succeed-state/
--   retry          documentation/integration-services/developer-guide/state-retry-error-handling/

local zis_core = require "zis.core"

local error, ipairs, next, pairs, setmetatable, tostring, type =
      error, ipairs, next, pairs, setmetatable, tostring, type
local concat, sort, format, mtype = table.concat, table.sort, string.format, math.type
local null = zis_core.null

local TEMPLATE_VERSION = "2019-10-14"
-- ZIS::Config is accepted without checks: the lead's brief names it, but
-- Zendesk's pages document only the three others (see docs/manual.md).
local RESOURCE_TYPES = { ["ZIS::Flow"] = "flow", ["ZIS::Action::Http"] = "action",
                         ["ZIS::JobSpec"] = "job_spec", ["ZIS::Config"] = "config" }
local STATE_TYPES = { Action = true, Choice = true, Map = true, Wait = true,
                      Succeed = true, Fail = true, Pass = true }
local UNSUPPORTED = { Task = "use an Action state", Parallel = "ZIS has no Parallel state" }
-- states that must say where to go next, or End = true
local NEEDS_NEXT = { Action = true, Map = true, Wait = true, Pass = true }
-- states that may not name a Next (or End) of their own
local NO_NEXT = { Succeed = true, Fail = true, Choice = true }
-- states that take Catch and Retry (ZIS: "Action and Map states")
local CATCHES = { Action = true, Map = true }
-- HTTP methods of a custom action (zis-custom-actions: supported values)
local METHODS = { GET = true, HEAD = true, PUT = true, POST = true, DELETE = true,
                  OPTIONS = true, PATCH = true, TRACE = true }

-- Choice comparisons ZIS supports (choice-state: "Supported Choice types"),
-- with the JSON type of their operand; "path" is a reference path ($...).
local COMPARISONS = {
  StringEquals = "string", StringLessThan = "string", StringGreaterThan = "string",
  StringLessThanEquals = "string", StringGreaterThanEquals = "string",
  NumericEquals = "number", NumericLessThan = "number", NumericGreaterThan = "number",
  NumericLessThanEquals = "number", NumericGreaterThanEquals = "number",
  BooleanEquals = "boolean",
  TimestampEquals = "string", TimestampLessThan = "string", TimestampGreaterThan = "string",
  TimestampLessThanEquals = "string", TimestampGreaterThanEquals = "string",
  IsPresent = "boolean", IsNull = "boolean",
  StringEqualsPath = "path", NumericEqualsPath = "path", NumericLessThanPath = "path",
  NumericGreaterThanPath = "path", NumericLessThanEqualsPath = "path",
  NumericGreaterThanEqualsPath = "path", BooleanEqualsPath = "path",
}
-- Amazon States Language comparisons that ZIS's table leaves out
local ASL_ONLY = {
  StringMatches = true, IsString = true, IsNumeric = true, IsBoolean = true, IsTimestamp = true,
  StringLessThanPath = true, StringGreaterThanPath = true, StringLessThanEqualsPath = true,
  StringGreaterThanEqualsPath = true, TimestampEqualsPath = true, TimestampLessThanPath = true,
  TimestampGreaterThanPath = true, TimestampLessThanEqualsPath = true,
  TimestampGreaterThanEqualsPath = true,
}
local LOGICAL = { And = true, Or = true, Not = true }
-- the options validate understands, and their types
local OPTIONS = { integration = "string" }

local sorted_keys = require("zis.util").sorted_keys

-- One step of a JSON path: .key, or ["key"] when the key has other characters.
local seg = require("zis.util").path_step

-- Arrays and objects as every module reads them (zis.util); a bundle
-- written as Lua may give an empty {} where a list is expected.
local util = require "zis.util"
local is_object = util.is_object
local function is_array(v) return util.is_array(v) or util.is_empty(v) end

local function nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

local function is_path(v)
  return type(v) == "string" and v:sub(1, 1) == "$"
end

-- A whole number (a JSON integer, or a float with no fraction).
local function whole(v)
  return mtype(v) == "integer" or (mtype(v) == "float" and v == v // 1)
end

local function json_type(v)
  if v == null then return "null" end
  if type(v) == "table" then return is_object(v) and "object" or "array" end
  return type(v)
end

-- Splits "zis:{integration}:{kind}:{name}".
local function parse_ref(ref, kind)
  if type(ref) ~= "string" then return nil end
  return ref:match("^zis:([^:]+):" .. kind .. ":(.+)$")
end

local Checker = {}
Checker.__index = Checker

function Checker:add(severity, path, message)
  self.problems[#self.problems + 1] = { severity = severity, path = path, message = message }
  if severity == "error" then self.errors = self.errors + 1 end
end

function Checker:error(path, message) self:add("error", path, message) end
function Checker:warning(path, message) self:add("warning", path, message) end

-- A reference to another resource: zis:{integration}:{kind}:{name}, or
-- zis:common:...  Which integration it names is integration_of's work.
function Checker:check_ref(path, ref, kind, what)
  -- source: custom-actions (ActionName "zis:INTEGRATION:action:NAME");
  -- bundles and jobspecs (flow_name "zis:example:flow:my_flow", mandatory)
  if not nonempty_string(ref) then
    self:error(path, what .. " is required: zis:{integration}:" .. kind .. ":{name}")
    return
  end
  if ref:match("^zis:common:") then return end
  local integration, name = parse_ref(ref, kind)
  if not integration then
    self:error(path, format("'%s' is not a %s reference: use zis:{integration}:%s:{name}",
                            ref, kind, kind))
    return
  end
  if self.names[kind][name] then return end
  if kind == "action" then
    -- source: custom-actions ("The custom action definition must be in the
    -- same bundle as the Action state. An Action state can't call an
    -- action from another bundle.")
    self:error(path, format("'%s' names no action of this bundle (defined: %s); an Action " ..
                            "state can only call an action of its own bundle", ref, self:defined(kind)))
  else
    -- no page restricts a job spec's flow to its own bundle: a flow of
    -- another bundle of the same integration works
    self:warning(path, format("'%s': flow not in this bundle; it must exist in another bundle " ..
                              "of the integration (this bundle's flows: %s)", ref, self:defined(kind)))
  end
end

function Checker:defined(kind)
  local names = sorted_keys(self.names[kind])
  return #names > 0 and concat(names, ", ") or "none"
end

-- InputPath, OutputPath, ResultPath, ItemsPath...: a reference path, or
-- null where Amazon States Language allows it (discard).  severity:
-- "error" where a Zendesk page documents the field as a reference path,
-- "warning" where only Amazon States Language does.
function Checker:check_path(path, v, nullable, severity)
  if v == nil or (nullable and v == null) then return end
  if not is_path(v) then
    self:add(severity or "error", path, format("must be a reference path starting with $%s (got %s)",
                                               nullable and ", or null" or "", json_type(v)))
  end
end

-- Parameters, ResultSelector: objects in Amazon States Language; no
-- Zendesk page states their type, so a warning.
function Checker:check_object(path, v)
  if v ~= nil and not is_object(v) then
    self:warning(path, format("should be an object (got %s)", json_type(v)))
  end
end

-- ErrorEquals of a Catch or Retry: a non-empty array of error names, and
-- only "States.ALL" means anything to ZIS.
function Checker:check_error_names(path, names, block)
  -- source: retry (Catch table: ErrorEquals "array of strings", mandatory;
  -- the Retry block's ErrorEquals likewise)
  if not is_array(names) or #names == 0 then
    self:error(path, "must be a non-empty array of error names, e.g. [\"States.ALL\"]")
    return
  end
  for i, n in ipairs(names) do
    if not nonempty_string(n) then
      self:error(format("%s[%d]", path, i), "must be an error name (a string)")
    elseif n ~= "States.ALL" then
      -- retry: "Only valid value is \"States.ALL\"" (Catch), and the same
      -- for Retry.  The page does not say an upload with another name is
      -- refused, so a warning: the name matches nothing.
      self:warning(format("%s[%d]", path, i), format("ZIS supports only \"States.ALL\" in a %s's " ..
                   "ErrorEquals; '%s' never matches", block, n))
    end
  end
end

-- A number field of a Retry: whole (or not), at least lo (above lo when
-- above is true), at most hi.  Returns the message when v is out of range.
local function number_problem(v, is_whole, lo, hi, above)
  if v == nil then return nil end
  if mtype(v) == nil or (is_whole and not whole(v)) or v < lo or (above and v == lo)
     or (hi and v > hi) then
    return format("must be %s %s %s%s (got %s)", is_whole and "a whole number" or "a number",
                  above and "greater than" or "from", tostring(lo), hi and (" to " .. hi) or
                  (above and "" or " up"), mtype(v) and tostring(v) or json_type(v))
  end
end

-- Catch: [{ErrorEquals, Next, ResultPath?}], on Action and Map states.
function Checker:check_catch(sp, s, target)
  local c = s.Catch
  if c == nil then return end
  if not CATCHES[s.Type] then
    self:warning(sp .. ".Catch", "ZIS handles Catch on Action and Map states only")
  end
  -- source: retry ("Objects in the Catch array": ErrorEquals, Next, ResultPath)
  if not is_array(c) or #c == 0 then
    self:error(sp .. ".Catch", "must be a non-empty array of catchers {ErrorEquals, Next}")
    return
  end
  for i, catcher in ipairs(c) do
    local cp = format("%s.Catch[%d]", sp, i)
    if not is_object(catcher) then
      self:error(cp, "must be an object {ErrorEquals, Next, ResultPath}")
    else
      self:check_error_names(cp .. ".ErrorEquals", catcher.ErrorEquals, "Catch")
      -- source: retry (Catch table: Next mandatory, the fallback state)
      target(cp .. ".Next", catcher.Next)
      -- source: retry (Catch table: ResultPath, a reference path)
      self:check_path(cp .. ".ResultPath", catcher.ResultPath, true)
    end
  end
end

-- Retry: [{ErrorEquals, IntervalSeconds?, MaxAttempts?, BackoffRate?, ...}].
-- Zendesk documents ErrorEquals and BackoffRate; the other ranges are
-- Amazon States Language's (states-language.net), so only warnings.
function Checker:check_retry(sp, s)
  local r = s.Retry
  if r == nil then return end
  if not CATCHES[s.Type] then
    self:warning(sp .. ".Retry", "ZIS handles Retry on Action and Map states only")
  end
  -- source: retry (a Retry block is an array of retrier objects with a
  -- mandatory ErrorEquals)
  if not is_array(r) or #r == 0 then
    self:error(sp .. ".Retry", "must be a non-empty array of retriers {ErrorEquals, ...}")
    return
  end
  for i, retrier in ipairs(r) do
    local rp = format("%s.Retry[%d]", sp, i)
    if not is_object(retrier) then
      self:error(rp, "must be an object {ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate}")
    else
      self:check_error_names(rp .. ".ErrorEquals", retrier.ErrorEquals, "Retry")
      -- source: retry (BackoffRate: "a positive, double-precision
      -- floating-point number. Defaults to 2.0")
      local why = number_problem(retrier.BackoffRate, false, 0, nil, true)
      if why then self:error(rp .. ".BackoffRate", why) end
      -- Amazon States Language's ranges; no Zendesk page states them
      for _, f in ipairs{ { "IntervalSeconds", 1, 99999999 }, { "MaxAttempts", 0, 99999999 },
                          { "MaxDelaySeconds", 1, 31622400 } } do
        why = number_problem(retrier[f[1]], true, f[2], f[3])
        if why then
          self:warning(rp .. "." .. f[1], why:gsub("^must", "should", 1) ..
                       " (Amazon States Language's range; Zendesk's pages give none)")
        end
      end
      local j = retrier.JitterStrategy
      if j ~= nil and j ~= "FULL" and j ~= "NONE" then
        self:warning(rp .. ".JitterStrategy", "should be \"FULL\" or \"NONE\" (Amazon States Language)")
      end
    end
  end
end

-- One Choice rule: a comparison {Variable, <operator>} or And/Or/Not.
-- Only a top-level rule (directly in Choices) takes Next.
function Checker:check_rule(rp, rule, top, target)
  if not is_object(rule) then
    self:error(rp, "must be an object")
    return
  end
  if top then
    -- source: choice-state (a choice rule requires "The Next state to run")
    target(rp .. ".Next", rule.Next)
  elseif rule.Next ~= nil then
    -- Amazon States Language's rule; the Zendesk page does not state it
    self:warning(rp .. ".Next", "only a rule directly in Choices takes Next, not one inside " ..
                 "And/Or/Not: this one is ignored")
  end
  local ops = {}
  for _, k in ipairs(sorted_keys(rule)) do
    if COMPARISONS[k] or LOGICAL[k] then ops[#ops + 1] = k
    elseif ASL_ONLY[k] then
      -- source: choice-state ("Supported Choice types"); limitations
      -- ("Not all comparison operators are supported")
      self:error(rp .. seg(k), format("'%s' is not a comparison ZIS supports (see the Choice " ..
                 "state's supported types)", k))
      ops[#ops + 1] = k
    end
  end
  -- source: choice-state (a rule requires "A comparison operator", or
  -- holds a logical operator Not, And, Or)
  if #ops ~= 1 then
    self:error(rp, #ops == 0 and "needs a comparison (StringEquals, NumericGreaterThan, IsPresent, ...) " ..
               "or And, Or, Not" or "must hold exactly one comparison or And/Or/Not, not " .. concat(ops, " and "))
    return
  end
  local op, v = ops[1], rule[ops[1]]
  if op == "And" or op == "Or" then
    -- source: choice-state ("Logical operators within Choice states")
    if not is_array(v) or #v == 0 then
      self:error(rp .. "." .. op, "must be a non-empty array of rules")
    else
      for i, sub in ipairs(v) do self:check_rule(format("%s.%s[%d]", rp, op, i), sub, false, target) end
    end
  elseif op == "Not" then
    self:check_rule(rp .. ".Not", v, false, target)
  elseif COMPARISONS[op] then
    -- source: choice-state (a rule requires "A Variable that contains a
    -- JSON reference path to an input value")
    if not is_path(rule.Variable) then
      self:error(rp .. ".Variable", "is required: the reference path ($...) of the value to compare")
    end
    local want = COMPARISONS[op]
    if want == "path" then
      -- source: choice-state (the Path forms compare to a reference path)
      if not is_path(v) then self:error(rp .. "." .. op, "must be a reference path starting with $") end
    elseif json_type(v) ~= want then
      -- the operand's JSON type is Amazon States Language's rule
      self:warning(rp .. "." .. op, format("should be a %s (got %s)", want, json_type(v)))
    end
  end
end

-- A state machine: {StartAt, States}, for a flow or a Map's Iterator.
-- source: flow-states ("A ZIS flow is made up of one or more states");
-- bundles (example body: definition {StartAt, States}); map-state (the
-- Iterator "contains the state machine")
function Checker:check_machine(path, def)
  if not is_object(def) then
    self:error(path, "must be an object with StartAt and States")
    return
  end
  local states = def.States
  if not is_object(states) or next(states) == nil then
    self:error(path .. ".States", "must be an object with at least one state")
    return
  end
  local list = concat(sorted_keys(states), ", ")
  if not nonempty_string(def.StartAt) then
    self:error(path .. ".StartAt", "is required: the name of the first state")
  elseif states[def.StartAt] == nil then
    self:error(path .. ".StartAt", format("names no state ('%s'); states: %s", def.StartAt, list))
  end
  local terminal = false
  local function target(p, name)
    if not nonempty_string(name) then
      self:error(p, "must name a state")
    elseif states[name] == nil then
      self:error(p, format("names no state ('%s'); states: %s", name, list))
    end
  end
  for _, name in ipairs(sorted_keys(states)) do
    local s, sp = states[name], path .. ".States" .. seg(name)
    if not is_object(s) then
      self:error(sp, "must be an object")
    else
      self:check_state(sp, s, target)
      local t = s.Type
      if t == "Succeed" or t == "Fail" or s.End == true then terminal = true end
    end
  end
  -- source: flow-states (End: "the state is terminal and ends the ZIS
  -- flow"); limitations (a flow times out after 100 seconds): with no
  -- terminal state a flow can only loop until it times out
  if not terminal then
    self:error(path .. ".States", "no state ends the flow: add a Succeed or Fail state, or End = true")
  end
end

-- One state: its type, its transitions, its common fields, then the
-- fields of its type.  target(path, name) checks a transition.
function Checker:check_state(sp, s, target)
  local t = s.Type
  -- source: flow-states ("State types"; Type: "All states require Type");
  -- limitations (Task state, Parallel state: "Not supported")
  if UNSUPPORTED[t] then
    self:error(sp .. ".Type", format("'%s' is not supported by ZIS: %s", t, UNSUPPORTED[t]))
  elseif not STATE_TYPES[t] then
    self:error(sp .. ".Type", format("must be one of Action, Choice, Map, Wait, Succeed, " ..
                                     "Fail, Pass (got %s)", tostring(t)))
  end
  -- transitions.  source: flow-states (End: "End doesn't support a value
  -- of false"; "The Fail and Succeed state types don't support Next";
  -- "You can't use Next and End in the same state"; "Most state types
  -- require either Next or End"; Next: the "Next state to run")
  if s.End ~= nil and s.End ~= true then
    self:error(sp .. ".End", "must be true when present (leave it out otherwise)")
  end
  if NO_NEXT[t] then
    if s.Next ~= nil then
      if t == "Choice" then
        -- flow-states says only that a Choice "supports multiple Next
        -- properties" (in Choices); Amazon States Language forbids this one
        self:warning(sp .. ".Next", "a Choice state takes Next only inside Choices: this one is ignored")
      else
        self:error(sp .. ".Next", format("a %s state takes no Next", t))
      end
    end
    if s.End ~= nil then
      -- Amazon States Language's rule: no Zendesk page states it
      self:warning(sp .. ".End", format("a %s state takes no End (it is ignored)", t))
    end
  else
    if s.Next ~= nil then target(sp .. ".Next", s.Next) end
    if s.Next ~= nil and s.End == true then
      self:error(sp, "has both Next and End: keep one")
    elseif NEEDS_NEXT[t] and s.Next == nil and s.End ~= true then
      self:error(sp, "needs Next (the state that follows) or End = true")
    end
  end
  -- fields most states share: Amazon States Language's types, which no
  -- Zendesk page states, except ResultPath
  if s.Comment ~= nil and type(s.Comment) ~= "string" then
    self:warning(sp .. ".Comment", "should be a string")
  end
  self:check_path(sp .. ".InputPath", s.InputPath, true, "warning")
  self:check_path(sp .. ".OutputPath", s.OutputPath, true, "warning")
  -- source: map-state and retry (ResultPath: "The reference path to store
  -- the output")
  self:check_path(sp .. ".ResultPath", s.ResultPath, true)
  self:check_object(sp .. ".ResultSelector", s.ResultSelector)
  self:check_catch(sp, s, target)
  self:check_retry(sp, s)
  -- fields of each type
  if t == "Choice" then
    -- source: choice-state (Choices: mandatory array that "Must contain at
    -- least one choice rule object"; Default: the "Next state to run")
    if not is_array(s.Choices) or #s.Choices == 0 then
      self:error(sp .. ".Choices", "must be a non-empty array of rules")
    else
      for i, rule in ipairs(s.Choices) do
        self:check_rule(format("%s.Choices[%d]", sp, i), rule, true, target)
      end
    end
    if s.Default ~= nil then target(sp .. ".Default", s.Default) end
  elseif t == "Action" then
    -- source: custom-actions (ActionName names the action)
    self:check_ref(sp .. ".ActionName", s.ActionName, "action", "ActionName")
    self:check_object(sp .. ".Parameters", s.Parameters)
  elseif t == "Pass" then
    self:check_object(sp .. ".Parameters", s.Parameters)
  elseif t == "Wait" then
    -- source: wait-state ("A Wait state also requires exactly one of"
    -- Seconds, SecondsPath; "doesn't support the Timestamp or
    -- TimestampPath properties")
    if s.Timestamp ~= nil or s.TimestampPath ~= nil then
      self:error(sp, "ZIS Wait takes only Seconds or SecondsPath, not a timestamp")
    elseif s.Seconds == nil and s.SecondsPath == nil then
      self:error(sp, "needs Seconds or SecondsPath")
    elseif s.Seconds ~= nil and s.SecondsPath ~= nil then
      self:error(sp, "takes Seconds or SecondsPath, not both")
    else
      -- source: wait-state (Seconds: "an integer or double-precision
      -- floating-point number. The value must be greater than zero")
      local why = number_problem(s.Seconds, false, 0, nil, true)
      if why then self:error(sp .. ".Seconds", why) end
      -- source: wait-state (SecondsPath: "Reference path to the number of
      -- seconds"; a value <= 0 there makes the state go on at once)
      self:check_path(sp .. ".SecondsPath", s.SecondsPath, false)
    end
  elseif t == "Map" then
    -- limitations: MaxConcurrency "Not supported. The state machine is
    -- executed for each item in the ItemsPath": ignored, so a warning
    if s.MaxConcurrency ~= nil then
      self:warning(sp .. ".MaxConcurrency", "is not supported by ZIS: it is ignored, and the " ..
                   "iterator runs for each item")
    end
    -- source: limitations (Map Parameters: "Not supported"; use a jq
    -- transform instead)
    if s.Parameters ~= nil then self:error(sp .. ".Parameters", "is not supported by ZIS in a Map") end
    -- source: map-state (ItemsPath: mandatory, "The reference path to the
    -- input array of objects"; Iterator: mandatory state machine)
    self:check_path(sp .. ".ItemsPath", s.ItemsPath, false)
    self:check_machine(sp .. ".Iterator", s.Iterator)
  elseif t == "Fail" then
    -- source: fail-state (Error and Cause, strings: the Cause is what the
    -- integration log shows)
    for _, f in ipairs{ "Error", "Cause" } do
      if s[f] == nil then
        self:warning(sp .. "." .. f, "is missing: Zendesk's docs make Error and Cause mandatory " ..
                     "(Cause is what the integration log shows)")
      elseif type(s[f]) ~= "string" then
        self:error(sp .. "." .. f, "must be a string")
      end
    end
  elseif t == "Succeed" then
    -- source: succeed-state, limitations (an optional Message, a string
    -- for the integration log)
    if s.Message ~= nil and type(s.Message) ~= "string" then
      self:error(sp .. ".Message", "must be a string")
    end
  end
end

-- headers or queryParams of an HTTP action: [{key, value | value.$}].
-- source: custom-actions (definition properties: headers and queryParams
-- as arrays of {key, value} objects; a ".$" key holds a reference path)
function Checker:check_pairs(path, list)
  if list == nil then return end
  if not is_array(list) then
    self:error(path, format("must be an array of {key, value} objects (got %s)", json_type(list)))
    return
  end
  for i, pair in ipairs(list) do
    local pp = format("%s[%d]", path, i)
    if not is_object(pair) then
      self:error(pp, "must be an object {key, value} or {key, value.$}")
    else
      if not nonempty_string(pair.key) then self:error(pp .. ".key", "is required: a non-empty string") end
      if pair.value == nil and pair["value.$"] == nil then
        self:error(pp, "needs value or value.$")
      elseif pair["value.$"] ~= nil and type(pair["value.$"]) ~= "string" then
        self:error(pp .. "[\"value.$\"]", "must be a string: a reference path or a {{$...}} template")
      end
    end
  end
end

-- The definition of a ZIS::Action::Http.
-- source: custom-actions ("Supported properties for action definitions":
-- method and its supported values, url / url.$, or path / path.$ with
-- connectionName, headers, queryParams, requestBody)
function Checker:check_http(dp, d)
  if not is_object(d) then
    self:error(dp, "must be an object with method and url (or path and connectionName)")
    return
  end
  if not nonempty_string(d.method) then
    self:error(dp .. ".method", "is required (GET, POST, ...)")
  elseif not METHODS[d.method:upper()] then
    self:error(dp .. ".method", format("'%s' is not a method ZIS supports (GET, HEAD, PUT, POST, " ..
                                       "DELETE, OPTIONS, PATCH, TRACE)", d.method))
  end
  local has_url = d.url ~= nil or d["url.$"] ~= nil
  local has_path = d.path ~= nil or d["path.$"] ~= nil
  if not has_url and not has_path then
    self:error(dp, "needs url or url.$ (a full URL), or path or path.$ with connectionName " ..
                   "(a path on the connection's host)")
  end
  for _, k in ipairs{ "url", "url.$", "path", "path.$", "connectionName" } do
    if d[k] ~= nil and not nonempty_string(d[k]) then
      self:error(dp .. seg(k), "must be a non-empty string")
    end
  end
  if has_path and not has_url and d.connectionName == nil then
    self:warning(dp, "path without connectionName: ZIS takes the host of a path from the named connection")
  end
  self:check_pairs(dp .. ".headers", d.headers)
  self:check_pairs(dp .. ".queryParams", d.queryParams)
  for _, k in ipairs{ "headers.$", "queryParams.$", "requestBody.$" } do
    if d[k] ~= nil and type(d[k]) ~= "string" then
      self:error(dp .. seg(k), "must be a string: a reference path ($...)")
    end
  end
end

-- The integration references: every zis:{integration}:flow:... flow_name
-- of a job spec, then every zis:{integration}:action:... ActionName of a
-- flow (states in name order, a Map's iterator after its own state), as
-- {path =, integration =}.  Resources are taken in key order.
local function references(bundle)
  local refs = {}
  local function add(path, ref, kind)
    local integration = parse_ref(ref, kind)
    if integration and integration ~= "common" then
      refs[#refs + 1] = { path = path, integration = integration }
    end
  end
  local resources = is_object(bundle.resources) and bundle.resources or {}
  local keys = sorted_keys(resources)
  for _, key in ipairs(keys) do
    local r = resources[key]
    if is_object(r) and r.type == "ZIS::JobSpec" and is_object(r.properties) then
      add("resources" .. seg(key) .. ".properties.flow_name", r.properties.flow_name, "flow")
    end
  end
  local function machine(path, def)
    if not is_object(def) or not is_object(def.States) then return end
    for _, name in ipairs(sorted_keys(def.States)) do
      local s, sp = def.States[name], path .. ".States" .. seg(name)
      if is_object(s) then
        if s.Type == "Action" then add(sp .. ".ActionName", s.ActionName, "action") end
        if s.Type == "Map" then machine(sp .. ".Iterator", s.Iterator) end
      end
    end
  end
  for _, key in ipairs(keys) do
    local r = resources[key]
    if is_object(r) and r.type == "ZIS::Flow" and is_object(r.properties) then
      machine("resources" .. seg(key) .. ".properties.definition", r.properties.definition)
    end
  end
  return refs
end

--- validate.integration_of(bundle [, integration]) -> integration, conflicts
-- The one place that works out which integration a bundle is for, used by
-- validate and by deploy (zis.deploy.integration_of) so the two always
-- agree.  bundle: a table or a JSON string.  integration: the one the
-- bundle is for, when the caller knows it; else the bundle's own: the one
-- its first job spec's flow_name names (job specs in key order), else its
-- first ActionName's.  Returns that integration (nil when no reference
-- names one) and a list of problems {severity = "error", path =, message =},
-- one for each other integration the references name, at its first
-- reference.  A bundle belongs to one integration: it is uploaded to
-- /registry/{integration}/bundles, and its flows and actions are scoped to
-- that integration.
-- source: bundles ("integration: The name of the integration this bundle
-- belongs to"); custom-actions ("Custom actions are scoped to a ZIS
-- integration"; ActionName: replace INTEGRATION "with your integration key")
local function integration_of(bundle, integration)
  if type(bundle) == "string" then bundle = zis_core.decode_json(bundle) end
  if type(bundle) ~= "table" then return integration, {} end
  local refs = references(bundle)
  if integration == nil and refs[1] then integration = refs[1].integration end
  local conflicts, seen = {}, {}
  for _, r in ipairs(refs) do
    if r.integration ~= integration and not seen[r.integration] then
      seen[r.integration] = true
      conflicts[#conflicts + 1] = { severity = "error", path = r.path,
        message = format("names integration '%s', but the bundle is for '%s': a bundle " ..
                         "belongs to one integration", r.integration, integration) }
    end
  end
  return integration, conflicts
end

-- Raises on a second argument validate cannot use, naming it.
local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("bad argument #2 to 'validate' (table or nil expected, got " .. type(opts) .. ")", 3)
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      error(format("bad argument #2 to 'validate' (unknown option '%s'; known: integration)",
                   tostring(k)), 3)
    elseif type(v) ~= want then
      error(format("bad argument #2 to 'validate' (option '%s' must be a %s, got %s)", k, want,
                   type(v)), 3)
    end
  end
  return opts
end

--- zis.validate(bundle [, opts]) -> ok, problems
-- bundle: a table or a JSON string.  opts: nil, or {integration = name}:
-- the integration the bundle is for (its references must name it; without
-- it, the bundle's own, as integration_of works it out); any other key
-- raises.  ok is false when any problem is an error, and only then:
-- warnings never make a bundle invalid.  problems lists errors and then
-- warnings, each {severity =, path =, message =}, sorted by path (an
-- empty list when there is nothing to say).
local function validate(bundle, opts)
  opts = check_options(opts)
  if type(bundle) == "string" then
    local decoded, why = zis_core.decode_json(bundle)
    if decoded == nil then
      return false, { { severity = "error", path = "", message = "not JSON: " .. why } }
    end
    bundle = decoded
  end
  if type(bundle) ~= "table" then
    error("bad argument #1 to 'validate' (table or JSON string expected, got " .. type(bundle) .. ")", 2)
  end
  local c = setmetatable({ problems = {}, errors = 0,
                           names = { flow = {}, action = {}, job_spec = {}, config = {} } }, Checker)
  -- source: bundles (zis_template_version: mandatory, "Allowed value of
  -- \"2019-10-14\""; name: mandatory string; description: string;
  -- resources: mandatory object)
  if bundle.zis_template_version ~= TEMPLATE_VERSION then
    c:error("zis_template_version", format("must be \"%s\" (got %s)", TEMPLATE_VERSION,
                                           tostring(bundle.zis_template_version)))
  end
  if not nonempty_string(bundle.name) then
    c:error("name", "is required: a non-empty string")
  elseif #bundle.name > 50 then
    c:warning("name", "is longer than 50 characters, which ZIS tools are known to refuse")
  end
  if bundle.description ~= nil and type(bundle.description) ~= "string" then
    c:error("description", "must be a string")
  end
  local resources = bundle.resources
  if not is_object(resources) then
    c:error("resources", "must be an object of resources keyed by name")
    resources = {}
  end
  -- first pass: names by kind, so references can be resolved in any order
  local keys = sorted_keys(resources)
  for _, key in ipairs(keys) do
    local r = resources[key]
    local kind = is_object(r) and RESOURCE_TYPES[r.type]
    if kind and is_object(r.properties) and nonempty_string(r.properties.name) then
      c.names[kind][r.properties.name] = key
    end
  end
  local count = { flow = 0, action = 0, job_spec = 0, config = 0 }
  for _, key in ipairs(keys) do
    local r, rp = resources[key], "resources" .. seg(key)
    if not is_object(r) then
      c:error(rp, "must be an object with type and properties")
    else
      local kind = RESOURCE_TYPES[r.type]
      local p = r.properties
      -- source: bundles (a bundle holds flows, custom action definitions
      -- and job specs; each resource {type, properties{name, ...}});
      -- custom-actions (type, properties, properties.name: mandatory)
      if not kind then
        c:error(rp .. ".type", format("must be ZIS::Flow, ZIS::Action::Http or ZIS::JobSpec (got %s)",
                                      tostring(r.type)))
      elseif not is_object(p) then
        c:error(rp .. ".properties", "must be an object")
      elseif kind ~= "config" then
        count[kind] = count[kind] + 1
        if not nonempty_string(p.name) then
          c:error(rp .. ".properties.name", "is required")
        elseif kind == "action" and p.name ~= key then
          -- custom-actions says properties.name "Must match the key for
          -- the resource" (and is at most 20 of [A-Za-z0-9_], which its own
          -- dotted examples break); published, working bundles break it
          -- too, so a warning.  References use properties.name.
          c:warning(rp .. ".properties.name", format("'%s' differs from the resource key '%s': " ..
            "Zendesk's guide asks an action's name to match its key", p.name, key))
        end
        if kind == "flow" then
          c:check_machine(rp .. ".properties.definition", p.definition)
        elseif kind == "job_spec" then
          -- source: jobspecs ("It contains an event source and type, and a
          -- reference to the flow to run"); bundles (example job spec)
          for _, f in ipairs{ "event_source", "event_type" } do
            if not nonempty_string(p[f]) then
              c:error(rp .. ".properties." .. f, "is required (e.g. support, ticket.TicketCreated)")
            end
          end
          c:check_ref(rp .. ".properties.flow_name", p.flow_name, "flow", "flow_name")
        elseif kind == "action" then
          c:check_http(rp .. ".properties.definition", p.definition)
        end
      end
    end
  end
  -- source: bundles ("A bundle can include: One or more flows, Zero or
  -- more custom action definitions, One or more job specs")
  if count.flow == 0 then c:error("resources", "a bundle needs at least one ZIS::Flow") end
  if count.job_spec == 0 then
    c:error("resources", "a bundle needs at least one ZIS::JobSpec (nothing would run the flow)")
  end
  -- references all name one integration: the one deployed to
  local _, conflicts = integration_of(bundle, opts.integration)
  for _, p in ipairs(conflicts) do c:error(p.path, p.message) end
  sort(c.problems, function(a, b)
    if a.severity ~= b.severity then return a.severity == "error" end
    if a.path ~= b.path then return a.path < b.path end
    return a.message < b.message
  end)
  return c.errors == 0, c.problems
end

-- zis.validate is this table's __call (a tail call: error levels are the
-- caller's); integration_of serves zis.deploy and the command line.
return setmetatable({ integration_of = integration_of },
                    { __call = function(_, ...) return validate(...) end })

-- zis.validate.states: the rules for a state machine (a flow's
-- definition, a Map's Iterator) and its states: the state types, the
-- transitions (StartAt, Next, End, Default, Catch[].Next), that a flow
-- can end, the fields each type takes, and the Catch and Retry blocks.
-- Methods of zis.validate.checker's Checker (a Choice state's rules are
-- zis.validate.choice's); "source:" comments cite Zendesk's pages by the
-- short names zis.validate's header lists.

local values = require "zis.validate.values"

local ipairs, next, tostring, type = ipairs, next, tostring, type
local concat, format, mtype = table.concat, string.format, math.type

local sorted_keys, seg = require("zis.util").sorted_keys, require("zis.util").path_step
local is_object, is_list, nonempty_string, json_type =
      require("zis.util").is_object, require("zis.util").is_list, values.nonempty_string, values.json_type

local STATE_TYPES = { Action = true, Choice = true, Map = true, Wait = true,
                      Succeed = true, Fail = true, Pass = true }
local UNSUPPORTED = { Task = "use an Action state", Parallel = "ZIS has no Parallel state" }
-- states that must say where to go next, or End = true
local NEEDS_NEXT = { Action = true, Map = true, Wait = true, Pass = true }
-- states that may not name a Next (or End) of their own
local NO_NEXT = { Succeed = true, Fail = true, Choice = true }
-- states that take Catch and Retry (ZIS: "Action and Map states")
local CATCHES = { Action = true, Map = true }

-- A whole number (a JSON integer, or a float with no fraction).
local function whole(v)
  return mtype(v) == "integer" or (mtype(v) == "float" and v == v // 1)
end

local Checker = {}

-- ErrorEquals of a Catch or Retry: a non-empty array of error names, and
-- only "States.ALL" means anything to ZIS.
function Checker:check_error_names(path, names, block)
  -- source: retry (Catch table: ErrorEquals "array of strings", mandatory;
  -- the Retry block's ErrorEquals likewise)
  if not is_list(names) or #names == 0 then
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
  if not is_list(c) or #c == 0 then
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
  if not is_list(r) or #r == 0 then
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
    if not is_list(s.Choices) or #s.Choices == 0 then
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

return Checker

-- zis.validate.choice: the rules for a Choice state's rules: the
-- comparisons ZIS supports and their operands, And/Or/Not, and Next only
-- on a top-level rule.  Methods of zis.validate.checker's Checker;
-- "source:" comments cite Zendesk's pages by the short names
-- zis.validate's header lists.

local values = require "zis.validate.values"

local ipairs = ipairs
local concat, format = table.concat, string.format

local sorted_keys, seg = require("zis.util").sorted_keys, require("zis.util").path_step
local is_object, is_list, is_path, json_type =
      require("zis.util").is_object, require("zis.util").is_list, values.is_path, values.json_type

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

local Checker = {}


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
    if not is_list(v) or #v == 0 then
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

return Checker

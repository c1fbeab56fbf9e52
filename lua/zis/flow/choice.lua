-- zis.flow.choice: the rules of a Choice state, evaluated.
--
-- ZIS's supported comparisons are listed on its Choice state page
-- (https://developer.zendesk.com/documentation/integration-services/developer-guide/choice-state/);
-- their meaning is Amazon States Language's
-- (https://states-language.net/spec.html#choice-state).  The ASL-only
-- operators (IsString, IsNumeric, IsBoolean, IsTimestamp, StringMatches,
-- the other ...Path forms) are evaluated too, so a rule means the same
-- here as in ASL, although zis.validate refuses them in a bundle (ZIS
-- does not list them).
--
-- evaluate(rule, data) -> matched, why.  why is one line for the trace:
-- the comparison with the value it saw, "$.count (3) NumericLessThan 5".

local path = require "zis.flow.path"

local ipairs, math, pairs, string, table, tonumber, tostring, type =
      ipairs, math, pairs, string, table, tonumber, tostring, type

local NULL = path.null
local M = {}

-- Comparison -> {kind, relation}.  kind is the JSON type both sides must
-- have; a value of another type makes the comparison false, not an error
-- (ASL: "the comparison ... evaluates to false" on a type mismatch).
local RELATIONS = {
  Equals = function(a, b) return a == b end,
  LessThan = function(a, b) return a < b end,
  GreaterThan = function(a, b) return a > b end,
  LessThanEquals = function(a, b) return a <= b end,
  GreaterThanEquals = function(a, b) return a >= b end,
}
local COMPARE = {}
for _, kind in ipairs{ "String", "Numeric", "Boolean", "Timestamp" } do
  for rel, f in pairs(RELATIONS) do
    if kind ~= "Boolean" or rel == "Equals" then
      COMPARE[kind .. rel] = { kind = kind, rel = f }
      COMPARE[kind .. rel .. "Path"] = { kind = kind, rel = f, path = true }
    end
  end
end
M.COMPARISONS = COMPARE

local TESTS = { IsNull = true, IsPresent = true, IsString = true, IsNumeric = true, IsBoolean = true,
                IsTimestamp = true }

-- An RFC 3339 timestamp -> seconds since the epoch (a float with the
-- fraction), or nil.  ASL: "Timestamps ... must conform to RFC3339
-- profile ISO 8601, with ... an uppercase T ... and an uppercase Z" or a
-- numeric offset.
local function days_from_civil(y, m, d)
  -- Howard Hinnant's algorithm: days since 1970-01-01, any year
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function timestamp(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  local frac = 0
  local f = rest:match("^%.(%d+)")
  if f then
    frac = tonumber("0." .. f)
    rest = rest:sub(#f + 2)
  end
  local offset
  if rest == "Z" then offset = 0
  else
    local sign, oh, om = rest:match("^([%+%-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "-" and -1 or 1)
  end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec + frac - offset
end
M.timestamp = timestamp

-- is, value: whether v is a `kind`, and the value to compare.
local function as_kind(kind, v)
  if kind == "String" then return type(v) == "string", v end
  if kind == "Numeric" then return math.type(v) ~= nil, v end
  if kind == "Boolean" then return type(v) == "boolean", v end
  local t = timestamp(v)
  return t ~= nil, t
end

-- ASL StringMatches: * matches any run of characters, \* a star, \\ a
-- backslash; nothing else is special.
local function glob_match(s, pattern)
  local parts, i, n = { "^" }, 1, #pattern
  while i <= n do
    local c = pattern:sub(i, i)
    if c == "\\" and i < n then
      parts[#parts + 1] = pattern:sub(i + 1, i + 1):gsub("%W", "%%%0")
      i = i + 2
    else
      parts[#parts + 1] = c == "*" and ".-" or c:gsub("%W", "%%%0")
      i = i + 1
    end
  end
  parts[#parts + 1] = "$"
  return s:find(table.concat(parts)) ~= nil
end

local function show(v)
  if v == nil then return "missing" end
  if type(v) == "string" then return string.format("%q", v):gsub("\\\n", "\\n") end
  return path.as_text(v)
end

local function operator_of(rule)
  for k in pairs(rule) do
    if COMPARE[k] or TESTS[k] or k == "StringMatches" or k == "And" or k == "Or" or k == "Not" then
      return k
    end
  end
end

--- evaluate(rule, data) -> matched, why.  A Variable (or ...Path operand)
-- that matches nothing is a runtime error (ASL: States.Runtime), except
-- for IsPresent, which exists to ask, and the Is<Type> tests, which are
-- false on a missing value.
function M.evaluate(rule, data)
  local op = operator_of(rule)
  if op == nil then
    path.raise("States.Runtime", "a Choice rule has no comparison this simulator knows")
  end
  if op == "And" or op == "Or" then
    local whys = {}
    for _, sub in ipairs(rule[op]) do
      local ok, why = M.evaluate(sub, data)
      whys[#whys + 1] = "(" .. why .. ")"
      -- short-circuit, and say only what decided it
      if op == "And" and not ok then return false, why end
      if op == "Or" and ok then return true, why end
    end
    return op == "And", table.concat(whys, op == "And" and " and " or " or ")
  end
  if op == "Not" then
    local ok, why = M.evaluate(rule.Not, data)
    return not ok, "not (" .. why .. ")"
  end
  local var = rule.Variable
  local found, v = path.get(data, var)
  local operand = rule[op]
  if op == "IsPresent" then
    return found == operand, string.format("%s %s present", var, found and "is" or "is not")
  end
  if TESTS[op] then
    local is
    if not found then is = false
    elseif op == "IsNull" then is = v == NULL
    elseif op == "IsString" then is = type(v) == "string"
    elseif op == "IsNumeric" then is = math.type(v) ~= nil
    elseif op == "IsBoolean" then is = type(v) == "boolean"
    else is = timestamp(v) ~= nil end
    return is == operand, string.format("%s (%s) %s %s", var, show(found and v or nil), op, tostring(operand))
  end
  if not found then
    path.raise("States.Runtime", "Choice rule " .. op .. ": the Variable '" .. tostring(var) ..
               "' matches nothing in the state's input")
  end
  if op == "StringMatches" then
    local ok = type(v) == "string" and type(operand) == "string" and glob_match(v, operand)
    return ok, string.format("%s (%s) StringMatches %s", var, show(v), show(operand))
  end
  local c = COMPARE[op]
  local shown = show(operand)
  if c.path then
    shown = operand .. " (" .. show(path.resolve(data, operand, "Choice rule " .. op)) .. ")"
    operand = path.resolve(data, operand, "Choice rule " .. op)
  end
  local a_is, a = as_kind(c.kind, v)
  local b_is, b = as_kind(c.kind, operand)
  local ok = a_is and b_is and c.rel(a, b)
  local why = string.format("%s (%s) %s %s", var, show(v), op, shown)
  if not a_is then why = why .. ": not a " .. c.kind:lower() .. (c.kind == "Numeric" and " value" or "") end
  return ok, why
end

return M

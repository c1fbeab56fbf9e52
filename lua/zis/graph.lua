-- zis.graph: a picture of a bundle, as Graphviz DOT or Mermaid text.
--
-- A bundle is read into a small model first (flows, their states and
-- edges, job specs, problems), and the model is then written out by one of
-- two writers.  The model is built in a fixed order (resources by key,
-- states from StartAt outwards, then the rest by name) and node ids are
-- numbered in that order, so the same bundle always gives the same text:
-- the committed example image can be checked to be current.
--
-- Names come from bundles, which come from anyone: every label goes
-- through one function per format that makes it inert (quotes, brackets,
-- backslashes, entities, newlines, control characters, broken UTF-8), so
-- any bundle gives a diagram that dot and Mermaid accept.
--
-- States that zis.validate finds fault with, and states no path from
-- StartAt reaches, are drawn in red; the problem is the tooltip (DOT) or
-- an extra label line (Mermaid, whose tooltips GitHub does not show).
--
-- With opts.trace (a zis.flow.run result, or its JSON), the path a run
-- took is drawn over the diagram: the states it entered and the edges it
-- followed in blue, and the state it failed in filled red.
--
-- This file holds the public functions and the checks of their arguments;
-- the work is done in lua/zis/graph/: model.lua (bundle -> model),
-- text.lua (label text), trace.lua (a run drawn over the model), dot.lua
-- and mermaid.lua (the two writers), graphviz.lua (dot, for SVG and PNG).

local zis_core = require "zis.core"
local util = require "zis.util"
local build = require("zis.graph.model").build
local to_dot = require("zis.graph.dot").write
local to_mermaid = require("zis.graph.mermaid").write
local run_dot = require("zis.graph.graphviz").run

local concat, pairs, setmetatable, tostring, type =
      table.concat, pairs, setmetatable, tostring, type
local error = error

local sorted_keys, is_object = util.sorted_keys, util.is_object

---------------------------------------------------------------------------
-- The public functions
---------------------------------------------------------------------------

local graph = {}

local WRITERS = { dot = to_dot, mermaid = to_mermaid }
local FORMATS = { dot = true, mermaid = true, svg = true, png = true }

local function decode(bundle)
  if type(bundle) == "string" then
    local decoded, why = zis_core.decode_json(bundle)
    if decoded == nil then return nil, "not JSON: " .. tostring(why) end
    bundle = decoded
  end
  if not is_object(bundle) then return nil, "a bundle is a JSON object" end
  return bundle
end

-- bundle (decoded) -> text | nil, message, code
local function produce(b, opts, fmt)
  if type(opts.trace) == "string" then
    local t, why = zis_core.decode_json(opts.trace)
    if t == nil then return nil, "the trace is not JSON: " .. tostring(why), "error" end
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.trace = t
    opts = copy
  end
  local model = build(b, opts)
  if WRITERS[fmt] then return WRITERS[fmt](model) end
  return run_dot(to_dot(model), fmt, type(opts.dot) == "string" and opts.dot or "dot")
end

-- zis.graph's options and the Lua types each takes.
local OPTIONS = {
  format = { string = true, text = "a string" },
  dot = { string = true, text = "a string (the dot program)" },
  validate = { boolean = true, text = "a boolean" },
  integration = { string = true, text = "a string" },
  trace = { string = true, table = true, text = "a zis.flow.run result or its JSON text" },
}
local OPTION_NAMES = concat(sorted_keys(OPTIONS), ", ")

-- Edit distance, for "did you mean": a misspelt key is one or two edits
-- away from the one meant.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(k)
  if type(k) ~= "string" then return "" end
  local best, best_d
  for name in pairs(OPTIONS) do
    local d = distance(k, name)
    if d <= 2 and (not best_d or d < best_d or (d == best_d and name < best)) then best, best_d = name, d end
  end
  return best and (" (did you mean '" .. best .. "'?)") or ""
end

--- zis.graph(bundle [, opts]) -> text | nil, message
-- bundle: a table or JSON text.  opts.format: "dot" (default), "mermaid",
-- "svg" or "png" (these two run Graphviz's dot: opts.dot, default "dot"
-- on PATH); opts.validate = false leaves zis.validate's findings out;
-- opts.integration is passed to zis.validate; opts.trace (a zis.flow.run
-- result, or its JSON text) draws the path that run took.  Misuse (a bundle that is
-- neither a table nor a string, an unknown format, an unknown option or
-- one of the wrong type) raises; text that is
-- not a JSON object, or a missing or failing dot, returns nil, message.
local function diagram(bundle, opts, level)
  if type(bundle) ~= "string" and type(bundle) ~= "table" then
    error("bad argument #1 to 'graph' (table or JSON string expected, got " .. type(bundle) .. ")", level)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'graph' (table expected, got " .. type(opts) .. ")", level)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      error("bad argument #2 to 'graph' (unknown option '" .. tostring(k) .. "'" .. suggest(k) ..
            "; known: " .. OPTION_NAMES .. ")", level)
    elseif not want[type(v)] then
      error("bad argument #2 to 'graph' (option '" .. k .. "' must be " .. want.text .. ", got " ..
            type(v) .. ")", level)
    end
  end
  local fmt = opts.format or "dot"
  if not FORMATS[fmt] then
    error("bad argument #2 to 'graph' (format must be dot, mermaid, svg or png, got " ..
          tostring(fmt) .. ")", level)
  end
  local b, why = decode(bundle)
  if not b then return nil, why end
  local out, message = produce(b, opts, fmt)
  if out == nil then return nil, message end
  return out   -- one value, so print(zis.graph(b)) prints the diagram alone
end
function graph.diagram(bundle, opts) return diagram(bundle, opts, 3) end

--- graph.render(bundle, {format =, dot =, ...}) -> text | nil, message, code
-- What `zis graph` does: as zis.graph, but it never raises.  code is
-- "usage" for an unknown format or a missing dot (the message says how to
-- install it: exit 2), "error" for a bundle that is not JSON or a dot
-- that fails (exit 1).
function graph.render(bundle, opts)
  opts = type(opts) == "table" and opts or {}
  local fmt = opts.format or "dot"
  if not FORMATS[fmt] then
    return nil, "unknown format '" .. tostring(fmt) .. "': use dot, mermaid, svg or png", "usage"
  end
  local b, why = decode(bundle)
  if not b then return nil, why, "error" end
  return produce(b, opts, fmt)
end

-- zis.graph(bundle, opts) is graph.diagram; graph.render is for the command.
return setmetatable(graph, { __call = function(_, bundle, opts) return diagram(bundle, opts, 3) end })

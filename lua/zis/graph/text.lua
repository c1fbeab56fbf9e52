-- zis.graph.text: the text of a diagram's labels, shared by the model and
-- the writers: names made displayable (valid UTF-8, no control
-- characters), cut to a bounded length, and a node's label lines; and
-- str, for the names read from a bundle (a non-empty string or nil).

local concat, ipairs, tostring, type, utf8 = table.concat, ipairs, tostring, type, utf8

local M = {}

-- The non-empty string v, or nil.
function M.str(v) return type(v) == "string" and v ~= "" and v or nil end

-- Replaces each byte that does not start a valid UTF-8 sequence with
-- U+FFFD, and each control character but newline with its Control
-- Pictures symbol (U+2400 + code; DEL is U+2421), so that the writers
-- only ever see printable, valid text.
local function clean(s)
  s = tostring(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, bad = utf8.len(s, i)
    local stop = len and n or bad - 1
    if stop >= i then out[#out + 1] = s:sub(i, stop) end
    if len then break end
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return (concat(out):gsub("[%z\1-\9\11-\31\127]", function(c)
    local b = c:byte()
    return utf8.char(b == 127 and 0x2421 or 0x2400 + b)
  end))
end

-- At most max characters (not bytes), with an ellipsis when cut.
local function shorten(s, max)
  if utf8.len(s) <= max then return s end
  return s:sub(1, utf8.offset(s, max) - 1) .. "…"
end

-- A node's lines: its name, then its own lines.
local function label_of(node)
  local lines = { node.name }
  for _, l in ipairs(node.lines) do lines[#lines + 1] = l end
  return lines
end

M.clean, M.shorten, M.label_of = clean, shorten, label_of

return M

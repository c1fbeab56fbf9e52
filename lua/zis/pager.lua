-- zis.pager: one iterator for every endpoint row that pages.
--
-- for item in client:bundles(integration, {page_size = 100}) do ... end
-- Pages are fetched lazily, following meta.after while meta.has_more;
-- only the current page is held.  An iterator cannot return nil, err, so
-- it raises the error object; it never ends a loop early in silence: a
-- page it cannot read (the list not an array, has_more not a boolean, a
-- repeated cursor) raises too.  Its fourth value is a to-be-closed object,
-- so a break releases the page at once.

local errors = require "zis.errors"
local request = require "zis.request"

local build = request.build
local error, ipairs, pairs, pcall, select, setmetatable, tostring, type =
      error, ipairs, pairs, pcall, select, setmetatable, tostring, type
local math_type = math.type

local M = {}

-- A JSON array as the decoder gives one (an empty one too), or an empty
-- table a caller's fake built: an object with keys is not one.
local util = require "zis.util"
local is_list = util.is_list

-- pager(row, list) -> the iterator method; `list` is the row's method.
function M.pager(row, list)
  local spec = row.paging
  local it_name = spec.iterator
  return function(self, ...)
    local nargs = select("#", ...)
    local args = { ... }
    local opts_i = nargs
    for i, a in ipairs(row.args) do if a[2] == "options" then opts_i = i end end
    local opts = args[opts_i]
    -- check the arguments now, before any request
    local ok, msg = pcall(build, row, ...)
    if not ok then error((msg:gsub("to '" .. row.name .. "'", "to '" .. it_name .. "'")), 2) end
    local base = {}
    if type(opts) == "table" then for k, v in pairs(opts) do base[k] = v end end
    local _, first_path = pcall(build, row, ...)
    local page, items, i, done, seen = nil, nil, 0, false, {}
    local function fail(message)
      done, page, items = true, nil, nil
      error(errors.new{ kind = "decode", method = row.method, message = message, path = first_path }, 0)
    end
    local function step()
      while not done do
        if items then
          i = i + 1
          local item = items[i]
          if item ~= nil then return item end
          local meta = page.meta
          if type(meta) ~= "table" or meta.has_more == nil or meta.has_more == false then break end
          if meta.has_more ~= true then
            fail("meta.has_more is " .. tostring(meta.has_more) .. ", not true or false")
          end
          local cursor = meta.after
          -- configs document page[after] as an integer: send its digits
          if math_type(cursor) == "integer" then cursor = tostring(cursor) end
          if type(cursor) ~= "string" or cursor == "" then
            fail("meta.has_more is true but meta.after is not a cursor")
          elseif seen[cursor] then
            fail("server repeated cursor '" .. cursor .. "': stopping, pagination would loop forever")
          end
          seen[cursor] = true
          base.after, base.before = cursor, nil
        end
        page, items = nil, nil
        args[opts_i] = base
        local res, err = list(self, table.unpack(args, 1, #row.args))
        if not res then
          done = true
          error(err, 0)
        end
        if type(res) ~= "table" then fail("response is not a JSON object") end
        if spec.items then
          if not is_list(res[spec.items]) then fail("response has no '" .. spec.items .. "' array") end
          items = res[spec.items]
        else  -- grouped by type: each item gets its type
          items = {}
          for _, g in ipairs(spec.groups) do
            local group = res[g]
            if group ~= nil and not is_list(group) then fail("response's '" .. g .. "' is not an array") end
            if group ~= nil then
              for _, item in ipairs(group) do
                if type(item) == "table" and item.type == nil then item.type = g end
                items[#items + 1] = item
              end
            end
          end
        end
        page, i = res, 0
      end
      done, page, items = true, nil, nil
      return nil
    end
    -- the fourth value of a generic for: a break releases the page at once
    local closer = setmetatable({}, { __close = function() done, page, items = true, nil, nil end })
    return step, nil, nil, closer
  end
end

return M

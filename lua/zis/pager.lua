-- zis.pager: one iterator for every endpoint row that pages.
--
-- for item in client:bundles(integration, {page_size = 100}) do ... end
-- Pages are fetched lazily, following meta.after while meta.has_more;
-- only the current page is held.  A row whose cursor no source settles
-- (paging.follow = "any": configs) takes meta.after, else links.next,
-- else a top-level next, and ends when has_more is false or no cursor is
-- given; a URL there is followed only on the client's own host and the
-- list's own path (its page[after], else its query as it is), so the
-- client's credentials go nowhere else.  An iterator cannot return nil, err, so
-- it raises the error object; it never ends a loop early in silence: a
-- page it cannot read (the list not an array, has_more not a boolean, a
-- repeated cursor) raises too.  Its fourth value is a to-be-closed object,
-- so a break releases the page at once.

local core = require "zis.core"
local errors = require "zis.errors"
local request = require "zis.request"

local build = request.build
local error, ipairs, pairs, pcall, select, setmetatable, tonumber, tostring, type =
      error, ipairs, pairs, pcall, select, setmetatable, tonumber, tostring, type
local math_type = math.type
local null = core.null

local M = {}

-- A JSON array as the decoder gives one (an empty one too), or an empty
-- table a caller's fake built: an object with keys is not one.
local util = require "zis.util"
local is_list = util.is_list

local function unescape(v)
  return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Where a next-page value of a row with paging.follow leads: a cursor
-- (a string, an integer's digits), or a URL on this client's host and
-- the list's path (`list_path`): its page[after] as the cursor, else
-- its path and query, to fetch as they are.  Returns "cursor", value |
-- "path", path and query | nil, why it cannot be followed.
local function next_page(self, v, list_path)
  if math_type(v) == "integer" then return "cursor", tostring(v) end
  if type(v) ~= "string" or v == "" then return nil, "is not a cursor" end
  local rest
  if v:find("^%a[%w+.-]*://") then
    local base = core.state(self).base_url
    if v:sub(1, #base) ~= base then return nil, "is on another host: not followed" end
    rest = v:sub(#base + 1)
  elseif v:sub(1, 1) == "/" then
    rest = v
  else
    return "cursor", v   -- an opaque cursor
  end
  local path, query = rest:match("^([^?#]*)%??([^#]*)")
  if path ~= list_path then
    return nil, (rest:sub(1, 1) == "/" and "is another path" or "is on another host") .. ": not followed"
  end
  for k, val in query:gmatch("([^&=]+)=([^&]*)") do
    if unescape(k) == "page[after]" and val ~= "" then return "cursor", unescape(val) end
  end
  if query == "" then return nil, "names no page" end
  return "path", path .. "?" .. query
end

-- pager(row, list [, fetch]) -> the iterator method; `list` is the row's
-- method; `fetch(self, path, integration)` calls the row on a path and
-- query a page named (paging.follow).
function M.pager(row, list, fetch)
  local spec = row.paging
  local it_name = spec.iterator
  local follow = spec.follow
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
    local list_path = first_path:match("^[^?]*")
    local integration = row.args[1] and row.args[1][2] == "integration" and args[1] or nil
    local page, items, i, done, seen, goto_path = nil, nil, 0, false, {}, nil
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
          local cursor
          if follow then
            -- meta.after, else links.next, else next; none: the last page
            if type(meta) ~= "table" then meta = {} end
            if meta.has_more == false then break end
            if meta.has_more ~= nil and meta.has_more ~= true then
              fail("meta.has_more is " .. tostring(meta.has_more) .. ", not true or false")
            end
            local v, from = meta.after, "meta.after"
            if v == nil or v == null then
              v, from = type(page.links) == "table" and page.links.next or nil, "links.next"
              if v == nil or v == null then v, from = page.next, "next" end
            end
            if v == nil or v == null or v == "" then break end
            local how, where = next_page(self, v, list_path)
            if not how then fail(from .. " " .. where) end
            cursor, goto_path = where, how == "path" and where or nil
          else
            if type(meta) ~= "table" or meta.has_more == nil or meta.has_more == false then break end
            if meta.has_more ~= true then
              fail("meta.has_more is " .. tostring(meta.has_more) .. ", not true or false")
            end
            cursor = meta.after
            -- configs document page[after] as an integer: send its digits
            if math_type(cursor) == "integer" then cursor = tostring(cursor) end
            if type(cursor) ~= "string" or cursor == "" then
              fail("meta.has_more is true but meta.after is not a cursor")
            end
          end
          if seen[cursor] then
            fail("server repeated cursor '" .. cursor .. "': stopping, pagination would loop forever")
          end
          seen[cursor] = true
          base.after, base.before = cursor, nil
        end
        page, items = nil, nil
        args[opts_i] = base
        local res, err
        if goto_path then
          res, err = fetch(self, goto_path, integration)
        else
          res, err = list(self, table.unpack(args, 1, #row.args))
        end
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

-- zis.mock.configs: the ZIS configs service in the local registry: list
-- by scope (a `*` wildcard), create, replace, merge and delete.  Adds
-- Registry:configs to zis.mock.state's Registry; zis.mock.services routes
-- to it.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"
local is_object = require("zis.util").is_object

local encode, null = core.encode_json, core.null
local api_error, ok, created = answers.api_error, answers.ok, answers.created
local invalid, missing, body_object = answers.invalid, answers.missing, answers.body_object
local url_decode, paginate, wildcard = answers.url_decode, answers.paginate, answers.wildcard
local now_iso, deep_merge, json_array, ZIS = answers.now_iso, answers.deep_merge, answers.json_array, answers.ZIS
local Registry = state.Registry
local ACCOUNT_ID = state.ACCOUNT_ID

local M = {}

local function config_view(c)
  return { id = c.id, scope = c.scope, config = c.config, integration = c.integration,
           zendesk_account_id = ACCOUNT_ID, created_at = c.created_at,
           updated_at = c.updated_at }
end

local function pct(s)
  return (tostring(s):gsub("[^%w%-_.~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

-- A page whose next cursor is said otherwise than meta.after, as the
-- reference's example also shows (readings.configs_cursor): links.next, an
-- absolute URL with page[after] in its query ("links") or a URL on this
-- host naming the cursor `cursor` ("links_query"), with meta.has_more; or
-- a top-level next, the integer cursor, and no meta ("next").
local function other_cursor(mode, integ, q, host)
  return function(page, meta)
    local body = '{"configs":' .. json_array(page)
    local after = meta.after
    if mode == "next" then
      body = body .. ',"next":' .. (after ~= null and after or "null")
    else
      local url = null
      if after ~= null then
        url = ZIS .. "/integrations/" .. pct(integ) .. "/configs?filter%5Bscope%5D=" ..
              pct(q["filter[scope]"]) .. (q["page[size]"] and ("&page%5Bsize%5D=" .. pct(q["page[size]"])) or "") ..
              (mode == "links" and "&page%5Bafter%5D=" or "&cursor=") .. pct(after)
        if mode == "links" then url = "http://" .. host .. url end
      end
      body = body .. ',"links":' .. encode{ next = url } .. ',"meta":' .. encode{ has_more = meta.has_more }
    end
    return ok(body .. "}")
  end
end

function Registry:configs(integ, method, rest, q, body, host)
  local st = self:services_state(integ)
  if rest == "" and method == "GET" then
    local scope = q["filter[scope]"]
    if not scope or scope == "" then return invalid("filter[scope] is required") end
    local mode = self.readings.configs_cursor
    if mode == "links_query" and q.cursor then q["page[after]"], q.cursor = q.cursor, nil end
    local pat, items = wildcard(scope), {}
    for _, c in ipairs(st.configs) do
      if c.scope:match(pat) then items[#items + 1] = c end
    end
    -- Zendesk answers 404 when nothing matches (docs/zendesk-api.md)
    if #items == 0 then return missing("no configs match scope " .. scope) end
    return paginate(items, q, "configs", config_view, function(c) return c.id end,
                    mode ~= "meta" and other_cursor(mode, integ, q, host or "127.0.0.1") or nil)
  elseif rest == "" and method == "POST" then
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    if type(req.scope) ~= "string" or req.scope == "" then return invalid("scope is required") end
    if not is_object(req.config) then return invalid("config must be a JSON object") end
    for _, c in ipairs(st.configs) do
      if c.scope == req.scope then
        return api_error(409, "1010", "a config for scope " .. req.scope .. " already exists", "Conflict")
      end
    end
    self.next_id = self.next_id + 1
    local c = { id = self.next_id, scope = req.scope, config = req.config, integration = integ,
                created_at = now_iso(), updated_at = now_iso() }
    st.configs[#st.configs + 1] = c
    return created("config", config_view(c))
  end
  local scope = rest:match("^/([^/]+)$")
  if not scope then return nil end
  scope = url_decode(scope)
  local c, idx
  for i, x in ipairs(st.configs) do if x.scope == scope then c, idx = x, i end end
  if method ~= "PUT" and method ~= "PATCH" and method ~= "DELETE" then return nil end
  if not c then return missing("config for scope " .. scope .. " not found") end
  if method == "DELETE" then
    table.remove(st.configs, idx)
    return self:deleted()
  end
  local req = body_object(body)
  if not req or not is_object(req.config) then return invalid("config must be a JSON object") end
  if method == "PUT" then c.config = req.config else deep_merge(c.config, req.config) end
  c.updated_at = now_iso()
  return ok(encode{ config = config_view(c) })
end

return M

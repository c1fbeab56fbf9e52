-- zis.mock.links: the ZIS links service in the local registry: links
-- selected by type and object names (`*` wildcards), created, listed,
-- merged into and deleted.  Adds Registry:links to zis.mock.state's
-- Registry; zis.mock.services routes to it.

local core = require "zis.core"
local state = require "zis.mock.state"
local answers = require "zis.mock.answers"
local is_object = require("zis.util").is_object

local encode = core.encode_json
local ok, created, no_content = answers.ok, answers.created, answers.no_content
local invalid, missing, body_object = answers.invalid, answers.missing, answers.body_object
local paginate, wildcard = answers.paginate, answers.wildcard
local now_iso, deep_merge = answers.now_iso, answers.deep_merge
local Registry = state.Registry
local ACCOUNT_ID = state.ACCOUNT_ID

local M = {}

local function link_view(l)
  return { id = l.id, uuid = l.id, account_id = ACCOUNT_ID, integration = l.integration,
           link_type = l.link_type, left_object = l.left_object, right_object = l.right_object,
           created_at = l.created_at, updated_at = l.updated_at }
end

local function check_object(o, side)
  if not is_object(o) or type(o.name) ~= "string" or o.name == "" then
    return invalid(side .. ".name is required")
  end
  if o.metadata ~= nil and not is_object(o.metadata) then
    return invalid(side .. ".metadata must be a JSON object")
  end
  return nil
end

-- The links a query selects; or nil and the 400 answer.
local function select_links(st, q)
  if not q.link_type or q.link_type == "" then
    return nil, invalid("link_type is required")
  end
  local left, right = q.left_object_name, q.right_object_name
  if (not left or left == "") and (not right or right == "") then
    return nil, invalid("left_object_name or right_object_name is required")
  end
  local lt, lp, rp = wildcard(q.link_type), left and wildcard(left), right and wildcard(right)
  local out = {}
  for _, l in ipairs(st.links) do
    if l.link_type:match(lt) and (not lp or l.left_object.name:match(lp))
      and (not rp or l.right_object.name:match(rp)) then
      out[#out + 1] = l
    end
  end
  return out
end

function Registry:links(integ, method, q, body)
  local st = self:services_state(integ)
  if method == "POST" then
    local req = body_object(body)
    if not req then return invalid("request body is not a JSON object") end
    if type(req.link_type) ~= "string" or req.link_type == "" then
      return invalid("link_type is required")
    end
    local e, b, ct = check_object(req.left_object, "left_object")
    if e then return e, b, ct end
    e, b, ct = check_object(req.right_object, "right_object")
    if e then return e, b, ct end
    local l = { id = self:uuid(), integration = integ, link_type = req.link_type,
                left_object = { name = req.left_object.name, metadata = req.left_object.metadata or {} },
                right_object = { name = req.right_object.name, metadata = req.right_object.metadata or {} },
                created_at = now_iso(), updated_at = now_iso() }
    st.links[#st.links + 1] = l
    return created("link", link_view(l))
  end
  if method ~= "GET" and method ~= "PATCH" and method ~= "DELETE" then return nil end
  local found, s, b, ct = select_links(st, q)
  if not found then return s, b, ct end
  -- no match: whether a GET is 404 or an empty 200, a DELETE 404 or 204,
  -- no source settles (readings.links_get_no_match, links_delete_no_match)
  if #found == 0 and method == "GET" and self.readings.links_get_no_match == 404 then
    return missing("no links match")
  end
  if method == "GET" then
    return paginate(found, q, "links", link_view, function(l) return l.id end)
  end
  if #found == 0 and method == "DELETE" and self.readings.links_delete_no_match == 204 then
    return no_content()
  end
  if #found == 0 then return missing("link not found") end
  if method == "DELETE" then
    local gone = {}
    for _, l in ipairs(found) do gone[l] = true end
    for i = #st.links, 1, -1 do if gone[st.links[i]] then table.remove(st.links, i) end end
    return self:deleted()
  end
  local req = body_object(body)
  if not req then return invalid("request body is not a JSON object") end
  if #found > 1 then return invalid("the query selects more than one link") end
  local l = found[1]
  for _, side in ipairs{ "left_object", "right_object" } do
    local o = req[side]
    if o ~= nil then
      if not is_object(o) then return invalid(side .. " must be a JSON object") end
      if o.metadata ~= nil and not is_object(o.metadata) then
        return invalid(side .. ".metadata must be a JSON object")
      end
    end
  end
  for _, side in ipairs{ "left_object", "right_object" } do
    local o = req[side]
    if o then
      if type(o.name) == "string" and o.name ~= "" then l[side].name = o.name end
      if o.metadata then deep_merge(l[side].metadata, o.metadata) end
    end
  end
  if type(req.link_type) == "string" and req.link_type ~= "" then l.link_type = req.link_type end
  l.updated_at = now_iso()
  return ok(encode{ link = link_view(l) })
end

return M

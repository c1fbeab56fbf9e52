-- zis.validate.resources: the rules for the properties of a job spec
-- (its event and the flow it runs) and the definition of an HTTP action
-- (method, url or path, headers, queryParams).  Methods of
-- zis.validate.checker's Checker (a flow's definition is
-- zis.validate.states'); "source:" comments cite Zendesk's pages by the
-- short names zis.validate's header lists.

local values = require "zis.validate.values"

local ipairs, type = ipairs, type
local format = string.format

local seg = require("zis.util").path_step
local is_object, is_list, nonempty_string, json_type =
      require("zis.util").is_object, require("zis.util").is_list, values.nonempty_string, values.json_type

-- HTTP methods of a custom action (zis-custom-actions: supported values)
local METHODS = { GET = true, HEAD = true, PUT = true, POST = true, DELETE = true,
                  OPTIONS = true, PATCH = true, TRACE = true }

local Checker = {}

-- The properties of a ZIS::JobSpec, at resource path rp.
function Checker:check_job_spec(rp, p)
  -- source: jobspecs ("It contains an event source and type, and a
  -- reference to the flow to run"); bundles (example job spec)
  for _, f in ipairs{ "event_source", "event_type" } do
    if not nonempty_string(p[f]) then
      self:error(rp .. ".properties." .. f, "is required (e.g. support, ticket.TicketCreated)")
    end
  end
  self:check_ref(rp .. ".properties.flow_name", p.flow_name, "flow", "flow_name")
end

-- headers or queryParams of an HTTP action: [{key, value | value.$}].
-- source: custom-actions (definition properties: headers and queryParams
-- as arrays of {key, value} objects; a ".$" key holds a reference path)
function Checker:check_pairs(path, list)
  if list == nil then return end
  if not is_list(list) then
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

return Checker

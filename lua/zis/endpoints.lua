-- zis.endpoints: every ZIS endpoint the client calls, one row each.
--
-- Each client method that calls the API is made from its row by one
-- dispatcher (zis.client), and every iterator by one pager; adding an
-- endpoint is one row here plus its spec.  A row says:
--
--   name     the method name
--   method   the HTTP verb
--   path     the path template; {name} holes are filled, percent-encoded,
--            from the parameters of the same name
--   args     the method's parameters after self, in order: {name, kind, ...}
--            kinds:  "integration"  an integration name (1 to 64 of a-z 0-9 - _)
--                    "string"       a non-empty string
--                    "enum"         one of `values`
--                    "job_spec"     a job spec name, short or zis:{i}:job_spec:{n}
--                    "body"         a table (encoded as JSON); with `text`, a
--                                   JSON string is sent byte for byte
--                    "options"      a table whose keys are listed in `options`
--            where it goes (`to`): "path" (the hole of that name), "query"
--            (parameter `param`), "body" (the whole body), or "body.<field>"
--   options  for an "options" parameter: {key, type, to, param, required}
--            types: "page_size" (integer 1..100), "cursor" (a string;
--            zis.null is refused), "string" (non-empty), "text" (any string)
--   body     the name errors give the body's root (config.x, bundle.x)
--   auth     which credentials Zendesk accepts (docs/zendesk-api.md,
--            "Credentials"; zis.client's auth_for chooses per client):
--            "admin"     basic, or an admin's own OAuth token (list and
--                        create integrations, the Support API's token mint)
--            "upload"    basic only (Zendesk refuses every OAuth token)
--            "registry"  basic, or a token bound to the integration
--            "services"  only a token bound to the integration
--            "client_credentials"  no Authorization: the body carries the
--                        admin's OAuth client id and secret (built in C)
--   idempotent  may be retried after a connection failure or a 502/504
--            (GET, PUT, DELETE and the bundle upsert); the others take a
--            fresh connection, so libcurl never silently sends them twice
--   returns  "json" (the decoded body, the default) or "true"
--   paging   for list endpoints: {items = key of the page's array} or
--            {groups = {keys...}} (connections), and the iterator's name
--   internal true for rows the client uses itself (no public method)
--   empty_on_404  the items key of a list that Zendesk answers 404 when
--            nothing matches: that 404 is an empty page
--   The readings of answers no source settles (docs/zendesk-api.md,
--   "Unsettled"), which zis.client's dispatcher applies:
--   retry_405  the internal row a 405 is retried as, once (PATCH, then PUT)
--   gone_on_404  a 404 means there was nothing to delete: true
--   object_as  a single object, bare or under any one key: answered as
--            {[object_as] = the object}
--   list_as  {key, fallback keys...}: a list under the key, a fallback
--            key or bare: answered as {[key] = the list}
--   unlisted_on_404  a 404 or 405 means the endpoint does not exist: the
--            error says the listing is unavailable (not that it is empty)
--   paging.follow = "any"  the next page from meta.after, else links.next
--            (a cursor, or a URL on the client's host and the list's path),
--            else a top-level next; the end when has_more is false or no
--            cursor is given

local REG = "/api/services/zis/registry"
local SVC = "/api/services/zis/integrations/{integration}"

local integration = { "integration", "integration", to = "path" }

-- Cursor paging options as the API names them.
local function paging(extra)
  local o = {
    { "page_size", "page_size", to = "query", param = "page[size]" },
    { "after", "cursor", to = "query", param = "page[after]" },
    { "before", "cursor", to = "query", param = "page[before]" },
  }
  for _, x in ipairs(extra or {}) do o[#o + 1] = x end
  return o
end

-- The connection types and their fields, once for the client, the CLI,
-- the manifest and the local registry: the secret (redacted in every
-- read) and the plain fields; all are required on create.
local CONNECTION_FIELDS = {
  api_key = { secret = "api_key", plain = { "header_name", "allowed_domain" } },
  basic_auth = { secret = "password", plain = { "username", "allowed_domain" } },
  bearer_token = { secret = "token", plain = { "allowed_domain" } },
}
local CONNECTION_TYPES = { "api_key", "basic_auth", "bearer_token" }

-- The header names an API key connection may not use (case-insensitive)
-- and the prefixes it may not start with: the client refuses them before
-- any request and the local registry answers 400 (docs/zendesk-api.md).
local RESERVED_HEADER_NAMES = {
  "accept-charset", "accept-encoding", "access-control-request-headers",
  "access-control-request-method", "authorization", "connection", "content-length",
  "content-type", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive",
  "origin", "proxy-authorization", "referer", "te", "trailer", "transfer-encoding",
  "upgrade", "user-agent", "via",
}
local RESERVED_HEADER_PREFIXES = { "x-zis-", "x-amz-", "x-forwarded-", "proxy-", "sec-" }

local LINK_QUERY = {
  { "link_type", "string", to = "query", param = "link_type", required = true },
  { "left_object_name", "string", to = "query", param = "left_object_name" },
  { "right_object_name", "string", to = "query", param = "right_object_name" },
}

local rows = {
  ---------------------------------------------------------------- registry
  { name = "list_integrations", method = "GET", path = REG .. "/integrations",
    args = {}, auth = "admin", idempotent = true },
  { name = "create_integration", method = "POST", path = REG .. "/{integration}",
    args = { integration,
             { "opts", "options", to = "body", options = {
                 { "description", "text", to = "body.description" } } } },
    body = "description", auth = "admin" },
  { name = "list_bundles", method = "GET", path = REG .. "/{integration}/bundles",
    args = { integration, { "opts", "options", options = paging() } },
    auth = "registry", idempotent = true, paging = { items = "bundles", iterator = "bundles" } },
  { name = "upload_bundle", method = "POST", path = REG .. "/{integration}/bundles",
    args = { integration, { "bundle", "body", to = "body", text = true } },
    body = "bundle", auth = "upload", idempotent = true, returns = "true" },
  { name = "get_bundle", method = "GET", path = REG .. "/{integration}/bundles/{uuid}",
    args = { integration, { "uuid", "string", to = "path" } },
    auth = "registry", idempotent = true },
  { name = "delete_bundle", method = "DELETE", path = REG .. "/{integration}/bundles/{uuid}",
    args = { integration, { "uuid", "string", to = "path" } },
    auth = "registry", idempotent = true, returns = "true" },
  { name = "list_job_specs", method = "GET", path = REG .. "/{integration}/job_specs",
    args = { integration, { "opts", "options", options = paging() } },
    auth = "registry", idempotent = true, paging = { items = "job_specs", iterator = "job_specs" } },
  { name = "install_job_spec", method = "POST", path = REG .. "/job_specs/install",
    args = { { "integration", "integration" },
             { "name", "job_spec", to = "query", param = "job_spec_name" } },
    auth = "registry", returns = "true" },
  { name = "uninstall_job_spec", method = "DELETE", path = REG .. "/job_specs/install",
    args = { { "integration", "integration" },
             { "name", "job_spec", to = "query", param = "job_spec_name" } },
    auth = "registry", idempotent = true, returns = "true" },

  ---------------------------------------------------------------- configs
  { name = "list_configs", method = "GET", path = SVC .. "/configs",
    args = { integration, { "opts", "options", required = true, options = paging{
      { "scope", "string", to = "query", param = "filter[scope]", required = true } } } },
    auth = "services", idempotent = true,
    -- the reference's example shows three ways to say the next page
    paging = { items = "configs", iterator = "configs", follow = "any" },
    -- Zendesk answers 404 when no config matches the scope: an empty list
    empty_on_404 = "configs" },
  { name = "create_config", method = "POST", path = SVC .. "/configs",
    args = { integration, { "scope", "string", to = "body.scope" },
             { "config", "body", to = "body.config" } },
    body = "config", auth = "services" },
  { name = "replace_config", method = "PUT", path = SVC .. "/configs/{scope}",
    args = { integration, { "scope", "string", to = "path" },
             { "config", "body", to = "body.config" } },
    body = "config", auth = "services", idempotent = true },
  { name = "merge_config", method = "PATCH", path = SVC .. "/configs/{scope}",
    args = { integration, { "scope", "string", to = "path" },
             { "changes", "body", to = "body.config" } },
    body = "config", auth = "services" },
  { name = "delete_config", method = "DELETE", path = SVC .. "/configs/{scope}",
    args = { integration, { "scope", "string", to = "path" } },
    auth = "services", idempotent = true, returns = "true" },

  ------------------------------------------------------------ connections
  { name = "list_connections", method = "GET", path = SVC .. "/connections/all",
    args = { integration, { "opts", "options", options = paging() } },
    auth = "services", idempotent = true,
    paging = { groups = { "api_key", "basic_auth", "bearer_token", "oauth" },
               iterator = "connections" } },
  { name = "create_connection", method = "POST", path = SVC .. "/connections/{type}",
    args = { integration, { "type", "enum", to = "path", values = CONNECTION_TYPES },
             { "fields", "body", to = "body" } },
    body = "connection", auth = "services", check = "connection" },
  -- get_connection (zis.client) reads by type through one of these two:
  -- API-key, basic and bearer connections by type, OAuth connections
  -- through the legacy endpoint, which answers those only, unwrapped.
  { name = "get_typed_connection", method = "GET", path = SVC .. "/connections/{type}/{name}",
    args = { integration, { "type", "enum", to = "path", values = CONNECTION_TYPES },
             { "name", "string", to = "path" } },
    auth = "services", idempotent = true, internal = true },
  { name = "get_oauth_connection", method = "GET", path = "/api/services/zis/connections/{integration}",
    args = { integration, { "name", "string", to = "query", param = "name" } },
    auth = "services", idempotent = true, internal = true },
  -- no source says which verb updates a typed connection: PATCH, and on
  -- a 405 the same request once as PUT
  { name = "update_connection", method = "PATCH", path = SVC .. "/connections/{type}/{name}",
    args = { integration, { "type", "enum", to = "path", values = CONNECTION_TYPES },
             { "name", "string", to = "path" }, { "fields", "body", to = "body" } },
    body = "connection", auth = "services", check = "connection", retry_405 = "update_connection_put" },
  { name = "update_connection_put", method = "PUT", path = SVC .. "/connections/{type}/{name}",
    args = { integration, { "type", "enum", to = "path", values = CONNECTION_TYPES },
             { "name", "string", to = "path" }, { "fields", "body", to = "body" } },
    body = "connection", auth = "services", check = "connection", idempotent = true, internal = true },
  { name = "delete_connection", method = "DELETE", path = SVC .. "/connections/{type}/{name}",
    args = { integration, { "type", "enum", to = "path", values = CONNECTION_TYPES },
             { "name", "string", to = "path" } },
    auth = "services", idempotent = true, returns = "true" },

  ---------------------------------------------------- OAuth clients, flows
  -- documented {"clients":[...]}; a bare array and oauth_clients are taken
  { name = "list_oauth_clients", method = "GET",
    path = "/api/services/zis/connections/oauth/clients/{integration}",
    args = { integration }, auth = "services", idempotent = true,
    list_as = { "clients", "oauth_clients" } },
  { name = "create_oauth_client", method = "POST",
    path = "/api/services/zis/connections/oauth/clients/{integration}",
    args = { integration, { "fields", "body", to = "body" } },
    body = "oauth_client", auth = "services" },
  -- the wrapping is unsettled ({"oauth_client":…}, {"client":…} or bare)
  { name = "get_oauth_client", method = "GET",
    path = "/api/services/zis/connections/oauth/clients/{integration}/{uuid}",
    args = { integration, { "uuid", "string", to = "path" } },
    auth = "services", idempotent = true, object_as = "oauth_client" },
  { name = "update_oauth_client", method = "PATCH",
    path = "/api/services/zis/connections/oauth/clients/{integration}/{uuid}",
    args = { integration, { "uuid", "string", to = "path" }, { "fields", "body", to = "body" } },
    body = "oauth_client", auth = "services" },
  -- deleting a client deletes the OAuth connections made with it
  { name = "delete_oauth_client", method = "DELETE",
    path = "/api/services/zis/connections/oauth/clients/{integration}/{uuid}",
    args = { integration, { "uuid", "string", to = "path" } },
    auth = "services", idempotent = true, returns = "true" },
  { name = "start_oauth_flow", method = "POST",
    path = "/api/services/zis/connections/oauth/start/{integration}",
    args = { integration, { "fields", "body", to = "body" } },
    body = "oauth_flow", auth = "services", check = "oauth_flow" },
  -- a client-credentials flow ends with a GET of the access_codes URL that
  -- start answered (finish_oauth_flow in zis.client takes that URL)
  { name = "access_code", method = "GET",
    path = "/api/services/zis/connections/oauth/access_codes/{integration}",
    args = { integration, { "verification_code", "string", to = "query", param = "verification_code" } },
    auth = "services", internal = true },

  ------------------------------------------------------------------ links
  { name = "list_links", method = "GET", path = "/api/services/zis/links/{integration}",
    args = { integration, { "query", "options", required = true,
                            options = paging(LINK_QUERY), names = true } },
    auth = "services", idempotent = true, paging = { items = "links", iterator = "links" },
    -- no source says whether no match is 404 or an empty 200: both are empty
    empty_on_404 = "links" },
  { name = "create_link", method = "POST", path = "/api/services/zis/links/{integration}",
    args = { integration, { "fields", "body", to = "body" } },
    body = "link", auth = "services" },
  { name = "update_link", method = "PATCH", path = "/api/services/zis/links/{integration}",
    args = { integration, { "query", "options", required = true, options = LINK_QUERY, names = true },
             { "fields", "body", to = "body" } },
    body = "link", auth = "services" },
  -- a DELETE that matches nothing may be 404 or 204: nothing to delete
  { name = "delete_link", method = "DELETE", path = "/api/services/zis/links/{integration}",
    args = { integration, { "query", "options", required = true, options = LINK_QUERY, names = true } },
    auth = "services", idempotent = true, returns = "true", gone_on_404 = true },

  ------------------------------------------------------- inbound webhooks
  { name = "create_inbound_webhook", method = "POST",
    path = "/api/services/zis/inbound_webhooks/generic/{integration}",
    args = { integration, { "fields", "options", to = "body", required = true, options = {
      { "source_system", "string", to = "body.source_system", required = true },
      { "event_type", "string", to = "body.event_type", required = true } } } },
    body = "inbound_webhook", auth = "services" },
  -- paths take a webhook's uuid, never its id (a different value)
  { name = "get_inbound_webhook", method = "GET",
    path = "/api/services/zis/inbound_webhooks/generic/{integration}/{uuid}",
    args = { integration, { "uuid", "webhook_uuid", to = "path" } },
    auth = "services", idempotent = true },
  -- not in the reference; Zendesk's own zaf-toolbox calls it, a later
  -- runbook says there is none: a 404 or 405 says the list is unavailable
  { name = "list_inbound_webhooks", method = "GET",
    path = "/api/services/zis/inbound_webhooks/generic/{integration}/all",
    args = { integration }, auth = "services", idempotent = true, unlisted_on_404 = true },
  -- deleting a webhook is what revokes its credentials
  { name = "delete_inbound_webhook", method = "DELETE",
    path = "/api/services/zis/inbound_webhooks/generic/{integration}/{uuid}",
    args = { integration, { "uuid", "webhook_uuid", to = "path" } },
    auth = "services", idempotent = true, returns = "true" },

  ------------------------------- Support API: the integration's own token
  { name = "support_oauth_clients", method = "GET", path = "/api/v2/oauth/clients",
    args = { { "opts", "options", options = {
      { "page", "page_size", to = "query", param = "page" },
      { "per_page", "page_size", to = "query", param = "per_page" } } } },
    auth = "admin", idempotent = true, internal = true },
  { name = "mint_oauth_token", method = "POST", path = "/api/v2/oauth/tokens",
    args = { { "token", "body", to = "body.token" } },
    body = "token", auth = "admin", internal = true },
  -- the admin's own token, from the client-credentials grant of the
  -- admin's OAuth client (zis.new{oauth_client = ...}); C writes the body
  { name = "admin_token", method = "POST", path = "/oauth/tokens",
    args = {}, auth = "client_credentials", internal = true },
}

rows.CONNECTION_FIELDS = CONNECTION_FIELDS
rows.RESERVED_HEADER_NAMES, rows.RESERVED_HEADER_PREFIXES = RESERVED_HEADER_NAMES, RESERVED_HEADER_PREFIXES

-- Compile the templates once: the literal pieces and the holes, in order.
for _, row in ipairs(rows) do
  local pieces, pos = {}, 1
  for s, hole, e in row.path:gmatch("(){([%w_]+)}()") do
    pieces[#pieces + 1] = row.path:sub(pos, s - 1)
    pieces[#pieces + 1] = { hole }
    pos = e
  end
  pieces[#pieces + 1] = row.path:sub(pos)
  row.pieces = pieces
  row.returns = row.returns or "json"
  rows[row.name] = row
end

return rows

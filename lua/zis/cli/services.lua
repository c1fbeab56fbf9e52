-- zis.cli.services: the ZIS services commands (configs, connections, OAuth clients,
-- links, webhooks, the integration's token): every call on the
-- integration's own token, through for_integration.
-- zis.cli builds the parser, the help and the completions from these
-- entries (its header says what one holds).

return function(L)
local zis, core, out, err_out, fail, usage_error, read_file, getenv, INTEGRATION =
      L.zis, L.core, L.out, L.err_out, L.fail, L.usage_error, L.read_file, L.getenv,
      L.INTEGRATION

---------------------------------------------------------------------------
-- ZIS services commands (configs, connections, links, webhooks, token):
-- every call on the integration's own token, through for_integration.
---------------------------------------------------------------------------

-- A client for the integration's ZIS services; closed when `run` ends.
local function integration_client(ctx, integration)
  return ctx:client():for_integration(integration)
end

-- A JSON object from FILE, or from stdin when FILE is "-".
local function read_json_object(path)
  local text
  if path == "-" then
    text = io.stdin:read("a")
    if not text then fail("cannot read stdin") end
  else
    text = read_file(path, "a JSON object")
  end
  local v, why = zis.decode_json(text)
  local name = path == "-" and "stdin" or path
  if v == nil then fail(name .. ": not JSON (" .. tostring(why) .. "); expected a JSON object") end
  if type(v) ~= "table" or getmetatable(v) == zis.array_metatable then
    fail(name .. ": not a JSON object")
  end
  return v
end

-- A line typed on the terminal without echo, after a prompt on stderr
-- naming what is asked.  Echo is turned off with stty (stdin is the
-- terminal) and turned on again on every path: a line, end of input, a
-- failed read, Ctrl-C (lua.c's "interrupted!" is raised when io.read
-- returns, inside the pcall; it is raised again after, so the exit
-- status is 130).
local function read_hidden(prompt)
  err_out(prompt, ": ")
  io.stderr:flush()
  local echo_off = core.tty_echo(0, false)
  local ok, line = pcall(io.stdin.read, io.stdin, "l")
  if echo_off then core.tty_echo(0, true) end
  err_out("\n")   -- the newline the user's Enter did not echo
  if not ok then error(line, 0) end
  return line
end

local function stdin_is_terminal() return core.isatty(0) end

-- A secret, never from argv (ps shows argv): from the environment
-- variable --secret-env names, else the first line of stdin: typed
-- without echo after a prompt naming `what` on a terminal, read as it is
-- from a pipe.
local function read_secret(env_name, what)
  local v
  if env_name then
    v = getenv(env_name)
    if not v then usage_error("environment variable " .. env_name .. " is unset or empty") end
  else
    if stdin_is_terminal() then v = read_hidden(what) else v = io.stdin:read("l") end
    if v then v = v:gsub("\r$", "") end
    if not v or v == "" then
      usage_error("no secret (the " .. what .. "): give --secret-env VAR, or the secret on stdin")
    end
  end
  return v
end

-- Opens `path` for credentials shown once: a new file of mode 0600,
-- never through a symlink, made before the request whose answer it will
-- hold (a file that cannot be made costs no webhook), its folder made
-- when missing (0700).  The answer is written through this descriptor.
local function open_private(path)
  local zis_core = require "zis.core"
  local parent = path:match("^(.*)/[^/]*$")
  local ok, err = true, nil
  if parent and parent ~= "" then ok, err = zis_core.mkdirs(parent, 448) end
  local f
  if ok then f, err = zis_core.open_private(path) end
  if not f then
    if zis_core.file_type(path) == "file" then
      fail("cannot create " .. path .. " (it must not exist yet, and its folder must be writable)")
    end
    fail("cannot create " .. path .. ": " .. tostring(err):gsub("^.-: ", ""))
  end
  return f
end

-- type -> the field that holds its secret (zis.endpoints has the types)
local CONNECTION_SECRET = setmetatable({}, { __index = function(t, ctype)
  for ty, f in pairs(require("zis.endpoints").CONNECTION_FIELDS) do t[ty] = f.secret end
  return rawget(t, ctype)
end })

-- The live secrets a connection read can carry: Zendesk's listing shows an
-- OAuth connection's tokens, and the token answer they came in
-- (docs/zendesk-api.md), the legacy read too.  Printed as the API prints
-- the others ("*****") unless --show-secrets.
local LIVE_SECRETS = { "access_token", "refresh_token", "oauth_access_token_response_body" }
local function redact(x, show)
  if show or type(x) ~= "table" then return x end
  for _, k in ipairs(LIVE_SECRETS) do
    local v = x[k]
    if v ~= nil and v ~= zis.null and v ~= "" then x[k] = "*****" end
  end
  return x
end

local SHOW_SECRETS = { "--show-secrets", "print OAuth connections' live access and refresh tokens " ..
                       "(redacted by default)", flag = true }
local CONNECTION_TYPE = { "type", "api_key, basic_auth or bearer_token",
                          choices = { "api_key", "basic_auth", "bearer_token" } }

local commands = {
  {
    name = "configs", summary = "list, set or delete an integration's configs",
    description = "Configs of an integration (ZIS Configs API), on the integration's own token.",
    commands = {
      {
        name = "list", summary = "list configs",
        description = "Lists every config whose scope matches --scope ('*' is a wildcard).",
        args = { INTEGRATION },
        options = { { "--scope", "scope, '*' matches any run of characters", argname = "S",
                      type = "nonempty", default = "*" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local list = {}
          for x in c:configs(a.integration, { scope = a.scope, page_size = 100 }) do list[#list + 1] = x end
          ctx:show_list(list, { "SCOPE", "UPDATED", "CONFIG" }, function(x)
            return { x.scope, x.updated_at, zis.encode_json(x.config) }
          end)
        end,
      },
      {
        name = "set", summary = "create or replace a config from a JSON file (- for stdin)",
        description = "Replaces the config of SCOPE with a JSON object from FILE (or stdin for -), " ..
                      "creating it when missing.",
        args = { INTEGRATION, { "scope", "the config's scope", type = "nonempty" },
                 { "file", "a JSON object, or - for stdin" } },
        run = function(ctx, a)
          local config = read_json_object(a.file)
          local c <close> = integration_client(ctx, a.integration)
          local res, err = c:replace_config(a.integration, a.scope, config)
          local verb = "replaced"
          if not res and zis.is_error(err) and err.status == 404 then
            res, err = c:create_config(a.integration, a.scope, config)
            verb = "created"
          end
          res = ctx:check(res, err)
          if ctx.json then return ctx:json_out(res) end
          out(verb, " config ", a.scope, " of ", a.integration, "\n")
        end,
      },
      {
        name = "delete", summary = "delete a config",
        description = "Deletes the config of SCOPE.",
        args = { INTEGRATION, { "scope", "the config's scope", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:check(c:delete_config(a.integration, a.scope))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted config ", a.scope, " of ", a.integration, "\n")
        end,
      },
    },
  },
  {
    name = "connections", summary = "list, create or delete an integration's connections",
    description = "Connections of an integration (ZIS Connections API), on the integration's own " ..
                  "token. Secrets are read from an environment variable or stdin, never argv.",
    commands = {
      {
        name = "list", summary = "list every connection, with its type",
        description = "Lists every connection of every type. Zendesk redacts the typed connections' " ..
                      "secrets; an OAuth connection's live access and refresh tokens are redacted " ..
                      "here too, unless --show-secrets.",
        args = { INTEGRATION },
        options = { SHOW_SECRETS },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local list = {}
          for x in c:connections(a.integration, { page_size = 100 }) do
            list[#list + 1] = redact(x, a.show_secrets)
          end
          ctx:show_list(list, { "NAME", "TYPE", "DOMAIN", "UPDATED" }, function(x)
            return { x.name, x.type, x.allowed_domain ~= zis.null and x.allowed_domain or "", x.updated_at }
          end)
        end,
      },
      {
        name = "create", summary = "create an api_key, basic_auth or bearer_token connection",
        description = "Creates a connection. The secret (the API key, password or token) comes from " ..
                      "the environment variable --secret-env names, else from the first line of " ..
                      "stdin: never from argv, where ps would show it.",
        args = { INTEGRATION, { "type", "api_key, basic_auth or bearer_token",
                                choices = { "api_key", "basic_auth", "bearer_token" } },
                 { "name", "the connection's name (unique across types)", type = "nonempty" } },
        options = {
          { "--domain", "the allowed domain: a host name, optionally *.-prefixed", argname = "D",
            type = "nonempty" },
          { "--header", "api_key: the header that carries the key", argname = "H", type = "nonempty" },
          { "--username", "basic_auth: the user name", argname = "U", type = "nonempty" },
          { "--secret-env", "read the secret from this environment variable (else stdin)",
            argname = "VAR", type = "nonempty" },
        },
        run = function(ctx, a)
          if not a.domain then usage_error("--domain is required") end
          if a.type == "api_key" and not a.header then usage_error("api_key needs --header") end
          if a.type ~= "api_key" and a.header then usage_error("--header is for api_key only") end
          if a.type == "basic_auth" and not a.username then usage_error("basic_auth needs --username") end
          if a.type ~= "basic_auth" and a.username then usage_error("--username is for basic_auth only") end
          local fields = { name = a.name, allowed_domain = a.domain, header_name = a.header,
                           username = a.username }
          local what = (a.type == "api_key" and "API key" or a.type == "basic_auth" and
                        ("password of " .. a.username) or "bearer token") .. " for connection " .. a.name
          fields[CONNECTION_SECRET[a.type]] = read_secret(a.secret_env, what)
          local c <close> = integration_client(ctx, a.integration)
          local res = ctx:check(c:create_connection(a.integration, a.type, fields))
          if ctx.json then return ctx:json_out(res) end
          out("created ", a.type, " connection ", a.name, " for ", a.domain, "\n")
        end,
      },
      {
        name = "get", summary = "show one connection as JSON",
        description = "Shows one connection, with its type: read by --type, or (without it) " ..
                      "as an OAuth connection first, then each type. Live OAuth tokens are " ..
                      "redacted unless --show-secrets.",
        args = { INTEGRATION, { "name", "the connection's name", type = "nonempty" } },
        options = { { "--type", "api_key, basic_auth, bearer_token or oauth", argname = "T",
                      choices = { "api_key", "basic_auth", "bearer_token", "oauth" } }, SHOW_SECRETS },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:json_out(redact(ctx:check(c:get_connection(a.integration, a.name, a.type)), a.show_secrets))
        end,
      },
      {
        name = "oauth-finish", summary = "finish a client-credentials OAuth connection",
        description = "Finishes a client-credentials OAuth flow: fetches the access_codes URL that " ..
                      "the flow's start answered (its redirect_url), with the integration's own " ..
                      "token, which makes the OAuth connection. The URL must be on this Zendesk " ..
                      "host, for this integration. With --name, the connection is then read back " ..
                      "(any 2xx is a success, and Zendesk's answer is not documented).",
        args = { INTEGRATION, { "url", "the redirect_url the flow's start answered", type = "nonempty" } },
        options = { { "--name", "the connection's name (as given to the flow's start): confirm it exists",
                      argname = "N", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local res = ctx:check(c:finish_oauth_flow(a.integration, a.url, a.name and { name = a.name } or nil))
          if ctx.json then return ctx:json_out(type(res) == "table" and redact(res) or { finished = true }) end
          out("finished the OAuth connection", type(res) == "table" and res.name and (" " .. tostring(res.name)) or "",
              "\n")
        end,
      },
      {
        name = "delete", summary = "delete a connection",
        description = "Deletes a connection of the given type.",
        args = { INTEGRATION, CONNECTION_TYPE,
                 { "name", "the connection's name", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:check(c:delete_connection(a.integration, a.type, a.name))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted ", a.type, " connection ", a.name, "\n")
        end,
      },
    },
  },
  {
    name = "links", summary = "list an integration's links",
    description = "Lists the links of a type (ZIS Links API) matching --left and/or --right " ..
                  "('*' is a wildcard), on the integration's own token.",
    args = { INTEGRATION },
    options = {
      { "--type", "the link type", argname = "T", type = "nonempty", required = true },
      { "--left", "left object name", argname = "L", type = "nonempty" },
      { "--right", "right object name", argname = "R", type = "nonempty" },
    },
    run = function(ctx, a)
      if not a.left and not a.right then usage_error("give --left or --right (or both)") end
      local c <close> = integration_client(ctx, a.integration)
      local list = {}
      for x in c:links(a.integration, { link_type = a.type, left_object_name = a.left,
                                        right_object_name = a.right, page_size = 100 }) do
        list[#list + 1] = x
      end
      ctx:show_list(list, { "TYPE", "LEFT", "RIGHT", "ID" }, function(x)
        return { x.link_type, x.left_object and x.left_object.name, x.right_object and x.right_object.name, x.id }
      end)
    end,
  },
  {
    name = "webhooks", summary = "create or show an inbound webhook",
    description = "Inbound webhooks (ZIS Inbound Webhooks API), on the integration's own token.",
    commands = {
      {
        name = "create", summary = "create an inbound webhook (credentials shown once)",
        description = "Creates an inbound webhook. Its username and password are shown once: " ..
                      "--credentials-file writes the whole answer to a new file of mode 0600 " ..
                      "instead of printing them.",
        args = { INTEGRATION, { "source", "the source system (a job spec's event_source)", type = "nonempty" },
                 { "event", "the event type", type = "nonempty" } },
        options = { { "--credentials-file", "write the answer here (a new file, mode 0600)",
                      argname = "F", type = "nonempty" } },
        run = function(ctx, a)
          local f = a.credentials_file and open_private(a.credentials_file)
          local c <close> = integration_client(ctx, a.integration)
          local ok, res, err = pcall(c.create_inbound_webhook, c, a.integration,
                                     { source_system = a.source, event_type = a.event })
          if not (ok and res) and f then f:discard() end
          if not ok then error(res, 0) end
          res = ctx:check(res, err)
          if f then
            local wok, werr = f:write(zis.pretty_json(res))
            local cok, cerr = f:close()
            if not (wok and cok) then
              -- the file failed after all: the terminal is the last place for them
              err_out("zis: cannot write ", a.credentials_file, ": ", tostring(werr or cerr):gsub("^.-: ", ""),
                      "; the credentials, shown only once, follow\n")
            else
              if ctx.json then return ctx:json_out{ uuid = res.uuid, path = res.path,
                                                    credentials_file = a.credentials_file } end
              out("created inbound webhook ", tostring(res.uuid), "; credentials written to ",
                  a.credentials_file, " (mode 0600; they are shown only once)\n")
              return
            end
          end
          if ctx.json then return ctx:json_out(res) end
          out("created inbound webhook ", tostring(res.uuid), "\n",
              "path:     ", tostring(res.path), "\n",
              "username: ", tostring(res.username), "\n",
              "password: ", tostring(res.password), "\n",
              "(shown only once: store them now)\n")
        end,
      },
      {
        name = "get", summary = "show an inbound webhook (no password)",
        description = "Shows an inbound webhook as JSON (the API never shows the password again).",
        args = { INTEGRATION, { "uuid", "the webhook's uuid (not its id)", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:json_out(ctx:check(c:get_inbound_webhook(a.integration, a.uuid)))
        end,
      },
      {
        name = "list", summary = "list the inbound webhooks (no passwords)",
        description = "Lists an integration's inbound webhooks (an endpoint Zendesk does not " ..
                      "document, which its own zaf-toolbox calls).",
        args = { INTEGRATION },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local res = ctx:check(c:list_inbound_webhooks(a.integration))
          local list = type(res.webhooks) == "table" and res.webhooks or zis.array{}
          ctx:show_list(list, { "UUID", "SOURCE", "EVENT", "PATH" }, function(w)
            return { w.uuid, w.source_system, w.event_type, w.path }
          end)
        end,
      },
      {
        name = "delete", summary = "delete an inbound webhook (revokes its credentials)",
        description = "Deletes an inbound webhook by uuid; its username and password stop working.",
        args = { INTEGRATION, { "uuid", "the webhook's uuid (not its id)", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:check(c:delete_inbound_webhook(a.integration, a.uuid))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted inbound webhook ", a.uuid, "\n")
        end,
      },
    },
  },
  {
    name = "oauth-clients", summary = "list, show or delete an integration's OAuth clients",
    description = "The OAuth clients of an integration's OAuth connections (ZIS Connections API), " ..
                  "on the integration's own token. Their secrets come back redacted.",
    commands = {
      {
        name = "list", summary = "list the OAuth clients",
        description = "Lists the integration's OAuth clients.",
        args = { INTEGRATION },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local res = ctx:check(c:list_oauth_clients(a.integration))
          local list = type(res.clients) == "table" and res.clients or zis.array{}
          ctx:show_list(list, { "NAME", "UUID", "GRANT", "TOKEN URL" }, function(x)
            return { x.name, x.uuid, x.grant_type, x.token_url }
          end)
        end,
      },
      {
        name = "get", summary = "show one OAuth client as JSON",
        description = "Shows one OAuth client (its secret redacted).",
        args = { INTEGRATION, { "uuid", "the OAuth client's uuid", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:json_out(ctx:check(c:get_oauth_client(a.integration, a.uuid)))
        end,
      },
      {
        name = "delete", summary = "delete an OAuth client and its OAuth connections",
        description = "Deletes an OAuth client; Zendesk deletes the OAuth connections made with it too.",
        args = { INTEGRATION, { "uuid", "the OAuth client's uuid", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          ctx:check(c:delete_oauth_client(a.integration, a.uuid))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted OAuth client ", a.uuid, " (and the OAuth connections made with it)\n")
        end,
      },
    },
  },
  {
    name = "token", summary = "mint the integration's own OAuth token",
    description = "Mints a token for the integration's OAuth client (zis_INTEGRATION) with the " ..
                  "admin's credentials and prints when it expires; the token itself only with --show.",
    args = { INTEGRATION },
    options = { { "--show", "print the token (alone, for scripts)", flag = true } },
    run = function(ctx, a)
      local t = ctx:check(ctx:client():integration_token(a.integration))
      if ctx.json then
        return ctx:json_out{ client_id = t.client_id, expires_at = t.expires_at or zis.null,
                             expires_in = t.expires_in or zis.null,
                             scopes = t.scopes or zis.null, token = a.show and t.token or nil }
      end
      if a.show then return out(t.token, "\n") end
      out("minted a token for zis_", a.integration, " (OAuth client ", tostring(t.client_id), "), ",
          t.expires_at and ("expires at " .. t.expires_at) or "no expiry given",
          t.expires_in and string.format(" (in %d s)", math.floor(t.expires_in)) or "",
          "; --show prints it\n")
    end,
  },
}
commands.redact, commands.read_hidden = redact, read_hidden
return commands
end

-- The zis command's ZIS services subcommands (configs, connections, links,
-- webhooks, token), run as a user runs them against the local registry.
local zis = require "zis"
local H = require "spec.helper"

local TOKEN_PREFIX = "fake-zis-token-"

-- Runs zis with the admin's fake credentials, `stdin` (a string) fed to
-- it (zis's main in this process, H.zis_sh: 25 ms cheaper than bin/zis,
-- whose own behaviour cli_spec and cli_words_spec check); returns exit
-- status, stdout, stderr.
local function zis_cmd(args, env, stdin) return H.zis_sh(args, env, stdin) end

-- a usage error: status 2, one line, nothing sent to the ZIS services
local function refused(args, pattern, env, stdin)
  local before = #H.log()
  local code, out, err = zis_cmd(args, env, stdin)
  assert.equal(2, code, args .. ": " .. err)
  assert.equal("", out)
  assert.matches("^zis: [^\n]+\n$", err)
  assert.matches(pattern, err, 1, true)
  for i = before + 1, #H.log() do
    assert.is_nil(H.log()[i].path:find("/api/services/zis/integrations", 1, true), args .. " sent a request")
  end
end

local function ok_cmd(args, env, stdin)
  local code, out, err = zis_cmd(args, env, stdin)
  assert.equal(0, code, args .. ": " .. err)
  assert.equal("", err)
  return out
end

-- the Authorization headers the ZIS services received
local function bearer_only()
  for _, l in ipairs(H.log()) do
    if l.path:find("^/api/services/zis/") and not l.path:find("^/api/services/zis/registry/") then
      assert.equal("Bearer " .. TOKEN_PREFIX .. "demo-", l.headers.authorization:match("^(.*%-)%d+$"))
    end
  end
end

describe("zis command: ZIS services", function()
  before_each(function() H.fresh("demo") end)

  it("configs: set from a file or stdin (create, then replace), list as a table and as JSON, delete", function()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write('{"priority":"high","n":12345678901234}')
    f:close()
    assert.equal("created config settings of demo\n", ok_cmd("configs set demo settings " .. file))
    os.remove(file)
    assert.equal("replaced config settings of demo\n",
                 ok_cmd("configs set demo settings -", nil, '{"priority":"low","n":12345678901234}'))
    local out = ok_cmd("configs list demo")
    assert.matches("^SCOPE +UPDATED +CONFIG\nsettings +%S+ +", out)
    assert.matches('"n":12345678901234', out, 1, true)
    local list = zis.decode_json(ok_cmd("--json configs list demo --scope 'set*'"))
    assert.equal(1, #list)
    assert.equal("low", list[1].config.priority)
    assert.equal(0, #zis.decode_json(ok_cmd("--json configs list demo --scope 'x*'")))
    assert.equal("deleted config settings of demo\n", ok_cmd("configs delete demo settings"))
    local code, _, err = zis_cmd("configs delete demo settings")
    assert.equal(1, code)
    assert.matches("^zis: DELETE /api/services/zis/integrations/demo/configs/settings: 404", err)
    bearer_only()
  end)

  it("configs: refuses a non-object and bad arguments", function()
    local code, _, err = zis_cmd("configs set demo s -", nil, "[1,2]")
    assert.equal(1, code)
    assert.equal("zis: stdin: not a JSON object\n", err)
    refused("configs list Demo!", "not an integration name")
    refused("configs list demo --scope ''", "must not be empty")
    refused("configs", "command is required")
  end)

  it("connections: create with the secret from an environment variable or stdin, never argv", function()
    ok_cmd("connections create demo bearer_token acme --domain api.example.com --secret-env ACME_TOKEN",
           "ACME_TOKEN=fake-acme-token")
    local body = zis.decode_json(H.last().body)
    assert.same({ name = "acme", token = "fake-acme-token", allowed_domain = "api.example.com" }, body)
    ok_cmd("connections create demo api_key key --domain '*.example.com' --header X-Api-Key", nil,
           "fake-api-key\n")
    body = zis.decode_json(H.last().body)
    assert.equal("fake-api-key", body.api_key)
    assert.equal("X-Api-Key", body.header_name)
    ok_cmd("connections create demo basic_auth basic --domain api.example.com --username u", nil, "fake-pw")
    assert.equal("fake-pw", zis.decode_json(H.last().body).password)
    local out = ok_cmd("connections list demo")
    assert.matches("NAME +TYPE +DOMAIN +UPDATED\n", out)
    assert.matches("acme +bearer_token +api%.example%.com", out)
    assert.matches("key +api_key +%*%.example%.com", out)
    assert.matches("basic +basic_auth", out)
    local list = zis.decode_json(ok_cmd("--json connections list demo"))
    assert.equal(3, #list)
    for _, c in ipairs(list) do assert.is_string(c.type) end
    assert.equal("deleted bearer_token connection acme\n", ok_cmd("connections delete demo bearer_token acme"))
    bearer_only()
  end)

  it("connections: refuses before any request, with the rule in the message", function()
    refused("connections create demo bearer_token x --domain api.example.com", "no secret")
    refused("connections create demo bearer_token x --domain api.example.com --secret-env NOPE_UNSET",
            "NOPE_UNSET is unset or empty")
    refused("connections create demo bearer_token x --secret-env S", "--domain is required", "S=fake")
    refused("connections create demo api_key x --domain api.example.com", "api_key needs --header", nil, "k")
    refused("connections create demo basic_auth x --domain api.example.com", "needs --username", nil, "p")
    refused("connections create demo oauth x --domain api.example.com", "must be one of 'api_key'", nil, "p")
    refused("connections create demo bearer_token x --domain https://api.example.com", "without a scheme",
            nil, "fake")
    refused("connections create demo api_key x --domain api.example.com --header Cookie", "is reserved",
            nil, "fake")
    refused("connections create demo api_key x --domain api.example.com --header X-Zis-Id", "is reserved",
            nil, "fake")
  end)

  it("connections: a name taken by another type is the API's 409, exit status 1", function()
    ok_cmd("connections create demo bearer_token same --domain api.example.com", nil, "fake")
    local code, out, err = zis_cmd("connections create demo basic_auth same --domain api.example.com " ..
                                   "--username u", nil, "fake")
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("409 Conflict %(1010: a connection named same already exists%)\n$", err)
  end)

  it("links: lists by type and object names, with wildcards", function()
    local c = H.client():for_integration("demo")
    for i = 1, 3 do
      assert(c:create_link("demo", { link_type = "t", left_object = { name = "zendesk:" .. i },
                                     right_object = { name = "acme:" .. i } }))
    end
    c:close()
    local out = ok_cmd("links demo --type t --left 'zendesk:*'")
    assert.matches("^TYPE +LEFT +RIGHT +ID\n", out)
    local _, n = out:gsub("\nt +zendesk:%d +acme:%d ", "")
    assert.equal(3, n)
    local list = zis.decode_json(ok_cmd("--json links demo --type t --right acme:2"))
    assert.equal(1, #list)
    assert.equal("zendesk:2", list[1].left_object.name)
    refused("links demo --type t", "give --left or --right")
    refused("links demo --left a", "missing option '--type'")
  end)

  it("webhooks: create prints the credentials once, or writes them to a new 0600 file", function()
    local out = ok_cmd("webhooks create demo acme order.created")
    assert.matches("password: fake%-webhook%-password%-%d+\n", out)
    assert.matches("shown only once", out, 1, true)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local file = dir .. "/hook.json"
    out = ok_cmd("webhooks create demo acme order.updated --credentials-file " .. file)
    assert.is_nil(out:find("password", 1, true))
    assert.matches("credentials written to " .. file, out, 1, true)
    local p = io.popen("stat -c %a " .. file)
    assert.equal("600", p:read("l"))
    p:close()
    local saved = zis.decode_json(H.read(file))
    assert.equal("order.updated", saved.event_type)
    assert.is_string(saved.password)
    local shown = zis.decode_json(ok_cmd("webhooks get demo " .. saved.uuid))
    assert.equal(saved.username, shown.username)
    assert.is_nil(shown.password)
    -- an existing file is refused before the request: no webhook is made
    local before = #H.log()
    local code, _, err = zis_cmd("webhooks create demo acme again --credentials-file " .. file)
    assert.equal(1, code)
    assert.equal("zis: cannot create " .. file ..
                 " (it must not exist yet, and its folder must be writable)\n", err)
    assert.equal(before, #H.log())
    os.execute("rm -rf " .. dir)
  end)

  it("token: prints the expiry, and the token only with --show", function()
    local out = ok_cmd("token demo")
    assert.matches("^minted a token for zis_demo %(OAuth client %d+%), expires at %d%d%d%d%-", out)
    assert.is_nil(out:find(TOKEN_PREFIX, 1, true))
    local j = zis.decode_json(ok_cmd("--json token demo"))
    assert.is_nil(j.token)
    assert.equal("integer", math.type(j.client_id))
    out = ok_cmd("token demo --show")
    assert.matches("^fake%-zis%-token%-demo%-%d+\n$", out)
    assert.equal(TOKEN_PREFIX, zis.decode_json(ok_cmd("--json token demo --show")).token:sub(1, #TOKEN_PREFIX))
    local code, _, err = zis_cmd("token ghost")
    assert.equal(1, code)
    assert.matches("no OAuth client 'zis_ghost'", err, 1, true)
  end)

  it("--debug shows each attempt, the minting too, and never the token", function()
    local code, _, err = zis_cmd("--debug configs list demo")
    assert.equal(0, code, err)
    assert.matches("zis: POST /api/v2/oauth/tokens -> 201", err, 1, true)
    assert.matches("zis: GET /api/services/zis/integrations/demo/configs?", err, 1, true)
    assert.is_nil(err:find(TOKEN_PREFIX, 1, true), err)
  end)

  it("has --help for every new command", function()
    for _, words in ipairs{ "configs", "configs list", "configs set", "configs delete", "connections",
                            "connections list", "connections create", "connections delete", "links",
                            "webhooks", "webhooks create", "webhooks get", "token" } do
      local argv = {}
      for w in words:gmatch("%S+") do argv[#argv + 1] = w end
      argv[#argv + 1] = "--help"
      local code, out = H.zis_main(argv)   -- (in this process: 25 ms cheaper)
      assert.equal(0, code, words)
      assert.matches("Usage: zis " .. words, out, 1, true)
    end
    local _, out = H.zis_main{ "connections", "create", "--help" }
    assert.matches("--secret-env", out, 1, true)
  end)
end)

describe("zis command: OAuth connections, OAuth clients and webhooks as Zendesk has them", function()
  before_each(function() H.fresh("demo") end)

  -- an OAuth connection made through a client-credentials flow, as a user
  -- of the Lua API would; returns the admin's client for the integration
  local function oauth_connection()
    local admin = H.client()
    local svc = admin:for_integration("demo")
    local oc = assert(svc:create_oauth_client("demo", { name = "provider", client_id = "cid",
      client_secret = "fake-secret", token_url = "https://provider.example/token",
      grant_type = "client_credentials" }))
    local flow = assert(svc:start_oauth_flow("demo", { name = "prov_conn", oauth_client_name = "provider" }))
    return svc, oc, flow, admin
  end

  it("connections oauth-finish makes the connection; list and get never print its live tokens", function()
    local svc, _, flow = oauth_connection()
    assert.matches("^finished the OAuth connection prov_conn\n$",
                   ok_cmd("connections oauth-finish demo '" .. flow.redirect_url .. "'"))
    local live = assert(svc:get_connection("demo", "prov_conn", "oauth"))
    assert.matches("^fake%-provider%-access%-", live.access_token)
    for _, args in ipairs{ "connections list demo", "--json connections list demo",
                           "connections get demo prov_conn", "connections get demo prov_conn --type oauth" } do
      local out = ok_cmd(args)
      assert.is_nil(out:find(live.access_token, 1, true), args)
      assert.is_nil(out:find(live.refresh_token, 1, true), args)
    end
    local listed = zis.decode_json(ok_cmd("--json connections list demo"))
    assert.equal("*****", listed[1].access_token)
    assert.equal("*****", listed[1].refresh_token)
    -- an explicit flag shows them
    local shown = zis.decode_json(ok_cmd("--json connections list demo --show-secrets"))
    assert.equal(live.access_token, shown[1].access_token)
    assert.equal(live.refresh_token,
                 zis.decode_json(ok_cmd("connections get demo prov_conn --show-secrets")).refresh_token)
  end)

  it("connections oauth-finish refuses a URL of another host (exit 2, nothing sent)", function()
    refused("connections oauth-finish demo 'https://evil.example/api/services/zis/connections/oauth/" ..
            "access_codes/demo?verification_code=x'", "sent to no other place")
  end)

  it("connections get reads by type, or finds the type", function()
    local svc = H.client():for_integration("demo")
    assert(svc:create_connection("demo", "api_key", { name = "key1", api_key = "fake-key",
      header_name = "X-Api-Key", allowed_domain = "api.example.com" }))
    local got = zis.decode_json(ok_cmd("connections get demo key1"))
    assert.equal("api_key", got.type)
    assert.equal("*****", got.api_key)
    assert.equal("api_key", zis.decode_json(ok_cmd("connections get demo key1 --type api_key")).type)
    local code, _, err = zis_cmd("connections get demo nope")
    assert.equal(1, code)
    assert.matches("no connection named 'nope' %(of any type%)", err)
  end)

  it("oauth-clients list, get, delete (and the connections made with it go)", function()
    local svc, oc, flow = oauth_connection()
    assert(svc:finish_oauth_flow("demo", flow.redirect_url))
    assert.matches("^NAME +UUID +GRANT +TOKEN URL\nprovider +" .. oc.uuid:gsub("%-", "%%-"),
                   ok_cmd("oauth-clients list demo"))
    assert.equal("provider", zis.decode_json(ok_cmd("oauth-clients get demo " .. oc.uuid)).oauth_client.name)
    assert.matches("^deleted OAuth client", ok_cmd("oauth-clients delete demo " .. oc.uuid))
    assert.same({}, zis.decode_json(ok_cmd("--json oauth-clients list demo")))
    assert.same({}, zis.decode_json(ok_cmd("--json connections list demo")))
  end)

  it("webhooks list and delete, by uuid; an id is refused before any request", function()
    local svc = H.client():for_integration("demo")
    local w = assert(svc:create_inbound_webhook("demo", { source_system = "acme", event_type = "a" }))
    assert.matches("^UUID +SOURCE +EVENT +PATH\n" .. w.uuid:gsub("%-", "%%-") .. " +acme +a ",
                   ok_cmd("webhooks list demo"))
    refused("webhooks delete demo " .. w.id, "looks like the webhook's id")
    assert.equal("deleted inbound webhook " .. w.uuid .. "\n", ok_cmd("webhooks delete demo " .. w.uuid))
    assert.same({}, zis.decode_json(ok_cmd("--json webhooks list demo")))
  end)

  it("an admin OAuth client from the environment runs the services through the integration's token", function()
    local env = "ZENDESK_EMAIL= ZENDESK_API_TOKEN= ZENDESK_OAUTH_CLIENT_ID=" .. H.oauth_client.id ..
                " ZENDESK_OAUTH_CLIENT_SECRET=" .. H.oauth_client.secret
    assert.matches("^created config s1 of demo\n$", select(2, zis_cmd("configs set demo s1 -", env, "{}")))
    bearer_only()
    -- an upload needs basic credentials: the error says so and when API tokens end
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(zis.encode_json(H.bundle("demo", "b1")))
    f:close()
    local code, _, err = zis_cmd("bundle push demo " .. file, env)
    os.remove(file)
    assert.equal(1, code)
    assert.matches("refuses OAuth tokens on bundle upload", err, 1, true)
    assert.matches("2027-04-30", err, 1, true)
  end)
end)

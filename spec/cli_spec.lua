-- The zis command line, run as a user runs it.
local zis = require "zis"
local H = require "spec.helper"

local EXAMPLE = "examples/bundles/example.json"

-- Runs zis with the local registry's fake credentials in the environment
-- (zis's main in this process, H.zis_sh: 25 ms cheaper than a process);
-- returns exit status, stdout, stderr.  What only a process shows (its
-- path, its descriptors, signals) is run as bin/zis by the tests below.
local function zis_cmd(args, env, stdin) return H.zis_sh(args, env, stdin) end

describe("zis command", function()
  before_each(H.reset)

  it("prints usage, and --help for every command from the same definitions", function()
    local code, out = zis_cmd("--help")
    assert.equal(0, code)
    assert.matches("Usage: zis", out)
    local cli = require "zis.cli"
    local n = 0
    -- (in this process: H.zis_main runs what bin/zis runs, 25 ms cheaper)
    local function check(words, spec)
      local argv = {}
      for w in words:gmatch("%S+") do argv[#argv + 1] = w end
      argv[#argv + 1] = "--help"
      code, out = H.zis_main(argv)
      assert.equal(0, code, words)
      assert.matches("Usage: zis " .. words:gsub("%-", "%%-"), out)
      for _, o in ipairs(spec.options or {}) do assert.matches(o[1]:gsub("%-", "%%-"), out) end
      for _, a in ipairs(spec.args or {}) do assert.matches(a.choices and a.choices[1] or a[1]:upper(), out) end
      n = n + 1
      for _, sub in ipairs(spec.commands or {}) do check(words .. " " .. sub.name, sub) end
    end
    for _, spec in ipairs(cli.commands) do check(spec.name, spec) end
    assert.is_true(n >= 15)
    local _, err
    code, _, err = zis_cmd("")
    assert.equal(2, code)
    assert.equal("zis: a command is required (see zis --help)\n", err)
    code, _, err = zis_cmd("frobnicate")
    assert.equal(2, code)
    assert.equal("zis: unknown command 'frobnicate' (see zis --help)\n", err)
  end)

  -- one line on stderr, no traceback, no internal location, nothing sent
  local function refused(args, pattern, env)
    local code, out, err = zis_cmd(args, env)
    assert.equal(2, code, args .. ": " .. err)
    assert.equal("", out)
    assert.matches("^zis: [^\n]+\n$", err)
    assert.is_nil(err:find("traceback", 1, true), err)
    assert.is_nil(err:find("%.lua:%d"), err)
    if pattern then assert.matches(pattern, err, 1, true) end
    assert.same({}, H.log(), args .. " sent a request")
  end

  it("refuses unknown flags and missing or extra arguments before any request (exit 2)", function()
    refused("deploy " .. EXAMPLE .. " --dry-rn", "unknown option '--dry-rn' (did you mean '--dry-run'?)")
    refused("deploy " .. EXAMPLE .. " --uninstall_stale", "unknown option '--uninstall_stale'")
    refused("deploy " .. EXAMPLE .. " --concurrency=2", "unknown option '--concurrency'")
    refused("deploy " .. EXAMPLE .. " extra", "too many arguments")
    refused("integrations extra", "too many arguments")
    refused("bundles", "missing argument 'INTEGRATION'")
    refused("bundle frob x y", "unknown command 'frob'")
    refused("export example_integration /tmp/x --concurrency -1")
    refused("export example_integration /tmp/x --concurrency 0", "--concurrency: '0' is not an integer from 1 to 64")
    refused("export example_integration /tmp/x --concurrency 65")
    refused("completion tcsh")
  end)

  it("refuses misuse with one line, not a traceback (exit 2)", function()
    refused("create NewCo", "INTEGRATION: 'NewCo' is not an integration name")
    refused("install I zis:other:job_spec:x", "'I' is not an integration name")
    refused("install example_integration zis:other:job_spec:x",
            "job spec zis:other:job_spec:x belongs to integration other, not example_integration")
    refused("bundle get example_integration ''", "UUID: must not be empty")
  end)

  it("names the environment variables when settings are missing (exit 2)", function()
    refused("integrations", "set ZENDESK_URL (or ZENDESK_SUBDOMAIN)", "ZENDESK_URL= ZENDESK_SUBDOMAIN=")
    refused("integrations", "set ZENDESK_EMAIL with ZENDESK_API_TOKEN (or ZENDESK_PASSWORD), " ..
            "ZENDESK_OAUTH_TOKEN, or ZENDESK_OAUTH_CLIENT_ID with ZENDESK_OAUTH_CLIENT_SECRET",
            "ZENDESK_API_TOKEN=")
  end)

  it("fails (exit 1) when stdout cannot be written", function()
    assert.equal(0, (zis_cmd("deploy " .. EXAMPLE)))
    local _, listing = zis_cmd("--json bundles example_integration")
    local uuid = zis.decode_json(listing)[1].uuid
    local _, _, code = os.execute(string.format(
      "env ZENDESK_URL=%s ZENDESK_EMAIL=%s ZENDESK_API_TOKEN=%s bin/zis bundle get example_integration %s " ..
      ">/dev/full 2>/dev/null", H.url, H.email, H.token, uuid))
    assert.equal(1, code)
    local p = io.popen(string.format("env ZENDESK_URL=%s ZENDESK_EMAIL=%s ZENDESK_API_TOKEN=%s " ..
      "bin/zis integrations 2>&1 >&-", H.url, H.email, H.token))
    local err = p:read("a")
    local _, _, closed = p:close()
    assert.equal(1, closed)
    assert.matches("^zis: cannot write to stdout", err)
    _, _, code = os.execute("bin/zis --help >/dev/full 2>/dev/null")
    assert.equal(1, code)
  end)

  it("prints completion scripts for bash, zsh and fish", function()
    local code, out = zis_cmd("completion bash")
    assert.equal(0, code)
    assert.matches("complete %-F _zis", out)
    assert.matches("export", out)
    code, out = zis_cmd("completion zsh")
    assert.equal(0, code)
    assert.matches("#compdef zis", out)
    code, out = zis_cmd("completion fish")
    assert.equal(0, code)
    assert.matches("complete %-c zis", out)
    assert.matches("uninstall%-stale", out)
    -- bash offers each of a command's options once
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write((select(2, zis_cmd("completion bash"))))
    f:close()
    local p = io.popen("bash -c 'source " .. script .. "; COMP_WORDS=(zis deploy --); COMP_CWORD=2; _zis; " ..
                       "printf \"%s\\n\" \"${COMPREPLY[@]}\"'")
    local offered = {}
    for w in p:read("a"):gmatch("%S+") do offered[w] = (offered[w] or 0) + 1 end
    p:close()
    os.remove(script)
    assert.equal(1, offered["--help"])
    assert.equal(1, offered["--dry-run"])
  end)

  -- zis.core has no libcurl; zis.net (the client, libcurl and its thirty
  -- libraries: half of a command's start) loads when a request is made
  it("loads libcurl (zis.net) only for commands that make requests", function()
    local hook = "local r = require; require = function(n) " ..
                 "if n == 'zis.net' then io.stderr:write('zis.net loaded\\n') end return r(n) end"
    local function loads_net(args)
      local p = assert(io.popen(string.format("env LUA_INIT_5_4=\"%s\" ZENDESK_URL=%s ZENDESK_EMAIL=%s " ..
        "ZENDESK_API_TOKEN=%s lua5.4 bin/zis %s 2>&1 >/dev/null", hook, H.url, H.email, H.token, args)))
      local err = p:read("a")
      p:close()
      return err:find("zis.net loaded", 1, true) ~= nil
    end
    for _, args in ipairs{ "validate " .. EXAMPLE, "graph " .. EXAMPLE, "--help", "deploy --help", "completion bash",
                           "run examples/flows/bundle.json --flow triage_flow --input examples/flows/event_urgent.json",
                           "test examples/flows", "deploy " .. EXAMPLE .. " --dry-rn" } do
      assert.is_false(loads_net(args), args)
    end
    assert.is_true(loads_net("integrations"))
    assert.is_true(loads_net("--version --json"))   -- (the version line names libcurl's)
  end)

  it("runs from an absolute path and through a symlink, with no LUA_PATH", function()
    local dir = os.tmpname()
    os.remove(dir)
    local cwd = io.popen("pwd"):read("l")
    assert(os.execute("mkdir " .. dir .. " && ln -s '" .. cwd .. "/bin/zis' " .. dir .. "/zis"))
    for _, path in ipairs{ "'" .. cwd .. "/bin/zis'", dir .. "/zis" } do
      local p = io.popen("cd / && env -i PATH=/usr/bin:/bin ZENDESK_URL=" .. H.url .. " ZENDESK_EMAIL=" .. H.email ..
                         " ZENDESK_API_TOKEN=" .. H.token .. " " .. path .. " integrations 2>&1")
      local out = p:read("a")
      assert.is_true(p:close(), out)
      assert.matches("^NAME", out)
    end
    os.execute("rm -rf " .. dir)
  end)

  it("deploys, then lists with tables and JSON", function()
    local code, out, err = zis_cmd("deploy " .. EXAMPLE)
    assert.equal(0, code, err)
    assert.matches("installed job spec on_ticket_created", out)
    assert.matches("deployed: bundle example_bundle", out)
    -- progress is for a terminal: nothing of it in a pipe (spec/progress_spec.lua)
    assert.not_matches("deploying", err)
    code, out = zis_cmd("integrations")
    assert.equal(0, code)
    assert.matches("^NAME%s+DESCRIPTION\nexample_integration", out)
    code, out = zis_cmd("job-specs example_integration")
    assert.equal(0, code)
    assert.matches("on_ticket_created%s+yes%s+ticket.TicketCreated", out)
    code, out = zis_cmd("--json bundles example_integration")
    assert.equal(0, code)
    local list = zis.decode_json(out)
    assert.equal("example_bundle", list[1].name)
    code, out = zis_cmd("bundle get example_integration " .. list[1].uuid)
    assert.equal(0, code)
    assert.equal("example_bundle", zis.decode_json(out).name)
    code, out = zis_cmd("--json deploy " .. EXAMPLE)
    assert.equal(0, code)
    local report = zis.decode_json(out)
    assert.is_true(report.ok)
    assert.same({ "on_ticket_created" }, report.installed)
  end)

  it("push, install, uninstall, delete, export", function()
    assert.equal(0, (zis_cmd("create example_integration 'from the CLI'")))
    local code, out = zis_cmd("bundle push example_integration " .. EXAMPLE)
    assert.equal(0, code)
    assert.matches("uploaded", out)
    assert.equal(0, (zis_cmd("install example_integration on_ticket_created")))
    assert.equal(0, (zis_cmd("uninstall example_integration zis:example_integration:job_spec:on_ticket_created")))
    local dir = os.tmpname()
    os.remove(dir)
    code, out = zis_cmd("export example_integration " .. dir .. " --concurrency 4")
    assert.equal(0, code)
    assert.matches("exported 1 bundle%(s%)", out)
    assert.equal("example_bundle", zis.decode_json(H.read(dir .. "/example_bundle.json")).name)
    os.execute("rm -rf " .. dir)
    local _, listing = zis_cmd("--json bundles example_integration")
    code = zis_cmd("bundle delete example_integration " .. zis.decode_json(listing)[1].uuid)
    assert.equal(0, code)
  end)

  it("fails with one line on stderr and a non-zero status", function()
    local code, out, err = zis_cmd("bundle get nope some-uuid")
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("zis: GET /api/services/zis/registry/nope/bundles/some-uuid: 404 Missing Resource " ..
                 "(1020: integration nope not found)\n", err)
    local _
    code, _, err = zis_cmd("integrations", "ZENDESK_API_TOKEN=wrong-fake-token")
    assert.equal(1, code)
    assert.matches("^zis: GET [^\n]+: 401 Unauthorized", err)
    assert.is_nil(err:find("wrong-fake-token", 1, true))
  end)

  it("--timeout gives up on a slow answer (exit 1); a bad value is refused before any request", function()
    refused("--timeout 0 integrations", "--timeout: '0' is not a number of seconds from 0.001 to 86400")
    refused("integrations --timeout soon", "--timeout: 'soon' is not a number of seconds")
    H.control("POST", "config", { latency = 2 })   -- answered after 2 s: fine without --timeout
    local code, out, err = zis_cmd("--timeout 0.3 integrations")
    H.control("POST", "config", { latency = 0 })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^zis: GET /api/services/zis/registry/integrations: timeout", err)
  end)

  it("validate says what is wrong, with paths, and exits 1", function()
    local bad = os.tmpname()
    local f = io.open(bad, "w")
    f:write('{"zis_template_version":"2019-10-14","name":"x","resources":{}}')
    f:close()
    local code, out = zis_cmd("validate " .. bad)
    os.remove(bad)
    assert.equal(1, code)
    assert.matches("error: resources: a bundle needs at least one ZIS::Flow", out)
    assert.matches("NOT valid", out)
    code, out = zis_cmd("validate " .. EXAMPLE)
    assert.equal(0, code)
    assert.matches("valid", out)
  end)

  it("deploy --dry-run writes nothing; an invalid bundle exits 1", function()
    local code, out = zis_cmd("deploy " .. EXAMPLE .. " --dry-run")
    assert.equal(0, code)
    assert.matches("would create integration example_integration", out)
    for _, r in ipairs(H.log()) do assert.equal("GET", r.method) end
    local bad = os.tmpname()
    local f = io.open(bad, "w")
    f:write('{"zis_template_version":"1999-01-01","name":"x","resources":{}}')
    f:close()
    code, out = zis_cmd("deploy " .. bad .. " --integration example_integration")
    assert.equal(1, code)
    assert.matches("NOT deployed: the bundle is not valid", out)
    -- it names no integration: its problems are shown, not a usage error
    H.reset()
    local err
    code, out, err = zis_cmd("deploy " .. bad)
    os.remove(bad)
    assert.equal(1, code, err)
    assert.matches("error: zis_template_version: ", out, 1, true)
    assert.matches("NOT deployed: the bundle is not valid", out)
    assert.same({}, H.log())
  end)
end)

-- Ctrl-C: runs bin/zis in the background, sends SIGINT after `after`
-- seconds, returns exit status, seconds from the signal to the exit, stderr.
local socket = require "socket"
local function interrupt(args, after)
  local base = os.tmpname()
  os.execute(string.format("(env ZENDESK_URL=%s ZENDESK_EMAIL=%s ZENDESK_API_TOKEN=%s bin/zis %s " ..
    ">%s.out 2>%s.err & echo $! >%s.pid; wait $!; echo $? >%s.rc) >/dev/null 2>&1 &",
    H.url, H.email, H.token, args, base, base, base, base))
  socket.sleep(after)
  local pid
  for _ = 1, 100 do
    local f = io.open(base .. ".pid")
    pid = f and f:read("n")
    if f then f:close() end
    if pid then break end
    socket.sleep(0.01)
  end
  local t0 = socket.gettime()
  os.execute("kill -INT " .. pid)
  local rc
  while not rc and socket.gettime() - t0 < 10 do
    local f = io.open(base .. ".rc")
    rc = f and f:read("n")
    if f then f:close() end
    if not rc then socket.sleep(0.02) end
  end
  local elapsed = socket.gettime() - t0
  local err = H.read(base .. ".err")
  os.execute("rm -f " .. base .. " " .. base .. ".*")
  return rc, elapsed, err
end

-- Every file under its final name is whole JSON; no temporary file is left.
local function assert_no_partial(dir)
  local p = io.popen("ls -A " .. dir .. " 2>/dev/null")
  for name in p:lines() do
    assert.is_nil(name:match("zis%-tmp"), "temporary file left: " .. name)
    assert.is_table(zis.decode_json(H.read(dir .. "/" .. name)), name .. " is not whole")
  end
  p:close()
end

local function seed(n)
  H.fresh("demo")
  local c = H.client()
  for i = 1, n do assert(c:upload_bundle("demo", H.bundle("demo", "b" .. i))) end
  local uuids = {}
  for b in c:bundles("demo") do uuids[#uuids + 1] = b.uuid end
  c:close()
  return uuids
end

describe("zis and Ctrl-C", function()
  it("exits 130 with one line, and export leaves no partial file #timing", function()
    local uuids = seed(3)
    H.faults{ { path = "/api/services/zis/registry/demo/bundles/" .. uuids[2], delay = 1, status = 200,
                content_type = "application/json", body = zis.encode_json(H.bundle("demo", "b2")) } }
    local dir = os.tmpname()
    os.remove(dir)
    local code, _, err = interrupt("export demo " .. dir .. " --concurrency 1", 0.4)
    assert.equal(130, code, err)
    assert.equal("zis: interrupted\n", err)   -- no progress lines in a pipe
    assert.is_nil(err:find("traceback", 1, true))
    assert_no_partial(dir)
    os.execute("rm -rf " .. dir)
  end)

  -- The engine notices lua.c's interrupt hook while it waits (in slices of
  -- at most 100 ms), mid-transfer and mid-sleep.
  it("stops within 1.5 s, mid-request and mid-retry-wait #timing", function()
    H.fresh("demo")
    H.faults{ { path = "/api/services/zis/registry/integrations", delay = 5, status = 200,
                content_type = "application/json", body = '{"integrations":[]}' } }
    local code, elapsed, err = interrupt("integrations", 0.3)
    assert.equal(130, code, err)
    assert.is_true(elapsed < 1.5, "took " .. elapsed .. " s")
    H.reset()
    H.faults{ { path = "/api/services/zis/registry/integrations", status = 429, body = "slow down",
                headers = { ["Retry-After"] = "30" }, times = 5 } }
    code, elapsed, err = interrupt("integrations", 0.3)
    assert.equal(130, code, err)
    assert.is_true(elapsed < 1.5, "took " .. elapsed .. " s")
    local uuids = seed(3)
    H.faults{ { path = "/api/services/zis/registry/demo/bundles/" .. uuids[2], delay = 5, status = 200,
                content_type = "application/json", body = zis.encode_json(H.bundle("demo", "b2")) } }
    local dir = os.tmpname()
    os.remove(dir)
    code, elapsed, err = interrupt("export demo " .. dir .. " --concurrency 1", 0.4)
    assert.equal(130, code, err)
    assert.is_true(elapsed < 1.5, "took " .. elapsed .. " s")
    assert_no_partial(dir)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("zis and Ctrl-C in commands that report failures", function()
  it("deploy and apply exit 130, not a failure report #timing", function()
    H.fresh("example_integration")
    -- the read-back of deploy waits on a slow answer; Ctrl-C comes meanwhile
    H.faults{ { path = "/api/services/zis/registry/example_integration/job_specs*", delay = 5,
                status = 200, content_type = "application/json",
                body = '{"job_specs":[],"meta":{"has_more":false,"after":null,"before":null}}' } }
    local code, elapsed, err = interrupt("deploy " .. EXAMPLE, 1.0)
    assert.equal(130, code, err)
    assert.is_true(elapsed < 1.5, "took " .. elapsed .. " s")
    assert.matches("zis: interrupted\n$", err)
    assert.is_nil(err:find("NOT deployed", 1, true))
    assert.is_nil(err:find("%.lua:%d"))
  end)
end)

describe("client:export", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("writes every other bundle when one cannot be read back exactly, and reports it", function()
    local uuids = seed(6)
    -- 1e400 is beyond a double: the decoder refuses it (kind "decode"), as
    -- the encoder could not write it back
    H.faults{ { path = "/api/services/zis/registry/demo/bundles/" .. uuids[2], status = 200,
                content_type = "application/json", body = '{"name":"big","x":1e400}' } }
    local c = H.client()
    local report = c:export("demo", dir, { concurrency = 2 })
    assert.is_false(report.ok)
    assert.equal(5, #report.written)
    assert.equal(1, #report.failed)
    assert.equal(uuids[2], report.failed[1].uuid)
    assert.matches("out of range", tostring(report.failed[1].error))
    assert.equal("decode", report.failed[1].error.kind)
    assert_no_partial(dir)
    -- and the command says so, exit 1
    local code, out, err = zis_cmd("export demo " .. dir)
    assert.equal(0, code, err)  -- the fault was used up: now every bundle is written
    assert.matches("exported 6 bundle%(s%)", out)
  end)

  it("bounds its options", function()
    seed(1)
    local c = H.client()
    local before = #H.log()
    for _, bad in ipairs{ 0, -1, 65, 2.5, "8", false } do
      assert.error_matches(function() c:export("demo", dir, { concurrency = bad }) end,
                           "concurrency must be an integer from 1 to 64", 1, true)
    end
    assert.error_matches(function() c:export("demo", dir, { progress = 1 }) end, "progress must be a function",
                         1, true)
    assert.equal(before, #H.log())
    assert.is_true(c:export("demo", dir, { concurrency = 64 }).ok)
  end)

  it("shortens long names with a stable hash, removes stale temporary files", function()
    H.fresh("demo")
    local c = H.client()
    local long = string.rep("n", 300)
    assert(c:upload_bundle("demo", H.bundle("demo", long)))
    assert(c:upload_bundle("demo", H.bundle("demo", long .. "x")))
    os.execute("mkdir -p " .. dir .. " && touch " .. dir .. "/.old.json.zis-tmp-0badf00d")
    local report = c:export("demo", dir)
    assert.is_true(report.ok)
    local files = {}
    for _, w in ipairs(report.written) do
      local name = w.file:match("[^/]+$")
      assert.is_true(#name <= 200, name)
      files[#files + 1] = name
    end
    table.sort(files)
    assert.not_equal(files[1], files[2])
    assert.matches("^n+%-%x%x%x%x%x%x%x%x%.json$", files[1])
    assert.is_nil(io.open(dir .. "/.old.json.zis-tmp-0badf00d"))
    -- the same names on a second run
    local again = c:export("demo", dir)
    local files2 = {}
    for _, w in ipairs(again.written) do files2[#files2 + 1] = w.file:match("[^/]+$") end
    table.sort(files2)
    assert.same(files, files2)
    assert_no_partial(dir)
  end)
end)

describe("zis graph", function()
  before_each(function() H.fresh("graph_cli") end)

  local function run(args, env)
    local out, err = os.tmpname(), os.tmpname()
    local cmd = string.format("env ZENDESK_URL=%s ZENDESK_EMAIL=%s ZENDESK_API_TOKEN=%s %s bin/zis %s >%s 2>%s",
      H.url, H.email, H.token, env or "", args, out, err)
    local _, _, code = os.execute(cmd)
    local o, e = H.read(out), H.read(err)
    os.remove(out); os.remove(err)
    return code, o, e
  end

  it("draws a bundle file as DOT, Mermaid and SVG", function()
    local code, out = run("graph " .. EXAMPLE)
    assert.equal(0, code)
    assert.matches("^digraph zis_bundle {", out)
    code, out = run("graph " .. EXAMPLE .. " --format mermaid")
    assert.equal(0, code)
    assert.matches("^flowchart TD", out)
    code, out = run("graph " .. EXAMPLE .. " --format svg")
    assert.equal(0, code)
    assert.matches("<svg", out, 1, true)
  end)

  it("draws a live bundle by integration and uuid", function()
    local c = H.client()
    assert(c:upload_bundle("graph_cli", H.bundle("graph_cli", "live")))
    local uuid = c:list_bundles("graph_cli").bundles[1].uuid
    local code, out = run("graph graph_cli " .. uuid .. " --format mermaid")
    assert.equal(0, code)
    assert.matches("flow", out)
  end)

  it("refuses an unknown format and a bad integration with exit 2, before any request", function()
    H.reset()
    local code, _, err = run("graph " .. EXAMPLE .. " --format jpg")
    assert.equal(2, code)
    assert.matches("^zis: [^\n]+\n$", err)
    code, _, err = run("graph NotAName some-uuid")
    assert.equal(2, code)
    assert.matches("integration", err)
    assert.same({}, H.log())
  end)

  it("says how to install Graphviz when dot is missing (exit 2)", function()
    -- a PATH with what bin/zis needs, and no dot
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir .. " && ln -s $(command -v lua5.4) $(command -v readlink) " ..
                      "$(command -v dirname) " .. dir .. "/"))
    local code, out, err = run("graph " .. EXAMPLE .. " --format png", "PATH=" .. dir)
    os.execute("rm -rf " .. dir)
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.matches("^zis: [^\n]*graphviz[^\n]*\n$", err)
  end)
end)

describe("zis --version", function()
  it("prints lua-zis, libcurl and Lua versions, exit 0", function()
    local p = assert(io.popen("bin/zis --version"))
    local out = p:read("a")
    local ok = p:close()
    assert.is_true(ok)
    assert.equal(zis.user_agent .. "\n", out)
    assert.matches("^lua%-zis/%S+ libcurl/%S+ Lua 5%.4", out)
  end)
end)

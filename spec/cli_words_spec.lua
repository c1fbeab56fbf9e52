-- Every message in the user's own words (issue 25): each command that
-- reads a file, given each kind of bad file, says so in one line that
-- names the path, with no Lua internals; a negative number given to a
-- numeric flag is that flag's range; a secret typed on a terminal is not
-- echoed; bin/zis before `make` says to run make.
local H = require "spec.helper"

local EXAMPLE = "examples/bundles/example.json"
local FLOWS = "examples/flows/bundle.json"
local EVENT = "examples/flows/event_urgent.json"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs zis with the local registry's fake credentials (zis's main in
-- this process, H.zis_sh: 25 ms cheaper than bin/zis); returns exit
-- status, stdout, stderr.  Terminals, pipes and signals: bin/zis, below.
local function zis_cmd(args, env) return H.zis_sh(args, env) end

-- Lua internals a message to a user must not show.
local INTERNALS = { "%f[%w]nil%f[%W]", "%f[%w]table%f[%W]", "%f[%w]string%f[%W]", "%f[%w]userdata%f[%W]",
                    "%f[%w]boolean%f[%W]", "%f[%w]function%f[%W]", "%f[%w]thread%f[%W]",
                    "number expected", "got number", "traceback", "%.lua:%d", "%[C%]" }

-- The shape of every error line: one line, "zis: ", no internals.
local function assert_words(err, context)
  assert.matches("^zis: [^\n]+\n$", err, nil, context .. ": " .. err)
  for _, p in ipairs(INTERNALS) do
    assert.is_nil(err:find(p), context .. ": '" .. p .. "' in: " .. err)
  end
end

describe("zis, given a bad file", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. "/a\\ folder"))
  local function write(name, bytes)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(bytes)
    f:close()
    return dir .. "/" .. name
  end

  -- each bad input: its path, and what the message must say about it
  local BAD = {
    { "a folder", dir .. "/a folder", "is a folder, not a file" },
    { "a missing file", dir .. "/missing.json", "no such file" },
    { "an empty file", write("empty.json", ""), "the file is empty" },
    { "a binary file", write("binary.json", "\127ELF\2\1\1\0\0\0\0" .. string.rep("\0\255", 40)),
      "a binary file, not text" },
    { "a file that is not UTF-8", write("latin1.json", '{"name": "caf\233"}'), "not UTF%-8 text %(byte 14%)" },
    -- /proc/self/mem cannot be read from its start, even by root
    { "an unreadable file", "/proc/self/mem", "cannot read it" },
  }
  -- chmod 000 stops reads unless we are root (then the case says nothing)
  local locked = write("locked.json", "{}")
  os.execute("chmod 000 " .. sh_quote(locked))
  local lf = io.open(locked, "rb")
  local readable_anyway = lf ~= nil and lf:read("a") ~= nil
  if lf then lf:close() end
  if not readable_anyway then
    BAD[#BAD + 1] = { "a file without read permission", locked, "permission denied" }
  end

  -- every command that takes a file: F is the bad file
  local COMMANDS = {
    "validate F", "deploy F", "deploy F --dry-run", "graph F", "graph " .. EXAMPLE .. " --trace F",
    "run F --flow triage_flow --input " .. EVENT, "run " .. FLOWS .. " --flow triage_flow --input F",
    "run " .. FLOWS .. " --flow triage_flow --input " .. EVENT .. " --stub notify_chat=F",
    "run " .. FLOWS .. " --flow triage_flow --input " .. EVENT .. " --config settings=F",
    "configs set example_integration settings F", "bundle push example_integration F",
    "plan F", "apply F", "plan F --prune",
  }

  before_each(H.reset)
  teardown(function()
    os.execute("chmod 600 " .. sh_quote(locked))
    os.execute("rm -rf " .. sh_quote(dir))
  end)

  -- (in this process: H.zis_main runs what bin/zis runs, 25 ms cheaper)
  for _, bad in ipairs(BAD) do
    for _, words in ipairs(COMMANDS) do
      local args = words:gsub("F", function() return sh_quote(bad[2]) end)
      local argv = {}
      for w in words:gmatch("%S+") do
        argv[#argv + 1] = w == "F" and bad[2] or w:gsub("=F$", function() return "=" .. bad[2] end)
      end
      it(words:gsub("F", "<" .. bad[1] .. ">") .. ": one line naming the path", function()
        local code, out, err = H.zis_main(argv)
        assert.is_true(code == 1 or code == 2, args .. ": exit " .. tostring(code))
        assert.equal("", out)
        assert_words(err, args)
        assert.truthy(err:find("zis: " .. bad[2] .. ": ", 1, true), args .. ": the path, first: " .. err)
        assert.matches(bad[3], err)
        assert.same({}, H.log(), args .. " sent a request")
      end)
    end
  end

  it("a file name holding a newline still gives one line", function()
    local name = write("two\nlines.json", "")
    local code, _, err = zis_cmd("validate " .. sh_quote(name))
    assert.equal(1, code)
    assert_words(err, "validate")
  end)

  it("a file that is text but not JSON: the path and where the JSON breaks", function()
    local name = write("broken.json", '{"name": ')
    for _, words in ipairs{ "deploy F", "graph F", "bundle push example_integration F",
                            "configs set example_integration settings F", "plan F" } do
      local args = words:gsub("F", sh_quote(name))
      local code, out, err = zis_cmd(args)
      assert.equal(1, code, args)
      assert.equal("", out)
      assert_words(err, args)
      assert.truthy(err:find("zis: " .. name .. ": not JSON", 1, true), args .. ": " .. err)
      assert.matches("at byte %d+", err)
    end
    assert.same({}, H.log())
    -- validate reports it as the bundle's problem, and names the file
    local code, out = zis_cmd("validate " .. sh_quote(name))
    assert.equal(1, code)
    assert.matches("not JSON", out)
    assert.matches(name:gsub("%p", "%%%0") .. ": NOT valid", out)
  end)

  it("bundle push of JSON that is not an object says so, and sends nothing", function()
    local name = write("list.json", "[1, 2]")
    local code, _, err = zis_cmd("bundle push example_integration " .. sh_quote(name))
    assert.equal(1, code)
    assert.equal("zis: " .. name .. ": not a bundle (a JSON object)\n", err)
    assert.same({}, H.log())
  end)

  it("zis test on a missing folder or a file names it", function()
    for _, p in ipairs{ dir .. "/none", dir .. "/empty.json" } do
      local code, _, err = zis_cmd("test " .. sh_quote(p))
      assert.equal(2, code)
      assert_words(err, "test")
      assert.truthy(err:find(p, 1, true), err)
    end
  end)
end)

describe("zis, given a negative number for a numeric flag", function()
  before_each(H.reset)
  -- the flag's own check answers, not "unknown option '-1' (did you mean '-h'?)"
  local CASES = {
    { "--timeout -1 integrations", "--timeout: '-1' is not a number of seconds from 0.001 to 86400" },
    { "--timeout -0.5 integrations", "--timeout: '-0.5' is not a number of seconds from 0.001 to 86400" },
    { "integrations --timeout -1", "--timeout: '-1' is not a number of seconds from 0.001 to 86400" },
    { "export example_integration /tmp/x --concurrency -3", "--concurrency: '-3' is not an integer from 1 to 64" },
    { "mock --port -1", "--port: '-1' is not an integer from 0 to 65535" },
    { "mock --latency -2", "--latency: '-2' is not a number of seconds (0 or more)" },
    { "run " .. FLOWS .. " --input " .. EVENT .. " --max-steps -5",
      "--max-steps: '-5' is not an integer from 1 to 1000000" },
  }
  for _, c in ipairs(CASES) do
    it(c[1], function()
      local code, out, err = zis_cmd(c[1])
      assert.equal(2, code, err)
      assert.equal("", out)
      assert_words(err, c[1])
      assert.truthy(err:find(c[2], 1, true), err)
      assert.is_nil(err:find("unknown option", 1, true))
      assert.same({}, H.log())
    end)
  end

  it("a negative number after --, or as an argument, is left alone", function()
    local join = require("zis.cli").join_negative_values
    assert.same({ "--timeout=-1", "x" }, join{ "--timeout", "-1", "x" })
    assert.same({ "--timeout", "5", "-1" }, join{ "--timeout", "5", "-1" })
    assert.same({ "--", "--timeout", "-1" }, join{ "--", "--timeout", "-1" })
    assert.same({ "--json", "-1" }, join{ "--json", "-1" })
  end)
end)

-- A pseudo-terminal (python3's pty): types `input` once the prompt is
-- shown ("^C" sends Ctrl-C), and returns what the terminal showed and
-- the status the shell line printed.
local TYPE_IN = [[
import os, pty, sys, time, select
keys, cmd = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", cmd])
out = b""
def drain(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try: d = os.read(fd, 4096)
            except OSError: return False
            if not d: return False
            out += d
    return True
deadline = time.time() + 15
while b": " not in out and time.time() < deadline:
    if not drain(0.1): break
time.sleep(0.3)
os.write(fd, b"\x03" if keys == "^C" else keys.encode() + b"\r")
drain(10)
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
]]

describe("zis connections create on a terminal", function()
  local have_pty = os.execute("env -u LD_PRELOAD -u LUA_INIT_5_4 " .. H.python3 .. " -c 'import pty' 2>/dev/null")
  local helper = os.tmpname()
  local f = assert(io.open(helper, "w"))
  f:write(TYPE_IN)
  f:close()
  teardown(function() os.remove(helper) end)

  before_each(function()
    H.fresh("words_demo")
  end)

  -- the shell line: zis, its status, then whether the terminal echoes
  local function on_terminal(keys, name)
    local line = string.format("trap : INT; env ZENDESK_URL=%s ZENDESK_EMAIL=%s ZENDESK_API_TOKEN=%s " ..
      "bin/zis connections create words_demo bearer_token %s --domain api.acme.com; echo status=$?; " ..
      "stty -a | grep -o -- '[-]*echo ' | head -1", H.url, H.email, H.token, name)
    -- without make asan's preloads: python is not ours, and its child runs the normal build
    local p = assert(io.popen("env -u LD_PRELOAD -u LUA_INIT_5_4 " .. H.python3 .. " " .. helper .. " " ..
                              sh_quote(keys) .. " " .. sh_quote(line)))
    local out = p:read("a")
    p:close()
    return out
  end

  it("prompts on the terminal naming the secret, and does not echo it", function()
    if not have_pty then return pending("python3's pty module is not available") end
    local out = on_terminal("typed-s3cret-value", "acme_api")
    assert.matches("bearer token for connection acme_api: ", out, 1, true)
    assert.is_nil(out:find("typed-s3cret-value", 1, true), "the secret was echoed: " .. out)
    assert.matches("created bearer_token connection acme_api", out, 1, true)
    assert.matches("status=0", out, 1, true)
    assert.matches("\necho \r?\n", out)   -- echo is on again
    local c = H.client():for_integration("words_demo")
    assert.equal("bearer_token", assert(c:get_connection("words_demo", "acme_api", "bearer_token")).type)
    c:close()
  end)

  it("Ctrl-C at the prompt exits 130 and turns echo on again", function()
    if not have_pty then return pending("python3's pty module is not available") end
    local out = on_terminal("^C", "acme_b")
    assert.matches("bearer token for connection acme_b: ", out, 1, true)
    assert.matches("zis: interrupted", out, 1, true)
    assert.matches("status=130", out, 1, true)
    assert.matches("\necho \r?\n", out)
    assert.is_nil(out:find("-echo", 1, true), out)
  end)

  it("from a pipe: no prompt, the first line is the secret", function()
    local p = assert(io.popen(string.format("printf 'piped-secret\\n' | env ZENDESK_URL=%s ZENDESK_EMAIL=%s " ..
      "ZENDESK_API_TOKEN=%s bin/zis connections create words_demo api_key acme_key --domain api.acme.com " ..
      "--header X-Key 2>&1", H.url, H.email, H.token)))
    local out = p:read("a")
    assert.is_true(p:close())
    assert.equal("created api_key connection acme_key for api.acme.com\n", out)
  end)

  it("no secret at all names the secret asked for", function()
    local code, _, err = zis_cmd("connections create words_demo basic_auth acme_b --domain api.acme.com --username u")
    assert.equal(2, code)
    assert_words(err, "connections create")
    assert.matches("no secret (the password of u for connection acme_b)", err, 1, true)
  end)
end)

describe("zis speaks in flags, commands and variables, not Lua options", function()
  before_each(H.reset)
  it("bad Zendesk settings name the environment variable", function()
    local CASES = {
      { "ZENDESK_URL=http://example.com",
        "plain http:// is allowed only to loopback hosts; use https:// in ZENDESK_URL" },
      { "ZENDESK_URL=https://a@acme.zendesk.com", "ZENDESK_URL must name a host, without user info" },
      { "ZENDESK_URL= ZENDESK_SUBDOMAIN='a b'", "ZENDESK_SUBDOMAIN must be a Zendesk subdomain like 'acme'" },
    }
    for _, c in ipairs(CASES) do
      local code, _, err = zis_cmd("integrations", c[1])
      assert.equal(2, code)
      assert_words(err, c[1])
      assert.equal("zis: bad Zendesk settings in the environment: " .. c[2] .. "\n", err)
      assert.is_nil(err:find("option '", 1, true))
      assert.is_nil(err:find("_http", 1, true))
    end
  end)

  it("the library's advice, as the command line says it", function()
    local w = require("zis.cli").cli_words
    assert.equal("stale job spec still installed: x (--uninstall-stale removes it)",
                 w("stale job spec still installed: x (uninstall_stale = true removes it)"))
    assert.equal("no OAuth client 'zis_x' on this account (zis create makes it; ...)",
                 w("no OAuth client 'zis_x' on this account (create_integration makes it; ...)"))
    assert.is_nil(w("redirects are not followed; follow_redirects = true follows those that stay on the same host")
                  :find("follow_redirects", 1, true))
  end)

  it("zis deploy's stale job specs name --uninstall-stale", function()
    H.fresh("example_integration")
    local c = H.client()
    assert(c:upload_bundle("example_integration", H.bundle("example_integration", "example_bundle", { "old_spec" })))
    assert(c:install_job_spec("example_integration", "old_spec"))
    c:close()
    local _, out = zis_cmd("deploy " .. EXAMPLE)
    assert.matches("stale job spec still installed: [%w_:]+ %(%-%-uninstall%-stale removes it%)", out)
    assert.is_nil(out:find("uninstall_stale", 1, true))
  end)
end)

describe("bin/zis before make", function()
  -- bin/zis ARGS in a copy of bin/ and lua/ with the C modules `built`
  -- (file names in build/zis/) and no others: its output, its status
  local function in_copy(built, args)
    local dir = os.tmpname()
    os.remove(dir)
    local copy = "mkdir -p " .. dir .. "/build/zis && cp -r bin lua " .. dir
    for _, so in ipairs(built) do copy = copy .. " && cp build/zis/" .. so .. " " .. dir .. "/build/zis/" end
    assert(os.execute(copy))
    local p = assert(io.popen("cd " .. dir .. " && env -i PATH=/usr/bin:/bin HOME=/tmp bin/zis " .. args ..
                              " 2>&1; echo status=$?"))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. sh_quote(dir))
    return out, dir
  end

  it("says, in one line, to run make first", function()
    local out, dir = in_copy({}, "--help")
    assert.equal("zis: the C module is not built: run make in " .. dir .. " first\nstatus=1\n", out)
  end)

  -- zis.net (the client) is loaded at the first request only: its
  -- absence is still said at the start, as zis.core's is
  it("says so when half of it is built (zis.core without zis.net)", function()
    local out, dir = in_copy({ "core.so" }, "validate examples.json")
    assert.equal("zis: the C module is not built: run make in " .. dir .. " first\nstatus=1\n", out)
    out, dir = in_copy({ "core.so" }, "--version")
    assert.equal("zis: the C module is not built: run make in " .. dir .. " first\nstatus=1\n", out)
  end)
end)

describe("zis writing into a pipe that closed", function()
  it("ends with SIGPIPE (141), as Unix tools do", function()
    -- a shell's default SIGPIPE (the specs' process ignores it, and a child
    -- would inherit that: then the write fails and the exit status is 1)
    local p = assert(io.popen("bash -c '(sleep 0.2; env --default-signal=PIPE bin/zis completion bash) | true; " ..
                              "echo ${PIPESTATUS[0]}'", "r"))
    local out = p:read("a")
    p:close()
    assert.equal("141\n", out)
  end)
end)

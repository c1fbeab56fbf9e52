-- Shared by the specs: a client on the local registry that tools/with-mock
-- started (ZIS_MOCK_URL), and access to the registry's control endpoints.
local http = require "socket.http"
local ltn12 = require "ltn12"
local zis = require "zis"
local core = require "zis.core"

local H = {}

-- Every test gets a deadline (ZIS_SPEC_TIMEOUT, default 30 s): see
-- spec/timeout.lua.  H.extend_timeout(seconds) gives the running test more.
H.extend_timeout = require("spec.timeout").extend or function() end
require "spec.shard"  -- ZIS_SPEC_SHARD: part of a file's tests (tools/run-specs)

-- Without ZIS_MOCK_URL (plain `busted` from the root), start a local
-- registry on a free port; a watcher stops it when this process ends.
local function start_registry()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local root = assert(io.popen("pwd")):read("l")
  -- $PPID, in the shell os.execute starts, is this Lua process
  assert(os.execute(string.format(
    "cd %q && LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/build/?.so;;' " ..
    "lua5.4 bin/zis mock --port 0 --port-file %s/port --quiet " ..
    ">/dev/null 2>&1 & m=$!; (while kill -0 $PPID 2>/dev/null; do sleep 0.5; done; kill $m; rm -rf %s) " ..
    ">/dev/null 2>&1 &", root, root, root, root, dir, dir)))
  for _ = 1, 100 do
    local f = io.open(dir .. "/port")
    local port = f and f:read("n")
    if f then f:close() end
    if port then return "http://127.0.0.1:" .. port end
    require("socket").sleep(0.05)
  end
  error("the local registry did not start (run the specs with make test)")
end

-- ZIS_LOOP=luv or cqueues (spec/loop_spec.lua runs part of the suite so):
-- every client the specs make gets that adapter, and each wait of a call
-- made outside a coroutine runs in a coroutine on that loop, through the
-- adapter's own wait, until its socket or timer fires.
H.loop = os.getenv("ZIS_LOOP")
if H.loop then
  local real = require("zis.loop." .. H.loop)
  local function in_loop(fds, secs, token)
    if H.loop == "luv" then
      local uv = require "luv"
      local co = coroutine.create(function() real:wait(fds, secs, token) end)
      assert(coroutine.resume(co))
      while coroutine.status(co) ~= "dead" do uv.run("once") end
    else
      local cq = require("cqueues").new()
      cq:wrap(function() real:wait(fds, secs, token) end)
      assert(cq:loop())
    end
  end
  local shim = { name = H.loop, yieldable = function() return true end }
  function shim.wait(_, fds, secs, token)
    local may
    if real.yieldable then may = real:yieldable() else may = coroutine.isyieldable() end
    if may then return real:wait(fds, secs, token) end
    in_loop(fds, secs, token)
  end
  function shim.wake(_, token) real:wake(token) end
  H.shim = shim
  local new = zis.new
  zis.new = function(o)
    if type(o) == "table" and o.scheduler == nil then
      local copy = {}
      for k, v in pairs(o) do copy[k] = v end
      copy.scheduler = shim
      o = copy
    end
    return new(o)
  end
end

H.url = os.getenv("ZIS_MOCK_URL")
if not H.url then
  H.url = start_registry()
end

-- Obviously fake credentials, as the local registry accepts by default.
H.email, H.token, H.password, H.oauth = "admin@example.com", "fake-api-token",
                                         "fake-password", "fake-oauth-token"

function H.client(extra)
  local o = { url = H.url, email = H.email, token = H.token, retries = 0 }
  for k, v in pairs(extra or {}) do o[k] = v end
  if o.token == false then o.token = nil end
  if o.email == false then o.email = nil end
  return zis.new(o)
end

-- Calls a /__mock/ control endpoint; returns the decoded body (or true).
function H.control(method, path, body)
  local out = {}
  local src = body and (type(body) == "string" and body or core.encode_json(body))
  local _, status = http.request{
    url = H.url .. "/__mock/" .. path, method = method, sink = ltn12.sink.table(out),
    source = src and ltn12.source.string(src),
    headers = src and { ["content-length"] = #src, ["content-type"] = "application/json" },
  }
  assert(status == 200 or status == 204, "control " .. path .. ": " .. tostring(status))
  local text = table.concat(out)
  if text == "" then return true end
  return core.decode_json(text)
end

function H.reset() return H.control("POST", "reset") end
function H.log() return H.control("GET", "log") end
function H.stats() return H.control("GET", "stats") end
function H.faults(list) return H.control("POST", "faults", list) end
function H.last() local l = H.log() return l[#l] end

-- A small valid bundle with one flow and the given job specs.
function H.bundle(integration, name, job_specs)
  local resources = {
    flow = { type = "ZIS::Flow", properties = { name = "flow", definition = {
      StartAt = "Done", States = { Done = { Type = "Succeed" } } } } },
  }
  for _, j in ipairs(job_specs or { "on_ticket" }) do
    resources[j] = { type = "ZIS::JobSpec", properties = {
      name = j, event_source = "support", event_type = "ticket.TicketCreated",
      flow_name = "zis:" .. integration .. ":flow:flow" } }
  end
  return { zis_template_version = "2019-10-14", name = name,
           description = "bundle " .. name, resources = resources }
end

-- A token bound to `integration` (minted as an admin, as
-- for_integration does): what Zendesk takes on that integration's
-- registry and services calls, and nowhere else.
function H.bound_token(integration)
  local c = H.client()
  local t = assert(c:integration_token(integration or "demo"))
  c:close()
  return t.token
end

-- The admin's own OAuth client, as the local registry knows it.
H.oauth_client = { id = "fake-admin-client", secret = "fake-admin-client-secret" }

-- A fresh registry holding one integration.
function H.fresh(integration)
  H.reset()
  local c = H.client()
  assert(c:create_integration(integration or "demo", { description = "spec" }))
  c:close()
end

-- A port on which nothing listens: bound, then closed.
function H.dead_port()
  local s = assert(require("socket").bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- Is `b` the same JSON as `a`, exactly: integers vs floats, arrays vs
-- objects (empty ones too), null, and strings byte for byte?  Returns
-- true, or false and the path of the first difference.
function H.same_json(a, b, path)
  path = path or "$"
  local ta, tb = type(a), type(b)
  if ta ~= tb then return false, path .. ": " .. ta .. " vs " .. tb end
  if ta == "number" then
    if math.type(a) ~= math.type(b) then
      return false, path .. ": " .. math.type(a) .. " vs " .. math.type(b)
    end
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  if ta ~= "table" then
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  local array_mt = zis.array_metatable
  if (getmetatable(a) == array_mt) ~= (getmetatable(b) == array_mt) then
    return false, path .. ": array vs object"
  end
  for k, v in pairs(a) do
    local ok, why = H.same_json(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": extra" end
  end
  return true
end

function H.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- H.zis_main(argv [, env [, stdin]]) -> exit status, stdout, stderr: the
-- `zis` command run in this process (zis.cli's main, which bin/zis calls
-- and passes to os.exit), with its own stdin, stdout and stderr (files)
-- and an environment of its own: env (default: the local registry's fake
-- credentials), nothing else.  A process costs ~25 ms, most of it
-- loading libcurl: specs that check words and exit statuses run here,
-- and the specs of bin/zis itself (paths, signals, terminals) run it.
function H.zis_main(argv, env, stdin)
  env = env or { ZENDESK_URL = H.url, ZENDESK_EMAIL = H.email, ZENDESK_API_TOKEN = H.token }
  local i, o, e = assert(io.tmpfile()), assert(io.tmpfile()), assert(io.tmpfile())
  if stdin then i:write(stdin) i:seek("set") end
  local saved = { io.stdin, io.stdout, io.stderr, os.getenv, core.isatty }
  -- its stdin, stdout and stderr are files, whatever this process has
  core.isatty = function() return false end
  io.stdin, io.stdout, io.stderr = i, o, e  -- luacheck: ignore 122
  os.getenv = function(name) return env[name] end  -- luacheck: ignore 122
  local ok, code = pcall(function() return require("zis.cli").main(argv) end)
  io.stdin, io.stdout, io.stderr, os.getenv, core.isatty = table.unpack(saved)  -- luacheck: ignore 122
  o:seek("set")
  e:seek("set")
  local out, err = o:read("a"), e:read("a")
  i:close() o:close() e:close()
  assert(ok, code)
  -- the test's deadline (spec/timeout.lua) and the watchdog's interrupt
  -- end the test, as they would have ended a process: main, which turns
  -- every error into a line and a status, must not hide them
  local deadline = err:match("spec timeout: [^\n]*")
  if deadline then error(deadline, 0) end
  if code == 130 then error("interrupted while running zis " .. table.concat(argv, " "), 0) end
  return code, out, err
end

-- H.python3: the system's python3 (the specs run it for its pty module),
-- not a version manager's shim on PATH (pyenv's costs 0.7 s a start).
H.python3 = "python3"
for _, p in ipairs{ "/usr/bin/python3", "/usr/local/bin/python3" } do
  local f = io.open(p, "rb")
  if f then f:close() H.python3 = p break end
end

-- H.shell_words(s) -> list: the words of a shell command line made of
-- plain words, '...' (sh_quote's quoting, '\'' included) and "..."
-- (no expansions); raises on anything a shell would expand or redirect.
function H.shell_words(s)
  local words, i, n = {}, 1, #s
  while i <= n do
    while s:sub(i, i):match("%s") do i = i + 1 end
    if i > n then break end
    local word = {}
    while i <= n and not s:sub(i, i):match("%s") do
      local c = s:sub(i, i)
      if c == "'" then
        local j = assert(s:find("'", i + 1, true), "unclosed ' in: " .. s)
        word[#word + 1] = s:sub(i + 1, j - 1)
        i = j + 1
      elseif c == '"' then
        local j = assert(s:find('"', i + 1, true), 'unclosed " in: ' .. s)
        local inner = s:sub(i + 1, j - 1)
        assert(not inner:find("[$`\\]"), "an expansion in: " .. s)
        word[#word + 1] = inner
        i = j + 1
      elseif c == "\\" then   -- a quoted character
        word[#word + 1] = s:sub(i + 1, i + 1)
        i = i + 2
      else
        assert(not c:find("[<>|;&$`*?(){}]"), "not a plain word in: " .. s)
        word[#word + 1] = c
        i = i + 1
      end
    end
    words[#words + 1] = table.concat(word)
  end
  return words
end

-- H.zis_sh(args [, env [, stdin]]) -> exit status, stdout, stderr:
-- H.zis_main for a command line written as for a shell: args the words
-- after `zis`, env "NAME=value ..." added to the fake credentials.
function H.zis_sh(args, env, stdin)
  local vars = { ZENDESK_URL = H.url, ZENDESK_EMAIL = H.email, ZENDESK_API_TOKEN = H.token }
  for _, w in ipairs(H.shell_words(env or "")) do
    local k, v = assert(w:match("^([%w_]+)=(.*)$"))
    vars[k] = v
  end
  return H.zis_main(H.shell_words(args), vars, stdin)
end

return H

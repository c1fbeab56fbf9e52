-- zis.cli: the `zis` command line (bin/zis is a small launcher around it).
--
-- Every command is one entry of M.commands: name, summary, description,
-- args, options and a run function.  The argparse parser, every --help
-- text and the shell completions are built from those entries, so adding a
-- command is one table entry plus its run function, and nothing can be
-- accepted that the help does not show.
--
-- Exit status: 0 success, 1 failure, 2 usage (refused before any request),
-- 130 interrupted (SIGINT).  Every failure is one line on stderr, with no
-- traceback and no internal file:line.  A write to stdout or stderr that
-- fails (a full disk, a closed pipe) is a failure too.

local error, getmetatable, io, ipairs, math, os, pairs, pcall, require, setmetatable,
      string, table, tonumber, tostring, type, utf8, xpcall =
      error, getmetatable, io, ipairs, math, os, pairs, pcall, require, setmetatable,
      string, table, tonumber, tostring, type, utf8, xpcall

local argparse = require "argparse"
local core = require "zis.core"

-- `zis`, loaded when a command first needs more than the core: `zis
-- --version` and `zis validate` start without the client, the planner or
-- the flow simulator (the whole library costs about as much again as
-- libcurl's loading).  The functions the core itself provides come from
-- it, the validator from its own module.
local LIGHT = {
  array = core.array, array_metatable = core.array_metatable, null = core.null,
  decode_json = core.decode_json, pretty_json = core.pretty_json, user_agent = core.user_agent,
  encode_json = function(v) return core.encode_json(v) end,
}
local zis = setmetatable({}, { __index = function(_, k)
  local v = LIGHT[k]
  if v ~= nil then return v end
  if k == "validate" then return require "zis.validate" end
  if k == "is_error" then return require("zis.errors").is_error end
  return require("zis")[k]
end })

local M = {}

M.EXIT_OK, M.EXIT_FAILURE, M.EXIT_USAGE, M.EXIT_INTERRUPTED = 0, 1, 2, 130

---------------------------------------------------------------------------
-- Failures: raised as a table so main can tell them from bugs, and turned
-- into one line and an exit status in one place (M.main).
---------------------------------------------------------------------------

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

-- The message is printed after "zis: ", so an error object's own
-- "zis: " prefix is dropped.
local function fail(message, status)
  if message == nil then message = "failed, and no reason was given (a bug: please report it)" end
  error(setmetatable({ message = (tostring(message):gsub("^zis: ", "")),
                       status = status or M.EXIT_FAILURE }, Failure), 0)
end

local function usage_error(message) fail(message, M.EXIT_USAGE) end

-- Is `e` the interpreter's (or the engine's) report of a Ctrl-C?
local is_interrupt = require("zis.errors").is_interrupt
M.is_interrupt = is_interrupt

-- The first line of a raised string, without the "file:line: " of the
-- function that raised it, nor lua-zis' own "zis: " prefix.
local function clean(msg)
  msg = tostring(msg):match("^[^\n]*")
  repeat
    local rest = msg:match("^[%w%./_%-]+%.lua:%d+: (.*)$") or msg:match("^%[C%]: (.*)$")
    if rest then msg = rest end
  until not rest
  return (msg:gsub("^zis: ", ""))
end

-- Any error value -> one line, exit status.  Raised strings from lua-zis
-- are misuse by its contract ("bad argument ..."): a usage error.
local function classify(e)
  if getmetatable(e) == Failure then return e.message, e.status end
  if is_interrupt(e) then return "interrupted", M.EXIT_INTERRUPTED end
  if zis.is_error(e) then return (tostring(e):gsub("^zis: ", "")), M.EXIT_FAILURE end
  local msg = clean(e)
  local inner = msg:match("^bad argument #%d+ to '[^']*' %((.*)%)$")
  if inner then return inner, M.EXIT_USAGE end
  if msg:match("^option '") or msg:match("^unknown option") then return msg, M.EXIT_USAGE end
  return msg, M.EXIT_FAILURE
end
M.classify = classify

-- lua-zis speaks to Lua callers: its messages name Lua options and
-- methods.  On the command line the same advice names the flag, the
-- command or the environment variable instead; where the CLI has no
-- equivalent, it says what to do.
local CLI_WORDS = {
  { "uninstall_stale = true removes", "--uninstall-stale removes" },
  { "uninstall_stale = true", "--uninstall-stale" },
  { "dry_run = true", "--dry-run" },
  { "use https:// or set allow_insecure_http = true",
    "use https:// in ZENDESK_URL" },
  { "follow_redirects = true follows those that stay on the same host",
    "check ZENDESK_URL: it must be your account's own https://SUBDOMAIN.zendesk.com" },
  { "create_integration makes it", "zis create makes it" },
  { "use client:for_integration%(integration%)", "zis configs, connections, links and webhooks do that" },
  { "^zis%.new: ", "" }, { "^zis%.from_env: ", "" },
  { "option 'url'", "ZENDESK_URL" }, { "option 'subdomain'", "ZENDESK_SUBDOMAIN" },
  { "option 'email'", "ZENDESK_EMAIL" }, { "option 'token'", "ZENDESK_API_TOKEN" },
  { "option 'password'", "ZENDESK_PASSWORD" }, { "option 'oauth_token'", "ZENDESK_OAUTH_TOKEN" },
  { "option 'timeout'", "--timeout" },
}
local function cli_words(msg)
  msg = tostring(msg)
  for _, w in ipairs(CLI_WORDS) do msg = msg:gsub(w[1], (w[2]:gsub("%%", "%%%%"))) end
  return msg
end
M.cli_words = cli_words

---------------------------------------------------------------------------
-- Checked output
---------------------------------------------------------------------------

local function write_to(f, name, ...)
  local ok, err = f:write(...)
  if not ok then fail("cannot write to " .. name .. ": " .. tostring(err)) end
end

local function out(...) write_to(io.stdout, "stdout", ...) end
local function err_out(...) write_to(io.stderr, "stderr", ...) end

-- Rows as aligned columns, a header row first.
local function print_table(header, rows)
  local width = {}
  for i, h in ipairs(header) do width[i] = #h end
  for _, r in ipairs(rows) do
    for i = 1, #header do
      r[i] = tostring(r[i] == nil and "" or r[i])
      if #r[i] > width[i] then width[i] = #r[i] end
    end
  end
  local function line(cells)
    local cols = {}
    for i = 1, #header do
      cols[i] = i < #header and cells[i] .. string.rep(" ", width[i] - #cells[i]) or cells[i]
    end
    out(table.concat(cols, "  "), "\n")
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
  if #rows == 0 then out("(none)\n") end
end

-- errno values io.open and read report (Linux)
local ENOENT, EACCES, EISDIR, ENOTDIR = 2, 13, 21, 20

-- The reason of a failed open or read, in the user's words: "no such
-- file", "is a folder, not a file", "permission denied".
local function io_reason(msg, code)
  if code == ENOENT then return "no such file" end
  if code == EISDIR then return "is a folder, not a file" end
  if code == EACCES then return "permission denied (see its mode: ls -l)" end
  if code == ENOTDIR then return "no such file (a part of the path is not a folder)" end
  msg = tostring(msg or "unknown error"):gsub("^.*: ", "")
  return msg:sub(1, 1):lower() .. msg:sub(2)
end
M.io_reason = io_reason

--- read_file(path [, what]) -> the file's bytes, or a failure naming
-- path.  what says what the file should hold ("the bundle, a JSON file"),
-- for the empty and the binary cases.  Any file the CLI reads is text:
-- an empty file, a binary one (a NUL byte) and, but for a Lua file, one
-- that is not UTF-8 are refused here, before any request.
local function read_file(path, what)
  local f, err, code = io.open(path, "rb")
  if not f then fail(path .. ": " .. io_reason(err, code)) end
  local s, rerr, rcode = f:read("a")
  f:close()
  if not s then
    fail(path .. ": " .. (rcode == EISDIR and "" or "cannot read it: ") .. io_reason(rerr, rcode))
  end
  what = what or (path:match("%.lua$") and "a Lua file" or "a JSON file")
  if s == "" then fail(path .. ": the file is empty; expected " .. what) end
  if s:find("\0", 1, true) then fail(path .. ": a binary file, not text; expected " .. what) end
  if not path:match("%.lua$") then
    local _, bad = utf8.len(s)
    if bad then
      fail(path .. ": not UTF-8 text (byte " .. bad .. "); save it as UTF-8")
    end
  end
  return s
end

local function getenv(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

---------------------------------------------------------------------------
-- Argument types: each converts a string or returns nil, message, so a bad
-- value is a usage error before any request.
---------------------------------------------------------------------------

local function valid_name(s) return require("zis.request").valid_name(s) end

local TYPES = {}

function TYPES.integration(s)
  if valid_name(s) then return s end
  return nil, "'" .. s .. "' is not an integration name (1 to 64 of a-z 0-9 - _)"
end

function TYPES.nonempty(s)
  if s ~= "" then return s end
  return nil, "must not be empty"
end

-- An integer from lo to hi.
function M.integer(lo, hi)
  return function(s)
    local n = math.tointeger(tonumber(s))
    if n and n >= lo and n <= hi then return n end
    return nil, "'" .. s .. "' is not an integer from " .. lo .. " to " .. hi
  end
end

function TYPES.seconds(s)
  local n = tonumber(s)
  if n and n >= 0 and n < math.huge then return n end
  return nil, "'" .. s .. "' is not a number of seconds (0 or more)"
end

-- A request timeout: the client's own bounds (zis.new's `timeout`).
function TYPES.timeout(s)
  local n = tonumber(s)
  if n and n >= 0.001 and n <= 86400 then return n end
  return nil, "'" .. s .. "' is not a number of seconds from 0.001 to 86400"
end

---------------------------------------------------------------------------
-- The context a run function receives
---------------------------------------------------------------------------

local Context = {}
Context.__index = Context

Context.out, Context.err, Context.fail, Context.usage_error = out, err_out, fail, usage_error
Context.print_table, Context.read_file = print_table, read_file

-- The client, from the environment; missing settings name the variables.
function Context:client()
  if self._client then return self._client end
  if not (getenv("ZENDESK_URL") or getenv("ZENDESK_SUBDOMAIN")) then
    usage_error("no Zendesk host: set ZENDESK_URL (or ZENDESK_SUBDOMAIN)")
  end
  if not ((getenv("ZENDESK_EMAIL") and (getenv("ZENDESK_API_TOKEN") or getenv("ZENDESK_PASSWORD")))
          or getenv("ZENDESK_OAUTH_TOKEN")
          or (getenv("ZENDESK_OAUTH_CLIENT_ID") and getenv("ZENDESK_OAUTH_CLIENT_SECRET"))) then
    usage_error("no credentials: set ZENDESK_EMAIL with ZENDESK_API_TOKEN (or ZENDESK_PASSWORD), " ..
                "ZENDESK_OAUTH_TOKEN, or ZENDESK_OAUTH_CLIENT_ID with ZENDESK_OAUTH_CLIENT_SECRET")
  end
  local ok, c = pcall(zis.from_env, { debug = self.debug or nil, timeout = self.timeout })
  if not ok then usage_error("bad Zendesk settings in the environment: " .. cli_words((classify(c)))) end
  self._client = c
  -- a wait of the rate limit longer than a second says so, on a terminal
  -- (for every client sharing this one's budget: for_integration's too)
  if self:on_terminal() then
    require("zis.pace").watch(c, function(seconds, reason)
      self:progress_done()
      err_out(string.format("zis: %s: resuming in %.0f s (at %s)\n", reason, seconds,
                            os.date("%H:%M:%S", os.time() + math.ceil(seconds))))
      if self._line then self:progress(self._line) end
    end)
  end
  return c
end

-- Progress and waits go to stderr only when both stdout and stderr are
-- terminals, and not with --quiet: nothing of them in a pipe or a file.
function Context:on_terminal()
  if self._tty == nil then
    self._tty = not self.quiet and core.isatty(1) and core.isatty(2)
  end
  return self._tty
end

-- A progress line from the figures (zis.pace.progress): done/total, the
-- rate, the time left, a wait.
function Context:progress_figures(what, unit, p)
  local parts = { string.format("%s: %d/%d %s", what, p.done, p.total, unit) }
  if p.rate then parts[#parts + 1] = string.format("%.1f/s", p.rate) end
  if p.eta and p.done < p.total then parts[#parts + 1] = string.format("%d s left", math.ceil(p.eta)) end
  if p.waiting and p.waiting > 0 then
    parts[#parts + 1] = string.format("waiting %.0f s: %s", math.ceil(p.waiting), p.wait_reason or "rate limit")
  end
  self:progress(table.concat(parts, ", "))
end

-- `res` or a failure with `err`'s one line.
function Context.check(_, res, err)
  if res == nil then
    if zis.is_error(err) then error(err, 0) end
    fail(err)
  end
  return res
end

function Context.json_out(_, v) out(zis.pretty_json(v)) end

-- A progress line on stderr, rewritten in place; only on a terminal.
function Context:progress(text)
  if not self:on_terminal() then return end
  err_out("\r\27[K", text)
  self._progress, self._line = true, text
end

function Context:progress_done()
  if self._progress then err_out("\r\27[K") end
  self._progress, self._line = nil, nil
end

---------------------------------------------------------------------------
-- The commands
---------------------------------------------------------------------------

-- The integration a bundle's references name (zis:{integration}:...):
-- the same function validate and deploy use, so the three agree.
local function integration_of(bundle) return require("zis.deploy").integration_of(bundle) end

local function collect(ctx, iterator_name, integration)
  local c, list = ctx:client(), {}
  for x in c[iterator_name](c, integration, { page_size = 100 }) do list[#list + 1] = x end
  return list
end

local INTEGRATION = { "integration", "the integration's name", type = "integration" }

local function job_spec_command(which)
  return {
    name = which, summary = which .. " a job spec",
    description = (which == "install" and "Installs" or "Uninstalls") ..
                  " a job spec (short or full name).",
    args = { INTEGRATION, { "job_spec", "the job spec: short (on_ticket) or full " ..
                             "(zis:INTEGRATION:job_spec:on_ticket)", type = "nonempty" } },
    run = function(ctx, a)
      local full_integration = a.job_spec:match("^zis:([^:]*):job_spec:")
      if full_integration and full_integration ~= a.integration then
        usage_error("job spec " .. a.job_spec .. " belongs to integration " .. full_integration ..
                    ", not " .. a.integration)
      end
      local c = ctx:client()
      ctx:check(c[which .. "_job_spec"](c, a.integration, a.job_spec))
      if ctx.json then return out('{"' .. which .. 'ed":true}\n') end
      out(which, "ed job spec ", a.job_spec, "\n")
    end,
  }
end

-- Deployments as code: the manifest is read, and refused with the path
-- of the offending key, before any request (exit 1).
local MANIFEST = { "manifest", "the manifest: a Lua file returning a table, or a JSON file" }
local PLAN_OPTIONS = {
  { "--prune", "delete what the manifest no longer declares (never a bundle: its job specs are " ..
               "uninstalled)", flag = true },
  { "--reset-secrets", "send every secret again (they cannot be compared)", flag = true },
  { "--allow-outside", "let the manifest name files outside its folder (the plan lists them)", flag = true },
}

local function load_manifest(path, a)
  -- a folder, a missing, unreadable, empty or binary file: named here, in
  -- the words every command uses (zis.manifest.load reads it again)
  read_file(path, "the manifest, a Lua or JSON file")
  local m, why = require("zis.manifest").load(path, nil, { allow_outside = a and a.allow_outside })
  if not m then fail(why) end
  return m
end

local function plan_opts(a, extra)
  local o = { prune = a.prune, reset_secrets = a.reset_secrets, allow_outside = a.allow_outside }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local MARK = { create = "+", update = "~", delete = "-", install = "+", uninstall = "-", unchanged = " " }
local OP_MARK = { added = "+", removed = "-", changed = "~" }

local function print_plan(plan)
  out("plan for ", plan.integration, plan.prune and " (with --prune)" or "", ":\n")
  for _, it in ipairs(plan.items) do
    out(string.format("  %s %-10s %s %s\n", MARK[it.action], it.action, (it.kind:gsub("_", " ")), it.name))
    for _, p in ipairs(it.paths or {}) do out("        ", OP_MARK[p.op], " ", p.path, "\n") end
    for _, d in ipairs(it.details) do out("        ", d, "\n") end
  end
  for _, n in ipairs(plan.notes) do out("  note: ", n, "\n") end
  for _, f in ipairs(plan.outside or {}) do out("  outside the manifest's folder (--allow-outside): ", f, "\n") end
  out(plan.summary, "\n")
end


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
M.read_hidden = read_hidden

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
-- OAuth connection's tokens (docs/zendesk-api.md), the legacy read too.
-- Printed as the API prints the others ("*****") unless --show-secrets.
local LIVE_SECRETS = { "access_token", "refresh_token" }
local function redact(x, show)
  if show or type(x) ~= "table" then return x end
  for _, k in ipairs(LIVE_SECRETS) do
    if type(x[k]) == "string" and x[k] ~= "" then x[k] = "*****" end
  end
  return x
end
M.redact = redact

local SHOW_SECRETS = { "--show-secrets", "print OAuth connections' live access and refresh tokens " ..
                       "(redacted by default)", flag = true }
local CONNECTION_TYPE = { "type", "api_key, basic_auth or bearer_token",
                          choices = { "api_key", "basic_auth", "bearer_token" } }

M.commands = {
  {
    name = "integrations", summary = "list integrations",
    description = "Lists the account's integrations.",
    run = function(ctx)
      local res = ctx:check(ctx:client():list_integrations())
      if ctx.json then return ctx:json_out(res) end
      local rows = {}
      for _, i in ipairs(res.integrations or {}) do rows[#rows + 1] = { i.name, i.description } end
      print_table({ "NAME", "DESCRIPTION" }, rows)
    end,
  },
  {
    name = "create", summary = "create an integration",
    description = "Creates an integration (names are global and can never be deleted).",
    args = { INTEGRATION, { "description", "what it is for", optional = true } },
    run = function(ctx, a)
      local res = ctx:check(ctx:client():create_integration(a.integration, { description = a.description }))
      if ctx.json then return ctx:json_out(res) end
      out("created integration ", a.integration, " (OAuth client ",
          tostring(res.zendesk_oauth_client and res.zendesk_oauth_client.identifier), ")\n")
    end,
  },
  {
    name = "bundles", summary = "list every bundle",
    description = "Lists every bundle of an integration.",
    args = { INTEGRATION },
    run = function(ctx, a)
      local list = collect(ctx, "bundles", a.integration)
      if ctx.json then return ctx:json_out(zis.array(list)) end
      local rows = {}
      for _, b in ipairs(list) do rows[#rows + 1] = { b.uuid, b.name, b.description } end
      print_table({ "UUID", "NAME", "DESCRIPTION" }, rows)
    end,
  },
  {
    name = "bundle", summary = "get, push or delete one bundle",
    description = "One bundle: print it as JSON, upload a JSON file, or delete it.",
    commands = {
      {
        name = "get", summary = "print one bundle, with resources, as JSON",
        description = "Prints one bundle, with its resources, as pretty JSON (keys sorted).",
        args = { INTEGRATION, { "uuid", "the bundle's uuid", type = "nonempty" } },
        run = function(ctx, a)
          ctx:json_out(ctx:check(ctx:client():get_bundle(a.integration, a.uuid)))
        end,
      },
      {
        name = "push", summary = "upload a bundle (a JSON file, sent as it is)",
        description = "Uploads a JSON file byte for byte (an upsert by bundle name). Installed " ..
                      "job specs are left uninstalled: prefer zis deploy.",
        args = { INTEGRATION, { "file", "the bundle, a JSON file" } },
        run = function(ctx, a)
          local text = read_file(a.file, "the bundle, a JSON file")
          -- sent as it is, but not when it is not JSON: the server's 400
          -- would not name the file
          local bundle, why = zis.decode_json(text)
          if bundle == nil then fail(a.file .. ": not JSON (" .. tostring(why) .. ")") end
          if type(bundle) ~= "table" or getmetatable(bundle) == zis.array_metatable then
            fail(a.file .. ": not a bundle (a JSON object)")
          end
          ctx:check(ctx:client():upload_bundle(a.integration, text))
          if ctx.json then return out('{"uploaded":true}\n') end
          out("uploaded ", a.file, " to ", a.integration,
              " (installed job specs are now uninstalled: zis deploy reinstalls them)\n")
        end,
      },
      {
        name = "delete", summary = "delete a bundle",
        description = "Deletes a bundle.",
        args = { INTEGRATION, { "uuid", "the bundle's uuid", type = "nonempty" } },
        run = function(ctx, a)
          ctx:check(ctx:client():delete_bundle(a.integration, a.uuid))
          if ctx.json then return out('{"deleted":true}\n') end
          out("deleted bundle ", a.uuid, "\n")
        end,
      },
    },
  },
  {
    name = "job-specs", summary = "list every job spec",
    description = "Lists every job spec and whether it is installed.",
    args = { INTEGRATION },
    run = function(ctx, a)
      local list = collect(ctx, "job_specs", a.integration)
      if ctx.json then return ctx:json_out(zis.array(list)) end
      local rows = {}
      for _, j in ipairs(list) do
        rows[#rows + 1] = { j.name, j.installed and "yes" or "no", j.event_type, j.flow_name }
      end
      print_table({ "NAME", "INSTALLED", "EVENT", "FLOW" }, rows)
    end,
  },
  job_spec_command("install"),
  job_spec_command("uninstall"),
  {
    name = "validate", summary = "check a bundle offline",
    description = "Checks a bundle offline; exit status 1 when it has errors.",
    args = { { "file", "the bundle, a JSON file" } },
    options = { { "--integration", "the integration the bundle's references must name",
                  type = "integration" } },
    run = function(ctx, a)
      local ok, problems = zis.validate(read_file(a.file, "the bundle, a JSON file"),
                                        { integration = a.integration })
      if ctx.json then
        ctx:json_out{ ok = ok, problems = zis.array(problems) }
      else
        for _, p in ipairs(problems) do
          out(p.severity, ": ", p.path ~= "" and p.path or "(bundle)", ": ", p.message, "\n")
        end
        out(a.file, ok and ": valid" or ": NOT valid", "\n")
      end
      return ok and 0 or 1
    end,
  },
  {
    name = "deploy", summary = "validate, upload, install every job spec, report stale ones",
    description = "Validates, creates the integration when missing, uploads, installs every job " ..
                  "spec, reads them back, and reports stale job specs from older bundles. The " ..
                  "integration defaults to the one the bundle's references name. Exit status 0 " ..
                  "only when the deployment is whole.",
    args = { { "file", "the bundle, a JSON file" } },
    options = {
      { "--integration", "the integration (default: the one the bundle names)", type = "integration" },
      { "--dry-run", "say what would be done; change nothing", flag = true },
      { "--uninstall-stale", "uninstall job specs of older bundles", flag = true },
    },
    run = function(ctx, a)
      local text = read_file(a.file, "the bundle, a JSON file")
      local bundle, why = zis.decode_json(text)
      if bundle == nil then fail(a.file .. ": not JSON (" .. tostring(why) .. ")") end
      if type(bundle) ~= "table" or getmetatable(bundle) == zis.array_metatable then
        fail(a.file .. ": not a bundle (a JSON object)")
      end
      local integration = a.integration or integration_of(bundle)
      local report
      if not integration then
        -- an invalid bundle often names no integration: its problems are
        -- the news, reported as deploy reports them (nothing is sent)
        local valid, problems = zis.validate(bundle)
        if valid then usage_error("cannot tell the integration from the bundle: give --integration") end
        report = { ok = false, problems = problems,
                   steps = { "validate: " .. #problems .. " problem(s); nothing sent" },
                   summary = "NOT deployed: the bundle is not valid (" .. #problems .. " problem(s))" }
      else
        local c = ctx:client()
        ctx:progress("deploying " .. a.file .. " to " .. integration .. " ...")
        report = c:deploy(integration, text, { dry_run = a.dry_run, uninstall_stale = a.uninstall_stale })
        ctx:progress_done()
      end
      if ctx.json then
        local o = {}
        for k, v in pairs(report) do o[k] = v end
        o.failed = {}
        for i, f in ipairs(report.failed or {}) do o.failed[i] = { name = f.name, error = tostring(f.error) } end
        o.failed = zis.array(o.failed)
        if report.error then o.error = tostring(report.error) end
        for _, k in ipairs{ "installed", "not_installed", "stale", "removed", "steps", "problems" } do
          o[k] = zis.array(o[k] or {})
        end
        ctx:json_out(o)
      else
        for _, p in ipairs(report.problems or {}) do out("  ", p.severity, ": ", p.path, ": ", p.message, "\n") end
        for _, s in ipairs(report.steps or {}) do out("  ", cli_words(s), "\n") end
        out(cli_words(report.summary), "\n")
      end
      return report.ok and 0 or 1
    end,
  },
  {
    name = "export", summary = "write every bundle to DIR as JSON files",
    description = "Writes every bundle of an integration, with its resources, to DIR as pretty " ..
                  "JSON files (one per bundle, keys sorted), fetched concurrently; each file " ..
                  "appears whole or not at all. Exit status 0 only when every bundle was written.",
    args = { INTEGRATION, { "dir", "the folder (created when missing)", type = "nonempty" } },
    options = { { "--concurrency", "requests at once, 1 to 64", argname = "N", type = M.integer(1, 64),
                  default = 8 } },
    run = function(ctx, a)
      local c = ctx:client()
      local report = c:export(a.integration, a.dir, { concurrency = a.concurrency,
        on_progress = ctx:on_terminal() and function(p)
          ctx:progress_figures("exporting " .. a.integration, "bundles", p)
        end or nil })
      ctx:progress_done()
      if report.error then fail(report.error) end
      if ctx.json then
        local failed = {}
        for i, f in ipairs(report.failed) do failed[i] = { uuid = f.uuid, error = tostring(f.error) } end
        ctx:json_out{ ok = report.ok, dir = report.dir, written = zis.array(report.written),
                      failed = zis.array(failed) }
      else
        for _, f in ipairs(report.failed) do err_out("zis: ", f.uuid, ": ", tostring(f.error), "\n") end
        for _, w in ipairs(report.written) do out("wrote ", w.file, "\n") end
        out(string.format("exported %d bundle(s) of %s to %s%s\n", #report.written, a.integration, a.dir,
                          #report.failed > 0 and (", " .. #report.failed .. " failed") or ""))
      end
      return report.ok and 0 or 1
    end,
  },
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
          if ctx.json then return ctx:json_out(zis.array(list)) end
          local rows = {}
          for _, x in ipairs(list) do rows[#rows + 1] = { x.scope, x.updated_at, zis.encode_json(x.config) } end
          print_table({ "SCOPE", "UPDATED", "CONFIG" }, rows)
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
          if ctx.json then return ctx:json_out(zis.array(list)) end
          local rows = {}
          for _, x in ipairs(list) do
            rows[#rows + 1] = { x.name, x.type, x.allowed_domain ~= zis.null and x.allowed_domain or "",
                                x.updated_at }
          end
          print_table({ "NAME", "TYPE", "DOMAIN", "UPDATED" }, rows)
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
                      "host, for this integration.",
        args = { INTEGRATION, { "url", "the redirect_url the flow's start answered", type = "nonempty" } },
        run = function(ctx, a)
          local c <close> = integration_client(ctx, a.integration)
          local res = ctx:check(c:finish_oauth_flow(a.integration, a.url))
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
      if ctx.json then return ctx:json_out(zis.array(list)) end
      local rows = {}
      for _, x in ipairs(list) do
        rows[#rows + 1] = { x.link_type, x.left_object and x.left_object.name,
                            x.right_object and x.right_object.name, x.id }
      end
      print_table({ "TYPE", "LEFT", "RIGHT", "ID" }, rows)
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
          if ctx.json then return ctx:json_out(zis.array(list)) end
          local rows = {}
          for _, w in ipairs(list) do
            rows[#rows + 1] = { w.uuid, w.source_system, w.event_type, w.path }
          end
          print_table({ "UUID", "SOURCE", "EVENT", "PATH" }, rows)
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
          if ctx.json then return ctx:json_out(zis.array(list)) end
          local rows = {}
          for _, x in ipairs(list) do rows[#rows + 1] = { x.name, x.uuid, x.grant_type, x.token_url } end
          print_table({ "NAME", "UUID", "GRANT", "TOKEN URL" }, rows)
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
  {
    name = "graph", summary = "draw a bundle's flows (DOT, Mermaid, SVG, PNG)",
    description = "Draws a bundle: a JSON file, or a live bundle given as INTEGRATION UUID. " ..
                  "svg and png need Graphviz's dot (Debian: apt-get install graphviz).",
    args = { { "source", "a bundle file, or an integration name followed by a uuid" },
             { "uuid", "the live bundle's uuid (with an integration name)", optional = true,
               type = "nonempty" } },
    options = { { "--format", "dot, mermaid, svg or png", argname = "FORMAT", default = "dot",
                  choices = { "dot", "mermaid", "svg", "png" } },
                { "--trace", "draw the path of a run (zis --json run's output)", argname = "RESULT.json" } },
    run = function(ctx, a)
      local bundle
      if a.uuid then
        local integration, why = TYPES.integration(a.source)
        if not integration then usage_error("INTEGRATION: " .. why) end
        bundle = ctx:check(ctx:client():get_bundle(integration, a.uuid))
      else
        bundle = read_file(a.source, "the bundle, a JSON file")
      end
      local trace = a.trace and read_file(a.trace, "the result of zis --json run")
      local text, msg, code = require("zis.graph").render(bundle, { format = a.format, trace = trace })
      if not text then
        if code == "usage" then usage_error(msg) end
        -- the file the message is about, named as the user gave it
        if not a.uuid and tostring(msg):match("^not JSON") then msg = a.source .. ": " .. msg
        elseif a.trace and tostring(msg):match("^the trace ") then
          msg = a.trace .. ": " .. tostring(msg):gsub("^the trace is ", "")
        end
        fail(msg)
      end
      out(text)
    end,
  },
  -- zis run, zis test: the flow simulator (lua/zis/flow/cli.lua)
  require("zis.flow.cli").command("run", M.integer),
  require("zis.flow.cli").command("test", M.integer),
  {
    name = "mock", summary = "run the local registry",
    description = "Serves the ZIS API from memory on loopback, as Zendesk answers it (the routes " ..
                  "docs/zendesk-api.md lists), with fake credentials (admin@example.com with token " ..
                  "fake-api-token or password fake-password, the admin bearer token " ..
                  "fake-oauth-token, the admin OAuth client fake-admin-client with secret " ..
                  "fake-admin-client-secret), until POST /__mock/shutdown or Ctrl-C.",
    options = {
      { "--host", "loopback address to listen on", default = "127.0.0.1" },
      { "--port", "port; 0 picks a free one", argname = "N", type = M.integer(0, 65535), default = 8089 },
      { "--port-file", "write the port to FILE once listening", argname = "FILE" },
      { "--quiet", "log nothing", flag = true },
      { "--email", "accepted email", argname = "E" },
      { "--token", "accepted API token", argname = "T" },
      { "--password", "accepted password", argname = "P" },
      { "--oauth-token", "accepted bearer token", argname = "O" },
      { "--latency", "seconds added to every API answer (without blocking others)",
        argname = "SECONDS", type = "seconds" },
    },
    run = function(_, a)
      local opts = {}
      for _, k in ipairs{ "host", "port", "port_file", "quiet", "email", "token", "password",
                          "oauth_token", "latency" } do opts[k] = a[k] end
      require("zis.mock").serve(opts)
    end,
  },
  {
    name = "plan", summary = "what apply would change (exit 0: nothing, 2: changes pending)",
    description = "Compares a manifest (a Lua or JSON file) with the live integration, reading with " ..
                  "GET requests only, and prints for each object: create, update, delete (with " ..
                  "--prune), install, uninstall or unchanged. Exit status 0: no changes, 2: changes " ..
                  "pending (as terraform plan -detailed-exitcode; a usage error is 2 as well), 1: error.",
    args = { MANIFEST },
    options = PLAN_OPTIONS,
    run = function(ctx, a)
      local m = load_manifest(a.manifest, a)
      local plan = ctx:check(zis.plan(ctx:client(), m, plan_opts(a)))
      if ctx.json then ctx:json_out(plan) else print_plan(plan) end
      return plan.changes > 0 and 2 or 0
    end,
  },
  {
    name = "apply", summary = "converge the integration to a manifest",
    description = "Creates the integration when missing, uploads changed bundles only and reinstalls " ..
                  "their job specs, writes configs, connections and OAuth clients, creates missing " ..
                  "inbound webhooks, and with --prune deletes what the manifest no longer declares. " ..
                  "Stops at the first failing step and says what was done and what was not. Exit " ..
                  "status 0 only when every step was done.",
    args = { MANIFEST },
    options = PLAN_OPTIONS,
    run = function(ctx, a)
      local m = load_manifest(a.manifest, a)
      -- a new webhook's credentials without a file are shown at once, before
      -- a later step (or Ctrl-C) could stop apply; on stderr with --json,
      -- whose document comes last
      local shown = {}
      local function show(c)
        shown[c] = true
        local w = ctx.json and err_out or out
        w("  inbound webhook ", c.source_system, ":", c.event_type, " created: uuid ", tostring(c.uuid),
          "\n    path ", tostring(c.path), "\n    username ", tostring(c.username), "\n    password ",
          tostring(c.password), "\n    (shown only once: keep them now; credentials_file in the manifest " ..
          "writes them to a file)\n")
      end
      -- each step printed as it is done (not with --json, whose document
      -- says them); a progress line under it on a terminal
      local printed = 0
      local extra = { on_credentials = show }
      if not ctx.json then
        extra.on_step = function(name)
          ctx:progress_done()
          out("  done: ", name, "\n")
          io.stdout:flush()
          printed = printed + 1
        end
      end
      if ctx:on_terminal() then
        extra.on_progress = function(p) ctx:progress_figures("applying " .. a.manifest, "steps", p) end
      end
      local report = ctx:check(zis.apply(ctx:client(), m, plan_opts(a, extra)))
      ctx:progress_done()
      if ctx.json then
        local o = {}
        for k, v in pairs(report) do o[k] = v end
        if report.failed then o.failed = { step = report.failed.step, error = tostring(report.failed.error) } end
        ctx:json_out(o)
      else
        for i = printed + 1, #report.done do out("  done: ", report.done[i], "\n") end
        if report.failed then
          out("  FAILED: ", report.failed.step, ": ", tostring(report.failed.error), "\n")
          for _, s in ipairs(report.not_done) do out("  not done: ", s, "\n") end
        end
        for _, c in ipairs(report.credentials) do
          if c.file then
            out("  wrote ", c.file, " (credentials of inbound webhook ", tostring(c.uuid), ", mode 0600)\n")
          elseif not shown[c] then
            show(c)
          end
        end
        out(report.summary, "\n")
      end
      return report.ok and 0 or 1
    end,
  },
  {
    name = "import", summary = "write a manifest and its bundles from a live integration",
    description = "Writes DIR/manifest.json and DIR/bundles/NAME.json from a live integration; " ..
                  "secrets become env references to fill in. zis plan on the result reports no changes. " ..
                  "A folder already holding a manifest or bundle files is refused unless --force.",
    args = { INTEGRATION, { "dir", "the folder (created when missing)", type = "nonempty" } },
    options = { { "--force", "replace the manifest and bundle files already in DIR", flag = true } },
    run = function(ctx, a)
      local c = ctx:client()
      ctx:progress("importing " .. a.integration .. " to " .. a.dir .. " ...")
      local report = ctx:check(zis.import(c, a.integration, a.dir, { force = a.force }))
      ctx:progress_done()
      if ctx.json then return ctx:json_out(report) end
      for _, f in ipairs(report.written) do out("wrote ", f, "\n") end
      if #report.replaced > 0 then out("(replaced: ", table.concat(report.replaced, ", "), ")\n") end
      if #report.env > 0 then
        out("set these before apply (secrets are never read back): ", table.concat(report.env, " "), "\n")
      end
    end,
  },
  {
    name = "completion", summary = "print a shell completion script",
    description = "Prints a completion script: eval \"$(zis completion bash)\", " ..
                  "zis completion fish | source, or save the zsh one as _zis on $fpath.",
    args = { { "shell", "bash, zsh or fish", choices = { "bash", "zsh", "fish" } } },
    run = function(ctx, a)
      local script = ctx.parser["get_" .. a.shell .. "_complete"](ctx.parser)
      -- argparse's bash script adds each command's -h --help to the global
      -- ones, which have them already: offered twice after a command
      if a.shell == "bash" then script = script:gsub('opts="%$opts %-h %-%-help', 'opts="$opts') end
      out(script)
    end,
  },
}

---------------------------------------------------------------------------
-- Building the parser from M.commands
---------------------------------------------------------------------------

local ROOT_DESCRIPTION = "The ZIS Registry from the shell (lua-zis)."
local ROOT_EPILOG = [[
Credentials and host come from the environment: ZENDESK_URL or
ZENDESK_SUBDOMAIN, ZENDESK_EMAIL with ZENDESK_API_TOKEN (or
ZENDESK_PASSWORD), or ZENDESK_OAUTH_TOKEN.
Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted.
`zis COMMAND --help` describes one command.]]

local function key_of(name) return (name:gsub("^%-%-", ""):gsub("%-", "_")) end

-- spec.type as an argparse converter whose message names the argument.
local function converter(spec, label)
  local t = spec.type
  if type(t) == "string" then t = assert(TYPES[t], "unknown argument type " .. t) end
  return function(s)
    local v, msg = t(s)
    if v == nil then return nil, label .. ": " .. tostring(msg) end
    return v
  end
end

-- Adds -h/--help to parser p: it records which parser asked and stops the
-- parse, so main prints the help with a checked write.
local function add_help(p, state)
  p:add_help(false)
  p:flag("-h --help", "Show this help and exit."):action(function()
    state.help = p
    error("help", 0)
  end)
end

-- Adds spec's arguments and options to the argparse (sub)parser p.
local function add_params(p, spec)
  for _, a in ipairs(spec.args or {}) do
    local arg = p:argument(a[1]:upper(), a[2])
    arg:target(key_of(a[1]))
    if a.optional then arg:args("?") end
    if a.choices then arg:choices(a.choices) end
    if a.type then arg:convert(converter(a, a[1]:upper())) end
  end
  for _, o in ipairs(spec.options or {}) do
    local opt
    if o.flag then
      opt = p:flag(o[1], o[2])
    else
      opt = p:option(o[1], o[2]):argname(o.argname or key_of(o[1]):upper())
      if o.type then opt:convert(converter(o, o[1])) end
      if o.choices then opt:choices(o.choices) end
      if o.default ~= nil then opt:default(tostring(o.default)) end
      if o.required then opt:count(1) end  -- shown without brackets in the usage
      if o.count then opt:count(o.count) end  -- "*": repeatable, a list
    end
    opt:target(key_of(o[1]))
  end
end

local function add_entry(parent, spec, state, depth)
  local cmd = parent:command(spec.name, spec.description or spec.summary)
  cmd:summary(spec.summary or spec.description)
  cmd:target("_command_" .. depth .. "_" .. spec.name)
  add_help(cmd, state)
  add_params(cmd, spec)
  if spec.commands then
    cmd:command_target("_command_" .. (depth + 1))
    for _, sub in ipairs(spec.commands) do add_entry(cmd, sub, state, depth + 1) end
  end
  return cmd
end

-- The entry of M.commands called `name`, or nil.
function M.command(name)
  for _, s in ipairs(M.commands) do if s.name == name then return s end end
end

-- Builds the parser: `zis` with every command, or, with `only`, that one
-- command as a program of its own (zis-mock); `state.help` is set when
-- -h/--help is given.  `just` (a command's name): only that command
-- under the global options, for a command line that names it first
-- (argparse then parses as the whole parser would, and start-up is
-- quicker); --help of the root and anything else get the whole parser.
function M.parser(state, only, program, just)
  if only then
    local spec = assert(M.command(only), "no command " .. tostring(only))
    local p = argparse(program, spec.description or spec.summary)
    p:help_max_width(80)
    add_help(p, state)
    add_params(p, spec)
    state.only = spec
    return p
  end
  local p = argparse(program or "zis", ROOT_DESCRIPTION, ROOT_EPILOG)
  p:help_max_width(80)
  add_help(p, state)
  p:flag("--json", "Print JSON (for scripts) instead of tables.")
  p:flag("--debug", "Print each HTTP attempt to stderr (never a credential).")
  p:flag("--quiet", "Print no progress and no waits on stderr (they are shown only on a terminal).")
  p:option("--timeout", "Give up on a request after SECONDS (default 60).")
    :argname("SECONDS"):convert(converter({ type = "timeout" }, "--timeout"))
  p:flag("--version", "Print the versions of lua-zis, libcurl and Lua, and exit."):action(function()
    state.version = true
    error("help", 0)   -- stops the parse, as --help does
  end)
  p:command_target("_command_1")
  for _, spec in ipairs(M.commands) do
    if not just or spec.name == just then add_entry(p, spec, state, 1) end
  end
  return p
end

-- The spec of the command the parse chose (walking nested commands).
local function chosen(result, state)
  if state.only then return state.only end
  local list, spec, depth = M.commands, nil, 1
  while result["_command_" .. depth] do
    local name = result["_command_" .. depth]
    for _, s in ipairs(list) do if s.name == name then spec = s end end
    list, depth = spec.commands or {}, depth + 1
  end
  return spec
end

-- argparse's error, on one line: "unknown option '--dry-rn' (did you
-- mean '--dry-run'?)".
local function one_line(msg)
  local first, rest = tostring(msg):match("^([^\n]*)\n?(.*)$")
  rest = rest:gsub("\n", " "):gsub("^%s+", "")
  if rest ~= "" then return first .. " (" .. rest:gsub("^Did", "did") .. ")" end
  return first
end

-- The command words before the first option, for "see zis CMD --help".
local function command_words(argv, program)
  local words = { program }
  local list = M.commands
  for _, a in ipairs(argv) do
    local found
    for _, s in ipairs(list or {}) do if s.name == a then found = s end end
    if not found then break end
    words[#words + 1] = a
    list = found.commands
  end
  return table.concat(words, " ")
end

-- The options that take a value, in every command, and the global ones.
local function value_options()
  local set = { ["--timeout"] = true }
  local function walk(list)
    for _, spec in ipairs(list or {}) do
      for _, o in ipairs(spec.options or {}) do
        if not o.flag then for name in o[1]:gmatch("%S+") do set[name] = true end end
      end
      walk(spec.commands)
    end
  end
  walk(M.commands)
  return set
end

-- argparse takes "-1" for an option, so "--timeout -1" was "unknown
-- option '-1' (did you mean '-h'?)".  A negative number after an option
-- that takes a value is that option's value ("--timeout=-1"), and the
-- option's own check says what it must be.
local function join_negative_values(args)
  local takes, joined, i = value_options(), {}, 1
  while i <= #args do
    local a, nxt = args[i], args[i + 1]
    if a == "--" then
      table.move(args, i, #args, #joined + 1, joined)
      break
    end
    if takes[a] and nxt and nxt:match("^%-%.?%d") then
      joined[#joined + 1] = a .. "=" .. nxt
      i = i + 2
    else
      joined[#joined + 1] = a
      i = i + 1
    end
  end
  return joined
end
M.join_negative_values = join_negative_values

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

-- Flushes stdout; a failed flush (a full disk, a closed descriptor) is a
-- failure, like a failed write.
local function flush_stdout()
  local ok, err = io.stdout:flush()
  if not ok then fail("cannot write to stdout: " .. tostring(err)) end
end

-- Writes the one-line error; if even stderr fails, the status says it.
local function report(program, msg)
  -- one line, whatever the message holds (a file name with a newline)
  msg = cli_words(tostring(msg):gsub("%s*[\r\n]+%s*", " "))
  local ok = io.stderr:write(program, ": ", msg, "\n")
  return ok ~= nil
end

--- cli.main(argv [, opts]) -> exit status.  opts.only = "mock" and
-- opts.program = "zis-mock" run one command as a program of its own.
function M.main(argv, opts)
  opts = opts or {}
  local program = opts.program or "zis"
  local args = {}
  for i = 1, #(argv or {}) do args[i] = argv[i] end
  local state = {}
  local status
  local ok, e = xpcall(function()
    -- the command named first, when it is one: its parser alone
    local first = args[1]
    -- (completion prints the whole parser's script: it needs them all)
    local just = not opts.only and first and first ~= "completion" and M.command(first) and first or nil
    local parser = M.parser(state, opts.only, program, just)
    local pok, parsed, result = pcall(parser.pparse, parser, join_negative_values(args))
    if state.help or state.version then
      out(state.version and zis.user_agent or state.help:get_help(), "\n")
      flush_stdout()
      status = 0
      return
    end
    if not pok then error(parsed, 0) end  -- not a parse error: an interrupt, or a bug
    if not parsed then
      local where = opts.only and program or command_words(args, program)
      usage_error(one_line(result) .. " (see " .. where .. " --help)")
    end
    local spec = chosen(result, state)
    local ctx = setmetatable({ json = result.json, debug = result.debug, timeout = result.timeout,
                               quiet = result.quiet,
                               parser = parser, program = program }, Context)
    local code = spec.run(ctx, result)
    if ctx._client then ctx._client:close() end
    flush_stdout()
    status = code or 0
  end, function(x) return x end)
  if ok then return status end
  local msg, code = classify(e)
  if not report(program, msg) then code = M.EXIT_FAILURE end
  return code
end

return M

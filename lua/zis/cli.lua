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

local error, getmetatable, io, ipairs, math, os, pcall, require, setmetatable,
      string, table, tonumber, tostring, type, utf8, xpcall =
      error, getmetatable, io, ipairs, math, os, pcall, require, setmetatable,
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

-- A listing, the one way every list command prints one: a JSON array
-- with --json, else a table of `header` and one row(item) per item.
function Context:show_list(list, header, row)
  if self.json then return self:json_out(zis.array(list)) end
  local rows = {}
  for i, x in ipairs(list) do rows[i] = row(x) end
  print_table(header, rows)
end

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

---------------------------------------------------------------------------
-- The commands: by group, each in its own module (lua/zis/cli/), given
-- the pieces they share; the order is the help's
---------------------------------------------------------------------------

local INTEGRATION = { "integration", "the integration's name", type = "integration" }

M.lib = { zis = zis, core = core, out = out, err_out = err_out, fail = fail, usage_error = usage_error,
          read_file = read_file, print_table = print_table, getenv = getenv, TYPES = TYPES,
          INTEGRATION = INTEGRATION, integer = M.integer, cli_words = cli_words }

local function own_commands() return {
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
} end

local function last_commands() return {
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
} end

-- The groups in the help's order, and the group of each command: a
-- command line that names its command first loads only that group (the
-- start-up of `zis validate`); the help, the completions and the specs
-- get them all (M.commands).
local GROUPS = { "bundles", "services", "own", "deployments", "last" }
local GROUP_OF = {
  integrations = "bundles", create = "bundles", bundles = "bundles", bundle = "bundles",
  ["job-specs"] = "bundles", install = "bundles", uninstall = "bundles", validate = "bundles",
  deploy = "bundles", export = "bundles",
  configs = "services", connections = "services", ["oauth-clients"] = "services", links = "services",
  webhooks = "services", token = "services",
  graph = "own", run = "own", test = "own", mock = "own",
  plan = "deployments", apply = "deployments", import = "deployments",
  completion = "last",
}
local loaded_groups = {}
local function group(name)
  local g = loaded_groups[name]
  if not g then
    if name == "own" then g = own_commands()
    elseif name == "last" then g = last_commands()
    else g = require("zis.cli." .. name)(M.lib) end
    loaded_groups[name] = g
  end
  return g
end
M.GROUP_OF = GROUP_OF

-- M.commands (every entry, in order), M.redact and M.read_hidden, made
-- when first asked for.
setmetatable(M, { __index = function(t, k)
  if k == "commands" then
    local all = {}
    for _, name in ipairs(GROUPS) do
      for _, c in ipairs(group(name)) do all[#all + 1] = c end
    end
    rawset(t, "commands", all)
    return all
  elseif k == "redact" or k == "read_hidden" then
    return group("services")[k]
  end
end })

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
  local g = GROUP_OF[name]
  for _, s in ipairs(g and group(g) or M.commands) do if s.name == name then return s end end
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
  if just then
    local spec = M.command(just)
    state.list = { spec }
    add_entry(p, spec, state, 1)
  else
    for _, spec in ipairs(M.commands) do add_entry(p, spec, state, 1) end
  end
  return p
end

-- The spec of the command the parse chose (walking nested commands).
local function chosen(result, state)
  if state.only then return state.only end
  local list, spec, depth = state.list or M.commands, nil, 1
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

-- The options that take a value, in the commands given (default: every
-- command), and the global ones.
local function value_options(commands)
  local set = { ["--timeout"] = true }
  local function walk(list)
    for _, spec in ipairs(list or {}) do
      for _, o in ipairs(spec.options or {}) do
        if not o.flag then for name in o[1]:gmatch("%S+") do set[name] = true end end
      end
      walk(spec.commands)
    end
  end
  walk(commands or M.commands)
  return set
end

-- argparse takes "-1" for an option, so "--timeout -1" was "unknown
-- option '-1' (did you mean '-h'?)".  A negative number after an option
-- that takes a value is that option's value ("--timeout=-1"), and the
-- option's own check says what it must be.
local function join_negative_values(args, list)
  local takes, joined, i = value_options(list), {}, 1
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
    local pok, parsed, result = pcall(parser.pparse, parser, join_negative_values(args, state.list))
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

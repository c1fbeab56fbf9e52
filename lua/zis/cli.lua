-- zis.cli: the `zis` command line (bin/zis is a small launcher around it).
--
-- Every command is one entry of M.commands: name, summary, description,
-- args, options and a run function.  The argparse parser, every --help
-- text and the shell completions are built from those entries, so adding a
-- command is one table entry plus its run function, and nothing can be
-- accepted that the help does not show.  The entries live by group in
-- lua/zis/cli/ (a command line loads only its own group); what they share
-- (failures, output, files, the environment, the run context) is
-- zis.cli.common.  This file holds the groups' registry, the parser and
-- main.
--
-- Exit status: 0 success, 1 failure, 2 usage (refused before any request),
-- 130 interrupted (SIGINT).  Every failure is one line on stderr, with no
-- traceback and no internal file:line.  A write to stdout or stderr that
-- fails (a full disk, a closed pipe) is a failure too.

local assert, error, io, ipairs, pcall, rawset, require, setmetatable, table, tostring, type, xpcall =
      assert, error, io, ipairs, pcall, rawset, require, setmetatable, table, tostring, type, xpcall

local argparse = require "argparse"
local common = require "zis.cli.common"

local lib, Context, classify, cli_words = common.lib, common.Context, common.classify, common.cli_words
local zis, out, fail, usage_error, TYPES = lib.zis, lib.out, lib.fail, lib.usage_error, lib.TYPES

local M = {}

M.EXIT_OK, M.EXIT_FAILURE, M.EXIT_USAGE, M.EXIT_INTERRUPTED =
  common.EXIT_OK, common.EXIT_FAILURE, common.EXIT_USAGE, common.EXIT_INTERRUPTED
M.is_interrupt, M.classify, M.cli_words, M.io_reason, M.integer =
  common.is_interrupt, classify, cli_words, common.io_reason, common.integer

---------------------------------------------------------------------------
-- The commands: by group, each in its own module (lua/zis/cli/), given
-- the pieces they share; the order is the help's
---------------------------------------------------------------------------

M.lib = lib

-- `zis completion`, last in the help: it prints the script argparse makes
-- from the parser built below, so it stays beside that parser.
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
local GROUPS = { "bundles", "services", "tools", "deployments", "last" }
local GROUP_OF = {
  integrations = "bundles", create = "bundles", bundles = "bundles", bundle = "bundles",
  ["job-specs"] = "bundles", install = "bundles", uninstall = "bundles", validate = "bundles",
  deploy = "bundles", export = "bundles",
  configs = "services", connections = "services", ["oauth-clients"] = "services", links = "services",
  webhooks = "services", token = "services",
  graph = "tools", run = "tools", test = "tools", mock = "tools",
  plan = "deployments", apply = "deployments", import = "deployments",
  completion = "last",
}
local loaded_groups = {}
local function group(name)
  local g = loaded_groups[name]
  if not g then
    if name == "last" then g = last_commands()
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

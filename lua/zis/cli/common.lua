-- zis.cli.common: what every `zis` command shares: failures and their one
-- line and exit status, checked output, tables, reading a file, the
-- environment, the argument types, and the context a command's run
-- function receives.  zis.cli (the parser, main) and the command groups
-- (lua/zis/cli/*.lua, given `lib`) use it; it requires none of them.
--
-- Exit status: 0 success, 1 failure, 2 usage (refused before any request),
-- 130 interrupted (SIGINT).  A write to stdout or stderr that fails (a
-- full disk, a closed pipe) is a failure too.

local error, getmetatable, io, ipairs, math, os, pcall, require, setmetatable,
      string, table, tonumber, tostring, utf8 =
      error, getmetatable, io, ipairs, math, os, pcall, require, setmetatable,
      string, table, tonumber, tostring, utf8

local core = require "zis.core"

-- `zis`, loaded when a command first needs more than the core: `zis
-- --version` and `zis validate` start without the client, the planner or
-- the flow simulator (the whole library costs about as much again as
-- libcurl's loading).  The functions the core itself provides come from
-- it, the validator from its own module.
local LIGHT = {
  array = core.array, array_metatable = core.array_metatable, null = core.null,
  decode_json = core.decode_json, pretty_json = core.pretty_json,
  encode_json = function(v) return core.encode_json(v) end,
}
-- (user_agent is zis.net's: read when asked for, as libcurl is loaded then)
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
-- into one line and an exit status in one place (zis.cli's main).
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
M.Context = Context

---------------------------------------------------------------------------
-- What the command groups are given (zis.cli's M.lib)
---------------------------------------------------------------------------

local INTEGRATION = { "integration", "the integration's name", type = "integration" }

M.lib = { zis = zis, core = core, out = out, err_out = err_out, fail = fail, usage_error = usage_error,
          read_file = read_file, print_table = print_table, getenv = getenv, TYPES = TYPES,
          INTEGRATION = INTEGRATION, integer = M.integer, cli_words = cli_words }

return M

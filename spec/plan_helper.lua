-- Shared by the plan, apply and import specs: a copy of examples/manifest
-- in a fresh folder, file edits, the write requests the registry got, and
-- bin/zis run with the registry's fake credentials.
local zis = require "zis"
local H = require "spec.helper"

local P = {}

P.I = "acme_sync"
P.ENV = { ACME_TOKEN = "fake-acme-token", ACME_SECRET = "fake-acme-secret" }
function P.getenv(n) return P.ENV[n] end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
P.q = q

-- A fresh empty folder.
function P.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. q(dir)))
  return dir
end

-- A copy of examples/manifest in a fresh folder (apply writes the
-- webhook's credentials file next to the manifest).
function P.workdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("cp -r examples/manifest " .. q(dir)))
  return dir
end

function P.rm(dir) os.execute("rm -rf " .. q(dir)) end

function P.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Replaces the one match of `from` (a Lua pattern) in the file.
function P.edit(path, from, to)
  local text = H.read(path)
  local s, n = text:gsub(from, to)
  assert(n == 1, "no " .. from .. " in " .. path)
  P.write(path, s)
end

-- Edits the bundle file with f(bundle) and writes it back.
function P.edit_bundle(path, f)
  local b = zis.decode_json(H.read(path))
  f(b)
  P.write(path, zis.pretty_json(b))
end

-- The requests the registry received that are not GETs, but for the
-- token mint (POST /api/v2/oauth/tokens changes no state), from entry
-- `from` of the log on.
function P.writes(from)
  local out = {}
  local log = H.log()
  for i = from or 1, #log do
    local r = log[i]
    if r.method ~= "GET" and not r.path:match("^/api/v2/oauth/tokens") then
      out[#out + 1] = r.method .. " " .. r.path:gsub("%?.*", "")
    end
  end
  return out
end

function P.actions(plan)
  local out = {}
  for _, it in ipairs(plan.items) do
    if it.action ~= "unchanged" then out[#out + 1] = it.action .. " " .. it.kind .. " " .. it.name end
  end
  return out
end

-- The plan item of that kind and name.
function P.item(plan, kind, name)
  for _, it in ipairs(plan.items) do
    if it.kind == kind and it.name == name then return it end
  end
end

-- Runs zis with the registry's fake credentials (zis's main in this
-- process: H.zis_sh); exit status, stdout, stderr.
function P.zis(args, env)
  return H.zis_sh(args, env or "ACME_TOKEN=fake-acme-token")
end

-- The job specs of the integration: name -> installed.
function P.installed(c)
  local out = {}
  for js in c:job_specs(P.I) do out[js.name] = js.installed end
  return out
end

function P.stat_mode(path)
  local p = io.popen("stat -c %a " .. q(path))
  local m = p:read("l")
  p:close()
  return m
end

return P

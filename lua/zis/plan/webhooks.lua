-- zis.plan.webhooks: what apply does for inbound webhooks, whose
-- credentials Zendesk shows once (when the webhook is created) and never
-- again: they must reach a file or the terminal whatever happens next.

local zis_core = require "zis.core"
local manifest = require "zis.manifest"

local error, io, ipairs, pcall, require, tostring, type = error, io, ipairs, pcall, require, tostring, type
local format = string.format

local M = {}

-- Makes the folder a credentials file goes in (mode 0700: it holds
-- secrets).
local function make_parent(file)
  local parent = file:match("^(.*)/[^/]*$")
  if not parent or parent == "" then return true end
  return zis_core.mkdirs(parent, 448)
end

-- Why apply could not make a webhook's credentials file, or nil: plan
-- says so, and apply stops before any write.
function M.file_problem(w)
  local t = zis_core.file_type(w.file)
  if t == "link" then
    return "credentials_file " .. w.credentials_file .. " is a symbolic link: apply refuses to write " ..
           "through it (remove it first)"
  elseif t then
    return "credentials_file " .. w.credentials_file .. " already exists: apply never overwrites " ..
           "credentials (move it away first)"
  end
end

-- The text a failure message quotes: the reason without the path
-- (messages name the file as the manifest wrote it).
local function reason(err) return (tostring(err):gsub("^.-: ", "")) end

--- create(c, I, w, report, on_credentials) -> link | nil, err
-- The credentials file, if the manifest names one, is made first
-- (exclusively, mode 0600, never through a symlink): when it cannot be,
-- no webhook is created.  The credentials are recorded in the report and
-- written through that file's descriptor as soon as the answer arrives,
-- before any other request (a later failure or Ctrl-C cannot lose them);
-- without a file they go to on_credentials (the command line prints them
-- at once).  Then a link records the webhook, so plan finds it even
-- where the API cannot list webhooks.
function M.create(c, I, w, report, on_credentials)
  local f
  if w.file then
    local ok, err = make_parent(w.file)
    if ok then f, err = zis_core.open_private(w.file) end
    if not f then
      return nil, "cannot create credentials_file " .. w.credentials_file .. ": " .. reason(err) ..
                  " (no webhook was created)"
    end
  end
  local pok, res, err = pcall(c.create_inbound_webhook, c, I,
                              { source_system = w.source_system, event_type = w.event_type })
  if not pok or not res then
    if f then f:discard() end
    if not pok then error(res, 0) end
    return nil, err
  end
  local creds = { uuid = res.uuid, path = res.path, username = res.username, password = res.password,
                  source_system = w.source_system, event_type = w.event_type }
  if report then report.credentials[#report.credentials + 1] = creds end
  if f then
    local wok, werr = f:write(require("zis").pretty_json(creds))
    local cok, cerr = f:close()
    if not (wok and cok) then
      -- the file failed after all: the terminal is the last place for them
      if on_credentials then on_credentials(creds) end
      return nil, "inbound webhook " .. tostring(res.uuid) .. " was created but its credentials could not " ..
                  "be written to " .. w.credentials_file .. ": " .. reason(werr or cerr) ..
                  (on_credentials and " (they were printed instead)" or " (they are in report.credentials)")
    end
    creds.file, creds.password = w.file, nil   -- kept in the file, never in a report
  elseif on_credentials then
    on_credentials(creds)
  end
  return c:create_link(I, { link_type = manifest.WEBHOOK_LINK, left_object = { name = w.key },
                            right_object = { name = res.uuid } })
end

--- delete(c, I, uuid, key) -> true | nil, err: deletes a webhook (which
-- revokes its credentials) and the link that recorded it, if any.
function M.delete(c, I, uuid, key)
  local ok, err = c:delete_inbound_webhook(I, uuid)
  if not ok and err.status ~= 404 then return nil, err end
  if key then
    return c:delete_link(I, { link_type = manifest.WEBHOOK_LINK, left_object_name = key,
                              right_object_name = uuid })
  end
  return true
end

-- The uuid a credentials file holds, or nil.
local function held_uuid(file)
  if zis_core.file_type(file) ~= "file" then return nil end
  local f = io.open(file, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, v = pcall(zis_core.decode_json, text or "")
  return ok and type(v) == "table" and type(v.uuid) == "string" and v.uuid or nil
end

--- unrecorded(ctx, w, list, matched): a declared webhook with no recorded
-- live webhook but some that no finished apply recorded (the list shows
-- them).  If its credentials_file holds one of their uuids, an earlier
-- apply created it and stopped before the record: apply records it.
-- Otherwise it is reported and not created again (a second webhook for
-- the same event would be a second secret to keep).
function M.unrecorded(ctx, w, list, matched)
  local held = w.file and held_uuid(w.file)
  for _, u in ipairs(list) do
    if held and u.uuid == held then
      matched[u.uuid] = true
      ctx.add("inbound_webhook", w.key, "update", function()
        return ctx.svc():create_link(ctx.I, { link_type = manifest.WEBHOOK_LINK, left_object = { name = w.key },
                                              right_object = { name = u.uuid } })
      end, { "record webhook " .. u.uuid .. ": an earlier apply created it and stopped before " ..
             "recording it; its credentials are in " .. w.credentials_file })
      return
    end
  end
  local u = list[1]
  matched[u.uuid] = true
  ctx.add("inbound_webhook", w.key, "unchanged", nil,
          { "webhook " .. u.uuid .. " exists but no apply recorded it: not creating another" })
  ctx.notes[#ctx.notes + 1] = format(
    "inbound webhook %s: webhook %s was not recorded by an apply that finished (one stopped before " ..
    "recording it, or it was made by hand), so its credentials may be lost; if they are, delete it " ..
    "and apply again to create a new one", w.key, u.uuid)
end

return M

-- A Lua case: a stub may be a function of the request it receives.
local calls = 0
return {
  bundle = "bundle.json",
  job_spec = "on_ticket_created",
  input_file = "event_urgent.json",
  configs = { settings = { channel = "#ops" } },
  stubs = {
    chat_post = function(request)
      calls = calls + 1
      assert(request.body.channel == "#ops")
      if calls == 1 then return { status = 429 } end   -- retried (Retry), then answered
      return { status = 200, body = { ok = true, ts = "1700000000.1" } }
    end,
    label_tag = { status = 204 },
  },
  expect = {
    status = "succeeded",
    output = { chat = { ts = "1700000000.1" } },
  },
}

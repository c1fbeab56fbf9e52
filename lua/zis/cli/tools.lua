-- zis.cli.tools: the commands that are lua-zis' own tools rather than
-- the API's: graph (a bundle's flows as a diagram), run and test (the flow
-- simulator, lua/zis/flow/cli.lua), mock (the local registry).
-- zis.cli builds the parser, the help and the completions from these
-- entries (its header says what one holds).

return function(L)
local out, fail, usage_error, read_file, TYPES, integer =
      L.out, L.fail, L.usage_error, L.read_file, L.TYPES, L.integer

return {
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
  require("zis.flow.cli").command("run", integer),
  require("zis.flow.cli").command("test", integer),
  {
    name = "mock", summary = "run the local registry",
    description = "Serves the ZIS API from memory on loopback, as Zendesk answers it (the routes " ..
                  "docs/zendesk-api.md lists), with fake credentials (admin@example.com with token " ..
                  "fake-api-token or password fake-password, the admin bearer token " ..
                  "fake-oauth-token, the admin OAuth client fake-admin-client with secret " ..
                  "fake-admin-client-secret), until POST /__mock/shutdown or Ctrl-C.",
    options = {
      { "--host", "loopback address to listen on", default = "127.0.0.1" },
      { "--port", "port; 0 picks a free one", argname = "N", type = integer(0, 65535), default = 8089 },
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
}
end

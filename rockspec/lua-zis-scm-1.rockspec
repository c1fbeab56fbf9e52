rockspec_format = "3.0"
package = "lua-zis"
version = "scm-1"
source = {
  url = "git+file:///dev/null",  -- local builds: luarocks make rockspec/lua-zis-scm-1.rockspec
}
description = {
  summary = "Zendesk Integration Services (ZIS) Registry API client for Lua 5.4",
  detailed = [[
    Integrations, bundles and job specs of the ZIS Registry API as Lua
    functions returning Lua tables, with lazy pagination iterators, a C
    core over libcurl, retries, and a local registry for tests.
  ]],
  license = "MIT",
  labels = { "zendesk", "zis", "http", "api" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "luasocket",  -- the local registry (zis.mock)
  "argparse",   -- the zis command line (zis.cli)
}
-- lua-zis has its own exact JSON codec (README, "JSON"); lua-cjson is used
-- only by the specs, which prove it is never touched.
test_dependencies = {
  "busted",
  "lua-cjson",
}
-- libcurl is found by its library: LuaRocks searches multiarch library
-- directories (lib/x86_64-linux-gnu) but not multiarch include ones, where
-- Debian puts curl/curl.h; the compiler finds that header by itself.
external_dependencies = {
  CURL = { library = "curl" },
  JQ = { library = "jq" },      -- zis.jq only (the flow simulator)
}
build = {
  type = "builtin",
  modules = {
    ["zis"] = "lua/zis/init.lua",
    ["zis.mock"] = "lua/zis/mock.lua",
    ["zis.mock.wire"] = "lua/zis/mock/wire.lua",
    ["zis.mock.services"] = "lua/zis/mock/services.lua",
    ["zis.mock.registry"] = "lua/zis/mock/registry.lua",
    ["zis.mock.server"] = "lua/zis/mock/server.lua",
    ["zis.mock.answers"] = "lua/zis/mock/answers.lua",
    ["zis.mock.state"] = "lua/zis/mock/state.lua",
    ["zis.mock.registry_api"] = "lua/zis/mock/registry_api.lua",
    ["zis.mock.control"] = "lua/zis/mock/control.lua",
    ["zis.mock.ratelimit"] = "lua/zis/mock/ratelimit.lua",
    ["zis.mock.support"] = "lua/zis/mock/support.lua",
    ["zis.mock.configs"] = "lua/zis/mock/configs.lua",
    ["zis.mock.connections"] = "lua/zis/mock/connections.lua",
    ["zis.mock.links"] = "lua/zis/mock/links.lua",
    ["zis.mock.webhooks"] = "lua/zis/mock/webhooks.lua",
    ["zis.loop"] = "lua/zis/loop.lua",
    ["zis.loop.cqueues"] = "lua/zis/loop/cqueues.lua",  -- optional: needs cqueues
    ["zis.loop.luv"] = "lua/zis/loop/luv.lua",          -- optional: needs luv
    ["zis.validate"] = "lua/zis/validate.lua",
    ["zis.validate.values"] = "lua/zis/validate/values.lua",
    ["zis.validate.checker"] = "lua/zis/validate/checker.lua",
    ["zis.validate.states"] = "lua/zis/validate/states.lua",
    ["zis.validate.choice"] = "lua/zis/validate/choice.lua",
    ["zis.validate.resources"] = "lua/zis/validate/resources.lua",
    ["zis.validate.integration"] = "lua/zis/validate/integration.lua",
    ["zis.deploy"] = "lua/zis/deploy.lua",
    ["zis.export"] = "lua/zis/export.lua",
    ["zis.graph"] = "lua/zis/graph.lua",
    ["zis.graph.text"] = "lua/zis/graph/text.lua",
    ["zis.graph.model"] = "lua/zis/graph/model.lua",
    ["zis.graph.trace"] = "lua/zis/graph/trace.lua",
    ["zis.graph.dot"] = "lua/zis/graph/dot.lua",
    ["zis.graph.mermaid"] = "lua/zis/graph/mermaid.lua",
    ["zis.graph.graphviz"] = "lua/zis/graph/graphviz.lua",
    ["zis.cli"] = "lua/zis/cli.lua",
    ["zis.cli.bundles"] = "lua/zis/cli/bundles.lua",
    ["zis.cli.services"] = "lua/zis/cli/services.lua",
    ["zis.cli.deployments"] = "lua/zis/cli/deployments.lua",
    ["zis.cli.common"] = "lua/zis/cli/common.lua",
    ["zis.cli.tools"] = "lua/zis/cli/tools.lua",
    ["zis.endpoints"] = "lua/zis/endpoints.lua",
    ["zis.client"] = "lua/zis/client.lua",
    ["zis.request"] = "lua/zis/request.lua",
    ["zis.run"] = "lua/zis/run.lua",
    ["zis.run.auth"] = "lua/zis/run/auth.lua",
    ["zis.run.outcome"] = "lua/zis/run/outcome.lua",
    ["zis.pager"] = "lua/zis/pager.lua",
    ["zis.pace"] = "lua/zis/pace.lua",
    ["zis.errors"] = "lua/zis/errors.lua",
    ["zis.token"] = "lua/zis/token.lua",
    ["zis.util"] = "lua/zis/util.lua",
    ["zis.manifest"] = "lua/zis/manifest.lua",
    ["zis.plan"] = "lua/zis/plan.lua",
    ["zis.flow"] = "lua/zis/flow.lua",
    ["zis.flow.path"] = "lua/zis/flow/path.lua",
    ["zis.flow.choice"] = "lua/zis/flow/choice.lua",
    ["zis.flow.actions"] = "lua/zis/flow/actions.lua",
    ["zis.flow.cli"] = "lua/zis/flow/cli.lua",
    ["zis.plan.diff"] = "lua/zis/plan/diff.lua",
    ["zis.plan.live"] = "lua/zis/plan/live.lua",
    ["zis.plan.steps"] = "lua/zis/plan/steps.lua",
    ["zis.plan.webhooks"] = "lua/zis/plan/webhooks.lua",
    ["zis.plan.import"] = "lua/zis/plan/import.lua",
    -- the codec, files and clock, without libcurl: a command that makes no
    -- request never loads it
    ["zis.core"] = {
      sources = { "src/zis_core.c", "src/zis_json.c", "src/zis_json_decode.c", "src/zis_json_float.c", "src/zis_fs.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      incdirs = { "src" },
    },
    -- the client and the engine, with libcurl (zis.core loads it on first use)
    ["zis.net"] = {
      sources = { "src/zis_net.c", "src/zis_client.c", "src/zis_engine.c", "src/zis_json.c", "src/zis_json_decode.c", "src/zis_json_float.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "curl", "pthread" },
      incdirs = { "$(CURL_INCDIR)", "src" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    -- its own module, so that zis.core never depends on libjq
    ["zis.jq"] = {
      sources = { "src/zis_jq.c" },
      libraries = { "jq" },
      incdirs = { "$(JQ_INCDIR)" },
      libdirs = { "$(JQ_LIBDIR)" },
    },
  },
  install = {
    bin = { ["zis"] = "bin/zis" },
  },
}

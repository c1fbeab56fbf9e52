-- zis.mock: the local ZIS registry.
--
-- Serves the Registry API of zis-api.md from memory on loopback, for the
-- demo, the examples, the specs and users' own scripts:
--
--   bin/zis mock --port 8089                 (`zis mock` once installed)
--   bin/zis mock --port 0 --port-file /tmp/port   (0: pick a free port)
--   require("zis.mock").serve{port = 0, port_file = ...}   (from Lua)
--
-- Faithful where it matters to a client: the same paths, status codes and
-- Zendesk-shaped error bodies ({"errors":[{code,detail,status}],"message"}),
-- the integration name rule, page[size] a plain integer 1..100 (default
-- 20), opaque cursors, upsert by bundle name, 204 on delete, 200 with an
-- empty text/plain body on upload, OAuth refused (401) where the API takes
-- basic auth only (listing and creating integrations, uploading bundles),
-- job specs listed from uploaded bundles with an `installed` flag that an
-- upload resets, and 409 for an existing integration.  The ZIS services
-- (configs, connections, OAuth clients and flows, links, inbound webhooks)
-- are in zis.mock.services and the modules it loads, the Support API's
-- OAuth clients and tokens in zis.mock.support: every services call takes
-- a Bearer token minted through POST /api/v2/oauth/tokens for that
-- integration's own OAuth client.
-- Answers are gzipped when the request accepts gzip and the body is at
-- least 1 KB, and can be sent chunked (zis.mock.wire).
--
-- Control endpoints under /__mock/ (no auth; loopback only) let tests look
-- at what was received and script faults:
--   GET  /__mock/log         every request received: method, path, headers, body
--   GET  /__mock/stats       {connections =, requests =, max_in_flight =}
--   POST /__mock/reset       forget all state, the log and pending faults
--   POST /__mock/faults      queue canned answers: [{method, path, status,
--                            headers, body, content_type, times}] (path:
--                            exact, or prefix*), and transport faults:
--                            delay = seconds before answering, hangup = true
--                            (close without an answer), cut = N (announce the
--                            whole body, send N bytes, close), size = N (a
--                            body of N bytes)
--                            chunked = N (send the answer in N chunks)
--   POST /__mock/config      {oauth_tokens = [...]} replaces the accepted tokens;
--                            {latency = seconds} delays every API answer;
--                            {gzip = "default"|"always"|"never"} when a
--                            request accepting gzip gets a gzipped answer
--                            (default: bodies of 1 KB or more);
--                            {chunked = N} sends every API answer in N
--                            chunks (0: Content-Length again);
--                            {token_ttl = seconds} the life of minted tokens
--                            (0: they never expire).  A reset restores the
--                            defaults of gzip, chunked and token_ttl.
--   POST /__mock/tokens/expire  expires minted tokens: {integration = name}
--                            or all of them; answers {expired = n}
--   POST /__mock/shutdown    stop serving

local registry = require "zis.mock.registry"

local M = {}

M.defaults = registry.defaults
M.ROUTES = registry.ROUTES

--- registry([creds]) -> the registry's state and answers, without the network
M.registry = registry.new

--- serve(opts): serves on loopback until POST /__mock/shutdown
function M.serve(opts) return require("zis.mock.server").serve(opts) end

return M

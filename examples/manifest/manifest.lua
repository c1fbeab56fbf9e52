-- A complete manifest: one integration, declared (docs/manual.md,
-- "Deployments as code").  From the repository, after make:
--
--   export ACME_TOKEN=fake-acme-token        # the secret: never in the file
--   bin/zis plan examples/manifest/manifest.lua     # exit 2: changes pending
--   bin/zis apply examples/manifest/manifest.lua
--   bin/zis plan examples/manifest/manifest.lua     # exit 0: no changes
--
-- spec/plan_spec.lua runs it against the local registry.
return {
  integration = "acme_sync",
  description = "Acme sync",
  bundles = { "bundles/acme_sync.json" },     -- files (relative to this one), or inline tables
  job_specs = "all",                          -- or a list: { "on_ticket_created" }
  configs = {                                 -- scope -> config
    settings = { priority = "high", retries = 3, tags = { "acme" } },
  },
  connections = {                             -- name -> connection; secrets only as env "NAME"
    acme_api = { type = "bearer_token", token = env "ACME_TOKEN", allowed_domain = "api.acme.com" },
  },
  inbound_webhooks = {                        -- Acme posts its orders here
    { source_system = "acme", event_type = "order.created",
      credentials_file = "secrets/acme_webhook.json" },   -- written once, mode 0600
  },
}

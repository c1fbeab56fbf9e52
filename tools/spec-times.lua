-- tools/run-specs's spec file times (seconds), for when build/spec-times.lua
-- (the last run's) is missing, as in a fresh checkout: they order the
-- files, longest first, and put the short ones together.  Each file alone,
-- on a quiet 2-core machine.  Only the order matters: update when a file
-- gets much slower or faster (or cp build/spec-times.lua here after a
-- make test on a quiet machine).
return {
  ["spec/auth_spec.lua"] = 0.20,
  ["spec/bad_input_spec.lua"] = 0.33,
  ["spec/bulk_spec.lua"] = 0.49,
  ["spec/cli_services_spec.lua"] = 2.85,
  ["spec/cli_spec.lua"] = 5.04,
  ["spec/client_spec.lua"] = 0.21,
  ["spec/deploy_spec.lua"] = 0.21,
  ["spec/docs_spec.lua"] = 0.22,
  ["spec/embed_spec.lua"] = 0.24,
  ["spec/endpoints_spec.lua"] = 0.23,
  ["spec/engine_spec.lua"] = 2.30,
  ["spec/errors_spec.lua"] = 0.72,
  ["spec/examples_spec.lua"] = 0.45,
  ["spec/graph_spec.lua"] = 1.63,
  ["spec/iterators_spec.lua"] = 0.24,
  ["spec/json_codec_spec.lua"] = 0.68,
  ["spec/json_spec.lua"] = 0.33,
  ["spec/loop_spec.lua"] = 4.00,
  ["spec/mock_services_spec.lua"] = 1.39,
  ["spec/mock_spec.lua"] = 0.46,
  ["spec/percall_spec.lua"] = 0.23,
  ["spec/plan_spec.lua"] = 1.12,
  ["spec/readme_spec.lua"] = 3.02,
  ["spec/resilience_spec.lua"] = 1.51,
  ["spec/safety_spec.lua"] = 2.00,
  ["spec/services_spec.lua"] = 3.20,
  ["spec/timeout_spec.lua"] = 1.90,
  ["spec/tls_spec.lua"] = 0.37,
  ["spec/validate_spec.lua"] = 0.24,
}

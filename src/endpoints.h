/*
** endpoints.h: the ZIS Registry endpoints, one row each.
**
** Every client method that calls the API is generated from this table by
** one dispatcher (zis_core.c, ep_call).  A row says:
**   ROW(method name, HTTP verb, path template, parameters, auth, flags)
** The path template holds one "{}" per path parameter, filled in order.
** Parameters (P_*) are read from the Lua arguments after `self`:
**   P_NAME      an integration name, checked against the API's rule
**   P_SEGMENT   any non-empty string, percent-encoded as one path segment
**   P_PAGE      optional {page_size =, after =, before =} -> query string
**   P_DESCR     optional {description =} -> JSON body
**   P_BUNDLE    a table (encoded to JSON) or a JSON string (sent as is)
**   P_JOBSPEC   a job spec name, short or full -> ?job_spec_name=zis:i:job_spec:n
** Auth: A_BASIC endpoints are documented for basic auth only (zis-api.md
** section 2) and prefer it; A_ANY endpoints prefer a ZIS OAuth token.
** Flags: F_IDEMPOTENT may be retried after a connection failure or a
** 502/504 (SPEC: GET, DELETE and the bundle upsert, nothing else); F_TRUE returns `true` on any 2xx instead of the decoded body.
**
** Adding an endpoint: one row here, and its spec.
*/

#define ZIS_REG "/api/services/zis/registry"

#define ZIS_ENDPOINTS(ROW) \
  ROW("list_integrations", "GET", ZIS_REG "/integrations", \
      P0, A_BASIC, F_IDEMPOTENT) \
  ROW("create_integration", "POST", ZIS_REG "/{}", \
      P2(P_NAME, P_DESCR), A_BASIC, 0) \
  ROW("list_bundles", "GET", ZIS_REG "/{}/bundles", \
      P2(P_NAME, P_PAGE), A_ANY, F_IDEMPOTENT) \
  ROW("upload_bundle", "POST", ZIS_REG "/{}/bundles", \
      P2(P_NAME, P_BUNDLE), A_BASIC, F_IDEMPOTENT | F_TRUE) \
  ROW("get_bundle", "GET", ZIS_REG "/{}/bundles/{}", \
      P2(P_NAME, P_SEGMENT), A_ANY, F_IDEMPOTENT) \
  ROW("delete_bundle", "DELETE", ZIS_REG "/{}/bundles/{}", \
      P2(P_NAME, P_SEGMENT), A_ANY, F_IDEMPOTENT | F_TRUE) \
  ROW("list_job_specs", "GET", ZIS_REG "/{}/job_specs", \
      P2(P_NAME, P_PAGE), A_ANY, F_IDEMPOTENT) \
  ROW("install_job_spec", "POST", ZIS_REG "/job_specs/install", \
      P2(P_NAME, P_JOBSPEC), A_ANY, F_TRUE) \
  ROW("uninstall_job_spec", "DELETE", ZIS_REG "/job_specs/install", \
      P2(P_NAME, P_JOBSPEC), A_ANY, F_IDEMPOTENT | F_TRUE)

/* brownoutd API: the route table, the one list of endpoints
 * (docs/openapi.yaml describes each). http.c looks every request under
 * /api/v1, and /metrics, up here (route.c) before it reads the body: the
 * body's kind decides whether it is buffered or streamed to files, the
 * access whether a token is needed. Order matters only for the Allow
 * header of a 405, which lists a path's methods in table order. */
#include <stddef.h>

#include "api.h"
#include "route.h"

#define R(method, pattern, body, access, fn) { method, pattern, BO_BODY_##body, BO_ACCESS_##access, fn }

const struct bd_route bd_api_routes[] = {
	R("GET", "/metrics", JSON, PUBLIC, api_metrics),
	R("GET", "/api/v1/health", JSON, PUBLIC, api_health),
	R("GET", "/api/v1/openapi.yaml", JSON, PUBLIC, api_openapi),
	R("GET", "/api/v1/me", JSON, USER, api_me),
	R("GET", "/api/v1/models", JSON, READ, api_models_list),
	R("POST", "/api/v1/models", FILE, READ, api_models_post),
	R("GET", "/api/v1/models/{id}", JSON, READ, api_model_get),
	R("DELETE", "/api/v1/models/{id}", JSON, READ, api_model_delete),
	R("GET", "/api/v1/datasets", JSON, READ, api_datasets_list),
	R("POST", "/api/v1/datasets", FORM, READ, api_datasets_post),
	R("GET", "/api/v1/datasets/{id}", JSON, READ, api_dataset_get),
	R("DELETE", "/api/v1/datasets/{id}", JSON, READ, api_dataset_delete),
	R("GET", "/api/v1/jobs", JSON, READ, api_jobs_list),
	R("POST", "/api/v1/jobs", JSON, READ, api_jobs_post),
	R("GET", "/api/v1/jobs/{id}", JSON, READ, api_job_get),
	R("PATCH", "/api/v1/jobs/{id}", JSON, READ, api_job_patch),
	R("DELETE", "/api/v1/jobs/{id}", JSON, READ, api_job_delete),
	R("POST", "/api/v1/jobs/{id}/cancel", JSON, READ, api_job_cancel),
	R("GET", "/api/v1/jobs/{id}/results", JSON, READ, api_job_results),
	R("GET", "/api/v1/analysis", JSON, READ, api_analysis),
	R("GET", "/api/v1/tokens", JSON, USER, api_tokens_list),
	R("POST", "/api/v1/tokens", JSON, USER, api_tokens_post),
	R("DELETE", "/api/v1/tokens/{id}", JSON, USER, api_token_delete),
	R("GET", "/api/v1/users", JSON, USER, api_users_list),
	R("POST", "/api/v1/users", JSON, USER, api_users_post),
	R("DELETE", "/api/v1/users/{id}", JSON, USER, api_user_delete),
	R("GET", "/api/v1/workers", JSON, READ, bd_remote_workers),
	R("POST", "/api/v1/worker/claim", JSON, WORKER, bd_remote_claim),
	R("GET", "/api/v1/worker/blobs/{key}", JSON, WORKER, bd_remote_blob),
	R("POST", "/api/v1/worker/leases/{id}/heartbeat", JSON, WORKER, bd_remote_heartbeat),
	R("POST", "/api/v1/worker/leases/{id}/results", JSON, WORKER, bd_remote_results),
	{ NULL, NULL, BO_BODY_JSON, BO_ACCESS_PUBLIC, NULL },
};

/* brownoutd API: what the handlers under /api/v1 share (api_*.c, one file
 * per resource) and the handlers the route table (api.c) names.
 *
 *   api.c           the route table: every endpoint, its body, access, handler
 *   api_common.c    ids, paging, directory fsync, per-user quotas
 *   api_models.c    models; listing, reading and deleting models and datasets
 *   api_datasets.c  dataset uploads and registrations
 *   api_jobs.c      jobs and their results
 *   api_analysis.c  iso-accuracy analysis
 *   api_accounts.c  tokens, users, me
 *   api_service.c   health, metrics, openapi.yaml
 *
 * Every handler validates first, then changes the store in one write
 * transaction, then answers. Errors go through bd_reply_error, whose status
 * comes from bd_http_status: one mapping for the whole daemon. */
#ifndef BO_API_H
#define BO_API_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include <brownout/status.h>

#include "route.h"
#include "http.h"

struct bd_daemon;
struct bd_req;

/* ---- api_common.c ---- */

/* A positive decimal id: no sign, space or leading 0. 0, or -1. */
int api_parse_id(const char *s, int64_t *id);
int api_fsync_dir(const char *dir);
/* List paging: ?limit (1..200, default 50) and ?after. 0, or -1 replied. */
int api_paging(struct bd_req *r, int64_t *after, int *limit);
/* {"items": items, "next_after": the last id when more}: 200. */
int api_reply_list(struct bd_req *r, json_t *items, int more);

/* ---- quotas ----
 *
 * Per user, admins included (a quota guards the shared service against a
 * runaway script as much as against malice; an admin frees quota like
 * anybody, by deleting): queued + running jobs (user-queued-jobs), the
 * trials they plan (user-queued-trials), and stored bytes
 * (user-stored-bytes): uploaded models and datasets not deleted plus 64
 * bytes for every trial a job of theirs plans (its result rows stay until
 * the job is deleted). Each check runs inside the write transaction that
 * would exceed it, so concurrent requests cannot both slip under; uploads
 * are also checked before their file is parsed. */

#define BO_RESULT_ROW_BYTES 64

/* Planned trials of a job row: points x (trials, or max_trials when adaptive). */
#define PLANNED_TRIALS \
	"points * COALESCE(json_extract(spec, '$.trials'), json_extract(spec, '$.max_trials'))"

struct api_usage {
	int64_t jobs, trials;      /* queued + running jobs, their planned trials */
	int64_t uploads, results;  /* bytes */
};

bo_status api_user_usage(sqlite3 *db, int64_t user, struct api_usage *u, struct bo_error *err);
/* BO_EQUOTA naming `what` when `add` more bytes would put user over quota. */
bo_status api_quota_bytes(sqlite3 *db, int64_t user, int64_t add, int64_t quota,
			  const char *what, struct bo_error *err);
/* The same before an upload is parsed: 1 when over (replied), else 0. */
int api_upload_over_quota(struct bd_daemon *d, struct bd_req *r, int64_t add, const char *what);

/* ---- api_models.c ---- */

/* One model (datasets 0) or dataset (1) as JSON, answered with status and
 * an optional Location. */
int api_get_one(struct bd_daemon *d, struct bd_req *r, int datasets, int64_t id, int status,
		const char *location);

/* ---- the handlers the route table names ---- */

#define API_HANDLER(name) \
	int name(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
API_HANDLER(api_models_list);
API_HANDLER(api_models_post);
API_HANDLER(api_model_get);
API_HANDLER(api_model_delete);
API_HANDLER(api_datasets_list);
API_HANDLER(api_datasets_post);
API_HANDLER(api_dataset_get);
API_HANDLER(api_dataset_delete);
API_HANDLER(api_jobs_list);
API_HANDLER(api_jobs_post);
API_HANDLER(api_job_get);
API_HANDLER(api_job_patch);
API_HANDLER(api_job_delete);
API_HANDLER(api_job_cancel);
API_HANDLER(api_job_results);
API_HANDLER(api_analysis);
API_HANDLER(api_tokens_list);
API_HANDLER(api_tokens_post);
API_HANDLER(api_token_delete);
API_HANDLER(api_users_list);
API_HANDLER(api_users_post);
API_HANDLER(api_user_delete);
API_HANDLER(api_me);
API_HANDLER(api_health);
API_HANDLER(api_metrics);
API_HANDLER(api_openapi);
/* remote workers (remote.c) */
API_HANDLER(bd_remote_workers);
API_HANDLER(bd_remote_claim);
API_HANDLER(bd_remote_blob);
API_HANDLER(bd_remote_heartbeat);
API_HANDLER(bd_remote_results);
#undef API_HANDLER

#endif

/* brownoutd API: the service itself: GET /api/v1/health, GET /metrics
 * (Prometheus text) and GET /api/v1/openapi.yaml. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

/* ---- health, metrics, me ---- */

struct counts {
	int64_t queued_tasks, running_jobs, queued_jobs;
};

static bo_status counts_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct counts *c = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.id = t.job_id"
			       " WHERE t.state = 'queued' AND j.state IN ('queued', 'running')),"
			       " (SELECT COUNT(*) FROM jobs WHERE state = 'running'),"
			       " (SELECT COUNT(*) FROM jobs WHERE state = 'queued')",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "counting");
	bo_status rc = BO_OK;
	if (sqlite3_step(st) == SQLITE_ROW) {
		c->queued_tasks = sqlite3_column_int64(st, 0);
		c->running_jobs = sqlite3_column_int64(st, 1);
		c->queued_jobs = sqlite3_column_int64(st, 2);
	} else {
		rc = bd_store_fail(db, err, "counting");
	}
	sqlite3_finalize(st);
	return rc;
}

static int health(struct bd_daemon *d, struct bd_req *r)
{
	struct counts c = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_store_read(d->store, counts_fn, &c, &err))
		return bd_reply_error(r, &err);
	json_t *j = json_object();
	json_object_set_new(j, "status", json_string("ok"));
	json_object_set_new(j, "version", json_string(BO_VERSION));
	json_object_set_new(j, "schema_version", json_integer(bd_store_schema_version()));
	json_object_set_new(j, "workers", json_integer(d->cfg.workers));
	json_object_set_new(j, "queue_depth", json_integer(c.queued_tasks));
	json_object_set_new(j, "running_jobs", json_integer(c.running_jobs));
	json_object_set_new(j, "uptime_seconds", json_real(bd_now() - d->started));
	json_object_set_new(j, "public_read", json_boolean(d->cfg.public_read));
	json_object_set_new(j, "store", json_string(bd_store_health(d->store)));
	return bd_reply_json(r, 200, j);
}

/* Images per second over the last ~10 s: samples of images_total kept at
 * most one a second (taken when /metrics is read); the rate runs from the
 * newest sample at least 10 s old (else the oldest one) to now. */
static double bd_images_rate(struct bd_daemon *d, long long images)
{
	double now = bd_now(), rate = 0;
	pthread_mutex_lock(&d->live.mu);
	int newest = (d->rate_next + 15) % 16;
	if (d->rate_n == 0 || now - d->rate_t[newest] >= 1.0) {
		d->rate_t[d->rate_next] = now;
		d->rate_images[d->rate_next] = images;
		d->rate_next = (d->rate_next + 1) % 16;
		if (d->rate_n < 16)
			d->rate_n++;
	}
	/* oldest to newest: the newest sample at least 10 s old, else the oldest */
	int pick = -1;
	for (int k = d->rate_n; k >= 1; k--) {
		int i = (d->rate_next - k + 16) % 16;
		if (pick < 0 || now - d->rate_t[i] >= 10.0)
			pick = i;
	}
	if (pick >= 0 && now - d->rate_t[pick] > 0.2)
		rate = (double)(images - d->rate_images[pick]) / (now - d->rate_t[pick]);
	else if (now - d->started > 0)
		rate = (double)images / (now - d->started);
	pthread_mutex_unlock(&d->live.mu);
	return rate;
}

static int metrics(struct bd_daemon *d, struct bd_req *r)
{
	struct counts c = { 0 };
	struct bo_error err;
	char *buf = NULL;
	size_t len = 0;
	bo_error_clear(&err);
	if (bd_store_read(d->store, counts_fn, &c, &err))
		return bd_reply_error(r, &err);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	double up = bd_now() - d->started;
	long long images = atomic_load(&d->images_total);
	double rate = bd_images_rate(d, images);
	fprintf(f, "# HELP brownout_queue_depth Tasks waiting for a worker.\n"
		   "# TYPE brownout_queue_depth gauge\nbrownout_queue_depth %lld\n",
		(long long)c.queued_tasks);
	fprintf(f, "# HELP brownout_queued_jobs Jobs waiting to start.\n"
		   "# TYPE brownout_queued_jobs gauge\nbrownout_queued_jobs %lld\n",
		(long long)c.queued_jobs);
	fprintf(f, "# HELP brownout_running_jobs Jobs with tasks running or queued after a start.\n"
		   "# TYPE brownout_running_jobs gauge\nbrownout_running_jobs %lld\n",
		(long long)c.running_jobs);
	fprintf(f, "# HELP brownout_images_per_second Images evaluated per second over the last "
		   "10 s or so.\n# TYPE brownout_images_per_second gauge\n"
		   "brownout_images_per_second %.3f\n",
		rate);
	fprintf(f, "# HELP brownout_images_total Images evaluated under faults.\n"
		   "# TYPE brownout_images_total counter\nbrownout_images_total %lld\n",
		images);
	fprintf(f, "# HELP brownout_store_degraded 1 while the store refuses writes (disk full or "
		   "I/O error), else 0.\n# TYPE brownout_store_degraded gauge\n"
		   "brownout_store_degraded %d\n",
		strcmp(bd_store_health(d->store), "ok") != 0);
	fprintf(f, "# HELP brownout_workers Worker threads.\n# TYPE brownout_workers gauge\n"
		   "brownout_workers %d\n",
		d->cfg.workers);
	fprintf(f, "# HELP brownout_uptime_seconds Seconds since start.\n"
		   "# TYPE brownout_uptime_seconds gauge\nbrownout_uptime_seconds %.3f\n",
		up);
	fprintf(f, "# HELP brownout_http_requests_total HTTP responses by status code.\n"
		   "# TYPE brownout_http_requests_total counter\n");
	for (int s = 100; s < 600; s++) {
		long long n = atomic_load(&d->requests[s]);
		if (n)
			fprintf(f, "brownout_http_requests_total{status=\"%d\"} %lld\n", s, n);
	}
	if (fclose(f))
		return bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	int ret = bd_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
	return ret;
}

/* ---- routes ---- */

int api_health(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return health(d, r);
}

int api_metrics(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return metrics(d, r);
}

int api_openapi(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return bd_reply_text(r, 200, "application/yaml", d->openapi, d->openapi_len);
}

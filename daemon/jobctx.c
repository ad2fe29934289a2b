/* A job's sweeper from its stored spec, for every executor (jobctx.h).
 *
 * Design. The local pool (pool.c) and `brownout worker` (clients/cli/
 * worker.c) both run a job's tasks from the same inputs, the spec as
 * stored, the model file, the dataset and the model's stored mean/std;
 * they differ only in where the files come from (the data directory, or
 * blobs fetched into a cache). So building happens in two calls around
 * the one step that differs: bd_jobctx_begin parses the spec and loads the
 * model, the caller opens the dataset its own way, bd_jobctx_finish parses
 * the block map and rules, resolves the normalisation (bd_job_sweep_config:
 * the spec's, else the model's stored one) and builds the sweeper, whose
 * clean pass calibrates the activation scales. The clean pass is recorded
 * from bd_jobctx_point_info / bd_jobctx_clean_json, and reference models
 * are measured by bd_jobctx_reference with the library's bo_reference_eval,
 * the function `brownout sweep --references` calls: one rule, three
 * callers. bd_job_record_clean stores a clean pass for both executors
 * (the pool's own, a remote worker's as remote.c checked it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctx.h"
#include "report.h"
#include "jobs.h"

void bd_jobctx_release(struct bd_jobctx *c)
{
	if (!c)
		return;
	bo_sweeper_free(c->sw);
	bo_dataset_free(c->ds);
	bo_model_free(c->m);
	bo_block_map_free(c->map);
	free(c->rules);
	bd_job_spec_release(&c->spec);
	memset(c, 0, sizeof(*c));
}

int bd_jobctx_ready(const struct bd_jobctx *c, int64_t job)
{
	return c->sw && c->job == job;
}

/* A JSON array of numbers as "a,b,c" (bo_norm_resolve's form); 0 when it
 * is not a non-empty array. */
static int list_text(const json_t *a, char *buf, size_t size)
{
	size_t k = 0;
	buf[0] = 0;
	for (size_t i = 0; json_is_array(a) && i < json_array_size(a) && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%.9g", i ? "," : "",
				      json_number_value(json_array_get(a, i)));
	return json_is_array(a) && json_array_size(a) > 0;
}

bo_status bd_jobctx_begin(struct bd_jobctx *c, int64_t job, const json_t *spec,
			  const char *model_path, struct bo_error *err)
{
	bo_status rc;
	bd_jobctx_release(c);
	c->job = job;
	if ((rc = bd_job_spec_parse(spec, &c->spec, err)) ||
	    (rc = bo_model_load(model_path, &c->m, err)))
		bd_jobctx_release(c);
	return rc;
}

bo_status bd_jobctx_finish(struct bd_jobctx *c, const json_t *mean, const json_t *std,
			   int threads, bo_progress_fn calib, void *calib_ctx,
			   struct bo_error *err)
{
	char mt[256], st[256];
	bo_status rc = BO_OK;
	if (!c->m || !c->ds) {
		rc = bo_error_set(err, BO_EINTERNAL, "job %lld: no model or dataset to build from",
			     (long long)c->job);
		goto out;
	}
	if (c->spec.blocks && (rc = bo_block_map_parse(c->spec.blocks, &c->map, err)))
		goto out;
	if (c->spec.block_p &&
	    (rc = bo_block_rules_parse(c->spec.block_p, &c->rules, &c->n_rules, err)))
		goto out;
	int has_mean = list_text(mean, mt, sizeof(mt));
	int has_std = list_text(std, st, sizeof(st));
	c->threads = threads;
	if (bd_job_sweep_config(&c->spec, c->m, has_mean ? mt : NULL, has_std ? st : NULL, c->map,
				c->rules, c->n_rules, threads, &c->cfg, err)) {
		rc = err->status ? err->status : BO_EINVAL;
		goto out;
	}
	c->cfg.calib_progress = calib;
	c->cfg.calib_ctx = calib_ctx;
	rc = bo_sweeper_new(c->m, c->ds, &c->cfg, &c->sw, err);
out:
	if (rc)
		bd_jobctx_release(c);
	return rc;
}

json_t *bd_jobctx_point_info(const struct bd_jobctx *c)
{
	json_t *pi = json_object(), *pts = json_array(), *mean = json_array(), *sd = json_array();
	for (int i = 0; i < c->spec.n_p; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "p", json_real(c->spec.p[i]));
		json_object_set_new(e, "eta", json_real(bo_eta(c->spec.p[i], c->spec.energy_a)));
		json_object_set_new(e, "energy", json_real(bo_sweeper_energy(c->sw, i)));
		json_array_append_new(pts, e);
	}
	/* the normalisation as resolved, for the report's config */
	for (int i = 0; i < c->cfg.norm.n; i++) {
		json_array_append_new(mean, json_real(c->cfg.norm.mean[i]));
		json_array_append_new(sd, json_real(c->cfg.norm.std[i]));
	}
	json_object_set_new(pi, "points", pts);
	json_object_set_new(pi, "mean", mean);
	json_object_set_new(pi, "std", sd);
	return pi;
}

json_t *bd_jobctx_clean_json(const struct bd_jobctx *c)
{
	json_t *cl = json_object();
	json_object_set_new(cl, "accuracy", json_real(bo_sweeper_clean_accuracy(c->sw)));
	json_object_set_new(cl, "parameters", json_integer(bo_sweeper_parameters(c->sw)));
	json_object_set_new(cl, "activations", json_integer(bo_sweeper_activations(c->sw)));
	json_object_set_new(cl, "images", json_integer(bo_sweeper_images(c->sw)));
	json_object_set_new(cl, "point_info", bd_jobctx_point_info(c));
	return cl;
}

static bo_status record_clean_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	const struct bd_clean_rec *c = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char wbuf[256], now[32];
	enum bo_act_sites sites;
	struct bo_error perr;
	if (sqlite3_prepare_v2(db,
			       "UPDATE jobs SET clean_accuracy = ?, parameters = ?, activations = ?,"
			       " images_per_trial = ?, point_info = ? WHERE id = ?"
			       " AND clean_accuracy IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "recording clean accuracy");
	sqlite3_bind_double(st, 1, c->accuracy);
	sqlite3_bind_int64(st, 2, c->parameters);
	sqlite3_bind_int64(st, 3, c->activations);
	sqlite3_bind_int64(st, 4, c->images);
	sqlite3_bind_text(st, 5, c->point_info, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->job);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = bd_store_fail(db, err, "recording clean accuracy");
		goto out;
	}
	if (sqlite3_changes(db) != 1) /* recorded before (or the job is gone) */
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* no activation site under the job's rule: say so in its events */
	if (sqlite3_prepare_v2(db,
			       "SELECT json_extract(spec, '$.activation_sites') FROM jobs WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "recording a warning");
		goto out;
	}
	sqlite3_bind_int64(st, 1, c->job);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "recording a warning");
		goto out;
	}
	const unsigned char *name = sqlite3_column_text(st, 0);
	if (!name || bo_act_sites_parse((const char *)name, &sites, &perr))
		sites = BO_SITES_DEFAULT; /* specs stored before the field */
	if (!bo_sites_warning(sites, c->activations, wbuf, sizeof(wbuf)))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	bd_store_now(now, sizeof(now));
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO events (job_id, at, kind, message)"
			       " VALUES (?, ?, 'warning', ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "recording a warning");
		goto out;
	}
	sqlite3_bind_int64(st, 1, c->job);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, wbuf, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "recording a warning");
out:
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_job_record_clean(struct bd_store *s, const struct bd_clean_rec *c,
			      struct bo_error *err)
{
	return bd_store_write(s, record_clean_fn, (void *)c, err);
}

bo_status bd_jobctx_reference(const struct bd_jobctx *c, const char *model_path,
			      const json_t *mean, const json_t *std,
			      struct bo_reference_result *out, struct bo_error *err)
{
	struct bo_model *rm = NULL;
	struct bo_sweep_config cfg;
	char mt[256], st[256];
	bo_status rc;
	memset(out, 0, sizeof(*out));
	if (!c->ds)
		return bo_error_set(err, BO_EINTERNAL, "job %lld: no dataset for a reference",
			       (long long)c->job);
	int has_mean = list_text(mean, mt, sizeof(mt));
	int has_std = list_text(std, st, sizeof(st));
	if ((rc = bo_model_load(model_path, &rm, err)))
		goto out;
	if (bd_job_sweep_config(&c->spec, rm, has_mean ? mt : NULL, has_std ? st : NULL, NULL, NULL,
				0, c->threads, &cfg, err)) {
		rc = err->status ? err->status : BO_EINVAL;
		goto out;
	}
	rc = bo_reference_eval(rm, c->ds, &cfg.norm, c->spec.limit, cfg.batch, c->threads,
			       c->spec.sites, out, err);
out:
	bo_model_free(rm);
	return rc;
}

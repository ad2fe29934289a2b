/* brownoutd jobs: sweep specs, the job object, progress and results.
 *
 * A job is a sweep spec (what `brownout sweep` takes) stored as normalised
 * JSON. It is split into tasks, one point x one range of trials each (and
 * one task per reference model), which the executor runs: one trial a task
 * while the job fits in job-max-tasks tasks, else near-equal ranges
 * (bd_job_task_chunks), so that storing a job stays one short transaction
 * whatever its size. Every slice of a task commits its per-trial counts to
 * `results`. Everything the API shows
 * is computed from those rows with the library's own functions
 * (bo_summarize, bo_sweep_point_done, bo_frontier_*), and reported by the
 * same code as the CLI's (common/report.c), which is why a job's results
 * equal `brownout sweep`'s for the same spec and seed: trials are
 * deterministic in (seed, point, trial), whoever runs them and in which
 * order. Adaptive trials run ahead in rounds; the report keeps the first n
 * trials at which the stopping rule holds, exactly where bo_sweep_run
 * stops.
 *
 * Provenance. Results (JSON, CSV, per trial) carry what produced them: the
 * job, the exact model version and its sha256, the dataset and its sha256,
 * deviation, target, sites, seed, bits and the images-per-trial design
 * ("all" today), as one table of columns (prov_cols) shared by the JSON
 * object and the CSV columns. The CSV keeps the CLI's columns first and
 * appends these, so a reader by position still finds the CLI's table. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "brownoutd.h"
#include "jobs.h"
#include "optjob.h"
#include "report.h"

void bd_job_spec_release(struct bd_job_spec *s)
{
	if (s) {
		free(s->blocks);
		free(s->block_p);
		free(s->opt.policy_blocks);
		s->blocks = s->block_p = s->opt.policy_blocks = NULL;
	}
}

static bo_status field_fail(struct bo_error *err, bo_status st, const char *field, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));
static bo_status field_fail(struct bo_error *err, bo_status st, const char *field, const char *fmt,
			    ...)
{
	va_list ap;
	va_start(ap, fmt);
	bo_error_vset(err, st, fmt, ap);
	va_end(ap);
	snprintf(err->field, sizeof(err->field), "%s", field);
	return st;
}

static bo_status get_int(const json_t *v, const char *key, long long lo, long long hi,
			 long long *out, struct bo_error *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		return field_fail(err, BO_EINVAL, key, "%s must be an integer in [%lld, %lld]", key,
				  lo, hi);
	}
	*out = json_integer_value(v);
	return BO_OK;
}

static bo_status get_num(const json_t *v, const char *key, double lo, double hi, double *out,
			 struct bo_error *err)
{
	if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
		return field_fail(err, BO_EINVAL, key, "%s must be a number in [%g, %g]", key, lo, hi);
	}
	*out = json_number_value(v);
	return BO_OK;
}

static bo_status get_str(const json_t *v, const char *key, size_t max, char **out,
			 struct bo_error *err)
{
	if (json_is_null(v))
		return BO_OK;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		return field_fail(err, BO_EINVAL, key, "%s must be a non-empty string or null", key);
	if (!(*out = strdup(json_string_value(v))))
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	return BO_OK;
}

static bo_status get_floats(const json_t *v, const char *key, float *out, int *n,
			    struct bo_error *err)
{
	if (json_is_null(v))
		return BO_OK;
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > BO_MAX_CHANNELS)
		return field_fail(err, BO_EINVAL, key, "%s must be an array of 1 to 16 numbers", key);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *x = json_array_get(v, i);
		if (!json_is_number(x) || !isfinite(json_number_value(x)))
			return field_fail(err, BO_EINVAL, key, "%s must hold numbers", key);
		/* the sweep computes in float: 1e39 would be inf there */
		if (!isfinite((float)json_number_value(x))) {
			return field_fail(err, BO_EINVAL, key,
					  "%s values must be finite as 32-bit floats"
					  " (|x| < 3.4e38), not %.6g", key, json_number_value(x));
		}
		out[i] = (float)json_number_value(x);
	}
	*n = (int)json_array_size(v);
	return BO_OK;
}

/* An optimize job's p grid: "LO:HI:N", "a,b,..." or an array; above 0,
 * ascending, at most BO_OPT_MAX_GRID values. */
static bo_status get_grid(const json_t *v, const char *key, double *g, int *n,
			  struct bo_error *err)
{
	struct bo_error perr;
	*n = 0;
	if (json_is_string(v)) {
		if (bo_p_list_parse(json_string_value(v), g, n, BO_OPT_MAX_GRID, &perr))
			return field_fail(err, BO_EINVAL, key, "%s '%.200s': %.200s", key,
					  json_string_value(v), perr.text);
	} else if (json_is_array(v) && json_array_size(v) >= 1 &&
		   json_array_size(v) <= BO_OPT_MAX_GRID) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			double p = 0;
			if (get_num(json_array_get(v, i), key, 0, 1, &p, err))
				return BO_EINVAL;
			g[(*n)++] = p;
		}
	} else {
		return field_fail(err, BO_EINVAL, key,
				  "%s must be an array of 1 to %d probabilities or \"LO:HI:N\"", key,
				  BO_OPT_MAX_GRID);
	}
	for (int i = 0; i < *n; i++)
		if (!(g[i] > 0) || (i && !(g[i] > g[i - 1])))
			return field_fail(err, BO_EINVAL, key,
					  "%s: the values must be above 0 and ascend", key);
	return BO_OK;
}

/* An optimize spec after its fields: one point p = 0 (the sweeper's,
 * unused) of one trial; a floor or a loss; the defaults of the grids. */
static bo_status opt_finish(struct bd_job_spec *s, struct bo_error *err)
{
	struct bo_error perr;
	s->n_p = 1;
	s->p[0] = 0;
	s->trials = 1;
	s->ci_target = 0;
	if ((s->accuracy_floor > 0) == (s->opt.max_loss > 0))
		return field_fail(err, BO_EINVAL, "max_loss",
				  "give one of accuracy_floor and max_loss");
	if (s->min_trials > s->max_trials)
		return field_fail(err, BO_EINVAL, "min_trials", "min_trials must be <= max_trials");
	if (s->max_trials > BO_OPT_MAX_TRIALS)
		return field_fail(err, BO_EINVAL, "max_trials", "max_trials must be at most %d",
				  BO_OPT_MAX_TRIALS);
	if (!s->opt.n_grid && bo_p_list_parse("1e-4:1e-1:10", s->opt.grid, &s->opt.n_grid,
					      BO_OPT_MAX_GRID, &perr))
		return bo_error_set(err, BO_EINTERNAL, "the default grid: %s", perr.text);
	if (!s->opt.n_base) {
		memcpy(s->opt.base, s->opt.grid, sizeof(s->opt.base));
		s->opt.n_base = s->opt.n_grid;
	}
	return BO_OK;
}

int64_t bd_job_spec_opt_trials(const struct bd_job_spec *s)
{
	return s->opt.budget_trials + s->opt.verify_trials +
	       2 * (int64_t)s->opt.n_base * s->opt.baseline_trials;
}

/* A sweep's field that an optimize job does not take? */
static int sweep_only(const char *key)
{
	static const char *const keys[] = { "p", "trials", "ci_target", "images_per_trial",
					    "block_p", "weight_faults", "references" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return 1;
	return 0;
}

/* One of an optimize job's own fields (s->optimize set); 0 when key is
 * none of them (*known = 0). */
static bo_status get_opt_field(const char *key, const json_t *v, struct bd_job_spec *s,
			       int *known, struct bo_error *err)
{
	long long x = 0;
	bo_status rc = BO_OK;
	*known = 1;
	if (!strcmp(key, "max_loss")) {
		if (!json_is_null(v))
			rc = get_num(v, key, 1e-9, 1 - 1e-9, &s->opt.max_loss, err);
	} else if (!strcmp(key, "block_p_grid")) {
		rc = get_grid(v, key, s->opt.grid, &s->opt.n_grid, err);
	} else if (!strcmp(key, "baseline_p")) {
		rc = get_grid(v, key, s->opt.base, &s->opt.n_base, err);
	} else if (!strcmp(key, "budget_trials")) {
		rc = get_int(v, key, 0, BO_OPT_JOB_MAX_BUDGET, &x, err);
		s->opt.budget_trials = x;
	} else if (!strcmp(key, "curve_trials")) {
		rc = get_int(v, key, 1, BO_OPT_MAX_TRIALS, &x, err);
		s->opt.curve_trials = (int)x;
	} else if (!strcmp(key, "verify_trials")) {
		rc = get_int(v, key, 2, BO_OPT_MAX_TRIALS, &x, err);
		s->opt.verify_trials = (int)x;
	} else if (!strcmp(key, "baseline_trials")) {
		rc = get_int(v, key, 1, BO_OPT_MAX_TRIALS, &x, err);
		s->opt.baseline_trials = (int)x;
	} else if (!strcmp(key, "policy_blocks")) {
		rc = get_str(v, key, 400, &s->opt.policy_blocks, err);
	} else {
		*known = 0;
	}
	return rc;
}

bo_status bd_job_spec_parse(const json_t *j, struct bd_job_spec *s, struct bo_error *err)
{
	bo_status rc = BO_OK;
	int has_model = 0, has_dataset = 0, has_p = 0, has_trials = 0;
	struct bo_sweep_config dflt;
	bo_sweep_config_defaults(&dflt); /* the CLI's defaults */
	memset(s, 0, sizeof(*s));
	s->deviation = dflt.deviation;
	s->target = dflt.target;
	s->sites = dflt.sites;
	s->trials = dflt.trials;
	s->min_trials = dflt.min_trials;
	s->max_trials = dflt.max_trials;
	s->seed = dflt.seed;
	s->bits = dflt.bits;
	s->calib = dflt.calib;
	s->energy_a = dflt.energy_a;
	if (!json_is_object(j))
		return field_fail(err, BO_EINVAL, "", "the sweep spec must be a JSON object");
	const json_t *kind = json_object_get(j, "kind");
	if (kind && !json_is_null(kind)) {
		if (!json_is_string(kind) || (strcmp(json_string_value(kind), "sweep") &&
					      strcmp(json_string_value(kind), "optimize")))
			return field_fail(err, BO_EINVAL, "kind",
					  "kind must be \"sweep\" or \"optimize\"");
		s->optimize = !strcmp(json_string_value(kind), "optimize");
	}
	if (s->optimize) { /* the optimizer's defaults, as `brownout optimize` */
		struct bo_opt_config oc;
		bo_opt_config_defaults(&oc);
		s->min_trials = oc.min_trials;
		s->max_trials = oc.max_trials;
		s->opt.budget_trials = oc.budget_trials;
		s->opt.curve_trials = oc.curve_trials;
		s->opt.verify_trials = 10;
		s->opt.baseline_trials = 5;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v) {
		long long x = 0;
		int known = 0;
		if (!strcmp(key, "kind"))
			continue;
		if (s->optimize && sweep_only(key)) {
			rc = field_fail(err, BO_EINVAL, key, "%s is a sweep's field, not an option of"
					" optimize jobs", key);
			goto out;
		}
		if ((rc = get_opt_field(key, v, s, &known, err)))
			goto out;
		if (known && !s->optimize) {
			rc = field_fail(err, BO_EINVAL, key, "%s is an option of optimize jobs (give"
					" kind \"optimize\")", key);
			goto out;
		}
		if (known)
			continue;
		if (!strcmp(key, "model")) {
			rc = get_int(v, key, 1, INT64_MAX, &x, err);
			s->model = x;
			has_model = 1;
		} else if (!strcmp(key, "dataset")) {
			rc = get_int(v, key, 1, INT64_MAX, &x, err);
			s->dataset = x;
			has_dataset = 1;
		} else if (!strcmp(key, "deviation")) {
			if (!json_is_string(v) ||
			    bo_deviation_parse(json_string_value(v), &s->deviation, err))
				rc = field_fail(err, BO_EINVAL, key,
						"%s must be " BO_DEVIATION_CHOICES, key);
		} else if (!strcmp(key, "target")) {
			if (!json_is_string(v) || bo_target_parse(json_string_value(v), &s->target, err))
				rc = field_fail(err, BO_EINVAL, key, "%s must be " BO_TARGET_CHOICES, key);
		} else if (!strcmp(key, "activation_sites")) {
			if (!json_is_string(v) ||
			    bo_act_sites_parse(json_string_value(v), &s->sites, err))
				rc = field_fail(err, BO_EINVAL, key, "%s must be one of " BO_SITES_CHOICES,
						key);
		} else if (!strcmp(key, "p")) {
			has_p = 1;
			if (json_is_string(v)) {
				struct bo_error perr;
				if (bo_p_list_parse(json_string_value(v), s->p, &s->n_p, BO_MAX_POINTS,
						    &perr))
					rc = field_fail(err, BO_EINVAL, key,
							"p must be numbers in [0, 1] or \"LO:HI:N\" "
							"(0 < LO <= HI <= 1, N <= 1024), not '%s'",
							json_string_value(v));
			} else if (json_is_array(v) && json_array_size(v) >= 1 &&
				   json_array_size(v) <= BO_MAX_POINTS) {
				for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
					double p = 0;
					rc = get_num(json_array_get(v, i), key, 0, 1, &p, err);
					s->p[s->n_p++] = p;
				}
			} else {
				rc = field_fail(err, BO_EINVAL, key,
						"%s must be an array of 1 to 1024 probabilities or "
						"\"LO:HI:N\"", key);
			}
		} else if (!strcmp(key, "blocks")) {
			rc = get_str(v, key, 4096, &s->blocks, err);
			if (!rc && s->blocks && s->blocks[0] == '@')
				rc = field_fail(err, BO_EINVAL, key,
						"%s: @file maps are for the CLI; send the map itself",
						key);
		} else if (!strcmp(key, "block_p")) {
			rc = get_str(v, key, 4096, &s->block_p, err);
		} else if (!strcmp(key, "trials")) {
			if (!json_is_null(v)) { /* null: adaptive, see ci_target */
				rc = get_int(v, key, 1, BO_TRIAL_CAP, &x, err);
				s->trials = (int)x;
				has_trials = 1;
			}
		} else if (!strcmp(key, "ci_target")) {
			if (!json_is_null(v))
				rc = get_num(v, key, 1e-9, 1, &s->ci_target, err);
		} else if (!strcmp(key, "min_trials")) {
			rc = get_int(v, key, 2, BO_TRIAL_CAP, &x, err);
			s->min_trials = (int)x;
		} else if (!strcmp(key, "max_trials")) {
			rc = get_int(v, key, 2, BO_TRIAL_CAP, &x, err);
			s->max_trials = (int)x;
		} else if (!strcmp(key, "seed")) {
			rc = get_int(v, key, 0, INT64_MAX, &x, err);
			s->seed = (uint64_t)x;
		} else if (!strcmp(key, "bits")) {
			rc = get_int(v, key, 2, 16, &x, err);
			s->bits = (int)x;
		} else if (!strcmp(key, "calib")) {
			rc = get_int(v, key, 1, 1 << 24, &x, err);
			s->calib = x;
		} else if (!strcmp(key, "limit")) {
			rc = get_int(v, key, 0, INT64_MAX, &x, err);
			s->limit = x;
		} else if (!strcmp(key, "energy_a")) {
			rc = get_num(v, key, 1e-6, 1e6, &s->energy_a, err);
		} else if (!strcmp(key, "references")) {
			if (!json_is_array(v) || json_array_size(v) > BO_MAX_REFS) {
				rc = field_fail(err, BO_EINVAL, key,
						"%s must be an array of at most 32 model ids", key);
			} else {
				for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
					rc = get_int(json_array_get(v, i), key, 1, INT64_MAX, &x, err);
					s->refs[s->n_refs++] = x;
				}
			}
		} else if (!strcmp(key, "mean")) {
			rc = get_floats(v, key, s->mean, &s->n_mean, err);
		} else if (!strcmp(key, "std")) {
			rc = get_floats(v, key, s->std, &s->n_std, err);
			for (int i = 0; i < s->n_std && !rc; i++)
				if (!(s->std[i] > 0))
					rc = field_fail(err, BO_EINVAL, key, "%s must be positive", key);
		} else if (!strcmp(key, "images_per_trial")) {
			if (json_is_string(v) && !strcmp(json_string_value(v), "all"))
				s->images_per_trial = 0;
			else if (json_is_string(v) && !strcmp(json_string_value(v), "auto"))
				s->images_per_trial = BO_IMAGES_AUTO;
			else if (!json_is_null(v) && !json_is_integer(v))
				rc = field_fail(err, BO_EINVAL, key,
						"%s must be a number of images, \"all\", \"auto\" or"
						" null", key);
			else if (!json_is_null(v)) {
				rc = get_int(v, key, 1, INT64_C(1) << 40, &x, err);
				s->images_per_trial = x;
			}
		} else if (!strcmp(key, "accuracy_floor")) {
			if (!json_is_null(v)) /* null: clean accuracy - 0.01 */
				rc = get_num(v, key, 1e-9, 1, &s->accuracy_floor, err);
		} else if (!strcmp(key, "weight_faults")) {
			if (!json_is_string(v) ||
			    bo_weight_faults_parse(json_string_value(v), &s->weight_faults, err))
				rc = field_fail(err, BO_EINVAL, key,
						"%s must be " BO_WEIGHT_FAULTS_CHOICES, key);
		} else if (!strcmp(key, "priority")) {
			rc = get_int(v, key, -10, 10, &x, err);
			s->priority = (int)x;
		} else {
			rc = field_fail(err, BO_EINVAL, key, "unknown field '%s'", key);
		}
		if (rc)
			goto out;
	}
	if (!has_model)
		rc = field_fail(err, BO_EINVAL, "model", "missing field '%s'", "model");
	else if (!has_dataset)
		rc = field_fail(err, BO_EINVAL, "dataset", "missing field '%s'", "dataset");
	else if (s->optimize)
		rc = opt_finish(s, err);
	else if (!has_p)
		rc = field_fail(err, BO_EINVAL, "p", "missing field '%s'", "p");
	else if (s->ci_target > 0 && has_trials)
		rc = field_fail(err, BO_EINVAL, "trials",
				"give trials or ci_target, not both");
	else if (s->ci_target > 0 && s->min_trials > s->max_trials)
		rc = field_fail(err, BO_EINVAL, "min_trials", "%s must be <= max_trials",
				"min_trials");
	else if ((s->n_mean && s->n_std && s->n_mean != s->n_std && s->n_mean != 1 &&
		  s->n_std != 1))
		rc = field_fail(err, BO_EINVAL, "std", "mean and std have different lengths");
	if (!rc && s->block_p) {
		struct bo_block_rule *rules = NULL;
		int n = 0;
		if ((rc = bo_block_rules_parse(s->block_p, &rules, &n, err)))
			snprintf(err->field, sizeof(err->field), "block_p");
		free(rules);
	}
	if (!rc && s->blocks) {
		struct bo_block_map *map = NULL;
		if ((rc = bo_block_map_parse(s->blocks, &map, err)))
			snprintf(err->field, sizeof(err->field), "blocks");
		bo_block_map_free(map);
	}
out:
	if (rc)
		bd_job_spec_release(s);
	return rc;
}

static json_t *floats_json(const float *v, int n)
{
	if (!n)
		return json_null();
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static json_t *doubles_json(const double *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* An optimize job's spec: what it takes, none of a sweep's own fields. */
static json_t *opt_spec_json(const struct bd_job_spec *s)
{
	json_t *j = json_object();
	json_object_set_new(j, "kind", json_string("optimize"));
	json_object_set_new(j, "model", json_integer(s->model));
	json_object_set_new(j, "dataset", json_integer(s->dataset));
	json_object_set_new(j, "deviation", json_string(bo_deviation_name(s->deviation)));
	json_object_set_new(j, "target", json_string(bo_target_name(s->target)));
	json_object_set_new(j, "activation_sites", json_string(bo_act_sites_name(s->sites)));
	json_object_set_new(j, "blocks", s->blocks ? json_string(s->blocks) : json_null());
	json_object_set_new(j, "accuracy_floor",
			    s->accuracy_floor > 0 ? json_real(s->accuracy_floor) : json_null());
	json_object_set_new(j, "max_loss", s->opt.max_loss > 0 ? json_real(s->opt.max_loss) :
								 json_null());
	json_object_set_new(j, "block_p_grid", doubles_json(s->opt.grid, s->opt.n_grid));
	json_object_set_new(j, "baseline_p", doubles_json(s->opt.base, s->opt.n_base));
	json_object_set_new(j, "budget_trials", json_integer(s->opt.budget_trials));
	json_object_set_new(j, "curve_trials", json_integer(s->opt.curve_trials));
	json_object_set_new(j, "min_trials", json_integer(s->min_trials));
	json_object_set_new(j, "max_trials", json_integer(s->max_trials));
	json_object_set_new(j, "verify_trials", json_integer(s->opt.verify_trials));
	json_object_set_new(j, "baseline_trials", json_integer(s->opt.baseline_trials));
	json_object_set_new(j, "policy_blocks", s->opt.policy_blocks ?
				    json_string(s->opt.policy_blocks) : json_null());
	json_object_set_new(j, "seed", json_integer((json_int_t)s->seed));
	json_object_set_new(j, "bits", json_integer(s->bits));
	json_object_set_new(j, "calib", json_integer(s->calib));
	json_object_set_new(j, "limit", json_integer(s->limit));
	json_object_set_new(j, "energy_a", json_real(s->energy_a));
	json_object_set_new(j, "mean", floats_json(s->mean, s->n_mean));
	json_object_set_new(j, "std", floats_json(s->std, s->n_std));
	json_object_set_new(j, "priority", json_integer(s->priority));
	return j;
}

json_t *bd_job_spec_json(const struct bd_job_spec *s)
{
	if (s->optimize)
		return opt_spec_json(s);
	json_t *j = json_object(), *p = json_array(), *refs = json_array();
	json_object_set_new(j, "model", json_integer(s->model));
	json_object_set_new(j, "dataset", json_integer(s->dataset));
	json_object_set_new(j, "deviation", json_string(bo_deviation_name(s->deviation)));
	json_object_set_new(j, "target", json_string(bo_target_name(s->target)));
	json_object_set_new(j, "activation_sites", json_string(bo_act_sites_name(s->sites)));
	for (int i = 0; i < s->n_p; i++)
		json_array_append_new(p, json_real(s->p[i]));
	json_object_set_new(j, "p", p);
	json_object_set_new(j, "blocks", s->blocks ? json_string(s->blocks) : json_null());
	json_object_set_new(j, "block_p", s->block_p ? json_string(s->block_p) : json_null());
	json_object_set_new(j, "trials", s->ci_target > 0 ? json_null() : json_integer(s->trials));
	json_object_set_new(j, "ci_target", s->ci_target > 0 ? json_real(s->ci_target) : json_null());
	json_object_set_new(j, "min_trials", json_integer(s->min_trials));
	json_object_set_new(j, "max_trials", json_integer(s->max_trials));
	json_object_set_new(j, "seed", json_integer((json_int_t)s->seed));
	json_object_set_new(j, "bits", json_integer(s->bits));
	json_object_set_new(j, "calib", json_integer(s->calib));
	json_object_set_new(j, "limit", json_integer(s->limit));
	json_object_set_new(j, "energy_a", json_real(s->energy_a));
	for (int i = 0; i < s->n_refs; i++)
		json_array_append_new(refs, json_integer(s->refs[i]));
	json_object_set_new(j, "references", refs);
	json_object_set_new(j, "mean", floats_json(s->mean, s->n_mean));
	json_object_set_new(j, "std", floats_json(s->std, s->n_std));
	json_object_set_new(j, "priority", json_integer(s->priority));
	json_object_set_new(j, "images_per_trial",
			    s->images_per_trial > 0		       ? json_integer(s->images_per_trial) :
			    s->images_per_trial == BO_IMAGES_AUTO ? json_string("auto") :
								     json_string("all"));
	json_object_set_new(j, "accuracy_floor",
			    s->accuracy_floor > 0 ? json_real(s->accuracy_floor) : json_null());
	json_object_set_new(j, "weight_faults", json_string(bo_weight_faults_name(s->weight_faults)));
	return j;
}

int bd_job_spec_first_trials(const struct bd_job_spec *s)
{
	return s->ci_target > 0 ? s->min_trials : s->trials;
}

int bd_job_spec_pilot_trials(const struct bd_job_spec *s)
{
	return s->min_trials > 2 ? s->min_trials : 2;
}

int bd_job_spec_max_trials(const struct bd_job_spec *s)
{
	return s->ci_target > 0 ? s->max_trials : s->trials;
}

/* Is `name` one of the n names? */
static int has_name(char (*names)[96], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return 1;
	return 0;
}

bo_status bd_job_spec_check_blocks(const struct bd_job_spec *s, const struct bo_model *m,
				   struct bo_error *err)
{
	struct bo_block_map *map = NULL;
	struct bo_block_rule *rules = NULL;
	struct bo_model_stats st = { 0 };
	char (*names)[96] = NULL;
	int n_rules = 0, n = 0;
	bo_status rc = BO_OK;
	if (!s->block_p)
		return BO_OK;
	if ((s->blocks && (rc = bo_block_map_parse(s->blocks, &map, err))) ||
	    (rc = bo_block_rules_parse(s->block_p, &rules, &n_rules, err)) ||
	    (rc = bo_model_stats(m, NULL, 0, map, s->sites, &st, err)))
		goto out;
	/* the parts as the sweeper builds them: the stats' blocks, then the
	 * blocks of the nodes that read each weight */
	int n_w = bo_model_n_weights(m);
	if (!(names = calloc((size_t)st.n_blocks + (size_t)n_w + 1, sizeof(*names)))) {
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < st.n_blocks; i++)
		if (!has_name(names, n, st.blocks[i].name))
			snprintf(names[n++], sizeof(names[0]), "%s", st.blocks[i].name);
	for (int i = 0; i < n_w; i++) {
		struct bo_weight_info wi;
		char buf[128];
		bo_model_weight(m, i, &wi);
		const char *b = bo_block_of(map, wi.node, buf, sizeof(buf));
		if (!has_name(names, n, b))
			snprintf(names[n++], sizeof(names[0]), "%s", b);
	}
	for (int i = 0; i < n_rules && !rc; i++) {
		if (!strcmp(rules[i].block, "*") || has_name(names, n, rules[i].block))
			continue;
		char list[512] = "";
		size_t k = 0;
		for (int b = 0; b < n && k < sizeof(list); b++)
			k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s", b ? ", " : "",
					      names[b][0] ? names[b] : "(none)");
		rc = bo_error_set(err, BO_EINVAL, "block_p names block '%s', which the model does not have"
			     " under %s (blocks: %s)", rules[i].block,
			     s->blocks ? "the job's block map" : "the default block map", list);
	}
out:
	if (rc)
		snprintf(err->field, sizeof(err->field), "block_p");
	free(names);
	bo_model_stats_release(&st);
	bo_block_map_free(map);
	free(rules);
	return rc;
}

int bd_job_first_done(const struct bo_sweep_config *c, const double *acc, int n,
		      struct bo_summary *s)
{
	double mean = 0, m2 = 0;
	for (int m = 1; m <= n; m++) {
		double x = acc[m - 1], dv = x - mean;
		int maybe;
		mean += dv / m;
		m2 += dv * (x - mean);
		if (!(c->ci_target > 0)) {
			maybe = m >= c->trials;
		} else if (m >= c->max_trials || m < 2) {
			maybe = m >= c->min_trials || m >= c->max_trials;
		} else if (m < c->min_trials) {
			maybe = 0;
		} else {
			/* a lower bound of bo_summarize's half-width: the running sd, and
			 * 1.959 for the Student t quantile (>= 1.95996 whatever the
			 * degrees of freedom; computing it costs ~20 us); the relative
			 * margin is far above the two sd's rounding differences */
			double sd = m2 > 0 ? sqrt(m2 / (m - 1)) : 0;
			double half = 1.959 * sd / sqrt((double)m);
			maybe = !(half > c->ci_target * (1 + 1e-6) + 1e-12);
		}
		if (maybe) {
			bo_summarize_accuracy(acc, m, s);
			if (bo_sweep_point_done(c, s, m))
				return m;
		}
	}
	if (n > 0)
		bo_summarize_accuracy(acc, n, s);
	return 0;
}

int bd_job_task_chunks(int n_points, int trials, int max_tasks)
{
	if (n_points < 1 || trials < 1)
		return 1;
	if ((int64_t)n_points * trials <= max_tasks)
		return trials;
	int k = max_tasks / n_points;
	return k < 1 ? 1 : k > trials ? trials : k;
}

bo_status bd_job_add_tasks(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			   struct bo_error *err)
{
	return bd_job_add_tasks_at(db, job, point, lo, hi, k, 0, 0, err);
}

bo_status bd_job_add_tasks_at(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			      int64_t images, int pilot, struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	int64_t n = hi - lo;
	if (n <= 0)
		return BO_OK;
	if (k < 1 || k > n)
		k = k < 1 ? 1 : (int)n;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO tasks (job_id, kind, point, trial_lo, trial_hi, state,"
			       " images, pilot) VALUES (?, 'trials', ?, ?, ?, 'queued', ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing tasks");
	for (int i = 0; i < k && !rc; i++) {
		sqlite3_bind_int64(st, 1, job);
		sqlite3_bind_int(st, 2, point);
		sqlite3_bind_int64(st, 3, lo + n * i / k);
		sqlite3_bind_int64(st, 4, lo + n * (i + 1) / k);
		if (images > 0)
			sqlite3_bind_int64(st, 5, images);
		else
			sqlite3_bind_null(st, 5);
		sqlite3_bind_int(st, 6, pilot != 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = bd_store_fail(db, err, "storing tasks");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* "0.5,0.25" from floats, for bo_norm_resolve. */
static void floats_text(const float *v, int n, char *buf, size_t size)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < n && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%.9g", i ? "," : "", (double)v[i]);
}

void bd_job_spec_config(const struct bd_job_spec *s, int threads, struct bo_sweep_config *c)
{
	bo_sweep_config_defaults(c); /* batch and the rest the spec does not set */
	c->deviation = s->deviation;
	c->target = s->target;
	c->sites = s->sites;
	c->p = s->p;
	c->n_p = s->n_p;
	c->seed = s->seed;
	c->bits = s->bits;
	c->calib = s->calib;
	c->limit = s->limit;
	c->threads = threads;
	c->energy_a = s->energy_a;
	c->trials = s->trials;
	c->ci_target = s->ci_target;
	c->min_trials = s->min_trials;
	c->max_trials = s->max_trials;
	c->images_per_trial = s->images_per_trial;
	c->accuracy_floor = s->accuracy_floor;
	c->weight_faults = s->weight_faults;
	if (s->optimize) { /* the sweeper of `brownout optimize`: its point unused */
		c->images_per_trial = BO_IMAGES_ALL;
		c->min_trials = 3;
		c->max_trials = 100;
	}
}

bo_status bd_job_sweep_config(const struct bd_job_spec *s, const struct bo_model *m,
			      const char *model_mean, const char *model_std,
			      const struct bo_block_map *map, const struct bo_block_rule *rules,
			      int n_rules, int threads, struct bo_sweep_config *c,
			      struct bo_error *err)
{
	char mean[256], std[256];
	floats_text(s->mean, s->n_mean, mean, sizeof(mean));
	floats_text(s->std, s->n_std, std, sizeof(std));
	bd_job_spec_config(s, threads, c);
	c->rules = rules;
	c->n_rules = n_rules;
	c->blocks = map;
	if (bo_norm_resolve(m, s->n_mean ? mean : model_mean, s->n_std ? std : model_std, 0,
			    &c->norm, NULL, err)) {
		/* a model stored before uploads required it: say it in API terms */
		if (strstr(err->text, "has no normalisation"))
			snprintf(err->text, sizeof(err->text),
				 "the model has no normalisation: give mean and std in the job, or"
				 " upload the model again with mean/std or normalize=none");
		return err->status;
	}
	return BO_OK;
}

/* ---- stored models and datasets ---- */

void bd_data_path(const struct bd_daemon *d, const char *rel, char *buf, size_t size)
{
	bd_data_file(d->cfg.data_dir, rel, buf, size);
}

void bd_dataset_limits_of(const struct bd_config *c, struct bo_dataset_limits *l)
{
	int64_t bytes = c->dataset_max_bytes;
	if (bytes <= 0 && __builtin_mul_overflow(c->upload_limit, 4, &bytes))
		bytes = INT64_MAX;
	memset(l, 0, sizeof(*l));
	l->max_images = c->dataset_max_images;
	l->max_bytes = bytes;
	l->max_decoded_bytes = bytes;
}

int bd_root_of(const struct bd_config *c, const char *path, char *norm, size_t size,
	       const char **rel)
{
	size_t n = 0;
	*rel = NULL;
	if (!path || path[0] != '/' || size < 2)
		return -1;
	norm[0] = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && norm[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the slash */
			norm[n] = 0;
		} else {
			if (n + 1 + len + 1 > size)
				return -1;
			norm[n++] = '/';
			memcpy(norm + n, p, len);
			n += len;
			norm[n] = 0;
		}
		p = e;
	}
	if (n == 0) {
		norm[0] = '/';
		norm[1] = 0;
		n = 1;
	}
	for (int i = 0; i < c->n_roots; i++) {
		const char *root = c->roots[i];
		size_t k = strlen(root);
		if (k == 1 && root[0] == '/') {
			*rel = norm[1] ? norm + 1 : ".";
			return i;
		}
		if (!strncmp(norm, root, k) && (norm[k] == '/' || norm[k] == 0)) {
			*rel = norm[k] ? norm + k + 1 : ".";
			return i;
		}
	}
	return -1;
}

/* Every open goes beneath a directory: the data directory for uploads,
 * the allowed root for registered paths (checked again here: the roots may
 * have changed, and whatever now lies at the path is resolved without
 * leaving the root). */
bo_status bd_dataset_ref_open(const struct bd_daemon *d, const struct bd_dataset_ref *r,
			      struct bo_dataset **out, struct bo_error *err)
{
	char norm[2048], norm_l[2048];
	const char *rel = NULL, *rel_l = NULL;
	struct bo_dataset_limits lim;
	enum bo_dataset_format f;
	enum bo_split split;
	if (bo_dataset_format_parse(r->format, &f, err) || bo_split_parse(r->split, &split, err))
		return err->status; /* the store holds the API's words only */
	const char *root;
	int fd;
	bd_dataset_limits_of(&d->cfg, &lim);
	if (!strcmp(r->source, "upload")) {
		/* stored relative to the data directory; an absolute path (none
		 * is written now) is the daemon's own, opened as it is */
		root = d->cfg.data_dir;
		rel = r->path;
		rel_l = r->labels[0] ? r->labels : NULL;
		if (rel[0] == '/' || (rel_l && rel_l[0] == '/'))
			return bo_dataset_open_at(AT_FDCWD, rel, rel_l, f, split, &lim, out, err);
	} else {
		int i = bd_root_of(&d->cfg, r->path, norm, sizeof(norm), &rel);
		int j = r->labels[0] ? bd_root_of(&d->cfg, r->labels, norm_l, sizeof(norm_l), &rel_l)
				     : i;
		if (i < 0 || j != i) {
			bo_error_set(err, BO_EPERM,
				"the dataset's path is no longer under an allowed root "
				"(--dataset-root)");
			snprintf(err->field, sizeof(err->field), "dataset");
			return BO_EPERM;
		}
		root = d->cfg.roots[i];
	}
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return bo_error_set(err, BO_EIO, "cannot open the dataset's root directory: %s",
			       strerror(errno));
	bo_status rc = bo_dataset_open_at(fd, rel, rel_l, f, split, &lim, out, err);
	close(fd);
	return rc;
}

/* ---- reading jobs back ---- */

json_t *bd_col_string(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

json_t *bd_col_json(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	json_error_t je;
	json_t *j = t ? json_loads((const char *)t, 0, &je) : NULL;
	return j ? j : json_null();
}

struct job_read {
	int64_t id;
	json_t *job;        /* out */
	/* for results */
	json_t *spec;
	char state[16];
	int64_t images_per_trial;
	int64_t dataset_images;
	int has_clean;
	double clean_accuracy;
	int64_t parameters, activations;
	json_t *point_info;
	char model_name[256], dataset_name[256];
	int64_t model_id, dataset_id, model_version;
	char model_sha256[65], dataset_sha256[65]; /* "" when unknown */
	/* results[point][trial] = correct, -1 missing */
	int n_points;
	int64_t **correct;      /* per point, trial_cap of them */
	int trial_cap;
	/* images_per_trial = auto: per point, the images its trials saw (0:
	 * none yet) and its pilot: trials stored (up to the spec's), their
	 * accuracies, n0 and summed costs */
	int64_t *point_images;
	struct job_pilot {
		int trials;
		int64_t n0;
		double cost_trial, cost_image;
		double *acc;
	} *pilots;
	int n_refs, refs_ready;
	struct bo_ref_point refs[BO_MAX_REFS];
	char ref_names[BO_MAX_REFS][256];
	/* progress */
	int64_t trials_total, trials_done, points_done;
	/* images of the trial tasks (each at its n, else the job's) and of the
	 * stored trials: auto's points differ in n */
	int64_t images_tasks, images_results, trials_tasks;
	int64_t trials_copied, images_copied; /* auto: pilot trials reused as trials */
	/* kind "optimize": its stored progress and result (optjob.c) */
	int optimize;
	json_t *opt_progress, *opt_result;
};

static bo_status read_job_row(sqlite3 *db, struct job_read *jr, struct bo_error *err)
{
	static const char sql[] =
		"SELECT j.id, u.name, j.model_id, m.name, j.dataset_id, d.name, j.state, j.priority,"
		" j.spec, j.created_at, j.started_at, j.finished_at, j.error, j.clean_accuracy,"
		" j.images_per_trial, j.parameters, j.activations, j.point_info,"
		" m.version, m.sha256, d.sha256, j.name, j.notes, j.tags, d.images"
		" FROM jobs j JOIN users u ON u.id = j.owner_id JOIN models m ON m.id = j.model_id"
		" JOIN datasets d ON d.id = j.dataset_id WHERE j.id = ?";
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	json_error_t je;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a job");
	sqlite3_bind_int64(st, 1, jr->id);
	int s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		rc = bo_error_set(err, BO_ENOENT, "no job %lld", (long long)jr->id);
		goto out;
	}
	if (s != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "reading a job");
		goto out;
	}
	jr->spec = json_loads((const char *)sqlite3_column_text(st, 8), 0, &je);
	if (!jr->spec) {
		rc = bo_error_set(err, BO_EINTERNAL, "job %lld: stored spec unreadable", (long long)jr->id);
		goto out;
	}
	jr->optimize = json_is_string(json_object_get(jr->spec, "kind")) &&
		       !strcmp(json_string_value(json_object_get(jr->spec, "kind")), "optimize");
	snprintf(jr->state, sizeof(jr->state), "%s", (const char *)sqlite3_column_text(st, 6));
	snprintf(jr->model_name, sizeof(jr->model_name), "%s", sqlite3_column_text(st, 3));
	snprintf(jr->dataset_name, sizeof(jr->dataset_name), "%s", sqlite3_column_text(st, 5));
	jr->has_clean = sqlite3_column_type(st, 13) != SQLITE_NULL;
	jr->clean_accuracy = sqlite3_column_double(st, 13);
	jr->images_per_trial = sqlite3_column_int64(st, 14);
	jr->parameters = sqlite3_column_int64(st, 15);
	jr->activations = sqlite3_column_int64(st, 16);
	jr->dataset_images = sqlite3_column_int64(st, 24);
	if (sqlite3_column_type(st, 17) != SQLITE_NULL)
		jr->point_info = json_loads((const char *)sqlite3_column_text(st, 17), 0, &je);
	jr->model_id = sqlite3_column_int64(st, 2);
	jr->dataset_id = sqlite3_column_int64(st, 4);
	jr->model_version = sqlite3_column_int64(st, 18);
	snprintf(jr->model_sha256, sizeof(jr->model_sha256), "%s",
		 sqlite3_column_text(st, 19) ? (const char *)sqlite3_column_text(st, 19) : "");
	snprintf(jr->dataset_sha256, sizeof(jr->dataset_sha256), "%s",
		 sqlite3_column_text(st, 20) ? (const char *)sqlite3_column_text(st, 20) : "");
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "owner", json_string((const char *)sqlite3_column_text(st, 1)));
	json_object_set_new(j, "model", json_integer(sqlite3_column_int64(st, 2)));
	json_object_set_new(j, "model_name", json_string(jr->model_name));
	json_object_set_new(j, "model_version", json_integer(jr->model_version));
	json_object_set_new(j, "model_sha256", json_string(jr->model_sha256));
	json_object_set_new(j, "dataset", json_integer(sqlite3_column_int64(st, 4)));
	json_object_set_new(j, "dataset_name", json_string(jr->dataset_name));
	json_object_set_new(j, "kind", json_string(jr->optimize ? "optimize" : "sweep"));
	json_object_set_new(j, "state", json_string(jr->state));
	json_object_set_new(j, "name", bd_col_string(st, 21));
	json_object_set_new(j, "notes", bd_col_string(st, 22));
	json_t *tags = bd_col_json(st, 23);
	if (!json_is_array(tags)) {
		json_decref(tags);
		tags = json_array();
	}
	json_object_set_new(j, "tags", tags);
	json_object_set_new(j, "priority", json_integer(sqlite3_column_int(st, 7)));
	json_object_set_new(j, "spec", json_incref(jr->spec));
	json_object_set_new(j, "created_at", bd_col_string(st, 9));
	json_object_set_new(j, "started_at", bd_col_string(st, 10));
	json_object_set_new(j, "finished_at", bd_col_string(st, 11));
	json_object_set_new(j, "error", bd_col_string(st, 12));
	json_object_set_new(j, "clean_accuracy",
			    jr->has_clean ? json_real(jr->clean_accuracy) : json_null());
	/* known once the clean pass has counted the sites (spec section 1) */
	json_t *warn = json_array();
	enum bo_act_sites sites = BO_SITES_DEFAULT;
	char wbuf[256];
	bo_act_sites_parse(json_string_value(json_object_get(jr->spec, "activation_sites")), &sites,
			   NULL);
	if (jr->has_clean && bo_sites_warning(sites, jr->activations, wbuf, sizeof(wbuf)))
		json_array_append_new(warn, json_string(wbuf));
	json_object_set_new(j, "warnings", warn);
	jr->job = j;
out:
	sqlite3_finalize(st);
	return rc;
}

static bo_status read_progress(sqlite3 *db, struct job_read *jr, struct bo_error *err)
{
	static const char sql[] =
		"SELECT COALESCE(SUM(CASE WHEN pilot = 0 THEN trial_hi - trial_lo ELSE 0 END), 0),"
		" COUNT(DISTINCT point) - COUNT(DISTINCT CASE WHEN state <> 'done' THEN point END),"
		" COALESCE(SUM(CASE WHEN pilot = 0 THEN (trial_hi - trial_lo) * images ELSE 0 END), 0)"
		" FROM tasks WHERE job_id = ? AND kind = 'trials'";
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading progress");
	sqlite3_bind_int64(st, 1, jr->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "reading progress");
		goto out;
	}
	jr->trials_total = jr->trials_tasks = sqlite3_column_int64(st, 0);
	jr->images_tasks = sqlite3_column_int64(st, 2); /* tasks at their own n (auto) */
	/* never below the first round the spec planned: a cancel drops queued
	 * tasks, and progress should still read against the plan */
	json_t *js = jr->spec;
	int64_t first = json_is_number(json_object_get(js, "ci_target")) ?
				json_integer_value(json_object_get(js, "min_trials")) :
				json_integer_value(json_object_get(js, "trials"));
	int64_t planned = first * (int64_t)json_array_size(json_object_get(js, "p"));
	if (jr->trials_total < planned)
		jr->trials_total = planned;
	jr->points_done = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT COUNT(*), COALESCE(SUM(images), 0) FROM results WHERE job_id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading progress");
	sqlite3_bind_int64(st, 1, jr->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "reading progress");
		goto out;
	}
	jr->trials_done = sqlite3_column_int64(st, 0);
	jr->images_results = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	/* auto with n = n0: the pilot's trials are the point's first trials,
	 * stored without a trial task of their own */
	if (sqlite3_prepare_v2(db,
			       "SELECT COUNT(*), COALESCE(SUM(r.images), 0) FROM results r"
			       " WHERE r.job_id = ?1 AND EXISTS (SELECT 1 FROM pilots p WHERE"
			       " p.job_id = ?1 AND p.point = r.point AND p.trial = r.trial) AND"
			       " NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = ?1 AND"
			       " t.point = r.point AND t.kind = 'trials' AND t.pilot = 0 AND"
			       " r.trial >= t.trial_lo AND r.trial < t.trial_hi)",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading progress");
	sqlite3_bind_int64(st, 1, jr->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "reading progress");
		goto out;
	}
	jr->trials_copied = sqlite3_column_int64(st, 0);
	jr->images_copied = sqlite3_column_int64(st, 1);
	jr->trials_tasks += jr->trials_copied;
	if (jr->trials_total < jr->trials_tasks)
		jr->trials_total = jr->trials_tasks;
out:
	sqlite3_finalize(st);
	return rc;
}

static bo_status job_read_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_read *jr = ctx;
	bo_status rc = read_job_row(db, jr, err);
	if (!rc)
		rc = read_progress(db, jr, err);
	if (!rc && jr->optimize)
		rc = bd_optjob_read(db, jr->id, &jr->opt_progress, &jr->opt_result, err);
	return rc;
}

static void job_read_release(struct job_read *jr)
{
	json_decref(jr->job);
	json_decref(jr->spec);
	json_decref(jr->point_info);
	json_decref(jr->opt_progress);
	json_decref(jr->opt_result);
	if (jr->correct)
		for (int i = 0; i < jr->n_points; i++)
			free(jr->correct[i]);
	free(jr->correct);
	if (jr->pilots)
		for (int i = 0; i < jr->n_points; i++)
			free(jr->pilots[i].acc);
	free(jr->pilots);
	free(jr->point_images);
}

bo_status bd_job_get(struct bd_daemon *d, int64_t id, json_t **out, struct bo_error *err)
{
	struct job_read jr = { .id = id };
	bo_status rc = bd_store_read(d->store, job_read_fn, &jr, err);
	if (rc)
		goto out;
	int64_t inflight = 0;
	double ips = 0;
	bd_live_get(&d->live, id, &inflight, &ips);
	int64_t per = jr.images_per_trial;
	int64_t total = jr.trials_total * per, done = jr.trials_done * per;
	json_t *ipt = json_object_get(jr.spec, "images_per_trial");
	if (json_is_string(ipt) && !strcmp(json_string_value(ipt), "auto")) {
		/* each point at its own n: the trial tasks' images, the trials the
		 * plan still lacks (a point in its pilot) at N, what is stored */
		total = jr.images_tasks + jr.images_copied + (jr.trials_total - jr.trials_tasks) * per;
		done = jr.images_results;
	}
	int running = !strcmp(jr.state, "running") || !strcmp(jr.state, "queued");
	if (running)
		done += inflight;
	if (done > total)
		done = total;
	if (done < 0)
		done = 0;
	json_t *pr = json_object();
	json_object_set_new(pr, "points_total", json_integer(json_array_size(json_object_get(jr.spec, "p"))));
	json_object_set_new(pr, "points_done", json_integer(jr.points_done));
	json_object_set_new(pr, "trials_total", json_integer(jr.trials_total));
	json_object_set_new(pr, "trials_done", json_integer(jr.trials_done));
	json_object_set_new(pr, "images_total", json_integer(total));
	json_object_set_new(pr, "images_done", json_integer(done));
	json_object_set_new(pr, "fraction", json_real(total > 0 ? (double)done / (double)total :
						      !strcmp(jr.state, "done") ? 1.0 : 0.0));
	json_object_set_new(pr, "images_per_second", json_real(running ? ips : 0));
	json_object_set_new(pr, "seconds_left", running && ips > 0 ?
				   json_real((double)(total - done) / ips) : json_null());
	json_object_set_new(jr.job, "progress", pr);
	if (jr.optimize) {
		/* the search's progress (phase, candidates, trials of the budget,
		 * best E/E_o and its accuracy); null until the search starts */
		json_object_set_new(jr.job, "optimize", jr.opt_progress ? json_incref(jr.opt_progress) :
									   json_null());
		/* the job's one trial is its end: its fraction is the search's
		 * trials of the budget (at most 0.99 until it is done) */
		json_int_t tr = json_integer_value(json_object_get(jr.opt_progress, "trials"));
		json_int_t bu = json_integer_value(json_object_get(jr.opt_progress, "budget"));
		double f = bu > 0 ? (double)tr / (double)bu : 0;
		json_object_set_new(pr, "fraction", json_real(!strcmp(jr.state, "done") ? 1.0 :
							      f > 0.99 ? 0.99 : f < 0 ? 0 : f));
	}
	*out = json_incref(jr.job);
out:
	job_read_release(&jr);
	return rc;
}

/* ---- results ---- */

static bo_status results_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_read *jr = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = read_job_row(db, jr, err);
	if (rc)
		return rc;
	jr->n_points = (int)json_array_size(json_object_get(jr->spec, "p"));
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(trial), -1) + 1 FROM results WHERE job_id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading results");
	sqlite3_bind_int64(st, 1, jr->id);
	jr->trial_cap = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	st = NULL;
	if (jr->trial_cap < 1 || jr->trial_cap > BO_TRIAL_CAP)
		jr->trial_cap = jr->trial_cap < 1 ? 1 : BO_TRIAL_CAP;
	jr->correct = calloc((size_t)jr->n_points, sizeof(int64_t *));
	if (!jr->correct)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	for (int i = 0; i < jr->n_points; i++) {
		if (!(jr->correct[i] = malloc((size_t)jr->trial_cap * sizeof(int64_t))))
			return bo_error_set(err, BO_ENOMEM, "out of memory");
		for (int t = 0; t < jr->trial_cap; t++)
			jr->correct[i][t] = -1;
	}
	if (!(jr->point_images = calloc((size_t)jr->n_points, sizeof(int64_t))) ||
	    !(jr->pilots = calloc((size_t)jr->n_points, sizeof(*jr->pilots))))
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db,
			       "SELECT point, trial, correct, images FROM results WHERE job_id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading results");
	sqlite3_bind_int64(st, 1, jr->id);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int pt = sqlite3_column_int(st, 0), t = sqlite3_column_int(st, 1);
		if (pt >= 0 && pt < jr->n_points && t >= 0 && t < jr->trial_cap) {
			jr->correct[pt][t] = sqlite3_column_int64(st, 2);
			jr->point_images[pt] = sqlite3_column_int64(st, 3);
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE)
		return bd_store_fail(db, err, "reading results");
	/* auto's pilots: trials 0..T-1 in order, at one n0 (T: the spec's) */
	json_t *mt = json_object_get(jr->spec, "min_trials");
	int T = json_is_integer(mt) && json_integer_value(mt) > 2 &&
				json_integer_value(mt) <= BO_TRIAL_CAP ?
			(int)json_integer_value(mt) : 2;
	if (sqlite3_prepare_v2(db,
			       "SELECT point, trial, correct, images, cost_trial, cost_image"
			       " FROM pilots WHERE job_id = ? ORDER BY point, trial",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading results");
	sqlite3_bind_int64(st, 1, jr->id);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int pt = sqlite3_column_int(st, 0), t = sqlite3_column_int(st, 1);
		int64_t im = sqlite3_column_int64(st, 3);
		if (pt < 0 || pt >= jr->n_points || im < 1)
			continue;
		struct job_pilot *pl = &jr->pilots[pt];
		if (t != pl->trials || t >= T || (pl->n0 && im != pl->n0))
			continue;
		if (!pl->acc && !(pl->acc = calloc((size_t)T, sizeof(double)))) {
			sqlite3_finalize(st);
			return bo_error_set(err, BO_ENOMEM, "out of memory");
		}
		pl->n0 = im;
		pl->acc[pl->trials++] = (double)sqlite3_column_int64(st, 2) / (double)im;
		pl->cost_trial += sqlite3_column_double(st, 4);
		pl->cost_image += sqlite3_column_double(st, 5);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE)
		return bd_store_fail(db, err, "reading results");
	if (sqlite3_prepare_v2(db,
			       "SELECT r.correct, r.images, r.parameters, r.activations, m.name"
			       " FROM job_references r JOIN models m ON m.id = r.model_id"
			       " WHERE r.job_id = ? ORDER BY r.position",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading references");
	sqlite3_bind_int64(st, 1, jr->id);
	jr->refs_ready = 1;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && jr->n_refs < BO_MAX_REFS) {
		int k = jr->n_refs++;
		if (sqlite3_column_type(st, 0) == SQLITE_NULL || sqlite3_column_int64(st, 1) <= 0) {
			jr->refs_ready = 0;
		} else {
			struct bo_reference_result rr = {
				sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
				sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)
			};
			jr->refs[k] = bo_reference_point(&rr);
		}
		snprintf(jr->ref_names[k], sizeof(jr->ref_names[k]), "%s",
			 (const char *)sqlite3_column_text(st, 4));
	}
	if (s != SQLITE_DONE && s != SQLITE_ROW)
		rc = bd_store_fail(db, err, "reading references");
	sqlite3_finalize(st);
	return rc;
}

/* The config of a job's report, as the CLI prints it. */
static json_t *report_config(const struct job_read *jr, const struct bd_job_spec *s, int threads)
{
	struct bo_sweep_config c;
	bd_job_spec_config(s, threads, &c);
	json_t *j = bo_sweep_config_json(&c, NULL, s->blocks, s->block_p);
	json_object_set(j, "p", json_object_get(jr->spec, "p"));
	/* the normalisation the workers resolved (spec, model or metadata) */
	json_t *pi = jr->point_info, *mean = json_object_get(jr->spec, "mean");
	json_t *std = json_object_get(jr->spec, "std");
	if (pi) {
		mean = json_object_get(pi, "mean");
		std = json_object_get(pi, "std");
	}
	/* before the first task: the spec's, or [] (each model's own, not known yet) */
	json_object_set_new(j, "mean", json_is_array(mean) ? json_incref(mean) : json_array());
	json_object_set_new(j, "std", json_is_array(std) ? json_incref(std) : json_array());
	return j;
}

/* The provenance columns, in CSV order (JSON: the same keys). */
static const char *const prov_cols[] = { "job", "model", "model_version", "model_sha256",
					 "dataset", "dataset_sha256", "deviation", "target",
					 "sites", "seed", "bits", "design" };
#define N_PROV ((int)(sizeof(prov_cols) / sizeof(prov_cols[0])))

/* What produced a job's results; design: images per trial ("all": every
 * image of the dataset, or of its limit; else n, spec section 4a). */
static json_t *provenance_json(const struct job_read *jr, const struct bd_job_spec *s)
{
	json_t *j = json_object();
	json_object_set_new(j, "job", json_integer(jr->id));
	json_object_set_new(j, "model", json_string(jr->model_name));
	json_object_set_new(j, "model_id", json_integer(jr->model_id));
	json_object_set_new(j, "model_version", json_integer(jr->model_version));
	json_object_set_new(j, "model_sha256", json_string(jr->model_sha256));
	json_object_set_new(j, "dataset", json_string(jr->dataset_name));
	json_object_set_new(j, "dataset_id", json_integer(jr->dataset_id));
	json_object_set_new(j, "dataset_sha256",
			    jr->dataset_sha256[0] ? json_string(jr->dataset_sha256) : json_null());
	json_object_set_new(j, "deviation", json_string(bo_deviation_name(s->deviation)));
	json_object_set_new(j, "target", json_string(bo_target_name(s->target)));
	json_object_set_new(j, "sites", json_string(bo_act_sites_name(s->sites)));
	json_object_set_new(j, "seed", json_integer((json_int_t)s->seed));
	json_object_set_new(j, "bits", json_integer(s->bits));
	/* "all", or the number of images each trial saw (spec 4a) */
	if (s->images_per_trial > 0)
		json_object_set_new(j, "design", json_integer(s->images_per_trial));
	else
		json_object_set_new(j, "design", json_string(s->images_per_trial == BO_IMAGES_AUTO ?
								     "auto" : "all"));
	return j;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *v)
{
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

/* ",v1,v2,..." of the provenance columns of prov, into f. */
static void csv_prov(FILE *f, const json_t *prov)
{
	for (int i = 0; i < N_PROV; i++) {
		const json_t *v = json_object_get(prov, prov_cols[i]);
		fputc(',', f);
		if (json_is_string(v))
			csv_field(f, json_string_value(v));
		else if (json_is_integer(v))
			fprintf(f, "%lld", (long long)json_integer_value(v));
	}
}

static void csv_prov_header(FILE *f)
{
	for (int i = 0; i < N_PROV; i++)
		fprintf(f, ",%s", prov_cols[i]);
}

/* The CLI's CSV (lines ending in '\n') with the provenance columns appended
 * to each line, into f. */
static void csv_append_prov(FILE *f, const char *csv, size_t len, const json_t *prov)
{
	size_t a = 0;
	for (int line = 0; a < len; line++) {
		const char *nl = memchr(csv + a, '\n', len - a);
		size_t b = nl ? (size_t)(nl - csv) : len;
		fwrite(csv + a, 1, b - a, f);
		if (line == 0)
			csv_prov_header(f);
		else
			csv_prov(f, prov);
		fputc('\n', f);
		a = b + 1;
	}
}

static bo_status opt_results_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_read *jr = ctx;
	bo_status rc = read_job_row(db, jr, err);
	if (!rc && jr->optimize)
		rc = bd_optjob_read(db, jr->id, &jr->opt_progress, &jr->opt_result, err);
	return rc;
}

/* An optimize job's results: `brownout optimize --json` once done (with
 * job, state, complete), else {job, state, complete: false, progress}. */
static bo_status opt_results(struct job_read *jr, int csv, json_t **json, struct bo_error *err)
{
	json_t *j;
	if (csv) {
		bo_error_set(err, BO_EINVAL, "job %lld is an optimize job: its results are"
			     " JSON only", (long long)jr->id);
		snprintf(err->field, sizeof(err->field), "format");
		return BO_EINVAL;
	}
	j = jr->opt_result && !strcmp(jr->state, "done") ? json_incref(jr->opt_result) :
							      json_object();
	json_object_set_new(j, "job", json_integer(jr->id));
	json_object_set_new(j, "kind", json_string("optimize"));
	json_object_set_new(j, "state", json_string(jr->state));
	json_object_set_new(j, "complete", json_boolean(json_object_get(j, "allocation") != NULL));
	json_object_set_new(j, "progress", jr->opt_progress ? json_incref(jr->opt_progress) :
							      json_null());
	*json = j;
	return BO_OK;
}

bo_status bd_job_results(struct bd_daemon *d, int64_t id, int csv, json_t **json, char **text,
			 size_t *len, struct bo_error *err)
{
	{
		struct job_read oj = { .id = id };
		bo_status orc = bd_store_read(d->store, opt_results_fn, &oj, err);
		if (!orc && oj.optimize)
			orc = opt_results(&oj, csv, json, err);
		int done = orc || oj.optimize;
		job_read_release(&oj);
		if (done)
			return orc;
	}
	struct job_read jr = { .id = id };
	struct bd_job_spec spec = { 0 };
	struct bo_sweep_result r = { 0 };
	struct bo_frontier fr = { 0 };
	struct bo_report_ref rr[BO_MAX_REFS];
	json_t *prov = NULL;
	int complete = 1;
	bo_status rc = bd_store_read(d->store, results_fn, &jr, err);
	if (rc)
		goto out;
	if ((rc = bd_job_spec_parse(jr.spec, &spec, err)))
		goto out;
	r.clean_accuracy = jr.clean_accuracy;
	/* spec 4c: the yield's floor; N, the evaluation set, for the variance
	 * split and the image-sampling note */
	r.accuracy_floor = spec.accuracy_floor > 0 ? spec.accuracy_floor :
			   jr.has_clean ? jr.clean_accuracy - 0.01 : NAN;
	r.eval_images = spec.limit > 0 && spec.limit < jr.dataset_images ? spec.limit :
									     jr.dataset_images;
	r.parameters = jr.parameters;
	r.activations = jr.activations;
	r.n_points = jr.n_points;
	if (!(r.points = calloc((size_t)jr.n_points, sizeof(*r.points)))) {
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	struct bo_sweep_config c;
	bd_job_spec_config(&spec, d->cfg.threads_per_worker, &c);
	int use_frontier = jr.n_refs > 0 && jr.refs_ready &&
			   bo_frontier_build(jr.refs, jr.n_refs, &fr, err) == BO_OK;
	for (int pt = 0; pt < jr.n_points; pt++) {
		struct bo_point_result *p = &r.points[pt];
		p->p = spec.p[pt];
		if (!(p->accuracy = calloc((size_t)jr.trial_cap, sizeof(double)))) {
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		/* n: the point's trials' (auto: chosen from its pilot, which the
		 * results show as bo_sweep_run reports it), else the job's */
		int64_t n = jr.point_images[pt] > 0 ? jr.point_images[pt] : jr.images_per_trial;
		const struct job_pilot *pl = &jr.pilots[pt];
		if (spec.images_per_trial == BO_IMAGES_AUTO && pl->trials > 0) {
			p->pilot_trials = pl->trials;
			p->pilot_images_per_trial = pl->n0;
			p->cost_trial = pl->cost_trial / pl->trials;
			p->cost_image = pl->cost_image / ((double)pl->trials * (double)pl->n0);
			if (jr.point_images[pt] <= 0 && pl->trials == bd_job_spec_pilot_trials(&spec))
				n = bo_design_auto_n(pl->acc, pl->trials, pl->n0, r.eval_images,
						     p->cost_trial, p->cost_image);
		}
		int avail = 0;
		while (avail < jr.trial_cap && jr.correct[pt][avail] >= 0 && n > 0) {
			p->accuracy[avail] = (double)jr.correct[pt][avail] / (double)n;
			avail++;
		}
		/* the first n at which the rule holds, as bo_sweep_run stops (O(n)) */
		int done = bd_job_first_done(&c, p->accuracy, avail, &p->summary);
		p->trials = done ? done : avail;
		complete &= done > 0;
		p->images = n * p->trials;
		bo_point_chip_stats(p, n, r.eval_images, r.accuracy_floor);
		p->eta = bo_eta(p->p, spec.energy_a);
		json_t *pi = json_array_get(json_object_get(jr.point_info, "points"), (size_t)pt);
		p->energy = pi ? json_number_value(json_object_get(pi, "energy")) : NAN;
		double eref;
		if (use_frontier && p->trials > 0 &&
		    bo_frontier_energy(&fr, p->summary.mean, &eref) == 0 && p->energy > 0) {
			p->has_reduction = 1;
			p->energy_reduction = eref / p->energy;
		}
	}
	/* spec 4c: nested weight faults, the chips over the trials every point
	 * has so far */
	r.weight_faults = spec.weight_faults;
	if (spec.weight_faults == BO_WEIGHT_FAULTS_NESTED &&
	    (rc = bo_chips_compute(&r, r.accuracy_floor, &r.chips, err)))
		goto out;
	for (int i = 0; i < jr.n_refs; i++)
		rr[i] = (struct bo_report_ref){ jr.ref_names[i], jr.refs[i].energy,
						jr.refs[i].accuracy };
	prov = provenance_json(&jr, &spec);
	if (csv) {
		char *cli = NULL;
		size_t cli_len = 0;
		FILE *f = open_memstream(&cli, &cli_len);
		int bad = !f || bo_sweep_report_csv(f, &r);
		if (f && fclose(f))
			bad = 1;
		if (!bad) {
			f = open_memstream(text, len);
			if (f)
				csv_append_prov(f, cli, cli_len, prov);
			bad = !f || ferror(f);
			if (f && fclose(f))
				bad = 1;
		}
		free(cli);
		if (bad) {
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
			goto out;
		}
	} else {
		json_t *cfg = report_config(&jr, &spec, d->cfg.threads_per_worker);
		json_t *j = bo_sweep_report_json(jr.model_name, jr.dataset_name, cfg, &r, rr,
						 jr.refs_ready ? jr.n_refs : 0, spec.seed);
		json_object_set_new(j, "job", json_integer(id));
		json_object_set_new(j, "state", json_string(jr.state));
		json_object_set_new(j, "complete", json_boolean(complete && jr.refs_ready));
		json_object_set_new(j, "provenance", json_incref(prov));
		if (!jr.has_clean) {
			json_object_set_new(j, "clean_accuracy", json_null());
			json_object_set_new(j, "parameters", json_null());
			json_object_set_new(j, "activations", json_null());
			json_object_set_new(j, "warnings", json_array()); /* not counted yet */
		}
		*json = j;
	}
out:
	json_decref(prov);
	bo_frontier_release(&fr);
	bo_sweep_result_release(&r);
	bd_job_spec_release(&spec);
	job_read_release(&jr);
	return rc;
}

/* ---- results per trial ---- */

struct trial_row {
	int point, trial;
	int64_t correct, images;
};

struct trials_read {
	struct job_read jr;
	int point;              /* -1: every point */
	struct trial_row *rows; /* out */
	int n;
};

static bo_status trials_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct trials_read *t = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = read_job_row(db, &t->jr, err);
	int s;
	if (rc)
		return rc;
	if (t->jr.optimize) {
		rc = bo_error_set(err, BO_EINVAL, "job %lld is an optimize job: its trials are in its"
				  " results (search, verification), not per trial", (long long)t->jr.id);
		bo_error_set_where(err, NULL, NULL, NULL, "per_trial");
		return rc;
	}
	int n_points = (int)json_array_size(json_object_get(t->jr.spec, "p"));
	if (t->point >= n_points) {
		rc = bo_error_set(err, BO_EINVAL, "point %d: job %lld has points 0 to %d", t->point,
			     (long long)t->jr.id, n_points - 1);
		bo_error_set_where(err, NULL, NULL, NULL, "point");
		return rc;
	}
	if (!(t->rows = malloc((size_t)(BO_TRIAL_ROWS_MAX + 1) * sizeof(*t->rows))))
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db,
			       "SELECT point, trial, correct, images FROM results WHERE job_id = ?1"
			       " AND (?2 < 0 OR point = ?2) ORDER BY point, trial LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading results");
	sqlite3_bind_int64(st, 1, t->jr.id);
	sqlite3_bind_int(st, 2, t->point);
	sqlite3_bind_int(st, 3, BO_TRIAL_ROWS_MAX + 1);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct trial_row *w = &t->rows[t->n++];
		w->point = sqlite3_column_int(st, 0);
		w->trial = sqlite3_column_int(st, 1);
		w->correct = sqlite3_column_int64(st, 2);
		w->images = sqlite3_column_int64(st, 3);
	}
	if (s != SQLITE_DONE)
		rc = bd_store_fail(db, err, "reading results");
	else if (t->n > BO_TRIAL_ROWS_MAX)
		rc = bo_error_set(err, BO_ELIMIT,
			     "job %lld has more than %d trial rows: ask for one point at a time"
			     " (?per_trial=1&point=K)",
			     (long long)t->jr.id, BO_TRIAL_ROWS_MAX);
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_job_trials(struct bd_daemon *d, int64_t id, int point, int csv, json_t **json,
			char **text, size_t *len, struct bo_error *err)
{
	struct trials_read t = { .jr = { .id = id }, .point = point };
	struct bd_job_spec spec = { 0 };
	json_t *prov = NULL;
	FILE *f = NULL;
	bo_status rc = bd_store_read(d->store, trials_fn, &t, err);
	if (rc)
		goto out;
	if ((rc = bd_job_spec_parse(t.jr.spec, &spec, err)))
		goto out;
	prov = provenance_json(&t.jr, &spec);
	if (csv) {
		if (!(f = open_memstream(text, len))) {
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		fputs("point,p,trial,correct,images,accuracy", f);
		csv_prov_header(f);
		fputc('\n', f);
	}
	json_t *rows = csv ? NULL : json_array();
	for (int i = 0; i < t.n; i++) {
		const struct trial_row *w = &t.rows[i];
		double p = w->point >= 0 && w->point < spec.n_p ? spec.p[w->point] : NAN;
		double acc = w->images > 0 ? (double)w->correct / (double)w->images : NAN;
		if (csv) {
			fprintf(f, "%d,%.10g,%d,%lld,%lld,%.10g", w->point, p, w->trial,
				(long long)w->correct, (long long)w->images, acc);
			csv_prov(f, prov);
			fputc('\n', f);
			continue;
		}
		json_t *o = json_object();
		json_object_set_new(o, "point", json_integer(w->point));
		json_object_set_new(o, "p", isfinite(p) ? json_real(p) : json_null());
		json_object_set_new(o, "trial", json_integer(w->trial));
		json_object_set_new(o, "correct", json_integer(w->correct));
		json_object_set_new(o, "images", json_integer(w->images));
		json_object_set_new(o, "accuracy", isfinite(acc) ? json_real(acc) : json_null());
		json_array_append_new(rows, o);
	}
	if (csv) {
		int bad = ferror(f) != 0;
		if (fclose(f))
			bad = 1;
		f = NULL;
		if (bad)
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
	} else {
		json_t *j = json_object();
		json_object_set_new(j, "job", json_integer(id));
		json_object_set_new(j, "state", json_string(t.jr.state));
		json_object_set_new(j, "provenance", json_incref(prov));
		json_object_set_new(j, "trials", rows);
		*json = j;
	}
out:
	if (f)
		fclose(f);
	json_decref(prov);
	free(t.rows);
	bd_job_spec_release(&spec);
	job_read_release(&t.jr);
	return rc;
}

/* ---- live progress ---- */

static struct bd_live_job *live_find(struct bd_live *l, int64_t job, int create)
{
	for (int i = 0; i < l->n; i++)
		if (l->jobs[i].job == job)
			return &l->jobs[i];
	if (!create)
		return NULL;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		struct bd_live_job *n = realloc(l->jobs, (size_t)cap * sizeof(*n));
		if (!n)
			return NULL;
		l->jobs = n;
		l->cap = cap;
	}
	struct bd_live_job *j = &l->jobs[l->n++];
	memset(j, 0, sizeof(*j));
	j->job = job;
	j->t_first = bd_now();
	return j;
}

void bd_live_add(struct bd_live *l, int64_t job, int64_t inflight_delta, int64_t run_delta)
{
	pthread_mutex_lock(&l->mu);
	struct bd_live_job *j = live_find(l, job, 1);
	if (j) {
		j->images_inflight += inflight_delta;
		j->images_run += run_delta;
	}
	pthread_mutex_unlock(&l->mu);
}

void bd_live_get(struct bd_live *l, int64_t job, int64_t *inflight, double *ips)
{
	pthread_mutex_lock(&l->mu);
	struct bd_live_job *j = live_find(l, job, 0);
	*inflight = j ? j->images_inflight : 0;
	double dt = j ? bd_now() - j->t_first : 0;
	*ips = j && dt > 0 ? (double)j->images_run / dt : 0;
	pthread_mutex_unlock(&l->mu);
}

void bd_live_drop(struct bd_live *l, int64_t job)
{
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < l->n; i++)
		if (l->jobs[i].job == job) {
			l->jobs[i] = l->jobs[--l->n];
			break;
		}
	pthread_mutex_unlock(&l->mu);
}

/* ---- analysis: iso-accuracy energy reduction (spec section 6) ---- */

struct ref_lookup {
	int64_t model, job;
	int found;
	double accuracy, energy;
	char name[256];
};

/* A reference's clean accuracy and size as job `job` would measure them:
 * from the job's own references first; else from another job on the same
 * images (dataset and count) with the same activation sites and the same
 * requested normalisation (null: every model its own), which evaluated it
 * as a reference or swept it (every job records its model's clean accuracy
 * on its images); the newest such job wins. */
static bo_status ref_lookup_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	static const char sql[] =
		/* the same images: N, the evaluation set (limit, or the dataset's
		 * images), not images_per_trial, which is n < N with a subset design */
		"WITH me AS (SELECT j.dataset_id AS ds, CASE WHEN json_extract(j.spec, '$.limit') > 0"
		"  AND json_extract(j.spec, '$.limit') < d.images THEN json_extract(j.spec, '$.limit')"
		"  ELSE d.images END AS n,"
		"  json_extract(j.spec, '$.activation_sites') AS sites,"
		"  json_extract(j.spec, '$.mean') AS mean, json_extract(j.spec, '$.std') AS std"
		"  FROM jobs j JOIN datasets d ON d.id = j.dataset_id WHERE j.id = ?2),"
		" peers AS (SELECT j.id FROM jobs j JOIN datasets d ON d.id = j.dataset_id, me"
		"  WHERE j.dataset_id = me.ds AND CASE WHEN json_extract(j.spec, '$.limit') > 0"
		"  AND json_extract(j.spec, '$.limit') < d.images THEN json_extract(j.spec, '$.limit')"
		"  ELSE d.images END = me.n AND json_extract(j.spec, '$.activation_sites') = me.sites"
		"  AND json_extract(j.spec, '$.mean') IS me.mean AND"
		"  json_extract(j.spec, '$.std') IS me.std)"
		" SELECT acc, energy FROM ("
		"  SELECT r.correct * 1.0 / r.images AS acc, r.parameters + r.activations AS energy,"
		"   r.job_id = ?2 AS own, r.job_id AS jid FROM job_references r"
		"   WHERE r.model_id = ?1 AND r.correct IS NOT NULL AND r.images > 0 AND"
		"   r.job_id IN (SELECT id FROM peers)"
		"  UNION ALL"
		"  SELECT clean_accuracy, parameters + activations, 0, id FROM jobs"
		"   WHERE model_id = ?1 AND clean_accuracy IS NOT NULL AND id IN (SELECT id FROM peers))"
		" ORDER BY own DESC, jid DESC LIMIT 1";
	struct ref_lookup *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "SELECT name FROM models WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return bd_store_fail(db, err, "reading a model");
	sqlite3_bind_int64(st, 1, q->model);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		rc = bo_error_set(err, BO_ENOENT, "no model %lld", (long long)q->model);
		snprintf(err->field, sizeof(err->field), "references");
		return rc;
	}
	snprintf(q->name, sizeof(q->name), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "looking up a reference");
	sqlite3_bind_int64(st, 1, q->model);
	sqlite3_bind_int64(st, 2, q->job);
	if (sqlite3_step(st) == SQLITE_ROW) {
		q->found = 1;
		q->accuracy = sqlite3_column_double(st, 0);
		q->energy = sqlite3_column_double(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_analysis(struct bd_daemon *d, const int64_t *jobs, int n_jobs, const int64_t *refs,
		      int n_refs, json_t **out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	json_t *res = json_object(), *ja = json_array();
	for (int i = 0; i < n_jobs && !rc; i++) {
		struct bo_ref_point pts[BO_MAX_REFS];
		struct bo_frontier fr = { 0 };
		json_t *report = NULL, *ra = json_array();
		/* the job's own results: the points, and a 404 for a missing job */
		if ((rc = bd_job_results(d, jobs[i], 0, &report, NULL, NULL, err))) {
			if (rc == BO_ENOENT)
				snprintf(err->field, sizeof(err->field), "jobs");
			json_decref(ra);
			break;
		}
		for (int k = 0; k < n_refs && !rc; k++) {
			struct ref_lookup q = { .model = refs[k], .job = jobs[i] };
			if ((rc = bd_store_read(d->store, ref_lookup_fn, &q, err)))
				break;
			if (!q.found) {
				rc = bo_error_set(err, BO_ECONFLICT,
					     "reference model %lld (%s) has no clean accuracy on the"
					     " images of job %lld (same dataset, images, activation"
					     " sites and normalisation) yet: run a job on it, or list"
					     " it in a job's references",
					     (long long)refs[k], q.name, (long long)jobs[i]);
				snprintf(err->field, sizeof(err->field), "references");
				break;
			}
			pts[k] = (struct bo_ref_point){ q.energy, q.accuracy };
			json_t *e = json_object();
			json_object_set_new(e, "model", json_integer(refs[k]));
			json_object_set_new(e, "name", json_string(q.name));
			json_object_set_new(e, "energy", json_real(q.energy));
			json_object_set_new(e, "accuracy", json_real(q.accuracy));
			json_array_append_new(ra, e);
		}
		if (!rc)
			rc = bo_frontier_build(pts, n_refs, &fr, err);
		if (rc) {
			json_decref(ra);
			json_decref(report);
			bo_frontier_release(&fr);
			break;
		}
		json_t *jo = json_object(), *pa = json_array();
		double best = 0;
		int has_best = 0;
		size_t idx;
		json_t *p;
		json_array_foreach(json_object_get(report, "points"), idx, p) {
			json_t *e = json_object();
			json_t *mean = json_object_get(p, "accuracy_mean");
			double energy = json_number_value(json_object_get(p, "energy")), eref;
			json_object_set(e, "p", json_object_get(p, "p"));
			json_object_set(e, "accuracy_mean", mean);
			json_object_set(e, "energy", json_object_get(p, "energy"));
			if (json_is_number(mean) && energy > 0 &&
			    bo_frontier_energy(&fr, json_number_value(mean), &eref) == 0) {
				json_object_set_new(e, "energy_reduction", json_real(eref / energy));
				if (!has_best || eref / energy > best)
					best = eref / energy;
				has_best = 1;
			} else {
				json_object_set_new(e, "energy_reduction", json_null());
			}
			json_array_append_new(pa, e);
		}
		json_object_set_new(jo, "job", json_integer(jobs[i]));
		json_object_set(jo, "state", json_object_get(report, "state"));
		json_object_set(jo, "model", json_object_get(report, "model"));
		json_object_set(jo, "clean_accuracy", json_object_get(report, "clean_accuracy"));
		json_object_set_new(jo, "references", ra);
		json_object_set_new(jo, "points", pa);
		json_object_set_new(jo, "best_energy_reduction", has_best ? json_real(best) : json_null());
		json_array_append_new(ja, jo);
		json_decref(report);
		bo_frontier_release(&fr);
	}
	json_object_set_new(res, "jobs", ja);
	if (rc)
		json_decref(res);
	else
		*out = res;
	return rc;
}

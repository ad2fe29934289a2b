/* Reports shared by the CLI and the daemon (see report.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

const char *bo_sites_warning(enum bo_act_sites sites, int64_t activations, char *buf,
			     size_t size)
{
	if (activations != 0)
		return NULL;
	snprintf(buf, size,
		 "the model has no activation site under the rule '%s': a sweep injects no"
		 " activation fault; choose another rule (%s)",
		 bo_act_sites_name(sites), BO_SITES_CHOICES);
	return buf;
}

/* ["warning", ...] for the activation sites, [] when none */
static json_t *sites_warnings_json(enum bo_act_sites sites, int64_t activations)
{
	char buf[256];
	json_t *a = json_array();
	if (bo_sites_warning(sites, activations, buf, sizeof(buf)))
		json_array_append_new(a, json_string(buf));
	return a;
}

static json_t *shape_json(const int64_t *d, int rank)
{
	json_t *a = json_array();
	for (int i = 0; i < rank; i++)
		json_array_append_new(a, d[i] < 0 ? json_null() : json_integer(d[i]));
	return a;
}

const char *bo_pixels_warning(const struct bo_dataset *ds, enum bo_norm_source src, char *buf,
			      size_t size)
{
	float lo, hi;
	if (src == BO_NORM_RAW || !bo_dataset_float_range(ds, 256, &lo, &hi) ||
	    (lo >= 0.f && hi <= 1.f))
		return NULL;
	snprintf(buf, size,
		 "the dataset's float pixels range over [%.3g, %.3g], not [0,1]: they look already"
		 " normalised, and the %s mean/std normalise them again; if they are, pass"
		 " --no-normalize",
		 (double)lo, (double)hi, src == BO_NORM_METADATA ? "model's" : "given");
	return buf;
}

json_t *bo_norm_json(const struct bo_norm *norm, enum bo_norm_source src)
{
	json_t *j = json_object(), *mean = json_array(), *sd = json_array();
	for (int i = 0; i < norm->n; i++) {
		json_array_append_new(mean, json_real(norm->mean[i]));
		json_array_append_new(sd, json_real(norm->std[i]));
	}
	json_object_set_new(j, "source", json_string(bo_norm_source_name(src)));
	json_object_set_new(j, "mean", mean);
	json_object_set_new(j, "std", sd);
	return j;
}

json_t *bo_info_json(const struct bo_model *m, const struct bo_model_stats *st,
		     enum bo_act_sites sites)
{
	json_t *j = json_object();
	{
		/* the file's own normalisation, null when it has none */
		struct bo_norm norm;
		struct bo_error e;
		enum bo_norm_source src;
		json_object_set_new(j, "normalisation",
				    bo_norm_resolve(m, NULL, NULL, 0, &norm, &src, &e) ?
					    json_null() :
					    bo_norm_json(&norm, src));
	}
	json_object_set_new(j, "opset", json_integer(bo_model_opset(m)));
	json_object_set_new(j, "producer", json_string(bo_model_producer(m)));
	json_t *ins = json_array(), *outs = json_array();
	for (int i = 0; i < bo_model_n_inputs(m); i++) {
		int64_t d[BO_MAX_RANK];
		int r = bo_model_input_shape(m, i, d);
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(bo_model_input_name(m, i)));
		json_object_set_new(o, "shape", shape_json(d, r < 0 ? 0 : r));
		json_array_append_new(ins, o);
	}
	for (int i = 0; i < bo_model_n_outputs(m); i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(bo_model_output_name(m, i)));
		json_array_append_new(outs, o);
	}
	json_object_set_new(j, "inputs", ins);
	json_object_set_new(j, "outputs", outs);
	json_object_set_new(j, "input_shape", shape_json(st->input_dims, st->input_rank));
	json_object_set_new(j, "parameters", json_integer(st->parameters));
	json_object_set_new(j, "activations", json_integer(st->activations));
	json_object_set_new(j, "activation_sites", json_string(bo_act_sites_name(sites)));
	json_object_set_new(j, "warnings", sites_warnings_json(sites, st->activations));
	json_object_set_new(j, "flops", json_integer(st->flops));
	json_t *ops = json_object();
	for (int i = 0; i < st->n_ops; i++)
		json_object_set_new(ops, st->ops[i].op, json_integer(st->ops[i].count));
	json_object_set_new(j, "ops", ops);
	json_t *bl = json_array();
	for (int i = 0; i < st->n_blocks; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(st->blocks[i].name));
		json_object_set_new(o, "parameters", json_integer(st->blocks[i].parameters));
		json_object_set_new(o, "activations", json_integer(st->blocks[i].activations));
		json_array_append_new(bl, o);
	}
	json_object_set_new(j, "blocks", bl);
	return j;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *bo_sweep_config_json(const struct bo_sweep_config *c, const char *p_text,
			     const char *blocks, const char *block_p)
{
	json_t *j = json_object();
	json_object_set_new(j, "deviation", json_string(bo_deviation_name(c->deviation)));
	json_object_set_new(j, "target", json_string(bo_target_name(c->target)));
	json_object_set_new(j, "activation_sites", json_string(bo_act_sites_name(c->sites)));
	json_object_set_new(j, "p", str_or_null(p_text));
	json_object_set_new(j, "blocks", str_or_null(blocks));
	json_object_set_new(j, "block_p", str_or_null(block_p));
	if (c->ci_target > 0) {
		json_object_set_new(j, "ci_target", json_real(c->ci_target));
		json_object_set_new(j, "min_trials", json_integer(c->min_trials));
		json_object_set_new(j, "max_trials", json_integer(c->max_trials));
	} else {
		json_object_set_new(j, "trials", json_integer(c->trials));
	}
	json_object_set_new(j, "seed", json_integer((json_int_t)c->seed));
	json_object_set_new(j, "bits", json_integer(c->bits));
	json_object_set_new(j, "calib", json_integer(c->calib));
	json_object_set_new(j, "limit", c->limit ? json_integer(c->limit) : json_null());
	json_object_set_new(j, "images_per_trial",
			    c->images_per_trial == BO_IMAGES_AUTO ? json_string("auto") :
			    c->images_per_trial > 0 ? json_integer(c->images_per_trial) :
						      json_string("all"));
	json_object_set_new(j, "accuracy_floor",
			    c->accuracy_floor > 0 ? json_real(c->accuracy_floor) : json_null());
	json_object_set_new(j, "weight_faults", json_string(bo_weight_faults_name(c->weight_faults)));
	json_object_set_new(j, "batch", json_integer(c->batch));
	json_object_set_new(j, "threads", json_integer(c->threads));
	json_object_set_new(j, "energy_a", json_real(c->energy_a));
	json_t *mean = json_array(), *sd = json_array();
	for (int i = 0; i < c->norm.n; i++) {
		json_array_append_new(mean, json_real(c->norm.mean[i]));
		json_array_append_new(sd, json_real(c->norm.std[i]));
	}
	json_object_set_new(j, "mean", mean);
	json_object_set_new(j, "std", sd);
	return j;
}

static json_t *real_if(int has, double v)
{
	return has ? json_real(v) : json_null();
}

json_t *bo_sweep_report_json(const char *model, const char *dataset, json_t *config,
			     const struct bo_sweep_result *r, const struct bo_report_ref *refs,
			     int n_refs, uint64_t seed)
{
	json_t *j = json_object();
	json_object_set_new(j, "model", json_string(model));
	json_object_set_new(j, "dataset", json_string(dataset));
	json_object_set_new(j, "config", config ? config : json_null());
	json_object_set_new(j, "clean_accuracy", json_real(r->clean_accuracy));
	json_object_set_new(j, "accuracy_floor",
			    real_if(isfinite(r->accuracy_floor), r->accuracy_floor));
	json_object_set_new(j, "parameters", json_integer(r->parameters));
	json_object_set_new(j, "activations", json_integer(r->activations));
	{
		enum bo_act_sites sites = BO_SITES_DEFAULT;
		json_t *sj = config ? json_object_get(config, "activation_sites") : NULL;
		if (json_is_string(sj))
			bo_act_sites_parse(json_string_value(sj), &sites, NULL);
		json_object_set_new(j, "warnings", sites_warnings_json(sites, r->activations));
	}
	json_t *ra = json_array();
	for (int i = 0; i < n_refs; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "model", json_string(refs[i].model));
		json_object_set_new(e, "energy", json_real(refs[i].energy));
		json_object_set_new(e, "accuracy", json_real(refs[i].accuracy));
		json_array_append_new(ra, e);
	}
	json_object_set_new(j, "references", ra);
	json_t *pts = json_array();
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[i];
		int has = p->trials > 0;
		json_t *e = json_object(), *acc = json_array(), *ci = json_null();
		if (has) {
			ci = json_array();
			json_array_append_new(ci, json_real(p->summary.ci_lo));
			json_array_append_new(ci, json_real(p->summary.ci_hi));
		}
		for (int t = 0; t < p->trials; t++)
			json_array_append_new(acc, json_real(p->accuracy[t]));
		json_object_set_new(e, "p", json_real(p->p));
		json_object_set_new(e, "accuracy_mean", real_if(has, p->summary.mean));
		json_object_set_new(e, "accuracy_std", real_if(has, p->summary.std));
		json_object_set_new(e, "ci95", ci);
		json_object_set_new(e, "trials", json_integer(p->trials));
		json_object_set_new(e, "images", json_integer(p->images));
		json_object_set_new(e, "eta", json_real(p->eta));
		json_object_set_new(e, "energy", isfinite(p->energy) ? json_real(p->energy) : json_null());
		json_object_set_new(e, "energy_reduction",
				    real_if(p->has_reduction, p->energy_reduction));
		json_object_set_new(e, "trial_accuracies", acc);
		/* spec 4a and 4c */
		json_object_set_new(e, "n", json_integer(p->images_per_trial));
		if (p->pilot_trials > 0) {
			json_t *pl = json_object();
			json_object_set_new(pl, "trials", json_integer(p->pilot_trials));
			json_object_set_new(pl, "images_per_trial",
					    json_integer(p->pilot_images_per_trial));
			json_object_set_new(pl, "seconds_per_trial", json_real(p->cost_trial));
			json_object_set_new(pl, "seconds_per_image", json_real(p->cost_image));
			json_object_set_new(e, "pilot", pl);
		} else {
			json_object_set_new(e, "pilot", json_null());
		}
		json_object_set_new(e, "std_between", real_if(isfinite(p->std_between), p->std_between));
		json_object_set_new(e, "std_within", real_if(isfinite(p->std_within), p->std_within));
		json_object_set_new(e, "q05", real_if(has && isfinite(p->q05), p->q05));
		json_object_set_new(e, "q50", real_if(has && isfinite(p->q50), p->q50));
		json_object_set_new(e, "q95", real_if(has && isfinite(p->q95), p->q95));
		json_object_set_new(e, "yield", real_if(has && isfinite(p->yield), p->yield));
		json_object_set_new(e, "yield_lo", real_if(has && isfinite(p->yield_lo), p->yield_lo));
		json_object_set_new(e, "yield_hi", real_if(has && isfinite(p->yield_hi), p->yield_hi));
		json_object_set_new(e, "accuracy_floor",
				    real_if(isfinite(r->accuracy_floor), r->accuracy_floor));
		json_object_set_new(e, "yield_note",
				    has && p->yield_image_noise ?
					    json_string("each chip saw n of the evaluation set's images:"
							" its accuracy carries image-sampling noise") :
					    json_null());
		json_object_set_new(e, "seed", json_integer((json_int_t)seed));
		json_array_append_new(pts, e);
	}
	json_object_set_new(j, "points", pts);
	json_object_set_new(j, "chips", bo_chips_json(r));
	json_object_set_new(j, "yield_curve", bo_yield_curve_json(r));
	return j;
}

#define CHIP_NOISE_NOTE "each chip saw n of the evaluation set's images at each point:" \
			" its accuracies carry image-sampling noise"

static int chips_noisy(const struct bo_sweep_result *r)
{
	int noisy = 0;
	for (int k = 0; k < r->n_points; k++)
		noisy |= r->points[k].yield_image_noise;
	return noisy;
}

json_t *bo_chips_json(const struct bo_sweep_result *r)
{
	const struct bo_chips *c = &r->chips;
	if (r->weight_faults != BO_WEIGHT_FAULTS_NESTED || c->n_points != r->n_points)
		return json_null();
	json_t *j = json_object(), *ps = json_array(), *es = json_array(), *ts = json_array();
	for (int k = 0; k < r->n_points; k++) {
		json_array_append_new(ps, json_real(r->points[k].p));
		json_array_append_new(es, real_if(isfinite(r->points[k].energy), r->points[k].energy));
	}
	json_object_set_new(j, "count", json_integer(c->n_chips));
	json_object_set_new(j, "accuracy_floor",
			    real_if(isfinite(r->accuracy_floor), r->accuracy_floor));
	json_object_set_new(j, "p", ps);
	json_object_set_new(j, "energy", es);
	for (int t = 0; t < c->n_chips; t++) {
		json_t *e = json_object(), *acc = json_array();
		int m = c->min_point[t];
		for (int k = 0; k < r->n_points; k++)
			json_array_append_new(acc, json_real(r->points[k].accuracy[t]));
		json_object_set_new(e, "trial", json_integer(t));
		json_object_set_new(e, "accuracy", acc);
		json_object_set_new(e, "min_energy", real_if(m >= 0, c->min_energy[t]));
		json_object_set_new(e, "min_p", real_if(m >= 0, m >= 0 ? r->points[m].p : 0));
		json_object_set_new(e, "min_eta", real_if(m >= 0, m >= 0 ? r->points[m].eta : 0));
		json_array_append_new(ts, e);
	}
	json_object_set_new(j, "trials", ts);
	json_object_set_new(j, "yield_note", c->n_chips > 0 && chips_noisy(r) ?
						     json_string(CHIP_NOISE_NOTE) : json_null());
	return j;
}

/* The points' order by energy ascending (ties by index). */
static void energy_order(const struct bo_sweep_result *r, int *order)
{
	for (int k = 0; k < r->n_points; k++) {
		int i = k;
		for (; i > 0; i--) {
			double a = r->points[order[i - 1]].energy, b = r->points[k].energy;
			if (!(a > b))
				break;
			order[i] = order[i - 1];
		}
		order[i] = k;
	}
}

json_t *bo_yield_curve_json(const struct bo_sweep_result *r)
{
	const struct bo_chips *c = &r->chips;
	if (r->weight_faults != BO_WEIGHT_FAULTS_NESTED || c->n_points != r->n_points ||
	    c->n_chips < 1)
		return json_null();
	int *order = malloc((size_t)r->n_points * sizeof(int));
	if (!order)
		return json_null();
	json_t *a = json_array();
	energy_order(r, order);
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[order[i]];
		json_t *e = json_object();
		json_object_set_new(e, "p", json_real(p->p));
		json_object_set_new(e, "eta", json_real(p->eta));
		json_object_set_new(e, "energy", json_real(p->energy));
		json_object_set_new(e, "yield", json_real(c->yield[order[i]]));
		json_object_set_new(e, "yield_lo", json_real(c->yield_lo[order[i]]));
		json_object_set_new(e, "yield_hi", json_real(c->yield_hi[order[i]]));
		json_array_append_new(a, e);
	}
	free(order);
	return a;
}

/* The design and yield columns (spec 4a, 4c): an empty cell where a value
 * is undefined. */
#define DESIGN_CSV_HEADER \
	",n,std_between,std_within,q05,q50,q95,yield,yield_lo,yield_hi,accuracy_floor"

static void csv_num(FILE *f, double v)
{
	fputc(',', f);
	if (isfinite(v))
		fprintf(f, "%.10g", v);
}

static void design_csv_row(FILE *f, const struct bo_sweep_result *r,
			   const struct bo_point_result *p)
{
	int has = p->trials > 0;
	fprintf(f, ",%lld", (long long)p->images_per_trial);
	csv_num(f, p->std_between);
	csv_num(f, p->std_within);
	csv_num(f, has ? p->q05 : NAN);
	csv_num(f, has ? p->q50 : NAN);
	csv_num(f, has ? p->q95 : NAN);
	csv_num(f, has ? p->yield : NAN);
	csv_num(f, has ? p->yield_lo : NAN);
	csv_num(f, has ? p->yield_hi : NAN);
	csv_num(f, r->accuracy_floor);
}

int bo_sweep_report_csv(FILE *f, const struct bo_sweep_result *r)
{
	/* nested weight faults (spec 4c): the yield curve at each point's energy */
	int nested = r->weight_faults == BO_WEIGHT_FAULTS_NESTED &&
		     r->chips.n_points == r->n_points;
	fprintf(f, "p,accuracy_mean,accuracy_std,ci95_lo,ci95_hi,trials,images,eta,energy,"
		   "energy_reduction%s%s\n", DESIGN_CSV_HEADER,
		nested ? ",chip_yield,chip_yield_lo,chip_yield_hi,chips" : "");
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[i];
		fprintf(f, "%.10g,", p->p);
		if (p->trials > 0)
			fprintf(f, "%.10g,%.10g,%.10g,%.10g,", p->summary.mean, p->summary.std,
				p->summary.ci_lo, p->summary.ci_hi);
		else
			fprintf(f, ",,,,");
		fprintf(f, "%d,%lld,%.10g,", p->trials, (long long)p->images, p->eta);
		if (isfinite(p->energy))
			fprintf(f, "%.10g", p->energy);
		fprintf(f, ",");
		if (p->has_reduction)
			fprintf(f, "%.10g", p->energy_reduction);
		design_csv_row(f, r, p);
		if (nested) {
			int has = r->chips.n_chips > 0;
			csv_num(f, has ? r->chips.yield[i] : NAN);
			csv_num(f, has ? r->chips.yield_lo[i] : NAN);
			csv_num(f, has ? r->chips.yield_hi[i] : NAN);
			fprintf(f, ",%d", r->chips.n_chips);
		}
		fprintf(f, "\n");
	}
	return ferror(f) ? -1 : 0;
}

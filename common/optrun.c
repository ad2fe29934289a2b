/* The energy optimizer over a sweeper, for the CLI and brownoutd alike
 * (optrun.h).
 *
 * Design. One sweeper (one calibration, one clean pass, its single point
 * unused) serves every evaluation through bo_sweeper_trial_alloc; the
 * optimizer's blocks are the sweeper's parts holding faultable values
 * under the target (the others stay reliable), and an allocation of the
 * blocks becomes a p per part. The evaluator is a pure function of (p,
 * seed, trial), so the daemon can memoise it and replay a search. The
 * JSON is built here once, so a job's result is the CLI's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optrun.h"
#include "report.h"

static void to_parts(struct bo_optrun *r, const double *p)
{
	for (int k = 0; k < r->n_parts; k++)
		r->pp[k] = 0;
	for (int i = 0; i < r->nb; i++)
		r->pp[r->part_of[i]] = p[i];
}

static bo_status or_evaluate(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			     double *acc, struct bo_error *err)
{
	struct bo_optrun *r = ctx;
	to_parts(r, p);
	for (int t = t0; t < t1; t++) {
		int64_t correct;
		bo_status rc = bo_sweeper_trial_alloc(r->sw, r->pp, seed, BO_OPTRUN_KEY, t, &correct,
						      r->trial_progress, r->trial_ctx, err);
		if (rc)
			return rc;
		acc[t - t0] = (double)correct / (double)r->images;
	}
	return BO_OK;
}

static double or_energy(void *ctx, const double *p)
{
	struct bo_optrun *r = ctx;
	to_parts(r, p);
	return bo_sweeper_alloc_energy(r->sw, r->pp);
}

void bo_optrun_release(struct bo_optrun *r)
{
	if (!r)
		return;
	free(r->part_of);
	free(r->pp);
	free(r->names);
	free(r->vol);
	free(r->mult_u);
	free(r->mult_p);
	memset(r, 0, sizeof(*r));
}

static bo_status set_policy(struct bo_optrun *r, const char *policy_blocks, struct bo_error *err)
{
	static const double pm[4] = { 1, 2, 2, 10 };
	const char *text = policy_blocks ? policy_blocks : "layer1,layer2,layer3,layer4";
	char copy[512], *save = NULL;
	int n = 0, missing = 0;
	if (strlen(text) >= sizeof(copy))
		goto four;
	snprintf(copy, sizeof(copy), "%s", text);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		int found = -1;
		for (int i = 0; i < r->nb && n < 4; i++)
			if (!strcmp(r->names[i], tok))
				found = i;
		if (n < 4 && found >= 0) {
			r->mult_p[found] = pm[n];
			continue;
		}
		if (n >= 4)
			goto four;
		if (policy_blocks) {
			char list[400] = "";
			size_t m = 0;
			for (int i = 0; i < r->nb && m < sizeof(list); i++)
				m += (size_t)snprintf(list + m, sizeof(list) - m, "%s%s", i ? ", " : "",
						      r->names[i]);
			bo_error_set(err, BO_EINVAL, "the model has no block '%.60s' (blocks: %.400s)",
				     tok, list);
			snprintf(err->field, sizeof(err->field), "policy_blocks");
			return BO_EINVAL;
		}
		missing = 1;
	}
	if (n != 4 && !missing)
		goto four;
	if (missing) {
		snprintf(r->note, sizeof(r->note), "the model has no blocks layer1..layer4: the paper's"
			 " policy is left out (name its blocks with policy blocks B1,B2,B3,B4)");
		r->n_base = 1;
	} else {
		r->n_base = 2;
	}
	return BO_OK;
four:
	bo_error_set(err, BO_EINVAL, "give four blocks B1,B2,B3,B4, not '%.200s'", text);
	snprintf(err->field, sizeof(err->field), "policy_blocks");
	return BO_EINVAL;
}

bo_status bo_optrun_init(struct bo_optrun *r, struct bo_sweeper *sw, enum bo_target target,
			 double energy_a, const char *policy_blocks, struct bo_error *err)
{
	bo_status rc = BO_OK;
	memset(r, 0, sizeof(*r));
	r->sw = sw;
	r->n_parts = bo_sweeper_parts(sw, &r->parts);
	r->images = bo_sweeper_images(sw);
	size_t n = (size_t)r->n_parts + 1;
	r->pp = calloc(n, sizeof(double));
	r->part_of = calloc(n, sizeof(int));
	r->names = calloc(n, sizeof(char *));
	r->vol = calloc(n, sizeof(double));
	r->mult_u = calloc(n, sizeof(double));
	r->mult_p = calloc(n, sizeof(double));
	if (!r->pp || !r->part_of || !r->names || !r->vol || !r->mult_u || !r->mult_p) {
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < r->n_parts; k++) {
		const struct bo_part *pt = &r->parts[k];
		int64_t fv = (target != BO_TARGET_ACTIVATIONS ? pt->parameters : 0) +
			     (target != BO_TARGET_WEIGHTS ? pt->activations : 0);
		if (fv <= 0)
			continue;
		if (r->nb == BO_OPT_MAX_BLOCKS) {
			rc = bo_error_set(err, BO_EINVAL, "the model has more than %d blocks; map them"
					  " to fewer with a block map (blocks)", BO_OPT_MAX_BLOCKS);
			snprintf(err->field, sizeof(err->field), "blocks");
			goto out;
		}
		r->part_of[r->nb] = k;
		r->names[r->nb] = pt->block[0] ? pt->block : "(none)";
		r->vol[r->nb] = (double)(pt->parameters + pt->activations);
		r->mult_u[r->nb] = 1;
		r->mult_p[r->nb] = 1;
		r->nb++;
	}
	if (r->nb < 1) {
		rc = bo_error_set(err, BO_EINVAL, "the model has nothing to fault under target %s",
				  bo_target_name(target));
		snprintf(err->field, sizeof(err->field), "target");
		goto out;
	}
	if ((rc = set_policy(r, policy_blocks, err)))
		goto out;
	r->ev = (struct bo_opt_evaluator){
		.n_blocks = r->nb, .names = r->names, .evaluate = or_evaluate, .energy = or_energy,
		.volume = r->vol, .energy_a = energy_a,
		.clean_accuracy = bo_sweeper_clean_accuracy(sw), .ctx = r,
	};
out:
	if (rc)
		bo_optrun_release(r);
	return rc;
}

void bo_optrun_block_p(const struct bo_optrun *r, const double *p, char *buf, size_t size)
{
	size_t m = 0;
	double rest = 0;
	buf[0] = 0;
	for (int k = 0; k < r->n_parts && m < size; k++) {
		double pk = 0;
		for (int i = 0; i < r->nb; i++)
			if (r->part_of[i] == k)
				pk = p[i];
		if (!r->parts[k].block[0])
			rest = pk;
		else
			m += (size_t)snprintf(buf + m, size - m, "%s=%.17g,", r->parts[k].block, pk);
	}
	if (m < size)
		snprintf(buf + m, size - m, "*=%.17g", rest);
}

static json_t *baseline_json(const struct bo_opt_baseline_result *b, double e_o)
{
	json_t *j = json_object(), *pts = json_array();
	json_object_set_new(j, "name", json_string(b->name));
	json_object_set_new(j, "reached", json_boolean(b->reached));
	json_object_set_new(j, "why", b->reached ? json_null() :
				    json_string(b->below ? "every grid p meets the accuracy: below the grid"
							 : "not reached within the grid"));
	json_object_set_new(j, "iso_energy", b->reached ? json_real(b->iso_energy) : json_null());
	json_object_set_new(j, "iso_energy_ratio", b->reached ? json_real(b->iso_energy / e_o) :
								 json_null());
	json_object_set_new(j, "saving", b->reached ? json_real(b->saving) : json_null());
	for (int g = 0; g < b->n; g++) {
		json_t *e = json_object();
		json_object_set_new(e, "p", json_real(b->p[g]));
		json_object_set_new(e, "energy_ratio", json_real(b->energy[g] / e_o));
		json_object_set_new(e, "accuracy", json_real(b->accuracy[g]));
		json_array_append_new(pts, e);
	}
	json_object_set_new(j, "points", pts);
	return j;
}

json_t *bo_optrun_json(const struct bo_optrun *r, const struct bo_opt_result *res,
		       const struct bo_opt_verification *ver, const struct bo_optrun_report *rep)
{
	json_t *j = json_object(), *al = json_array(), *bs = json_array(), *cv = json_array();
	json_t *s = json_object(), *vj = json_object(), *ta = json_array();
	char bp[4096];
	int64_t ver_trials = ver->trials;
	for (int b = 0; b < ver->n_baselines; b++)
		ver_trials += (int64_t)ver->baselines[b].n * rep->baseline_trials;
	bo_optrun_block_p(r, res->p, bp, sizeof(bp));
	json_object_set_new(j, "model", json_string(rep->model));
	json_object_set_new(j, "dataset", json_string(rep->dataset));
	json_object_set_new(j, "config", rep->config ? rep->config : json_null());
	json_object_set_new(j, "clean_accuracy", json_real(r->ev.clean_accuracy));
	json_object_set_new(j, "accuracy_floor", json_real(res->floor));
	json_object_set_new(j, "images", json_integer(r->images));
	for (int i = 0; i < r->nb; i++) {
		json_t *e = json_object(), *c = json_object(), *cp = json_array(), *ca = json_array();
		double eta = bo_eta(res->p[i], r->ev.energy_a);
		json_object_set_new(e, "block", json_string(r->names[i]));
		json_object_set_new(e, "p", json_real(res->p[i]));
		json_object_set_new(e, "eta", json_real(eta));
		json_object_set_new(e, "stored_values", json_integer((json_int_t)r->vol[i]));
		json_object_set_new(e, "energy_share",
				    json_real(res->energy > 0 ? eta * r->vol[i] / res->energy : 0));
		json_array_append_new(al, e);
		json_object_set_new(c, "block", json_string(r->names[i]));
		for (int g = 0; g < rep->n_grid; g++) {
			double a = res->curve[i * rep->n_grid + g];
			json_array_append_new(cp, json_real(rep->grid[g]));
			json_array_append_new(ca, isnan(a) ? json_null() : json_real(a));
		}
		json_object_set_new(c, "p", cp);
		json_object_set_new(c, "accuracy", ca);
		json_array_append_new(cv, c);
	}
	json_object_set_new(j, "allocation", al);
	json_object_set_new(j, "energy", json_real(res->energy));
	json_object_set_new(j, "energy_o", json_real(res->energy_o));
	json_object_set_new(j, "energy_ratio", json_real(res->energy / res->energy_o));
	json_object_set_new(s, "seed", json_integer((json_int_t)rep->seed));
	json_object_set_new(s, "accuracy", json_real(res->accuracy));
	json_object_set_new(s, "accuracy_trials", json_integer(res->accuracy_trials));
	json_object_set_new(s, "predicted_loss", json_real(res->predicted_loss));
	json_object_set_new(s, "separable_energy_ratio",
			    json_real(res->separable_energy / res->energy_o));
	json_object_set_new(s, "lower_bound_energy_ratio",
			    json_real(res->lower_bound_energy / res->energy_o));
	json_object_set_new(s, "front_size", json_integer(res->front_size));
	json_object_set_new(s, "candidates", json_integer(res->candidates));
	json_object_set_new(s, "moves", json_integer(res->moves));
	json_object_set_new(s, "trials", json_integer(res->trials));
	json_object_set_new(s, "curve_trials", json_integer(res->curve_trials_used));
	json_object_set_new(s, "budget_trials", json_integer(rep->budget_trials));
	json_object_set_new(s, "budget_exhausted", json_boolean(res->budget_exhausted));
	json_object_set_new(s, "curves", cv);
	json_object_set_new(j, "search", s);
	json_object_set_new(vj, "seed", json_integer((json_int_t)ver->seed));
	json_object_set_new(vj, "trials", json_integer(ver->trials));
	json_object_set_new(vj, "accuracy", json_real(ver->summary.mean));
	json_object_set_new(vj, "std", json_real(ver->summary.std));
	json_object_set_new(vj, "ci_lo", json_real(ver->summary.ci_lo));
	json_object_set_new(vj, "ci_hi", json_real(ver->summary.ci_hi));
	json_object_set_new(vj, "meets_floor", json_boolean(ver->meets_floor));
	json_object_set_new(vj, "energy_ratio", json_real(ver->energy_ratio));
	json_object_set_new(vj, "sweep_block_p", json_string(bp));
	for (int t = 0; t < ver->trials; t++)
		json_array_append_new(ta, json_real(ver->accuracy[t]));
	json_object_set_new(vj, "trial_accuracies", ta);
	for (int b = 0; b < ver->n_baselines; b++)
		json_array_append_new(bs, baseline_json(&ver->baselines[b], res->energy_o));
	json_object_set_new(vj, "baselines", bs);
	if (rep->n_refs) {
		json_t *rf = json_object();
		json_object_set_new(rf, "reduction",
				    ver->has_reduction ? json_real(ver->reduction) : json_null());
		json_object_set_new(rf, "reference_energy",
				    ver->has_reduction ? json_real(ver->reference_energy) : json_null());
		json_object_set_new(vj, "references", rf);
	}
	json_object_set_new(j, "verification", vj);
	json_object_set_new(j, "evaluations", json_integer(res->trials + ver_trials));
	json_object_set_new(j, "seconds", json_real(rep->seconds));
	return j;
}

/* Reports shared by the brownout CLI and brownoutd: the JSON and CSV of
 * `brownout info` and `brownout sweep`, so that the daemon's answers are
 * the CLI's, byte for byte where they can be. (The normalisation rule and
 * p lists are the library's: norm.h, sweep.h.) */
#ifndef BO_REPORT_H
#define BO_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include <brownout/brownout.h>


/* Spec section 1: a model with no activation site under the chosen rule
 * is reported, never swept silently without activation faults. Writes the
 * warning to buf and returns buf when activations == 0, else NULL. */
const char *bo_sites_warning(enum bo_act_sites sites, int64_t activations, char *buf,
			     size_t size);

/* `brownout info --json` of a model (without the "model" key), or NULL
 * when out of memory. */
json_t *bo_info_json(const struct bo_model *m, const struct bo_model_stats *st,
		     enum bo_act_sites sites);

/* Float pixels are taken as they are. When they leave [0,1] on the first
 * 256 images they look already normalised, and normalising them again
 * (src other than BO_NORM_RAW) is most likely wrong: writes the warning to
 * buf and returns buf; else NULL. */
const char *bo_pixels_warning(const struct bo_dataset *ds, enum bo_norm_source src, char *buf,
			      size_t size);

/* {"source": bo_norm_source_name(src), "mean": [..], "std": [..]} */
json_t *bo_norm_json(const struct bo_norm *norm, enum bo_norm_source src);

/* The "config" object of a sweep report. p_text, blocks, block_p may be
 * NULL (null in the JSON). */
json_t *bo_sweep_config_json(const struct bo_sweep_config *c, const char *p_text,
			     const char *blocks, const char *block_p);

/* A reference of the iso-accuracy analysis, as reported. */
struct bo_report_ref {
	const char *model;
	double energy, accuracy;
};

/* The sweep report: {"model", "dataset", "config" (consumed), "clean_accuracy",
 * "parameters", "activations", "references", "points", "chips",
 * "yield_curve"}. A point with no
 * trials yet (a running job) has null statistics, a NaN energy (not known
 * yet) is null. Every point carries the sweep's seed. */
json_t *bo_sweep_report_json(const char *model, const char *dataset, json_t *config,
			     const struct bo_sweep_result *r, const struct bo_report_ref *refs,
			     int n_refs, uint64_t seed);

/* Nested weight faults (spec 4c), null otherwise (r->weight_faults
 * independent): "chips": {"count", "accuracy_floor", "p": [..], "energy":
 * [..] (the points, in order), "trials": [{"trial", "accuracy": [one per
 * point], "min_energy", "min_p", "min_eta" (null: no point qualifies)}],
 * "yield_note"}; "yield_curve": [{"p", "eta", "energy", "yield",
 * "yield_lo", "yield_hi"}] by energy ascending (null without chips). */
json_t *bo_chips_json(const struct bo_sweep_result *r);
json_t *bo_yield_curve_json(const struct bo_sweep_result *r);

/* The CSV report, header line first. With nested weight faults, four more
 * columns: chip_yield, chip_yield_lo, chip_yield_hi, chips. Returns 0 or -1
 * (write error). */
int bo_sweep_report_csv(FILE *f, const struct bo_sweep_result *r);

#endif

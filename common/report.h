/* Reports shared by the brownout CLI and brownoutd: the JSON and CSV of
 * `brownout info` and `brownout sweep`, and the normalisation rule, so that
 * the daemon's answers are the CLI's, byte for byte where they can be. */
#ifndef BO_REPORT_H
#define BO_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include <brownout/brownout.h>

/* Where a model's normalisation came from. */
enum bo_norm_source {
	BO_NORM_GIVEN = 0,    /* --mean/--std, an upload's or a job's mean/std */
	BO_NORM_METADATA = 1, /* brownout.mean/brownout.std in the ONNX metadata */
	BO_NORM_RAW = 2,      /* none: the model takes raw [0,1] pixels (said explicitly) */
};
/* "given", "metadata", "none (raw pixels)" */
const char *bo_norm_source_name(enum bo_norm_source s);

/* Normalisation is never silent: mean/std lists ("0.5" or "0.5,0.4,0.3";
 * may be NULL) win over the model's metadata brownout.mean/brownout.std;
 * raw != 0 says the model takes raw [0,1] pixels (mean 0, std 1) and may
 * not be combined with mean/std. When neither a list nor the metadata gives
 * the mean (or the std), the model is refused with a message naming the
 * three ways out. src may be NULL. Returns 0, or -1 with err filled. */
int bo_norm_resolve(const struct bo_model *m, const char *mean, const char *std, int raw,
		    struct bo_norm *norm, enum bo_norm_source *src, struct bo_error *err);
/* The refusal's text, for callers that check before resolving. */
#define BO_NORM_WAYS_OUT                                                                         \
	"give its mean and std (--mean/--std), store them in the model as the ONNX metadata "   \
	"brownout.mean/brownout.std, or say that it takes raw [0,1] pixels (--no-normalize)"

/* The --mean/--std flags (either may be NULL) on their own, before any
 * model or data is read: each a list of numbers, std > 0, and as many
 * means as stds where both have more than one. Returns 0, or -1 with err
 * filled (a usage error: the channel count is checked against the data
 * later, by bo_norm_check). */
int bo_norm_flags_check(const char *mean, const char *std, struct bo_error *err);

/* Fault probabilities: "1e-3,1e-2" (values in [0, 1]) or "LO:HI:N" (N
 * log-spaced values, 0 < LO <= HI <= 1), at most max of them, into p[].
 * Returns 0, or -1 for text that is neither. */
int bo_parse_p_list(const char *text, double *p, int *n, int max);
/* The same; on -1, why (size bytes, may be NULL) says what is wrong:
 * "LO must be below HI", "a log-spaced range needs LO > 0", ... */
int bo_parse_p_list_why(const char *text, double *p, int *n, int max, char *why, size_t size);

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

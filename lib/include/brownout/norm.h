/* brownout: input normalisation, resolved from flags or the model.
 *
 * Normalisation is never silent (docs/export.md): the CLI's --mean/--std,
 * an upload's or a job's mean/std, or the model's ONNX metadata
 * brownout.mean/brownout.std, or raw [0,1] pixels said explicitly. The
 * CLI and brownoutd resolve it with the same call, so the same inputs mean
 * the same numbers. (struct bo_norm, bo_norm_parse_list and bo_norm_check
 * are dataset.h's.) */
#ifndef BROWNOUT_NORM_H
#define BROWNOUT_NORM_H

#include <brownout/dataset.h>
#include <brownout/model.h>
#include <brownout/status.h>

#ifdef __cplusplus
extern "C" {
#endif

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
 * three ways out. src may be NULL. Returns BO_OK, or BO_EINVAL with err filled (field "mean" or "std"). */
bo_status bo_norm_resolve(const struct bo_model *m, const char *mean, const char *std, int raw,
		    struct bo_norm *norm, enum bo_norm_source *src, struct bo_error *err);
/* The refusal's text, for callers that check before resolving. */
#define BO_NORM_WAYS_OUT                                                                         \
	"give its mean and std (--mean/--std), store them in the model as the ONNX metadata "   \
	"brownout.mean/brownout.std, or say that it takes raw [0,1] pixels (--no-normalize)"

/* The --mean/--std flags (either may be NULL) on their own, before any
 * model or data is read: each a list of numbers, std > 0, and as many
 * means as stds where both have more than one. Returns 0, or -1 with err
 * filled (a usage error: the channel count is checked against the data
 * later, by bo_norm_check). Returns BO_OK or BO_EINVAL. */
bo_status bo_norm_flags_check(const char *mean, const char *std, struct bo_error *err);

#ifdef __cplusplus
}
#endif
#endif

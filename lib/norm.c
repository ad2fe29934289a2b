/* Input normalisation resolved from flags, an upload's or a job's lists,
 * or the model's metadata (norm.h): one rule for the CLI and brownoutd. */
#include <math.h>
#include <stdio.h>

#include <brownout/norm.h>

const char *bo_norm_source_name(enum bo_norm_source s)
{
	static const char *const names[] = {
		[BO_NORM_GIVEN] = "given", [BO_NORM_METADATA] = "metadata",
		[BO_NORM_RAW] = "none (raw pixels)",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

bo_status bo_norm_resolve(const struct bo_model *m, const char *mean, const char *std, int raw,
			  struct bo_norm *norm, enum bo_norm_source *src, struct bo_error *err)
{
	float mv[BO_MAX_CHANNELS], sv[BO_MAX_CHANNELS];
	int nm = 1, ns = 1;
	mv[0] = 0.f;
	sv[0] = 1.f;
	if (raw && (mean || std)) {
		bo_error_clear(err);
		err->status = BO_EINVAL;
		snprintf(err->field, sizeof(err->field), "%s", mean ? "mean" : "std");
		snprintf(err->text, sizeof(err->text),
			 "--no-normalize (raw [0,1] pixels) and --mean/--std contradict each other");
		return err->status;
	}
	const char *mt = raw ? NULL : mean ? mean : bo_model_metadata(m, "brownout.mean");
	const char *stt = raw ? NULL : std ? std : bo_model_metadata(m, "brownout.std");
	if (!raw && (!mt || !stt)) {
		bo_error_clear(err);
		err->status = BO_EINVAL;
		snprintf(err->field, sizeof(err->field), "%s", mt ? "std" : "mean");
		snprintf(err->text, sizeof(err->text),
			 "the model has no normalisation%s: " BO_NORM_WAYS_OUT,
			 mt || stt ? mt ? " std" : " mean" : "");
		return err->status;
	}
	if (src)
		*src = raw ? BO_NORM_RAW : mean && std ? BO_NORM_GIVEN : BO_NORM_METADATA;
	if (mt && bo_norm_parse_list(mt, mv, &nm, mean ? "mean" : "brownout.mean", err))
		return err->status;
	if (stt && bo_norm_parse_list(stt, sv, &ns, std ? "std" : "brownout.std", err))
		return err->status;
	int n = nm > ns ? nm : ns;
	if ((nm != 1 && nm != n) || (ns != 1 && ns != n)) {
		bo_error_clear(err);
		err->status = BO_EINVAL;
		snprintf(err->field, sizeof(err->field), "std");
		snprintf(err->text, sizeof(err->text),
			 "mean has %d values but std has %d; give one or one per channel", nm, ns);
		return err->status;
	}
	norm->n = n;
	for (int i = 0; i < n; i++) {
		norm->mean[i] = mv[nm == 1 ? 0 : i];
		norm->std[i] = sv[ns == 1 ? 0 : i];
	}
	return BO_OK;
}

bo_status bo_norm_flags_check(const char *mean, const char *std, struct bo_error *err)
{
	float mv[BO_MAX_CHANNELS], sv[BO_MAX_CHANNELS];
	int nm = 0, ns = 0;
	bo_error_clear(err);
	if (mean && bo_norm_parse_list(mean, mv, &nm, "--mean", err))
		return err->status;
	if (std && bo_norm_parse_list(std, sv, &ns, "--std", err))
		return err->status;
	for (int i = 0; i < ns; i++)
		if (!(sv[i] > 0) || !isfinite(sv[i])) {
			bo_error_clear(err);
			err->status = BO_EINVAL;
			snprintf(err->text, sizeof(err->text), "--std values must be finite and > 0, "
				 "not %g", (double)sv[i]);
			return err->status;
		}
	if (nm > 1 && ns > 1 && nm != ns) {
		bo_error_clear(err);
		err->status = BO_EINVAL;
		snprintf(err->text, sizeof(err->text),
			 "--mean has %d values but --std has %d; give one or one per channel", nm, ns);
		return err->status;
	}
	return BO_OK;
}

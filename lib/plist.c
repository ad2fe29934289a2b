/* Lists of fault probabilities as users write them (sweep.h): "1e-3,1e-2"
 * or "LO:HI:N", log-spaced. One parser for the CLI's --p and a job's p. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brownout/sweep.h>

/* Refuse with the reason, field "p". */
__attribute__((format(printf, 2, 3))) static bo_status refuse(struct bo_error *err,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err->status = BO_EINVAL;
	snprintf(err->field, sizeof(err->field), "p");
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return BO_EINVAL;
}

bo_status bo_p_list_parse(const char *text, double *p, int *n, int max, struct bo_error *err)
{
	char *end;
	*n = 0;
	bo_error_clear(err);
	if (strchr(text, ':')) {
		const char *form = "write LO:HI:N (N log-spaced values from LO to HI) or a list "
				   "like 1e-3,1e-2";
		double lo = strtod(text, &end);
		if (end == text || *end != ':')
			return refuse(err, "%s", form);
		const char *hs = end + 1;
		double hi = strtod(hs, &end);
		if (end == hs || *end != ':')
			return refuse(err, "%s", form);
		const char *ks = end + 1;
		errno = 0;
		long k = strtol(ks, &end, 10);
		if (end == ks || *end || errno)
			return refuse(err, "%s", form);
		if (k < 1 || k > max)
			return refuse(err, "N must be 1 to %d", max);
		if (!(lo > 0))
			return refuse(err, "a log-spaced range needs LO > 0 (LO is %g); use a "
					"list like 0,1e-3,1e-2 to include 0", lo);
		if (!(hi <= 1))
			return refuse(err, "HI must be at most 1 (HI is %g)", hi);
		if (!(hi >= lo))
			return refuse(err, "LO must be below HI (LO is %g, HI is %g); write "
					"the smaller bound first", lo, hi);
		for (long i = 0; i < k; i++)
			p[i] = k == 1 ? lo : exp(log(lo) + (log(hi) - log(lo)) * (double)i / (double)(k - 1));
		p[k - 1] = k == 1 ? lo : hi; /* the ends are what was written, not exp(log()) */
		p[0] = lo;
		*n = (int)k;
		return BO_OK;
	}
	const char *s = text;
	while (*s) {
		if (*n == max)
			return refuse(err, "more than %d values", max);
		double v = strtod(s, &end);
		if (end == s)
			return refuse(err, "write numbers in [0, 1] separated by commas, or "
					"LO:HI:N");
		if (!(v >= 0 && v <= 1))
			return refuse(err, "%g is not a probability in [0, 1]", v);
		p[(*n)++] = v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return refuse(err, "write numbers in [0, 1] separated by commas, or "
					"LO:HI:N");
	}
	return *n ? BO_OK : refuse(err, "give at least one value");
}

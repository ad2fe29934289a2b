/* Suggestions for mistyped options (see suggest.h): the Damerau-Levenshtein
 * (optimal string alignment) distance between the typed name and every long
 * option of the command's table; the closest wins, the first on a tie.
 * Names are capped at 63 characters, so the work is bounded whatever is
 * typed. */
#include <string.h>

#include "suggest.h"

#define NAME_MAX_LEN 63

static int min3(int a, int b, int c)
{
	int m = a < b ? a : b;
	return m < c ? m : c;
}

static int distance(const char *a, size_t la, const char *b, size_t lb)
{
	int d[NAME_MAX_LEN + 1][NAME_MAX_LEN + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb];
}

const char *bo_suggest_option(const char *arg, const struct option *opts)
{
	if (!arg || strncmp(arg, "--", 2) || !opts)
		return NULL;
	const char *name = arg + 2;
	size_t len = strcspn(name, "=");
	if (len == 0 || len > NAME_MAX_LEN)
		return NULL;
	const char *best = NULL;
	int best_d = 1 << 30;
	for (const struct option *o = opts; o->name; o++) {
		size_t ol = strlen(o->name);
		if (ol >= len && !strncmp(o->name, name, len))
			return NULL; /* the name is right (its argument was wrong or missing)
				      * or an ambiguous abbreviation, which getopt has explained */
		if (ol > NAME_MAX_LEN)
			continue;
		int dd = distance(name, len, o->name, ol);
		if (dd < best_d) {
			best_d = dd;
			best = o->name;
		}
	}
	int allowed = len >= 5 ? 2 : 1;
	return best && best_d <= allowed ? best : NULL;
}

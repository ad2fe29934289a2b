/* brownoutd API: GET /api/v1/analysis, the iso-accuracy energy reduction
 * of jobs against reference models (jobs.c's bd_analysis). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "jobs.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

static int parse_ids(const char *s, int64_t *ids, int *n, int max)
{
	char buf[64];
	*n = 0;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t k = e ? (size_t)(e - s) : strlen(s);
		if (k == 0 || k >= sizeof(buf) || *n == max)
			return -1;
		memcpy(buf, s, k);
		buf[k] = 0;
		if (api_parse_id(buf, &ids[(*n)++]))
			return -1;
		s = e ? e + 1 : NULL;
		if (s && !*s) /* "1," */
			return -1;
	}
	return *n ? 0 : -1;
}

static int analysis(struct bd_daemon *d, struct bd_req *r)
{
	int64_t jobs[64], refs[BO_MAX_REFS];
	int nj, nr;
	json_t *j = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	if (parse_ids(bd_req_query(r, "jobs"), jobs, &nj, 64))
		return bd_reply_fail(r, BO_EINVAL, "jobs", "jobs must be 1 to 64 job ids: ?jobs=1,2");
	if (parse_ids(bd_req_query(r, "references"), refs, &nr, BO_MAX_REFS))
		return bd_reply_fail(r, BO_EINVAL, "references",
				     "references must be 1 to 32 model ids: ?references=3,4");
	if (bd_analysis(d, jobs, nj, refs, nr, &j, &err))
		return bd_reply_error(r, &err);
	return bd_reply_json(r, 200, j);
}

int api_analysis(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return analysis(d, r);
}

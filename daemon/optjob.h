/* brownoutd's optimize jobs (optjob.c): the energy optimizer of a job's
 * stored spec, run by a local pool worker, memoised in the store. */
#ifndef BROWNOUTD_OPTJOB_H
#define BROWNOUTD_OPTJOB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "brownoutd.h"
#include "jobctx.h"

/* Run the optimize job whose sweeper c holds (bd_jobctx_finish done):
 * search, verification, baselines; the result stored with the job. stop
 * returns non-zero to stop (cancel, shutdown: BO_ECANCELLED; what was
 * evaluated stays stored, and a later run replays the search over it).
 * *correct, *images: verification trial 0 (the job's one result row).
 * A bad option known only now (a floor above the clean accuracy, a budget
 * below the curves') is BO_EINVAL whose field is the spec's. */
bo_status bd_optjob_run(struct bd_daemon *d, struct bd_jobctx *c, int (*stop)(void *),
			void *stop_ctx, int64_t *correct, int64_t *images, struct bo_error *err);

/* Inside a read: the job's stored progress (*progress) and result
 * (*result), each NULL when none yet. */
bo_status bd_optjob_read(sqlite3 *db, int64_t job, json_t **progress, json_t **result,
			 struct bo_error *err);

#endif

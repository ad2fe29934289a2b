/* Fuzz target: the sweep-spec parser of POST /jobs (bd_job_spec_parse in
 * daemon/jobs.c), fed as the API feeds it (json_loadb with
 * JSON_REJECT_DUPLICATES).
 *
 * A spec that parses must survive what the daemon does with it next: it
 * is stored as bd_job_spec_json's text, and the workers and the results
 * parse that text again, so the stored form must parse back to the same
 * spec (same JSON); anything else aborts, as a crash would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brownoutd.h"
#include "jobs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bd_job_spec s, s2;
	struct bo_sweep_config c;
	struct bo_error err;
	json_error_t je;
	char msg[512];
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return 0;
	bo_error_clear(&err);
	if (bd_job_spec_parse(j, &s, &err)) {
		bo_error_format(&err, msg, sizeof(msg));
		json_decref(j);
		return 0;
	}
	json_decref(j);
	if (bd_job_spec_first_trials(&s) < 1)
		abort();
	bd_job_spec_config(&s, 1, &c);
	/* stored, then read back by the workers */
	json_t *stored = bd_job_spec_json(&s);
	char *text = stored ? json_dumps(stored, JSON_COMPACT) : NULL;
	json_t *back = text ? json_loads(text, 0, &je) : NULL;
	if (!back) {
		fprintf(stderr, "the stored spec is not JSON: %s\n", text ? text : "(null)");
		abort();
	}
	if (bd_job_spec_parse(back, &s2, &err)) {
		fprintf(stderr, "the stored spec does not parse: %s: %s\n", text,
			bo_error_format(&err, msg, sizeof(msg)));
		abort();
	}
	json_t *again = bd_job_spec_json(&s2);
	if (!json_equal(stored, again)) {
		char *t2 = json_dumps(again, JSON_COMPACT);
		fprintf(stderr, "the stored spec changes when read back:\n%s\n%s\n", text, t2);
		abort();
	}
	json_decref(again);
	bd_job_spec_release(&s2);
	free(text);
	json_decref(back);
	json_decref(stored);
	bd_job_spec_release(&s);
	return 0;
}

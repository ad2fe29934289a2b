/* Unit tests of brownoutd's job/task state machine (daemon/queue.c) on a
 * real SQLite store in a temporary directory: the claim order (fair share
 * between owners, then priority, then age), leases (renewal, expiry and
 * requeue, a late commit from an expired or taken-over lease refused with
 * nothing recorded), slices (a partial commit leaves the rest queued),
 * completion, cancel, and images_per_trial = auto (a pilot per point, then
 * the point's trials at the n chosen from it). The clock is a parameter of every call, so
 * leases expire without sleeping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brownoutd.h"
#include "jobs.h"
#include "queue.h"
#include "../unit/common_tmp.h"

static char g_root[4096];

struct fx {
	struct bd_store *s;
};

static bo_status exec_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	return bd_store_exec(db, ctx, err);
}

static void exec_ok(struct bd_store *s, const char *sql)
{
	struct bo_error err;
	bo_error_clear(&err);
	bo_status rc = bd_store_write(s, exec_cb, (void *)sql, &err);
	if (rc)
		print_error("%s: %s\n", sql, err.text);
	assert_int_equal(rc, BO_OK);
}

struct query {
	const char *sql;
	int64_t value;
	char text[64];
};

static bo_status query_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct query *q = ctx;
	sqlite3_stmt *st = NULL;
	q->value = -1;
	q->text[0] = 0;
	if (sqlite3_prepare_v2(db, q->sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, q->sql);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		q->value = sqlite3_column_int64(st, 0);
		snprintf(q->text, sizeof(q->text), "%s", t ? t : "");
	}
	sqlite3_finalize(st);
	return BO_OK;
}

static int64_t read_int(struct bd_store *s, const char *sql)
{
	struct query q = { .sql = sql };
	struct bo_error err;
	assert_int_equal(bd_store_read(s, query_cb, &q, &err), BO_OK);
	return q.value;
}

static void read_text(struct bd_store *s, const char *sql, char *out, size_t size)
{
	struct query q = { .sql = sql };
	struct bo_error err;
	assert_int_equal(bd_store_read(s, query_cb, &q, &err), BO_OK);
	snprintf(out, size, "%s", q.text);
}

/* a job of `owner` at `priority`: trials trials at each of n_p points,
 * its tasks made by bd_queue_create_tasks (max_tasks of them at most) */
struct new_job {
	int64_t id, owner;
	int priority, n_p, trials, max_tasks;
	int refs; /* reference models (model 1 each time) */
};

static bo_status job_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct new_job *j = ctx;
	char text[256], sql[640];
	json_error_t je;
	struct bd_job_spec spec;
	snprintf(text, sizeof(text), "{\"model\": 1, \"dataset\": 1, \"p\": \"1e-3:1e-2:%d\","
		 " \"trials\": %d, \"priority\": %d, \"references\": [%s]}", j->n_p, j->trials,
		 j->priority, j->refs == 2 ? "1, 1" : j->refs == 1 ? "1" : "");
	json_t *js = json_loads(text, 0, &je);
	assert_non_null(js);
	assert_int_equal(bd_job_spec_parse(js, &spec, err), BO_OK);
	json_decref(js);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (owner_id, model_id, dataset_id, state, priority, spec, points,"
		 " images_per_trial, created_at) VALUES (%lld, 1, 1, 'queued', %d, '%s', %d, 4, 't')",
		 (long long)j->owner, j->priority, text, j->n_p);
	bo_status rc = bd_store_exec(db, sql, err);
	if (!rc) {
		j->id = sqlite3_last_insert_rowid(db);
		rc = bd_queue_create_tasks(db, j->id, &spec, j->max_tasks ? j->max_tasks : 4096,
					   err);
	}
	for (int i = 0; i < j->refs && !rc; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO job_references (job_id, position, model_id) VALUES (%lld, %d, 1)",
			 (long long)j->id, i);
		rc = bd_store_exec(db, sql, err);
	}
	bd_job_spec_release(&spec);
	return rc;
}

static int64_t add_job(struct bd_store *s, int64_t owner, int priority, int n_p, int trials,
		       int max_tasks)
{
	struct new_job j = { 0, owner, priority, n_p, trials, max_tasks, 0 };
	struct bo_error err;
	bo_error_clear(&err);
	bo_status rc = bd_store_write(s, job_fn, &j, &err);
	if (rc)
		print_error("add_job: %s\n", err.text);
	assert_int_equal(rc, BO_OK);
	return j.id;
}

static int setup(void **state)
{
	static int n;
	char path[4200];
	struct fx *f = calloc(1, sizeof(*f));
	struct bo_error err;
	if (!f)
		return -1;
	snprintf(path, sizeof(path), "%s/q%d.db", g_root, n++);
	if (bd_store_open(path, 2, &f->s, &err)) {
		print_error("bd_store_open: %s\n", err.text);
		free(f);
		return -1;
	}
	exec_ok(f->s, "INSERT INTO users (id, name, created_at) VALUES (1, 'ann', 't'),"
		      " (2, 'bob', 't'), (3, 'cy', 't')");
	exec_ok(f->s, "INSERT INTO models (id, owner_id, name, sha256, size, path, info,"
		      " created_at) VALUES (1, 1, 'm', 'x', 1, 'm', '{}', 't')");
	exec_ok(f->s, "INSERT INTO datasets (id, owner_id, name, source, format, path, images,"
		      " shape, created_at) VALUES (1, 1, 'd', 'upload', 'idx', 'd', 4, '[1,2,2]', 't')");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	bd_store_close(f->s);
	free(f);
	return 0;
}

static struct bd_claim claim(struct bd_store *s, int64_t last_owner, const char *holder,
			     int64_t now_ms, int64_t lease_ms)
{
	struct bd_claim c = { .last_owner = last_owner, .holder = holder, .now_ms = now_ms,
			      .lease_ms = lease_ms };
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(bd_queue_claim(s, &c, &err), BO_OK);
	return c;
}

/* commit n trials of t (correct = 100 + trial) at now_ms */
static bo_status commit(struct bd_store *s, const struct bd_task *t, int n, int64_t now_ms,
			struct bd_commit *out)
{
	struct bd_commit *c = calloc(1, sizeof(*c));
	struct bo_error err;
	assert_non_null(c);
	bo_error_clear(&err);
	c->t = *t;
	c->now_ms = now_ms;
	c->n = n;
	c->images = 4;
	c->workers = 1;
	c->max_tasks = 4096;
	for (int k = 0; k < n; k++)
		c->correct[k] = 100 + t->lo + k;
	bo_status rc = bd_queue_commit(s, c, &err);
	if (rc)
		assert_true(err.text[0] != 0);
	if (out)
		*out = *c;
	free(c);
	return rc;
}

/* ---- claim order ---- */

static void test_claim_order(void **state)
{
	struct fx *f = *state;
	/* ann: an old job at priority 0, a newer one at priority 5; bob: one */
	int64_t a_old = add_job(f->s, 1, 0, 1, 2, 0);
	int64_t a_hi = add_job(f->s, 1, 5, 1, 1, 0);
	int64_t b = add_job(f->s, 2, 0, 1, 2, 0);
	/* nobody served yet: the lowest owner, its highest priority job */
	struct bd_claim c = claim(f->s, 0, "w", 1000, 0);
	assert_true(c.found);
	assert_int_equal(c.t.job, a_hi);
	assert_int_equal(c.t.owner, 1);
	assert_true(c.t.lease > 0);
	assert_int_equal(c.t.deadline_ms, 0);
	/* fair share: ann was served, bob is next though ann has more */
	c = claim(f->s, 1, "w", 1000, 0);
	assert_true(c.found);
	assert_int_equal(c.t.job, b);
	assert_int_equal(c.t.lo, 0);
	/* wrapping around to ann: her older job, its first trial (age) */
	c = claim(f->s, 2, "w", 1000, 0);
	assert_true(c.found);
	assert_int_equal(c.t.job, a_old);
	assert_int_equal(c.t.lo, 0);
	assert_int_equal(c.t.hi, 1);
	/* ann again (bob's turn is after her): bob's second */
	c = claim(f->s, 1, "w", 1000, 0);
	assert_int_equal(c.t.job, b);
	assert_int_equal(c.t.lo, 1);
	c = claim(f->s, 2, "w", 1000, 0);
	assert_int_equal(c.t.job, a_old);
	assert_int_equal(c.t.lo, 1);
	c = claim(f->s, 1, "w", 1000, 0);
	assert_false(c.found);
	/* the claimed jobs are running, each lease distinct */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM jobs WHERE state = 'running'"), 3);
	assert_int_equal(read_int(f->s, "SELECT COUNT(DISTINCT lease) FROM tasks"), 5);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE lease_holder = 'w'"), 5);
	/* every lease id is exact as a JSON number read into a double */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE lease > 9007199254740992"),
			 0);
}

/* ---- leases ---- */

static void test_lease_expiry_and_requeue(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	struct bd_task t;
	int n = -1;
	int64_t job = add_job(f->s, 1, 0, 1, 1, 0);
	struct bd_claim a = claim(f->s, 0, "wa", 10000, 2000);
	assert_true(a.found);
	assert_int_equal(a.t.deadline_ms, 12000);
	/* a heartbeat in time extends it */
	assert_int_equal(bd_queue_renew(f->s, a.t.lease, 11500, 2000, &t, &err), BO_OK);
	assert_int_equal(t.deadline_ms, 13500);
	assert_int_equal(t.id, a.t.id);
	/* not expired at 13500: nothing to claim, nothing requeued */
	struct bd_claim b = claim(f->s, 0, "wb", 13500, 2000);
	assert_false(b.found);
	assert_int_equal(b.expired, 0);
	assert_int_equal(bd_queue_expire(f->s, 13500, &n, &err), BO_OK);
	assert_int_equal(n, 0);
	/* past it: the next claim puts it back and takes it, under a new lease */
	b = claim(f->s, 0, "wb", 13501, 2000);
	assert_true(b.found);
	assert_int_equal(b.expired, 1);
	assert_int_equal(b.t.id, a.t.id);
	assert_true(b.t.lease != a.t.lease);
	assert_int_equal(read_int(f->s, "SELECT attempts FROM tasks"), 2);
	/* the old holder's heartbeat and its results are refused */
	bo_error_clear(&err);
	assert_int_equal(bd_queue_renew(f->s, a.t.lease, 13502, 2000, NULL, &err), BO_ECONFLICT);
	assert_true(err.text[0] != 0);
	assert_int_equal(commit(f->s, &a.t, 1, 13502, NULL), BO_ECONFLICT);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 0);
	/* the new holder's count is taken, once, and the job is done */
	struct bd_commit out;
	assert_int_equal(commit(f->s, &b.t, 1, 14000, &out), BO_OK);
	assert_true(out.job_ended);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 1);
	assert_int_equal(read_int(f->s, "SELECT correct FROM results"), 100);
	char st[64];
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %lld", (long long)job);
	read_text(f->s, sql, st, sizeof(st));
	assert_string_equal(st, "done");
	/* a commit after its job ended takes nothing and says so */
	exec_ok(f->s, "UPDATE results SET correct = 7");
	assert_int_equal(commit(f->s, &b.t, 1, 14001, &out), BO_OK);
	assert_true(out.job_ended);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 1);
	assert_int_equal(read_int(f->s, "SELECT correct FROM results"), 7);
}

static void test_late_commit_refused(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	int n = -1;
	add_job(f->s, 1, 0, 1, 3, 0);
	struct bd_claim a = claim(f->s, 0, "wa", 1000, 2000);
	assert_true(a.found);
	/* nobody requeued it yet, but the deadline passed: refused, nothing kept */
	assert_int_equal(commit(f->s, &a.t, 1, 3001, NULL), BO_ECONFLICT);
	assert_int_equal(bd_queue_renew(f->s, a.t.lease, 3001, 2000, NULL, &err), BO_ECONFLICT);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 0);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE state = 'done'"), 0);
	/* at its deadline exactly it is still held */
	assert_int_equal(bd_queue_expire(f->s, 3000, &n, &err), BO_OK);
	assert_int_equal(n, 0);
	assert_int_equal(bd_queue_expire(f->s, 3001, &n, &err), BO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE state = 'queued'"
				  " AND lease IS NULL AND lease_deadline IS NULL"), 3);
	/* local claims (no deadline) never expire; a restart requeues them */
	struct bd_claim l = claim(f->s, 0, "local", 4000, 0);
	assert_true(l.found);
	assert_int_equal(bd_queue_expire(f->s, INT64_MAX, &n, &err), BO_OK);
	assert_int_equal(n, 0);
	assert_int_equal(bd_queue_requeue_all(f->s, &err), BO_OK);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE state = 'queued'"), 3);
	/* and the pre-restart claim's commit is refused */
	assert_int_equal(commit(f->s, &l.t, 1, 5000, NULL), BO_ECONFLICT);
	/* a commit of more trials than the task has is refused up front */
	struct bd_claim m = claim(f->s, 0, "local", 6000, 0);
	assert_true(m.found);
	assert_int_equal(commit(f->s, &m.t, 2, 6000, NULL), BO_EINVAL);
	assert_int_equal(commit(f->s, &m.t, 1, 6000, NULL), BO_OK);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 1);
}

/* ---- slices ---- */

static void test_slices(void **state)
{
	struct fx *f = *state;
	struct bd_commit out;
	/* 10 trials as at most 1 task: one task [0, 10) */
	int64_t job = add_job(f->s, 1, 0, 1, 10, 1);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks"), 1);
	struct bd_claim a = claim(f->s, 0, "w", 1000, 5000);
	assert_int_equal(a.t.lo, 0);
	assert_int_equal(a.t.hi, 10);
	/* a slice of 4: done [0, 4), queued [4, 10) */
	assert_int_equal(commit(f->s, &a.t, 4, 2000, &out), BO_OK);
	assert_true(out.queued_more);
	assert_false(out.job_ended);
	assert_int_equal(read_int(f->s, "SELECT trial_hi FROM tasks WHERE state = 'done'"), 4);
	assert_int_equal(read_int(f->s, "SELECT trial_lo FROM tasks WHERE state = 'queued'"), 4);
	assert_int_equal(read_int(f->s, "SELECT trial_hi FROM tasks WHERE state = 'queued'"), 10);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE lease IS NOT NULL"), 0);
	/* the same lease cannot commit again (it ended with the slice) */
	assert_int_equal(commit(f->s, &a.t, 4, 2000, NULL), BO_ECONFLICT);
	struct bd_claim b = claim(f->s, 0, "w", 3000, 5000);
	assert_int_equal(b.t.lo, 4);
	assert_int_equal(commit(f->s, &b.t, 6, 3500, &out), BO_OK);
	assert_true(out.job_ended);
	/* every trial once, each with its own count */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 10);
	assert_int_equal(read_int(f->s, "SELECT COUNT(DISTINCT trial) FROM results"), 10);
	assert_int_equal(read_int(f->s, "SELECT SUM(correct) FROM results"), 10 * 100 + 45);
	char sql[128], st[64];
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %lld", (long long)job);
	read_text(f->s, sql, st, sizeof(st));
	assert_string_equal(st, "done");
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM events WHERE kind = 'done'"), 1);
}

/* ---- cancel ---- */

struct cancel {
	int64_t job;
};

static bo_status cancel_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct cancel *c = ctx;
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE jobs SET state = 'cancelled' WHERE id = %lld",
		 (long long)c->job);
	bo_status rc = bd_store_exec(db, sql, err);
	return rc ? rc : bd_queue_cancel_tasks(db, c->job, err);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	struct bd_commit out;
	int64_t job = add_job(f->s, 1, 0, 2, 3, 0);
	int64_t other = add_job(f->s, 2, 0, 1, 1, 0);
	struct bd_claim a = claim(f->s, 0, "w", 1000, 5000);
	assert_int_equal(a.t.job, job);
	struct cancel c = { job };
	assert_int_equal(bd_store_write(f->s, cancel_fn, &c, &err), BO_OK);
	/* its queued tasks are gone, the running one stays until reported */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE job_id = 1"), 1);
	/* the late report takes nothing and says the job ended */
	assert_int_equal(commit(f->s, &a.t, 1, 1500, &out), BO_OK);
	assert_true(out.job_ended);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 0);
	/* the cancelled job is never claimed again; the other one is */
	struct bd_claim b = claim(f->s, 0, "w", 2000, 5000);
	assert_true(b.found);
	assert_int_equal(b.t.job, other);
	b = claim(f->s, 0, "w", 2000, 5000);
	assert_false(b.found);
	char st[64];
	read_text(f->s, "SELECT state FROM jobs WHERE id = 1", st, sizeof(st));
	assert_string_equal(st, "cancelled");
}

/* ---- failure ---- */

static void test_failure_needs_lease(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	add_job(f->s, 1, 0, 2, 1, 0);
	struct bd_claim a = claim(f->s, 0, "wa", 1000, 1000);
	struct bd_claim b = claim(f->s, 0, "wb", 3000, 1000); /* a expired: b takes it */
	assert_int_equal(b.t.id, a.t.id);
	struct bd_commit *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->t = a.t;
	c->now_ms = 3100;
	snprintf(c->failure, sizeof(c->failure), "out of memory");
	bo_error_clear(&err);
	/* a stale holder cannot fail the job */
	assert_int_equal(bd_queue_commit(f->s, c, &err), BO_ECONFLICT);
	char st[64];
	read_text(f->s, "SELECT state FROM jobs", st, sizeof(st));
	assert_string_equal(st, "running");
	/* the holder can */
	c->t = b.t;
	assert_int_equal(bd_queue_commit(f->s, c, &err), BO_OK);
	assert_true(c->job_ended);
	read_text(f->s, "SELECT state FROM jobs", st, sizeof(st));
	assert_string_equal(st, "failed");
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE state <> 'done'"), 0);
	free(c);
}

/* ---- reference tasks ---- */

/* Every claim, a remote worker's (with a lease) too, takes reference tasks:
 * after the trials, by age; their counts commit only under the lease, and
 * the job is done when the trials and the reference are in. */
static void test_reference_task_leased(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	struct new_job j = { 0, 1, 0, 1, 1, 0, 1 };
	bo_error_clear(&err);
	assert_int_equal(bd_store_write(f->s, job_fn, &j, &err), BO_OK);
	struct bd_claim t = claim(f->s, 0, "wa", 1000, 1000);
	assert_true(t.found);
	assert_false(t.t.reference);
	struct bd_claim r = claim(f->s, 0, "wa", 1000, 1000);
	assert_true(r.found);
	assert_true(r.t.reference);
	assert_int_equal(r.t.point, 0);
	assert_int_equal(r.t.deadline_ms, 2000);
	struct bd_commit *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->t = r.t;
	c->ref_correct = 3;
	c->ref_images = 4;
	c->ref_parameters = 10;
	c->ref_activations = 5;
	c->now_ms = 2500; /* the lease expired: nothing recorded */
	assert_int_equal(bd_queue_commit(f->s, c, &err), BO_ECONFLICT);
	assert_int_equal(read_int(f->s, "SELECT correct IS NULL FROM job_references"), 1);
	struct bd_claim r2 = claim(f->s, 0, "wb", 3000, 1000); /* wb takes both back */
	struct bd_claim t2 = claim(f->s, 0, "wb", 3000, 1000);
	assert_true(r2.found && t2.found);
	struct bd_task rt = r2.t.reference ? r2.t : t2.t, tt = r2.t.reference ? t2.t : r2.t;
	assert_true(rt.reference && !tt.reference);
	c->t = rt;
	c->now_ms = 3100;
	assert_int_equal(bd_queue_commit(f->s, c, &err), BO_OK);
	assert_false(c->job_ended);
	assert_int_equal(read_int(f->s, "SELECT correct * 1000 + images * 100 + parameters"
				  " + activations FROM job_references"),
			 3000 + 400 + 10 + 5);
	assert_int_equal(commit(f->s, &tt, 1, 3100, c), BO_OK);
	char st[64];
	read_text(f->s, "SELECT state FROM jobs", st, sizeof(st));
	assert_string_equal(st, "done");
	free(c);
}

/* ---- images_per_trial = auto ---- */

static bo_status auto_job_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	int64_t *id = ctx;
	static const char text[] = "{\"model\": 1, \"dataset\": 1, \"p\": [0.01, 0.02],"
				   " \"trials\": 4, \"images_per_trial\": \"auto\"}";
	json_error_t je;
	struct bd_job_spec spec;
	char sql[512];
	json_t *js = json_loads(text, 0, &je);
	assert_non_null(js);
	assert_int_equal(bd_job_spec_parse(js, &spec, err), BO_OK);
	json_decref(js);
	assert_int_equal(spec.images_per_trial, BO_IMAGES_AUTO);
	/* N = 64 images (the clean pass's record): n0 = min(64, 256) = 64 */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (owner_id, model_id, dataset_id, state, priority, spec, points,"
		 " images_per_trial, created_at) VALUES (1, 1, 1, 'queued', 0, '%s', 2, 64, 't')",
		 text);
	bo_status rc = bd_store_exec(db, sql, err);
	if (!rc) {
		*id = sqlite3_last_insert_rowid(db);
		rc = bd_queue_create_tasks(db, *id, &spec, 4096, err);
	}
	bd_job_spec_release(&spec);
	return rc;
}

/* Claim and commit every queued task of the store, one trial each: a
 * pilot's trial t of point pt counts pilot[pt][t] of 64 images with a
 * trial cost of 1 ms and 1 ms an image (c_t / c_i = 1); a trial task counts
 * 10 + trial of its own images. Returns the commits made. */
static int run_queue(struct bd_store *s, const int64_t pilot[2][3], int64_t *now)
{
	int commits = 0;
	for (;;) {
		struct bd_claim c = claim(s, 0, "w", *now += 10, 5000);
		if (!c.found)
			return commits;
		struct bd_commit *f = calloc(1, sizeof(*f));
		struct bo_error err;
		assert_non_null(f);
		bo_error_clear(&err);
		f->t = c.t;
		f->now_ms = *now += 10;
		f->n = c.t.hi - c.t.lo;
		f->workers = 1;
		f->max_tasks = 4096;
		for (int k = 0; k < f->n; k++) {
			int t = c.t.lo + k;
			if (c.t.pilot) {
				assert_true(t < 3);
				f->images = 64;
				f->correct[k] = pilot[c.t.point][t];
				f->cost[k][0] = 1e-3;
				f->cost[k][1] = 64e-3;
			} else {
				assert_true(c.t.images > 0);
				f->images = c.t.images;
				f->correct[k] = 10 + t;
			}
		}
		assert_int_equal(bd_queue_commit(s, f, &err), BO_OK);
		free(f);
		commits++;
	}
}

static void test_auto_pilot_then_n(void **state)
{
	struct fx *f = *state;
	struct bo_error err;
	int64_t job = 0, now = 1000;
	bo_error_clear(&err);
	assert_int_equal(bd_store_write(f->s, auto_job_fn, &job, &err), BO_OK);
	/* the pilot only: min_trials (3) trials a point, images unset (n0) */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks"), 6);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE pilot = 1 AND images IS"
					" NULL AND trial_hi <= 3"), 6);
	/* point 0: every chip alike (b at its floor 1e-6): n = sqrt(w / b) is
	 * clamped to N = 64 = n0, so the pilot's trials are its trials 0..2;
	 * point 1: chips 0, 64 and 32 of 64 (b >> w / n0): n clamps to 32 */
	static const int64_t pilot[2][3] = { { 32, 32, 32 }, { 0, 64, 32 } };
	double acc0[3] = { 0.5, 0.5, 0.5 }, acc1[3] = { 0, 1, 0.5 };
	assert_int_equal(bo_design_auto_n(acc0, 3, 64, 64, 1e-3, 1e-3), 64);
	assert_int_equal(bo_design_auto_n(acc1, 3, 64, 64, 1e-3, 1e-3), 32);
	/* the first pilot trial of point 0 alone plans nothing */
	struct bd_claim c = claim(f->s, 0, "w", now, 5000);
	assert_true(c.found && c.t.pilot && c.t.point == 0 && c.t.lo == 0 && c.t.images == 0);
	struct bd_commit *one = calloc(1, sizeof(*one));
	assert_non_null(one);
	one->t = c.t;
	one->now_ms = now + 1;
	one->n = 1;
	one->images = 64;
	one->correct[0] = 32;
	one->cost[0][0] = 1e-3;
	one->cost[0][1] = 64e-3;
	one->workers = 1;
	one->max_tasks = 4096;
	assert_int_equal(bd_queue_commit(f->s, one, &err), BO_OK);
	free(one);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM pilots"), 1);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results"), 0);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE pilot = 0"), 0);
	/* the rest: the pilots, then the trials at each point's n */
	assert_true(run_queue(f->s, pilot, &now) >= 5);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM pilots"), 6);
	assert_int_equal(read_int(f->s, "SELECT CAST(ROUND(SUM(cost_image) * 1000) AS INTEGER) FROM pilots"), 6 * 64);
	/* point 0: trials 0..2 are the pilot's (64 images, 32 correct), trial 3
	 * ran at 64; point 1: trials 0..3 ran at 32, the pilot is not in them */
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results WHERE point = 0 AND"
					" images = 64"), 4);
	assert_int_equal(read_int(f->s, "SELECT SUM(correct) FROM results WHERE point = 0"),
			 3 * 32 + 13);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM tasks WHERE point = 0 AND pilot = 0"
					" AND trial_lo = 3 AND trial_hi = 4 AND images = 64"), 1);
	assert_int_equal(read_int(f->s, "SELECT COUNT(*) FROM results WHERE point = 1 AND"
					" images = 32"), 4);
	assert_int_equal(read_int(f->s, "SELECT SUM(correct) FROM results WHERE point = 1"),
			 10 + 11 + 12 + 13);
	assert_int_equal(read_int(f->s, "SELECT COALESCE(SUM(trial_hi - trial_lo), 0) FROM tasks"
					" WHERE point = 1 AND pilot = 0 AND images = 32"), 4);
	char sql[128], st[64];
	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %lld", (long long)job);
	read_text(f->s, sql, st, sizeof(st));
	assert_string_equal(st, "done");
}

static int group_setup(void **state)
{
	(void)state;
	return tt_mkdtemp(g_root, sizeof(g_root), "queue");
}

static int group_teardown(void **state)
{
	(void)state;
	return tt_rmtree(g_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_expiry_and_requeue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_commit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_needs_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_task_leased, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_pilot_then_n, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

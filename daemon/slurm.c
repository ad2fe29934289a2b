/* brownoutd's SLURM launcher: remote workers started on a cluster when
 * tasks wait, stopped when they are done.
 *
 * Design. With executor = slurm a thread of brownoutd looks every
 * slurm-poll seconds (and when a job is submitted, bd_slurm_wake) at two
 * things: the store (tasks queued, tasks running, of live jobs) and
 * squeue (the array tasks of the jobs it submitted itself, pending and
 * running). When tasks wait and fewer workers than that are pending, it
 * submits one array job
 *
 *   sbatch --parsable --array=1-N --job-name=brownout-worker
 *          [--partition=P] [--account=A] [--time=T] --cpus-per-task=C
 *          --export=ALL TEMPLATE
 *
 * with N = min(slurm-max-workers - workers pending or running, tasks queued
 * - workers pending). The template (slurm-template, deploy/slurm/
 * brownout-worker.sbatch by default, the admin's to edit: modules,
 * containers, output files) runs `brownout worker`; what it needs comes in
 * the environment sbatch passes on: BROWNOUT_SERVER (slurm-server-url),
 * BROWNOUT_WORKER_TOKEN, BROWNOUT_THREADS, BROWNOUT_MAX_IDLE, BROWNOUT_BIN.
 * Nothing is scheduled here: SLURM places the workers, the queue (queue.c)
 * hands them tasks like any remote worker's.
 *
 * Each array job gets a worker token of its own, minted for it, expiring
 * BO_SLURM_TOKEN_SECONDS ahead and renewed while the job is in squeue, and
 * deleted when the job leaves squeue, when it is cancelled and when the
 * daemon stops: a daemon that died leaves tokens that lapse within minutes.
 * The token never appears on a command line (ps would show it): sbatch
 * gets it in its environment, not in --export's value.
 *
 * When nothing has been queued or running for three polls, the launcher
 * scancels its jobs (workers that are still starting, or idle until their
 * --max-idle); on SIGTERM the daemon does the same (bd_slurm_stop). The
 * workers give back a task in flight on the SIGTERM scancel sends, and its
 * lease would expire anyway.
 *
 * sbatch, squeue and scancel run with posix_spawnp: argv, no shell, their
 * output read through a pipe with a cap and a timeout (SIGKILL after).
 * A failure (non-zero exit, no job id, a timeout) is logged with the
 * command's words, shown in GET /api/v1/workers ("slurm": last_error), and
 * submission is retried after slurm-poll x 2^failures seconds (5 minutes
 * at most); nothing a SLURM command does stops the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "brownoutd.h"
#include "slurm.h"

extern char **environ;

#define MAX_JOBS 64           /* array jobs of ours in squeue at once */
#define CMD_TIMEOUT 30.0      /* seconds a SLURM command may take */
#define CMD_OUT 65536         /* bytes of its output kept */
#define BACKOFF_MAX 300.0     /* seconds between failed submissions at most */
#define IDLE_POLLS 3          /* polls with nothing to do before scancel */

struct sjob {
	char id[24];
	char hash[65];        /* its token's */
	int64_t expires_ms;
	int size;             /* array tasks submitted */
	int pending, running; /* at the last squeue */
};

struct bd_slurm {
	struct bd_daemon *d;
	char url[600];
	char tmpl[PATH_MAX];
	char bin[PATH_MAX];   /* brownout next to brownoutd, "" if none */
	pthread_t th;
	int started;
	pthread_mutex_t mu;   /* guards what bd_slurm_status reads, stop, woken */
	pthread_cond_t cv;
	int stop, woken;
	int n_jobs;
	struct sjob jobs[MAX_JOBS];
	int64_t submitted;    /* array jobs since start */
	int64_t queued, busy; /* tasks at the last look */
	char last_error[BO_ERROR_TEXT + 200];
	char last_error_at[32];
	int failures;
	double retry_at, idle_since;
};

/* ---- running a command ---- */

int bd_slurm_run(char *const argv[], char *const envp[], double timeout_s, char *out,
		 size_t size, int *status, struct bo_error *err)
{
	int fds[2] = { -1, -1 }, rc = -1, started = 0, timed_out = 0;
	size_t n = 0;
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	*status = -1;
	if (size)
		out[0] = 0;
	if (pipe2(fds, O_CLOEXEC)) {
		bo_error_set(err, BO_EIO, "%s: pipe: %s", argv[0], strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* the daemon blocks SIGTERM/SIGINT and ignores SIGPIPE: not the child */
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* descriptors other threads opened without O_CLOEXEC stay here */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (e) {
		bo_error_set(err, BO_EIO, "cannot run %s: %s", argv[0], strerror(e));
		goto out;
	}
	started = 1;
	double deadline = bd_now() + timeout_s;
	for (;;) {
		double left = deadline - bd_now();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int k = poll(&p, 1, (int)(left * 1000) + 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		if (k == 0)
			continue;
		char buf[4096];
		ssize_t r = read(fds[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* EOF: it (and whatever shared the pipe) closed it */
		size_t keep = size > n + 1 ? size - n - 1 : 0;
		if ((size_t)r < keep)
			keep = (size_t)r;
		memcpy(out + n, buf, keep);
		n += keep;
		out[n] = 0;
	}
	if (timed_out)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
	if (timed_out)
		bo_error_set(err, BO_EBUSY, "%s did not finish in %.0f s (killed)", argv[0], timeout_s);
	else
		rc = 0;
out:
	(void)started;
	close(fds[0]);
	return rc;
}

int bd_slurm_parse_sbatch(const char *out, char *id, size_t size)
{
	size_t k = strspn(out, "0123456789");
	if (k == 0 || k >= size || (out[k] && out[k] != ';' && out[k] != '\n'))
		return -1;
	memcpy(id, out, k);
	id[k] = 0;
	return 0;
}

int bd_slurm_count(const char *out, const char *id, int *pending, int *running)
{
	int lines = 0;
	size_t idn = strlen(id);
	*pending = *running = 0;
	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, id, idn) || l[idn] != '|')
			continue;
		const char *s = l + idn + 1;
		size_t n = strcspn(s, "\n");
		lines++;
#define IS(w) (n == strlen(w) && !strncmp(s, w, n))
		if (IS("PENDING") || IS("REQUEUED") || IS("REQUEUE_HOLD") || IS("REQUEUE_FED") ||
		    IS("RESV_DEL_HOLD"))
			(*pending)++;
		else if (IS("RUNNING") || IS("CONFIGURING") || IS("SUSPENDED") || IS("RESIZING") ||
			 IS("SIGNALING") || IS("STAGE_OUT"))
			(*running)++;
#undef IS
	}
	return lines;
}

/* ---- the launcher ---- */

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "brownoutd: slurm: %s\n", buf);
}

/* The first line of a command's output, for a log line. */
static void first_line(const char *out, char *buf, size_t size)
{
	while (*out == '\n' || *out == ' ')
		out++;
	size_t n = strcspn(out, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, out, n);
	buf[n] = 0;
}

static void set_error(struct bd_slurm *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct bd_slurm *s, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s->mu);
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	bd_store_now(s->last_error_at, sizeof(s->last_error_at));
	pthread_mutex_unlock(&s->mu);
	log_line("%s", s->last_error);
}

struct counts {
	int64_t queued, busy;
};

static bo_status counts_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct counts *c = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	/* every kind: workers run reference tasks too */
	if (sqlite3_prepare_v2(db,
			       "SELECT COALESCE(SUM(t.state = 'queued'), 0),"
			       " COALESCE(SUM(t.state = 'running'), 0) FROM tasks t"
			       " JOIN jobs j ON j.id = t.job_id"
			       " WHERE t.state <> 'done' AND j.state IN ('queued', 'running')",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bd_store_fail(db, err, "count queued tasks");
	} else {
		c->queued = sqlite3_column_int64(st, 0);
		c->busy = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The environment sbatch runs with (and passes on, --export=ALL): the
 * daemon's less any BROWNOUT_* of its own, plus the worker's. */
static char **child_env(struct bd_slurm *s, const char *token)
{
	const struct bd_config *c = &s->d->cfg;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 6, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "BROWNOUT_", 9))
			env[k++] = environ[i];
	int max_idle = 10 * c->slurm_poll < 30 ? 30 : 10 * c->slurm_poll;
	char *mine[5] = { NULL };
	int bad = 0;
	/* asprintf leaves its pointer undefined when it fails: reset it */
#define ADD(i, ...) \
	if (asprintf(&mine[i], __VA_ARGS__) < 0) { \
		mine[i] = NULL; \
		bad = 1; \
	}
	ADD(0, "BROWNOUT_SERVER=%s", s->url);
	ADD(1, "BROWNOUT_WORKER_TOKEN=%s", token);
	ADD(2, "BROWNOUT_THREADS=%d", c->slurm_cpus);
	ADD(3, "BROWNOUT_MAX_IDLE=%d", max_idle);
	ADD(4, "BROWNOUT_BIN=%s", s->bin[0] ? s->bin : "brownout");
#undef ADD
	if (bad) {
		for (int i = 0; i < 5; i++) {
			if (mine[i])
				explicit_bzero(mine[i], strlen(mine[i]));
			free(mine[i]);
		}
		free(env);
		return NULL;
	}
	for (int i = 0; i < 5; i++)
		env[k++] = mine[i];
	return env;
}

static void free_env(char **env)
{
	if (!env)
		return;
	size_t i = 0;
	while (env[i] && strncmp(env[i], "BROWNOUT_SERVER=", 16))
		i++;
	for (; env[i]; i++) {
		if (!strncmp(env[i], "BROWNOUT_WORKER_TOKEN=", 22))
			explicit_bzero(env[i], strlen(env[i]));
		free(env[i]);
	}
	free(env);
}

static void backoff(struct bd_slurm *s)
{
	s->failures++;
	double wait = s->d->cfg.slurm_poll;
	for (int i = 1; i < s->failures && wait < BACKOFF_MAX; i++)
		wait *= 2;
	if (wait > BACKOFF_MAX)
		wait = BACKOFF_MAX;
	s->retry_at = bd_now() + wait;
}

/* Submit an array of n workers. */
static void submit(struct bd_slurm *s, int n)
{
	const struct bd_config *c = &s->d->cfg;
	struct bo_error err;
	char token[BO_TOKEN_SIZE + 1], hash[65];
	char array[32], part[96], acct[96], tm[64], cpus[48], id[24];
	char *out = malloc(CMD_OUT), **env = NULL;
	int status = -1;
	bo_error_clear(&err);
	if (!out)
		return;
	out[0] = 0;
	int64_t exp_ms = (int64_t)time(NULL) * 1000 + (int64_t)BO_SLURM_TOKEN_SECONDS * 1000;
	if (bd_token_create_expiring(s->d->store, BO_SLURM_USER, exp_ms, token, sizeof(token), hash,
				     &err)) {
		set_error(s, "cannot make a worker token: %s", err.text);
		backoff(s);
		goto out;
	}
	env = child_env(s, token);
	explicit_bzero(token, sizeof(token));
	if (!env) {
		set_error(s, "out of memory");
		bd_token_revoke(s->d->store, hash, &err);
		backoff(s);
		goto out;
	}
	snprintf(array, sizeof(array), "--array=1-%d", n);
	snprintf(part, sizeof(part), "--partition=%s", c->slurm_partition);
	snprintf(acct, sizeof(acct), "--account=%s", c->slurm_account);
	snprintf(tm, sizeof(tm), "--time=%s", c->slurm_time);
	snprintf(cpus, sizeof(cpus), "--cpus-per-task=%d", c->slurm_cpus);
	char *argv[16];
	int a = 0;
	argv[a++] = "sbatch";
	argv[a++] = "--parsable";
	argv[a++] = array;
	argv[a++] = "--job-name=brownout-worker";
	if (c->slurm_partition[0])
		argv[a++] = part;
	if (c->slurm_account[0])
		argv[a++] = acct;
	if (c->slurm_time[0])
		argv[a++] = tm;
	argv[a++] = cpus;
	argv[a++] = "--export=ALL";
	argv[a++] = s->tmpl;
	argv[a] = NULL;
	int r = bd_slurm_run(argv, env, CMD_TIMEOUT, out, CMD_OUT, &status, &err);
	char line[400];
	first_line(out, line, sizeof(line));
	if (r || status != 0 || bd_slurm_parse_sbatch(out, id, sizeof(id))) {
		if (r)
			set_error(s, "sbatch: %s", err.text);
		else if (status != 0)
			set_error(s, "sbatch exited with status %d: %s", status, line);
		else
			set_error(s, "sbatch answered no job id: '%s'", line);
		bd_token_revoke(s->d->store, hash, &err);
		backoff(s);
		log_line("next try in %.0f s", s->retry_at - bd_now());
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	struct sjob *j = &s->jobs[s->n_jobs++];
	memset(j, 0, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->hash, sizeof(j->hash), "%s", hash);
	j->expires_ms = exp_ms;
	j->size = j->pending = n;
	s->submitted++;
	s->failures = 0;
	s->last_error[0] = 0;
	pthread_mutex_unlock(&s->mu);
	log_line("submitted job %s: %d worker%s (%lld tasks queued)", id, n, n == 1 ? "" : "s",
		 (long long)s->queued);
out:
	free_env(env);
	free(out);
}

/* Drop job i (it left squeue, or was cancelled) and its token. */
static void forget(struct bd_slurm *s, int i)
{
	struct bo_error err;
	if (bd_token_revoke(s->d->store, s->jobs[i].hash, &err))
		log_line("cannot revoke the token of job %s: %s", s->jobs[i].id, err.text);
	pthread_mutex_lock(&s->mu);
	s->jobs[i] = s->jobs[--s->n_jobs];
	pthread_mutex_unlock(&s->mu);
}

/* squeue: the state of our jobs' array tasks; renew the tokens of those
 * still there, forget the others. 0, or -1 when squeue failed. */
static int look(struct bd_slurm *s)
{
	struct bo_error err;
	char *out = malloc(CMD_OUT);
	int status = -1, rc = -1;
	bo_error_clear(&err);
	if (!out)
		return -1;
	char *argv[] = { "squeue", "-h", "-r", "--me", "--name=brownout-worker", "-o", "%F|%T",
			 NULL };
	int r = bd_slurm_run(argv, environ, CMD_TIMEOUT, out, CMD_OUT, &status, &err);
	if (r || status != 0) {
		char line[400];
		first_line(out, line, sizeof(line));
		if (r)
			set_error(s, "squeue: %s", err.text);
		else
			set_error(s, "squeue exited with status %d: %s", status, line);
		goto out;
	}
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	for (int i = 0; i < s->n_jobs;) {
		struct sjob *j = &s->jobs[i];
		int p = 0, q = 0;
		if (!bd_slurm_count(out, j->id, &p, &q)) {
			log_line("job %s has ended", j->id);
			forget(s, i);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		j->pending = p;
		j->running = q;
		pthread_mutex_unlock(&s->mu);
		if (j->expires_ms - now_ms < (int64_t)BO_SLURM_TOKEN_SECONDS * 500) {
			int64_t e = now_ms + (int64_t)BO_SLURM_TOKEN_SECONDS * 1000;
			if (bd_token_expire_at(s->d->store, j->hash, e, &err))
				log_line("cannot renew the token of job %s: %s", j->id, err.text);
			else
				j->expires_ms = e;
		}
		i++;
	}
	rc = 0;
out:
	free(out);
	return rc;
}

/* scancel every job of ours and forget them (their tokens go too). */
static void cancel_all(struct bd_slurm *s, const char *why)
{
	struct bo_error err;
	char *argv[MAX_JOBS + 2], *out = malloc(CMD_OUT);
	int status = -1, a = 0;
	bo_error_clear(&err);
	if (!s->n_jobs) {
		free(out);
		return;
	}
	argv[a++] = "scancel";
	for (int i = 0; i < s->n_jobs; i++)
		argv[a++] = s->jobs[i].id;
	argv[a] = NULL;
	char ids[MAX_JOBS * 24] = "";
	for (int i = 0; i < s->n_jobs; i++)
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s", i ? " " : "",
			 s->jobs[i].id);
	char dummy[1];
	int r = bd_slurm_run(argv, environ, CMD_TIMEOUT, out ? out : dummy, out ? CMD_OUT : 1,
			     &status, &err);
	if (r || status != 0) {
		char line[400] = "";
		if (out)
			first_line(out, line, sizeof(line));
		set_error(s, "scancel %s: %s", ids, r ? err.text : line);
	} else {
		log_line("cancelled job%s %s (%s)", s->n_jobs == 1 ? "" : "s", ids, why);
	}
	/* the tokens go whatever scancel said: workers left get 401 and exit */
	while (s->n_jobs)
		forget(s, s->n_jobs - 1);
	free(out);
}

static void tick(struct bd_slurm *s)
{
	const struct bd_config *c = &s->d->cfg;
	struct bo_error err;
	struct counts k = { 0, 0 };
	bo_error_clear(&err);
	if (bd_store_read(s->d->store, counts_fn, &k, &err)) {
		set_error(s, "%s", err.text);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->queued = k.queued;
	s->busy = k.busy;
	pthread_mutex_unlock(&s->mu);
	if (s->n_jobs && look(s))
		return; /* squeue failed: no submission on numbers we do not have */
	int pending = 0, alive = 0;
	for (int i = 0; i < s->n_jobs; i++) {
		pending += s->jobs[i].pending;
		alive += s->jobs[i].pending + s->jobs[i].running;
	}
	double now = bd_now();
	if (k.queued > 0) {
		s->idle_since = 0;
		int64_t want = k.queued - pending;
		if (want > c->slurm_max_workers - alive)
			want = c->slurm_max_workers - alive;
		if (want > 0 && now >= s->retry_at && s->n_jobs < MAX_JOBS)
			submit(s, (int)want);
	} else if (k.busy == 0 && s->n_jobs) {
		if (!s->idle_since)
			s->idle_since = now;
		else if (now - s->idle_since >= IDLE_POLLS * c->slurm_poll - 0.5)
			cancel_all(s, "the queue is empty");
	} else {
		s->idle_since = 0;
	}
}

static void *launcher(void *arg)
{
	struct bd_slurm *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		pthread_mutex_unlock(&s->mu);
		tick(s);
		pthread_mutex_lock(&s->mu);
		if (s->stop || s->woken) {
			s->woken = 0;
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += s->d->cfg.slurm_poll;
		while (!s->stop && !s->woken &&
		       pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT)
			;
		s->woken = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* A readable regular file: the template as given, or, for the default, also
 * next to the binary (build/../deploy/slurm/...) and where install.sh puts it */
static int find_template(struct bd_slurm *s, const char *exe_dir, struct bo_error *err)
{
	const char *t = s->d->cfg.slurm_template;
	char cand[3][PATH_MAX + 1100]; /* exe_dir + t */
	int n = 0, e = 0;
	struct stat st;
	snprintf(cand[n++], sizeof(cand[0]), "%s", t);
	if (!strcmp(t, BO_SLURM_TEMPLATE)) {
		if (exe_dir[0])
			snprintf(cand[n++], sizeof(cand[0]), "%s/../%s", exe_dir, t);
		snprintf(cand[n++], sizeof(cand[0]), "/usr/local/share/brownout/slurm/%s",
			 strrchr(t, '/') + 1);
	}
	for (int i = 0; i < n; i++) {
		errno = 0;
		if (!access(cand[i], R_OK) && !stat(cand[i], &st) && S_ISREG(st.st_mode) &&
		    realpath(cand[i], s->tmpl))
			return 0;
		if (!i)
			e = errno ? errno : EISDIR;
	}
	return bo_error_set(err, BO_ENOENT, "slurm-template %s: %s", t,
		       e == EISDIR ? "not a regular file" : strerror(e)), -1;
}

bo_status bd_slurm_new(struct bd_daemon *d, struct bd_slurm **out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct bd_slurm *s = calloc(1, sizeof(*s));
	char exe[PATH_MAX] = "", exe_dir[PATH_MAX] = "";
	*out = NULL;
	if (!s)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	s->d = d;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k > 0) {
		exe[k] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(exe_dir, sizeof(exe_dir), "%s", exe);
			snprintf(s->bin, sizeof(s->bin), "%.*s/brownout", PATH_MAX - 10, exe_dir);
			if (access(s->bin, X_OK))
				s->bin[0] = 0;
		}
	}
	if (find_template(s, exe_dir, err)) {
		rc = err->status;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	if (s) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
	}
	return rc;
}

bo_status bd_slurm_start(struct bd_slurm *s, int port, struct bo_error *err)
{
	struct bd_daemon *d = s->d;
	if (d->cfg.slurm_server_url[0]) {
		snprintf(s->url, sizeof(s->url), "%s", d->cfg.slurm_server_url);
	} else {
		char host[256] = "";
		const char *h = d->cfg.listen_host;
		if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::")) {
			if (gethostname(host, sizeof(host) - 1))
				snprintf(host, sizeof(host), "localhost");
			h = host;
		}
		snprintf(s->url, sizeof(s->url), "http://%s:%d", h, port);
	}
	struct bo_error e2;
	if (bd_token_purge_expired(d->store, &e2))
		log_line("cannot delete expired tokens: %s", e2.text);
	if (pthread_create(&s->th, NULL, launcher, s))
		return bo_error_set(err, BO_ENOMEM, "cannot start the SLURM launcher thread");
	s->started = 1;
	log_line("workers for %s from %s (at most %d, %d CPUs each%s%s%s%s)", s->url, s->tmpl,
		 d->cfg.slurm_max_workers, d->cfg.slurm_cpus,
		 d->cfg.slurm_partition[0] ? ", partition " : "", d->cfg.slurm_partition,
		 d->cfg.slurm_time[0] ? ", time " : "", d->cfg.slurm_time);
	return BO_OK;
}

void bd_slurm_wake(struct bd_slurm *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->woken = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void bd_slurm_stop(struct bd_slurm *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
	}
	cancel_all(s, "brownoutd stops");
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

json_t *bd_slurm_status(struct bd_slurm *s)
{
	if (!s)
		return json_null();
	json_t *o = json_object(), *jobs = json_array();
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n_jobs; i++) {
		json_t *j = json_object();
		json_object_set_new(j, "id", json_string(s->jobs[i].id));
		json_object_set_new(j, "workers", json_integer(s->jobs[i].size));
		json_object_set_new(j, "pending", json_integer(s->jobs[i].pending));
		json_object_set_new(j, "running", json_integer(s->jobs[i].running));
		json_array_append_new(jobs, j);
	}
	json_object_set_new(o, "jobs", jobs);
	json_object_set_new(o, "submitted", json_integer(s->submitted));
	json_object_set_new(o, "max_workers", json_integer(s->d->cfg.slurm_max_workers));
	json_object_set_new(o, "tasks_queued", json_integer(s->queued));
	json_object_set_new(o, "last_error",
			    s->last_error[0] ? json_string(s->last_error) : json_null());
	json_object_set_new(o, "last_error_at",
			    s->last_error[0] ? json_string(s->last_error_at) : json_null());
	pthread_mutex_unlock(&s->mu);
	return o;
}

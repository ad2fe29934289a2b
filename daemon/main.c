/* brownoutd: the brownout daemon.
 *
 *   brownoutd [serve] [--config FILE] [--listen HOST:PORT] [--data DIR] [--workers N]
 *             [--threads-per-worker N] [--upload-limit BYTES] [--dataset-root DIR]...
 *             [--public-read] [--web DIR] [--http-threads N] [--connection-timeout S]
 *             [--per-ip-limit N] [--max-connections N] [--header-timeout S]
 *             [--trusted-proxy ADDR]... [--queue-limit N] [--reserve-bytes BYTES]
 *             [--user-queued-jobs N] [--user-queued-trials N]
 *             [--user-stored-bytes BYTES] [--job-max-tasks N]
 *             [--dataset-max-images N] [--dataset-max-bytes BYTES]
 *   brownoutd user add NAME [--admin] [--data DIR | --config FILE]
 *   brownoutd token create NAME [--worker] [--data DIR | --config FILE]
 *
 * The main thread only handles signals: SIGTERM and SIGINT are blocked in
 * every thread and taken with sigwait(), then the daemon stops accepting
 * (new requests get 503), lets libmicrohttpd finish the requests in
 * flight, stops the tasks in flight (the trials they finished are
 * committed, the trial in flight and the rest go back to the queue and run
 * on the next start), closes the store and exits 0. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "remote.h"
#include "route.h"
#include "slurm.h"
#include "suggest.h"
#include "datadir.h"

extern const char bd_openapi_yaml[];
extern const unsigned long bd_openapi_yaml_len;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: brownoutd [serve] [options]      run the daemon\n"
		"       brownoutd user add NAME [--admin] [--data DIR]\n"
		"       brownoutd token create NAME [--worker] [--data DIR]\n"
		"options (also keys of the --config file, as key = value):\n"
		"  --config FILE            read options from FILE first\n"
		"  --listen HOST:PORT       default 127.0.0.1:8080 (port 0: any free port)\n"
		"  --data DIR               data directory, default ./var\n"
		"  --workers N              worker threads, default: number of cores; 0: none\n"
		"                           (remote workers only: brownout worker)\n"
		"  --lease-seconds S        a remote worker's claim lasts S s unless it\n"
		"                           heartbeats, default 60\n"
		"  --worker                 token create: a worker token (/api/v1/worker/* only)\n"
		"  --threads-per-worker N   inference threads per worker, default 1\n"
		"  --upload-limit BYTES     largest upload (K, M, G suffixes), default 512M\n"
		"  --dataset-root DIR       datasets may be registered from under DIR (repeat)\n"
		"  --dataset-max-images N   images per dataset, default 10000000\n"
		"  --dataset-max-bytes B    uncompressed bytes per dataset, default 4 x upload-limit\n"
		"  --public-read            GET endpoints without a token\n"
		"  --web DIR                static files of the dashboard, default web\n"
		"  --http-threads N         HTTP threads, default 4\n"
		"  --connection-timeout S   idle connection timeout, default 30\n"
		"  --per-ip-limit N         connections (and, through a trusted proxy, requests)\n"
		"                           per client address, default 64\n"
		"  --max-connections N      connections in all, default 512\n"
		"  --header-timeout S       seconds a connection has to send a request's header,\n"
		"                           default 10\n"
		"  --trusted-proxy ADDR     believe X-Forwarded-For from this peer (repeat)\n"
		"  --queue-limit N          queued + running jobs, default 1000\n"
		"  --reserve-bytes BYTES    space kept for deletes on a full disk, default 4M\n"
		"  --user-queued-jobs N     queued + running jobs of one user, default 100\n"
		"  --user-queued-trials N   trials one user's queued + running jobs plan,\n"
		"                           default 10240000 (one largest job)\n"
		"  --user-stored-bytes B    one user's uploads + result rows (64 B a trial),\n"
		"                           default 4G\n"
		"  --job-max-tasks N        tasks a job is stored as (a task then covers\n"
		"                           several trials), default 4096; one per point\n"
		"                           and reference at least\n"
		"  --executor local|slurm   slurm: also start remote workers on a SLURM cluster\n"
		"                           (sbatch arrays of brownout worker; docs/cluster.md);\n"
		"                           workers then defaults to 0. default local\n"
		"  --slurm-partition P      sbatch --partition, default the cluster's\n"
		"  --slurm-account A        sbatch --account, default the user's\n"
		"  --slurm-time T           sbatch --time of a worker, default the partition's\n"
		"  --slurm-cpus-per-worker N  sbatch --cpus-per-task and worker threads, default 1\n"
		"  --slurm-max-workers N    workers pending + running at most, default 4\n"
		"  --slurm-template FILE    the batch script, default\n"
		"                           deploy/slurm/brownout-worker.sbatch\n"
		"  --slurm-server-url URL   how workers reach brownoutd, default\n"
		"                           http://LISTEN-HOST:PORT\n"
		"  --slurm-poll S           seconds between looks at queue and squeue, default 5\n");
}

static int fail(const struct bo_error *err)
{
	char buf[BO_ERROR_TEXT + 512];
	fprintf(stderr, "brownoutd: error: %s\n", bo_error_format(err, buf, sizeof(buf)));
	return 1;
}

/* Options for every command; returns 0, 1 (error), or 2 (usage shown). */
static int parse(int argc, char **argv, struct bd_config *c, int *admin, int *worker)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'C' },
		{ "listen", required_argument, 0, 1 },
		{ "data", required_argument, 0, 1 },
		{ "workers", required_argument, 0, 1 },
		{ "threads-per-worker", required_argument, 0, 1 },
		{ "upload-limit", required_argument, 0, 1 },
		{ "dataset-root", required_argument, 0, 1 },
		{ "dataset-max-images", required_argument, 0, 1 },
		{ "dataset-max-bytes", required_argument, 0, 1 },
		{ "public-read", no_argument, 0, 'P' },
		{ "web", required_argument, 0, 1 },
		{ "http-threads", required_argument, 0, 1 },
		{ "connection-timeout", required_argument, 0, 1 },
		{ "per-ip-limit", required_argument, 0, 1 },
		{ "max-connections", required_argument, 0, 1 },
		{ "header-timeout", required_argument, 0, 1 },
		{ "trusted-proxy", required_argument, 0, 1 },
		{ "queue-limit", required_argument, 0, 1 },
		{ "reserve-bytes", required_argument, 0, 1 },
		{ "user-queued-jobs", required_argument, 0, 1 },
		{ "user-queued-trials", required_argument, 0, 1 },
		{ "user-stored-bytes", required_argument, 0, 1 },
		{ "job-max-tasks", required_argument, 0, 1 },
		{ "admin", no_argument, 0, 'A' },
		{ "worker", no_argument, 0, 'W' },
		{ "lease-seconds", required_argument, 0, 1 },
		{ "executor", required_argument, 0, 1 },
		{ "slurm-partition", required_argument, 0, 1 },
		{ "slurm-account", required_argument, 0, 1 },
		{ "slurm-time", required_argument, 0, 1 },
		{ "slurm-cpus-per-worker", required_argument, 0, 1 },
		{ "slurm-max-workers", required_argument, 0, 1 },
		{ "slurm-template", required_argument, 0, 1 },
		{ "slurm-server-url", required_argument, 0, 1 },
		{ "slurm-poll", required_argument, 0, 1 },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct bo_error err;
	int ch, idx;
	bo_error_clear(&err);
	/* the file first, so that flags override it */
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config") && bd_config_file(c, argv[i + 1], &err))
			return fail(&err);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (ch) {
		case 'C': break;
		case 1:
			if (bd_config_set(c, opts[idx].name, optarg, &err))
				return fail(&err);
			break;
		case 'P': c->public_read = 1; break;
		case 'A':
			if (!admin) {
				fprintf(stderr, "brownoutd: --admin is for 'user add'\n");
				return 1;
			}
			*admin = 1;
			break;
		case 'W':
			if (!worker) {
				fprintf(stderr, "brownoutd: --worker is for 'token create'\n");
				return 1;
			}
			*worker = 1;
			break;
		case 'h': usage(stdout); return 2;
		case 'V': printf("brownoutd %s\n", BO_VERSION); return 2;
		default: {
			/* getopt has said what it refused (argv[optind - 1]) */
			const char *best = bo_suggest_option(argv[optind - 1], opts);
			if (best)
				fprintf(stderr, "brownoutd: did you mean --%s?\n", best);
			fprintf(stderr, "Try 'brownoutd --help'.\n");
			return 1;
		}
		}
	}
	return 0;
}

/* serving: with the reserve file (DATA/space-reserve) the deletes spend
 * when the disk is full */
static int open_store(const struct bd_config *c, int readers, struct bd_store **s, int serving)
{
	struct bo_error err;
	char path[1100], reserve[1100];
	struct bd_store_opts o = { 0 };
	bo_error_clear(&err);
	umask(027); /* the database and uploads are the lab's, not the world's */
	if (mkdir(c->data_dir, 0750) && errno != EEXIST) {
		fprintf(stderr, "brownoutd: error: cannot create %s: %s\n", c->data_dir,
			strerror(errno));
		return 1;
	}
	bd_data_entry(c->data_dir, BO_DATA_DB, path, sizeof(path));
	bd_data_entry(c->data_dir, BO_DATA_RESERVE, reserve, sizeof(reserve));
	if (serving && c->reserve_bytes > 0) {
		o.reserve_path = reserve;
		o.reserve_bytes = c->reserve_bytes;
	}
	if (bd_store_open_with(path, readers, &o, s, &err))
		return fail(&err);
	if (o.reserve_path && !bd_store_reserve_held(*s))
		fprintf(stderr, "brownoutd: warning: no room for %s (%lld bytes) yet: deletes may "
			"fail while the disk is full\n", reserve, (long long)c->reserve_bytes);
	return 0;
}

/* brownoutd user add NAME [--admin] / token create NAME: print a token. */
static int cmd_token(int argc, char **argv, int add)
{
	struct bd_config c;
	struct bd_store *s = NULL;
	struct bo_error err;
	char token[BO_TOKEN_SIZE + 1];
	int admin = 0, worker = 0, rc;
	bd_config_defaults(&c);
	bo_error_clear(&err);
	if ((rc = parse(argc, argv, &c, add ? &admin : NULL, add ? NULL : &worker)))
		return rc == 2 ? 0 : rc;
	if (optind + 1 != argc) {
		fprintf(stderr, "brownoutd: expected one user NAME\n");
		return 2;
	}
	if ((rc = open_store(&c, 1, &s, 0)))
		return rc;
	const char *name = argv[optind];
	bo_status st = add	? bd_user_add(s, name, admin, token, sizeof(token), &err) :
		       worker ? bd_token_create_worker(s, name, token, sizeof(token), &err) :
				bd_token_create(s, name, token, sizeof(token), &err);
	bd_store_close(s);
	if (st)
		return fail(&err);
	printf("%s\n", token);
	fprintf(stderr, "brownoutd: %s for %s%s; it is shown only now\n",
		add ? "user added, token" : worker ? "new worker token" : "new token", name, admin ? " (admin)" : "");
	return 0;
}

/* Uploads a crash left in DATA/tmp are not anybody's. */
static void clean_tmp(const char *data)
{
	char dir[1100], path[1400];
	bd_data_entry(data, BO_DATA_TMP, dir, sizeof(dir));
	DIR *dp = opendir(dir);
	struct dirent *e;
	while (dp && (e = readdir(dp)))
		if (!strncmp(e->d_name, "upload-", 7)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (dp)
		closedir(dp);
}

static int serve(int argc, char **argv)
{
	struct bd_daemon *d = calloc(1, sizeof(*d));
	struct bo_error err;
	sigset_t set;
	int rc = 1, port = 0, exec_started = 0, served = 0;
	if (!d)
		return 1;
	bo_error_clear(&err);
	bd_config_defaults(&d->cfg);
	if ((rc = parse(argc, argv, &d->cfg, NULL, NULL))) {
		rc = rc == 2 ? 0 : rc;
		goto out;
	}
	rc = 1;
	/* the SLURM executor's workers are on the cluster: no local pool unless
	 * asked for (reference tasks need one) */
	if (d->cfg.executor == BO_EXECUTOR_SLURM && !d->cfg.workers_given)
		d->cfg.workers = 0;
	if (optind != argc) {
		fprintf(stderr, "brownoutd: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	d->started = bd_now();
	d->routes = bd_api_routes;
	d->openapi = bd_openapi_yaml;
	d->openapi_len = bd_openapi_yaml_len;
	pthread_mutex_init(&d->live.mu, NULL);
	/* signals go to the main thread only: block them before any thread */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (open_store(&d->cfg, d->cfg.http_threads + d->cfg.workers + 2, &d->store, 1))
		goto out;
	clean_tmp(d->cfg.data_dir);
	int swept = 0;
	if (bd_store_sweep_orphans(d->store, d->cfg.data_dir, &swept, &err))
		fail(&err); /* not fatal: the files stay until the next start */
	else if (swept)
		fprintf(stderr, "brownoutd: removed %d file%s no model or dataset names\n", swept,
			swept == 1 ? "" : "s");
	if (bd_remote_new(&d->remote, &err) || bd_pool_new(&d->exec, &err) || d->exec.ops->start(d->exec.impl, d, &err)) {
		fail(&err);
		goto out;
	}
	exec_started = 1;
	if (d->cfg.executor == BO_EXECUTOR_SLURM && bd_slurm_new(d, &d->slurm, &err)) {
		fail(&err);
		goto out;
	}
	if (bd_http_start(d, &port, &err) || (d->slurm && bd_slurm_start(d->slurm, port, &err))) {
		fail(&err);
		goto out;
	}
	fprintf(stderr, "brownoutd %s: %d workers x %d threads, data in %s\n", BO_VERSION,
		d->cfg.workers, d->cfg.threads_per_worker, d->cfg.data_dir);
	printf("brownoutd: listening on http://%s:%d/\n", d->cfg.listen_host, port);
	fflush(stdout);
	served = 1;
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "brownoutd: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	atomic_store(&d->stopping, 1);
	rc = 0;
out:
	atomic_store(&d->stopping, 1);
	/* its workers first (scancel, tokens revoked), while the store is open */
	bd_slurm_stop(d->slurm);
	d->slurm = NULL;
	bd_http_stop(d);
	if (d->exec.ops) {
		if (exec_started)
			d->exec.ops->stop(d->exec.impl);
		d->exec.ops->free(d->exec.impl);
	}
	bd_remote_free(d->remote);
	bd_store_close(d->store);
	free(d->live.jobs);
	free(d);
	if (rc == 0 && served)
		fprintf(stderr, "brownoutd: stopped\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "user") && !strcmp(argv[2], "add"))
		return cmd_token(argc - 2, argv + 2, 1);
	if (argc >= 3 && !strcmp(argv[1], "token") && !strcmp(argv[2], "create"))
		return cmd_token(argc - 2, argv + 2, 0);
	if (argc >= 2 && (!strcmp(argv[1], "user") || !strcmp(argv[1], "token"))) {
		usage(stderr);
		return 2;
	}
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc - 1, argv + 1);
	return serve(argc, argv);
}

/* brownoutd configuration (config.c): every key with its default, read
 * from "key = value" files and flags through one table. */
#ifndef BO_CONFIG_H
#define BO_CONFIG_H

#include <stdint.h>

#include <brownout/status.h>

#define BO_MAX_ROOTS 16
#define BO_MAX_PROXIES 16
#define BO_ADDR_TEXT 48              /* an IPv4 or IPv6 address as text */
/* the SLURM launcher's batch script (slurm-template) when none is given;
 * a relative default is also looked for next to the binary (slurm.c) */
#define BO_SLURM_TEMPLATE "deploy/slurm/brownout-worker.sbatch"

/* ---- configuration ---- */

struct bd_config {
	char listen_host[64];     /* "127.0.0.1" */
	int listen_port;          /* 8080; 0 = any free port */
	char data_dir[1024];      /* "./var" */
	char web_dir[1024];       /* "web" */
	int workers;              /* default: number of cores */
	int threads_per_worker;   /* default 1 */
	int64_t upload_limit;     /* bytes, default 512 MiB */
	int n_roots;
	char roots[BO_MAX_ROOTS][1024]; /* allowed dataset roots (real paths) */
	int public_read;
	int http_threads;         /* libmicrohttpd's thread pool, default 4 */
	int connection_timeout;   /* seconds, default 30 */
	int per_ip_limit;         /* connections per IP, default 64 */
	int max_connections;      /* all connections together, default 512 */
	int header_timeout;       /* seconds to send a request's header, default 10 */
	int n_trusted;            /* proxies whose X-Forwarded-For is believed */
	char trusted[BO_MAX_PROXIES][BO_ADDR_TEXT];
	int queue_limit;          /* queued + running jobs, default 1000 */
	int64_t reserve_bytes;    /* DATA/space-reserve, spent on deletes when the
				   * disk is full; default 4 MiB, 0: none */
	int64_t dataset_max_images; /* images per dataset, default 10,000,000 */
	int64_t dataset_max_bytes;  /* uncompressed bytes per dataset, 0: 4 x upload_limit */
	/* per user, admins included (api_common.c: quotas; jobs.c: task plan) */
	int user_queued_jobs;     /* queued + running jobs of one user, default 100 */
	int64_t user_queued_trials; /* trials those jobs plan, default 10,240,000 */
	int64_t user_stored_bytes; /* uploads + estimated result rows, default 4 GiB */
	int job_max_tasks;        /* tasks one job is stored as, default 4096 */
	int lease_seconds;        /* a remote worker's claim without heartbeats, default 60 */
	/* executors (slurm.c): the local pool always (workers may be 0), and
	 * with executor = slurm the SLURM launcher beside it */
	int executor;             /* BO_EXECUTOR_LOCAL (default) | BO_EXECUTOR_SLURM */
	int workers_given;        /* workers was set (executor = slurm: default 0) */
	char slurm_partition[64]; /* "": the cluster's default */
	char slurm_account[64];   /* "": the user's default */
	char slurm_time[32];      /* --time of a worker, "": the partition's default */
	int slurm_cpus;           /* --cpus-per-task and worker threads, default 1 */
	int slurm_max_workers;    /* workers pending + running at most, default 4 */
	char slurm_template[1024]; /* the batch script, default deploy/slurm/brownout-worker.sbatch */
	char slurm_server_url[512]; /* how workers reach brownoutd, "": http://HOST:PORT */
	int slurm_poll;           /* seconds between looks at queue and squeue, default 5 */
};
enum { BO_EXECUTOR_LOCAL, BO_EXECUTOR_SLURM };

void bd_config_defaults(struct bd_config *c);
/* Read "key = value" lines (# comments); keys are the long flag names.
 * BO_OK, or the first error with a message naming file and line in err. */
bo_status bd_config_file(struct bd_config *c, const char *path, struct bo_error *err);
/* Apply one option (as from a flag or the file): BO_OK, or an error
 * naming the key (BO_EINVAL, BO_ELIMIT, BO_ENOENT). */
bo_status bd_config_set(struct bd_config *c, const char *key, const char *value, struct bo_error *err);

#endif

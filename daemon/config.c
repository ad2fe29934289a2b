/* brownoutd configuration: defaults, "key = value" files, flags.
 *
 * Every key of the file is the long name of a flag (listen, data, workers,
 * threads-per-worker, upload-limit, dataset-root, public-read, web,
 * http-threads, connection-timeout, per-ip-limit, max-connections,
 * header-timeout, trusted-proxy, queue-limit, reserve-bytes,
 * dataset-max-images, dataset-max-bytes, user-queued-jobs,
 * user-queued-trials, user-stored-bytes, job-max-tasks, lease-seconds,
 * executor and the slurm-* keys of slurm.c), so the
 * file and the command line say the same things; flags given after
 * --config override the file. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brownoutd.h"
#include "jobs.h"

void bd_config_defaults(struct bd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 8080;
	snprintf(c->data_dir, sizeof(c->data_dir), "./var");
	snprintf(c->web_dir, sizeof(c->web_dir), "web");
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->workers = n > 0 ? (int)n : 1;
	c->threads_per_worker = 1;
	c->upload_limit = (int64_t)512 << 20;
	c->http_threads = 4;
	c->connection_timeout = 30;
	c->per_ip_limit = 64;
	c->max_connections = 512;
	c->header_timeout = 10;
	c->queue_limit = 1000;
	c->reserve_bytes = (int64_t)4 << 20;
	c->dataset_max_images = 10000000;
	c->dataset_max_bytes = 0; /* 4 x upload_limit */
	c->user_queued_jobs = 100;
	c->user_queued_trials = (int64_t)BO_MAX_POINTS * BO_TRIAL_CAP; /* one largest job */
	c->user_stored_bytes = (int64_t)4 << 30;
	c->job_max_tasks = 4096;
	c->lease_seconds = 60;
	c->slurm_cpus = 1;
	c->slurm_max_workers = 4;
	snprintf(c->slurm_template, sizeof(c->slurm_template), "%s", BO_SLURM_TEMPLATE);
	c->slurm_poll = 5;
}

/* slurm-partition, -account, -time: passed to sbatch as one --key=value
 * argument each (no shell); what SLURM's names and times are made of */
static bo_status slurm_word(char *dst, size_t size, const char *key, const char *v, const char *chars,
		      struct bo_error *err)
{
	if (strlen(v) >= size || strspn(v, chars) != strlen(v)) {
		bo_error_set(err, BO_EINVAL, "%s: '%.60s' must be at most %zu of %s", key, v, size - 1,
			chars);
		snprintf(err->field, sizeof(err->field), "%s", key);
		return err->status;
	}
	snprintf(dst, size, "%s", v);
	return BO_OK;
}

static bo_status int_value(const char *key, const char *v, long long lo, long long hi, long long *out,
		     struct bo_error *err)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	/* sizes may carry a K, M or G suffix */
	if (end != v && !errno && (*end == 'K' || *end == 'M' || *end == 'G') && !end[1]) {
		int sh = *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
		if (x < 0 || x > (LLONG_MAX >> sh))
			errno = ERANGE; /* and no shift: it would overflow */
		else
			x *= 1LL << sh;
		end++;
	}
	if (end == v || *end || errno || x < lo || x > hi) {
		bo_error_set(err, BO_EINVAL, "%s must be an integer in [%lld, %lld], not '%s'", key, lo, hi,
			v);
		snprintf(err->field, sizeof(err->field), "%s", key);
		return err->status;
	}
	*out = x;
	return BO_OK;
}

static bo_status copy(char *dst, size_t size, const char *key, const char *v, struct bo_error *err)
{
	if (strlen(v) >= size) {
		bo_error_set(err, BO_EINVAL, "%s is too long", key);
		return err->status;
	}
	snprintf(dst, size, "%s", v);
	return BO_OK;
}

/* trusted-proxy: IPv4 or IPv6 addresses, separated by commas or spaces
 * (and the key may be repeated); kept as text in canonical form. */
static bo_status trusted_proxies(struct bd_config *c, const char *v, struct bo_error *err)
{
	char one[BO_ADDR_TEXT + 16];
	int n = 0;
	while (*v) {
		size_t k = strcspn(v, ", \t");
		if (k == 0) {
			v++;
			continue;
		}
		unsigned char bin[16];
		if (k >= sizeof(one))
			return bo_error_set(err, BO_EINVAL, "trusted-proxy: '%.60s' is not an address", v);
		memcpy(one, v, k);
		one[k] = 0;
		int fam = inet_pton(AF_INET, one, bin) == 1  ? AF_INET :
			  inet_pton(AF_INET6, one, bin) == 1 ? AF_INET6 :
							       0;
		if (!fam)
			return bo_error_set(err, BO_EINVAL,
				       "trusted-proxy: '%s' is not an IPv4 or IPv6 address", one);
		if (c->n_trusted == BO_MAX_PROXIES)
			return bo_error_set(err, BO_ELIMIT, "at most %d trusted proxies", BO_MAX_PROXIES);
		inet_ntop(fam, bin, c->trusted[c->n_trusted++], BO_ADDR_TEXT);
		v += k;
		n++;
	}
	if (!n)
		return bo_error_set(err, BO_EINVAL, "trusted-proxy: no address given");
	return BO_OK;
}

bo_status bd_config_set(struct bd_config *c, const char *key, const char *v, struct bo_error *err)
{
	long long x;
	if (!strcmp(key, "listen")) {
		/* HOST:PORT, or :PORT, or PORT */
		const char *colon = strrchr(v, ':');
		const char *port = colon ? colon + 1 : v;
		char host[64] = "127.0.0.1";
		if (colon && colon > v) {
			if ((size_t)(colon - v) >= sizeof(host))
				return bo_error_set(err, BO_EINVAL, "listen: host too long");
			memcpy(host, v, (size_t)(colon - v));
			host[colon - v] = 0;
		}
		if (int_value("listen port", port, 0, 65535, &x, err))
			return err->status;
		snprintf(c->listen_host, sizeof(c->listen_host), "%s", host);
		c->listen_port = (int)x;
		return BO_OK;
	}
	if (!strcmp(key, "data"))
		return copy(c->data_dir, sizeof(c->data_dir), key, v, err);
	if (!strcmp(key, "web"))
		return copy(c->web_dir, sizeof(c->web_dir), key, v, err);
	if (!strcmp(key, "dataset-root")) {
		char real[PATH_MAX];
		if (c->n_roots == BO_MAX_ROOTS)
			return bo_error_set(err, BO_ELIMIT, "at most %d dataset roots", BO_MAX_ROOTS);
		if (!realpath(v, real))
			return bo_error_set(err, BO_ENOENT, "dataset root '%s': %s", v, strerror(errno));
		return copy(c->roots[c->n_roots++], sizeof(c->roots[0]), key, real, err);
	}
	if (!strcmp(key, "trusted-proxy"))
		return trusted_proxies(c, v, err);
	if (!strcmp(key, "executor")) {
		static const struct { const char *name; int id; } executors[] = {
			{ "local", BO_EXECUTOR_LOCAL },
			{ "slurm", BO_EXECUTOR_SLURM },
		};
		for (size_t i = 0; i < sizeof(executors) / sizeof(executors[0]); i++)
			if (!strcmp(v, executors[i].name)) {
				c->executor = executors[i].id;
				return BO_OK;
			}
		return bo_error_set(err, BO_EINVAL, "executor must be local or slurm, not '%.60s'", v);
	}
	if (!strcmp(key, "slurm-partition") || !strcmp(key, "slurm-account"))
		return slurm_word(key[6] == 'p' ? c->slurm_partition : c->slurm_account,
				  sizeof(c->slurm_partition), key, v,
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-,",
				  err);
	if (!strcmp(key, "slurm-time"))
		return slurm_word(c->slurm_time, sizeof(c->slurm_time), key, v, "0123456789:-",
				  err);
	if (!strcmp(key, "slurm-template"))
		return copy(c->slurm_template, sizeof(c->slurm_template), key, v, err);
	if (!strcmp(key, "slurm-server-url")) {
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			return bo_error_set(err, BO_EINVAL, "slurm-server-url must begin with http:// or"
				       " https://, not '%.60s'", v);
		if (strpbrk(v, " \t\r\n\"'"))
			return bo_error_set(err, BO_EINVAL, "slurm-server-url: no spaces or quotes");
		return copy(c->slurm_server_url, sizeof(c->slurm_server_url), key, v, err);
	}
	if (!strcmp(key, "public-read")) {
		if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
			c->public_read = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
			c->public_read = 0;
		else
			return bo_error_set(err, BO_EINVAL, "public-read must be true or false");
		return BO_OK;
	}
	struct {
		const char *key;
		long long lo, hi;
		int *i;
		int64_t *l;
	} ints[] = {
		{ "workers", 0, 256, &c->workers, NULL },
		{ "lease-seconds", 1, 86400, &c->lease_seconds, NULL },
		{ "slurm-cpus-per-worker", 1, 1024, &c->slurm_cpus, NULL },
		{ "slurm-max-workers", 1, 10000, &c->slurm_max_workers, NULL },
		{ "slurm-poll", 1, 3600, &c->slurm_poll, NULL },
		{ "threads-per-worker", 1, 256, &c->threads_per_worker, NULL },
		{ "http-threads", 1, 256, &c->http_threads, NULL },
		{ "connection-timeout", 1, 3600, &c->connection_timeout, NULL },
		{ "per-ip-limit", 1, 100000, &c->per_ip_limit, NULL },
		{ "max-connections", 1, 100000, &c->max_connections, NULL },
		{ "header-timeout", 1, 3600, &c->header_timeout, NULL },
		{ "queue-limit", 1, 1000000, &c->queue_limit, NULL },
		{ "upload-limit", 1024, (long long)1 << 40, NULL, &c->upload_limit },
		{ "reserve-bytes", 0, (long long)1 << 30, NULL, &c->reserve_bytes },
		{ "dataset-max-images", 1, 1000000000, NULL, &c->dataset_max_images },
		{ "dataset-max-bytes", 1024, (long long)1 << 42, NULL, &c->dataset_max_bytes },
		{ "user-queued-jobs", 1, 1000000, &c->user_queued_jobs, NULL },
		{ "user-queued-trials", 1, (long long)1 << 40, NULL, &c->user_queued_trials },
		{ "user-stored-bytes", 0, (long long)1 << 50, NULL, &c->user_stored_bytes },
		/* a job still gets one task per point and per reference at least */
		{ "job-max-tasks", 1, 1000000, &c->job_max_tasks, NULL },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (strcmp(key, ints[i].key))
			continue;
		if (int_value(key, v, ints[i].lo, ints[i].hi, &x, err))
			return err->status;
		if (ints[i].i == &c->workers)
			c->workers_given = 1;
		if (ints[i].i)
			*ints[i].i = (int)x;
		else
			*ints[i].l = x;
		return BO_OK;
	}
	bo_error_set(err, BO_EINVAL, "unknown option '%s'", key);
	snprintf(err->field, sizeof(err->field), "%s", key);
	return err->status;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

bo_status bd_config_file(struct bd_config *c, const char *path, struct bo_error *err)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0;
	bo_status rc = BO_OK;
	if (!f) {
		bo_error_set(err, BO_ENOENT, "cannot open configuration %s: %s", path, strerror(errno));
		return err->status;
	}
	while (fgets(line, sizeof(line), f)) {
		n++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = bo_error_set(err, BO_EMALFORMED, "%s:%d: expected 'key = value'", path, n);
			break;
		}
		*eq = 0;
		char *key = trim(s), *val = trim(eq + 1);
		if ((rc = bd_config_set(c, key, val, err))) {
			char msg[BO_ERROR_TEXT];
			snprintf(msg, sizeof(msg), "%s", err->text);
			snprintf(err->text, sizeof(err->text), "%.100s:%d: %.200s", path, n, msg);
			break;
		}
	}
	fclose(f);
	return rc;
}

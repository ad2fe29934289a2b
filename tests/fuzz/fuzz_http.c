/* Fuzz target: brownoutd's HTTP request path (daemon/http.c, api.c and
 * what they call: URL, query, headers, authentication, JSON bodies,
 * uploads, multipart) through libmicrohttpd, as a client reaches it.
 *
 * Design. LLVMFuzzerInitialize starts the real HTTP layer once per process
 * (bd_http_start, loopback, any free port) on a store in a fresh temporary
 * data directory (under /dev/shm when there is one: SQLite commits on
 * every write), with two users, a static directory of one file and one
 * dataset root holding a tiny IDX dataset. The executor is a stub: jobs
 * are queued in the store but never run, so one input costs one request.
 * Every input is sent as the raw bytes of one TCP connection: connect,
 * write everything (reading whatever comes back meanwhile), shut down the
 * write side, read the answer until the daemon closes. A connection that
 * is not closed within BO_FUZZ_HTTP_DEADLINE seconds aborts (a hang is a
 * finding too); the client side resets its end (SO_LINGER 0) so that
 * millions of connections leave no TIME_WAIT behind.
 *
 * Tokens are random, so inputs name them by placeholder, replaced before
 * sending: @TOKEN@ (user "fuzz"), @ADMIN@ (user "root", an administrator)
 * and @ROOT@ (the dataset root's path, for registration by path).
 * Everything is removed at exit, and directories that crashed runs left
 * are removed at the next start. No hook in http.c is needed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "route.h"

#define BO_FUZZ_HTTP_DEADLINE 20

extern const char bd_openapi_yaml[];
extern const unsigned long bd_openapi_yaml_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bd_daemon *D;
static int port;
static char dir[256], root[300];
static char token[BO_TOKEN_SIZE + 1], admin[BO_TOKEN_SIZE + 1];

static bo_status stub_start(void *impl, struct bd_daemon *d, struct bo_error *err)
{
	return BO_OK;
}
static void stub_wake(void *impl)
{
}
static void stub_cancel(void *impl, int64_t job)
{
}
static void stub_stop(void *impl)
{
}
static void stub_free(void *impl)
{
}
static const struct bd_executor_ops stub_ops = {
	"fuzz", stub_start, stub_wake, stub_cancel, stub_stop, stub_free,
};

static void die(const char *what, const struct bo_error *err)
{
	char msg[512];
	fprintf(stderr, "fuzz_http: %s: %s\n", what,
		err ? bo_error_format(err, msg, sizeof(msg)) : strerror(errno));
	abort();
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f))
		die(path, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	if (!D)
		return;
	bd_http_stop(D);
	if (getenv("BO_FUZZ_HTTP_STATS")) /* which answers the inputs got */
		for (int i = 0; i < 600; i++)
			if (atomic_load(&D->requests[i]))
				fprintf(stderr, "fuzz_http: %d: %lld\n", i,
					(long long)atomic_load(&D->requests[i]));
	bd_store_close(D->store);
	pthread_mutex_destroy(&D->live.mu);
	free(D->live.jobs);
	free(D);
	D = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A crash leaves its directory behind: remove those of processes gone
 * (the name holds the pid of the process that made it). */
static void sweep_stale(const char *base)
{
	DIR *dp = opendir(base);
	struct dirent *e;
	while (dp && (e = readdir(dp))) {
		char path[512];
		long pid;
		if (sscanf(e->d_name, "bo-fuzz-http-%ld-", &pid) != 1 || pid <= 0 ||
		    !kill((pid_t)pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	if (dp)
		closedir(dp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bo_error err;
	char path[1100];
	const char *base = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";
	bo_error_clear(&err);
	signal(SIGPIPE, SIG_IGN);
	sweep_stale(base);
	snprintf(dir, sizeof(dir), "%s/bo-fuzz-http-%ld-XXXXXX", base, (long)getpid());
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	if (!(D = calloc(1, sizeof(*D))))
		die("calloc", NULL);
	atexit(cleanup);
	bd_config_defaults(&D->cfg);
	snprintf(D->cfg.listen_host, sizeof(D->cfg.listen_host), "127.0.0.1");
	D->cfg.listen_port = 0;
	snprintf(D->cfg.data_dir, sizeof(D->cfg.data_dir), "%s/data", dir);
	snprintf(D->cfg.web_dir, sizeof(D->cfg.web_dir), "%s/web", dir);
	snprintf(root, sizeof(root), "%s/root", dir);
	D->cfg.n_roots = 1;
	snprintf(D->cfg.roots[0], sizeof(D->cfg.roots[0]), "%s", root);
	D->cfg.workers = 1;
	D->cfg.http_threads = 2;
	D->cfg.connection_timeout = 5;
	D->cfg.upload_limit = 1 << 20;
	D->started = bd_now();
	D->routes = bd_api_routes;
	D->openapi = bd_openapi_yaml;
	D->openapi_len = bd_openapi_yaml_len;
	D->exec.ops = &stub_ops;
	pthread_mutex_init(&D->live.mu, NULL);
	if (mkdir(D->cfg.data_dir, 0700) || mkdir(D->cfg.web_dir, 0700) || mkdir(root, 0700))
		die("mkdir", NULL);
	snprintf(path, sizeof(path), "%s/index.html", D->cfg.web_dir);
	write_file(path, "<!doctype html><title>fuzz</title>\n", 35);
	/* a 2-image 2x2 IDX dataset under the root */
	static const unsigned char img[] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
					     0, 64, 128, 255, 1, 2, 3, 4 };
	static const unsigned char lab[] = { 0, 0, 8, 1, 0, 0, 0, 2, 3, 7 };
	snprintf(path, sizeof(path), "%s/mnist", root);
	if (mkdir(path, 0700))
		die("mkdir", NULL);
	snprintf(path, sizeof(path), "%s/mnist/t10k-images-idx3-ubyte", root);
	write_file(path, img, sizeof(img));
	snprintf(path, sizeof(path), "%s/mnist/t10k-labels-idx1-ubyte", root);
	write_file(path, lab, sizeof(lab));
	snprintf(path, sizeof(path), "%s/brownout.db", D->cfg.data_dir);
	if (bd_store_open(path, D->cfg.http_threads + 2, &D->store, &err))
		die("store", &err);
	if (bd_user_add(D->store, "fuzz", 0, token, sizeof(token), &err) ||
	    bd_user_add(D->store, "root", 1, admin, sizeof(admin), &err))
		die("users", &err);
	if (bd_http_start(D, &port, &err))
		die("http", &err);
	return 0;
}

/* The input with its placeholders replaced, into a malloc'd buffer. */
static char *expand(const uint8_t *data, size_t size, size_t *out_len)
{
	static const struct {
		const char *name;
		const char *value;
	} subst[] = { { "@TOKEN@", token }, { "@ADMIN@", admin }, { "@ROOT@", root } };
	size_t cap = size + 1, n = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	for (size_t i = 0; i < size;) {
		size_t k = 0;
		for (; k < sizeof(subst) / sizeof(subst[0]); k++) {
			size_t len = strlen(subst[k].name);
			if (size - i >= len && !memcmp(data + i, subst[k].name, len))
				break;
		}
		const char *add = (const char *)data + i;
		size_t add_len = 1, skip = 1;
		if (k < sizeof(subst) / sizeof(subst[0])) {
			add = subst[k].value;
			add_len = strlen(add);
			skip = strlen(subst[k].name);
		}
		if (n + add_len >= cap) {
			cap = 2 * cap + add_len;
			if (!(out = realloc(out, cap)))
				abort();
		}
		memcpy(out + n, add, add_len);
		n += add_len;
		i += skip;
	}
	*out_len = n;
	return out;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, sent = 0;
	char *req = expand(data, size, &len), buf[16384];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct linger lg = { 1, 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("socket", NULL);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
		die("connect", NULL);
	double deadline = now() + BO_FUZZ_HTTP_DEADLINE, quiet = 0;
	int wr_open = 1, got = 0;
	for (;;) {
		/* Shut the write side once the answer has begun, or once
		 * everything is sent and nothing comes for a moment (an
		 * incomplete request): libmicrohttpd reads an EOF that arrives
		 * together with a complete request as nothing and keeps the
		 * connection until its timeout. */
		if (wr_open && sent == len && !quiet)
			quiet = now() + 0.02;
		if (wr_open && sent == len && (got || now() >= quiet)) {
			shutdown(fd, SHUT_WR);
			wr_open = 0;
		}
		struct pollfd p = { fd, (short)(POLLIN | (wr_open && sent < len ? POLLOUT : 0)), 0 };
		double left = (wr_open && sent == len ? quiet : deadline) - now();
		if (left <= 0 && wr_open && sent == len)
			continue; /* time to shut the write side */
		if (left <= 0) {
			fprintf(stderr, "fuzz_http: no end of the answer in %d s\n",
				BO_FUZZ_HTTP_DEADLINE);
			abort();
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", NULL);
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = recv(fd, buf, sizeof(buf), 0);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
				break; /* the daemon closed (or reset) the connection */
			got |= k > 0;
		}
		if (wr_open && (p.revents & POLLOUT)) {
			ssize_t k = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR)
				wr_open = 0; /* it stopped reading: read what it says */
		}
	}
	close(fd);
	free(req);
	return 0;
}

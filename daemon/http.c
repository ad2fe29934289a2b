/* brownoutd HTTP: libmicrohttpd (0.9.75) glue.
 *
 * Design. libmicrohttpd runs its own thread pool over epoll; this file
 * turns its access-handler protocol (one call with the headers, calls with
 * body chunks, a final call with none) into whole requests for the
 * route table (api.c, matched by route.c):
 *
 *  - first call: a struct bd_req is made for the connection; the token is
 *    checked and Content-Length compared with the caps, so a 401 or 413 is
 *    answered before any of the body is read;
 *  - body calls: JSON bodies are collected in memory (capped at
 *    BO_JSON_BODY_MAX), uploads are streamed into temporary files under
 *    DATA/tmp while their SHA-256 is computed (a raw body for models,
 *    multipart/form-data fields for datasets, through MHD's post processor);
 *    over-long bodies are read and dropped, then answered 413;
 *  - final call: the upload files are fsync'd and the handler runs.
 *
 * Handlers never evaluate or wait on long work: they read or write the
 * store (short transactions) and answer; sweeps are queued for the pool.
 * When the request ends, temporary files a handler did not adopt (rename
 * into place) are removed. Everything else (web/) is served as static files
 * with a MIME type from the extension, a Content-Security-Policy, and no
 * way out of the web directory.
 *
 * Before any of that, the first call refuses what a proxy in front might
 * read differently (Content-Length twice, or with Transfer-Encoding), URL
 * paths over 1023 bytes (414), and a client with too many requests in
 * flight (429; see "connections" below). HEAD on /api/v1 and /metrics is
 * handled as GET; MHD sends the headers only. A reply queued in the first
 * call, before the body was read, closes the connection. Error messages
 * name an upload as "the upload", never by its temporary file.
 *
 * Connections. MHD caps them in all (max-connections) but has no deadline
 * for a request's header: every byte resets its idle timeout, so a client
 * trickling header bytes would hold its connection for ever. So every
 * connection is tracked from MHD's "started" notification to its "closed"
 * one: its socket, its peer's address, and since when a header is awaited
 * (its accept, or the end of its previous request: a keep-alive connection
 * idles at most as long). A reaper thread shutdown()s the socket of a
 * connection whose header is late (header-timeout); MHD then reads end of
 * file and closes it. MHD notifies "closed" before it close()s the socket,
 * and the entry leaves the list under the mutex the reaper holds while it
 * calls shutdown(), so a socket number MHD closed (and may reuse) is never
 * touched. Near max-connections, each new connection cuts the one that
 * has awaited a header longest, so that silent connections from many
 * addresses cannot fill the server until the deadline; connections with a
 * request in progress are never cut. The same notifications count
 * connections per peer address (per-ip-limit; a trusted proxy is exempt,
 * it carries many clients), and
 * the first call counts requests in flight per client address, the client
 * being named by X-Forwarded-For when the peer is a trusted proxy: behind
 * a proxy that is the per-client cap; for a direct peer the connection cap
 * binds first. Both tables have max-connections slots, as many addresses
 * as can be connected at once. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "route.h"
#include "datadir.h"

#define MAX_UPLOADS 4
#define MAX_HEADERS 8

struct upload {
	char field[32];        /* "" for a raw body */
	char path[1200];
	int fd;
	int64_t size;
	struct bd_sha256 hash;
	char sha256[65];
	int adopted;
};

struct bd_req {
	struct bd_daemon *d;
	struct MHD_Connection *conn;
	char method[16];
	char path[1024];
	struct bd_route_found found; /* its route (API paths), looked up in the first call */
	enum bd_body kind;      /* how its body arrives */
	char *body;
	size_t len, cap;
	int too_large;          /* body over its cap: answer 413 at the end */
	int bad_field;          /* multipart field we do not take */
	char bad_name[64];
	int io_failed;
	struct upload up[MAX_UPLOADS];
	int n_up;
	struct MHD_PostProcessor *pp;
	struct bd_user user;
	int authed;
	char hname[MAX_HEADERS][48], hval[MAX_HEADERS][256];
	int n_hdr;
	int replied;            /* a response is queued */
	int refused;            /* the first call refused it (replied, unless that failed) */
	int early;              /* in the first call: a reply closes the connection */
	int64_t uploaded;       /* bytes of all its uploads together */
	char client[BO_ADDR_TEXT]; /* the peer, or whom a trusted proxy names */
	int counted;            /* counted in the requests in flight of client */
};

struct conn {
	struct conn *prev, *next;
	int fd;
	double since;           /* a request's header awaited since */
	int in_request;         /* header complete, request not yet completed */
	int cut;                /* shut down */
	int counted;            /* counted in the connections of peer */
	char peer[BO_ADDR_TEXT];
};

struct addr_count {
	char addr[BO_ADDR_TEXT];
	int n;                  /* 0: a free slot */
};

struct bd_http {
	pthread_mutex_t mu;     /* everything below */
	pthread_cond_t cv;      /* wakes the reaper to stop */
	pthread_t reaper;
	int reaper_started, stop;
	struct conn *head;
	int n_conns;            /* in the list */
	int n_slots;
	struct addr_count *peers, *clients;
	/* libmicrohttpd's messages (mhd_log): while MHD_start_daemon runs
	 * (starting), the first one is kept for our own error, not printed */
	atomic_int starting;
	char start_msg[256];
};

double bd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- status codes ---- */

int bd_http_status(bo_status st)
{
	switch (st) {
	case BO_OK: return 200;
	case BO_ENOMEM: return 503;
	case BO_EIO: return 500;
	case BO_EMALFORMED: return 400;
	case BO_EUNSUPPORTED: return 422;
	case BO_ESHAPE: return 422;
	case BO_ELIMIT: return 413;
	case BO_EINVAL: return 400;
	case BO_ENOENT: return 404;
	case BO_ECANCELLED: return 409;
	case BO_EINTERNAL: return 500;
	case BO_EAUTH: return 401;
	case BO_EPERM: return 403;
	case BO_ECONFLICT: return 409;
	case BO_EBUSY: return 503;
	case BO_EMISMATCH: return 422;
	case BO_ENOSPC: return 507;
	case BO_EQUOTA: return 429;
	default: return 500;
	}
}

/* ---- accessors ---- */

const char *bd_req_method(const struct bd_req *r)
{
	return r->method;
}

const char *bd_req_path(const struct bd_req *r)
{
	return r->path;
}

const char *bd_req_query(const struct bd_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *bd_req_header(const struct bd_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

const struct bd_user *bd_req_user(const struct bd_req *r)
{
	return r->authed ? &r->user : NULL;
}

const char *bd_req_body(const struct bd_req *r, size_t *len)
{
	*len = r->len;
	return r->body ? r->body : "";
}

const char *bd_req_upload(struct bd_req *r, const char *field, int64_t *size, const char **sha256)
{
	for (int i = 0; i < r->n_up; i++) {
		struct upload *u = &r->up[i];
		if (strcmp(u->field, field ? field : ""))
			continue;
		if (size)
			*size = u->size;
		if (sha256)
			*sha256 = u->sha256;
		return u->path;
	}
	return NULL;
}

void bd_req_adopt(struct bd_req *r, const char *field)
{
	for (int i = 0; i < r->n_up; i++)
		if (!strcmp(r->up[i].field, field ? field : ""))
			r->up[i].adopted = 1;
}

/* ---- replies ---- */

void bd_reply_header(struct bd_req *r, const char *name, const char *value)
{
	if (r->n_hdr < MAX_HEADERS) {
		snprintf(r->hname[r->n_hdr], sizeof(r->hname[0]), "%s", name);
		snprintf(r->hval[r->n_hdr], sizeof(r->hval[0]), "%s", value);
		r->n_hdr++;
	}
}

static int queue(struct bd_req *r, int status, struct MHD_Response *resp, const char *type)
{
	if (!resp)
		return -1;
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->early) /* the body was not read: it must not be taken for a request */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	for (int i = 0; i < r->n_hdr; i++)
		MHD_add_response_header(resp, r->hname[i], r->hval[i]);
	enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	r->replied = ok == MHD_YES;
	if (status >= 100 && status < 600)
		atomic_fetch_add(&r->d->requests[status], 1);
	return ok == MHD_YES ? 0 : -1;
}

int bd_reply_text(struct bd_req *r, int status, const char *type, const char *text, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	return queue(r, status, resp, type);
}

int bd_reply_file(struct bd_req *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return bd_reply_fail(r, BO_ENOENT, NULL, "the file is gone");
	}
	/* MHD_create_response_from_fd64 takes the fd (closed with the response) */
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	}
	return queue(r, 200, resp, "application/octet-stream");
}

int bd_reply_json(struct bd_req *r, int status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(body);
	if (!s && status != 204 && status != 304)
		return bd_reply_text(r, 503, "application/json",
				     "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
				     "memory\",\"field\":null}}",
				     78);
	size_t n = s ? strlen(s) : 0;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(n, s ? s : (void *)"", s ? MHD_RESPMEM_MUST_FREE :
									  MHD_RESPMEM_PERSISTENT);
	if (!resp)
		free(s);
	return queue(r, status, resp, s ? "application/json" : NULL);
}

/* Replace each `from` in text (of size bytes) with `to`. */
static void replace_all(char *text, size_t size, const char *from, const char *to)
{
	char out[BO_ERROR_TEXT * 2];
	size_t nf = strlen(from), k = 0;
	const char *p = text, *hit;
	if (!nf || !strstr(text, from))
		return;
	while (k + 1 < sizeof(out) && (hit = strstr(p, from))) {
		int w = snprintf(out + k, sizeof(out) - k, "%.*s%s", (int)(hit - p), p, to);
		k = w < 0 || (size_t)w >= sizeof(out) - k ? sizeof(out) - 1 : k + (size_t)w;
		p = hit + nf;
	}
	if (k + 1 < sizeof(out))
		snprintf(out + k, sizeof(out) - k, "%s", p);
	snprintf(text, size, "%s", out);
}

int bd_reply_error(struct bd_req *r, const struct bo_error *err)
{
	bo_status st = err->status ? err->status : BO_EINTERNAL;
	char text[BO_ERROR_TEXT * 2], field[sizeof(err->field)];
	json_t *e = json_object(), *j = json_object();
	/* the text names the problem; file paths of the server stay out of it */
	snprintf(text, sizeof(text), "%s", err->text[0] ? err->text : bo_strerror(st));
	snprintf(field, sizeof(field), "%s", err->field);
	if (err->node[0]) {
		size_t k = strlen(text);
		snprintf(text + k, sizeof(text) - k, " (node '%s'%s%s%s)", err->node,
			 err->op[0] ? ", " : "", err->op, "");
	}
	if (err->offset >= 0) {
		size_t k = strlen(text);
		snprintf(text + k, sizeof(text) - k, " at byte %lld", (long long)err->offset);
	}
	/* an upload's temporary file (libraries like zlib name it) is "the
	 * upload", and the form field it came in names it in `field` */
	for (int i = 0; i < r->n_up; i++) {
		const struct upload *u = &r->up[i];
		char what[64];
		snprintf(what, sizeof(what), "the upload%s%s%s", u->field[0] ? " '" : "", u->field,
			 u->field[0] ? "'" : "");
		if (!field[0] && u->field[0] && !strcmp(err->file, u->path))
			snprintf(field, sizeof(field), "%s", u->field);
		replace_all(text, sizeof(text), u->path, what);
	}
	json_object_set_new(e, "code", json_string(bo_status_name(st)));
	json_object_set_new(e, "message", json_string(text));
	json_object_set_new(e, "field", field[0] ? json_string(field) : json_null());
	json_object_set_new(j, "error", e);
	if (st == BO_EAUTH)
		bd_reply_header(r, "WWW-Authenticate", "Bearer realm=\"brownout\"");
	return bd_reply_json(r, bd_http_status(st), j);
}

int bd_reply_fail(struct bd_req *r, bo_status st, const char *field, const char *fmt, ...)
{
	struct bo_error err;
	va_list ap;
	bo_error_clear(&err);
	va_start(ap, fmt);
	bo_error_vset(&err, st, fmt, ap);
	va_end(ap);
	if (field)
		snprintf(err.field, sizeof(err.field), "%s", field);
	return bd_reply_error(r, &err);
}

/* 405 has no bo_status of its own: its code is "method_not_allowed". */
int bd_reply_405(struct bd_req *r)
{
	const char *body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
			   "\"method not allowed here\",\"field\":null}}";
	return bd_reply_text(r, 405, "application/json", body, strlen(body));
}

/* 414 likewise: its code is "uri_too_long". */
static int reply_414(struct bd_req *r)
{
	char body[160];
	int n = snprintf(body, sizeof(body),
			 "{\"error\":{\"code\":\"uri_too_long\",\"message\":\"the URL path is "
			 "over %zu bytes\",\"field\":null}}",
			 sizeof(r->path) - 1);
	return bd_reply_text(r, 414, "application/json", body, (size_t)n);
}

/* ---- uploads ---- */

static struct upload *upload_open(struct bd_req *r, const char *field)
{
	if (r->n_up == MAX_UPLOADS)
		return NULL;
	struct upload *u = &r->up[r->n_up];
	memset(u, 0, sizeof(*u));
	snprintf(u->field, sizeof(u->field), "%s", field);
	bd_data_entry(r->d->cfg.data_dir, BO_DATA_UPLOAD, u->path, sizeof(u->path));
	u->fd = mkstemp(u->path);
	if (u->fd < 0)
		return NULL;
	bd_sha256_init(&u->hash);
	r->n_up++;
	return u;
}

static int upload_write(struct bd_req *r, struct upload *u, const char *data, size_t n)
{
	/* the limit is on the request: all its parts together */
	if (r->uploaded + (int64_t)n > r->d->cfg.upload_limit) {
		r->too_large = 1;
		return 0;
	}
	bd_sha256_update(&u->hash, data, n);
	while (n > 0) {
		ssize_t w = write(u->fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->io_failed = w < 0 && (errno == ENOSPC || errno == EDQUOT) ? 3 : 1;
			return -1;
		}
		data += w;
		n -= (size_t)w;
		u->size += w;
		r->uploaded += w;
	}
	return 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct bd_req *r = cls;
	(void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
	/* MHD passes a NULL key for a part without a Content-Disposition name */
	if (!key || !*key) {
		if (!r->bad_field)
			r->bad_field = 3;
		return MHD_YES;
	}
	if (strcmp(key, "images") && strcmp(key, "labels")) {
		r->bad_field = 1;
		snprintf(r->bad_name, sizeof(r->bad_name), "%s", key);
		return MHD_YES;
	}
	struct upload *u = NULL;
	for (int i = 0; i < r->n_up; i++)
		if (!strcmp(r->up[i].field, key))
			u = &r->up[i];
	if (u && off == 0 && u->size > 0) { /* a second part of the same name */
		r->bad_field = 2;
		snprintf(r->bad_name, sizeof(r->bad_name), "%s", key);
		return MHD_YES;
	}
	if (!u && !(u = upload_open(r, key))) {
		r->io_failed = 1;
		return MHD_YES;
	}
	if (size && data)
		upload_write(r, u, data, size);
	return MHD_YES;
}

/* ---- connections: caps per address, the header deadline ---- */

/* An address as text; IPv4-mapped IPv6 addresses as IPv4. */
static void addr_text(const struct sockaddr *sa, char *out)
{
	snprintf(out, BO_ADDR_TEXT, "unknown");
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, out, BO_ADDR_TEXT);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], out, BO_ADDR_TEXT);
		else
			inet_ntop(AF_INET6, &a->sin6_addr, out, BO_ADDR_TEXT);
	}
}

/* n bytes of s (spaces around allowed) as an address in canonical text:
 * 0, or -1 when they are not one. */
static int addr_parse(const char *s, size_t n, char *out)
{
	char buf[64];
	struct in_addr a4;
	struct in6_addr a6;
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, BO_ADDR_TEXT) ? 0 : -1;
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return inet_ntop(AF_INET, &a6.s6_addr[12], out, BO_ADDR_TEXT) ? 0 : -1;
	return inet_ntop(AF_INET6, &a6, out, BO_ADDR_TEXT) ? 0 : -1;
}

static int trusted(const struct bd_config *c, const char *addr)
{
	for (int i = 0; i < c->n_trusted; i++)
		if (!strcmp(c->trusted[i], addr))
			return 1;
	return 0;
}

/* One more for addr, unless it has `limit` already or no slot is free:
 * 0, or -1. Under mu. */
static int count_add(struct addr_count *t, int n, const char *addr, int limit)
{
	struct addr_count *slot = NULL;
	for (int i = 0; i < n; i++) {
		if (t[i].n && !strcmp(t[i].addr, addr)) {
			if (t[i].n >= limit)
				return -1;
			t[i].n++;
			return 0;
		}
		if (!t[i].n && !slot)
			slot = &t[i];
	}
	if (!slot || limit < 1)
		return -1;
	snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
	slot->n = 1;
	return 0;
}

static void count_del(struct addr_count *t, int n, const char *addr)
{
	for (int i = 0; i < n; i++)
		if (t[i].n && !strcmp(t[i].addr, addr)) {
			t[i].n--;
			return;
		}
}

/* MHD_OPTION_NOTIFY_CONNECTION: track the connection from its accept to
 * its close (the socket is still open when "closed" is notified). A peer
 * over per-ip-limit, or a connection that cannot be tracked, is shut down
 * at once: MHD reads end of file and closes it. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct bd_daemon *d = cls;
	struct bd_http *h = d->http;
	struct conn *k = *socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!k)
			return;
		pthread_mutex_lock(&h->mu);
		if (k->prev)
			k->prev->next = k->next;
		else
			h->head = k->next;
		if (k->next)
			k->next->prev = k->prev;
		h->n_conns--;
		if (k->counted)
			count_del(h->peers, h->n_slots, k->peer);
		pthread_mutex_unlock(&h->mu);
		free(k);
		*socket_context = NULL;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = i ? (int)i->connect_fd : -1;
	char peer[BO_ADDR_TEXT];
	i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	addr_text(i ? i->client_addr : NULL, peer);
	if (!(k = calloc(1, sizeof(*k)))) {
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		return;
	}
	k->fd = fd;
	k->since = bd_now();
	snprintf(k->peer, sizeof(k->peer), "%s", peer);
	pthread_mutex_lock(&h->mu);
	if (!trusted(&d->cfg, peer)) {
		if (count_add(h->peers, h->n_slots, peer, d->cfg.per_ip_limit))
			k->cut = 1;
		else
			k->counted = 1;
	}
	k->next = h->head;
	if (h->head)
		h->head->prev = k;
	h->head = k;
	h->n_conns++;
	if (k->cut && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	/* Near max-connections MHD would soon stop accepting, and a flood of
	 * silent connections from many addresses would keep everybody out
	 * for header-timeout: make room by cutting the connection that has
	 * awaited a header longest (never one with a request in progress). */
	int reserve = d->cfg.max_connections / 8 > 1 ? d->cfg.max_connections / 8 : 1;
	if (!k->cut && h->n_conns > d->cfg.max_connections - reserve) {
		struct conn *old = NULL;
		for (struct conn *o = h->head; o; o = o->next)
			if (o != k && !o->in_request && !o->cut && o->fd >= 0 &&
			    (!old || o->since < old->since))
				old = o;
		if (old) {
			shutdown(old->fd, SHUT_RDWR);
			old->cut = 1;
		}
	}
	pthread_mutex_unlock(&h->mu);
	*socket_context = k;
}

/* A request's header arrived (in_request 1), or the request is over and
 * the next header is awaited from now (0). */
static void conn_mark(struct bd_daemon *d, struct MHD_Connection *c, int in_request)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = i ? i->socket_context : NULL;
	if (!k || !d->http)
		return;
	pthread_mutex_lock(&d->http->mu);
	k->in_request = in_request;
	k->since = bd_now();
	pthread_mutex_unlock(&d->http->mu);
}

/* Shut down connections whose header is later than header-timeout. */
static void *reaper(void *arg)
{
	struct bd_daemon *d = arg;
	struct bd_http *h = d->http;
	double limit = d->cfg.header_timeout, tick = limit / 4 < 1 ? limit / 4 : 1;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		long ns = ts.tv_nsec + (long)(tick * 1e9);
		ts.tv_sec += ns / 1000000000L;
		ts.tv_nsec = ns % 1000000000L;
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		double now = bd_now();
		for (struct conn *k = h->head; k; k = k->next)
			if (!k->in_request && !k->cut && k->fd >= 0 && now - k->since > limit) {
				shutdown(k->fd, SHUT_RDWR);
				k->cut = 1;
			}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

struct xff {
	const char *line[8]; /* the last 8 X-Forwarded-For lines */
	int n;
};

static enum MHD_Result xff_line(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct xff *x = cls;
	(void)kind;
	if (key && value && !strcasecmp(key, "X-Forwarded-For")) {
		if (x->n == 8) {
			memmove(x->line, x->line + 1, 7 * sizeof(x->line[0]));
			x->n = 7;
		}
		x->line[x->n++] = value;
	}
	return MHD_YES;
}

/* The client's address: the peer's, or through a trusted proxy the last
 * address of X-Forwarded-For that is not a trusted proxy (each proxy
 * appends its peer, so what is left of that the client may have made up).
 * Something not an address there ends the walk at the last hop known. */
static void client_of(struct bd_req *r, char *out)
{
	const struct bd_config *cfg = &r->d->cfg;
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct xff x = { .n = 0 };
	addr_text(i ? i->client_addr : NULL, out);
	if (!trusted(cfg, out))
		return;
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, xff_line, &x);
	for (int l = x.n - 1; l >= 0; l--) {
		const char *s = x.line[l];
		size_t end = strlen(s);
		for (;;) {
			size_t b = end;
			char a[BO_ADDR_TEXT];
			while (b > 0 && s[b - 1] != ',')
				b--;
			if (addr_parse(s + b, end - b, a))
				return;
			snprintf(out, BO_ADDR_TEXT, "%s", a);
			if (!trusted(cfg, a))
				return;
			if (b == 0)
				break;
			end = b - 1;
		}
	}
}

/* Count the request in its client's requests in flight: 0, or -1 when the
 * client has per-ip-limit of them already. */
static int client_count(struct bd_req *r)
{
	struct bd_http *h = r->d->http;
	int rc;
	client_of(r, r->client);
	pthread_mutex_lock(&h->mu);
	rc = count_add(h->clients, h->n_slots, r->client, r->d->cfg.per_ip_limit);
	pthread_mutex_unlock(&h->mu);
	r->counted = !rc;
	return rc;
}

static void req_free(struct bd_req *r)
{
	if (!r)
		return;
	if (r->counted) {
		pthread_mutex_lock(&r->d->http->mu);
		count_del(r->d->http->clients, r->d->http->n_slots, r->client);
		pthread_mutex_unlock(&r->d->http->mu);
	}
	if (r->pp)
		MHD_destroy_post_processor(r->pp);
	for (int i = 0; i < r->n_up; i++) {
		if (r->up[i].fd >= 0)
			close(r->up[i].fd);
		if (!r->up[i].adopted)
			unlink(r->up[i].path);
	}
	free(r->body);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	req_free(*con_cls);
	*con_cls = NULL;
	conn_mark(cls, c, 0);
}

/* ---- static files ---- */

static const char *mime_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} t[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".yaml", "application/yaml" },
		{ ".map", "application/json" },
		{ ".woff2", "font/woff2" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(dot, t[i].ext))
			return t[i].type;
	return "application/octet-stream";
}

/* A path under web/: segments of [A-Za-z0-9._-], none "." or "..", no
 * hidden files. MHD has already percent-decoded the URL. */
static int static_path_ok(const char *p)
{
	if (p[0] != '/')
		return 0;
	const char *seg = p + 1;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 && end)
			return 0;
		if (n > 0 && seg[0] == '.')
			return 0;
		for (size_t i = 0; i < n; i++) {
			char ch = seg[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
				return 0;
		}
		if (!end)
			return 1;
		seg = end + 1;
	}
}

static int serve_static(struct bd_req *r)
{
	char path[2200];
	const char *p = r->path;
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return bd_reply_405(r);
	if (!strcmp(p, "/"))
		p = "/index.html";
	if (!static_path_ok(p) || strlen(p) > 512)
		return bd_reply_fail(r, BO_ENOENT, NULL, "no such file");
	snprintf(path, sizeof(path), "%s%s", r->d->cfg.web_dir, p);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return bd_reply_fail(r, BO_ENOENT, NULL, "no such file");
	}
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	}
	bd_reply_header(r, "Content-Security-Policy",
			"default-src 'self'; img-src 'self' data:; style-src 'self'; "
			"script-src 'self'; connect-src 'self'; object-src 'none'; "
			"base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
	return queue(r, 200, resp, mime_of(path));
}

/* ---- the access handler ---- */

static int authenticate(struct bd_req *r)
{
	const char *h = bd_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	struct bo_error err;
	bo_error_clear(&err);
	/* the scheme is case-insensitive (RFC 9110, 11.1) */
	if (h && !strncasecmp(h, "Bearer", 6) && (h[6] == ' ' || h[6] == '\t')) {
		const char *t = h + 7;
		while (*t == ' ' || *t == '\t')
			t++;
		if (bd_auth_check(r->d->store, t, &r->user, &err) == BO_OK) {
			r->authed = 1;
			return 0;
		}
	}
	if (!bd_route_needs_token(&r->found, r->method, r->d->cfg.public_read))
		return 0;
	return bd_reply_fail(r, BO_EAUTH, NULL,
			     h ? "invalid token" : "this needs 'Authorization: Bearer TOKEN'"),
	       -1;
}

/* First call: check what can be checked before the body. 0 to go on
 * reading, or 1 when a reply is queued. */
static int begin(struct bd_req *r)
{
	struct bd_daemon *d = r->d;
	if (atomic_load(&d->stopping))
		return bd_reply_fail(r, BO_EBUSY, NULL, "brownoutd is shutting down"), 1;
	if (!bd_route_owns(r->path))
		return 0;
	bd_route_find(d->routes, r->method, r->path, &r->found);
	if (authenticate(r))
		return 1;
	r->kind = bd_route_body(&r->found, bd_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
	const char *cl = bd_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		long long n = strtoll(cl, &end, 10);
		int64_t cap = r->kind != BO_BODY_JSON ? d->cfg.upload_limit : BO_JSON_BODY_MAX;
		if (errno || *end || n < 0 || n > cap)
			return bd_reply_fail(r, BO_ELIMIT, NULL,
					     "the body (%s bytes) is over the limit of %lld bytes", cl,
					     (long long)cap),
			       1;
	}
	if (r->kind == BO_BODY_FILE && !upload_open(r, ""))
		return bd_reply_fail(r, errno == ENOSPC || errno == EDQUOT ? BO_ENOSPC : BO_EIO,
				     NULL, "cannot store the upload: %s", strerror(errno)),
		       1;
	if (r->kind == BO_BODY_FORM &&
	    !(r->pp = MHD_create_post_processor(r->conn, 64 * 1024, post_iter, r)))
		return bd_reply_fail(r, BO_EINVAL, NULL,
				     "expected a multipart/form-data body with fields images and "
				     "labels"),
		       1;
	return 0;
}

static void body_chunk(struct bd_req *r, const char *data, size_t n)
{
	if (r->too_large)
		return;
	if (r->kind == BO_BODY_FILE) {
		upload_write(r, &r->up[0], data, n);
	} else if (r->kind == BO_BODY_FORM) {
		if (MHD_post_process(r->pp, data, n) != MHD_YES)
			r->io_failed = 2; /* not multipart as it says */
	} else {
		if (r->len + n > BO_JSON_BODY_MAX) {
			r->too_large = 1;
			return;
		}
		if (r->len + n + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			while (cap < r->len + n + 1)
				cap *= 2;
			char *b = realloc(r->body, cap);
			if (!b) {
				r->too_large = 1;
				return;
			}
			r->body = b;
			r->cap = cap;
		}
		memcpy(r->body + r->len, data, n);
		r->len += n;
		r->body[r->len] = 0;
	}
}

static int finish(struct bd_req *r)
{
	struct bd_daemon *d = r->d;
	if (r->too_large)
		return bd_reply_fail(r, BO_ELIMIT, NULL, "the body is over the limit of %lld bytes",
				     (long long)(r->kind != BO_BODY_JSON ? d->cfg.upload_limit :
								   BO_JSON_BODY_MAX));
	/* the post processor hands over what it still holds when destroyed */
	if (r->pp) {
		if (MHD_destroy_post_processor(r->pp) != MHD_YES)
			r->io_failed = 2;
		r->pp = NULL;
	}
	if (r->io_failed == 2)
		return bd_reply_fail(r, BO_EMALFORMED, NULL,
				     "the multipart/form-data body is malformed");
	if (r->bad_field == 3)
		return bd_reply_fail(r, BO_EMALFORMED, NULL,
				     "a part of the multipart/form-data body has no "
				     "Content-Disposition with a name (send images and labels)");
	if (r->bad_field)
		return bd_reply_fail(r, BO_EINVAL, r->bad_name,
				     r->bad_field == 2 ? "form field '%s' given twice" :
							 "unknown form field '%s' (send images and labels)",
				     r->bad_name);
	for (int i = 0; i < r->n_up && !r->io_failed; i++) {
		struct upload *u = &r->up[i];
		bd_sha256_hex(&u->hash, u->sha256);
		int bad = fsync(u->fd) != 0, e = errno;
		if (close(u->fd) && !bad)
			bad = 1, e = errno;
		if (bad)
			r->io_failed = e == ENOSPC || e == EDQUOT ? 3 : 1;
		u->fd = -1;
	}
	if (r->io_failed == 3) /* ENOSPC, EDQUOT */
		return bd_reply_fail(r, BO_ENOSPC, NULL,
				     "cannot store the upload: the disk holding the data directory "
				     "is full; delete models, datasets or jobs to free space");
	if (r->io_failed)
		return bd_reply_fail(r, BO_EIO, NULL, "cannot store the upload");
	if (bd_route_owns(r->path))
		return bd_route_run(d, r, &r->found);
	return serve_static(r);
}

struct framing {
	int cl, te; /* Content-Length and Transfer-Encoding lines */
};

static enum MHD_Result framing_line(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct framing *f = cls;
	(void)kind, (void)value;
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		f->cl++;
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		f->te++;
	return MHD_YES;
}

/* First call, before begin(): what is refused whatever the path. 1 when
 * a reply is queued. */
static int screen(struct bd_req *r, const char *url)
{
	struct framing f = { 0, 0 };
	if (client_count(r)) {
		bd_reply_header(r, "Retry-After", "1");
		return bd_reply_fail(r, BO_EQUOTA, NULL,
				     "too many requests in flight from %s (the limit is %d)",
				     r->client, r->d->cfg.per_ip_limit),
		       1;
	}
	if (strlen(url) >= sizeof(r->path))
		return reply_414(r), 1;
	/* a proxy in front may read such a request differently from MHD */
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_line, &f);
	if (f.cl > 1)
		return bd_reply_fail(r, BO_EMALFORMED, NULL,
				     "Content-Length is given %d times (give it once)", f.cl),
		       1;
	if (f.cl && f.te)
		return bd_reply_fail(r, BO_EMALFORMED, NULL,
				     "both Content-Length and Transfer-Encoding are given"),
		       1;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct bd_daemon *d = cls;
	struct bd_req *r = *con_cls;
	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		r->d = d;
		r->conn = c;
		r->early = 1;
		for (int i = 0; i < MAX_UPLOADS; i++)
			r->up[i].fd = -1;
		/* HEAD is GET without the body, which MHD leaves out */
		snprintf(r->method, sizeof(r->method), "%s",
			 bd_route_owns(url) && !strcmp(method, "HEAD") ? "GET" : method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		*con_cls = r;
		conn_mark(d, c, 1);
		r->refused = screen(r, url) || begin(r);
		r->early = 0;
		return MHD_YES;
	}
	/* refused, but the reply could not be queued: never run the handler */
	if (r->refused && !r->replied)
		return MHD_NO;
	if (*upload_size) {
		if (!r->replied)
			body_chunk(r, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->replied && finish(r) && !r->replied)
		return MHD_NO;
	return MHD_YES;
}

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages as brownoutd's. A
 * failure to start (a port in use) is reported once, by bd_http_start, with
 * the reason MHD gave; later messages go to stderr with our prefix. */
static void mhd_log(void *cls, const char *fm, va_list ap)
{
	struct bd_http *h = cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fm, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	if (atomic_load(&h->starting)) {
		if (!h->start_msg[0])
			snprintf(h->start_msg, sizeof(h->start_msg), "%s", msg);
		return;
	}
	fprintf(stderr, "brownoutd: http: %s\n", msg);
}

bo_status bd_http_start(struct bd_daemon *d, int *port, struct bo_error *err)
{
	struct sockaddr_in sa;
	char tmp[1100];
	struct bd_http *h;
	pthread_condattr_t ca;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)d->cfg.listen_port);
	if (inet_pton(AF_INET, d->cfg.listen_host, &sa.sin_addr) != 1)
		return bo_error_set(err, BO_EINVAL, "listen address '%s' is not an IPv4 address",
			       d->cfg.listen_host);
	bd_data_entry(d->cfg.data_dir, BO_DATA_TMP, tmp, sizeof(tmp));
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return bo_error_set(err, BO_EIO, "cannot create %s: %s", tmp, strerror(errno));
	/* MHD shares the cap among its threads; each needs one at least */
	if (d->cfg.max_connections < d->cfg.http_threads)
		return bo_error_set(err, BO_EINVAL, "max-connections (%d) must be at least http-threads (%d)",
			       d->cfg.max_connections, d->cfg.http_threads);
	if (!(h = calloc(1, sizeof(*h))))
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->http = h; /* bd_http_stop frees it, whatever follows */
	h->n_slots = d->cfg.max_connections;
	h->peers = calloc((size_t)h->n_slots, sizeof(*h->peers));
	h->clients = calloc((size_t)h->n_slots, sizeof(*h->clients));
	if (!h->peers || !h->clients)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	atomic_store(&h->starting, 1);
	d->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, d, /* the logger first, so that it sees the start's messages */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)d->cfg.http_threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->cfg.connection_timeout,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->cfg.max_connections,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, d, MHD_OPTION_END);
	atomic_store(&h->starting, 0);
	if (!d->mhd) {
		/* "Failed to bind to port 0: Address already in use": MHD names the
		 * wrong port with MHD_OPTION_SOCK_ADDR; keep its reason only */
		const char *why = h->start_msg[0] ? h->start_msg : "in use?";
		if (!strncmp(why, "Failed to bind", 14) && strrchr(why, ':')) {
			why = strrchr(why, ':') + 1;
			while (*why == ' ')
				why++;
		}
		return bo_error_set(err, BO_EIO, "cannot listen on %s:%d: %s", d->cfg.listen_host,
			       d->cfg.listen_port, why);
	}
	if (pthread_create(&h->reaper, NULL, reaper, d))
		return bo_error_set(err, BO_ENOMEM, "cannot start a thread");
	h->reaper_started = 1;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : d->cfg.listen_port;
	return BO_OK;
}

void bd_http_stop(struct bd_daemon *d)
{
	struct bd_http *h = d->http;
	if (h && h->reaper_started) {
		pthread_mutex_lock(&h->mu);
		h->stop = 1;
		pthread_cond_signal(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->reaper, NULL);
		h->reaper_started = 0;
	}
	if (d->mhd) { /* notifies "closed" for every connection */
		MHD_stop_daemon(d->mhd);
		d->mhd = NULL;
	}
	if (!h)
		return;
	while (h->head) {
		struct conn *k = h->head;
		h->head = k->next;
		free(k);
	}
	free(h->peers);
	free(h->clients);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	d->http = NULL;
}

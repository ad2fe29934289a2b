/* brownoutd routes: matching a request against the route table (route.h).
 *
 * Patterns are whole paths split at '/'; a literal segment matches itself,
 * {id} a positive decimal id, {key} any segment of 1 to 79 bytes. Tables
 * are short (about thirty routes), so a lookup is a linear scan: every
 * pattern whose segments fit gathers its method into the Allow list, and
 * the one with the request's method is the route. A segment that would fit
 * but for an {id} that does not parse is remembered, so that
 * GET /api/v1/jobs/abc answers "'abc' is not an id" rather than "no such
 * endpoint". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "brownoutd.h"
#include "http.h"
#include "auth.h"
#include "route.h"

#define MAX_SEGS 8

int bd_route_owns(const char *path)
{
	return !strncmp(path, "/api/v1/", 8) || !strcmp(path, "/api/v1") ||
	       !strcmp(path, "/metrics");
}

static int parse_id(const char *s, size_t n, int64_t *id)
{
	char buf[24], *end;
	if (n == 0 || n >= sizeof(buf) || *s < '1' || *s > '9') /* no sign, space, leading 0 */
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (*end || errno || v < 1)
		return -1;
	*id = v;
	return 0;
}

/* Split "/a/b/c" into segment pointers and lengths; -1 when over MAX_SEGS
 * or with an empty segment inside ("/a//b"). A trailing '/' is ignored. */
static int split(const char *path, const char *seg[MAX_SEGS], size_t len[MAX_SEGS])
{
	int n = 0;
	const char *s = path;
	while (*s == '/')
		s++;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t k = e ? (size_t)(e - s) : strlen(s);
		if (n == MAX_SEGS || k == 0)
			return -1;
		seg[n] = s;
		len[n++] = k;
		if (!e)
			break;
		s = e + 1;
	}
	return n;
}

/* 1: the pattern fits (args filled); 0: it does not; -1: it fits but for
 * an {id} segment, which is copied into bad. */
static int fit(const char *pattern, const char *const seg[], const size_t len[], int n,
	       struct bd_route_args *a, char *bad, size_t bad_size)
{
	const char *ps[MAX_SEGS];
	size_t pl[MAX_SEGS];
	int m = split(pattern, ps, pl), bad_at = -1;
	if (m != n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (pl[i] == 4 && !memcmp(ps[i], "{id}", 4)) {
			if (parse_id(seg[i], len[i], &a->id) && bad_at < 0)
				bad_at = i;
		} else if (pl[i] == 5 && !memcmp(ps[i], "{key}", 5)) {
			if (len[i] >= sizeof(a->key))
				return 0;
			memcpy(a->key, seg[i], len[i]);
			a->key[len[i]] = 0;
		} else if (pl[i] != len[i] || memcmp(ps[i], seg[i], len[i])) {
			return 0;
		}
	}
	if (bad_at >= 0) {
		snprintf(bad, bad_size, "%.*s", (int)len[bad_at], seg[bad_at]);
		return -1;
	}
	return 1;
}

void bd_route_find(const struct bd_route *table, const char *method, const char *path,
		   struct bd_route_found *f)
{
	const char *seg[MAX_SEGS];
	size_t len[MAX_SEGS];
	memset(f, 0, sizeof(*f));
	f->status = BO_ROUTE_NO_PATH;
	if (!strcmp(method, "HEAD"))
		method = "GET";
	int n = split(path, seg, len);
	if (n < 0)
		return;
	for (const struct bd_route *rt = table; rt->method; rt++) {
		struct bd_route_args a = { 0 };
		char bad[sizeof(f->bad)];
		int k = fit(rt->pattern, seg, len, n, &a, bad, sizeof(bad));
		if (k < 0 && f->status == BO_ROUTE_NO_PATH) {
			f->status = BO_ROUTE_BAD_ID;
			memcpy(f->bad, bad, sizeof(bad));
		}
		if (k <= 0)
			continue;
		if (!strcmp(rt->method, method)) {
			f->route = rt;
			f->status = BO_ROUTE_OK;
			f->args = a;
			return;
		}
		/* the methods of the path, in table order, for Allow */
		if (!strstr(f->allow, rt->method)) {
			size_t used = strlen(f->allow);
			snprintf(f->allow + used, sizeof(f->allow) - used, "%s%s", used ? "," : "",
				 rt->method);
		}
		f->status = BO_ROUTE_NO_METHOD;
	}
}

int bd_route_needs_token(const struct bd_route_found *f, const char *method, int public_read)
{
	enum bd_access acc = f->route ? f->route->access : BO_ACCESS_READ;
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (acc == BO_ACCESS_PUBLIC)
		return 0;
	if (acc == BO_ACCESS_READ)
		return !(public_read && get);
	return 1;
}

enum bd_body bd_route_body(const struct bd_route_found *f, const char *content_type)
{
	if (!f->route)
		return BO_BODY_JSON;
	if (f->route->body == BO_BODY_FORM)
		return content_type && !strncasecmp(content_type, "multipart/form-data", 19) ?
			       BO_BODY_FORM :
			       BO_BODY_JSON;
	return f->route->body;
}

int bd_route_run(struct bd_daemon *d, struct bd_req *r, const struct bd_route_found *f)
{
	const struct bd_user *u = bd_req_user(r);
	enum bd_access acc = f->route ? f->route->access : BO_ACCESS_READ;
	const char *path = bd_req_path(r);
	const char *sub = !strncmp(path, "/api/v1", 7) ? path + 7 : path;
	/* a worker token calls /api/v1/worker/... only, and only it does */
	if (u && u->worker && acc != BO_ACCESS_WORKER && acc != BO_ACCESS_PUBLIC)
		return bd_reply_fail(r, BO_EPERM, NULL,
				     "a worker token may call /api/v1/worker/* only");
	if (acc == BO_ACCESS_WORKER && f->route && (!u || !u->worker || !u->id))
		return bd_reply_fail(r, BO_EPERM, NULL,
				     "only worker tokens (brownoutd token create NAME --worker) may"
				     " call /api/v1/worker/*");
	switch (f->status) {
	case BO_ROUTE_OK:
		return f->route->fn(d, r, &f->args);
	case BO_ROUTE_BAD_ID:
		return bd_reply_fail(r, BO_ENOENT, NULL, "'%s' is not an id", f->bad);
	case BO_ROUTE_NO_METHOD:
		bd_reply_header(r, "Allow", f->allow);
		return bd_reply_405(r);
	case BO_ROUTE_NO_PATH:
		break;
	}
	return bd_reply_fail(r, BO_ENOENT, NULL, "no such endpoint: /api/v1%s", sub);
}

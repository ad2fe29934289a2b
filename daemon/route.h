/* brownoutd routes: what the HTTP layer needs to know of the API.
 *
 * A route is one method on one path pattern, with how its body arrives,
 * who may call it, and its handler. The API's table (api.c) is the one list
 * of endpoints; http.c looks a request up in it once, in its first call (so
 * a 401, 404, 405 or 413 is answered before the body is read), and runs the
 * route's handler when the body is complete. Nothing else knows a path. */
#ifndef BO_ROUTE_H
#define BO_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct bd_daemon;
struct bd_req;

/* How the body arrives. */
enum bd_body {
	BO_BODY_JSON,  /* in memory, NUL-terminated, at most BO_JSON_BODY_MAX */
	BO_BODY_FILE,  /* the raw body streamed to a temporary file */
	BO_BODY_FORM,  /* multipart/form-data fields streamed to temporary files
			* when the Content-Type says so, else as BO_BODY_JSON */
};

/* Who may call it. Worker tokens may call BO_ACCESS_WORKER and
 * BO_ACCESS_PUBLIC routes only. */
enum bd_access {
	BO_ACCESS_PUBLIC, /* anybody, without a token */
	BO_ACCESS_READ,   /* a token, except GET (and HEAD) under public-read */
	BO_ACCESS_USER,   /* a user's token always, whatever public-read says */
	BO_ACCESS_WORKER, /* a worker token (brownoutd token create --worker) */
};

/* The values of a pattern's placeholders: {id} (a positive decimal
 * integer without sign or leading zero) and {key} (a segment of 1 to 79
 * bytes). */
struct bd_route_args {
	int64_t id;
	char key[80];
};

typedef int (*bd_route_fn)(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a);

struct bd_route {
	const char *method;  /* "GET", "POST", "PATCH", "DELETE" */
	const char *pattern; /* the whole path: "/api/v1/jobs/{id}/results" */
	enum bd_body body;
	enum bd_access access;
	bd_route_fn fn;
};

/* The API's table, ended by an entry whose method is NULL (api.c). */
extern const struct bd_route bd_api_routes[];

/* A request's lookup. */
struct bd_route_found {
	const struct bd_route *route; /* NULL: see status */
	enum {
		BO_ROUTE_OK,
		BO_ROUTE_NO_PATH,   /* no pattern fits the path: 404 */
		BO_ROUTE_BAD_ID,    /* a pattern fits but for a segment that is no id: 404 */
		BO_ROUTE_NO_METHOD, /* patterns fit, none with this method: 405, allow */
	} status;
	struct bd_route_args args;
	char allow[48];  /* "GET,POST" with BO_ROUTE_NO_METHOD */
	char bad[80];    /* the segment with BO_ROUTE_BAD_ID */
};

/* Does the route table speak for this path (under /api/v1, or /metrics)?
 * Other paths are static files. */
int bd_route_owns(const char *path);
/* Look method and path up in table (HEAD is looked up as GET). */
void bd_route_find(const struct bd_route *table, const char *method, const char *path,
		   struct bd_route_found *f);
/* Does the request need a token? (A token given is checked whatever.) */
int bd_route_needs_token(const struct bd_route_found *f, const char *method, int public_read);
/* The body's kind for the lookup and the request's Content-Type. */
enum bd_body bd_route_body(const struct bd_route_found *f, const char *content_type);
/* Answer the request: the access rules for worker tokens, 404 and 405, or
 * the route's handler. */
int bd_route_run(struct bd_daemon *d, struct bd_req *r, const struct bd_route_found *f);

#endif

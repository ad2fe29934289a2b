/* brownoutd HTTP (http.c): starting and stopping the server, and what
 * handlers see of a request and how they answer. */
#ifndef BO_HTTP_H
#define BO_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <brownout/status.h>

struct bd_daemon;

#define BO_JSON_BODY_MAX (1 << 20)    /* JSON request bodies */

struct bd_req;
struct bd_user;

/* Start / stop the server. The bound port is written to *port. */
bo_status bd_http_start(struct bd_daemon *d, int *port, struct bo_error *err);
void bd_http_stop(struct bd_daemon *d);

/* Request accessors for handlers. */
const char *bd_req_method(const struct bd_req *r);
const char *bd_req_path(const struct bd_req *r); /* the URL path */
const char *bd_req_query(const struct bd_req *r, const char *key);
const char *bd_req_header(const struct bd_req *r, const char *key);
const struct bd_user *bd_req_user(const struct bd_req *r);
/* The body: JSON routes get it in memory (NUL-terminated), upload routes
 * as files (see bd_req_upload). */
const char *bd_req_body(const struct bd_req *r, size_t *len);
/* An uploaded file: the raw body (field NULL) or a multipart field.
 * Returns its temporary path (owned by the request; rename it to adopt it)
 * and size/sha256, or NULL when absent. */
const char *bd_req_upload(struct bd_req *r, const char *field, int64_t *size, const char **sha256);
void bd_req_adopt(struct bd_req *r, const char *field); /* do not unlink it */

/* Responses: each returns 0; the body is consumed. */
int bd_reply_json(struct bd_req *r, int status, json_t *body);
int bd_reply_text(struct bd_req *r, int status, const char *type, const char *text, size_t len);
int bd_reply_error(struct bd_req *r, const struct bo_error *err);
int bd_reply_fail(struct bd_req *r, bo_status st, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void bd_reply_header(struct bd_req *r, const char *name, const char *value);
int bd_reply_405(struct bd_req *r);
int bd_http_status(bo_status st);

/* A regular file as the response body (application/octet-stream). */
int bd_reply_file(struct bd_req *r, const char *path);

#endif

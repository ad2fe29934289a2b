/* brownoutd HTTP (http.c): starting and stopping the server, and what
 * handlers see of a request and how they answer. */
#ifndef BO_HTTP_H
#define BO_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <brownout/status.h>

struct bo_daemon;

#define BO_JSON_BODY_MAX (1 << 20)    /* JSON request bodies */

struct bo_req;
struct bo_user;

/* Start / stop the server. The bound port is written to *port. */
bo_status bo_http_start(struct bo_daemon *d, int *port, struct bo_error *err);
void bo_http_stop(struct bo_daemon *d);

/* Request accessors for handlers. */
const char *bo_req_method(const struct bo_req *r);
const char *bo_req_path(const struct bo_req *r); /* the URL path */
const char *bo_req_query(const struct bo_req *r, const char *key);
const char *bo_req_header(const struct bo_req *r, const char *key);
const struct bo_user *bo_req_user(const struct bo_req *r);
/* The body: JSON routes get it in memory (NUL-terminated), upload routes
 * as files (see bo_req_upload). */
const char *bo_req_body(const struct bo_req *r, size_t *len);
/* An uploaded file: the raw body (field NULL) or a multipart field.
 * Returns its temporary path (owned by the request; rename it to adopt it)
 * and size/sha256, or NULL when absent. */
const char *bo_req_upload(struct bo_req *r, const char *field, int64_t *size, const char **sha256);
void bo_req_adopt(struct bo_req *r, const char *field); /* do not unlink it */

/* Responses: each returns 0; the body is consumed. */
int bo_reply_json(struct bo_req *r, int status, json_t *body);
int bo_reply_text(struct bo_req *r, int status, const char *type, const char *text, size_t len);
int bo_reply_error(struct bo_req *r, const struct bo_error *err);
int bo_reply_fail(struct bo_req *r, bo_status st, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void bo_reply_header(struct bo_req *r, const char *name, const char *value);
int bo_reply_405(struct bo_req *r);
int bo_http_status(bo_status st);

/* A regular file as the response body (application/octet-stream). */
int bo_reply_file(struct bo_req *r, const char *path);

#endif

/* brownoutd API: accounts: /api/v1/tokens, /api/v1/users and /api/v1/me.
 * Tokens and users are never public, whatever public-read says (the route
 * table gives them BO_ACCESS_USER). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "jobs.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

/* ---- tokens and users ----
 *
 * A user lists and revokes its own tokens and makes new ones for itself
 * (the secret is in the answer to POST, once; the store keeps only its
 * SHA-256); an admin sees and revokes everybody's. Users are an admin's:
 * list, add (with a first token, as `brownoutd user add`), and remove,
 * which revokes every token of the user and marks it disabled (its
 * models, datasets and jobs stay, under its name, which stays taken). A
 * token of another user is "not found" to a non-admin, as if absent. */

#define TOKEN_COLS "t.id, u.name, t.kind, t.name, t.created_at, t.user_id"

static json_t *token_json(sqlite3_stmt *st, int64_t current)
{
	json_t *j = json_object();
	int64_t id = sqlite3_column_int64(st, 0);
	json_object_set_new(j, "id", json_integer(id));
	json_object_set_new(j, "user", bd_col_string(st, 1));
	json_object_set_new(j, "kind", bd_col_string(st, 2));
	json_object_set_new(j, "name", bd_col_string(st, 3));
	json_object_set_new(j, "created_at", bd_col_string(st, 4));
	json_object_set_new(j, "current", json_boolean(id == current));
	return j;
}

struct tokens_q {
	const struct bd_user *user;
	int64_t after, id; /* id: one token (after POST) */
	int limit, more;
	json_t *items;     /* out */
};

static bo_status tokens_list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct tokens_q *q = ctx;
	sqlite3_stmt *st = NULL;
	int s, n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT " TOKEN_COLS " FROM tokens t JOIN users u ON u.id = t.user_id"
			       " WHERE t.id < ?1 AND (?2 OR t.user_id = ?3) AND (?5 = 0 OR t.id = ?5)"
			       " ORDER BY t.id DESC LIMIT ?4",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "listing tokens");
	sqlite3_bind_int64(st, 1, q->after);
	sqlite3_bind_int(st, 2, q->user->admin);
	sqlite3_bind_int64(st, 3, q->user->id);
	sqlite3_bind_int(st, 4, q->limit + 1);
	sqlite3_bind_int64(st, 5, q->id);
	q->items = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit) {
			q->more = 1;
			break;
		}
		json_array_append_new(q->items, token_json(st, q->user->token_id));
		n++;
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bd_store_fail(db, err, "listing tokens");
}

static int list_tokens(struct bd_daemon *d, struct bd_req *r)
{
	struct tokens_q q = { .user = bd_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (api_paging(r, &q.after, &q.limit))
		return 0;
	if (bd_store_read(d->store, tokens_list_fn, &q, &err)) {
		json_decref(q.items);
		return bd_reply_error(r, &err);
	}
	return api_reply_list(r, q.items, q.more);
}

/* Parse a JSON object body (an empty body is {}), allowing only `keys`
 * ("name,admin"). NULL when replied. */
static json_t *small_body(struct bd_req *r, const char *keys)
{
	size_t len;
	const char *body = bd_req_body(r, &len);
	json_error_t je;
	const char *k;
	json_t *v, *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
	char list[64], want[80];
	if (!j)
		return bd_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)",
				     je.text, je.position),
		       NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return bd_reply_fail(r, BO_EINVAL, NULL, "the body must be a JSON object"), NULL;
	}
	snprintf(list, sizeof(list), ",%s,", keys);
	json_object_foreach(j, k, v) {
		snprintf(want, sizeof(want), ",%.60s,", k);
		if (!strstr(list, want) || strlen(k) > 60) {
			bd_reply_fail(r, BO_EINVAL, k, "unknown field '%.60s' (fields: %s)", k, keys);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

static int post_token(struct bd_daemon *d, struct bd_req *r)
{
	const struct bd_user *u = bd_req_user(r);
	struct bd_token_issue q = { .user = u->name };
	struct bo_error err;
	char token[BO_TOKEN_SIZE];
	int ret;
	bo_error_clear(&err);
	json_t *j = small_body(r, "name");
	if (!j)
		return 0;
	json_t *name = json_object_get(j, "name");
	if (name && !json_is_string(name)) {
		ret = bd_reply_fail(r, BO_EINVAL, "name", "name must be a string");
		goto out;
	}
	q.label = json_string_value(name);
	if (bd_token_issue(d->store, &q, token, sizeof(token), &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	struct tokens_q tq = { .user = u, .after = INT64_MAX, .id = q.token_id, .limit = 1 };
	if (bd_store_read(d->store, tokens_list_fn, &tq, &err) || !json_array_size(tq.items)) {
		if (!err.status)
			bo_error_set(&err, BO_EINTERNAL, "the new token is not there");
		json_decref(tq.items);
		ret = bd_reply_error(r, &err);
		goto out;
	}
	json_t *t = json_incref(json_array_get(tq.items, 0));
	json_decref(tq.items);
	json_object_set_new(t, "token", json_string(token));
	ret = bd_reply_json(r, 201, t);
out:
	explicit_bzero(token, sizeof(token));
	json_decref(j);
	return ret;
}

struct token_del {
	int64_t id;
	const struct bd_user *user;
};

static bo_status token_del_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct token_del *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE id = ?1 AND (?2 OR user_id = ?3)", -1,
			       &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "revoking a token");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int(st, 2, q->user->admin);
	sqlite3_bind_int64(st, 3, q->user->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "revoking a token");
	else if (sqlite3_changes(db) == 0)
		rc = bo_error_set(err, BO_ENOENT, "no token %lld of yours", (long long)q->id);
	sqlite3_finalize(st);
	return rc;
}

static int delete_token(struct bd_daemon *d, struct bd_req *r, int64_t id)
{
	struct token_del q = { id, bd_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_store_write_freeing(d->store, token_del_fn, &q, &err))
		return bd_reply_error(r, &err);
	return bd_reply_json(r, 204, NULL);
}

static int need_admin(struct bd_req *r)
{
	if (bd_req_user(r)->admin)
		return 0;
	bd_reply_fail(r, BO_EPERM, NULL, "only an admin may manage users");
	return -1;
}

#define USER_COLS \
	"u.id, u.name, u.is_admin, u.created_at, u.disabled_at," \
	" (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id)"

static json_t *user_json(sqlite3_stmt *st)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", bd_col_string(st, 1));
	json_object_set_new(j, "admin", json_boolean(sqlite3_column_int(st, 2)));
	json_object_set_new(j, "created_at", bd_col_string(st, 3));
	json_object_set_new(j, "disabled_at", bd_col_string(st, 4));
	json_object_set_new(j, "tokens", json_integer(sqlite3_column_int64(st, 5)));
	return j;
}

struct users_q {
	int64_t after, id; /* id: one user */
	int limit, more;
	json_t *items;
};

static bo_status users_list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct users_q *q = ctx;
	sqlite3_stmt *st = NULL;
	int s, n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT " USER_COLS " FROM users u WHERE u.id < ?1 AND"
			       " (?3 = 0 OR u.id = ?3) ORDER BY u.id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "listing users");
	sqlite3_bind_int64(st, 1, q->after);
	sqlite3_bind_int(st, 2, q->limit + 1);
	sqlite3_bind_int64(st, 3, q->id);
	q->items = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit) {
			q->more = 1;
			break;
		}
		json_array_append_new(q->items, user_json(st));
		n++;
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bd_store_fail(db, err, "listing users");
}

static int list_users(struct bd_daemon *d, struct bd_req *r)
{
	struct users_q q = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (need_admin(r) || api_paging(r, &q.after, &q.limit))
		return 0;
	if (bd_store_read(d->store, users_list_fn, &q, &err)) {
		json_decref(q.items);
		return bd_reply_error(r, &err);
	}
	return api_reply_list(r, q.items, q.more);
}

static int post_user(struct bd_daemon *d, struct bd_req *r)
{
	struct bd_token_issue q = { .create_user = 1 };
	struct bo_error err;
	char token[BO_TOKEN_SIZE], loc[64];
	int ret;
	bo_error_clear(&err);
	if (need_admin(r))
		return 0;
	json_t *j = small_body(r, "name,admin");
	if (!j)
		return 0;
	json_t *name = json_object_get(j, "name"), *admin = json_object_get(j, "admin");
	if (!json_is_string(name)) {
		ret = bd_reply_fail(r, BO_EINVAL, "name", "give the user's name: {\"name\": NAME}");
		goto out;
	}
	if (admin && !json_is_boolean(admin)) {
		ret = bd_reply_fail(r, BO_EINVAL, "admin", "admin must be true or false");
		goto out;
	}
	q.user = json_string_value(name);
	q.admin = json_is_true(admin);
	if (bd_token_issue(d->store, &q, token, sizeof(token), &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	struct users_q uq = { .after = INT64_MAX, .id = q.user_id, .limit = 1 };
	if (bd_store_read(d->store, users_list_fn, &uq, &err) || !json_array_size(uq.items)) {
		if (!err.status)
			bo_error_set(&err, BO_EINTERNAL, "the new user is not there");
		json_decref(uq.items);
		ret = bd_reply_error(r, &err);
		goto out;
	}
	json_t *u = json_incref(json_array_get(uq.items, 0));
	json_decref(uq.items);
	json_object_set_new(u, "token", json_string(token));
	snprintf(loc, sizeof(loc), "/api/v1/users/%lld", (long long)q.user_id);
	bd_reply_header(r, "Location", loc);
	ret = bd_reply_json(r, 201, u);
out:
	explicit_bzero(token, sizeof(token));
	json_decref(j);
	return ret;
}

struct user_del {
	int64_t id;
	const struct bd_user *user;
};

static bo_status user_del_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct user_del *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char now[32];
	bd_store_now(now, sizeof(now));
	if (q->id == q->user->id)
		return bo_error_set(err, BO_ECONFLICT,
			       "an admin cannot remove itself (another admin can)");
	if (sqlite3_prepare_v2(db,
			       "UPDATE users SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "removing a user");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "removing a user");
	else if (sqlite3_changes(db) == 0)
		rc = bo_error_set(err, BO_ENOENT, "no user %lld (or removed already)", (long long)q->id);
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE user_id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return bd_store_fail(db, err, "removing a user");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "removing a user");
	sqlite3_finalize(st);
	return rc;
}

static int delete_user(struct bd_daemon *d, struct bd_req *r, int64_t id)
{
	struct user_del q = { id, bd_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (need_admin(r))
		return 0;
	if (bd_store_write_freeing(d->store, user_del_fn, &q, &err))
		return bd_reply_error(r, &err);
	return bd_reply_json(r, 204, NULL);
}


static int me(struct bd_req *r)
{
	const struct bd_user *u = bd_req_user(r);
	if (!u)
		return bd_reply_fail(r, BO_EAUTH, NULL, "this needs 'Authorization: Bearer TOKEN'");
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(u->id));
	json_object_set_new(j, "name", json_string(u->name));
	json_object_set_new(j, "admin", json_boolean(u->admin));
	return bd_reply_json(r, 200, j);
}

/* ---- routes ---- */

int api_tokens_list(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list_tokens(d, r);
}

int api_tokens_post(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return post_token(d, r);
}

int api_token_delete(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return delete_token(d, r, a->id);
}

int api_users_list(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list_users(d, r);
}

int api_users_post(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return post_user(d, r);
}

int api_user_delete(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return delete_user(d, r, a->id);
}

int api_me(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)d, (void)a;
	return me(r);
}

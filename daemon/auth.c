/* brownoutd: SHA-256 (nettle), API tokens and users (see auth.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"

#define TOKEN_BYTES 32
#define NAME_MAX_LEN 64

void bd_sha256_init(struct bd_sha256 *h)
{
	sha256_init(&h->ctx);
}

void bd_sha256_update(struct bd_sha256 *h, const void *data, size_t n)
{
	if (n)
		sha256_update(&h->ctx, n, data);
}

void bd_sha256_hex(struct bd_sha256 *h, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_digest(&h->ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * sizeof(d)] = 0;
}

void bd_sha256_hex_of(const void *data, size_t n, char out[65])
{
	struct bd_sha256 h;
	bd_sha256_init(&h);
	bd_sha256_update(&h, data, n);
	bd_sha256_hex(&h, out);
}

/* base64url without padding; out gets 4 * n / 3 rounded up chars + NUL. */
/* Unix time in ms: the clock of tokens' expires_at */
static int64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (left > 1)
			out[o++] = abc[(v >> 6) & 63];
		if (left > 2)
			out[o++] = abc[v & 63];
	}
	out[o] = 0;
}

bo_status bd_token_new(char *out, size_t size, struct bo_error *err)
{
	bo_status rc = BO_OK;
	unsigned char raw[TOKEN_BYTES];
	size_t got = 0;
	bo_error_clear(err);
	if (!out || size < BO_TOKEN_SIZE) {
		rc = bo_error_set(err, BO_EINVAL, "a token needs a buffer of %d bytes", BO_TOKEN_SIZE);
		goto out;
	}
	out[0] = 0;
	while (rc == BO_OK && got < sizeof(raw)) {
		ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
		if (k > 0)
			got += (size_t)k;
		else if (k < 0 && errno != EINTR)
			rc = bo_error_set(err, BO_EIO, "getrandom: %s", strerror(errno));
	}
	if (rc == BO_OK) {
		memcpy(out, "bo_", 3);
		base64url(raw, sizeof(raw), out + 3);
	}
out:
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

int bd_user_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	int ok = n >= 1 && n <= NAME_MAX_LEN;
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '.' || c == '-';
	}
	return ok;
}

/* ---- in the store ---- */

struct token_req {
	struct bd_token_issue *q;
	char hash[65];
};

/* The id of user `name`, or 0 when there is none; *disabled: an admin
 * removed it (DELETE /api/v1/users/{id}). */
static bo_status find_user(sqlite3 *db, const char *name, int64_t *id, int *disabled,
			   struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	int k;
	*id = 0;
	*disabled = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, disabled_at IS NOT NULL FROM users WHERE name = ?1",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "look up user");
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*disabled = sqlite3_column_int(st, 1);
	} else if (k != SQLITE_DONE)
		rc = bd_store_fail(db, err, "look up user");
out:
	sqlite3_finalize(st);
	return rc;
}

static bo_status insert_user(sqlite3 *db, const char *name, int admin, const char *now,
			     int64_t *id, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO users (name, is_admin, created_at) VALUES (?1, ?2, ?3)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, admin ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = bd_store_fail(db, err, "add user");
		goto out;
	}
	*id = sqlite3_last_insert_rowid(db);
out:
	sqlite3_finalize(st);
	return rc;
}

static bo_status insert_token(sqlite3 *db, int64_t uid, const char *hash, const char *now,
			      int worker, const char *label, int64_t expires_ms, int64_t *id,
			      struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO tokens (user_id, hash, created_at, kind, name, expires_at)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, uid) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, worker ? "worker" : "user", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 5, label ? label : "", -1, SQLITE_STATIC) != SQLITE_OK ||
	    (expires_ms > 0 ? sqlite3_bind_int64(st, 6, expires_ms) : sqlite3_bind_null(st, 6)) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "add token");
	else
		*id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	return rc;
}

static bo_status token_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct token_req *r = ctx;
	struct bd_token_issue *q = r->q;
	char now[32];
	int64_t uid = 0;
	int disabled = 0;
	bd_store_now(now, sizeof(now));
	bo_status rc = find_user(db, q->user, &uid, &disabled, err);
	if (rc)
		goto out;
	if (q->create_user && uid) {
		rc = bo_error_set(err, BO_ECONFLICT, "user %s exists%s", q->user,
			     disabled ? " (disabled; its name stays taken)" : "");
		bo_error_set_where(err, NULL, NULL, NULL, "name");
		goto out;
	}
	if (!q->create_user && !uid && q->ensure_user) {
		rc = insert_user(db, q->user, 0, now, &uid, err);
		if (rc)
			goto out;
	} else if (!q->create_user && !uid) {
		rc = bo_error_set(err, BO_ENOENT, "no user %s", q->user);
		goto out;
	}
	if (!q->create_user && disabled) {
		rc = bo_error_set(err, BO_EPERM, "user %s is disabled: it gets no tokens", q->user);
		goto out;
	}
	if (q->create_user)
		rc = insert_user(db, q->user, q->admin, now, &uid, err);
	if (rc == BO_OK)
		rc = insert_token(db, uid, r->hash, now, q->worker, q->label, q->expires_ms,
				  &q->token_id, err);
	if (rc == BO_OK)
		q->user_id = uid;
out:
	return rc;
}

bo_status bd_token_issue(struct bd_store *s, struct bd_token_issue *q, char *token_out,
			 size_t size, struct bo_error *err)
{
	struct token_req req = {.q = q};
	struct token_req *r = &req;
	bo_status rc = BO_OK;
	char token[BO_TOKEN_SIZE];
	bo_error_clear(err);
	if (!token_out || size < BO_TOKEN_SIZE) {
		rc = bo_error_set(err, BO_EINVAL, "a token needs a buffer of %d bytes", BO_TOKEN_SIZE);
		goto out;
	}
	token_out[0] = 0;
	if (!bd_user_name_ok(q->user)) {
		rc = bo_error_set(err, BO_EINVAL, "a user name is 1 to %d of A-Z a-z 0-9 _ . -",
			     NAME_MAX_LEN);
		bo_error_set_where(err, NULL, NULL, NULL, "name");
		goto out;
	}
	rc = bd_token_new(token, sizeof(token), err);
	if (rc)
		goto out;
	if (q->label && strlen(q->label) > BO_TOKEN_LABEL_MAX) {
		rc = bo_error_set(err, BO_EINVAL, "a token's name is at most %d bytes",
			     BO_TOKEN_LABEL_MAX);
		bo_error_set_where(err, NULL, NULL, NULL, "name");
		goto out;
	}
	bd_sha256_hex_of(token, strlen(token), r->hash);
	rc = bd_store_write(s, token_cb, r, err);
	if (rc == BO_OK)
		memcpy(token_out, token, sizeof(token));
out:
	explicit_bzero(token, sizeof(token));
	return rc;
}

bo_status bd_user_add(struct bd_store *s, const char *name, int admin, char *token_out,
		      size_t size, struct bo_error *err)
{
	struct bd_token_issue q = {.user = name, .admin = admin, .create_user = 1};
	return bd_token_issue(s, &q, token_out, size, err);
}

bo_status bd_token_create(struct bd_store *s, const char *name, char *token_out, size_t size,
			  struct bo_error *err)
{
	struct bd_token_issue q = {.user = name};
	return bd_token_issue(s, &q, token_out, size, err);
}

bo_status bd_token_create_worker(struct bd_store *s, const char *name, char *token_out,
				 size_t size, struct bo_error *err)
{
	struct bd_token_issue q = {.user = name, .worker = 1};
	return bd_token_issue(s, &q, token_out, size, err);
}

bo_status bd_token_create_expiring(struct bd_store *s, const char *name, int64_t expires_ms,
				   char *token_out, size_t size, char hash_out[65],
				   struct bo_error *err)
{
	struct bd_token_issue q = {.user = name, .worker = 1, .ensure_user = 1,
				   .expires_ms = expires_ms > 0 ? expires_ms : 1};
	bo_status rc = bd_token_issue(s, &q, token_out, size, err);
	hash_out[0] = 0;
	if (rc == BO_OK)
		bd_sha256_hex_of(token_out, strlen(token_out), hash_out);
	return rc;
}

struct expiry_req {
	const char *hash;
	int64_t expires_ms; /* 0: delete */
};

static bo_status expiry_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct expiry_req *r = ctx;
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	const char *sql =
		r->expires_ms ? "UPDATE tokens SET expires_at = ?2 WHERE hash = ?1"
				" AND expires_at IS NOT NULL" :
		r->hash	      ? "DELETE FROM tokens WHERE hash = ?1 AND expires_at IS NOT NULL" :
				"DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?2";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    (r->hash && sqlite3_bind_text(st, 1, r->hash, -1, SQLITE_STATIC) != SQLITE_OK) ||
	    (sqlite3_bind_parameter_count(st) >= 2 &&
	     sqlite3_bind_int64(st, 2, r->expires_ms ? r->expires_ms : unix_ms()) != SQLITE_OK) ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "change a token's expiry");
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_token_expire_at(struct bd_store *s, const char *hash, int64_t expires_ms,
			     struct bo_error *err)
{
	struct expiry_req r = {hash, expires_ms};
	bo_error_clear(err);
	if (!hash || strlen(hash) != 64)
		return bo_error_set(err, BO_EINVAL, "a token hash is 64 hex digits");
	return bd_store_write(s, expiry_cb, &r, err);
}

bo_status bd_token_revoke(struct bd_store *s, const char *hash, struct bo_error *err)
{
	return bd_token_expire_at(s, hash, 0, err);
}

bo_status bd_token_purge_expired(struct bd_store *s, struct bo_error *err)
{
	struct expiry_req r = {NULL, 0};
	bo_error_clear(err);
	return bd_store_write(s, expiry_cb, &r, err);
}

struct auth_req {
	const char *hash;
	struct bd_user *user;
};

static bo_status auth_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct auth_req *r = ctx;
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	int k;
	if (sqlite3_prepare_v2(db,
			       "SELECT u.id, u.name, u.is_admin, t.kind, t.id FROM tokens t "
			       "JOIN users u ON u.id = t.user_id WHERE t.hash = ?1"
			       " AND u.disabled_at IS NULL"
			       " AND (t.expires_at IS NULL OR t.expires_at > ?2)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, r->hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, unix_ms()) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "check token");
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		r->user->id = sqlite3_column_int64(st, 0);
		snprintf(r->user->name, sizeof(r->user->name), "%s", name ? name : "");
		r->user->admin = sqlite3_column_int(st, 2) != 0;
		r->user->worker = !strcmp((const char *)sqlite3_column_text(st, 3), "worker");
		r->user->token_id = sqlite3_column_int64(st, 4);
	} else if (k == SQLITE_DONE) {
		rc = bo_error_set(err, BO_EAUTH, "invalid token");
	} else {
		rc = bd_store_fail(db, err, "check token");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_auth_check(struct bd_store *s, const char *token, struct bd_user *out,
			struct bo_error *err)
{
	bo_status rc = BO_OK;
	char hash[65];
	struct auth_req r = {hash, out};
	bo_error_clear(err);
	if (out)
		memset(out, 0, sizeof(*out));
	if (!out) {
		rc = bo_error_set(err, BO_EINVAL, "bd_auth_check: no user to fill");
	} else if (!token || !*token) {
		rc = bo_error_set(err, BO_EAUTH, "missing token");
	} else {
		bd_sha256_hex_of(token, strlen(token), hash);
		rc = bd_store_read(s, auth_cb, &r, err);
	}
	return rc;
}

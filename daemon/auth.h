/* brownoutd: SHA-256, API tokens and users.
 *
 * A token is "bo_" followed by 43 base64url characters (32 random bytes).
 * The database stores only the SHA-256 (lowercase hex) of the whole token
 * string; the token itself is shown once, when it is made. */
#ifndef BROWNOUTD_AUTH_H
#define BROWNOUTD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/sha2.h>

#include <brownout/status.h>

#include "store.h"

struct bd_sha256 {
	struct sha256_ctx ctx;
};

void bd_sha256_init(struct bd_sha256 *h);
void bd_sha256_update(struct bd_sha256 *h, const void *data, size_t n);
/* Finish: the digest as 64 lowercase hex digits and a NUL. */
void bd_sha256_hex(struct bd_sha256 *h, char out[65]);
void bd_sha256_hex_of(const void *data, size_t n, char out[65]);

/* Bytes a token needs, its NUL included. */
#define BO_TOKEN_SIZE 47

/* A fresh random token into out (size >= BO_TOKEN_SIZE). */
bo_status bd_token_new(char *out, size_t size, struct bo_error *err);

/* 1 if name is a valid user name: [A-Za-z0-9_.-]{1,64}. */
int bd_user_name_ok(const char *name);

/* Create user `name` (admin: nonzero for an administrator) and a first
 * token for it, into token_out (size >= BO_TOKEN_SIZE). BO_EINVAL (field
 * "name") for an invalid name, BO_ECONFLICT if the name is taken. */
bo_status bd_user_add(struct bd_store *s, const char *name, int admin, char *token_out,
		      size_t size, struct bo_error *err);
/* A further token for the existing user `name`; BO_ENOENT if there is none. */
bo_status bd_token_create(struct bd_store *s, const char *name, char *token_out, size_t size,
			  struct bo_error *err);

/* A worker token for user `name` (brownoutd token create NAME --worker):
 * it may call /api/v1/worker/... only, and nothing else may. */
bo_status bd_token_create_worker(struct bd_store *s, const char *name, char *token_out,
				 size_t size, struct bo_error *err);

/* A short-lived worker token for user `name` (made, not an admin, when
 * there is none), refused after expires_ms (Unix ms): the SLURM launcher's
 * (slurm.c). hash_out gets the SHA-256 the store keeps, the handle for
 * bd_token_expire_at and bd_token_revoke. */
bo_status bd_token_create_expiring(struct bd_store *s, const char *name, int64_t expires_ms,
				   char *token_out, size_t size, char hash_out[65],
				   struct bo_error *err);
/* Move an expiring token's expiry to expires_ms (> 0). */
bo_status bd_token_expire_at(struct bd_store *s, const char *hash, int64_t expires_ms,
			     struct bo_error *err);
/* Delete an expiring token now (tokens that never expire are left alone). */
bo_status bd_token_revoke(struct bd_store *s, const char *hash, struct bo_error *err);
/* Delete every expiring token past its expiry. */
bo_status bd_token_purge_expired(struct bd_store *s, struct bo_error *err);

struct bd_user {
	int64_t id;
	char name[65];
	int admin;
	int worker;  /* a worker token: /api/v1/worker/... only */
	int64_t token_id; /* the token this request came with */
};

/* A token's optional label (POST /api/v1/tokens {"name"}): at most this many bytes. */
#define BO_TOKEN_LABEL_MAX 64

/* The general form of bd_user_add / bd_token_create(_worker): a token for
 * user `user` (created first when create_user, as admin when admin), a
 * worker token when worker, labelled `label` (NULL: none). Fills the ids. */
struct bd_token_issue {
	const char *user;
	int create_user, admin, worker;
	const char *label;
	int ensure_user;    /* create the (non-admin) user if there is none */
	int64_t expires_ms; /* Unix ms; 0: never expires */
	int64_t user_id, token_id; /* out */
};
bo_status bd_token_issue(struct bd_store *s, struct bd_token_issue *q, char *token_out,
			 size_t size, struct bo_error *err);

/* The user a token belongs to; BO_EAUTH "invalid token" if none. */
bo_status bd_auth_check(struct bd_store *s, const char *token, struct bd_user *out,
			struct bo_error *err);

#endif

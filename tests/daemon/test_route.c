/* Tests for daemon/route.c and the API's route table (api.c): lookups
 * (placeholders, non-id segments, 405 with its Allow list, HEAD as GET,
 * over-long and odd paths), who needs a token, how bodies arrive, and the
 * table against docs/openapi.yaml (compiled in): every route is
 * documented with its method, and every documented operation has a route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "brownoutd.h"
#include "http.h"
#include "route.h"

extern const char bd_openapi_yaml[];
extern const unsigned long bd_openapi_yaml_len;

static int dummy(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)d, (void)r, (void)a;
	return 0;
}

static const struct bd_route table[] = {
	{ "GET", "/metrics", BO_BODY_JSON, BO_ACCESS_PUBLIC, dummy },
	{ "GET", "/api/v1/things", BO_BODY_JSON, BO_ACCESS_READ, dummy },
	{ "POST", "/api/v1/things", BO_BODY_FORM, BO_ACCESS_READ, dummy },
	{ "GET", "/api/v1/things/{id}", BO_BODY_JSON, BO_ACCESS_READ, dummy },
	{ "DELETE", "/api/v1/things/{id}", BO_BODY_JSON, BO_ACCESS_USER, dummy },
	{ "POST", "/api/v1/things/{id}/poke", BO_BODY_FILE, BO_ACCESS_READ, dummy },
	{ "GET", "/api/v1/blobs/{key}", BO_BODY_JSON, BO_ACCESS_WORKER, dummy },
	{ NULL, NULL, BO_BODY_JSON, BO_ACCESS_PUBLIC, NULL },
};

static void test_find(void **state)
{
	(void)state;
	struct bd_route_found f;
	bd_route_find(table, "GET", "/api/v1/things/42", &f);
	assert_int_equal(f.status, BO_ROUTE_OK);
	assert_ptr_equal(f.route, &table[3]);
	assert_int_equal(f.args.id, 42);
	/* a trailing slash and repeated leading ones are the same path */
	bd_route_find(table, "GET", "//api/v1/things/42/", &f);
	assert_ptr_equal(f.route, &table[3]);
	bd_route_find(table, "HEAD", "/api/v1/things", &f);
	assert_ptr_equal(f.route, &table[1]);
	bd_route_find(table, "POST", "/api/v1/things/7/poke", &f);
	assert_ptr_equal(f.route, &table[5]);
	assert_int_equal(f.args.id, 7);
	bd_route_find(table, "GET", "/api/v1/blobs/abc123", &f);
	assert_ptr_equal(f.route, &table[6]);
	assert_string_equal(f.args.key, "abc123");
	bd_route_find(table, "GET", "/metrics", &f);
	assert_ptr_equal(f.route, &table[0]);
}

static void test_not_found(void **state)
{
	(void)state;
	struct bd_route_found f;
	const char *bad_ids[] = { "abc", "0", "-1", "+3", " 3", "007", "99999999999999999999999" };
	char path[128];
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/things/%s", bad_ids[i]);
		bd_route_find(table, "GET", path, &f);
		assert_null(f.route);
		assert_int_equal(f.status, BO_ROUTE_BAD_ID);
		assert_string_equal(f.bad, bad_ids[i]);
	}
	bd_route_find(table, "GET", "/api/v1/things/x/poke", &f);
	assert_int_equal(f.status, BO_ROUTE_BAD_ID);
	const char *none[] = { "/api/v1", "/api/v1/", "/api/v1/thing", "/api/v1/things/1/2",
			       "/api/v1//things", "/api/v1/things/1/poke/more", "/a/b/c/d/e/f/g/h/i" };
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		bd_route_find(table, "GET", none[i], &f);
		assert_null(f.route);
		assert_int_equal(f.status, BO_ROUTE_NO_PATH);
	}
	/* {key} takes 1 to 79 bytes */
	char key[120] = "/api/v1/blobs/";
	memset(key + strlen(key), 'k', 80);
	bd_route_find(table, "GET", key, &f);
	assert_int_equal(f.status, BO_ROUTE_NO_PATH);
	key[strlen(key) - 1] = 0;
	bd_route_find(table, "GET", key, &f);
	assert_int_equal(f.status, BO_ROUTE_OK);
}

static void test_method(void **state)
{
	(void)state;
	struct bd_route_found f;
	bd_route_find(table, "PUT", "/api/v1/things/3", &f);
	assert_null(f.route);
	assert_int_equal(f.status, BO_ROUTE_NO_METHOD);
	assert_string_equal(f.allow, "GET,DELETE");
	bd_route_find(table, "DELETE", "/api/v1/things", &f);
	assert_string_equal(f.allow, "GET,POST");
	bd_route_find(table, "GET", "/api/v1/things/3/poke", &f);
	assert_string_equal(f.allow, "POST");
}

static void test_access_and_body(void **state)
{
	(void)state;
	struct bd_route_found f;
	bd_route_find(table, "GET", "/metrics", &f);
	assert_false(bd_route_needs_token(&f, "GET", 0));
	bd_route_find(table, "GET", "/api/v1/things", &f);
	assert_true(bd_route_needs_token(&f, "GET", 0));
	assert_false(bd_route_needs_token(&f, "GET", 1));
	assert_false(bd_route_needs_token(&f, "HEAD", 1));
	bd_route_find(table, "POST", "/api/v1/things", &f);
	assert_true(bd_route_needs_token(&f, "POST", 1));
	bd_route_find(table, "DELETE", "/api/v1/things/1", &f);
	assert_true(bd_route_needs_token(&f, "DELETE", 1));
	bd_route_find(table, "GET", "/api/v1/blobs/x", &f);
	assert_true(bd_route_needs_token(&f, "GET", 1));
	/* an unknown path needs what a read needs (so public-read shows 404s) */
	bd_route_find(table, "GET", "/api/v1/nothing", &f);
	assert_true(bd_route_needs_token(&f, "GET", 0));
	assert_false(bd_route_needs_token(&f, "GET", 1));
	assert_int_equal(bd_route_body(&f, "multipart/form-data; boundary=x"), BO_BODY_JSON);
	bd_route_find(table, "POST", "/api/v1/things", &f);
	assert_int_equal(bd_route_body(&f, "Multipart/Form-Data; boundary=x"), BO_BODY_FORM);
	assert_int_equal(bd_route_body(&f, "application/json"), BO_BODY_JSON);
	assert_int_equal(bd_route_body(&f, NULL), BO_BODY_JSON);
	bd_route_find(table, "POST", "/api/v1/things/1/poke", &f);
	assert_int_equal(bd_route_body(&f, NULL), BO_BODY_FILE);
	assert_true(bd_route_owns("/api/v1") && bd_route_owns("/api/v1/x") &&
		    bd_route_owns("/metrics"));
	assert_false(bd_route_owns("/api/v10") || bd_route_owns("/metrics/") ||
		     bd_route_owns("/index.html") || bd_route_owns("/"));
}

/* The pattern with every {placeholder} as {} */
static void shape(const char *p, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 3 < size; i++) {
		if (p[i] == '{') {
			out[o++] = '{';
			out[o++] = '}';
			while (i < n && p[i] != '}')
				i++;
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = 0;
}

/* Is `method` (lower case) an operation of `path` in the YAML? */
static int documented(const char *path, const char *method)
{
	const char *y = bd_openapi_yaml, *end = y + bd_openapi_yaml_len;
	char want[256], got[256], op[32];
	shape(path, strlen(path), want, sizeof(want));
	snprintf(op, sizeof(op), "    %s:", method);
	for (const char *l = y; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t n = nl ? (size_t)(nl - l) : (size_t)(end - l);
		if (n >= 4 && !strncmp(l, "  /", 3) && l[n - 1] == ':') {
			shape(l + 2, n - 3, got, sizeof(got));
			if (!strcmp(got, want)) {
				/* its operations: the 4-space keys up to the next path */
				for (const char *m = nl ? nl + 1 : end; m < end;) {
					const char *e = memchr(m, '\n', (size_t)(end - m));
					size_t k = e ? (size_t)(e - m) : (size_t)(end - m);
					if (k > 2 && m[0] == ' ' && m[1] == ' ' && m[2] != ' ')
						break;
					if (k == strlen(op) && !strncmp(m, op, k))
						return 1;
					m = e ? e + 1 : end;
				}
				return 0;
			}
		}
		l = nl ? nl + 1 : end;
	}
	return 0;
}

static void test_table_matches_openapi(void **state)
{
	(void)state;
	int n = 0;
	for (const struct bd_route *r = bd_api_routes; r->method; r++, n++) {
		char m[16];
		size_t i;
		for (i = 0; r->method[i] && i + 1 < sizeof(m); i++)
			m[i] = (char)(r->method[i] - 'A' + 'a');
		m[i] = 0;
		if (!documented(r->pattern, m))
			fail_msg("%s %s is not in docs/openapi.yaml", r->method, r->pattern);
		/* each (method, pattern) once, and found by itself */
		for (const struct bd_route *q = bd_api_routes; q < r; q++)
			assert_false(!strcmp(q->method, r->method) && !strcmp(q->pattern, r->pattern));
		assert_non_null(r->fn);
	}
	assert_true(n >= 30);
	/* and the other way: every operation of an API path has a route */
	const char *y = bd_openapi_yaml, *end = y + bd_openapi_yaml_len;
	char path[256] = "";
	int ops = 0;
	for (const char *l = y; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t k = nl ? (size_t)(nl - l) : (size_t)(end - l);
		if (k >= 4 && !strncmp(l, "  /", 3) && l[k - 1] == ':')
			snprintf(path, sizeof(path), "%.*s", (int)(k - 3), l + 2);
		static const char *const verbs[] = { "get", "post", "patch", "delete", "put" };
		for (size_t v = 0; v < 5 && path[0]; v++) {
			char key[16];
			snprintf(key, sizeof(key), "    %s:", verbs[v]);
			if (k != strlen(key) || strncmp(l, key, k) || !bd_route_owns(path))
				continue;
			int found = 0;
			char want[256], got[256];
			shape(path, strlen(path), want, sizeof(want));
			for (const struct bd_route *r = bd_api_routes; r->method; r++) {
				shape(r->pattern, strlen(r->pattern), got, sizeof(got));
				found |= !strcmp(got, want) && !strcasecmp(r->method, verbs[v]);
			}
			if (!found)
				fail_msg("docs/openapi.yaml: %s %s has no route", verbs[v], path);
			ops++;
		}
		l = nl ? nl + 1 : end;
	}
	assert_int_equal(ops, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_access_and_body),
		cmocka_unit_test(test_table_matches_openapi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Block maps: which block each node belongs to, from "PREFIX=BLOCK" and
 * "~REGEX=BLOCK" rules (--blocks, POST /models), or by default the first
 * component of the node's name. Model statistics count per block with them
 * (modelstats.c). Regexes are refused before regcomp when they would cost
 * too much (see BLOCK_RE_MAX_LEN below). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brownout/model.h>

#include "internal.h"

struct rule {
	char *pattern;
	char *block;
	int is_regex;
	regex_t re;
};

struct bo_block_map {
	int n;
	struct rule *rules;
};

void bo_block_map_free(struct bo_block_map *map)
{
	if (!map)
		return;
	for (int i = 0; i < map->n; i++) {
		if (map->rules[i].is_regex)
			regfree(&map->rules[i].re);
		free(map->rules[i].pattern);
		free(map->rules[i].block);
	}
	free(map->rules);
	free(map);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = 0;
	return s;
}

/* Block maps come from brownoutd's clients (POST /models, POST /jobs), and
 * glibc's regcomp builds an automaton that bounded repetitions copy
 * ("((a{3}){3})..." is 3^k copies: gigabytes in a few dozen characters)
 * and that stacked repetition operators make polynomially larger
 * ("^/" and 120 '*' took 18 s and 225 MB). So a rule's regex is refused,
 * naming why, when it is longer than BLOCK_RE_MAX_LEN, stacks repetition
 * operators ("a**", "a*?": no ERE needs that), uses back-references (whose
 * matching is exponential), or when its length times the product of its
 * interval bounds exceeds BLOCK_RE_MAX_COPIES ("layer[0-9]{2}" is 26). */
#define BLOCK_RE_MAX_LEN 256
#define BLOCK_RE_MAX_COPIES 4096

static const char *regex_too_costly(const char *p)
{
	size_t len = strlen(p);
	double copies = (double)len;
	int prev_rep = 0;
	if (len > BLOCK_RE_MAX_LEN)
		return "is longer than 256 characters";
	for (const char *s = p; *s; s++) {
		if (*s == '\\') {
			if (s[1] >= '1' && s[1] <= '9')
				return "uses a back-reference";
			if (s[1])
				s++;
			prev_rep = 0;
			continue;
		}
		if (*s == '[') { /* a bracket expression: '*' and '{' are literal in it */
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			while (*s && *s != ']') {
				if (*s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
					char close = s[1];
					for (s += 2; *s && !(s[0] == close && s[1] == ']'); s++)
						;
					if (*s)
						s++;
				}
				if (*s)
					s++;
			}
			if (!*s)
				break; /* unterminated: regcomp says so */
			prev_rep = 0;
			continue;
		}
		int rep = *s == '*' || *s == '+' || *s == '?' ||
			  (*s == '{' && s[1] >= '0' && s[1] <= '9');
		if (rep && prev_rep)
			return "stacks repetition operators";
		if (rep && *s == '{') {
			char *e;
			long lo = strtol(s + 1, &e, 10), hi = lo;
			if (*e == ',')
				hi = e[1] >= '0' && e[1] <= '9' ? strtol(e + 1, &e, 10) : lo + 1;
			copies *= hi > 1 ? (double)hi : 1;
		}
		prev_rep = rep;
	}
	if (copies > BLOCK_RE_MAX_COPIES)
		return "repeats too much (its length times its {m,n} bounds must stay under 4096)";
	return NULL;
}

static bo_status add_rule(struct bo_block_map *map, char *item, const char *where, int line,
			  struct bo_error *err)
{
	item = trim(item);
	if (!*item || *item == '#')
		return BO_OK;
	char *eq = strrchr(item, '=');
	if (!eq || eq == item || !eq[1]) {
		Bo_error_where(err, where, NULL, NULL, "--blocks");
		return Bo_fail(err, BO_EINVAL, "rule %d '%s' is not PATTERN=BLOCK", line, item);
	}
	*eq = 0;
	struct rule *r = realloc(map->rules, (size_t)(map->n + 1) * sizeof(*r));
	if (!r)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	map->rules = r;
	r = &map->rules[map->n];
	memset(r, 0, sizeof(*r));
	char *pat = trim(item);
	r->is_regex = pat[0] == '~';
	r->pattern = strdup(r->is_regex ? pat + 1 : pat);
	r->block = strdup(trim(eq + 1));
	map->n++;
	if (!r->pattern || !r->block)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	if (strlen(r->block) >= sizeof(((struct bo_block_stats *)0)->name)) {
		Bo_error_where(err, where, NULL, NULL, "--blocks");
		return Bo_fail(err, BO_EINVAL, "block name '%s' is too long", r->block);
	}
	const char *why = r->is_regex ? regex_too_costly(r->pattern) : NULL;
	if (why) {
		r->is_regex = 0; /* nothing to regfree */
		Bo_error_where(err, where, NULL, NULL, "--blocks");
		return Bo_fail(err, BO_EINVAL, "rule %d: the regular expression %s", line, why);
	}
	if (r->is_regex) {
		int e = regcomp(&r->re, r->pattern, REG_EXTENDED | REG_NOSUB);
		if (e) {
			char msg[128];
			regerror(e, &r->re, msg, sizeof(msg));
			r->is_regex = 0; /* nothing to regfree */
			Bo_error_where(err, where, NULL, NULL, "--blocks");
			return Bo_fail(err, BO_EINVAL, "rule %d: bad regular expression '%s': %s", line,
				       r->pattern, msg);
		}
	}
	return BO_OK;
}

bo_status bo_block_map_parse(const char *text, struct bo_block_map **out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	unsigned char *file = NULL;
	size_t len = 0;
	char *copy = NULL;
	const char *where = NULL;
	*out = NULL;
	struct bo_block_map *map = calloc(1, sizeof(*map));
	if (!map)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	if (text[0] == '@') {
		where = text + 1;
		if ((rc = Bo_read_file(text + 1, 1 << 20, &file, &len, err)))
			goto out;
		copy = malloc(len + 1);
		if (!copy) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(copy, file, len);
		copy[len] = 0;
	} else {
		copy = strdup(text);
		if (!copy) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
	}
	{
		const char *sep = where ? "\n" : ",";
		char *save = NULL;
		int line = 1;
		for (char *tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save))
			if ((rc = add_rule(map, tok, where, line++, err)))
				goto out;
	}
	if (map->n == 0) {
		Bo_error_where(err, where, NULL, NULL, "--blocks");
		rc = Bo_fail(err, BO_EINVAL, "the block map has no rules");
	}
out:
	free(file);
	free(copy);
	if (rc)
		bo_block_map_free(map);
	else
		*out = map;
	return rc;
}

const char *bo_block_of(const struct bo_block_map *map, const char *name, char *buf, size_t size)
{
	if (map)
		for (int i = 0; i < map->n; i++) {
			const struct rule *r = &map->rules[i];
			int hit = r->is_regex ? regexec(&r->re, name, 0, NULL, 0) == 0 :
						!strncmp(name, r->pattern, strlen(r->pattern));
			if (hit) {
				snprintf(buf, size, "%s", r->block);
				return buf;
			}
		}
	/* "/layer1/layer1.0/conv1/Conv" -> "layer1"; "/Flatten" or "Conv_3" -> "" */
	buf[0] = 0;
	if (name[0] != '/')
		return buf;
	const char *a = name + 1, *b = strchr(a, '/');
	if (!b || b == a)
		return buf;
	size_t n = (size_t)(b - a);
	if (n >= size)
		n = size - 1;
	memcpy(buf, a, n);
	buf[n] = 0;
	return buf;
}

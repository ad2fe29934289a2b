/* Model statistics (spec sections 1 and 5) and block maps.
 *
 * Counts come from a plan for one sample, so activation sizes are exact for
 * the given input shape. A weight or activation belongs to the block of the
 * first node (in topological order) that reads it. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "sites.h"

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
		bo_error_where(err, where, NULL, NULL, "--blocks");
		return bo_fail(err, BO_EINVAL, "rule %d '%s' is not PATTERN=BLOCK", line, item);
	}
	*eq = 0;
	struct rule *r = realloc(map->rules, (size_t)(map->n + 1) * sizeof(*r));
	if (!r)
		return bo_fail(err, BO_ENOMEM, "out of memory");
	map->rules = r;
	r = &map->rules[map->n];
	memset(r, 0, sizeof(*r));
	char *pat = trim(item);
	r->is_regex = pat[0] == '~';
	r->pattern = strdup(r->is_regex ? pat + 1 : pat);
	r->block = strdup(trim(eq + 1));
	map->n++;
	if (!r->pattern || !r->block)
		return bo_fail(err, BO_ENOMEM, "out of memory");
	if (strlen(r->block) >= sizeof(((struct bo_block_stats *)0)->name)) {
		bo_error_where(err, where, NULL, NULL, "--blocks");
		return bo_fail(err, BO_EINVAL, "block name '%s' is too long", r->block);
	}
	const char *why = r->is_regex ? regex_too_costly(r->pattern) : NULL;
	if (why) {
		r->is_regex = 0; /* nothing to regfree */
		bo_error_where(err, where, NULL, NULL, "--blocks");
		return bo_fail(err, BO_EINVAL, "rule %d: the regular expression %s", line, why);
	}
	if (r->is_regex) {
		int e = regcomp(&r->re, r->pattern, REG_EXTENDED | REG_NOSUB);
		if (e) {
			char msg[128];
			regerror(e, &r->re, msg, sizeof(msg));
			r->is_regex = 0; /* nothing to regfree */
			bo_error_where(err, where, NULL, NULL, "--blocks");
			return bo_fail(err, BO_EINVAL, "rule %d: bad regular expression '%s': %s", line,
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
		return bo_fail(err, BO_ENOMEM, "out of memory");
	if (text[0] == '@') {
		where = text + 1;
		if ((rc = bo_read_file(text + 1, 1 << 20, &file, &len, err)))
			goto out;
		copy = malloc(len + 1);
		if (!copy) {
			rc = bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(copy, file, len);
		copy[len] = 0;
	} else {
		copy = strdup(text);
		if (!copy) {
			rc = bo_fail(err, BO_ENOMEM, "out of memory");
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
		bo_error_where(err, where, NULL, NULL, "--blocks");
		rc = bo_fail(err, BO_EINVAL, "the block map has no rules");
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

static const char *const site_rule_names[BO_N_SITE_RULES] = {
	[BO_SITES_RELU] = "relu",
	[BO_SITES_CONV_INPUTS] = "conv-inputs",
	[BO_SITES_ACTIVATIONS] = "activations",
	[BO_SITES_ACTIVATIONS_GATED] = "activations-gated",
};

const char *bo_act_sites_name(enum bo_act_sites s)
{
	return (unsigned)s < BO_N_SITE_RULES ? site_rule_names[s] : "?";
}

bo_status bo_act_sites_parse(const char *name, enum bo_act_sites *out, struct bo_error *err)
{
	for (int i = 0; i < BO_N_SITE_RULES; i++)
		if (name && !strcmp(name, site_rule_names[i])) {
			*out = (enum bo_act_sites)i;
			return BO_OK;
		}
	return bo_fail(err, BO_EINVAL, "activation sites must be %s, not '%s'", BO_SITES_CHOICES,
		       name ? name : "");
}

void bo_model_stats_release(struct bo_model_stats *st)
{
	if (!st)
		return;
	free(st->blocks);
	free(st->ops);
	memset(st, 0, sizeof(*st));
}

static int block_index(struct bo_model_stats *st, const char *name, struct bo_error *err)
{
	for (int i = 0; i < st->n_blocks; i++)
		if (!strcmp(st->blocks[i].name, name))
			return i;
	struct bo_block_stats *b = realloc(st->blocks, (size_t)(st->n_blocks + 1) * sizeof(*b));
	if (!b) {
		bo_fail(err, BO_ENOMEM, "out of memory");
		return -1;
	}
	st->blocks = b;
	memset(&b[st->n_blocks], 0, sizeof(*b));
	snprintf(b[st->n_blocks].name, sizeof(b->name), "%s", name);
	return st->n_blocks++;
}

bo_status bo_model_stats(const struct bo_model *m, const int64_t *sample_dims, int sample_rank,
			 const struct bo_block_map *map, enum bo_act_sites kind,
			 struct bo_model_stats *st, struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct bo_plan plan = { 0 };
	struct bo_sites sites = { 0 };
	struct bo_shape in[BO_MAX_IN];
	char buf[128];
	memset(st, 0, sizeof(*st));
	st->sites = kind;
	if (m->n_inputs > BO_MAX_IN || m->n_inputs < 1)
		return bo_fail(err, BO_EUNSUPPORTED, "the model has %d inputs", m->n_inputs);
	/* one sample, or the model's fixed batch (counts are then per sample) */
	const int64_t batch = BO_MAX(bo_model_fixed_batch(m), 1);
	for (int i = 0; i < m->n_inputs; i++) {
		const struct bo_value *v = &m->values[m->inputs[i]];
		in[i].rank = v->rank;
		for (int k = 0; k < v->rank; k++)
			in[i].d[k] = v->dims[k];
		if (i == 0 && sample_dims) {
			if (v->rank >= 0 && sample_rank + 1 != v->rank) {
				bo_error_where(err, m->path, v->name, NULL, "--input-shape");
				return bo_fail(err, BO_ESHAPE,
					       "the model's input has rank %d; give %d dimensions without the batch",
					       v->rank, v->rank - 1);
			}
			in[0].rank = sample_rank + 1;
			for (int k = 0; k < sample_rank; k++)
				in[0].d[k + 1] = sample_dims[k];
		}
		if (in[i].rank < 1) {
			bo_error_where(err, m->path, v->name, NULL, "--input-shape");
			return bo_fail(err, BO_EINVAL, "the input shape is not in the file; give --input-shape");
		}
		in[i].d[0] = batch;
		for (int k = 1; k < in[i].rank; k++)
			if (in[i].d[k] < 0) {
				bo_error_where(err, m->path, v->name, NULL, "--input-shape");
				return bo_fail(err, BO_EINVAL,
					       "input dimension %d is symbolic in the file; give --input-shape", k);
			}
	}
	st->input_rank = in[0].rank - 1;
	for (int k = 1; k < in[0].rank; k++)
		st->input_dims[k - 1] = in[0].d[k];
	if ((rc = bo_plan_build(m, in, 0, &plan, err)))
		goto out;
	if ((rc = bo_sites_find(m, kind, &sites, err)))
		goto out;
	/* blocks in order of first appearance of their nodes */
	for (int i = 0; i < m->n_nodes; i++)
		if (!m->nodes[i].dead && block_index(st, bo_block_of(map, m->nodes[i].name, buf, sizeof(buf)), err) < 0) {
			rc = BO_ENOMEM;
			goto out;
		}
	for (int i = 0; i < m->n_weights; i++) {
		const struct bo_value *v = &m->values[m->weights[i].value];
		int b = block_index(st, bo_block_of(map, m->nodes[m->weights[i].node].name, buf, sizeof(buf)), err);
		if (b < 0) {
			rc = BO_ENOMEM;
			goto out;
		}
		st->parameters += v->numel;
		st->blocks[b].parameters += v->numel;
	}
	for (int i = 0; i < sites.n; i++) {
		int v = sites.value[i];
		int node = sites.node[i] >= 0 ? sites.node[i] : m->values[v].producer;
		int64_t n = bo_shape_numel(&plan.shape[v]) / in[0].d[0];
		const char *bn = node >= 0 ? bo_block_of(map, m->nodes[node].name, buf, sizeof(buf)) : "";
		int b = block_index(st, bn, err);
		if (b < 0) {
			rc = BO_ENOMEM;
			goto out;
		}
		st->activations += n;
		st->blocks[b].activations += n;
	}
	/* drop blocks that store nothing (e.g. a lone Flatten) */
	{
		int k = 0;
		for (int i = 0; i < st->n_blocks; i++)
			if (st->blocks[i].parameters || st->blocks[i].activations)
				st->blocks[k++] = st->blocks[i];
		st->n_blocks = k;
	}
	for (int i = 0; i < m->n_nodes; i++) {
		const struct bo_node *n = &m->nodes[i];
		int found = -1;
		for (int k = 0; k < st->n_ops; k++)
			if (!strcmp(st->ops[k].op, n->op_type))
				found = k;
		if (found < 0) {
			struct bo_op_count *o = realloc(st->ops, (size_t)(st->n_ops + 1) * sizeof(*o));
			if (!o) {
				rc = bo_fail(err, BO_ENOMEM, "out of memory");
				goto out;
			}
			st->ops = o;
			found = st->n_ops++;
			memset(&o[found], 0, sizeof(*o));
			snprintf(o[found].op, sizeof(o->op), "%s", n->op_type);
		}
		st->ops[found].count++;
		st->flops += bo_node_flops(&plan, i) / in[0].d[0];
	}
out:
	bo_plan_release(&plan);
	bo_sites_release(&sites);
	if (rc)
		bo_model_stats_release(st);
	return rc;
}

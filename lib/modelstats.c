/* Model statistics (spec sections 1 and 5): parameters, activations and
 * FLOPs, in total and per block (block maps: blockmap.c), and the names of
 * the activation-site rules.
 *
 * Counts come from a plan for one sample, so activation sizes are exact for
 * the given input shape. A weight or activation belongs to the block of the
 * first node (in topological order) that reads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "sites.h"

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
	return Bo_fail(err, BO_EINVAL, "activation sites must be %s, not '%s'", BO_SITES_CHOICES,
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
		Bo_fail(err, BO_ENOMEM, "out of memory");
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
		return Bo_fail(err, BO_EUNSUPPORTED, "the model has %d inputs", m->n_inputs);
	/* one sample, or the model's fixed batch (counts are then per sample) */
	const int64_t batch = BO_MAX(bo_model_fixed_batch(m), 1);
	for (int i = 0; i < m->n_inputs; i++) {
		const struct bo_value *v = &m->values[m->inputs[i]];
		in[i].rank = v->rank;
		for (int k = 0; k < v->rank; k++)
			in[i].d[k] = v->dims[k];
		if (i == 0 && sample_dims) {
			if (v->rank >= 0 && sample_rank + 1 != v->rank) {
				Bo_error_where(err, m->path, v->name, NULL, "--input-shape");
				return Bo_fail(err, BO_ESHAPE,
					       "the model's input has rank %d; give %d dimensions without the batch",
					       v->rank, v->rank - 1);
			}
			in[0].rank = sample_rank + 1;
			for (int k = 0; k < sample_rank; k++)
				in[0].d[k + 1] = sample_dims[k];
		}
		if (in[i].rank < 1) {
			Bo_error_where(err, m->path, v->name, NULL, "--input-shape");
			return Bo_fail(err, BO_EINVAL, "the input shape is not in the file; give --input-shape");
		}
		in[i].d[0] = batch;
		for (int k = 1; k < in[i].rank; k++)
			if (in[i].d[k] < 0) {
				Bo_error_where(err, m->path, v->name, NULL, "--input-shape");
				return Bo_fail(err, BO_EINVAL,
					       "input dimension %d is symbolic in the file; give --input-shape", k);
			}
	}
	st->input_rank = in[0].rank - 1;
	for (int k = 1; k < in[0].rank; k++)
		st->input_dims[k - 1] = in[0].d[k];
	if ((rc = Bo_plan_build(m, in, 0, &plan, err)))
		goto out;
	if ((rc = Bo_sites_find(m, kind, &sites, err)))
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
		int64_t n = Bo_shape_numel(&plan.shape[v]) / in[0].d[0];
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
				rc = Bo_fail(err, BO_ENOMEM, "out of memory");
				goto out;
			}
			st->ops = o;
			found = st->n_ops++;
			memset(&o[found], 0, sizeof(*o));
			snprintf(o[found].op, sizeof(o->op), "%s", n->op_type);
		}
		st->ops[found].count++;
		st->flops += Bo_node_flops(&plan, i) / in[0].d[0];
	}
out:
	Bo_plan_release(&plan);
	Bo_sites_release(&sites);
	if (rc)
		bo_model_stats_release(st);
	return rc;
}

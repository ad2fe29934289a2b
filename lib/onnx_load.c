/* ONNX loading.
 *
 * Design: the file is unpacked by protobuf-c (code generated at build time
 * from Debian's onnx.proto) and translated at once into brownout's own graph
 * (graph.h): values with constant data copied out, nodes with attributes
 * parsed into per-op parameters. Every attribute of every supported op is
 * checked against a whitelist, so a model using something we do not
 * implement fails at load time with node, op and attribute named, never at
 * run time. Then the protobuf is freed.
 *
 * After translation the loader:
 *  - sorts nodes topologically (Kahn), reporting cycles and dangling inputs;
 *  - aliases Identity/Dropout over constants (PyTorch's deduplicated
 *    initializers) and evaluates int64 shape arithmetic whose inputs are all
 *    constant, so such nodes never run;
 *  - turns every BatchNormalization into a per-channel (scale, shift) pair,
 *    the form the spec stores in memory;
 *  - lists the stored weights (spec section 1).
 * Shape/Gather/Unsqueeze/Concat chains that depend on the input shape are
 * folded per input shape when a session plans (plan.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "onnx.pb-c.h"

#define DEF_MAX_FILE (2LL << 30)
#define DEF_MAX_NODES 100000
#define DEF_MAX_TENSOR (1LL << 30)
#define DEF_MAX_TOTAL (1LL << 30)

enum {
	DT_FLOAT = 1, DT_UINT8 = 2, DT_INT8 = 3, DT_INT32 = 6, DT_INT64 = 7, DT_BOOL = 9,
	DT_DOUBLE = 11,
};


/* ---- name lookup: open addressing over value names ---- */

struct name_table {
	int *slot; /* value index + 1, 0 = empty */
	size_t cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bo_status table_init(struct name_table *t, size_t n)
{
	t->cap = 16;
	while (t->cap < 2 * n + 16)
		t->cap *= 2;
	t->slot = calloc(t->cap, sizeof(int));
	return t->slot ? BO_OK : BO_ENOMEM;
}

static int table_get(const struct name_table *t, const struct bo_model *m, const char *name)
{
	size_t i = hash_str(name) & (t->cap - 1);
	while (t->slot[i]) {
		if (!strcmp(m->values[t->slot[i] - 1].name, name))
			return t->slot[i] - 1;
		i = (i + 1) & (t->cap - 1);
	}
	return -1;
}

static void table_put(struct name_table *t, const char *name, int idx)
{
	size_t i = hash_str(name) & (t->cap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = idx + 1;
}

int Bo_find_value(const struct bo_model *m, const char *name)
{
	for (int i = 0; i < m->n_values; i++)
		if (!strcmp(m->values[i].name, name))
			return i;
	return -1;
}

/* ---- loader context ---- */

struct loader {
	struct bo_model *m;
	struct bo_error *err;
	struct name_table names;
	int64_t total_elems;
	const char *file;
};

static bo_status add_value(struct loader *L, const char *name, enum bo_val_kind kind, int *out)
{
	struct bo_model *m = L->m;
	if (m->n_values == m->cap_values) {
		int cap = m->cap_values ? 2 * m->cap_values : 64;
		struct bo_value *v = realloc(m->values, (size_t)cap * sizeof(*v));
		if (!v)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory adding tensor '%s'", name);
		m->values = v;
		m->cap_values = cap;
	}
	struct bo_value *v = &m->values[m->n_values];
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	if (!v->name)
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	v->kind = kind;
	v->dtype = BO_DT_F32;
	v->rank = -1;
	v->producer = -1;
	v->weight = -1;
	*out = m->n_values++;
	/* Names are unique per graph; anonymous intermediates use "" which we
	 * never look up. */
	if (name[0])
		table_put(&L->names, name, *out);
	return BO_OK;
}

static bo_status check_dims(struct loader *L, const char *what, size_t n_dims,
			    const int64_t *dims, int64_t *numel)
{
	if (n_dims > BO_MAX_RANK)
		return Bo_fail(L->err, BO_ELIMIT, "%s has rank %zu, more than %d", what, n_dims,
			       BO_MAX_RANK);
	int64_t n = 1;
	for (size_t i = 0; i < n_dims; i++) {
		if (dims[i] < 0)
			return Bo_fail(L->err, BO_EMALFORMED, "%s has negative dimension %lld", what,
				       (long long)dims[i]);
		if (!Bo_mul_ok(n, dims[i], &n) || n > L->m->limits.max_tensor_elems)
			return Bo_fail(L->err, BO_ELIMIT,
				       "%s has more than %lld elements (dimension %zu is %lld)", what,
				       (long long)L->m->limits.max_tensor_elems, i,
				       (long long)dims[i]);
	}
	*numel = n;
	return BO_OK;
}

static const char *dtype_name(int dt)
{
	static const char *const names[] = { "undefined", "float", "uint8", "int8", "uint16",
		"int16", "int32", "int64", "string", "bool", "float16", "double", "uint32",
		"uint64", "complex64", "complex128", "bfloat16" };
	return dt >= 0 && dt < (int)(sizeof(names) / sizeof(names[0])) ? names[dt] : "unknown";
}

/* Copy a TensorProto's data into v as float32 or int64. */
static bo_status tensor_from_proto(struct loader *L, const Onnx__TensorProto *tp,
				   struct bo_value *v)
{
	const char *nm = tp->name ? tp->name : "";
	bo_status rc = check_dims(L, "tensor", tp->n_dims, tp->dims, &v->numel);
	if (rc) {
		Bo_error_where(L->err, NULL, nm, NULL, "dims");
		return rc;
	}
	if (tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL ||
	    tp->n_external_data) {
		Bo_error_where(L->err, NULL, nm, NULL, "external_data");
		return Bo_fail(L->err, BO_EUNSUPPORTED,
			       "tensor data stored in an external file is not supported");
	}
	if (tp->segment) {
		Bo_error_where(L->err, NULL, nm, NULL, "segment");
		return Bo_fail(L->err, BO_EUNSUPPORTED, "segmented tensors are not supported");
	}
	L->total_elems += v->numel;
	if (L->total_elems > L->m->limits.max_total_elems) {
		Bo_error_where(L->err, NULL, nm, NULL, NULL);
		return Bo_fail(L->err, BO_ELIMIT, "constants exceed %lld elements in all",
			       (long long)L->m->limits.max_total_elems);
	}
	v->rank = (int)tp->n_dims;
	for (size_t i = 0; i < tp->n_dims; i++)
		v->dims[i] = tp->dims[i];
	int dt = tp->data_type;
	size_t n = (size_t)v->numel;
	size_t have;
	size_t esize;
	switch (dt) {
	case DT_FLOAT: esize = 4; have = tp->n_float_data; break;
	case DT_DOUBLE: esize = 8; have = tp->n_double_data; break;
	case DT_INT64: esize = 8; have = tp->n_int64_data; break;
	case DT_INT32: case DT_INT8: case DT_UINT8: case DT_BOOL:
		esize = dt == DT_INT32 ? 4 : 1;
		have = tp->n_int32_data;
		break;
	default:
		Bo_error_where(L->err, NULL, nm, NULL, "data_type");
		return Bo_fail(L->err, BO_EUNSUPPORTED, "tensor data type %s (%d) is not supported",
			       dtype_name(dt), dt);
	}
	if (tp->has_raw_data) {
		if (tp->raw_data.len != n * esize) {
			Bo_error_where(L->err, NULL, nm, NULL, "raw_data");
			return Bo_fail(L->err, BO_EMALFORMED,
				       "raw_data has %zu bytes but dims need %zu x %zu bytes",
				       tp->raw_data.len, n, esize);
		}
	} else if (have != n) {
		Bo_error_where(L->err, NULL, nm, NULL, "data");
		return Bo_fail(L->err, BO_EMALFORMED, "tensor has %zu values but dims need %zu",
			       have, n);
	}
	int is_float = dt == DT_FLOAT || dt == DT_DOUBLE;
	v->dtype = is_float ? BO_DT_F32 : BO_DT_I64;
	v->owns_data = 1;
	if (is_float) {
		v->f = malloc(n ? n * sizeof(float) : 1);
		if (!v->f)
			return Bo_fail(L->err, BO_ENOMEM, "cannot allocate tensor '%s'", nm);
	} else {
		v->i = malloc(n ? n * sizeof(int64_t) : 1);
		if (!v->i)
			return Bo_fail(L->err, BO_ENOMEM, "cannot allocate tensor '%s'", nm);
	}
	const unsigned char *raw = tp->has_raw_data ? tp->raw_data.data : NULL;
	for (size_t k = 0; k < n; k++) {
		/* raw_data is little-endian; so is every machine we build for. */
		switch (dt) {
		case DT_FLOAT:
			if (raw)
				memcpy(&v->f[k], raw + 4 * k, 4);
			else
				v->f[k] = tp->float_data[k];
			break;
		case DT_DOUBLE: {
			double d;
			if (raw)
				memcpy(&d, raw + 8 * k, 8);
			else
				d = tp->double_data[k];
			v->f[k] = (float)d;
			break;
		}
		case DT_INT64:
			if (raw)
				memcpy(&v->i[k], raw + 8 * k, 8);
			else
				v->i[k] = tp->int64_data[k];
			break;
		case DT_INT32: {
			int32_t x;
			if (raw)
				memcpy(&x, raw + 4 * k, 4);
			else
				x = tp->int32_data[k];
			v->i[k] = x;
			break;
		}
		case DT_INT8:
			v->i[k] = raw ? (int8_t)raw[k] : tp->int32_data[k];
			break;
		default: /* uint8, bool */
			v->i[k] = raw ? raw[k] : tp->int32_data[k];
			break;
		}
	}
	return BO_OK;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *np, const char *name)
{
	for (size_t i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && !strcmp(np->attribute[i]->name, name))
			return np->attribute[i];
	return NULL;
}

static bo_status attr_fail(struct loader *L, const char *attr, bo_status st, const char *msg,
			   const char *detail)
{
	Bo_error_where(L->err, NULL, NULL, NULL, attr);
	return Bo_fail(L->err, st, "%s%s", msg, detail ? detail : "");
}

static bo_status get_int(struct loader *L, const Onnx__NodeProto *np, const char *name,
			 int64_t def, int64_t *out)
{
	const Onnx__AttributeProto *a = find_attr(np, name);
	*out = def;
	if (!a)
		return BO_OK;
	if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT && !a->has_i)
		return attr_fail(L, name, BO_EMALFORMED, "attribute must be an integer", NULL);
	*out = a->i;
	return BO_OK;
}

static bo_status get_float(struct loader *L, const Onnx__NodeProto *np, const char *name,
			   float def, float *out)
{
	const Onnx__AttributeProto *a = find_attr(np, name);
	*out = def;
	if (!a)
		return BO_OK;
	if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT && !a->has_f)
		return attr_fail(L, name, BO_EMALFORMED, "attribute must be a float", NULL);
	*out = a->f;
	return BO_OK;
}

/* Read an ints attribute of at most `max` values; *n = -1 when absent. */
static bo_status get_ints(struct loader *L, const Onnx__NodeProto *np, const char *name,
			  int64_t *vals, int max, int *n)
{
	const Onnx__AttributeProto *a = find_attr(np, name);
	*n = -1;
	if (!a)
		return BO_OK;
	if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS && a->n_ints == 0 &&
	    a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
		return attr_fail(L, name, BO_EMALFORMED, "attribute must be a list of integers",
				 NULL);
	if (a->n_ints > (size_t)max) {
		Bo_error_where(L->err, NULL, NULL, NULL, name);
		return Bo_fail(L->err, BO_EUNSUPPORTED, "has %zu values; at most %d are supported",
			       a->n_ints, max);
	}
	for (size_t i = 0; i < a->n_ints; i++)
		vals[i] = a->ints[i];
	*n = (int)a->n_ints;
	return BO_OK;
}

static bo_status get_string(struct loader *L, const Onnx__NodeProto *np, const char *name,
			    const char *def, char *buf, size_t size)
{
	const Onnx__AttributeProto *a = find_attr(np, name);
	snprintf(buf, size, "%s", def);
	if (!a)
		return BO_OK;
	if (!a->has_s)
		return attr_fail(L, name, BO_EMALFORMED, "attribute must be a string", NULL);
	size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
	memcpy(buf, a->s.data, n);
	buf[n] = 0;
	return BO_OK;
}

/* Every attribute a node carries must be in `allowed` (NULL-terminated). */
static bo_status check_attrs(struct loader *L, const Onnx__NodeProto *np,
			     const char *const *allowed)
{
	for (size_t i = 0; i < np->n_attribute; i++) {
		const char *nm = np->attribute[i]->name ? np->attribute[i]->name : "";
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, nm))
				ok = 1;
		if (!ok) {
			Bo_error_where(L->err, NULL, NULL, NULL, nm);
			return Bo_fail(L->err, BO_EUNSUPPORTED, "attribute is not supported");
		}
	}
	return BO_OK;
}

static bo_status parse_window(struct loader *L, const Onnx__NodeProto *np, struct bo_window *w,
			      int is_conv)
{
	bo_status rc;
	int64_t k[4], s[4], d[4], pads[8];
	int nk, ns, nd, np_;
	char ap[32];
	int64_t v;
	memset(w, 0, sizeof(*w));
	if ((rc = get_ints(L, np, "kernel_shape", k, 3, &nk)))
		return rc;
	if ((rc = get_ints(L, np, "strides", s, 3, &ns)))
		return rc;
	if ((rc = get_ints(L, np, "dilations", d, 3, &nd)))
		return rc;
	if ((rc = get_ints(L, np, "pads", pads, 6, &np_)))
		return rc;
	if ((rc = get_string(L, np, "auto_pad", "NOTSET", ap, sizeof(ap))))
		return rc;
	if (!strcmp(ap, "NOTSET"))
		w->auto_pad = 0;
	else if (!strcmp(ap, "SAME_UPPER"))
		w->auto_pad = 1;
	else if (!strcmp(ap, "SAME_LOWER"))
		w->auto_pad = 2;
	else if (!strcmp(ap, "VALID"))
		w->auto_pad = 3;
	else
		return attr_fail(L, "auto_pad", BO_EUNSUPPORTED, "unknown value ", ap);
	if (!is_conv && nk < 0)
		return attr_fail(L, "kernel_shape", BO_EMALFORMED, "is required", NULL);
	w->has_kernel = nk > 0;
	/* nsp: spatial dims; the rest default to 1 so 1-D runs as 2-D. */
	int nsp = nk > 0 ? nk : (ns > 0 ? ns : (nd > 0 ? nd : (np_ > 0 ? np_ / 2 : 2)));
	if (nsp > 2) {
		Bo_error_where(L->err, NULL, NULL, NULL, "kernel_shape");
		return Bo_fail(L->err, BO_EUNSUPPORTED, "%d spatial dimensions; only 1 and 2 are supported",
			       nsp);
	}
	if ((ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np_ >= 0 && np_ != 2 * nsp))
		return attr_fail(L, "strides", BO_EMALFORMED,
				 "kernel_shape, strides, dilations and pads disagree on the number of spatial dimensions",
				 NULL);
	w->nsp = nsp;
	for (int i = 0; i < 2; i++) {
		int j = i - (2 - nsp); /* 1-D: dim 0 is the fake H=1 */
		w->k[i] = (j >= 0 && nk > 0) ? k[j] : (j >= 0 ? 0 : 1);
		w->s[i] = (j >= 0 && ns > 0) ? s[j] : 1;
		w->d[i] = (j >= 0 && nd > 0) ? d[j] : 1;
		w->pb[i] = (j >= 0 && np_ > 0) ? pads[j] : 0;
		w->pe[i] = (j >= 0 && np_ > 0) ? pads[j + nsp] : 0;
		if ((j >= 0 && nk > 0 && w->k[i] <= 0) || w->s[i] <= 0 || w->d[i] <= 0 ||
		    w->pb[i] < 0 || w->pe[i] < 0 || w->k[i] > 65536 || w->s[i] > 65536 ||
		    w->d[i] > 65536 || w->pb[i] > 65536 || w->pe[i] > 65536)
			return attr_fail(L, (j >= 0 && nk > 0 && w->k[i] <= 0) || w->k[i] > 65536 ?
						    "kernel_shape" :
					 w->s[i] <= 0 || w->s[i] > 65536 ? "strides" :
					 w->d[i] <= 0 || w->d[i] > 65536 ? "dilations" : "pads",
					 BO_EMALFORMED, "value out of range (1 to 65536; pads 0 to 65536)",
					 NULL);
	}
	if ((rc = get_int(L, np, "ceil_mode", 0, &v)))
		return rc;
	w->ceil_mode = v != 0;
	if ((rc = get_int(L, np, "count_include_pad", 0, &v)))
		return rc;
	w->count_include_pad = v != 0;
	if ((rc = get_int(L, np, "group", 1, &v)))
		return rc;
	if (v < 1)
		return attr_fail(L, "group", BO_EMALFORMED, "must be at least 1", NULL);
	w->group = v;
	if ((rc = get_int(L, np, "storage_order", 0, &v)))
		return rc;
	if (v != 0)
		return attr_fail(L, "storage_order", BO_EUNSUPPORTED, "only row-major (0) is supported",
				 NULL);
	return BO_OK;
}

/* ---- the attribute readers the operator table's parse functions use ---- */

#define A_L(a) ((struct loader *)(a)->loader)
#define A_NP(a) ((const Onnx__NodeProto *)(a)->np)

bo_status Bo_attr_int(struct bo_attrs *a, const char *name, int64_t def, int64_t *out)
{
	return get_int(A_L(a), A_NP(a), name, def, out);
}

bo_status Bo_attr_float(struct bo_attrs *a, const char *name, float def, float *out)
{
	return get_float(A_L(a), A_NP(a), name, def, out);
}

bo_status Bo_attr_ints(struct bo_attrs *a, const char *name, int64_t *vals, int max, int *n)
{
	return get_ints(A_L(a), A_NP(a), name, vals, max, n);
}

bo_status Bo_attr_string(struct bo_attrs *a, const char *name, const char *def, char *buf,
			 size_t size)
{
	return get_string(A_L(a), A_NP(a), name, def, buf, size);
}

int Bo_attr_has(struct bo_attrs *a, const char *name)
{
	return find_attr(A_NP(a), name) != NULL;
}

bo_status Bo_attr_fail(struct bo_attrs *a, const char *attr, bo_status st, const char *msg,
		       const char *detail)
{
	return attr_fail(A_L(a), attr, st, msg, detail);
}

bo_status Bo_attr_window(struct bo_attrs *a, struct bo_window *w, int is_conv)
{
	return parse_window(A_L(a), A_NP(a), w, is_conv);
}

/* ConstantOfShape's "value": a one-element float or integer tensor. */
bo_status Bo_attr_fill(struct bo_attrs *a, int *is_int, float *f, int64_t *i)
{
	const Onnx__AttributeProto *at = find_attr(A_NP(a), "value");
	if (!at)
		return BO_OK;
	if (!at->t)
		return attr_fail(A_L(a), "value", BO_EMALFORMED, "attribute must be a tensor", NULL);
	struct bo_value v;
	memset(&v, 0, sizeof(v));
	bo_status rc = tensor_from_proto(A_L(a), at->t, &v);
	if (!rc && v.numel != 1)
		rc = attr_fail(A_L(a), "value", BO_EMALFORMED, "must hold one value", NULL);
	if (!rc) {
		*is_int = v.dtype == BO_DT_I64;
		if (*is_int)
			*i = v.i[0];
		else
			*f = v.f[0];
	}
	free(v.f);
	free(v.i);
	return rc;
}

const char *Bo_attr_dtype_name(int dt)
{
	return dtype_name(dt);
}

/* Attributes: the table's whitelist, then the op's own parser. */
static bo_status parse_op(struct loader *L, const Onnx__NodeProto *np, struct bo_node *n)
{
	static const char *const none[] = { NULL };
	const struct Bo_op_def *d = Bo_op_def(n->op);
	int opset = L->m->opset;
	const char *const *allowed = d->attrs && (!d->attrs_before || opset < d->attrs_before) ?
					     d->attrs : none;
	bo_status rc;
	if ((rc = check_attrs(L, np, allowed)))
		return rc;
	struct bo_attrs a = { L, np, opset };
	return d->parse ? d->parse(&a, n) : BO_OK;
}

/* Expected input counts [min, max] per op, so kernels can index safely. */
static void op_arity(enum bo_opcode op, int opset, int *lo, int *hi)
{
	const struct Bo_op_def *d = Bo_op_def(op);
	*lo = d->min_in;
	*hi = d->old_opset && opset < d->old_opset ? d->old_max_in : d->max_in;
}

/* Inputs that ONNX lets a model leave empty ("" as the name). */
static int input_optional(enum bo_opcode op, int k)
{
	return k < 32 && (Bo_op_def(op)->optional >> k & 1);
}

/* A Constant node becomes a constant value. */
static bo_status constant_node(struct loader *L, const Onnx__NodeProto *np)
{
	bo_status rc;
	if (np->n_output != 1 || !np->output[0][0])
		return Bo_fail(L->err, BO_EMALFORMED, "Constant needs exactly one output");
	if (np->n_attribute != 1)
		return Bo_fail(L->err, BO_EMALFORMED, "Constant needs exactly one attribute");
	const Onnx__AttributeProto *a = np->attribute[0];
	if (table_get(&L->names, L->m, np->output[0]) >= 0) {
		Bo_error_where(L->err, NULL, NULL, NULL, "output");
		return Bo_fail(L->err, BO_EMALFORMED, "tensor '%s' is produced twice", np->output[0]);
	}
	int idx;
	if ((rc = add_value(L, np->output[0], BO_VAL_CONST, &idx)))
		return rc;
	struct bo_value *v = &L->m->values[idx];
	const char *an = a->name ? a->name : "";
	if (!strcmp(an, "value") && a->t) {
		return tensor_from_proto(L, a->t, v);
	} else if (!strcmp(an, "value_float") || !strcmp(an, "value_floats")) {
		size_t n = strcmp(an, "value_float") ? a->n_floats : 1;
		v->f = malloc(n ? n * sizeof(float) : 1);
		if (!v->f)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		v->owns_data = 1;
		v->dtype = BO_DT_F32;
		v->numel = (int64_t)n;
		v->rank = strcmp(an, "value_float") ? 1 : 0;
		v->dims[0] = (int64_t)n;
		for (size_t i = 0; i < n; i++)
			v->f[i] = strcmp(an, "value_float") ? a->floats[i] : a->f;
	} else if (!strcmp(an, "value_int") || !strcmp(an, "value_ints")) {
		size_t n = strcmp(an, "value_int") ? a->n_ints : 1;
		v->i = malloc(n ? n * sizeof(int64_t) : 1);
		if (!v->i)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		v->owns_data = 1;
		v->dtype = BO_DT_I64;
		v->numel = (int64_t)n;
		v->rank = strcmp(an, "value_int") ? 1 : 0;
		v->dims[0] = (int64_t)n;
		for (size_t i = 0; i < n; i++)
			v->i[i] = strcmp(an, "value_int") ? a->ints[i] : a->i;
	} else {
		Bo_error_where(L->err, NULL, NULL, NULL, an);
		return Bo_fail(L->err, BO_EUNSUPPORTED, "Constant attribute is not supported");
	}
	return BO_OK;
}

/* Find the byte offset at which the top-level protobuf structure breaks:
 * protobuf-c only says "failed", and a user with a truncated upload wants
 * to know where. This walks field headers (varint key, wire type, length)
 * of the ModelProto and of its graph (field 7) without interpreting them. */
static int64_t wire_break(const unsigned char *p, size_t len, size_t base, int depth)
{
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		uint64_t key = 0;
		int shift = 0;
		do {
			if (i >= len || shift > 63)
				return (int64_t)(base + start);
			key |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
		} while (p[i++] & 0x80);
		unsigned wt = key & 7;
		uint64_t field = key >> 3;
		if (field == 0)
			return (int64_t)(base + start);
		if (wt == 0) {
			do {
				if (i >= len)
					return (int64_t)(base + start);
			} while (p[i++] & 0x80);
		} else if (wt == 1) {
			if (len - i < 8)
				return (int64_t)(base + start);
			i += 8;
		} else if (wt == 5) {
			if (len - i < 4)
				return (int64_t)(base + start);
			i += 4;
		} else if (wt == 2) {
			uint64_t l = 0;
			shift = 0;
			do {
				if (i >= len || shift > 63)
					return (int64_t)(base + start);
				l |= (uint64_t)(p[i] & 0x7f) << shift;
				shift += 7;
			} while (p[i++] & 0x80);
			if (l > len - i)
				return (int64_t)(base + start);
			if (depth == 0 && field == 7) {
				int64_t b = wire_break(p + i, (size_t)l, base + i, 1);
				if (b >= 0)
					return b;
			}
			i += (size_t)l;
		} else {
			return (int64_t)(base + start);
		}
	}
	return -1;
}

/* Every operator of graph g that the table lacks (or from another domain),
 * in order of first appearance: "TYPE xCOUNT (first: NODE), ...". *out is
 * malloc'ed, "" when there is none. */
static bo_status list_unsupported(const Onnx__GraphProto *g, char **out)
{
	size_t cap = 256, len = 0;
	size_t n = g->n_node;
	int *first = calloc(n + 1, sizeof(int)), *count = calloc(n + 1, sizeof(int));
	char *s = malloc(cap);
	bo_status rc = BO_OK;
	*out = NULL;
	if (!first || !count || !s) {
		rc = BO_ENOMEM;
		goto out;
	}
	s[0] = 0;
	int nt = 0; /* distinct unsupported types: first[] holds a node index each */
	for (size_t i = 0; i < n; i++) {
		const Onnx__NodeProto *np = g->node[i];
		const char *type = np->op_type ? np->op_type : "";
		int foreign = np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx");
		if (!foreign && (!strcmp(type, "Constant") || Bo_op_lookup(type) >= 0))
			continue;
		int t = 0;
		for (; t < nt; t++) {
			const Onnx__NodeProto *f = g->node[first[t]];
			const char *fd = f->domain ? f->domain : "", *d = np->domain ? np->domain : "";
			if (!strcmp(f->op_type ? f->op_type : "", type) && !strcmp(fd, d))
				break;
		}
		if (t == nt)
			first[nt++] = (int)i;
		count[t]++;
	}
	for (int t = 0; t < nt; t++) {
		const Onnx__NodeProto *np = g->node[first[t]];
		char item[512], nm[32];
		const char *name = np->name && np->name[0] ? np->name : NULL;
		if (!name) {
			snprintf(nm, sizeof(nm), "#%d", first[t]);
			name = nm;
		}
		int foreign = np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx");
		snprintf(item, sizeof(item), "%s%s%s%s x%d (first: %s)", t ? ", " : "",
			 foreign ? np->domain : "", foreign ? "." : "", np->op_type ? np->op_type : "",
			 count[t], name);
		size_t k = strlen(item);
		if (len + k + 1 > cap) {
			char *ns = realloc(s, (cap = 2 * (len + k + 1)));
			if (!ns) {
				rc = BO_ENOMEM;
				goto out;
			}
			s = ns;
		}
		memcpy(s + len, item, k + 1);
		len += k;
	}
	*out = s;
	s = NULL;
out:
	free(first);
	free(count);
	free(s);
	return rc;
}

/* Refuse a graph with unsupported operators, naming all of them (the text
 * is cut to fit struct bo_error, ending in "..."; bo_model_unsupported_ops
 * gives the whole list). */
static bo_status fail_unsupported(struct loader *L, const Onnx__GraphProto *g)
{
	char *list = NULL;
	if (list_unsupported(g, &list))
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	/* the error's node and op stay those of the first unsupported node */
	Bo_fail(L->err, BO_EUNSUPPORTED, "unsupported operators: %s", list);
	size_t max = sizeof(L->err->text) - 1;
	if (strlen("unsupported operators: ") + strlen(list) > max)
		memcpy(L->err->text + max - 3, "...", 4);
	free(list);
	return BO_EUNSUPPORTED;
}

/* A Split with K outputs becomes K nodes, each computing one output (a
 * slice of the input), so that every node has one output to plan. */
static bo_status split_node(struct loader *L, const Onnx__NodeProto *np, const char *nm,
			    size_t src)
{
	struct bo_model *m = L->m;
	bo_status rc;
	int opset = m->opset, cnt;
	int64_t axis, sizes[16];
	if (np->n_input < 1 || np->n_input > (size_t)(opset < 13 ? 1 : 2)) {
		Bo_error_where(L->err, NULL, NULL, NULL, "input");
		return Bo_fail(L->err, BO_EMALFORMED, "has %zu inputs; expected 1 to %d",
			       np->n_input, opset < 13 ? 1 : 2);
	}
	if (np->n_output < 1 || np->n_output > 16) {
		Bo_error_where(L->err, NULL, NULL, NULL, "output");
		return Bo_fail(L->err, BO_EUNSUPPORTED, "has %zu outputs; 1 to 16 are supported",
			       np->n_output);
	}
	static const char *const split_a[] = { "axis", "split", NULL };
	static const char *const axis_a[] = { "axis", NULL };
	if ((rc = check_attrs(L, np, opset < 13 ? split_a : axis_a)) ||
	    (rc = get_int(L, np, "axis", 0, &axis)) ||
	    (rc = get_ints(L, np, "split", sizes, 16, &cnt)))
		return rc;
	for (size_t k = 0; k < np->n_output; k++) {
		struct bo_node *n = &m->nodes[m->n_nodes];
		memset(n, 0, sizeof(*n));
		n->op = OP_SPLIT;
		n->src = (int)src;
		n->name = strdup(nm);
		n->op_type = strdup("Split");
		m->n_nodes++;
		n->n_in = (int)np->n_input;
		n->in = malloc((size_t)(n->n_in + 1) * sizeof(int));
		if (!n->name || !n->op_type || !n->in)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		if (n->n_in > m->max_node_in)
			m->max_node_in = n->n_in;
		for (int j = 0; j < n->n_in; j++)
			n->in[j] = -2;
		n->p.split.axis = axis;
		n->p.split.index = (int)k;
		n->p.split.count = (int)np->n_output;
		n->p.split.n = cnt;
		if (cnt > 0)
			memcpy(n->p.split.sizes, sizes, (size_t)cnt * sizeof(int64_t));
		n->n_out = 1;
		if (!np->output[k][0]) {
			Bo_error_where(L->err, NULL, NULL, NULL, "output");
			return Bo_fail(L->err, BO_EUNSUPPORTED, "output %zu has no name", k);
		}
		if (table_get(&L->names, m, np->output[k]) >= 0) {
			Bo_error_where(L->err, NULL, NULL, NULL, "output");
			return Bo_fail(L->err, BO_EMALFORMED, "tensor '%s' is produced twice",
				       np->output[k]);
		}
		if ((rc = add_value(L, np->output[k], BO_VAL_RUNTIME, &n->out[0])))
			return rc;
		m->values[n->out[0]].producer = m->n_nodes - 1;
	}
	return BO_OK;
}

static bo_status translate(struct loader *L, const Onnx__ModelProto *mp)
{
	struct bo_model *m = L->m;
	bo_status rc = BO_OK;
	const Onnx__GraphProto *g = mp->graph;

	m->opset = -1;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
		if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
			m->opset = (int)o->version;
	}
	if (mp->n_opset_import == 0)
		m->opset = 1;
	if (m->opset < 0) {
		Bo_error_where(L->err, NULL, NULL, NULL, "opset_import");
		return Bo_fail(L->err, BO_EUNSUPPORTED,
			       "the model imports no default-domain (ai.onnx) opset");
	}
	if (m->opset < 7 || m->opset > 17) {
		Bo_error_where(L->err, NULL, NULL, NULL, "opset_import");
		return Bo_fail(L->err, BO_EUNSUPPORTED,
			       "default-domain opset %d is not supported (7 to 17 are)", m->opset);
	}
	if (!g) {
		Bo_error_where(L->err, NULL, NULL, NULL, "graph");
		return Bo_fail(L->err, BO_EMALFORMED, "model has no graph");
	}
	if (mp->producer_name && !(m->producer = strdup(mp->producer_name)))
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	if ((int64_t)g->n_node > m->limits.max_nodes) {
		Bo_error_where(L->err, NULL, NULL, NULL, "node");
		return Bo_fail(L->err, BO_ELIMIT, "graph has %zu nodes, more than the limit of %lld",
			       g->n_node, (long long)m->limits.max_nodes);
	}
	if (g->n_sparse_initializer) {
		Bo_error_where(L->err, NULL, NULL, NULL, "sparse_initializer");
		return Bo_fail(L->err, BO_EUNSUPPORTED, "sparse initializers are not supported");
	}
	if ((rc = table_init(&L->names, g->n_initializer + g->n_input + 2 * g->n_node)))
		return Bo_fail(L->err, rc, "out of memory");

	/* metadata */
	if (mp->n_metadata_props) {
		m->meta = calloc(mp->n_metadata_props, sizeof(*m->meta));
		if (!m->meta)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		for (size_t i = 0; i < mp->n_metadata_props; i++) {
			const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
			m->meta[i].key = strdup(e->key ? e->key : "");
			m->meta[i].val = strdup(e->value ? e->value : "");
			m->n_meta++;
			if (!m->meta[i].key || !m->meta[i].val)
				return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		}
	}

	/* initializers */
	for (size_t i = 0; i < g->n_initializer; i++) {
		const Onnx__TensorProto *tp = g->initializer[i];
		int idx;
		if (!tp->name || !tp->name[0]) {
			Bo_error_where(L->err, NULL, NULL, NULL, "initializer");
			return Bo_fail(L->err, BO_EMALFORMED, "initializer %zu has no name", i);
		}
		if (table_get(&L->names, m, tp->name) >= 0) {
			Bo_error_where(L->err, NULL, tp->name, NULL, "initializer");
			return Bo_fail(L->err, BO_EMALFORMED, "initializer name is used twice");
		}
		if ((rc = add_value(L, tp->name, BO_VAL_CONST, &idx)))
			return rc;
		if ((rc = tensor_from_proto(L, tp, &m->values[idx])))
			return rc;
	}

	/* inputs that are not initializers */
	m->inputs = calloc(g->n_input + 1, sizeof(int));
	m->outputs = calloc(g->n_output + 1, sizeof(int));
	if (!m->inputs || !m->outputs)
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__ValueInfoProto *vi = g->input[i];
		const char *nm = vi->name ? vi->name : "";
		if (table_get(&L->names, m, nm) >= 0)
			continue; /* IR < 4 lists initializers as inputs too */
		Bo_error_where(L->err, NULL, nm, NULL, "input");
		if (!nm[0])
			return Bo_fail(L->err, BO_EMALFORMED, "graph input %zu has no name", i);
		if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
		    !vi->type->tensor_type)
			return Bo_fail(L->err, BO_EUNSUPPORTED, "graph input is not a tensor");
		const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
		if (tt->elem_type != DT_FLOAT)
			return Bo_fail(L->err, BO_EUNSUPPORTED,
				       "graph input type %s is not supported (only float)",
				       dtype_name(tt->elem_type));
		int idx;
		if ((rc = add_value(L, nm, BO_VAL_INPUT, &idx)))
			return rc;
		struct bo_value *v = &m->values[idx];
		if (tt->shape) {
			if (tt->shape->n_dim > BO_MAX_RANK)
				return Bo_fail(L->err, BO_ELIMIT, "input rank %zu is over %d",
					       tt->shape->n_dim, BO_MAX_RANK);
			v->rank = (int)tt->shape->n_dim;
			for (size_t d = 0; d < tt->shape->n_dim; d++) {
				const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
				v->dims[d] = dm->value_case ==
							     ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
							     dm->dim_value > 0 ?
						     dm->dim_value :
						     -1;
			}
		}
		m->inputs[m->n_inputs++] = idx;
	}
	bo_error_clear(L->err);

	/* nodes: Constant nodes become values; others are translated; a Split
	 * becomes one node per output (each a slice of the input) */
	size_t n_slots = 0;
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *np = g->node[i];
		int split = np->op_type && !strcmp(np->op_type, "Split");
		n_slots += split && np->n_output > 1 ? np->n_output : 1;
	}
	m->nodes = calloc(n_slots + 1, sizeof(*m->nodes));
	if (!m->nodes)
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *np = g->node[i];
		const char *type = np->op_type ? np->op_type : "";
		char namebuf[32];
		const char *nm = np->name && np->name[0] ? np->name : NULL;
		if (!nm) {
			snprintf(namebuf, sizeof(namebuf), "#%zu", i);
			nm = namebuf;
		}
		Bo_error_where(L->err, NULL, nm, type, NULL);
		if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx"))
			return fail_unsupported(L, g);
		if (!strcmp(type, "Constant")) {
			if ((rc = constant_node(L, np)))
				return rc;
			bo_error_clear(L->err);
			continue;
		}
		int op = Bo_op_lookup(type);
		if (op < 0)
			return fail_unsupported(L, g);
		if (op == OP_SPLIT) {
			if ((rc = split_node(L, np, nm, i)))
				return rc;
			bo_error_clear(L->err);
			continue;
		}
		struct bo_node *n = &m->nodes[m->n_nodes];
		memset(n, 0, sizeof(*n));
		n->op = (enum bo_opcode)op;
		n->src = (int)i;
		n->name = strdup(nm);
		n->op_type = strdup(type);
		m->n_nodes++;
		if (!n->name || !n->op_type)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		int lo, hi;
		op_arity(n->op, m->opset, &lo, &hi);
		if (np->n_input < (size_t)lo || np->n_input > (size_t)hi) {
			Bo_error_where(L->err, NULL, NULL, NULL, "input");
			return Bo_fail(L->err, BO_EMALFORMED, "has %zu inputs; expected %d to %d",
				       np->n_input, lo, hi);
		}
		if (np->n_output < 1 || np->n_output > 2) {
			Bo_error_where(L->err, NULL, NULL, NULL, "output");
			return Bo_fail(L->err, BO_EUNSUPPORTED, "has %zu outputs", np->n_output);
		}
		n->n_in = (int)np->n_input;
		n->in = malloc((size_t)(n->n_in + 1) * sizeof(int));
		if (!n->in)
			return Bo_fail(L->err, BO_ENOMEM, "out of memory");
		if (n->n_in > m->max_node_in)
			m->max_node_in = n->n_in;
		for (int k = 0; k < n->n_in; k++)
			n->in[k] = -2; /* resolved below, once every output exists */
		/* A second output that no one names is as good as absent. */
		n->n_out = np->n_output == 2 && np->output[1][0] ? 2 : 1;
		if (!np->output[0][0]) {
			Bo_error_where(L->err, NULL, NULL, NULL, "output");
			return Bo_fail(L->err, BO_EMALFORMED, "output 0 has no name");
		}
		for (int k = 0; k < n->n_out; k++) {
			if (table_get(&L->names, m, np->output[k]) >= 0) {
				Bo_error_where(L->err, NULL, NULL, NULL, "output");
				return Bo_fail(L->err, BO_EMALFORMED, "tensor '%s' is produced twice",
					       np->output[k]);
			}
			if ((rc = add_value(L, np->output[k], BO_VAL_RUNTIME, &n->out[k])))
				return rc;
			m->values[n->out[k]].producer = m->n_nodes - 1;
		}
		if ((rc = parse_op(L, np, n)))
			return rc;
		bo_error_clear(L->err);
	}
	/* resolve node inputs now that every produced name exists */
	{
		for (int k = 0; k < m->n_nodes; k++) {
			const Onnx__NodeProto *np = g->node[m->nodes[k].src];
			struct bo_node *n = &m->nodes[k];
			for (int j = 0; j < n->n_in; j++) {
				const char *in = np->input[j];
				if (!in[0]) {
					if (!input_optional(n->op, j)) {
						Bo_error_where(L->err, NULL, n->name, n->op_type, "input");
						return Bo_fail(L->err, BO_EMALFORMED,
							       "required input %d is missing (its name is empty)", j);
					}
					n->in[j] = -1;
					continue;
				}
				n->in[j] = table_get(&L->names, m, in);
				if (n->in[j] < 0) {
					Bo_error_where(L->err, NULL, n->name, n->op_type, "input");
					return Bo_fail(L->err, BO_EMALFORMED,
						       "input '%s' is not a graph input, an initializer or the output of any node",
						       in);
				}
				m->values[n->in[j]].n_consumers++;
			}
		}
	}
	/* outputs */
	for (size_t i = 0; i < g->n_output; i++) {
		const char *nm = g->output[i]->name ? g->output[i]->name : "";
		int idx = table_get(&L->names, m, nm);
		if (idx < 0) {
			Bo_error_where(L->err, NULL, nm, NULL, "output");
			return Bo_fail(L->err, BO_EMALFORMED, "graph output is never produced");
		}
		m->values[idx].is_output = 1;
		m->values[idx].n_consumers++;
		m->outputs[m->n_outputs++] = idx;
	}
	if (m->n_outputs == 0) {
		Bo_error_where(L->err, NULL, NULL, NULL, "output");
		return Bo_fail(L->err, BO_EMALFORMED, "graph has no outputs");
	}
	return BO_OK;
}

/* Kahn's algorithm; rejects cycles. Reorders m->nodes and fixes producers. */
static bo_status topo_sort(struct loader *L)
{
	struct bo_model *m = L->m;
	bo_status rc = BO_OK;
	int n = m->n_nodes;
	int *indeg = calloc((size_t)n + 1, sizeof(int));
	int *order = calloc((size_t)n + 1, sizeof(int));
	int *queue = calloc((size_t)n + 1, sizeof(int));
	/* consumers lists via CSR */
	int *cstart = calloc((size_t)m->n_values + 1, sizeof(int));
	int *clist = NULL;
	struct bo_node *sorted = NULL;
	if (!indeg || !order || !queue || !cstart) {
		rc = Bo_fail(L->err, BO_ENOMEM, "out of memory");
		goto out;
	}
	int total = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < m->nodes[i].n_in; j++)
			if (m->nodes[i].in[j] >= 0) {
				cstart[m->nodes[i].in[j]]++;
				total++;
			}
	clist = calloc((size_t)total + 1, sizeof(int));
	if (!clist) {
		rc = Bo_fail(L->err, BO_ENOMEM, "out of memory");
		goto out;
	}
	{
		int acc = 0;
		for (int v = 0; v < m->n_values; v++) {
			int c = cstart[v];
			cstart[v] = acc;
			acc += c;
		}
		cstart[m->n_values] = acc;
		int *fill = calloc((size_t)m->n_values + 1, sizeof(int));
		if (!fill) {
			rc = Bo_fail(L->err, BO_ENOMEM, "out of memory");
			goto out;
		}
		for (int i = 0; i < n; i++)
			for (int j = 0; j < m->nodes[i].n_in; j++) {
				int v = m->nodes[i].in[j];
				if (v < 0)
					continue;
				clist[cstart[v] + fill[v]++] = i;
				if (m->values[v].producer >= 0)
					indeg[i]++;
			}
		free(fill);
	}
	int qh = 0, qt = 0, done = 0;
	for (int i = 0; i < n; i++)
		if (!indeg[i])
			queue[qt++] = i;
	while (qh < qt) {
		int i = queue[qh++];
		order[done++] = i;
		for (int k = 0; k < m->nodes[i].n_out; k++) {
			int v = m->nodes[i].out[k];
			for (int c = cstart[v]; c < cstart[v + 1]; c++)
				if (--indeg[clist[c]] == 0)
					queue[qt++] = clist[c];
		}
	}
	if (done < n) {
		for (int i = 0; i < n; i++)
			if (indeg[i]) {
				Bo_error_where(L->err, NULL, m->nodes[i].name, m->nodes[i].op_type,
					       NULL);
				break;
			}
		rc = Bo_fail(L->err, BO_EMALFORMED, "the graph has a cycle through this node");
		goto out;
	}
	sorted = calloc((size_t)n + 1, sizeof(*sorted));
	if (!sorted) {
		rc = Bo_fail(L->err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		sorted[i] = m->nodes[order[i]];
		for (int k = 0; k < sorted[i].n_out; k++)
			m->values[sorted[i].out[k]].producer = i;
	}
	free(m->nodes);
	m->nodes = sorted;
out:
	free(indeg);
	free(order);
	free(queue);
	free(cstart);
	free(clist);
	return rc;
}

/* Make value `dst` a constant sharing `src`'s data. */
static void alias_const(struct bo_model *m, int dst, int src)
{
	struct bo_value *d = &m->values[dst], *s = &m->values[src];
	d->kind = BO_VAL_CONST;
	d->dtype = s->dtype;
	d->rank = s->rank;
	memcpy(d->dims, s->dims, sizeof(d->dims));
	d->numel = s->numel;
	d->f = s->f;
	d->i = s->i;
	d->owns_data = 0;
	d->producer = -1;
}

/* BatchNormalization -> per-channel (scale, shift) constants, spec section 1. */
static bo_status fold_bn(struct loader *L, struct bo_node *n)
{
	struct bo_model *m = L->m;
	bo_status rc;
	n->p.bn.scale = n->p.bn.shift = -1;
	for (int k = 1; k < 5; k++) {
		struct bo_value *v = &m->values[n->in[k]];
		if (v->dtype != BO_DT_F32) {
			Bo_error_where(L->err, NULL, n->name, n->op_type, "input");
			return Bo_fail(L->err, BO_EUNSUPPORTED, "input %d ('%s') must be a float tensor",
				       k, v->name);
		}
		/* parameters computed at run time: the kernel folds them per call */
		if (v->kind != BO_VAL_CONST)
			return BO_OK;
	}
	int64_t c = m->values[n->in[1]].numel;
	for (int k = 2; k < 5; k++)
		if (m->values[n->in[k]].numel != c) {
			Bo_error_where(L->err, NULL, n->name, n->op_type, "input");
			return Bo_fail(L->err, BO_ESHAPE,
				       "scale has %lld values but input %d has %lld", (long long)c, k,
				       (long long)m->values[n->in[k]].numel);
		}
	char nm[512];
	int sidx, hidx;
	snprintf(nm, sizeof(nm), "%s.scale", n->name);
	if ((rc = add_value(L, nm, BO_VAL_CONST, &sidx)))
		return rc;
	snprintf(nm, sizeof(nm), "%s.shift", n->name);
	if ((rc = add_value(L, nm, BO_VAL_CONST, &hidx)))
		return rc;
	struct bo_value *sc = &m->values[sidx], *sh = &m->values[hidx];
	const float *gamma = m->values[n->in[1]].f, *beta = m->values[n->in[2]].f;
	const float *mean = m->values[n->in[3]].f, *var = m->values[n->in[4]].f;
	sc->f = malloc((size_t)(c ? c : 1) * sizeof(float));
	sh->f = malloc((size_t)(c ? c : 1) * sizeof(float));
	sc->owns_data = sh->owns_data = 1;
	if (!sc->f || !sh->f)
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	sc->rank = sh->rank = 1;
	sc->dims[0] = sh->dims[0] = c;
	sc->numel = sh->numel = c;
	for (int64_t i = 0; i < c; i++) {
		float s = gamma[i] / sqrtf(var[i] + n->p.bn.eps);
		sc->f[i] = s;
		sh->f[i] = beta[i] - mean[i] * s;
	}
	for (int k = 1; k < 5; k++)
		m->values[n->in[k]].n_consumers--;
	n->p.bn.scale = sidx;
	n->p.bn.shift = hidx;
	sc->n_consumers = sh->n_consumers = 1;
	n->in[1] = sidx;
	n->in[2] = hidx;
	n->n_in = 3;
	return BO_OK;
}

/* Value v, read by node, is a stored weight. An Identity of an initializer
 * (PyTorch exports equal tensors once and aliases them) is a tensor of its
 * own (spec section 1): the alias is listed, not the value it shares data
 * with; sessions fault each alias on its own. */
static bo_status add_weight(struct loader *L, int v, int node)
{
	struct bo_model *m = L->m;
	if (m->values[v].weight >= 0 || m->values[v].dtype != BO_DT_F32)
		return BO_OK;
	struct bo_weight *w = realloc(m->weights, (size_t)(m->n_weights + 1) * sizeof(*w));
	if (!w)
		return Bo_fail(L->err, BO_ENOMEM, "out of memory");
	m->weights = w;
	m->weights[m->n_weights].value = v;
	m->weights[m->n_weights].node = node;
	m->values[v].weight = m->n_weights++;
	return BO_OK;
}

static bo_status post_process(struct loader *L)
{
	struct bo_model *m = L->m;
	bo_status rc;
	for (int i = 0; i < m->n_nodes; i++) {
		struct bo_node *n = &m->nodes[i];
		/* Dropout is the identity only with training_mode a constant false. */
		if (n->op == OP_DROPOUT && n->n_in > 2 && n->in[2] >= 0) {
			const struct bo_value *t = &m->values[n->in[2]];
			int on = t->kind != BO_VAL_CONST;
			for (int64_t k = 0; !on && k < t->numel; k++)
				on = t->dtype == BO_DT_I64 ? t->i[k] != 0 : t->f[k] != 0.f;
			/* training mode with a constant ratio of 0 drops nothing */
			if (on && n->in[1] >= 0) {
				const struct bo_value *r = &m->values[n->in[1]];
				int zero = r->kind == BO_VAL_CONST && r->numel == 1;
				if (zero)
					zero = r->dtype == BO_DT_I64 ? r->i[0] == 0 : r->f[0] == 0.f;
				on = !zero;
			}
			if (on) {
				Bo_error_where(L->err, NULL, n->name, n->op_type, "training_mode");
				return Bo_fail(L->err, BO_EUNSUPPORTED,
					       "training mode is not supported (inference only): the input must be a constant false");
			}
		}
		/* Dropout's mask: all true in inference; fine when nobody reads it */
		if (n->op == OP_DROPOUT && n->n_out > 1) {
			const struct bo_value *mk = &m->values[n->out[1]];
			if (mk->n_consumers) {
				Bo_error_where(L->err, NULL, n->name, n->op_type, "mask");
				return Bo_fail(L->err, BO_EUNSUPPORTED,
					       "the mask output is not supported");
			}
			n->n_out = 1;
		}
		/* Identity/Dropout over a constant: share it, skip the node. */
		if ((n->op == OP_IDENTITY || n->op == OP_DROPOUT) &&
		    m->values[n->in[0]].kind == BO_VAL_CONST && !m->values[n->out[0]].is_output) {
			alias_const(m, n->out[0], n->in[0]);
			n->dead = 1;
			continue;
		}
		if (n->op == OP_BN && (rc = fold_bn(L, n)))
			return rc;
	}
	/* Stored weights, in topological order of first use. */
	for (int i = 0; i < m->n_nodes; i++) {
		struct bo_node *n = &m->nodes[i];
		if (n->dead)
			continue;
		if (n->op == OP_CONV || n->op == OP_GEMM || n->op == OP_MATMUL) {
			for (int k = 0; k < n->n_in; k++)
				if (n->in[k] >= 0 && m->values[n->in[k]].kind == BO_VAL_CONST &&
				    (rc = add_weight(L, n->in[k], i)))
					return rc;
		} else if (n->op == OP_BN && n->n_in == 3) {
			if ((rc = add_weight(L, n->p.bn.scale, i)) ||
			    (rc = add_weight(L, n->p.bn.shift, i)))
				return rc;
		}
	}
	/* Then (after those, so that their indexes, which key the faults, stay
	 * what they were) every other float constant of more than one value a
	 * node reads as data: the affine pair of a decomposed LayerNorm, PRelu
	 * slopes, position embeddings, class tokens; and the scale and bias of
	 * the normalisation ops whatever their size. Scalars (Clip bounds,
	 * epsilons, exponents) and int64 tensors (shapes, axes) are not stored. */
	for (int i = 0; i < m->n_nodes; i++) {
		struct bo_node *n = &m->nodes[i];
		if (n->dead || n->op == OP_CONV || n->op == OP_GEMM || n->op == OP_MATMUL ||
		    n->op == OP_BN)
			continue;
		int affine = !strcmp(n->op_type, "LayerNormalization") ||
			     !strcmp(n->op_type, "InstanceNormalization") ||
			     !strcmp(n->op_type, "GroupNormalization");
		for (int k = 0; k < n->n_in; k++) {
			int v = n->in[k];
			if (v < 0 || m->values[v].kind != BO_VAL_CONST || m->values[v].dtype != BO_DT_F32)
				continue;
			if ((affine && k > 0) || m->values[v].numel > 1)
				if ((rc = add_weight(L, v, i)))
					return rc;
		}
	}
	return BO_OK;
}

static void set_limits(struct bo_model_limits *dst, const struct bo_model_limits *src)
{
	dst->max_file_bytes = src && src->max_file_bytes > 0 ? src->max_file_bytes : DEF_MAX_FILE;
	dst->max_nodes = src && src->max_nodes > 0 ? src->max_nodes : DEF_MAX_NODES;
	dst->max_tensor_elems =
		src && src->max_tensor_elems > 0 ? src->max_tensor_elems : DEF_MAX_TENSOR;
	dst->max_total_elems =
		src && src->max_total_elems > 0 ? src->max_total_elems : DEF_MAX_TOTAL;
}

bo_status bo_model_load_buffer(const void *data, size_t len, const char *name,
			       const struct bo_model_limits *limits, struct bo_model **out,
			       struct bo_error *err)
{
	bo_status rc = BO_OK;
	Onnx__ModelProto *mp = NULL;
	struct loader L = { 0 };
	struct bo_error dummy;
	if (!err)
		err = &dummy;
	bo_error_clear(err);
	*out = NULL;
	L.err = err;
	L.file = name ? name : "<buffer>";
	L.m = calloc(1, sizeof(*L.m));
	if (!L.m) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	set_limits(&L.m->limits, limits);
	if ((int64_t)len > L.m->limits.max_file_bytes) {
		rc = Bo_fail(err, BO_ELIMIT, "model is %zu bytes, over the limit of %lld", len,
			     (long long)L.m->limits.max_file_bytes);
		goto out;
	}
	if (len == 0) {
		rc = Bo_fail(err, BO_EMALFORMED, "empty file is not an ONNX model");
		goto out;
	}
	if (!(L.m->path = strdup(L.file))) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	mp = onnx__model_proto__unpack(NULL, len, data);
	if (!mp) {
		err->offset = wire_break(data, len, 0, 0);
		rc = Bo_fail(err, BO_EMALFORMED,
			     err->offset >= 0 ?
				     "not a valid ONNX protobuf: the structure breaks here (truncated or corrupt file)" :
				     "not a valid ONNX protobuf (corrupt field contents)");
		goto out;
	}
	if ((rc = translate(&L, mp)))
		goto out;
	if ((rc = topo_sort(&L)))
		goto out;
	if ((rc = post_process(&L)))
		goto out;
out:
	if (mp)
		onnx__model_proto__free_unpacked(mp, NULL);
	free(L.names.slot);
	if (rc) {
		if (!err->file[0])
			snprintf(err->file, sizeof(err->file), "%s", L.file);
		bo_model_free(L.m);
	} else {
		*out = L.m;
	}
	return rc;
}

bo_status bo_model_load_ex(const char *path, const struct bo_model_limits *limits,
			   struct bo_model **out, struct bo_error *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct bo_model_limits lim;
	*out = NULL;
	set_limits(&lim, limits);
	bo_error_clear(err);
	bo_status rc = Bo_read_file(path, lim.max_file_bytes, &buf, &len, err);
	if (rc)
		return rc;
	rc = bo_model_load_buffer(buf, len, path, &lim, out, err);
	free(buf);
	return rc;
}

bo_status bo_model_load(const char *path, struct bo_model **out, struct bo_error *err)
{
	return bo_model_load_ex(path, NULL, out, err);
}

bo_status bo_model_unsupported_ops(const char *path, char **list, struct bo_error *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct bo_model_limits lim;
	*list = NULL;
	set_limits(&lim, NULL);
	bo_error_clear(err);
	bo_status rc = Bo_read_file(path, lim.max_file_bytes, &buf, &len, err);
	if (rc)
		return rc;
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	if (!mp || !mp->graph) {
		if (mp)
			onnx__model_proto__free_unpacked(mp, NULL);
		Bo_error_where(err, path, NULL, NULL, NULL);
		return Bo_fail(err, BO_EMALFORMED, "not a valid ONNX model");
	}
	rc = list_unsupported(mp->graph, list);
	onnx__model_proto__free_unpacked(mp, NULL);
	if (rc)
		return Bo_fail(err, rc, "out of memory");
	return BO_OK;
}

void bo_model_free(struct bo_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_values; i++) {
		free(m->values[i].name);
		if (m->values[i].owns_data) {
			free(m->values[i].f);
			free(m->values[i].i);
		}
	}
	for (int i = 0; i < m->n_nodes; i++) {
		free(m->nodes[i].name);
		free(m->nodes[i].op_type);
		free(m->nodes[i].in);
	}
	for (int i = 0; i < m->n_meta; i++) {
		free(m->meta[i].key);
		free(m->meta[i].val);
	}
	free(m->meta);
	free(m->values);
	free(m->nodes);
	free(m->inputs);
	free(m->outputs);
	free(m->weights);
	free(m->producer);
	free(m->path);
	free(m);
}

/* ---- accessors ---- */

int bo_model_n_inputs(const struct bo_model *m) { return m->n_inputs; }

int64_t bo_model_fixed_batch(const struct bo_model *m)
{
	int64_t b = 0;
	for (int i = 0; i < m->n_inputs; i++) {
		const struct bo_value *v = &m->values[m->inputs[i]];
		if (v->rank < 1 || v->dims[0] <= 0)
			return 0; /* a dynamic batch, or no batch axis */
		if (b && v->dims[0] != b)
			return 0;
		b = v->dims[0];
	}
	return b;
}
int bo_model_n_outputs(const struct bo_model *m) { return m->n_outputs; }
int bo_model_opset(const struct bo_model *m) { return m->opset; }
const char *bo_model_producer(const struct bo_model *m)
{
	return m->producer ? m->producer : "";
}

const char *bo_model_input_name(const struct bo_model *m, int i)
{
	return i >= 0 && i < m->n_inputs ? m->values[m->inputs[i]].name : NULL;
}

const char *bo_model_output_name(const struct bo_model *m, int i)
{
	return i >= 0 && i < m->n_outputs ? m->values[m->outputs[i]].name : NULL;
}

int bo_model_input_shape(const struct bo_model *m, int i, int64_t dims[BO_MAX_RANK])
{
	if (i < 0 || i >= m->n_inputs)
		return -1;
	const struct bo_value *v = &m->values[m->inputs[i]];
	for (int k = 0; k < v->rank; k++)
		dims[k] = v->dims[k];
	return v->rank;
}

const char *bo_model_metadata(const struct bo_model *m, const char *key)
{
	for (int i = 0; i < m->n_meta; i++)
		if (!strcmp(m->meta[i].key, key))
			return m->meta[i].val;
	return NULL;
}

int bo_model_n_weights(const struct bo_model *m) { return m->n_weights; }

void bo_model_weight(const struct bo_model *m, int i, struct bo_weight_info *info)
{
	memset(info, 0, sizeof(*info));
	if (i < 0 || i >= m->n_weights)
		return;
	const struct bo_value *v = &m->values[m->weights[i].value];
	const struct bo_node *n = &m->nodes[m->weights[i].node];
	info->name = v->name;
	info->node = n->name;
	info->op = n->op_type;
	info->rank = v->rank;
	for (int k = 0; k < v->rank && k < BO_MAX_RANK; k++)
		info->dims[k] = v->dims[k];
	info->numel = v->numel;
	info->clean = v->f;
}

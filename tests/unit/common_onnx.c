/* A tiny ONNX model builder for unit tests (see common_onnx.h).
 *
 * Every allocation goes through a small arena (a list of pointers) so the
 * protobuf-c structs can point anywhere into builder memory and tb_free()
 * releases everything at once. Repeated fields grow by realloc, replacing
 * the arena entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_onnx.h"

struct tb_model {
	Onnx__ModelProto model;
	Onnx__GraphProto graph;
	void **ptrs;
	size_t n_ptrs, cap_ptrs;
};

static void oom(void)
{
	fprintf(stderr, "common_onnx: out of memory\n");
	abort();
}

static void track(struct tb_model *b, void *p)
{
	if (b->n_ptrs == b->cap_ptrs) {
		size_t cap = b->cap_ptrs ? 2 * b->cap_ptrs : 64;
		void **np = realloc(b->ptrs, cap * sizeof(*np));
		if (!np)
			oom();
		b->ptrs = np;
		b->cap_ptrs = cap;
	}
	b->ptrs[b->n_ptrs++] = p;
}

void *tb_alloc(struct tb_model *b, size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		oom();
	track(b, p);
	return p;
}

char *tb_strdup(struct tb_model *b, const char *s)
{
	size_t n = strlen(s);
	char *p = tb_alloc(b, n + 1);
	memcpy(p, s, n);
	return p;
}

/* Room for one more element in a repeated field of *n elements; the old
 * array's arena entry is replaced. */
static void *grow(struct tb_model *b, void *old, size_t n, size_t esize)
{
	void *np = realloc(old, (n + 1) * esize);
	if (!np)
		oom();
	if (old) {
		for (size_t i = b->n_ptrs; i-- > 0;)
			if (b->ptrs[i] == old) {
				b->ptrs[i] = np;
				break;
			}
	} else {
		track(b, np);
	}
	return np;
}

/* Append item to the repeated field (arr, n). */
#define PUSH(b, arr, n, item)                                        \
	do {                                                         \
		(arr) = grow((b), (arr), (n), sizeof(*(arr)));       \
		(arr)[(n)++] = (item);                               \
	} while (0)

struct tb_model *tb_new(void)
{
	struct tb_model *b = calloc(1, sizeof(*b));
	if (!b)
		oom();
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	b->model = m;
	b->graph = g;
	b->model.has_ir_version = 1;
	b->model.ir_version = 8;
	b->model.producer_name = tb_strdup(b, "common_onnx");
	b->graph.name = tb_strdup(b, "test");
	b->model.graph = &b->graph;
	tb_set_opset(b, 13);
	return b;
}

void tb_free(struct tb_model *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_ptrs; i++)
		free(b->ptrs[i]);
	free(b->ptrs);
	free(b);
}

Onnx__ModelProto *tb_proto(struct tb_model *b) { return &b->model; }
Onnx__GraphProto *tb_graph(struct tb_model *b) { return &b->graph; }

void tb_set_opset(struct tb_model *b, int64_t opset)
{
	b->model.n_opset_import = 0;
	b->model.opset_import = NULL;
	if (opset <= 0)
		return;
	Onnx__OperatorSetIdProto *o = tb_alloc(b, sizeof(*o));
	Onnx__OperatorSetIdProto init = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	*o = init;
	o->domain = tb_strdup(b, "");
	o->has_version = 1;
	o->version = opset;
	PUSH(b, b->model.opset_import, b->model.n_opset_import, o);
}

void tb_set_producer(struct tb_model *b, const char *name)
{
	b->model.producer_name = tb_strdup(b, name);
}

void tb_metadata(struct tb_model *b, const char *key, const char *value)
{
	Onnx__StringStringEntryProto *e = tb_alloc(b, sizeof(*e));
	Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	*e = init;
	e->key = tb_strdup(b, key);
	e->value = tb_strdup(b, value);
	PUSH(b, b->model.metadata_props, b->model.n_metadata_props, e);
}

static Onnx__ValueInfoProto *value_info(struct tb_model *b, const char *name)
{
	Onnx__ValueInfoProto *vi = tb_alloc(b, sizeof(*vi));
	Onnx__ValueInfoProto init = ONNX__VALUE_INFO_PROTO__INIT;
	*vi = init;
	vi->name = tb_strdup(b, name);
	return vi;
}

Onnx__ValueInfoProto *tb_input_typed(struct tb_model *b, const char *name, int elem_type,
				     int rank, const int64_t *dims)
{
	Onnx__ValueInfoProto *vi = value_info(b, name);
	Onnx__TypeProto *tp = tb_alloc(b, sizeof(*tp));
	Onnx__TypeProto tpi = ONNX__TYPE_PROTO__INIT;
	*tp = tpi;
	Onnx__TypeProto__Tensor *tt = tb_alloc(b, sizeof(*tt));
	Onnx__TypeProto__Tensor tti = ONNX__TYPE_PROTO__TENSOR__INIT;
	*tt = tti;
	tt->has_elem_type = 1;
	tt->elem_type = elem_type;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	if (rank >= 0) {
		Onnx__TensorShapeProto *sh = tb_alloc(b, sizeof(*sh));
		Onnx__TensorShapeProto shi = ONNX__TENSOR_SHAPE_PROTO__INIT;
		*sh = shi;
		for (int i = 0; i < rank; i++) {
			Onnx__TensorShapeProto__Dimension *d = tb_alloc(b, sizeof(*d));
			Onnx__TensorShapeProto__Dimension di = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
			*d = di;
			if (dims[i] == -1) {
				d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
				d->dim_param = tb_strdup(b, "N");
			} else {
				d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
				d->dim_value = dims[i];
			}
			PUSH(b, sh->dim, sh->n_dim, d);
		}
		tt->shape = sh;
	}
	vi->type = tp;
	PUSH(b, b->graph.input, b->graph.n_input, vi);
	return vi;
}

Onnx__ValueInfoProto *tb_input(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims)
{
	return tb_input_typed(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
}

Onnx__ValueInfoProto *tb_output(struct tb_model *b, const char *name)
{
	Onnx__ValueInfoProto *vi = value_info(b, name);
	PUSH(b, b->graph.output, b->graph.n_output, vi);
	return vi;
}

static int64_t numel_of(int rank, const int64_t *dims)
{
	int64_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	return n;
}

static Onnx__TensorProto *tensor(struct tb_model *b, const char *name, int type, int rank,
				 const int64_t *dims)
{
	Onnx__TensorProto *t = tb_alloc(b, sizeof(*t));
	Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT;
	*t = init;
	t->name = tb_strdup(b, name);
	t->has_data_type = 1;
	t->data_type = type;
	t->n_dims = (size_t)rank;
	t->dims = tb_alloc(b, (size_t)(rank > 0 ? rank : 1) * sizeof(int64_t));
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	return t;
}

Onnx__TensorProto *tb_tensor_f(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const float *data)
{
	Onnx__TensorProto *t = tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
	size_t n = (size_t)numel_of(rank, dims);
	t->n_float_data = n;
	t->float_data = tb_alloc(b, n * sizeof(float));
	if (data)
		memcpy(t->float_data, data, n * sizeof(float));
	return t;
}

Onnx__TensorProto *tb_tensor_i64(struct tb_model *b, const char *name, int rank,
				 const int64_t *dims, const int64_t *data)
{
	Onnx__TensorProto *t = tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, rank, dims);
	size_t n = (size_t)numel_of(rank, dims);
	t->n_int64_data = n;
	t->int64_data = tb_alloc(b, n * sizeof(int64_t));
	if (data)
		memcpy(t->int64_data, data, n * sizeof(int64_t));
	return t;
}

Onnx__TensorProto *tb_init_f(struct tb_model *b, const char *name, int rank,
			     const int64_t *dims, const float *data)
{
	Onnx__TensorProto *t = tb_tensor_f(b, name, rank, dims, data);
	PUSH(b, b->graph.initializer, b->graph.n_initializer, t);
	return t;
}

Onnx__TensorProto *tb_init_i64(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const int64_t *data)
{
	Onnx__TensorProto *t = tb_tensor_i64(b, name, rank, dims, data);
	PUSH(b, b->graph.initializer, b->graph.n_initializer, t);
	return t;
}

Onnx__TensorProto *tb_init_raw(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const void *bytes, size_t nbytes)
{
	Onnx__TensorProto *t = tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
	t->has_raw_data = 1;
	t->raw_data.len = nbytes;
	t->raw_data.data = tb_alloc(b, nbytes);
	if (bytes)
		memcpy(t->raw_data.data, bytes, nbytes);
	PUSH(b, b->graph.initializer, b->graph.n_initializer, t);
	return t;
}

/* Split "a,,b" into builder-owned strings {"a", "", "b"}; "" gives none. */
static void split_names(struct tb_model *b, const char *list, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!list || !list[0])
		return;
	const char *p = list;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *s = tb_alloc(b, len + 1);
		memcpy(s, p, len);
		PUSH(b, *out, *n, s);
		if (!e)
			break;
		p = e + 1;
	}
}

Onnx__NodeProto *tb_node(struct tb_model *b, const char *op_type, const char *name,
			 const char *inputs, const char *outputs)
{
	Onnx__NodeProto *n = tb_alloc(b, sizeof(*n));
	Onnx__NodeProto init = ONNX__NODE_PROTO__INIT;
	*n = init;
	n->op_type = tb_strdup(b, op_type);
	if (name)
		n->name = tb_strdup(b, name);
	split_names(b, inputs, &n->input, &n->n_input);
	split_names(b, outputs, &n->output, &n->n_output);
	PUSH(b, b->graph.node, b->graph.n_node, n);
	return n;
}

static Onnx__AttributeProto *attr(struct tb_model *b, Onnx__NodeProto *n, const char *name,
				  Onnx__AttributeProto__AttributeType type)
{
	Onnx__AttributeProto *a = tb_alloc(b, sizeof(*a));
	Onnx__AttributeProto init = ONNX__ATTRIBUTE_PROTO__INIT;
	*a = init;
	a->name = tb_strdup(b, name);
	a->has_type = 1;
	a->type = type;
	PUSH(b, n->attribute, n->n_attribute, a);
	return a;
}

void tb_attr_int(struct tb_model *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	a->has_i = 1;
	a->i = v;
}

void tb_attr_ints(struct tb_model *b, Onnx__NodeProto *n, const char *name, int count,
		  const int64_t *v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	a->n_ints = (size_t)count;
	a->ints = tb_alloc(b, (size_t)count * sizeof(int64_t));
	memcpy(a->ints, v, (size_t)count * sizeof(int64_t));
}

void tb_attr_float(struct tb_model *b, Onnx__NodeProto *n, const char *name, float v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	a->has_f = 1;
	a->f = v;
}

void tb_attr_floats(struct tb_model *b, Onnx__NodeProto *n, const char *name, int count,
		    const float *v)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	a->n_floats = (size_t)count;
	a->floats = tb_alloc(b, (size_t)count * sizeof(float));
	memcpy(a->floats, v, (size_t)count * sizeof(float));
}

void tb_attr_string(struct tb_model *b, Onnx__NodeProto *n, const char *name, const char *s)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	a->has_s = 1;
	a->s.len = strlen(s);
	a->s.data = (uint8_t *)tb_strdup(b, s);
}

void tb_attr_tensor(struct tb_model *b, Onnx__NodeProto *n, const char *name,
		    Onnx__TensorProto *t)
{
	Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
	a->t = t;
}

uint8_t *tb_pack(struct tb_model *b, size_t *len)
{
	size_t n = onnx__model_proto__get_packed_size(&b->model);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		oom();
	*len = onnx__model_proto__pack(&b->model, buf);
	return buf;
}

bo_status tb_load(struct tb_model *b, const struct bo_model_limits *limits,
		  struct bo_model **out, struct bo_error *err)
{
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	bo_status rc = bo_model_load_buffer(buf, len, "test.onnx", limits, out, err);
	free(buf);
	return rc;
}

struct bo_model *tb_load_free(struct tb_model *b)
{
	struct bo_model *m = NULL;
	struct bo_error err;
	if (tb_load(b, NULL, &m, &err))
		fprintf(stderr, "load: %s\n", err.text);
	tb_free(b);
	return m;
}

/* x [N,3,8,8] -> Conv 3x3 pad 1 (4) -> BN -> Relu -> MaxPool 2 -> Flatten
 * -> Gemm (64 -> 5) into b (input, initializers, nodes, output); metadata
 * and producer are the caller's. A few hundred bytes packed. */
void tb_small_cnn(struct tb_model *b)
{
	float w[108], bias[5] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f }, one[4] = { 1, 1, 1, 1 }, fc[320];
	for (int i = 0; i < 108; i++)
		w[i] = (float)((i * 37) % 11 - 5) * 0.05f;
	for (int i = 0; i < 320; i++)
		fc[i] = (float)((i * 13) % 7 - 3) * 0.1f;
	tb_input(b, "x", SHAPE(-1, 3, 8, 8));
	tb_init_f(b, "w", SHAPE(4, 3, 3, 3), w);
	tb_init_f(b, "b", SHAPE(4), bias);
	tb_init_f(b, "g", SHAPE(4), one);
	tb_init_f(b, "be", SHAPE(4), bias);
	tb_init_f(b, "mu", SHAPE(4), bias);
	tb_init_f(b, "var", SHAPE(4), one);
	tb_init_f(b, "fc", SHAPE(5, 64), fc);
	tb_init_f(b, "fb", SHAPE(5), bias);
	Onnx__NodeProto *n = tb_node(b, "Conv", "/conv/Conv", "x,w,b", "c");
	tb_attr_ints(b, n, "pads", 4, DIMS(1, 1, 1, 1));
	tb_attr_ints(b, n, "kernel_shape", 2, DIMS(3, 3));
	tb_node(b, "BatchNormalization", "/bn/BatchNormalization", "c,g,be,mu,var", "bn");
	tb_node(b, "Relu", "/relu/Relu", "bn", "r");
	n = tb_node(b, "MaxPool", "/pool/MaxPool", "r", "p");
	tb_attr_ints(b, n, "kernel_shape", 2, DIMS(2, 2));
	tb_attr_ints(b, n, "strides", 2, DIMS(2, 2));
	tb_node(b, "Flatten", "/Flatten", "p", "f");
	n = tb_node(b, "Gemm", "/fc/Gemm", "f,fc,fb", "y");
	tb_attr_int(b, n, "transB", 1);
	tb_output(b, "y");
}

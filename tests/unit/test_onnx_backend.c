/* ONNX backend conformance: every case of the ONNX test data that Debian's
 * libonnx-testdata ships (data/node/test_* and data/pytorch-converted/test_*,
 * each a model.onnx plus test_data_set_N/{input,output}_K.pb).
 *
 * Per case: load the model; BO_EUNSUPPORTED (at load, session or plan time)
 * makes the case a documented SKIP with the formatted error as its reason.
 * Otherwise every data set is run through a 1-thread session and every
 * output element must satisfy |got - want| <= 1e-4 + 1e-3 |want| (NaN ==
 * NaN, inf == inf); anything else (another load error, a shape or value
 * mismatch, a crash, a hang) is a FAIL, and the test fails if any case does.
 *
 * Two derived variants reach code the shipped form cannot (see below):
 * ROOT[frozen] stores inputs 1.. as initializers (shapes, pads, axes, Clip
 * bounds, BatchNormalization parameters are graph inputs in the node tests,
 * and brownout takes only float graph inputs), and ROOT[opset7] reads the
 * opset-6 models (most of pytorch-converted) as opset 7 where that changes
 * nothing for the ops involved. They are counted and reported separately.
 *
 * Each case runs in a forked child so a crash is reported as that case's
 * failure and the run goes on. The skip list with reasons is written to
 * $BO_TEST_OUT_DIR/onnx-backend-skips.txt (default: the current directory).
 *
 * Environment:
 *   BO_ONNX_TESTDATA  data root (default /usr/share/libonnx-testdata/data)
 *   BO_ONNX_FILTER    only run cases whose name contains this string
 *   BO_ONNX_NOFORK    set to run cases in-process (for a debugger, and so
 *                     that LeakSanitizer sees the engine's allocations)
 *   BO_ONNX_VERBOSE   set to print every case's outcome */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <brownout/brownout.h>

#include "onnx.pb-c.h" /* generated in $(BUILD)/gen: to read and rewrite models */

#define DEFAULT_ROOT "/usr/share/libonnx-testdata/data"
#define ATOL 1e-4
#define RTOL 1e-3
#define CASE_TIMEOUT_S 120
#define MSG 2048

enum outcome { PASS = 0, SKIP = 1, FAIL = 2, NA = 3 /* variant does not apply */ };

struct result {
	int outcome;
	char msg[MSG];
};

struct skip_rec {
	char *name;   /* root/case */
	char *reason;
	char *category;
	int variant;  /* 0 as shipped, 1 [frozen], 2 [opset7] */
};

static struct {
	struct skip_rec *v;
	int n, cap;
	int roots_run;
} g_skips;

/* ---- small helpers ---- */

static void set_result(struct result *r, int outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_result(struct result *r, int outcome, const char *fmt, ...)
{
	va_list ap;
	r->outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

/* snprintf into a path buffer of PATH_BUF bytes; too long a path is a bug
 * in the test data layout, not something to truncate silently. */
#define PATH_BUF 4096
static void xpath(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xpath(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out, PATH_BUF, fmt, ap);
	va_end(ap);
	if (k < 0 || k >= PATH_BUF) {
		fprintf(stderr, "path too long: %s\n", out);
		abort();
	}
}

/* The formatted error without the file (the case name says which). */
static const char *fmt_err(const struct bo_error *err, char *buf, size_t size)
{
	struct bo_error e = *err;
	e.file[0] = 0;
	return bo_error_format(&e, buf, size);
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that start with prefix and are
 * directories. Returns the count (-1 when dir cannot be opened). */
static int list_dirs(const char *dir, const char *prefix, char ***out)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	int n = 0, cap = 0;
	*out = NULL;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		char p[PATH_BUF];
		xpath(p, "%s/%s", dir, e->d_name);
		if (!dir_exists(p))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nv = realloc(v, (size_t)cap * sizeof(*v));
			if (!nv)
				abort();
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (!v[n])
			abort();
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, k;
	unsigned char tmp[65536];
	*len = 0;
	if (!f)
		return NULL;
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (n + k > cap) {
			cap = 2 * (n + k);
			unsigned char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		memcpy(buf + n, tmp, k);
		n += k;
	}
	fclose(f);
	*len = n;
	return buf ? buf : calloc(1, 1);
}

/* TensorProto.data_type of a .pb file, so the test can tell a non-float
 * tensor from a broken file; -1 when it cannot be read or parsed. */
static int pb_data_type(const char *path)
{
	size_t len;
	int dt = -1;
	unsigned char *buf = slurp(path, &len);
	Onnx__TensorProto *tp = buf ? onnx__tensor_proto__unpack(NULL, len, buf) : NULL;
	if (tp) {
		dt = tp->data_type;
		onnx__tensor_proto__free_unpacked(tp, NULL);
	}
	free(buf);
	return dt;
}

static const char *dtype_str(int dt)
{
	static const char *const names[] = { "undefined", "float", "uint8", "int8", "uint16",
		"int16", "int32", "int64", "string", "bool", "float16", "double", "uint32",
		"uint64", "complex64", "complex128", "bfloat16" };
	return dt >= 0 && dt < (int)(sizeof(names) / sizeof(names[0])) ? names[dt] : "unknown";
}

static void shape_text(const struct bo_tensor *t, char *buf, size_t size)
{
	size_t n = 0;
	n += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < t->rank && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "",
				      (long long)t->dims[i]);
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

static int close_enough(float got, float want)
{
	if (isnan(want))
		return isnan(got);
	if (isinf(want))
		return got == want;
	return fabs((double)got - (double)want) <= ATOL + RTOL * fabs((double)want);
}

/* ---- one case ---- */

static int count_files(const char *dir, const char *stem)
{
	int n = 0;
	char p[PATH_BUF];
	for (;;) {
		xpath(p, "%s/%s_%d.pb", dir, stem, n);
		if (!file_exists(p))
			return n;
		n++;
	}
}

/* Run data set `set` (a directory) on session s. */
static void run_set(const struct bo_model *m, struct bo_session *s, const char *set,
		    int frozen, struct result *r)
{
	int n_in = bo_model_n_inputs(m), n_out = bo_model_n_outputs(m);
	int fin = frozen ? 1 : count_files(set, "input"), fout = count_files(set, "output");
	const char *sname = strrchr(set, '/') ? strrchr(set, '/') + 1 : set;
	struct bo_tensor in[16], want[16], got[16];
	struct bo_error err;
	char eb[1024], p[PATH_BUF];
	memset(in, 0, sizeof(in));
	memset(want, 0, sizeof(want));
	memset(got, 0, sizeof(got));
	r->outcome = PASS;
	if (fin != n_in) {
		set_result(r, FAIL, "%s: %d input files but the model has %d graph inputs", sname,
			   fin, n_in);
		goto out;
	}
	if (fout != n_out) {
		set_result(r, FAIL, "%s: %d output files but the model has %d graph outputs", sname,
			   fout, n_out);
		goto out;
	}
	if (n_in > 16 || n_out > 16) {
		set_result(r, SKIP, "more than 16 inputs or outputs");
		goto out;
	}
	for (int k = 0; k < n_in; k++) {
		xpath(p, "%s/input_%d.pb", set, k);
		int dt = pb_data_type(p);
		if (dt != 1) {
			set_result(r, SKIP, "input dtype: %s input_%d.pb is %s (%d), not float", sname, k,
				   dtype_str(dt), dt);
			goto out;
		}
		bo_status st = bo_tensor_read_file(p, &in[k], &err);
		if (st) {
			set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "input dtype: %s",
				   fmt_err(&err, eb, sizeof(eb)));
			goto out;
		}
	}
	bo_status st = bo_session_run(s, in, n_in, got, n_out, &err);
	if (st == BO_EUNSUPPORTED) {
		set_result(r, SKIP, "%s", fmt_err(&err, eb, sizeof(eb)));
		goto out;
	}
	if (st) {
		set_result(r, FAIL, "%s: run failed: %s (%s)", sname, fmt_err(&err, eb, sizeof(eb)),
			   bo_strerror(st));
		goto out;
	}
	for (int k = 0; k < n_out; k++) {
		xpath(p, "%s/output_%d.pb", set, k);
		int dt = pb_data_type(p);
		st = bo_tensor_read_file(p, &want[k], &err);
		if (st || (dt != 1 && dt != 11)) {
			/* the engine only computes float tensors; a model whose output is
			 * anything else must have been rejected as unsupported */
			set_result(r, FAIL, "%s: output_%d.pb is %s (%d) but the engine did not reject the model%s%s",
				   sname, k, dtype_str(dt), dt, st ? ": " : "",
				   st ? fmt_err(&err, eb, sizeof(eb)) : "");
			goto out;
		}
	}
	for (int k = 0; k < n_out; k++) {
		char s1[128], s2[128];
		int same = got[k].rank == want[k].rank;
		for (int i = 0; same && i < got[k].rank; i++)
			same = got[k].dims[i] == want[k].dims[i];
		if (!same) {
			shape_text(&got[k], s1, sizeof(s1));
			shape_text(&want[k], s2, sizeof(s2));
			set_result(r, FAIL, "%s: output %d ('%s') has shape %s, expected %s", sname, k,
				   bo_model_output_name(m, k), s1, s2);
			goto out;
		}
		int64_t n = bo_tensor_numel(&want[k]), bad = 0, first = -1;
		double worst = 0;
		for (int64_t i = 0; i < n; i++) {
			if (close_enough(got[k].data[i], want[k].data[i]))
				continue;
			if (first < 0)
				first = i;
			bad++;
			double d = fabs((double)got[k].data[i] - (double)want[k].data[i]);
			if (!(d <= worst))
				worst = d;
		}
		if (bad) {
			shape_text(&want[k], s2, sizeof(s2));
			set_result(r, FAIL,
				   "%s: output %d ('%s') %s: %lld of %lld values differ; first at %lld: got %.9g, want %.9g; largest difference %.6g",
				   sname, k, bo_model_output_name(m, k), s2, (long long)bad,
				   (long long)n, (long long)first, (double)got[k].data[first],
				   (double)want[k].data[first], worst);
			goto out;
		}
	}
out:
	for (int k = 0; k < 16; k++) {
		bo_tensor_release(&in[k]);
		bo_tensor_release(&want[k]);
	}
}

static void run_case(const char *dir, struct result *r)
{
	struct bo_model *m = NULL;
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	char p[PATH_BUF], eb[1024];
	char **sets = NULL;
	int nsets = 0;
	bo_status st;
	memset(r, 0, sizeof(*r));
	xpath(p, "%s/model.onnx", dir);
	st = bo_model_load(p, &m, &err);
	if (st == BO_EUNSUPPORTED) {
		set_result(r, SKIP, "%s", fmt_err(&err, eb, sizeof(eb)));
		goto out;
	}
	if (st) {
		set_result(r, FAIL, "load failed: %s (%s)", fmt_err(&err, eb, sizeof(eb)),
			   bo_strerror(st));
		goto out;
	}
	st = bo_session_new(m, &cfg, &s, &err);
	if (st) {
		set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "session: %s",
			   fmt_err(&err, eb, sizeof(eb)));
		goto out;
	}
	nsets = list_dirs(dir, "test_data_set_", &sets);
	if (nsets <= 0) {
		set_result(r, FAIL, "no test_data_set_N directories");
		goto out;
	}
	for (int i = 0; i < nsets && r->outcome == PASS; i++) {
		xpath(p, "%s/%s", dir, sets[i]);
		run_set(m, s, p, 0, r);
	}
out:
	free_list(sets, nsets > 0 ? nsets : 0);
	bo_session_free(s);
	bo_model_free(m);
}

/* ---- the same case with inputs 1..n-1 frozen into initializers ----
 *
 * The node tests feed shapes, pads, axes, Clip bounds, BatchNormalization
 * parameters and weights as graph inputs, which brownout only accepts as
 * float data or as constants. So every case with two or more graph inputs
 * whose input 0 is a float tensor runs a second time ("ROOT[frozen]") with
 * inputs 1.. of each data set stored as initializers: the form they take in
 * exported models, where the loader and planner fold them. */

/* Indexes into g->input of the inputs that are not initializers (IR < 4
 * lists initializers as inputs too); the data sets hold these, in order. */
static int real_inputs(const Onnx__GraphProto *g, size_t *idx, int max)
{
	int n = 0;
	for (size_t i = 0; i < g->n_input; i++) {
		int init = 0;
		for (size_t j = 0; j < g->n_initializer && !init; j++)
			init = g->input[i]->name && g->initializer[j]->name &&
			       !strcmp(g->input[i]->name, g->initializer[j]->name);
		if (!init && n < max)
			idx[n++] = i;
	}
	return n;
}

static int is_tensor_input(const Onnx__ValueInfoProto *vi, int elem_type)
{
	return vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
	       vi->type->tensor_type &&
	       (elem_type < 0 || vi->type->tensor_type->elem_type == elem_type);
}

/* The model of case `dir` with inputs 1.. replaced by the tensors of data
 * set `set`, serialized into *out (malloc'd). Returns 0 when the variant
 * does not apply, 1 when *out is filled, -1 on an error (in why). */
static int freeze(const char *dir, const char *set, unsigned char **out, size_t *outlen,
		  char *why, size_t wsize)
{
	char p[PATH_BUF];
	size_t len, idx[64];
	unsigned char *buf;
	int ret = 0, nin = 0;
	Onnx__ModelProto *mp = NULL;
	Onnx__TensorProto *tp[64] = { 0 };
	char *saved_name[64] = { 0 };
	Onnx__TensorProto **inits = NULL;
	Onnx__ValueInfoProto **ins = NULL;
	*out = NULL;
	xpath(p, "%s/model.onnx", dir);
	buf = slurp(p, &len);
	if (buf)
		mp = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	if (!mp || !mp->graph)
		goto out; /* the plain run reports a broken model */
	Onnx__GraphProto *g = mp->graph;
	nin = real_inputs(g, idx, 64);
	if (nin < 2 || nin >= 64 || !is_tensor_input(g->input[idx[0]], 1))
		goto out;
	for (int k = 1; k < nin; k++)
		if (!is_tensor_input(g->input[idx[k]], -1))
			goto out;
	for (int k = 1; k < nin; k++) {
		xpath(p, "%s/input_%d.pb", set, k);
		buf = slurp(p, &len);
		if (buf)
			tp[k] = onnx__tensor_proto__unpack(NULL, len, buf);
		free(buf);
		if (!tp[k]) {
			snprintf(why, wsize, "cannot read input_%d.pb as a TensorProto", k);
			ret = -1;
			goto out;
		}
		saved_name[k] = tp[k]->name;
		tp[k]->name = g->input[idx[k]]->name;
	}
	inits = malloc((g->n_initializer + (size_t)nin) * sizeof(*inits));
	ins = malloc((g->n_input + 1) * sizeof(*ins));
	if (!inits || !ins)
		abort();
	size_t ni = 0, nx = 0;
	for (size_t i = 0; i < g->n_initializer; i++)
		inits[ni++] = g->initializer[i];
	for (int k = 1; k < nin; k++)
		inits[ni++] = tp[k];
	for (size_t i = 0; i < g->n_input; i++) {
		int frozen = 0;
		for (int k = 1; k < nin; k++)
			frozen |= idx[k] == i;
		if (!frozen)
			ins[nx++] = g->input[i];
	}
	Onnx__TensorProto **old_inits = g->initializer;
	Onnx__ValueInfoProto **old_ins = g->input;
	size_t old_ni = g->n_initializer, old_nx = g->n_input;
	g->initializer = inits;
	g->n_initializer = ni;
	g->input = ins;
	g->n_input = nx;
	*outlen = onnx__model_proto__get_packed_size(mp);
	*out = malloc(*outlen ? *outlen : 1);
	if (!*out)
		abort();
	onnx__model_proto__pack(mp, *out);
	g->initializer = old_inits;
	g->n_initializer = old_ni;
	g->input = old_ins;
	g->n_input = old_nx;
	ret = 1;
out:
	for (int k = 1; k < 64; k++)
		if (tp[k]) {
			tp[k]->name = saved_name[k];
			onnx__tensor_proto__free_unpacked(tp[k], NULL);
		}
	free(inits);
	free(ins);
	if (mp)
		onnx__model_proto__free_unpacked(mp, NULL);
	return ret;
}

static void run_case_frozen(const char *dir, struct result *r)
{
	char p[PATH_BUF], eb[1024], why[512];
	char **sets = NULL;
	int nsets = list_dirs(dir, "test_data_set_", &sets);
	memset(r, 0, sizeof(*r));
	r->outcome = NA;
	for (int i = 0; i < nsets && (r->outcome == PASS || r->outcome == NA); i++) {
		struct bo_model *m = NULL;
		struct bo_session *s = NULL;
		struct bo_error err;
		struct bo_session_config cfg = { .threads = 1 };
		unsigned char *buf = NULL;
		size_t len = 0;
		bo_status st;
		xpath(p, "%s/%s", dir, sets[i]);
		int fz = freeze(dir, p, &buf, &len, why, sizeof(why));
		if (fz == 0)
			break;
		if (fz < 0) {
			set_result(r, FAIL, "%s: %s", sets[i], why);
			break;
		}
		st = bo_model_load_buffer(buf, len, "model.onnx[frozen]", NULL, &m, &err);
		free(buf);
		if (st) {
			set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "%s%s%s",
				   st == BO_EUNSUPPORTED ? "" : "load failed: ",
				   fmt_err(&err, eb, sizeof(eb)),
				   st == BO_EUNSUPPORTED ? "" : " (not EUNSUPPORTED)");
		} else if ((st = bo_session_new(m, &cfg, &s, &err))) {
			set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "session: %s",
				   fmt_err(&err, eb, sizeof(eb)));
		} else {
			run_set(m, s, p, 1, r);
		}
		bo_session_free(s);
		bo_model_free(m);
	}
	free_list(sets, nsets > 0 ? nsets : 0);
}

/* ---- opset-6 models read as opset 7 ----
 *
 * brownout loads opsets 7..17, so the opset-6 models (all but two of
 * pytorch-converted) are skips as shipped. For the ops brownout implements,
 * opset 7 changed only the legacy `broadcast` attribute of Add/Sub/Mul/Div/
 * Gemm (without `axis` it means trailing-dimension broadcasting, which
 * opset 7 does by default) and `is_test` of BatchNormalization/Dropout
 * (is_test=1 is inference, the only mode of opset 7). So a variant
 * "ROOT[opset7]" reruns such a model declared as opset 7 with `broadcast`
 * dropped, when every BatchNormalization/Dropout has is_test=1 and no
 * broadcasting node has `axis`. */

static const Onnx__AttributeProto *node_attr(const Onnx__NodeProto *np, const char *name)
{
	for (size_t i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && !strcmp(np->attribute[i]->name, name))
			return np->attribute[i];
	return NULL;
}

/* The model of case `dir` as opset 7, serialized into *out (malloc'd).
 * Returns 0 when the variant does not apply, 1 when *out is filled. */
static int as_opset7(const char *dir, unsigned char **out, size_t *outlen)
{
	char p[PATH_BUF];
	size_t len;
	int ret = 0;
	size_t *saved_n = NULL;
	Onnx__ModelProto *mp = NULL;
	Onnx__OperatorSetIdProto *def = NULL;
	*out = NULL;
	xpath(p, "%s/model.onnx", dir);
	unsigned char *buf = slurp(p, &len);
	if (buf)
		mp = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	if (!mp || !mp->graph)
		goto out;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		Onnx__OperatorSetIdProto *o = mp->opset_import[i];
		if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
			def = o;
	}
	if (!def || def->version != 6)
		goto out;
	Onnx__GraphProto *g = mp->graph;
	saved_n = calloc(g->n_node + 1, sizeof(*saved_n));
	if (!saved_n)
		abort();
	for (size_t i = 0; i < g->n_node; i++) {
		Onnx__NodeProto *np = g->node[i];
		const char *t = np->op_type ? np->op_type : "";
		saved_n[i] = np->n_attribute;
		if (!strcmp(t, "BatchNormalization") || !strcmp(t, "Dropout")) {
			const Onnx__AttributeProto *a = node_attr(np, "is_test");
			if (!a || a->i != 1)
				goto restore;
		}
		if (strcmp(t, "Add") && strcmp(t, "Sub") && strcmp(t, "Mul") && strcmp(t, "Div") &&
		    strcmp(t, "Gemm"))
			continue;
		if (node_attr(np, "axis"))
			goto restore;
		/* move `broadcast` past the end; the count is restored before freeing */
		for (size_t k = 0; k < np->n_attribute; k++)
			if (np->attribute[k]->name && !strcmp(np->attribute[k]->name, "broadcast")) {
				Onnx__AttributeProto *a = np->attribute[k];
				np->attribute[k] = np->attribute[np->n_attribute - 1];
				np->attribute[np->n_attribute - 1] = a;
				np->n_attribute--;
				break;
			}
	}
	def->version = 7;
	*outlen = onnx__model_proto__get_packed_size(mp);
	*out = malloc(*outlen ? *outlen : 1);
	if (!*out)
		abort();
	onnx__model_proto__pack(mp, *out);
	ret = 1;
restore:
	for (size_t i = 0; i < g->n_node; i++)
		g->node[i]->n_attribute = saved_n[i];
out:
	free(saved_n);
	if (mp)
		onnx__model_proto__free_unpacked(mp, NULL);
	return ret;
}

static void run_case_opset7(const char *dir, struct result *r)
{
	char p[PATH_BUF], eb[1024];
	char **sets = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	struct bo_model *m = NULL;
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	bo_status st;
	int nsets = 0;
	memset(r, 0, sizeof(*r));
	r->outcome = NA;
	if (!as_opset7(dir, &buf, &len))
		goto out;
	r->outcome = PASS;
	st = bo_model_load_buffer(buf, len, "model.onnx[opset7]", NULL, &m, &err);
	if (st) {
		set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "%s%s%s",
			   st == BO_EUNSUPPORTED ? "" : "load failed: ", fmt_err(&err, eb, sizeof(eb)),
			   st == BO_EUNSUPPORTED ? "" : " (not EUNSUPPORTED)");
		goto out;
	}
	if ((st = bo_session_new(m, &cfg, &s, &err))) {
		set_result(r, st == BO_EUNSUPPORTED ? SKIP : FAIL, "session: %s",
			   fmt_err(&err, eb, sizeof(eb)));
		goto out;
	}
	nsets = list_dirs(dir, "test_data_set_", &sets);
	if (nsets <= 0)
		set_result(r, FAIL, "no test_data_set_N directories");
	for (int i = 0; i < nsets && r->outcome == PASS; i++) {
		xpath(p, "%s/%s", dir, sets[i]);
		run_set(m, s, p, 0, r);
	}
out:
	free(buf);
	free_list(sets, nsets > 0 ? nsets : 0);
	bo_session_free(s);
	bo_model_free(m);
}

/* Run one case in a child process; a crash or hang is a FAIL. */
static void run_case_isolated(void (*fn)(const char *, struct result *), const char *dir,
			      struct result *r)
{
	if (getenv("BO_ONNX_NOFORK")) {
		fn(dir, r);
		return;
	}
	int fd[2];
	memset(r, 0, sizeof(*r));
	if (pipe(fd)) {
		set_result(r, FAIL, "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		set_result(r, FAIL, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* cmocka's crash handlers would longjmp into the parent's test */
		static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		close(fd[0]);
		alarm(CASE_TIMEOUT_S);
		struct result cr;
		fn(dir, &cr);
		const char *b = (const char *)&cr;
		size_t left = sizeof(cr);
		while (left) {
			ssize_t w = write(fd[1], b, left);
			if (w <= 0)
				_exit(3);
			b += w;
			left -= (size_t)w;
		}
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	close(fd[1]);
	size_t got = 0;
	char *b = (char *)r;
	for (;;) {
		ssize_t k = read(fd[0], b + got, sizeof(*r) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got == sizeof(*r))
			break;
	}
	close(fd[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		set_result(r, FAIL, "%s (signal %d)",
			   WTERMSIG(status) == SIGALRM ? "timed out" : "crashed", WTERMSIG(status));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof(*r)) {
		set_result(r, FAIL, "child exited with status %d before reporting (sanitizer report above?)",
			   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	r->msg[sizeof(r->msg) - 1] = 0;
}

/* ---- skip bookkeeping ---- */

/* A short category for a skip reason: the constant part of the message. */
static void categorize(const char *reason, char *cat, size_t size)
{
	static const struct { const char *needle, *cat; } fixed[] = {
		{ "unsupported operators: ", "operator not supported" },
		{ "default-domain opset", "opset outside 7..17" },
		{ "graph input type", "graph input dtype not float" },
		{ "input dtype:", "input dtype" },
		{ "graph output is a constant or an integer tensor", "graph output constant or integer" },
		{ "graph input is not a tensor", "graph input not a tensor" },
		{ "operator domain", "non-default operator domain" },
		{ "tensor data type", "tensor dtype not supported" },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strstr(reason, fixed[i].needle)) {
			snprintf(cat, size, "%s", fixed[i].cat);
			return;
		}
	/* "node 'N' (OP): 'field': text" -> "OP 'field': text" with digits
	 * replaced, so that per-case numbers do not split categories */
	const char *op = strstr(reason, " (");
	const char *rest = strstr(reason, "): ");
	char tmp[512];
	size_t n = 0;
	if (op && rest && op < rest) {
		n = (size_t)snprintf(tmp, sizeof(tmp), "%.*s ", (int)(rest - op - 2), op + 2);
		reason = rest + 3;
	}
	for (const char *c = reason; *c && n + 1 < sizeof(tmp); c++) {
		if (*c >= '0' && *c <= '9') {
			if (n == 0 || tmp[n - 1] != 'N')
				tmp[n++] = 'N';
		} else {
			tmp[n++] = *c;
		}
	}
	tmp[n < sizeof(tmp) ? n : sizeof(tmp) - 1] = 0;
	snprintf(cat, size, "%s", tmp);
}

static void add_skip(const char *name, const char *reason, int variant)
{
	char cat[512];
	if (g_skips.n == g_skips.cap) {
		g_skips.cap = g_skips.cap ? 2 * g_skips.cap : 256;
		struct skip_rec *v = realloc(g_skips.v, (size_t)g_skips.cap * sizeof(*v));
		assert_non_null(v);
		g_skips.v = v;
	}
	categorize(reason, cat, sizeof(cat));
	struct skip_rec *s = &g_skips.v[g_skips.n++];
	s->name = strdup(name);
	s->reason = strdup(reason);
	s->category = strdup(cat);
	s->variant = variant;
	assert_true(s->name && s->reason && s->category);
}

/* For "operator not supported": the op type, from "node 'N' (OP): ...". */
static void op_of(const char *reason, char *op, size_t size)
{
	const char *a = strstr(reason, " (");
	const char *b = strstr(reason, "): ");
	if (a && b && a < b)
		snprintf(op, size, "%.*s", (int)(b - a - 2), a + 2);
	else
		snprintf(op, size, "?");
}

struct count { char *key; int n; };

static int cmp_count(const void *a, const void *b)
{
	const struct count *x = a, *y = b;
	return x->n != y->n ? y->n - x->n : strcmp(x->key, y->key);
}

/* Group keys (category, or unsupported op) with counts, most frequent first. */
static int tally(int by_op, int variant, struct count **out)
{
	struct count *c = calloc((size_t)g_skips.n + 1, sizeof(*c));
	int n = 0;
	assert_non_null(c);
	for (int i = 0; i < g_skips.n; i++) {
		char key[512];
		if (g_skips.v[i].variant != variant)
			continue;
		if (by_op) {
			if (strcmp(g_skips.v[i].category, "operator not supported"))
				continue;
			op_of(g_skips.v[i].reason, key, sizeof(key));
		} else {
			snprintf(key, sizeof(key), "%s", g_skips.v[i].category);
		}
		int j;
		for (j = 0; j < n; j++)
			if (!strcmp(c[j].key, key))
				break;
		if (j == n) {
			c[n].key = strdup(key);
			assert_non_null(c[n].key);
			n++;
		}
		c[j].n++;
	}
	qsort(c, (size_t)n, sizeof(*c), cmp_count);
	*out = c;
	return n;
}

static void free_counts(struct count *c, int n)
{
	for (int i = 0; i < n; i++)
		free(c[i].key);
	free(c);
}

#define N_VARIANTS 3

static const struct variant {
	const char *tag;   /* appended to the root in case names */
	const char *what;
	void (*run)(const char *dir, struct result *r);
} variants[N_VARIANTS] = {
	{ "", "as shipped", run_case },
	{ "[frozen]", "inputs 1.. stored as initializers", run_case_frozen },
	{ "[opset7]", "opset-6 model read as opset 7", run_case_opset7 },
};

static void write_skips(void)
{
	const char *dir = getenv("BO_TEST_OUT_DIR");
	char path[PATH_BUF];
	xpath(path, "%s/onnx-backend-skips.txt", dir && dir[0] ? dir : ".");
	struct count *cats[N_VARIANTS], *ops[N_VARIANTS];
	int ncat[N_VARIANTS], nops[N_VARIANTS], nskip[N_VARIANTS] = { 0 };
	for (int v = 0; v < N_VARIANTS; v++) {
		ncat[v] = tally(0, v, &cats[v]);
		nops[v] = tally(1, v, &ops[v]);
	}
	for (int i = 0; i < g_skips.n; i++)
		nskip[g_skips.v[i].variant]++;
	FILE *f = fopen(path, "w");
	if (!f) {
		print_error("cannot write %s: %s\n", path, strerror(errno));
	} else {
		fprintf(f, "# ONNX backend test cases skipped by brownout (tests/unit/test_onnx_backend.c)\n");
		for (int v = 0; v < N_VARIANTS; v++) {
			fprintf(f, "# cases %s%s%s: %d skipped, by category:\n", variants[v].what,
				v ? ", named ROOT" : "", variants[v].tag, nskip[v]);
			for (int i = 0; i < ncat[v]; i++)
				fprintf(f, "#   %5d  %s\n", cats[v][i].n, cats[v][i].key);
			fprintf(f, "#   unsupported operators:\n");
			for (int i = 0; i < nops[v]; i++)
				fprintf(f, "#     %5d  %s\n", ops[v][i].n, ops[v][i].key);
		}
		fprintf(f, "# case\tcategory\treason\n");
		for (int i = 0; i < g_skips.n; i++)
			fprintf(f, "%s\t%s\t%s\n", g_skips.v[i].name, g_skips.v[i].category,
				g_skips.v[i].reason);
		if (fclose(f))
			print_error("cannot write %s: %s\n", path, strerror(errno));
		else
			print_message("skip list: %s\n", path);
	}
	for (int v = 0; v < N_VARIANTS; v++) {
		print_message("skips of cases %s, by reason category (%d in all):\n", variants[v].what,
			      nskip[v]);
		for (int i = 0; i < ncat[v]; i++)
			print_message("  %5d  %s\n", cats[v][i].n, cats[v][i].key);
		print_message("  (unsupported operators: %d distinct)\n", nops[v]);
		free_counts(cats[v], ncat[v]);
		free_counts(ops[v], nops[v]);
	}
}

/* ---- tests ---- */

static const char *data_root(void)
{
	const char *r = getenv("BO_ONNX_TESTDATA");
	return r && r[0] ? r : DEFAULT_ROOT;
}

struct tallies {
	int pass, skip, fail;
};

static void record(const char *name, const struct result *r, struct tallies *t, int variant,
		   int verbose)
{
	if (r->outcome == PASS) {
		t->pass++;
		if (verbose)
			print_message("PASS %s\n", name);
	} else if (r->outcome == SKIP) {
		t->skip++;
		add_skip(name, r->msg, variant);
		if (verbose)
			print_message("SKIP %s: %s\n", name, r->msg);
	} else if (r->outcome == FAIL) {
		t->fail++;
		print_error("FAIL %s: %s\n", name, r->msg);
	}
}

static void run_root(const char *sub)
{
	char root[PATH_BUF];
	xpath(root, "%s/%s", data_root(), sub);
	if (!dir_exists(root)) {
		print_message("ONNX test data %s not found (install libonnx-testdata or set BO_ONNX_TESTDATA)\n",
			      root);
		skip();
	}
	char **cases = NULL;
	int n = list_dirs(root, "test_", &cases);
	const char *filter = getenv("BO_ONNX_FILTER");
	int verbose = getenv("BO_ONNX_VERBOSE") != NULL;
	struct tallies t[N_VARIANTS];
	struct timespec t0, t1;
	memset(t, 0, sizeof(t));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g_skips.roots_run++;
	for (int i = 0; i < n; i++) {
		if (filter && filter[0] && !strstr(cases[i], filter))
			continue;
		char dir[PATH_BUF], name[PATH_BUF];
		xpath(dir, "%s/%s", root, cases[i]);
		for (int v = 0; v < N_VARIANTS; v++) {
			struct result r;
			xpath(name, "%s%s/%s", sub, variants[v].tag, cases[i]);
			run_case_isolated(variants[v].run, dir, &r);
			record(name, &r, &t[v], v, verbose);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free_list(cases, n > 0 ? n : 0);
	int failed = 0;
	for (int v = 0; v < N_VARIANTS; v++) {
		print_message("%s%s: %d cases (%s): %d passed, %d skipped, %d failed\n", sub,
			      variants[v].tag, t[v].pass + t[v].skip + t[v].fail, variants[v].what,
			      t[v].pass, t[v].skip, t[v].fail);
		failed += t[v].fail;
	}
	print_message("%s: %.1f s\n", sub,
		      (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
	if (failed)
		fail_msg("%d %s case(s) failed", failed, sub);
}

static void test_node(void **state)
{
	(void)state;
	run_root("node");
}

static void test_pytorch_converted(void **state)
{
	(void)state;
	run_root("pytorch-converted");
}

static int group_setup(void **state)
{
	(void)state;
	memset(&g_skips, 0, sizeof(g_skips));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_skips.roots_run)
		write_skips();
	for (int i = 0; i < g_skips.n; i++) {
		free(g_skips.v[i].name);
		free(g_skips.v[i].reason);
		free(g_skips.v[i].category);
	}
	free(g_skips.v);
	memset(&g_skips, 0, sizeof(g_skips));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_pytorch_converted),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

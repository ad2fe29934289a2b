/* brownout: the command-line client.
 *
 *   brownout info MODEL.onnx [--input-shape CxHxW] [--blocks MAP] [--sites S] [--json]
 *   brownout eval MODEL.onnx DATASET [--split test|train] [--images F --labels F]
 *                 [--limit N] [--batch B] [--threads T] [--mean ..] [--std ..] [--json]
 *   brownout run MODEL.onnx --input FILE [--input FILE ...] --output-dir DIR
 *
 * Errors go to stderr and exit 1; usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <brownout/brownout.h>

#include "cli.h"
#include "report.h"

static void shape_text(const int64_t *d, int rank, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < rank && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "x" : "",
				      d[i] < 0 ? "?" : "");
	if (rank == 0)
		snprintf(buf, size, "scalar");
	n = 0;
	for (int i = 0; i < rank && n < size; i++) {
		if (d[i] < 0)
			n += (size_t)snprintf(buf + n, size - n, "%sN", i ? "x" : "");
		else
			n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "x" : "",
					      (long long)d[i]);
	}
}

/* "1x28x28" or "3,32,32" */
static int parse_shape(const char *s, int64_t *dims, int *rank)
{
	*rank = 0;
	const char *p = s;
	while (*p) {
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end == p || errno || v <= 0 || v > (1 << 24) || *rank >= BO_MAX_RANK - 1)
			return -1;
		dims[(*rank)++] = v;
		p = end;
		if (*p == 'x' || *p == ',' || *p == 'X')
			p++;
		else if (*p)
			return -1;
	}
	return *rank ? 0 : -1;
}

/* ---- info ---- */

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input-shape", required_argument, 0, 's' }, { "blocks", required_argument, 0, 'b' },
		{ "sites", required_argument, 0, 'a' },       { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },              { 0, 0, 0, 0 },
	};
	const char *shape = NULL, *blocks = NULL;
	int json = 0, c, rank = 0, ret = 1;
	enum bo_act_sites sites = BO_SITES_DEFAULT;
	int64_t dims[BO_MAX_RANK];
	struct bo_model *m = NULL;
	struct bo_block_map *map = NULL;
	struct bo_model_stats st = { 0 };
	struct bo_error err;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 's': shape = optarg; break;
		case 'b': blocks = optarg; break;
		case 'j': json = 1; break;
		case 'a':
			if (bo_act_sites_parse(optarg, &sites, &err))
				return usage_error("--sites must be " BO_SITES_CHOICES ", not '%s'", optarg);
			break;
		case 'h': return cmd_help(stdout, "info");
		default: return bad_option(argv, opts);
		}
	}
	if (optind + 1 != argc)
		return usage_error("%s", "info takes exactly one MODEL.onnx");
	if (shape && parse_shape(shape, dims, &rank))
		return usage_error("--input-shape '%s' is not like 1x28x28", shape);
	if (blocks && bo_block_map_parse(blocks, &map, &err))
		return fail_err(&err);
	if (bo_model_load(argv[optind], &m, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	if (bo_model_stats(m, shape ? dims : NULL, rank, map, sites, &st, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	char buf[256];
	if (bo_sites_warning(sites, st.activations, buf, sizeof(buf)))
		fprintf(stderr, "warning: %s\n", buf);
	if (json) {
		json_t *j = json_object(), *info = bo_info_json(m, &st, sites);
		json_object_set_new(j, "model", json_string(argv[optind]));
		json_object_update(j, info);
		json_decref(info);
		ret = print_json(j);
		goto out;
	}
	printf("model:        %s\n", argv[optind]);
	printf("producer:     %s, opset %d\n", bo_model_producer(m), bo_model_opset(m));
	for (int i = 0; i < bo_model_n_inputs(m); i++) {
		int64_t d[BO_MAX_RANK];
		int r = bo_model_input_shape(m, i, d);
		shape_text(d, r < 0 ? 0 : r, buf, sizeof(buf));
		printf("input:        %s [%s]\n", bo_model_input_name(m, i), buf);
	}
	for (int i = 0; i < bo_model_n_outputs(m); i++)
		printf("output:       %s\n", bo_model_output_name(m, i));
	shape_text(st.input_dims, st.input_rank, buf, sizeof(buf));
	printf("sample shape: %s\n", buf);
	{
		struct bo_norm norm;
		struct bo_error e;
		if (bo_norm_resolve(m, NULL, NULL, 0, &norm, NULL, &e)) {
			printf("normalisation: none given (eval and sweep need --mean/--std or --no-normalize)\n");
		} else {
			printf("normalisation: metadata, mean");
			for (int i = 0; i < norm.n; i++)
				printf("%s%g", i ? "," : " ", norm.mean[i]);
			printf(", std");
			for (int i = 0; i < norm.n; i++)
				printf("%s%g", i ? "," : " ", norm.std[i]);
			printf("\n");
		}
	}
	printf("parameters:   %lld\n", (long long)st.parameters);
	printf("activations:  %lld (%s)\n", (long long)st.activations, bo_act_sites_name(sites));
	printf("MFLOP/sample: %.2f\n", (double)st.flops / 1e6);
	printf("ops:         ");
	for (int i = 0; i < st.n_ops; i++)
		printf(" %s x%d%s", st.ops[i].op, st.ops[i].count, i + 1 < st.n_ops ? "," : "");
	printf("\n\n%-24s %14s %14s\n", "block", "parameters", "activations");
	for (int i = 0; i < st.n_blocks; i++)
		printf("%-24s %14lld %14lld\n", st.blocks[i].name[0] ? st.blocks[i].name : "(none)",
		       (long long)st.blocks[i].parameters, (long long)st.blocks[i].activations);
	ret = 0;
out:
	bo_model_stats_release(&st);
	bo_block_map_free(map);
	bo_model_free(m);
	return ret;
}

/* ---- eval ---- */

static void progress(int64_t done, int64_t total, int64_t correct, double t0)
{
	double el = now() - t0;
	double rate = el > 0 ? (double)done / el : 0;
	int width = 30, fill = total ? (int)(width * done / total) : width;
	fprintf(stderr, "\r[%.*s%*s] %lld/%lld  acc %.2f%%  %.0f img/s  ETA %.0fs ", fill,
		"##############################", width - fill, "", (long long)done,
		(long long)total, done ? 100.0 * (double)correct / (double)done : 0.0, rate,
		rate > 0 ? (double)(total - done) / rate : 0.0);
	fflush(stderr);
}

/* Normalisation: flags win, then model metadata, else identity. */
static int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, 0, 'l' },  { "batch", required_argument, 0, 'b' },
		{ "threads", required_argument, 0, 't' }, { "mean", required_argument, 0, 'm' },
		{ "std", required_argument, 0, 's' },    { "json", no_argument, 0, 'j' },
		{ "split", required_argument, 0, 'p' },  { "images", required_argument, 0, 'i' },
		{ "labels", required_argument, 0, 'L' }, { "help", no_argument, 0, 'h' },
		{ "profile", no_argument, 0, 'P' },      { "no-normalize", no_argument, 0, 'N' },
		{ 0, 0, 0, 0 },
	};
	int profile = 0, raw = 0;
	long long limit = 0, batch = 64, threads = sysconf(_SC_NPROCESSORS_ONLN);
	const char *mean = NULL, *std = NULL, *images = NULL, *labels = NULL;
	enum bo_split split = BO_SPLIT_TEST;
	struct bo_error perr;
	int json = 0, c, ret = 1;
	struct bo_model *m = NULL;
	struct bo_dataset *ds = NULL;
	struct bo_session *s = NULL;
	float *x = NULL;
	int *lab = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	if (threads < 1)
		threads = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_long(optarg, 1, 1LL << 40, &limit))
				return usage_error("--limit must be a positive integer, not '%s'", optarg);
			break;
		case 'b':
			if (parse_long(optarg, 1, 65536, &batch))
				return usage_error("--batch must be 1 to 65536, not '%s'", optarg);
			break;
		case 't':
			if (parse_long(optarg, 1, 256, &threads))
				return usage_error("--threads must be 1 to 256, not '%s'", optarg);
			break;
		case 'm': mean = optarg; break;
		case 's': std = optarg; break;
		case 'j': json = 1; break;
		case 'i': images = optarg; break;
		case 'L': labels = optarg; break;
		case 'P': profile = 1; break;
		case 'N': raw = 1; break;
		case 'p':
			if (bo_split_parse(optarg, &split, &perr))
				return usage_error("--split %s", perr.text);
			break;
		case 'h': return cmd_help(stdout, "eval");
		default: return bad_option(argv, opts);
		}
	}
	int npos = argc - optind;
	if (npos < 1 || npos > 2 || (npos == 2) == (images != NULL))
		return usage_error("%s", "eval takes MODEL.onnx and either DATASET or --images/--labels");
	if (images && !labels && 0)
		return usage_error("%s", "--images needs --labels");
	if (bo_norm_flags_check(mean, std, &err))
		return usage_err(&err);
	if (bo_model_load(argv[optind], &m, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	if (bo_model_n_inputs(m) != 1) {
		fprintf(stderr, "%s: error: %s: eval needs a model with one input; it has %d\n", prog,
			argv[optind], bo_model_n_inputs(m));
		goto out;
	}
	if ((images ? bo_dataset_open_files(images, labels, BO_DATASET_AUTO, NULL, &ds, &err) :
		      bo_dataset_open_dir(argv[optind + 1], split, NULL, &ds, &err))) {
		ret = fail_err(&err);
		goto out;
	}
	int64_t C, H, W;
	bo_dataset_shape(ds, &C, &H, &W);
	int64_t md[BO_MAX_RANK];
	int mr = bo_model_input_shape(m, 0, md);
	if (mr != 4 || (md[1] > 0 && md[1] != C) || (md[2] > 0 && md[2] != H) ||
	    (md[3] > 0 && md[3] != W)) {
		char b[96];
		shape_text(md, mr < 0 ? 0 : mr, b, sizeof(b));
		fprintf(stderr,
			"%s: error: dataset images are %lldx%lldx%lld (CxHxW) but the model's input '%s' is [%s]\n",
			prog, (long long)C, (long long)H, (long long)W, bo_model_input_name(m, 0), b);
		goto out;
	}
	struct bo_norm norm;
	enum bo_norm_source src;
	if (bo_norm_resolve(m, mean, std, raw, &norm, &src, &err) || bo_norm_check(&norm, C, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	{
		char wbuf[320];
		if (bo_pixels_warning(ds, src, wbuf, sizeof(wbuf)))
			fprintf(stderr, "warning: %s\n", wbuf);
	}
	int64_t total = bo_dataset_count(ds);
	if (limit && limit < total)
		total = limit;
	if (batch > total)
		batch = total > 0 ? total : 1;
	note_fixed_batch(m, argv[optind], (int)batch);
	struct bo_session_config cfg = { .threads = (int)threads };
	if (bo_session_new(m, &cfg, &s, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	int64_t per = C * H * W;
	x = malloc((size_t)(batch * per) * sizeof(float));
	lab = malloc((size_t)batch * sizeof(int));
	if (!x || !lab) {
		fprintf(stderr, "%s: error: out of memory for a batch of %lld\n", prog, batch);
		goto out;
	}
	bo_session_set_profiling(s, profile);
	int tty = isatty(2) && !json;
	double t0 = now(), last = 0;
	int64_t correct = 0;
	for (int64_t first = 0; first < total; first += batch) {
		int64_t n = total - first < batch ? total - first : batch;
		if (bo_dataset_batch(ds, first, n, &norm, x, lab, &err)) {
			ret = fail_err(&err);
			goto out;
		}
		struct bo_tensor in = { 4, { n, C, H, W }, x }, outp;
		if (bo_session_run(s, &in, 1, &outp, 1, &err)) {
			ret = fail_err(&err);
			goto out;
		}
		int64_t classes = outp.rank >= 2 && outp.dims[0] == n ? bo_tensor_numel(&outp) / n : 0;
		if (classes < 1) {
			fprintf(stderr, "%s: error: the model's output is not [batch, classes]\n", prog);
			goto out;
		}
		for (int64_t i = 0; i < n; i++)
			if (lab[i] >= classes) {
				fprintf(stderr,
					"%s: error: label %d of image %lld is not a class of the model: its output"
					" has %lld logits, the dataset's labels go up to %d\n",
					prog, lab[i], (long long)(first + i), (long long)classes,
					bo_dataset_classes(ds) - 1);
				goto out;
			}
		for (int64_t i = 0; i < n; i++) {
			const float *row = outp.data + i * classes;
			int64_t best = 0;
			for (int64_t k = 1; k < classes; k++)
				if (row[k] > row[best])
					best = k;
			correct += best == lab[i];
		}
		if (tty && (now() - last > 0.2 || first + n == total)) {
			last = now();
			progress(first + n, total, correct, t0);
		}
	}
	if (tty)
		fputc('\n', stderr);
	double secs = now() - t0;
	double acc = total ? (double)correct / (double)total : 0;
	struct bo_op_profile prof[64];
	int nprof = profile ? bo_session_profile(s, prof, 64) : 0;
	if (nprof > 64)
		nprof = 64;
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "model", json_string(argv[optind]));
		json_object_set_new(j, "accuracy", json_real(acc));
		json_object_set_new(j, "images", json_integer(total));
		json_object_set_new(j, "correct", json_integer(correct));
		json_object_set_new(j, "seconds", json_real(secs));
		json_object_set_new(j, "images_per_second", json_real(secs > 0 ? total / secs : 0));
		json_object_set_new(j, "batch", json_integer(batch));
		json_object_set_new(j, "threads", json_integer(threads));
		if (profile) {
			json_t *pa = json_array();
			for (int i = 0; i < nprof; i++) {
				json_t *o = json_object();
				json_object_set_new(o, "op", json_string(prof[i].op));
				json_object_set_new(o, "calls", json_integer(prof[i].calls));
				json_object_set_new(o, "seconds", json_real(prof[i].seconds));
				json_object_set_new(o, "flops", json_integer(prof[i].flops));
				json_array_append_new(pa, o);
			}
			json_object_set_new(j, "profile", pa);
		}
		ret = print_json(j);
	} else {
		printf("accuracy: %.4f (%lld/%lld)  %.2f s  %.1f images/s\n", acc, (long long)correct,
		       (long long)total, secs, secs > 0 ? total / secs : 0.0);
		fflush(stdout);
		ret = 0;
	}
	if (profile && !json) {
		double all = 0;
		for (int i = 0; i < nprof; i++)
			all += prof[i].seconds;
		fprintf(stderr, "%-20s %8s %10s %7s %10s\n", "op", "calls", "seconds", "share", "GFLOP/s");
		for (int i = 0; i < nprof; i++)
			fprintf(stderr, "%-20s %8lld %10.3f %6.1f%% %10.1f\n", prof[i].op,
				(long long)prof[i].calls, prof[i].seconds,
				all > 0 ? 100 * prof[i].seconds / all : 0.0,
				prof[i].seconds > 0 ? (double)prof[i].flops / prof[i].seconds / 1e9 : 0.0);
	}

out:
	free(x);
	free(lab);
	bo_session_free(s);
	bo_dataset_free(ds);
	bo_model_free(m);
	return ret;
}

/* ---- run ---- */

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, 0, 'i' },
		{ "output-dir", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *inputs[16], *outdir = NULL;
	int n_in = 0, c, ret = 1;
	struct bo_model *m = NULL;
	struct bo_session *s = NULL;
	struct bo_tensor in[16] = { 0 }, out[16];
	struct bo_error err;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n_in == 16)
				return usage_error("%s", "at most 16 --input files");
			inputs[n_in++] = optarg;
			break;
		case 'o': outdir = optarg; break;
		case 'h': return cmd_help(stdout, "run");
		default: return bad_option(argv, opts);
		}
	}
	if (optind + 1 != argc || !outdir || !n_in)
		return usage_error("%s", "run takes MODEL.onnx, --input FILE... and --output-dir DIR");
	if (bo_model_load(argv[optind], &m, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	if (n_in != bo_model_n_inputs(m)) {
		fprintf(stderr, "%s: error: the model has %d inputs but %d --input files were given\n",
			prog, bo_model_n_inputs(m), n_in);
		goto out;
	}
	for (int i = 0; i < n_in; i++)
		if (bo_tensor_read_file(inputs[i], &in[i], &err)) {
			ret = fail_err(&err);
			goto out;
		}
	if (n_in > 0 && in[0].rank > 0 && in[0].dims[0] > 0 && in[0].dims[0] <= 65536)
		note_fixed_batch(m, argv[optind], (int)in[0].dims[0]);
	struct bo_session_config cfg = { .threads = 1 };
	if (bo_session_new(m, &cfg, &s, &err) ||
	    bo_session_run(s, in, n_in, out, bo_model_n_outputs(m), &err)) {
		ret = fail_err(&err);
		goto out;
	}
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		fprintf(stderr, "%s: error: %s: cannot create directory: %s\n", prog, outdir,
			strerror(errno));
		goto out;
	}
	for (int i = 0; i < bo_model_n_outputs(m); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/output_%d.pb", outdir, i);
		if (bo_tensor_write_pb(path, &out[i], bo_model_output_name(m, i), &err)) {
			ret = fail_err(&err);
			goto out;
		}
	}
	ret = 0;
out:
	for (int i = 0; i < n_in; i++)
		bo_tensor_release(&in[i]);
	bo_session_free(s);
	bo_model_free(m);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("brownout %s\n", BO_VERSION);
		return 0;
	}
	cmd_name = cmd;
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "eval"))
		return cmd_eval(argc - 1, argv + 1);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "sweep"))
		return cmd_sweep(argc - 1, argv + 1);
	if (!strcmp(cmd, "calibrate-erasure"))
		return cmd_calibrate_erasure(argc - 1, argv + 1);
	if (!strcmp(cmd, "optimize"))
		return cmd_optimize(argc - 1, argv + 1);
	if (!strcmp(cmd, "worker"))
		return cmd_worker(argc - 1, argv + 1);
	cmd_name = NULL;
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	usage(stderr);
	return EXIT_USAGE;
}

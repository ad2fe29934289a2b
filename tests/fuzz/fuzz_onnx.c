/* Fuzz target: the ONNX loader (lib/onnx_load.c) and what the daemon does
 * with a model it has just loaded (POST /models: bo_model_stats, which
 * plans every tensor's shape).
 *
 * The input is the model file. Limits are small so that a claimed shape
 * cannot allocate much; a model that loads is described (inputs, outputs,
 * metadata, weights) and its stats computed, as brownoutd does. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <brownout/brownout.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bo_model_limits lim = { .max_file_bytes = 1 << 20, .max_nodes = 1000,
				       .max_tensor_elems = 1 << 18, .max_total_elems = 1 << 20 };
	struct bo_model *m = NULL;
	struct bo_model_stats st;
	struct bo_error err;
	char msg[512];
	bo_error_clear(&err);
	if (bo_model_load_buffer(data, size, "fuzz.onnx", &lim, &m, &err)) {
		bo_error_format(&err, msg, sizeof(msg)); /* the message must be printable */
		return 0;
	}
	int64_t dims[BO_MAX_RANK];
	for (int i = 0; i < bo_model_n_inputs(m); i++) {
		(void)strlen(bo_model_input_name(m, i));
		(void)bo_model_input_shape(m, i, dims);
	}
	for (int i = 0; i < bo_model_n_outputs(m); i++)
		(void)strlen(bo_model_output_name(m, i));
	(void)bo_model_opset(m);
	const char *s = bo_model_producer(m);
	if (s)
		(void)strlen(s);
	if ((s = bo_model_metadata(m, "brownout.mean")))
		(void)strlen(s);
	for (int i = 0; i < bo_model_n_weights(m); i++) {
		struct bo_weight_info w;
		volatile float sum = 0;
		bo_model_weight(m, i, &w);
		for (int64_t k = 0; k < w.numel; k++)
			sum += w.clean[k];
		(void)sum;
	}
	if (!bo_model_stats(m, NULL, 0, NULL, BO_SITES_RELU, &st, &err))
		bo_model_stats_release(&st);
	else
		bo_error_format(&err, msg, sizeof(msg));
	bo_model_free(m);
	return 0;
}

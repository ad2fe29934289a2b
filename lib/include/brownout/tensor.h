/* brownout: dense float32 tensors and their file formats. */
#ifndef BROWNOUT_TENSOR_H
#define BROWNOUT_TENSOR_H

#include <brownout/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BO_MAX_RANK 8

/* A dense, row-major float32 tensor. `data` is owned by whoever filled the
 * struct; see each function. */
struct bo_tensor {
	int rank;
	int64_t dims[BO_MAX_RANK];
	float *data;
};

/* Number of elements (1 for rank 0). */
int64_t bo_tensor_numel(const struct bo_tensor *t);

/* Read a tensor from an ONNX TensorProto (.pb) or NumPy (.npy, float32,
 * float64, uint8, int64 or int32, C order) file, converting to float32.
 * On success t->data is malloc'd: release with bo_tensor_release(). */
bo_status bo_tensor_read_file(const char *path, struct bo_tensor *t, struct bo_error *err);

/* Write t as an ONNX TensorProto (float, raw_data) named `name` (may be
 * NULL), atomically: temp file, fsync, rename. */
bo_status bo_tensor_write_pb(const char *path, const struct bo_tensor *t, const char *name,
			     struct bo_error *err);

/* Write t as a NumPy .npy file (<f4), atomically. */
bo_status bo_tensor_write_npy(const char *path, const struct bo_tensor *t, struct bo_error *err);

/* Free t->data and zero t. Accepts NULL. */
void bo_tensor_release(struct bo_tensor *t);

#ifdef __cplusplus
}
#endif
#endif

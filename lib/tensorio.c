/* Tensor files: ONNX TensorProto (.pb, via protobuf-c) and NumPy (.npy).
 * Used by `brownout run` to exchange tensors with other runtimes and with
 * the ONNX backend test data. */
#include <stdio.h>
#include <string.h>

#include <brownout/tensor.h>

#include "internal.h"
#include "onnx.pb-c.h"

#define MAX_TENSOR_FILE (4LL << 30)

int64_t bo_tensor_numel(const struct bo_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++)
		n *= t->dims[i];
	return n;
}

void bo_tensor_release(struct bo_tensor *t)
{
	if (!t)
		return;
	free(t->data);
	memset(t, 0, sizeof(*t));
}

static bo_status set_dims(struct bo_tensor *t, int rank, const int64_t *dims, const char *path,
			  struct bo_error *err, int64_t *numel)
{
	if (rank > BO_MAX_RANK) {
		Bo_error_where(err, path, NULL, NULL, "dims");
		return Bo_fail(err, BO_ELIMIT, "rank %d is over %d", rank, BO_MAX_RANK);
	}
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] < 0 || !Bo_mul_ok(n, dims[i], &n) || n > (1LL << 32)) {
			Bo_error_where(err, path, NULL, NULL, "dims");
			return Bo_fail(err, BO_ELIMIT, "dimension %d (%lld) is negative or too large", i,
				       (long long)dims[i]);
		}
	}
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	*numel = n;
	return BO_OK;
}

static bo_status read_pb(const char *path, const unsigned char *buf, size_t len,
			 struct bo_tensor *t, struct bo_error *err)
{
	bo_status rc = BO_OK;
	Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
	int64_t n;
	if (!tp) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		return Bo_fail(err, BO_EMALFORMED, "not a valid ONNX TensorProto");
	}
	if ((rc = set_dims(t, (int)tp->n_dims, tp->dims, path, err, &n)))
		goto out;
	size_t es = tp->data_type == 1 ? 4 : tp->data_type == 11 || tp->data_type == 7 ? 8 : 0;
	if (!es) {
		Bo_error_where(err, path, NULL, NULL, "data_type");
		rc = Bo_fail(err, BO_EUNSUPPORTED, "tensor data type %d is not supported", tp->data_type);
		goto out;
	}
	size_t have = tp->has_raw_data ? tp->raw_data.len / es :
		      tp->data_type == 1 ? tp->n_float_data :
		      tp->data_type == 11 ? tp->n_double_data : tp->n_int64_data;
	if ((tp->has_raw_data && tp->raw_data.len != (size_t)n * es) || have != (size_t)n) {
		Bo_error_where(err, path, NULL, NULL, "raw_data");
		rc = Bo_fail(err, BO_EMALFORMED, "has %zu values, dims need %lld", have, (long long)n);
		goto out;
	}
	t->data = malloc((size_t)(n ? n : 1) * sizeof(float));
	if (!t->data) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < n; i++) {
		if (tp->data_type == 1) {
			if (tp->has_raw_data)
				memcpy(&t->data[i], tp->raw_data.data + 4 * i, 4);
			else
				t->data[i] = tp->float_data[i];
		} else if (tp->data_type == 11) {
			double d;
			if (tp->has_raw_data)
				memcpy(&d, tp->raw_data.data + 8 * i, 8);
			else
				d = tp->double_data[i];
			t->data[i] = (float)d;
		} else {
			int64_t v;
			if (tp->has_raw_data)
				memcpy(&v, tp->raw_data.data + 8 * i, 8);
			else
				v = tp->int64_data[i];
			t->data[i] = (float)v;
		}
	}
out:
	onnx__tensor_proto__free_unpacked(tp, NULL);
	return rc;
}

/* Parse a .npy header: returns descr, shape and data offset. */
static bo_status npy_header(const char *path, const unsigned char *buf, size_t len, char *descr,
			    size_t dsize, int *rank, int64_t *dims, size_t *data_off,
			    struct bo_error *err)
{
	Bo_error_where(err, path, NULL, NULL, NULL);
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
		return Bo_fail(err, BO_EMALFORMED, "not a NumPy .npy file (bad magic)");
	size_t hlen, hoff;
	if (buf[6] == 1) {
		hlen = buf[8] | (size_t)buf[9] << 8;
		hoff = 10;
	} else if (buf[6] == 2 || buf[6] == 3) {
		if (len < 12)
			return Bo_fail(err, BO_EMALFORMED, "truncated .npy header");
		hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hoff = 12;
	} else {
		return Bo_fail(err, BO_EUNSUPPORTED, ".npy version %d is not supported", buf[6]);
	}
	if (hlen > 65536 || hoff + hlen > len) {
		err->offset = (int64_t)hoff;
		return Bo_fail(err, BO_EMALFORMED, ".npy header of %zu bytes runs past the end", hlen);
	}
	char h[65537];
	memcpy(h, buf + hoff, hlen);
	h[hlen] = 0;
	char *d = strstr(h, "'descr'");
	char *f = strstr(h, "'fortran_order'");
	char *s = strstr(h, "'shape'");
	if (!d || !f || !s)
		return Bo_fail(err, BO_EMALFORMED, ".npy header lacks descr, fortran_order or shape");
	if (sscanf(d, "'descr' : '%15[^']'", descr) != 1 && sscanf(d, "'descr': '%15[^']'", descr) != 1)
		return Bo_fail(err, BO_EMALFORMED, ".npy header has an unreadable descr");
	(void)dsize;
	if (!strncmp(f, "'fortran_order': True", 21) || !strncmp(f, "'fortran_order' : True", 22))
		return Bo_fail(err, BO_EUNSUPPORTED, "Fortran-order .npy files are not supported");
	char *p = strchr(s, '(');
	if (!p)
		return Bo_fail(err, BO_EMALFORMED, ".npy shape is not a tuple");
	p++;
	*rank = 0;
	while (*p && *p != ')') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ')')
			break;
		char *e;
		long long v = strtoll(p, &e, 10);
		if (e == p || v < 0)
			return Bo_fail(err, BO_EMALFORMED, ".npy shape is not a tuple of sizes");
		if (*rank >= BO_MAX_RANK)
			return Bo_fail(err, BO_ELIMIT, ".npy rank is over %d", BO_MAX_RANK);
		dims[(*rank)++] = v;
		p = e;
	}
	*data_off = hoff + hlen;
	return BO_OK;
}

static bo_status read_npy(const char *path, const unsigned char *buf, size_t len,
			  struct bo_tensor *t, struct bo_error *err)
{
	char descr[16] = { 0 };
	int rank;
	int64_t dims[BO_MAX_RANK], n;
	size_t off;
	bo_status rc = npy_header(path, buf, len, descr, sizeof(descr), &rank, dims, &off, err);
	if (rc)
		return rc;
	if ((rc = set_dims(t, rank, dims, path, err, &n)))
		return rc;
	size_t es;
	if (!strcmp(descr, "<f4") || !strcmp(descr, "<i4"))
		es = 4;
	else if (!strcmp(descr, "<f8") || !strcmp(descr, "<i8"))
		es = 8;
	else if (!strcmp(descr, "|u1"))
		es = 1;
	else
		return Bo_fail(err, BO_EUNSUPPORTED, ".npy dtype '%s' is not supported", descr);
	if (len - off < (size_t)n * es) {
		err->offset = (int64_t)len;
		return Bo_fail(err, BO_EMALFORMED, ".npy data is truncated: %zu bytes, need %lld",
			       len - off, (long long)((size_t)n * es));
	}
	t->data = malloc((size_t)(n ? n : 1) * sizeof(float));
	if (!t->data)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	const unsigned char *d = buf + off;
	for (int64_t i = 0; i < n; i++) {
		if (!strcmp(descr, "<f4")) {
			memcpy(&t->data[i], d + 4 * i, 4);
		} else if (!strcmp(descr, "<f8")) {
			double x;
			memcpy(&x, d + 8 * i, 8);
			t->data[i] = (float)x;
		} else if (!strcmp(descr, "<i4")) {
			int32_t x;
			memcpy(&x, d + 4 * i, 4);
			t->data[i] = (float)x;
		} else if (!strcmp(descr, "<i8")) {
			int64_t x;
			memcpy(&x, d + 8 * i, 8);
			t->data[i] = (float)x;
		} else {
			t->data[i] = d[i];
		}
	}
	bo_error_clear(err);
	return BO_OK;
}

bo_status bo_tensor_read_file(const char *path, struct bo_tensor *t, struct bo_error *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	memset(t, 0, sizeof(*t));
	bo_status rc = Bo_read_file(path, MAX_TENSOR_FILE, &buf, &len, err);
	if (rc)
		return rc;
	if (len >= 6 && !memcmp(buf, "\x93NUMPY", 6))
		rc = read_npy(path, buf, len, t, err);
	else
		rc = read_pb(path, buf, len, t, err);
	free(buf);
	if (rc)
		bo_tensor_release(t);
	return rc;
}

bo_status bo_tensor_write_pb(const char *path, const struct bo_tensor *t, const char *name,
			     struct bo_error *err)
{
	Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
	int64_t n = bo_tensor_numel(t);
	tp.n_dims = (size_t)t->rank;
	tp.dims = (int64_t *)t->dims;
	tp.has_data_type = 1;
	tp.data_type = 1;
	tp.name = (char *)(name ? name : "");
	tp.has_raw_data = 1;
	tp.raw_data.len = (size_t)n * 4;
	tp.raw_data.data = (uint8_t *)t->data;
	size_t size = onnx__tensor_proto__get_packed_size(&tp);
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	onnx__tensor_proto__pack(&tp, buf);
	bo_status rc = Bo_write_file_atomic(path, buf, size, err);
	free(buf);
	return rc;
}

bo_status bo_tensor_write_npy(const char *path, const struct bo_tensor *t, struct bo_error *err)
{
	char hdr[256];
	int k = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int i = 0; i < t->rank; i++)
		k += snprintf(hdr + k, sizeof(hdr) - (size_t)k, "%lld,%s", (long long)t->dims[i],
			      i + 1 < t->rank ? " " : "");
	k += snprintf(hdr + k, sizeof(hdr) - (size_t)k, "), }");
	/* pad so the data starts at a multiple of 64 bytes, ending with \n */
	int total = 10 + k + 1;
	int padn = (64 - total % 64) % 64;
	int64_t n = bo_tensor_numel(t);
	size_t size = (size_t)(total + padn) + (size_t)n * 4;
	unsigned char *buf = malloc(size);
	if (!buf)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	int hl = k + padn + 1;
	buf[8] = (unsigned char)(hl & 0xff);
	buf[9] = (unsigned char)(hl >> 8);
	memcpy(buf + 10, hdr, (size_t)k);
	memset(buf + 10 + k, ' ', (size_t)padn);
	buf[10 + k + padn] = '\n';
	memcpy(buf + total + padn, t->data, (size_t)n * 4);
	bo_status rc = Bo_write_file_atomic(path, buf, size, err);
	free(buf);
	return rc;
}

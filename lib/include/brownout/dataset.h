/* brownout: labelled image datasets.
 *
 * Supported formats:
 *  - IDX (MNIST, Fashion-MNIST): images u8 [N,H,W] (magic 0x00000803) and
 *    labels u8 [N] (magic 0x00000801), raw or gzip-compressed;
 *  - CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes (3x32x32),
 *    files data_batch_1..5.bin (train) and test_batch.bin (test);
 *  - NumPy: images .npy (u8 or float32/float64, [N,H,W] or [N,C,H,W]) and
 *    labels .npy (u8, int8, int16, uint16, int32 or int64, [N]).
 * Labels are class indexes 0..BO_MAX_LABEL.
 *
 * Pixels are stored as loaded (u8 or float). bo_dataset_batch() converts a
 * range of images to float32 NCHW: u8 pixels are divided by 255 (float
 * pixels are taken as they are: in [0,1], the caller's normalisation then
 * applies), then (x - mean[c]) / std[c]. */
#ifndef BROWNOUT_DATASET_H
#define BROWNOUT_DATASET_H

#include <brownout/status.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bo_dataset_format {
	BO_DATASET_AUTO = 0,
	BO_DATASET_IDX = 1,
	BO_DATASET_CIFAR10 = 2,
	BO_DATASET_NPY = 3,
};

enum bo_split { BO_SPLIT_TEST = 0, BO_SPLIT_TRAIN = 1 };
/* "test", "train"; and back (the CLI's --split, a dataset's split in
 * brownoutd): BO_OK, or BO_EINVAL "must be test or train, not 'x'". */
const char *bo_split_name(enum bo_split s);
bo_status bo_split_parse(const char *name, enum bo_split *out, struct bo_error *err);

#define BO_MAX_CHANNELS 16
#define BO_MAX_LABEL 65535

struct bo_dataset;

/* Caps on what a dataset file may claim. Zero fields take the defaults. */
struct bo_dataset_limits {
	int64_t max_images;  /* default 10,000,000 */
	int64_t max_pixels;  /* per image, default 16,777,216 */
	int64_t max_bytes;   /* decoded pixel bytes in all, default 8 GiB */
	/* uncompressed bytes read from all the files together (headers,
	 * labels and pixels as stored: float64 NumPy is twice its float32),
	 * counted as they stream in, default 16 GiB */
	int64_t max_decoded_bytes;
};

/* What bo_dataset_check_at found. */
struct bo_dataset_info {
	enum bo_dataset_format format;
	int64_t count;          /* images */
	int64_t c, h, w;        /* shape of one image */
	int classes;            /* largest label + 1 */
	int is_dir;             /* path named a dataset directory */
	int64_t file_bytes;     /* on-disk bytes of the files read */
	int64_t decoded_bytes;  /* uncompressed bytes streamed */
};

/* Open the dataset in directory `dir`, detecting the format from its file
 * names: IDX ({t10k,train}-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz]),
 * CIFAR-10 (test_batch.bin / data_batch_*.bin, possibly in a
 * cifar-10-batches-bin subdirectory) or NumPy ({test,train}_images.npy and
 * {test,train}_labels.npy, or images.npy and labels.npy). */
bo_status bo_dataset_open_dir(const char *dir, enum bo_split split,
			      const struct bo_dataset_limits *limits,
			      struct bo_dataset **out, struct bo_error *err);

/* Open an explicit image file and label file. The format is detected from
 * the content (IDX magic, NumPy magic) unless `format` says otherwise;
 * CIFAR-10 .bin files hold both, so pass labels = NULL for them. */
bo_status bo_dataset_open_files(const char *images, const char *labels,
				enum bo_dataset_format format,
				const struct bo_dataset_limits *limits,
				struct bo_dataset **out, struct bo_error *err);

/* Open `path`, a dataset directory (read as bo_dataset_open_dir reads one,
 * for `split`) or an images file (then `labels` names the labels file, or
 * is NULL for CIFAR-10; `format` as for bo_dataset_open_files), both
 * relative to the directory root_fd, never leaving it: each name is
 * resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), or,
 * where the kernel lacks openat2, one component at a time with O_NOFOLLOW
 * (then no symbolic link is followed at all); a directory's files are
 * opened beneath the directory. A path that leaves root_fd ("..", an
 * absolute path, a symbolic link pointing out) fails with BO_EPERM, one
 * that is not there with BO_ENOENT; only regular files are read.
 * root_fd = AT_FDCWD (<fcntl.h>) resolves ordinary paths, following links,
 * as bo_dataset_open_dir and bo_dataset_open_files do. */
bo_status bo_dataset_open_at(int root_fd, const char *path, const char *labels,
			     enum bo_dataset_format format, enum bo_split split,
			     const struct bo_dataset_limits *limits, struct bo_dataset **out,
			     struct bo_error *err);

/* Validate what bo_dataset_open_at would load, without loading it: the
 * headers' counts and dimensions are checked against the limits before any
 * data is read, then every byte streams through fixed buffers (about 2 MiB,
 * whatever the dataset's size) and is checked: lengths against the declared
 * counts, as many labels as images, labels in range, floats finite, no
 * trailing data, gzip streams whole, the uncompressed total under
 * max_decoded_bytes. info (may be NULL) gets what was found. */
bo_status bo_dataset_check_at(int root_fd, const char *path, const char *labels,
			      enum bo_dataset_format format, enum bo_split split,
			      const struct bo_dataset_limits *limits,
			      struct bo_dataset_info *info, struct bo_error *err);

void bo_dataset_free(struct bo_dataset *ds);

int64_t bo_dataset_count(const struct bo_dataset *ds);
/* Shape of one image: channels, height, width. */
void bo_dataset_shape(const struct bo_dataset *ds, int64_t *c, int64_t *h, int64_t *w);
enum bo_dataset_format bo_dataset_format(const struct bo_dataset *ds);
/* Short name of a format: "idx", "cifar10", "npy". */
const char *bo_dataset_format_name(enum bo_dataset_format f);
/* The name back: "auto", "idx", "npy", "cifar10" or "cifar" (brownoutd's
 * word). BO_OK, or BO_EINVAL naming the formats. */
bo_status bo_dataset_format_parse(const char *name, enum bo_dataset_format *out,
				  struct bo_error *err);
/* Number of distinct classes (max label + 1). */
int bo_dataset_classes(const struct bo_dataset *ds);
int bo_dataset_label(const struct bo_dataset *ds, int64_t i);

/* For float pixels: their smallest and largest value over the first
 * `images` images (all when images <= 0 or more than there are); returns 1.
 * Returns 0 (lo, hi untouched) when the pixels are bytes. Pixels outside
 * [0,1] look already normalised. */
int bo_dataset_float_range(const struct bo_dataset *ds, int64_t images, float *lo, float *hi);

/* Preprocessing: per-channel mean and std; n == 1 applies to all channels.
 * Defaults: mean 0, std 1 (pixels in [0,1]). */
struct bo_norm {
	int n;
	float mean[BO_MAX_CHANNELS];
	float std[BO_MAX_CHANNELS];
};

/* Parse "0.5" or "0.4914,0.4822,0.4465" into n and vals. `what` names the
 * option in the error ("--mean"). */
bo_status bo_norm_parse_list(const char *text, float *vals, int *n, const char *what,
			     struct bo_error *err);

/* Check that `norm` fits the dataset's channel count (1 or C values, std > 0). */
bo_status bo_norm_check(const struct bo_norm *norm, int64_t channels, struct bo_error *err);

/* Write images [first, first+count) as float32 NCHW to `x` (count*C*H*W
 * floats) and their labels to `labels` (may be NULL). */
bo_status bo_dataset_batch(const struct bo_dataset *ds, int64_t first, int64_t count,
			   const struct bo_norm *norm, float *x, int *labels,
			   struct bo_error *err);

#ifdef __cplusplus
}
#endif
#endif

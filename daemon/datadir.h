/* brownoutd's data directory (data-dir, default ./var): its layout, in one
 * place (datadir.c).
 *
 *   DATA/brownout.db                    the store (SQLite; -wal, -shm beside it)
 *   DATA/space-reserve                  spent on deletes when the disk is full
 *   DATA/tmp/upload-XXXXXX              uploads in flight; emptied at start
 *   DATA/models/ID.onnx                 uploaded models, by row id
 *   DATA/datasets/ID-images.bin         uploaded datasets' images
 *   DATA/datasets/ID-labels.bin         and labels
 *
 * The store records paths relative to DATA (models.path, datasets.path,
 * datasets.labels_path); a registered dataset's path is absolute. */
#ifndef BO_DATADIR_H
#define BO_DATADIR_H

#include <stddef.h>
#include <stdint.h>

enum bd_data_entry {
	BO_DATA_DB,        /* brownout.db */
	BO_DATA_RESERVE,   /* space-reserve */
	BO_DATA_TMP,       /* tmp */
	BO_DATA_UPLOAD,    /* tmp/upload-XXXXXX, a mkstemp template */
	BO_DATA_MODELS,    /* models */
	BO_DATA_DATASETS,  /* datasets */
};

/* The entry's name within the data directory ("models"). */
const char *bd_data_name(enum bd_data_entry e);
/* data_dir + "/" + the entry's name into buf (truncated to size). */
void bd_data_entry(const char *data_dir, enum bd_data_entry e, char *buf, size_t size);
/* What the store records for an uploaded model or dataset (relative to
 * DATA): "models/ID.onnx", "datasets/ID-images.bin" or (labels)
 * "datasets/ID-labels.bin". */
void bd_data_model_rel(int64_t id, char *buf, size_t size);
void bd_data_dataset_rel(int64_t id, int labels, char *buf, size_t size);
/* A stored path as a file name: absolute as it is, else under data_dir. */
void bd_data_file(const char *data_dir, const char *rel, char *buf, size_t size);

#endif

/* brownoutd's data directory: the one place that names its files
 * (datadir.h has the layout). */
#include <stdio.h>

#include "datadir.h"

static const char *const names[] = {
	[BO_DATA_DB] = "brownout.db",
	[BO_DATA_RESERVE] = "space-reserve",
	[BO_DATA_TMP] = "tmp",
	[BO_DATA_UPLOAD] = "tmp/upload-XXXXXX",
	[BO_DATA_MODELS] = "models",
	[BO_DATA_DATASETS] = "datasets",
};

const char *bd_data_name(enum bd_data_entry e)
{
	return names[e];
}

void bd_data_entry(const char *data_dir, enum bd_data_entry e, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", data_dir, names[e]);
}

void bd_data_model_rel(int64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%lld.onnx", names[BO_DATA_MODELS], (long long)id);
}

void bd_data_dataset_rel(int64_t id, int labels, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%lld-%s.bin", names[BO_DATA_DATASETS], (long long)id,
		 labels ? "labels" : "images");
}

void bd_data_file(const char *data_dir, const char *rel, char *buf, size_t size)
{
	if (rel[0] == '/')
		snprintf(buf, size, "%s", rel);
	else
		snprintf(buf, size, "%s/%s", data_dir, rel);
}

/* Fuzz target: the dataset parser for NumPy .npy images and labels, any dtype the loader takes, raw or gzip
 * (lib/dataset.c through bo_dataset_open_files; see fuzz_dataset.h). */
#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_dataset(BO_DATASET_NPY, 1, data, size);
	return 0;
}

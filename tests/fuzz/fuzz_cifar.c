/* Fuzz target: the dataset parser for CIFAR-10 binary: records of a label byte and 3x32x32 pixels, raw or gzip
 * (lib/dataset.c through bo_dataset_open_files; see fuzz_dataset.h). */
#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_dataset(BO_DATASET_CIFAR10, 0, data, size);
	return 0;
}

/* Fuzz target: the dataset parser for IDX files (MNIST): images u8 [N,H,W] and labels u8 [N], raw or gzip
 * (lib/dataset.c through bo_dataset_open_files; see fuzz_dataset.h). */
#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_dataset(BO_DATASET_IDX, 1, data, size);
	return 0;
}

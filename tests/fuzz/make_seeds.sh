#!/bin/bash
# Regenerate the seed corpora of tests/fuzz/corpus/ (the outputs are
# committed; run this only when the seeds should change). Needs a built
# BUILD/libbrownout.a for the ONNX seeds (make_seeds.c); the rest is
# written by make_seeds.py. Saved crash inputs (crash-*, leak-*, ...) are
# left alone.
#   tests/fuzz/make_seeds.sh [BUILD]
set -eu
build=${1:-build}
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
mkdir -p "$out"/{onnx,idx,npy,cifar,jobspec,http}
bin=$build/tests/fuzz-make-seeds
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Ilib/include -I"$build/gen" -Itests/unit \
	$(pkg-config --cflags libprotobuf-c) -o "$bin" tests/fuzz/make_seeds.c \
	tests/unit/common_onnx.c "$build/libbrownout.a" \
	$(pkg-config --libs openblas libprotobuf-c zlib) -lm -pthread
"$bin" "$out/onnx"
python3 tests/fuzz/make_seeds.py "$out"
du -sh "$out"

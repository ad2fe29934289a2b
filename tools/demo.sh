#!/bin/sh
# `make demo`: evaluate the bundled demo model on Debian's Fashion-MNIST
# with the CLI. What it prints is in README.md, and tests/readme/run.sh
# checks that the two agree.
set -eu
build=${1:-build}
model=${BO_DEMO_MODEL:-tests/fixtures/fmnist_preact_f8.onnx}
data=${BO_DEMO_DATA:-/usr/share/datasets/fashion-mnist}
echo "== brownout eval $model $data"
"$build/brownout" eval "$model" "$data"

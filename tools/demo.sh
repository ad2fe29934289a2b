#!/bin/sh
# `make run`: evaluate the bundled demo model on Debian's Fashion-MNIST.
set -eu
build=${1:-build}
model=${BO_DEMO_MODEL:-tests/fixtures/fmnist_preact_f8.onnx}
data=${BO_DEMO_DATA:-/usr/share/datasets/fashion-mnist}
echo "== brownout info $model"
"$build/brownout" info "$model"
echo
echo "== brownout eval $model $data"
"$build/brownout" eval "$model" "$data"

#!/bin/sh
# Remake the Fashion-MNIST ONNX fixtures in tests/fixtures/ (`make fixtures`).
#
# Seed: 1 for every model (each model is seeded on its own: initialisation,
# data order, flips and erasure masks).  Training runs on one CPU thread:
# about 15 minutes for train_fmnist.py's 4 PreActResNet18 models (4 epochs on
# all 60,000 training images), about 25 more for its ResNet18 and SENet18
# fixtures of docs/experiments.md's Figs. 1 and 2 and 45 for its MobileNetV2
# one (the same recipe; its depthwise convolutions train about 3 times
# slower per step on a CPU), and
# 1 minute for train_other.py on an idle core.
#
# Results are deterministic for a given torch build, but can differ across
# torch builds, versions and CPUs (different kernels round differently, and
# training amplifies it): a remake elsewhere gives models of similar accuracy,
# not byte-identical files.  tests/fixtures/fixtures.json and
# tests/fixtures/other/other.json record the torch version, the accuracies
# and the sha256 of each .onnx that was committed.
#
# Needs Debian's python3 with torch and onnx (python3-torch, python3-onnx,
# python3-numpy) and the Fashion-MNIST files in /usr/share/datasets/fashion-mnist.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

"$PY" tools/train_fmnist.py --out tests/fixtures --seed 1 --epochs 4 \
    --only fmnist_preact_f4,fmnist_preact_f6,fmnist_preact_f8,fmnist_preact_f8_erasure
"$PY" tools/train_fmnist.py --out tests/fixtures --seed 1 --epochs 4 --threads 1 \
    --only fmnist_resnet18_f8,fmnist_senet18_f8
"$PY" tools/train_fmnist.py --out tests/fixtures --seed 1 --epochs 4 --threads 1 \
    --only fmnist_mobilenetv2_w25
"$PY" tools/train_other.py --out tests/fixtures/other --seed 1 --epochs 2

# Check each export: onnx.checker, op list, and a numpy run of the graph
# against the PyTorch logits saved beside it.
for name in fmnist_preact_f4 fmnist_preact_f6 fmnist_preact_f8 \
            fmnist_preact_f8_erasure fmnist_resnet18_f8 fmnist_senet18_f8 \
            fmnist_mobilenetv2_w25 other/other; do
    "$PY" tools/check_onnx.py "tests/fixtures/$name.onnx" \
        --input tests/fixtures/fmnist_first64.npy \
        --logits "tests/fixtures/$name.logits.npy" \
        --labels tests/fixtures/fmnist_first64_labels.npy
done

#!/bin/bash
# Clean-inference benchmark: brownout against PyTorch on the same network,
# batch 64 and 256, 1 and 2 threads, in one run; plus OpenBLAS sgemm's peak
# measured in the same run. Prints a markdown table (bench/README.md).
#   bench/run.sh [BUILD]          (or: make bench)
# Environment: BENCH_CIFAR_IMAGES (default 512), BENCH_FMNIST_IMAGES (10000).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
py=/usr/bin/python3
out=bench/out
mkdir -p "$out"
bo="$build/brownout"
cimg=${BENCH_CIFAR_IMAGES:-512}
fimg=${BENCH_FMNIST_IMAGES:-10000}

cc -O2 -std=c11 -D_GNU_SOURCE $(pkg-config --cflags openblas) bench/sgemm_peak.c \
	-o "$out/sgemm_peak" $(pkg-config --libs openblas) -pthread
peak1=$("$out/sgemm_peak" 1 | $py -c 'import json,sys; print(max(x["gflops"] for x in json.load(sys.stdin)))')
peak2=$("$out/sgemm_peak" 2 | $py -c 'import json,sys; print(max(x["gflops"] for x in json.load(sys.stdin)))')

# CIFAR-shaped PreActResNet18 (F = 64, random weights) and random CIFAR-sized images
[ -f "$out/cifar/preactresnet18.onnx" ] || $py tools/export_cifar.py "$out/cifar" >/dev/null
[ -f "$out/synth/images.npy" ] || $py -c '
import numpy as np, os, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True); r = np.random.default_rng(0)
np.save(d + "/images.npy", r.integers(0, 256, (int(sys.argv[2]), 3, 32, 32), dtype=np.uint8))
np.save(d + "/labels.npy", r.integers(0, 10, int(sys.argv[2])).astype(np.int64))' "$out/synth" "$cimg"

fx=tests/fixtures/fmnist_preact_f8.onnx
F=$($py -c 'import json; print([m["F"] for m in json.load(open("tests/fixtures/fixtures.json"))["models"] if m["name"]=="fmnist_preact_f8"][0])')

echo "OpenBLAS sgemm peak: $peak1 GFLOP/s (1 thread), $peak2 GFLOP/s (2 threads, one sgemm per thread)"
echo "$(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%Y-%m-%d)"
echo
echo "| model | batch | threads | brownout img/s | PyTorch img/s | ratio | conv GFLOP/s per thread | conv % of sgemm peak |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
row() { # NAME MODEL DATA IMAGES TORCHARGS... ; uses $b $t
	local name=$1 model=$2 data=$3 n=$4
	shift 4
	local j tj
	j=$("$bo" eval "$model" "$data" ${BOARGS:-} --limit "$n" --batch "$b" --threads "$t" --json --profile)
	tj=$($py bench/torch_infer.py "$@" --batch "$b" --threads "$t" --images "$n")
	$py - "$j" "$tj" "$name" "$b" "$t" "$peak1" <<'PY'
import json, sys
j, tj = json.loads(sys.argv[1]), json.loads(sys.argv[2])
name, b, t, peak = sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
conv = [p for p in j["profile"] if p["op"] == "Conv"][0]
g = conv["flops"] / conv["seconds"] / 1e9   # per thread: seconds are thread-seconds
r = j["images_per_second"] / tj["images_per_second"]
print(f"| {name} | {b} | {t} | {j['images_per_second']:.1f} | {tj['images_per_second']:.1f} | {r:.2f}x | {g:.1f} | {100*g/peak:.0f} % |")
PY
}
for b in 64 256; do
	for t in 1 2; do
		row "Fashion-MNIST PreActResNet18 F=$F (fixture)" "$fx" /usr/share/datasets/fashion-mnist "$fimg" \
			--arch preact --F "$F" --shape 1x28x28
		# random weights, no brownout.mean/std: say so (normalisation is never silent)
		BOARGS=--no-normalize row "CIFAR PreActResNet18 F=64 (random)" "$out/cifar/preactresnet18.onnx" "$out/synth" "$cimg" \
			--arch preact --F 64 --shape 3x32x32
	done
done

echo
bench/sweep.sh "$build"

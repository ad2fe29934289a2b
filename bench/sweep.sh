#!/bin/bash
# Fault-sweep benchmark (issue "Fault injection and sweeps", item 7), on the
# Fashion-MNIST PreActResNet18 F = 8 fixture, in one run:
#  (a) images/s under BM on weights and activations at p = 1e-3 and 1e-2
#      against clean (p = 0), same sweep machinery, 1 thread;
#  (b) a whole sweep, BM both, 5 points x 5 trials x 2,000 images, against
#      the independent PyTorch reference (tools/ref_sweep.py), same thread
#      count (1);
#  (c) the same sweep with 2 threads against 1.
#   bench/sweep.sh [BUILD]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bo="$build/brownout"
py=/usr/bin/python3
fx=tests/fixtures/fmnist_preact_f8.onnx
fm=/usr/share/datasets/fashion-mnist
ips() { $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_second"])'; }

clean=$("$bo" sweep "$fx" "$fm" --p 0 --trials 3 --limit 5000 --threads 1 --json | ips)
echo "| sweep | images/s | ratio to clean | target |"
echo "| --- | ---: | ---: | ---: |"
printf '| clean (p = 0) | %.0f | 1.00 | |\n' "$clean"
for p in 1e-3 1e-2; do
	f=$("$bo" sweep "$fx" "$fm" --p $p --trials 3 --limit 5000 --threads 1 --json | ips)
	want=$([ $p = 1e-3 ] && echo 0.85 || echo 0.75)
	printf '| BM both, p = %s | %.0f | %.2f | >= %s |\n' $p "$f" "$($py -c "print($f/$clean)")" $want
done
echo
P=1e-4,3e-4,1e-3,3e-3,1e-2
wall() { # seconds of wall time of a whole command, set-up included
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	$py -c "print($t1 - $t0)"
}
c1=$(wall "$bo" sweep "$fx" "$fm" --p $P --trials 5 --limit 2000 --threads 1 --json)
c2=$(wall "$bo" sweep "$fx" "$fm" --p $P --trials 5 --limit 2000 --threads 2 --json)
r1=$(wall $py tools/ref_sweep.py "$fx" "$fm" --deviation bm --target both --p $P --trials 5 \
	--limit 2000 --threads 1 --json)
echo "| whole sweep: BM both, 5 points x 5 trials x 2,000 images (wall time, set-up included) | seconds | speed-up | target |"
echo "| --- | ---: | ---: | ---: |"
printf '| PyTorch reference (tools/ref_sweep.py), 1 thread | %.1f | 1 | |\n' "$r1"
printf '| brownout sweep, 1 thread | %.2f | %.1fx vs reference | >= 20x |\n' "$c1" "$($py -c "print($r1/$c1)")"
printf '| brownout sweep, 2 threads | %.2f | %.2fx vs 1 thread | >= 1.8x |\n' "$c2" "$($py -c "print($c1/$c2)")"

#!/bin/bash
# Time-to-answer benchmark (issue 13, deliverable 6): the CPU time to bring
# every point of a 5-point BM sweep to a 95 % CI half-width of CI (0.005),
#  (a) on the Fashion-MNIST PreActResNet18 F = 8 fixture, measured:
#      `brownout sweep --ci-target CI --images-per-trial auto` against the
#      paper's design (`--images-per-trial all`: every chip sees all LIMIT
#      images), and the PyTorch reference (tools/ref_sweep.py, which has no
#      CI target) running the paper's design to the trial counts `all`
#      needed at each point. The reference runs at most REF_TRIALS (5)
#      trials a point and its CPU time is scaled to the trial count `all`
#      needed (its cost per trial is constant: every trial is LIMIT images);
#      the table says so.
#  (b) a CIFAR-shaped PreActResNet18 F = 64 (tools/export_cifar.py, random
#      weights; no CIFAR data here): the CPU microseconds per image of
#      `brownout sweep` on CIFAR-shaped random inputs, and of a clean
#      PyTorch forward of the same network (a lower bound of the
#      reference's cost per image, which adds the fault injection), then
#      the time of (a)'s sweep at that scale PROJECTED from the image
#      counts each design needed on the F = 8 fixture.
# CPU seconds (user + system, one thread) because the machine is shared;
# images evaluated are load-independent. Prints markdown tables.
#   bench/answer.sh [BUILD]
# P (default 1e-4,5e-4,1e-3,1.75e-3,3e-3), CI (0.005), LIMIT (2000),
# MIN_TRIALS (10), MAX_TRIALS (2000), SEED (1), REF_TRIALS (5),
# SKIP_ALL=1 / SKIP_REF=1 / SKIP_CIFAR=1 leave parts out.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bo="$build/brownout"
py=/usr/bin/python3
f8=tests/fixtures/fmnist_preact_f8.onnx
fm=/usr/share/datasets/fashion-mnist
plist=${P:-1e-4,5e-4,1e-3,1.75e-3,3e-3}
ci=${CI:-0.005}
limit=${LIMIT:-2000}
min_trials=${MIN_TRIALS:-10}
max_trials=${MAX_TRIALS:-2000}
seed=${SEED:-1}
ref_trials=${REF_TRIALS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu_of() { # FILE: user + system seconds written by /usr/bin/time -f '%U %S'
	awk 'END { print $(NF-1) + $NF }' "$1"
}

# (a) F = 8, both designs, one after the other
common=("$f8" "$fm" --p "$plist" --limit "$limit" --ci-target "$ci" --min-trials "$min_trials"
	--max-trials "$max_trials" --threads 1 --seed "$seed" --json)
designs=(auto)
[ "${SKIP_ALL:-}" = 1 ] || designs+=(all)
for d in "${designs[@]}"; do
	echo "running: $bo sweep ${common[*]} --images-per-trial $d" >&2
	nice /usr/bin/time -f '%U %S' -o "$tmp/$d.time" "$bo" sweep "${common[@]}" \
		--images-per-trial "$d" >"$tmp/$d.json"
done

# the reference at the paper's design, to the trials `all` needed (capped)
if [ "${SKIP_REF:-}" != 1 ] && [ "${SKIP_ALL:-}" != 1 ]; then
	: >"$tmp/ref.tsv"
	while read -r p t; do
		rt=$((t < ref_trials ? t : ref_trials))
		echo "running: tools/ref_sweep.py $f8 $fm --p $p --trials $rt --limit $limit" >&2
		nice /usr/bin/time -f '%U %S' -o "$tmp/ref.time" "$py" tools/ref_sweep.py "$f8" "$fm" \
			--p "$p" --trials "$rt" --limit "$limit" --seed "$seed" --threads 1 --json \
			>"$tmp/ref.json"
		echo "$p $t $rt $(cpu_of "$tmp/ref.time")" >>"$tmp/ref.tsv"
	done < <($py -c 'import json,sys; [print(q["p"], q["trials"]) for q in json.load(open(sys.argv[1]))["points"]]' "$tmp/all.json")
fi

# (b) CPU per image at CIFAR shape, F = 64: 3 trials minus 1 trial of
# NCIFAR random images (set-up cancelled out), and PyTorch's clean forward
if [ "${SKIP_CIFAR:-}" != 1 ]; then
	ncifar=${NCIFAR:-128}
	echo "exporting the CIFAR-shaped PreActResNet18 F = 64" >&2
	"$py" tools/export_cifar.py "$tmp/cifar" >/dev/null 2>&1
	"$py" -c 'import numpy as np, sys; r = np.random.default_rng(1); n = int(sys.argv[3])
np.save(sys.argv[1], r.standard_normal((n, 3, 32, 32)).astype(np.float32))
np.save(sys.argv[2], r.integers(0, 10, n).astype(np.uint8))' "$tmp/x.npy" "$tmp/y.npy" "$ncifar"
	csw() {
		nice /usr/bin/time -f '%U %S' -o "$tmp/c.time" "$bo" sweep "$tmp/cifar/preactresnet18.onnx" \
			--images "$tmp/x.npy" --labels "$tmp/y.npy" --no-normalize --p 1e-3 --trials "$1" \
			--calib 64 --threads 1 --json >/dev/null
		cpu_of "$tmp/c.time"
	}
	b=$(csw 3)
	a=$(csw 1)
	echo "$b $a $ncifar" | awk '{ printf "%.1f\n", ($1 - $2) / (2 * $3) * 1e6 }' >"$tmp/bo_us"
	nice /usr/bin/time -f '%U %S' -o "$tmp/t.time" "$py" -c '
import sys, time, torch
sys.path.insert(0, "tools")
import models
torch.set_num_threads(1); torch.manual_seed(0)
m = models.PreActResNet18(F=64, in_channels=3, num_classes=10)
m.eval()
x = torch.randn(int(sys.argv[1]), 3, 32, 32)
with torch.no_grad():
    for _ in range(3):
        m(x)
' "$ncifar" >/dev/null 2>"$tmp/t.err" || { echo "torch forward failed: $(tail -2 "$tmp/t.err")" >&2; echo "nan" >"$tmp/t.time"; }
	nice /usr/bin/time -f '%U %S' -o "$tmp/t1.time" "$py" -c 'import torch, sys; sys.path.insert(0, "tools"); import models' >/dev/null 2>&1
	awk -v n="$ncifar" 'NR == FNR { a = $(NF-1) + $NF; next } { b = $(NF-1) + $NF } END { printf "%.1f\n", (a - b) / (3 * n) * 1e6 }' \
		"$tmp/t.time" "$tmp/t1.time" >"$tmp/torch_us"
fi

"$py" - "$tmp" "$ci" "$limit" <<'PY'
import json, os, sys
tmp, ci, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def load(d):
    f = os.path.join(tmp, d + ".json")
    if not os.path.exists(f):
        return None, None
    t = open(os.path.join(tmp, d + ".time")).read().split()
    return json.load(open(f)), float(t[-2]) + float(t[-1])
auto, auto_cpu = load("auto")
alld, all_cpu = load("all")
ref = {}
if os.path.exists(os.path.join(tmp, "ref.tsv")):
    for line in open(os.path.join(tmp, "ref.tsv")):
        p, t, rt, c = line.split()
        ref[float(p)] = (int(t), int(rt), float(c))
def imgs(q):
    pil = q.get("pilot") or {}
    return q["images"], pil.get("trials", 0) * pil.get("images_per_trial", 0)
def ci_of(q):
    lo, hi = q["ci95"]
    return lo, hi, (hi - lo) / 2
print("| p | design | n | trials | images (+ pilot) | mean [95 % CI] | half-width | met |")
print("| ---: | --- | ---: | ---: | ---: | --- | ---: | --- |")
tot = {}
for name, run in (("auto", auto), ("all", alld)):
    if not run:
        continue
    for q in run["points"]:
        i, pil = imgs(q)
        lo, hi, h = ci_of(q)
        tot[name] = tot.get(name, 0) + i + pil
        print("| %g | %s | %d | %d | %s (+ %s) | %.4f [%.4f, %.4f] | %.4f | %s |" % (
            q["p"], name, q.get("n", limit), q["trials"], format(i, ","), format(pil, ","),
            q["accuracy_mean"], lo, hi, h, "yes" if h <= ci + 1e-12 else "NO"))
print()
if auto and alld:
    print("| p | auto vs all: images ratio | means agree within their CIs |")
    print("| ---: | ---: | --- |")
    for qa, ql in zip(auto["points"], alld["points"]):
        ia = sum(imgs(qa)); il = sum(imgs(ql))
        alo, ahi, _ = ci_of(qa); llo, lhi, _ = ci_of(ql)
        print("| %g | %.1fx | %s (diff %+.4f) |" % (qa["p"], il / ia, "yes" if alo <= lhi and llo <= ahi else "NO",
                                                 qa["accuracy_mean"] - ql["accuracy_mean"]))
    print()
rows = [("brownout auto", auto_cpu, tot.get("auto")), ("brownout all (paper's design)", all_cpu, tot.get("all"))]
if ref:
    refcpu = sum(c / rt * t for t, rt, c in ref.values())
    rows.append(("reference, paper's design (projected from %d trials a point)" % max(rt for _, rt, _ in ref.values()),
                 refcpu, tot.get("all")))
print("| F = 8, %d points to half-width %g | CPU s | images | auto faster by |" % (len((auto or alld)["points"]), ci))
print("| --- | ---: | ---: | ---: |")
for name, c, i in rows:
    if c is None:
        continue
    print("| %s | %.1f | %s | %s |" % (name, c, format(i or 0, ","), "%.1fx" % (c / auto_cpu) if auto_cpu else ""))
bo_us = os.path.join(tmp, "bo_us")
if os.path.exists(bo_us):
    us = float(open(bo_us).read())
    tus = float(open(os.path.join(tmp, "torch_us")).read())
    print()
    print("F = 64 CIFAR-shaped PreActResNet18: brownout %.0f us/image (CPU, 1 thread, BM faults); "
          "PyTorch clean forward %.0f us/image (a lower bound of the reference)." % (us, tus))
    print()
    print("| F = 64, PROJECTED from the F = 8 image counts | images | CPU s |")
    print("| --- | ---: | ---: |")
    for name, key, cost in (("brownout auto", "auto", us), ("brownout all", "all", us),
                            ("reference, paper's design (lower bound)", "all", tus)):
        if key in tot:
            print("| %s | %s | %.0f |" % (name, format(tot[key], ","), tot[key] * cost / 1e6))
PY

#!/bin/bash
# CLI tests: exit codes, error messages, and numbers checked against
# PyTorch's (fixtures) and against counts computed from the ONNX file by
# Debian's python3-onnx, independently of the C code.
#   tests/cli/test_cli.sh BUILD
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
bo="$build/brownout"
py=/usr/bin/python3
fx=tests/fixtures
fm=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skip=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2"; }
skipped() { skip=$((skip + 1)); echo "SKIP $1: $2"; }

# expect_exit NAME CODE PATTERN CMD...: exit code and stderr pattern
expect_exit() {
	local name=$1 code=$2 pat=$3
	shift 3
	local out rc
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq "$code" ] && grep -qE -- "$pat" <<<"$out"; then
		ok "$name"
	else
		bad "$name (exit $rc, want $code; stderr must match '$pat')" "$out"
	fi
}

expect_exit "no arguments is a usage error" 2 "usage" "$bo"
expect_exit "unknown command" 2 "unknown command 'frobnicate'" "$bo" frobnicate
expect_exit "unknown option" 2 "invalid option" "$bo" eval --frob x y
expect_exit "eval without dataset" 2 "DATASET" "$bo" eval "$fx/other/other.onnx"
expect_exit "bad --batch" 2 "--batch must be" "$bo" eval "$fx/other/other.onnx" "$fm" --batch 0
expect_exit "bad --input-shape" 2 "input-shape" "$bo" info "$fx/other/other.onnx" --input-shape 1xAx3
expect_exit "missing model file" 1 "$tmp/nope.onnx: cannot open" "$bo" info "$tmp/nope.onnx"
head -c 1000 "$fx/other/other.onnx" >"$tmp/trunc.onnx"
expect_exit "truncated model names the byte offset" 1 "trunc.onnx: .*at byte [0-9]+" "$bo" info "$tmp/trunc.onnx"
printf 'garbage' >"$tmp/garbage.onnx"
expect_exit "garbage model" 1 "garbage.onnx: " "$bo" info "$tmp/garbage.onnx"
expect_exit "missing dataset" 1 "$tmp/nodata" "$bo" eval "$fx/other/other.onnx" "$tmp/nodata"
expect_exit "mean with 3 values on a 1-channel dataset" 1 "mean" \
	"$bo" eval "$fx/other/other.onnx" "$fm" --mean 0.1,0.2,0.3 --std 0.3
expect_exit "bad --blocks rule" 1 "PATTERN=BLOCK" "$bo" info "$fx/other/other.onnx" --blocks nonsense

have_torch=0
if $py -c 'import torch, onnx' 2>/dev/null; then have_torch=1; fi
have_onnx=0
if $py -c 'import onnx, numpy' 2>/dev/null; then have_onnx=1; fi

# Parameters and activations computed from the file with python3-onnx (spec
# section 1), to compare with `brownout info --json`.
count_py='
import sys, onnx, numpy as np
from onnx import shape_inference
m = onnx.load(sys.argv[1])
shape = [int(x) for x in sys.argv[2].split("x")] if len(sys.argv) > 2 else None
g = m.graph
inits = {t.name: t for t in g.initializer}
# resolve Identity-over-initializer aliases
alias = {}
for n in g.node:
    if n.op_type == "Identity" and n.input[0] in inits:
        alias[n.output[0]] = n.input[0]
seen = set(); params = 0
for n in g.node:
    names = []
    if n.op_type in ("Conv", "Gemm", "MatMul"):
        names = [alias.get(x, x) for x in n.input]
        names = [x for x in names if x in inits and inits[x].data_type == 1]
    elif n.op_type == "BatchNormalization":
        params += 2 * int(np.prod(inits[n.input[1]].dims)); continue
    for x in names:
        if x not in seen:
            seen.add(x); params += int(np.prod(inits[x].dims))
inp = g.input[0]
dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
dims[0] = 1
if shape: dims = [1] + shape
del inp.type.tensor_type.shape.dim[:]
for d in dims:
    inp.type.tensor_type.shape.dim.add().dim_value = d
m2 = shape_inference.infer_shapes(m)
shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(m2.graph.value_info) + list(m2.graph.output)}
acts = 0
for n in g.node:
    relu = n.op_type == "Relu"
    if n.op_type == "Clip":
        lo = None
        if len(n.input) > 1 and n.input[1] in inits:
            lo = float(onnx.numpy_helper.to_array(inits[n.input[1]]))
        relu = lo is not None and lo >= 0
    if relu:
        acts += int(np.prod(shapes[n.output[0]]))
print(params, acts)
'
info_counts() { "$bo" info "$@" --json | $py -c 'import json,sys; j=json.load(sys.stdin); print(j["parameters"], j["activations"])'; }

if [ "$have_onnx" = 1 ]; then
	for f in "$fx"/*.onnx "$fx/other/other.onnx"; do
		want=$($py -c "$count_py" "$f" 2>&1)
		got=$(info_counts "$f" 2>&1)
		if [ "$want" = "$got" ]; then ok "info counts of $(basename "$f") = python-onnx's ($got)"; else bad "info counts of $(basename "$f")" "brownout: $got
python-onnx: $want"; fi
	done
else
	skipped "info counts vs python3-onnx" "python3-onnx is not installed"
fi

# info --json has the documented keys
keys=$("$bo" info "$fx/other/other.onnx" --json | $py -c 'import json,sys; j=json.load(sys.stdin); print(all(k in j for k in ("parameters","activations","blocks","inputs","outputs")) and all(set(b)>={"name","parameters","activations"} for b in j["blocks"]))')
[ "$keys" = True ] && ok "info --json keys" || bad "info --json keys" "$keys"

# eval: accuracy equals PyTorch's on all 10,000 test images within 3 images
if [ -d "$fm" ]; then
	check_eval() { # NAME JSON_WITH_TEST_CORRECT EVAL_ARGS...
		local name=$1 ref=$2
		shift 2
		local want got
		want=$($py -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["test_correct"])' "$ref")
		got=$("$bo" eval "$@" --json | $py -c 'import json,sys; j=json.load(sys.stdin); print(j["correct"] if j["images"]==10000 else -1)')
		if [ -n "$got" ] && [ "$got" -ge 0 ] && [ $((got > want ? got - want : want - got)) -le 3 ]; then
			ok "$name: $got/10000 correct, PyTorch $want"
		else
			bad "$name: got '$got' correct, PyTorch $want"
		fi
	}
	check_eval "eval other.onnx (mean/std flags)" "$fx/other/other.json" \
		"$fx/other/other.onnx" "$fm" --mean 0.2860 --std 0.3530 --threads 2 --batch 100
	if [ -f "$fx/fixtures.json" ]; then
		for f in "$fx"/fmnist_*.onnx; do
			n=$(basename "$f" .onnx)
			$py -c 'import json,sys; j=json.load(open(sys.argv[1])); m=[x for x in j["models"] if x["name"]==sys.argv[2]][0]; json.dump({"test_correct": m["test_correct"]}, open(sys.argv[3],"w"))' \
				"$fx/fixtures.json" "$n" "$tmp/$n.json" 2>/dev/null || { bad "fixtures.json lists $n"; continue; }
			check_eval "eval $n (metadata normalisation)" "$tmp/$n.json" "$f" "$fm" --threads 1
		done
	fi
	# wrong shape: a CIFAR-shaped model on Fashion-MNIST
	if [ "$have_torch" = 1 ]; then :; fi
else
	skipped "eval on Fashion-MNIST" "$fm is missing (Debian package dataset-fashion-mnist)"
fi

# run: logits equal PyTorch's within 1e-4 x max|logit|
if [ "$have_onnx" = 1 ]; then
	for f in "$fx"/fmnist_*.onnx "$fx/other/other.onnx"; do
		n=${f%.onnx}
		[ -f "$n.logits.npy" ] || continue
		in="$fx/fmnist_first64.npy"
		rm -rf "$tmp/out"
		if ! "$bo" run "$f" --input "$in" --output-dir "$tmp/out" 2>"$tmp/err"; then
			bad "run $(basename "$f")" "$(cat "$tmp/err")"
			continue
		fi
		res=$($py -c '
import sys, numpy as np, onnx
from onnx import numpy_helper
got = numpy_helper.to_array(onnx.load_tensor(sys.argv[1]))
want = np.load(sys.argv[2])
err = float(np.abs(got - want).max()); tol = 1e-4 * float(np.abs(want).max())
print("ok" if got.shape == want.shape and err <= tol else "bad", err, tol)' "$tmp/out/output_0.pb" "$n.logits.npy")
		case "$res" in ok*) ok "run $(basename "$f") logits = PyTorch's (max err, tol: ${res#ok })" ;; *) bad "run $(basename "$f") logits" "$res" ;; esac
	done
fi

# Table I of the paper (spec section 1), CIFAR-shaped models with random weights
if [ "$have_torch" = 1 ]; then
	if $py tools/export_cifar.py "$tmp/cifar" >"$tmp/export.log" 2>&1; then
		check_tab() { # FILE PARAMS_M ACTS
			local got p a
			got=$(info_counts "$tmp/cifar/$1.onnx")
			p=${got% *}
			a=${got#* }
			if [ "$(awk -v p="$p" 'BEGIN{printf "%.2f", p/1e6}')" = "$2" ] && [ "$a" = "$3" ]; then
				ok "Table I: $1 has $p parameters (${2} M), $a activations"
			else
				bad "Table I: $1: got $got, want ${2} M and $3"
			fi
		}
		check_tab preactresnet18 11.17 557056
		check_tab resnet18 11.17 557056
		check_tab mobilenetv2 2.30 1534976
		# a dataset that does not fit the model says both shapes
		[ -d "$fm" ] && expect_exit "dataset shape mismatch names both shapes" 1 "1x28x28.*Nx3x32x32" \
			"$bo" eval "$tmp/cifar/resnet18.onnx" "$fm" --limit 10
	else
		bad "tools/export_cifar.py" "$(tail -5 "$tmp/export.log")"
	fi
else
	skipped "Table I counts on CIFAR PreActResNet18, ResNet18, MobileNetV2" "python3-torch is not installed"
fi

# A point's trials depend on its p, not on what else the sweep holds (spec
# section 4): --p 1e-2 alone and --p 1e-3,1e-2 give the same trials at 1e-2.
if [ -d "$fm" ] && [ "$have_onnx" = 1 ]; then
	sw() { "$bo" sweep "$fx/fmnist_preact_f4.onnx" "$fm" --trials 3 --limit 200 --calib 64 --json "$@"; }
	if sw --p 1e-2 >"$tmp/alone.json" 2>/dev/null && sw --p 1e-3,1e-2 >"$tmp/pair.json" 2>/dev/null; then
		cmp=$($py - "$tmp/alone.json" "$tmp/pair.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
pa = [q for q in a["points"] if q["p"] == 1e-2][0]
pb = [q for q in b["points"] if q["p"] == 1e-2][0]
p3 = [q for q in b["points"] if q["p"] == 1e-3][0]
same = pa["trial_accuracies"] == pb["trial_accuracies"]
differs = p3["trial_accuracies"] != pb["trial_accuracies"]
print("ok" if same and differs else "alone %s, in a pair %s, at 1e-3 %s" % (pa["trial_accuracies"], pb["trial_accuracies"], p3["trial_accuracies"]))
PY
)
		if [ "$cmp" = ok ]; then ok "sweep: --p 1e-2 and --p 1e-3,1e-2 give the same trials at 1e-2"
		else bad "sweep: a point's trials depend on the rest of the p list" "$cmp"; fi
	else
		bad "sweep --p 1e-2 / --p 1e-3,1e-2 failed"
	fi
fi

# Batch jobs: progress lines on stderr without a terminal, and --journal
# resumes a sweep killed by SIGTERM with identical results.
if [ -d "$fm" ] && [ "$have_onnx" = 1 ]; then
	jsw() { "$bo" sweep "$fx/fmnist_preact_f4.onnx" "$fm" --p 1e-3,1e-2,3e-2 --trials 4 --limit 2000 \
		--calib 64 --threads 1 --json "$@"; }
	if jsw --progress-every 0 >"$tmp/full.json" 2>"$tmp/full.err" &&
		grep -qE '^progress: point 3/3  trial 4  [0-9]+/2000 images  [0-9]+ img/s  [0-9]+ s left' "$tmp/full.err"; then
		ok "sweep without a terminal prints progress lines to stderr"
	else
		bad "sweep progress lines without a terminal" "$(tail -3 "$tmp/full.err")"
	fi
	jsw --journal "$tmp/j" >/dev/null 2>"$tmp/j.err" &
	pid=$!
	lines=0
	for _ in $(seq 1 3000); do # poll until two trials are on disk (bounded: 60 s)
		lines=0; [ -f "$tmp/j" ] && lines=$(wc -l <"$tmp/j")
		[ "$lines" -ge 3 ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.02
	done
	kill -TERM $pid 2>/dev/null
	wait $pid 2>/dev/null
	done_before=$(($(wc -l <"$tmp/j") - 1))
	printf '0x1.47ae147ae147bp-7 3 17' >>"$tmp/j" # a torn last line, as a kill mid-write leaves
	if [ "$done_before" -ge 1 ] && [ "$done_before" -lt 12 ]; then
		if jsw --journal "$tmp/j" >"$tmp/resumed.json" 2>"$tmp/resumed.err" &&
			grep -q "resuming from .*: $done_before trials already done" "$tmp/resumed.err"; then
			same=$($py -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
key = lambda d: [(q["p"], q["trial_accuracies"], q["accuracy_mean"]) for q in d["points"]]
print("ok" if key(a) == key(b) else "%s | %s" % (key(a), key(b)))' "$tmp/full.json" "$tmp/resumed.json")
			if [ "$same" = ok ]; then
				ok "--journal: a sweep killed after $done_before of 12 trials resumes to identical results"
			else
				bad "--journal: resumed results differ from an uninterrupted sweep" "$same"
			fi
		else
			bad "--journal: resuming failed" "$(cat "$tmp/resumed.err")"
		fi
	else
		bad "--journal: the kill did not land mid-sweep ($done_before trials on disk)"
	fi
	expect_exit "--journal of another sweep is refused" 1 "written by another sweep" \
		jsw --journal "$tmp/j" --seed 99
	printf 'not a journal\n' >"$tmp/notj"
	expect_exit "--journal that is not a journal" 1 "not a brownout sweep journal" jsw --journal "$tmp/notj"
fi

echo
echo "cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

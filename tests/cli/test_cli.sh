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
# BO_TEST_TIMES=1: each case's line also gives the CPU seconds (user+sys of
# the children) spent since the previous case, to find where the time goes
cpu_last=0
cpu_mark() {
	[ "${BO_TEST_TIMES:-}" = 1 ] || return 0
	local now
	times >"$tmp/times"
	now=$(awk 'NR == 2 { n = split($0, f, /[ms ]+/); print f[1] * 60 + f[2] + f[3] * 60 + f[4] }' "$tmp/times")
	printf '     [%.2f s cpu]\n' "$(awk -v a="$now" -v b="$cpu_last" 'BEGIN { print a - b }')"
	cpu_last=$now
}
ok() { pass=$((pass + 1)); echo "ok   $1"; cpu_mark; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2"; cpu_mark; }
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
expect_exit "unknown option" 2 "unrecognized option '--frob'" "$bo" eval --frob x y
# issue 16: a typo gets "did you mean", from the command's own option table
expect_exit "eval --limt suggests --limit" 2 "did you mean --limit\?" "$bo" eval --limt 5 x y
expect_exit "sweep --trails suggests --trials" 2 "did you mean --trials\?" "$bo" sweep --trails 3 x y
expect_exit "sweep --ci-targte=0.01 suggests --ci-target" 2 "did you mean --ci-target\?" \
	"$bo" sweep --ci-targte=0.01 x y
expect_exit "info --sties suggests --sites" 2 "did you mean --sites\?" "$bo" info --sties relu x
expect_exit "a usage error points at the command's own help" 2 "Try 'brownout sweep --help'" \
	"$bo" sweep --trails 3 x y
out=$("$bo" eval --zzzzzzzz x y 2>&1 >/dev/null)
if grep -q "did you mean" <<<"$out"; then
	bad "an option close to nothing gets no suggestion" "$out"
else
	ok "an option close to nothing gets no suggestion"
fi
out=$("$bo" sweep --t 3 x y 2>&1 >/dev/null)
if grep -q "ambiguous" <<<"$out" && ! grep -q "did you mean" <<<"$out"; then
	ok "an ambiguous abbreviation gets getopt's answer, no suggestion"
else
	bad "an ambiguous abbreviation gets getopt's answer, no suggestion" "$out"
fi
expect_exit "brownoutd --lisen suggests --listen" 1 "did you mean --listen\?" \
	"$build/brownoutd" --lisen 127.0.0.1:0
# issue 16: --p says why a range is refused
expect_exit "--p with LO above HI says so" 2 "LO must be below HI" \
	"$bo" sweep x y --p 1e-2:1e-4:3
expect_exit "--p with LO = 0 says a log range needs LO > 0" 2 "needs LO > 0.*list" \
	"$bo" sweep x y --p 0:1e-2:3
expect_exit "--p with HI over 1" 2 "HI must be at most 1" "$bo" sweep x y --p 1e-3:2:3
expect_exit "--p with a value over 1" 2 "1.5 is not a probability" "$bo" sweep x y --p 1e-3,1.5
# issue 16: --mean and --std that contradict each other are a usage error
# (exit 2); a count that does not fit the images is a data error (exit 1, below)
expect_exit "--mean 2 values, --std 3 values: usage error" 2 "--mean has 2 values but --std has 3" \
	"$bo" eval "$fx/other/other.onnx" "$fm" --mean 0.1,0.2 --std 0.3,0.4,0.5
expect_exit "--std 0 is a usage error" 2 "--std values must be finite and > 0" \
	"$bo" sweep "$fx/other/other.onnx" "$fm" --p 1e-3 --std 0
expect_exit "--mean that is not a number is a usage error" 2 "--mean" \
	"$bo" eval "$fx/other/other.onnx" "$fm" --mean abc
# issue 16: each command's own --help, with defaults; every long option of
# the command's getopt table is in it
help_has() { # NAME PATTERN CMD...
	local name=$1 pat=$2 out
	shift 2
	out=$("$@" 2>&1)
	if [ $? -eq 0 ] && grep -qE -- "$pat" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi
}
help_has "sweep --help is sweep's" "^usage: brownout sweep " "$bo" sweep --help
help_has "sweep --help shows the default trials" "--trials N .*default 5\)" "$bo" sweep --help
help_has "sweep --help shows the default seed" "--seed S .*default 1\)" "$bo" sweep --help
help_has "eval --help shows the default batch" "--batch B .*default 64\)" "$bo" eval --help
help_has "calibrate-erasure --help is its own" "^usage: brownout calibrate-erasure " \
	"$bo" calibrate-erasure --help
out=$("$bo" sweep --help)
if grep -q "^  info MODEL" <<<"$out"; then bad "sweep --help is not the global help" "$out"; else
	ok "sweep --help is not the global help"; fi
# the long options of each table (`{ "name", ...` in the C source) against
# its command's help: an option added without its help line fails here
table_opts() { # FILE FUNCTION: the option names of the table in FUNCTION
	awk -v fn="$2" '$0 ~ fn"\\(" {on=1} on && /static const struct option/ {t=1}
		t {while (match($0, /\{ "[a-z-]+"/)) {print substr($0, RSTART+3, RLENGTH-4);
			$0 = substr($0, RSTART+RLENGTH)}} t && /\{ 0, 0, 0, 0 \}/ {exit}' "$1"
}
for pair in "clients/cli/brownout.c cmd_info info" "clients/cli/brownout.c cmd_eval eval" \
	"clients/cli/brownout.c cmd_run run" "clients/cli/sweep_cmd.c parse_opts sweep" \
	"clients/cli/optimize_cmd.c parse_opts optimize"; do
	set -- $pair
	names=$(table_opts "$1" "$2")
	help=$("$bo" "$3" --help)
	missing=""
	for n in $names; do grep -q -- "--$n\b" <<<"$help" || missing="$missing --$n"; done
	if [ -z "$names" ]; then
		bad "$3 --help: no option table found in $1 ($2)"
	elif [ -n "$missing" ]; then
		bad "$3 --help lists every option of its table" "missing:$missing"
	else
		ok "$3 --help lists every option of its table ($(wc -w <<<"$names") options)"
	fi
done
set --
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
# found, not imported: importing torch costs ~3 s of CPU
if $py -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("torch", "onnx")))' 2>/dev/null; then
	have_torch=1
fi
have_onnx=0
if $py -c 'import onnx, numpy' 2>/dev/null; then have_onnx=1; fi

# expect_out NAME PATTERN CMD...: exit 0 and stdout+stderr match PATTERN
expect_out() {
	local name=$1 pat=$2
	shift 2
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qE -- "$pat" <<<"$out"; then ok "$name"; else bad "$name (exit $rc; output must match '$pat')" "$out"; fi
}
# expect_quiet NAME PATTERN CMD...: exit 0 and PATTERN nowhere in the output
expect_quiet() {
	local name=$1 pat=$2
	shift 2
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -qE -- "$pat" <<<"$out"; then ok "$name"; else bad "$name (exit $rc; output must not match '$pat')" "$out"; fi
}

# Normalisation is never silent: other.onnx has no brownout.mean/std metadata.
other=$fx/other/other.onnx
f8=$fx/fmnist_preact_f8.onnx
npy=(--images "$fx/fmnist_first64.npy" --labels "$fx/fmnist_first64_labels.npy")
ways="no normalisation: .*--mean/--std.*brownout.mean/brownout.std.*--no-normalize"
expect_exit "eval refuses a model without normalisation" 1 "$ways" "$bo" eval "$other" "${npy[@]}"
expect_exit "sweep refuses a model without normalisation" 1 "$ways" \
	"$bo" sweep "$other" "${npy[@]}" --p 0.01 --trials 2
expect_exit "calibrate-erasure refuses a model without normalisation" 1 "$ways" \
	"$bo" calibrate-erasure "$other" "${npy[@]}" --p 0.01 --trials 2
expect_exit "a mean without a std is refused" 1 "no normalisation std" \
	"$bo" eval "$other" "${npy[@]}" --mean 0.2
expect_exit "sweep --references are checked too" 1 "$ways" \
	"$bo" sweep "$f8" "${npy[@]}" --p 0.01 --trials 2 --references "$other"
expect_exit "--no-normalize and --mean contradict" 1 "contradict" \
	"$bo" eval "$other" "${npy[@]}" --no-normalize --mean 0.2 --std 0.3
expect_out "eval --no-normalize runs" "accuracy: " "$bo" eval "$other" "${npy[@]}" --no-normalize
expect_out "info says when there is no normalisation" "normalisation: none given" "$bo" info "$other"
expect_out "info shows the metadata normalisation" "normalisation: metadata, mean 0.286, std 0.353" "$bo" info "$f8"
got=$("$bo" info "$other" --json | $py -c 'import json,sys; print(json.load(sys.stdin)["normalisation"])')
[ "$got" = None ] && ok "info --json: normalisation null without metadata" || bad "info --json normalisation" "$got"
got=$("$bo" info "$f8" --json | $py -c 'import json,sys; n=json.load(sys.stdin)["normalisation"]; print(n["source"], len(n["mean"]), len(n["std"]))')
[ "$got" = "metadata 1 1" ] && ok "info --json: normalisation from the metadata" || bad "info --json normalisation (metadata)" "$got"
# fmnist_first64.npy holds already-normalised float pixels: normalising them
# again is warned about; --no-normalize scores what PyTorch's logits score
expect_out "already-normalised float pixels warn" "look already normalised.*--no-normalize" \
	"$bo" eval "$f8" "${npy[@]}"
expect_quiet "--no-normalize: no float-pixel warning" "warning" "$bo" eval "$f8" "${npy[@]}" --no-normalize
if $py -c 'import numpy' 2>/dev/null; then
	want=$($py -c 'import numpy as np,sys; l=np.load(sys.argv[1]); y=np.load(sys.argv[2]); print(int((l.argmax(1)==y).sum()))' \
		"$fx/fmnist_preact_f8.logits.npy" "$fx/fmnist_first64_labels.npy")
	got=$("$bo" eval "$f8" "${npy[@]}" --no-normalize --json | $py -c 'import json,sys; print(json.load(sys.stdin)["correct"])')
	[ "$got" = "$want" ] && ok "eval --no-normalize on fmnist_first64.npy: $got/64, as PyTorch's logits" ||
		bad "eval --no-normalize on fmnist_first64.npy" "got $got, PyTorch's logits $want"
	# labels past 255 load; a label the model has no logit for is refused naming both
	$py -c 'import numpy as np,sys; y=np.load(sys.argv[1]).astype(np.uint16); y[3]=917; np.save(sys.argv[2], y); np.save(sys.argv[3], y.astype(np.int16)); y[3]=9; np.save(sys.argv[4], y.astype(np.int8))' \
		"$fx/fmnist_first64_labels.npy" "$tmp/l_u2.npy" "$tmp/l_i2.npy" "$tmp/l_i1.npy"
	for l in u2 i2; do
		expect_exit "label 917 ($l) against 10 logits is refused naming both" 1 "label 917 of image 3 .* 10 logits.* up to 917" \
			"$bo" eval "$f8" --images "$fx/fmnist_first64.npy" --labels "$tmp/l_$l.npy" --no-normalize
		expect_exit "sweep: label 917 ($l) against 10 logits is refused" 1 "label 917 of image 3 .* 10 logits" \
			"$bo" sweep "$f8" --images "$fx/fmnist_first64.npy" --labels "$tmp/l_$l.npy" --no-normalize --p 0.01 --trials 2
	done
	expect_out "int8 labels load" "accuracy: " "$bo" eval "$f8" --images "$fx/fmnist_first64.npy" --labels "$tmp/l_i1.npy" --no-normalize
fi

# Activation sites: 'activations' is the default; a model with no site under
# the chosen rule is warned about by info and sweep.
expect_exit "bad --sites" 2 "activations, activations-gated, relu or conv-inputs" "$bo" info "$other" --sites all
expect_exit "bad --activation-sites" 2 "activations, activations-gated, relu or conv-inputs" \
	"$bo" sweep "$other" "${npy[@]}" --p 0.01 --activation-sites all
expect_out "info names the default rule" "activations: +[0-9]+ \(activations\)" "$bo" info "$other"
if [ "$have_onnx" = 1 ]; then
	$py - "$tmp/sig.onnx" <<'PYEOF'
import sys, random
from onnx import TensorProto, helper
r = random.Random(1)
nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="/conv/Conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Sigmoid", ["c"], ["s"], name="/act/Sigmoid"),
         helper.make_node("Flatten", ["s"], ["f"], name="/Flatten", axis=1),
         helper.make_node("Gemm", ["f", "fc"], ["logits"], name="/fc/Gemm", transB=1)]
g = helper.make_graph(nodes, "sig", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
    [helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], [r.uniform(-1, 1) for _ in range(18)]),
     helper.make_tensor("fc", TensorProto.FLOAT, [10, 2 * 28 * 28], [r.uniform(-.1, .1) for _ in range(20 * 784)])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
open(sys.argv[1], "wb").write(m.SerializeToString())
PYEOF
	expect_quiet "info: a Sigmoid model has activation sites" "warning" "$bo" info "$tmp/sig.onnx"
	got=$("$bo" info "$tmp/sig.onnx" --json | $py -c 'import json,sys; j=json.load(sys.stdin); print(j["activations"], j["activation_sites"], j["warnings"])')
	[ "$got" = "1568 activations []" ] && ok "info --json: the Sigmoid's output is the site (2x28x28)" || bad "info --json on a Sigmoid model" "$got"
	expect_out "info --sites relu warns: no site" "warning: the model has no activation site under the rule 'relu'" \
		"$bo" info "$tmp/sig.onnx" --sites relu
	got=$("$bo" info "$tmp/sig.onnx" --sites relu --json 2>/dev/null | $py -c 'import json,sys; j=json.load(sys.stdin); print(j["activations"], len(j["warnings"]))')
	[ "$got" = "0 1" ] && ok "info --json --sites relu: 0 activations and a warning" || bad "info --json --sites relu" "$got"
	expect_out "sweep --activation-sites relu warns: no site" "warning: the model has no activation site under the rule 'relu'" \
		"$bo" sweep "$tmp/sig.onnx" "${npy[@]}" --no-normalize --p 0.01 --trials 2 --limit 8 --calib 8 --activation-sites relu
	got=$("$bo" sweep "$tmp/sig.onnx" "${npy[@]}" --no-normalize --p 0.01 --trials 2 --limit 8 --calib 8 --activation-sites relu --json 2>/dev/null |
		$py -c 'import json,sys; j=json.load(sys.stdin); print(j["config"]["activation_sites"], j["activations"], len(j["warnings"]))')
	[ "$got" = "relu 0 1" ] && ok "sweep --json records the rule and the warning" || bad "sweep --json warnings" "$got"
	got=$("$bo" sweep "$tmp/sig.onnx" "${npy[@]}" --no-normalize --p 0.01 --trials 2 --limit 8 --calib 8 --json 2>/dev/null |
		$py -c 'import json,sys; j=json.load(sys.stdin); print(j["config"]["activation_sites"], j["activations"], len(j["warnings"]))')
	[ "$got" = "activations 1568 0" ] && ok "sweep --json: activations by default, no warning" || bad "sweep --json default rule" "$got"
fi

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
    # an Identity of an initializer is a tensor of its own (spec section 1)
    if n.op_type in ("Conv", "Gemm", "MatMul"):
        names = [x for x in n.input if alias.get(x, x) in inits and inits[alias.get(x, x)].data_type == 1]
    elif n.op_type == "BatchNormalization":
        params += 2 * int(np.prod(inits[alias.get(n.input[1], n.input[1])].dims)); continue
    for x in names:
        if x not in seen:
            seen.add(x); params += int(np.prod(inits[alias.get(x, x)].dims))
# widened (spec section 1): any other float initializer of more than one value
# a node reads; BatchNormalization'"'"'s own inputs became its scale and shift
# (an Identity of an initializer is counted by its consumer, above: the
# shortcut BNs of fmnist_resnet18_f8 read aliases of equal bn2 biases)
for n in g.node:
    if n.op_type in ("Conv", "Gemm", "MatMul", "BatchNormalization", "Identity"):
        continue
    for x in n.input:
        t = inits.get(alias.get(x, x))
        if t is not None and t.data_type == 1 and int(np.prod(t.dims)) > 1 and x not in seen:
            seen.add(x); params += int(np.prod(t.dims))
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
    # the default sites (activations) count Sigmoid outputs too: the SE
    # gates of fmnist_senet18_f8 (no fixture has SiLU, x * Sigmoid(x), whose
    # site would be the Mul)
    if relu or n.op_type == "Sigmoid":
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
		# the PreActResNet18 fixtures only: the 10,000-image evals of the
		# architecture fixtures (Figs. 1 and 2) would cost make test tens of
		# seconds; their logits are checked against PyTorch's below
		for f in "$fx"/fmnist_preact_*.onnx; do
			n=$(basename "$f" .onnx)
			# Under the sanitizers one fixture (f4, the cheapest) takes this
			# path (IDX loader, metadata normalisation, a partial last batch);
			# the others differ only in width, and their kernels run under
			# the sanitizers in `run` below (every fixture, logits = PyTorch's)
			# and in the crash, daemon and workers suites (f4, f8 on
			# Fashion-MNIST). Their 10,000-image accuracies are numbers the
			# normal build checks.
			if [ "${BO_SANITIZED:-}" = 1 ] && [ "$n" != fmnist_preact_f4 ]; then
				echo "     ($n: the 10,000-image accuracy is checked in the normal build)"
				continue
			fi
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

# a refused model names every unsupported operator, with counts and first nodes;
# a list longer than the library's error text is printed whole
if [ "$have_onnx" = 1 ]; then
	$py - "$tmp/unsup.onnx" "$tmp/unsup_long.onnx" <<'PYEOF'
import sys
from onnx import TensorProto, helper
def model(types, path):
    nodes, prev = [], "x"
    for i, (t, name) in enumerate(types):
        nodes.append(helper.make_node(t, [prev], ["t%d" % i], name=name))
        prev = "t%d" % i
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    open(path, "wb").write(m.SerializeToString())
model([("Tan", "/a/Tan"), ("Relu", "/a/Relu"), ("Acos", "/b/Acos"), ("Tan", "/c/Tan")], sys.argv[1])
model([("Op%02d" % i, "/features/features.%d/a_long_node_name_for_the_test" % i) for i in range(20)],
      sys.argv[2])
PYEOF
	expect_exit "refusal lists every unsupported operator" 1 \
		"unsupported operators: Tan x2 \(first: /a/Tan\), Acos x1 \(first: /b/Acos\)" \
		"$bo" info "$tmp/unsup.onnx"
	expect_exit "a long list of unsupported operators is printed whole" 1 \
		"all unsupported operators: .*Op19 x1 \(first: /features/features.19/" \
		"$bo" info "$tmp/unsup_long.onnx"
fi

# Table I of the paper (spec section 1), CIFAR-shaped models with random weights
# The export is made once for every build of a `make test` (as the zoo's),
# into BO_CIFAR_DIR (the normal build's test-output), and remade when the
# exporter or its models change.
if [ "$have_torch" = 1 ]; then
	cifar=${BO_CIFAR_DIR:-$PWD/build/test-output/cifar}
	digest=$(cat tools/export_cifar.py tools/models.py | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$cifar/stamp" 2>/dev/null)" = "$digest" ] ||
		{ rm -rf "$cifar.tmp" && mkdir -p "$cifar.tmp" &&
			$py tools/export_cifar.py "$cifar.tmp" >"$tmp/export.log" 2>&1 &&
			echo "$digest" >"$cifar.tmp/stamp" && rm -rf "$cifar" && mv "$cifar.tmp" "$cifar"; }; then
		check_tab() { # FILE PARAMS_M ACTS
			local got p a
			got=$(info_counts "$cifar/$1.onnx")
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
			"$bo" eval "$cifar/resnet18.onnx" "$fm" --limit 10
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
	# 500 images a trial: a trial lasts ~0.1 s (normal build) to ~0.5 s
	# (sanitizers), long against the 20 ms poll below
	jsw() { "$bo" sweep "$fx/fmnist_preact_f4.onnx" "$fm" --p 1e-3,1e-2,3e-2 --trials 4 --limit 500 \
		--calib 64 --threads 1 --json "$@"; }
	if jsw --progress-every 0 >"$tmp/full.json" 2>"$tmp/full.err" &&
		grep -qE '^progress: point 3/3  trial 4  [0-9]+/500 images  [0-9]+ img/s  [0-9]+ s left' "$tmp/full.err"; then
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

# Designs and yield (spec 4a, 4c): the flags, their errors, and the numbers
# recomputed here from the trial accuracies (scipy's beta quantiles for the
# Clopper-Pearson bounds when python3-scipy is installed).
expect_exit "--images-per-trial 0 is a usage error" 2 "--images-per-trial must be a positive integer, all or auto, not '0'" \
	"$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01 --images-per-trial 0
expect_exit "--images-per-trial some is a usage error" 2 "--images-per-trial must be .*not 'some'" \
	"$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01 --images-per-trial some
expect_exit "--accuracy-floor 1.5 is a usage error" 2 "--accuracy-floor must be an accuracy in \(0, 1\], not '1.5'" \
	"$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01 --accuracy-floor 1.5
expect_exit "--images-per-trial over the evaluation set names the field" 1 \
	"'images_per_trial': images_per_trial 65 is more than the 64 images" \
	"$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01 --trials 2 --images-per-trial 65
help_has "sweep --help lists --images-per-trial" "--images-per-trial N\|all\|auto" "$bo" sweep --help
dsw() { "$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01,0.03 --threads 1 "$@" 2>/dev/null; }
if dsw --trials 5 --images-per-trial 16 --accuracy-floor 0.75 --json >"$tmp/d16.json" &&
	dsw --trials 5 --images-per-trial 16 --accuracy-floor 0.75 --csv >"$tmp/d16.csv" &&
	dsw --trials 3 --images-per-trial auto --json >"$tmp/dauto.json"; then
	n=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["points"][0]["n"])' "$tmp/dauto.json")
	dsw --trials 3 --images-per-trial "$n" --json >"$tmp/dfixed.json"
	got=$($py - "$tmp/d16.json" "$tmp/d16.csv" "$tmp/dauto.json" "$tmp/dfixed.json" <<'PY'
import csv, json, math, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
auto, fixed = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
try:
    from scipy.stats import beta
except ImportError:
    beta = None
def q7(x, q):
    x = sorted(x); h = (len(x) - 1) * q; lo = int(math.floor(h))
    return x[-1] if lo >= len(x) - 1 else x[lo] + (h - lo) * (x[lo + 1] - x[lo])
errs = []
if d["config"]["images_per_trial"] != 16 or d["config"]["accuracy_floor"] != 0.75:
    errs.append("config %r" % d["config"])
for p, row in zip(d["points"], rows):
    a = p["trial_accuracies"]
    if p["n"] != 16 or p["images"] != 16 * len(a) or any(abs(x * 16 - round(x * 16)) > 1e-9 for x in a):
        errs.append("n/images %r" % p)
    k = sum(x >= 0.75 for x in a); T = len(a)
    want = {"q05": q7(a, .05), "q50": q7(a, .5), "q95": q7(a, .95), "yield": k / T}
    if beta:
        want["yield_lo"] = 0.0 if k == 0 else beta.ppf(0.025, k, T - k + 1)
        want["yield_hi"] = 1.0 if k == T else beta.ppf(0.975, k + 1, T - k)
    for key, v in want.items():
        if abs(p[key] - v) > 1e-9 or abs(float(row[key]) - v) > 1e-8:
            errs.append("%s: json %r csv %r want %r" % (key, p[key], row[key], v))
    if p["accuracy_floor"] != 0.75 or float(row["accuracy_floor"]) != 0.75 or int(row["n"]) != 16:
        errs.append("floor/n in csv %r" % row)
    if not p["yield_note"] or p["pilot"] is not None:
        errs.append("note/pilot %r" % p)
for pa, pf in zip(auto["points"], fixed["points"]):
    if not (32 <= pa["n"] <= 64) or pa["pilot"]["trials"] != 3 or pa["pilot"]["images_per_trial"] != 64:
        errs.append("auto %r" % pa)
    if pa["n"] == pf["n"] and pa["trial_accuracies"] != pf["trial_accuracies"]:
        errs.append("auto at n %d not reproduced: %r vs %r" % (pa["n"], pa["trial_accuracies"], pf["trial_accuracies"]))
print("ok" if not errs else "\n".join(errs))
PY
)
	if [ "$got" = ok ]; then ok "sweep --images-per-trial 16/auto: n, quantiles, yield and CP interval in JSON and CSV; auto reproduced at its n"
	else bad "sweep designs/yield in JSON and CSV" "$got"; fi
	expect_out "sweep's table shows the chips and marks image-sampling noise" \
		"yield: the fraction of trials .* >= 0.7500.*" dsw --trials 3 --images-per-trial 16 --accuracy-floor 0.75
else
	bad "sweep --images-per-trial runs failed"
fi

# Nested weight faults (spec 4b, 4c): the flag and its errors, the default
# unchanged, a chip independent of the p list, each chip's minimum energy
# and the yield curve recomputed here from the trial accuracies, in JSON
# and CSV, and a journal that resumes a nested sweep (and refuses another).
expect_exit "--weight-faults sometimes is a usage error" 2 \
	"--weight-faults must be independent or nested, not 'sometimes'" \
	"$bo" sweep "$f8" "${npy[@]}" --no-normalize --p 0.01 --weight-faults sometimes
expect_exit "calibrate-erasure refuses --weight-faults nested" 2 "--weight-faults is for sweep only" \
	"$bo" calibrate-erasure "$f8" "${npy[@]}" --no-normalize --p 0.01 --weight-faults nested
help_has "sweep --help lists --weight-faults" "--weight-faults independent\|nested" "$bo" sweep --help
nsw() { "$bo" sweep "$f8" "${npy[@]}" --no-normalize --threads 1 --target weights --trials 4 "$@" 2>/dev/null; }
if nsw --p 0.005,0.01,0.03 --json >"$tmp/ind.json" &&
	nsw --p 0.005,0.01,0.03 --weight-faults independent --json >"$tmp/ind2.json" &&
	nsw --p 0.005,0.01,0.03 --csv >"$tmp/ind.csv" &&
	nsw --p 0.005,0.01,0.03 --weight-faults nested --json >"$tmp/nest.json" &&
	nsw --p 0.005,0.01,0.03 --weight-faults nested --csv >"$tmp/nest.csv" &&
	nsw --p 0.03,0.01 --weight-faults nested --batch 7 --json >"$tmp/nest2.json" &&
	nsw --p 0.005,0.01,0.03 --weight-faults nested --images-per-trial 16 --json >"$tmp/nest16.json"; then
	got=$($py - "$tmp/ind.json" "$tmp/ind2.json" "$tmp/ind.csv" "$tmp/nest.json" "$tmp/nest.csv" \
		"$tmp/nest2.json" "$tmp/nest16.json" <<'PY'
import csv, json, math, sys
ind, ind2 = (json.load(open(f)) for f in sys.argv[1:3])
ind_csv = open(sys.argv[3]).readline()
nest, nest2, nest16 = (json.load(open(f)) for f in (sys.argv[4], sys.argv[6], sys.argv[7]))
rows = list(csv.DictReader(open(sys.argv[5])))
errs = []
acc = lambda d: [q["trial_accuracies"] for q in d["points"]]
if acc(ind) != acc(ind2) or ind["chips"] is not None or ind["yield_curve"] is not None:
    errs.append("independent is not the default, or has chips")
if "chip_yield" in ind_csv or ind["config"]["weight_faults"] != "independent":
    errs.append("default CSV/config changed: %r" % ind_csv)
if nest["config"]["weight_faults"] != "nested" or acc(nest) == acc(ind):
    errs.append("nested config, or nested equals independent")
# chip t at p = 0.03 and 0.01 is the same chip without 0.005 in the list
byp = lambda d: {q["p"]: q["trial_accuracies"] for q in d["points"]}
if byp(nest2)[0.03] != byp(nest)[0.03] or byp(nest2)[0.01] != byp(nest)[0.01]:
    errs.append("a chip depends on the p list: %r %r" % (byp(nest2), byp(nest)))
def check(d, tag):
    ch, pts, floor = d["chips"], d["points"], d["accuracy_floor"]
    E = [q["energy"] for q in pts]
    T = min(q["trials"] for q in pts)
    if ch["count"] != T or len(ch["trials"]) != T or ch["p"] != [q["p"] for q in pts] or ch["energy"] != E:
        errs.append("%s: chips header %r" % (tag, {k: ch[k] for k in ("count", "p", "energy")}))
    mins = []
    for t, c in enumerate(ch["trials"]):
        a = [q["trial_accuracies"][t] for q in pts]
        if c["trial"] != t or c["accuracy"] != a:
            errs.append("%s: chip %d accuracies %r" % (tag, t, c))
        # the smallest E_k with a >= floor at E_k and at every higher energy
        best = None
        for k in range(len(pts)):
            if a[k] >= floor - 1e-12 and all(a[j] >= floor - 1e-12 for j in range(len(pts)) if E[j] > E[k]):
                best = k if best is None or E[k] < E[best] else best
        want = None if best is None else E[best]
        mins.append(want)
        if c["min_energy"] != want or (best is not None and c["min_p"] != pts[best]["p"]):
            errs.append("%s: chip %d min energy %r want %r" % (tag, t, c, want))
    curve = d["yield_curve"]
    if [c["energy"] for c in curve] != sorted(E):
        errs.append("%s: curve not by energy %r" % (tag, curve))
    for c in curve:
        y = sum(m is not None and m <= c["energy"] for m in mins) / T
        if abs(c["yield"] - y) > 1e-12 or not (c["yield_lo"] <= y <= c["yield_hi"]):
            errs.append("%s: yield at %r: %r want %r" % (tag, c["energy"], c, y))
    return mins
mins = check(nest, "nested")
check(nest16, "nested16")
if nest["chips"]["yield_note"] is not None or not nest16["chips"]["yield_note"] or \
        "image-sampling noise" not in nest16["chips"]["yield_note"]:
    errs.append("yield_note %r %r" % (nest["chips"]["yield_note"], nest16["chips"]["yield_note"]))
curve = {c["p"]: c for c in nest["yield_curve"]}
for row in rows:
    c = curve[float(row["p"])]
    if abs(float(row["chip_yield"]) - c["yield"]) > 1e-9 or int(row["chips"]) != nest["chips"]["count"] or \
            abs(float(row["chip_yield_lo"]) - c["yield_lo"]) > 1e-9:
        errs.append("csv %r vs %r" % (row, c))
# the test means something only if some chip has a minimum and some chip fails somewhere
if all(m is None for m in mins):
    errs.append("no chip keeps the floor anywhere: %r" % [c["accuracy"] for c in nest["chips"]["trials"]])
print("ok" if not errs else "\n".join(errs))
PY
)
	if [ "$got" = ok ]; then ok "sweep --weight-faults nested: chips, minimum energies and yield curve in JSON and CSV; chips independent of the p list; default unchanged"
	else bad "sweep --weight-faults nested" "$got"; fi
	expect_out "sweep's table shows each chip and the yield curve" \
		"yield curve \(4 chips\)" nsw --p 0.005,0.01 --weight-faults nested
	# a nested sweep resumes from its journal; an independent one refuses it
	rm -f "$tmp/nj"
	if nsw --p 0.005,0.01,0.03 --weight-faults nested --journal "$tmp/nj" --json >"$tmp/nj1.json" &&
		"$bo" sweep "$f8" "${npy[@]}" --no-normalize --threads 1 --target weights --trials 4 \
			--p 0.005,0.01,0.03 --weight-faults nested --journal "$tmp/nj" --json \
			>"$tmp/nj2.json" 2>"$tmp/nj2.err" &&
		grep -q "12 trials already done" "$tmp/nj2.err" &&
		cmp -s <($py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["chips"], d["yield_curve"])' "$tmp/nj1.json") \
			<($py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["chips"], d["yield_curve"])' "$tmp/nest.json") &&
		cmp -s <($py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["chips"], d["yield_curve"])' "$tmp/nj2.json") \
			<($py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["chips"], d["yield_curve"])' "$tmp/nest.json"); then
		ok "--journal: a nested sweep resumes from its journal to the same chips"
	else
		bad "--journal with --weight-faults nested" "$(cat "$tmp/nj2.err" 2>/dev/null)"
	fi
	expect_exit "--journal of a nested sweep is refused by an independent one" 1 "written by another sweep" \
		"$bo" sweep "$f8" "${npy[@]}" --no-normalize --threads 1 --target weights --trials 4 \
		--p 0.005,0.01,0.03 --journal "$tmp/nj"
else
	bad "sweep --weight-faults runs failed"
fi

# issue 14: brownout optimize. Refused options name the option; on the
# F=8 fixture (256 images, a 2-point grid, a small budget) the verified
# allocation meets its floor within its CI, the JSON carries the search,
# the verification and both baselines, and the verification's trials are
# those of a plain sweep at the printed --block-p and derived seed.
f8=$fx/fmnist_preact_f8.onnx
expect_exit "optimize needs a floor or a loss" 2 "one of --accuracy-floor A and --max-loss L" \
	"$bo" optimize "$f8" "$fm"
expect_exit "optimize refuses an empty grid, naming --block-p-grid" 2 "--block-p-grid ''" \
	"$bo" optimize "$f8" "$fm" --max-loss 0.01 --block-p-grid ''
expect_exit "optimize refuses a descending grid" 2 "--block-p-grid '1e-2,1e-3': the values must .* ascend" \
	"$bo" optimize "$f8" "$fm" --max-loss 0.01 --block-p-grid 1e-2,1e-3
expect_exit "optimize refuses a negative budget, naming --budget-trials" 2 "--budget-trials must be a non-negative" \
	"$bo" optimize "$f8" "$fm" --max-loss 0.01 --budget-trials -5
expect_exit "optimize --max-loss 1.5 is refused" 2 "--max-loss must be" \
	"$bo" optimize "$f8" "$fm" --max-loss 1.5
expect_exit "optimize --budjet-trials suggests --budget-trials" 2 "did you mean --budget-trials\?" \
	"$bo" optimize --budjet-trials 5 x y
if [ -d "$fm" ]; then
	small=(--limit 64 --calib 32 --threads 1)
	expect_exit "optimize refuses a floor above the clean accuracy, naming --accuracy-floor" 2 \
		"--accuracy-floor: the accuracy floor 0.9999 is above the clean accuracy" \
		"$bo" optimize "$f8" "$fm" --accuracy-floor 0.9999 "${small[@]}"
	expect_exit "optimize refuses an unknown block in --policy-blocks" 2 \
		"--policy-blocks: the model has no block 'layer9' \(blocks: conv1, layer1" \
		"$bo" optimize "$f8" "$fm" --max-loss 0.01 --policy-blocks layer1,layer2,layer3,layer9 "${small[@]}"
	expect_exit "optimize: a budget below the curves' trials is refused with the minimum" 2 \
		"--budget-trials: a budget of 10 trials is too small.*at least" \
		"$bo" optimize "$f8" "$fm" --max-loss 0.01 --budget-trials 10 "${small[@]}"
	opt=(optimize "$f8" "$fm" --max-loss 0.01 --limit 256 --calib 64 --block-p-grid 1e-3,1e-2
		--curve-trials 1 --min-trials 2 --max-trials 4 --budget-trials 40 --verify-trials 4
		--baseline-trials 1 --baseline-p 1e-4,1e-3,1e-2 --threads 2 --seed 3)
	if "$bo" "${opt[@]}" --json >"$tmp/opt.json" 2>"$tmp/opt.err"; then
		grep -q "^progress: phase 3 (full model) .* candidates .*/40 trials  best E/E_o" "$tmp/opt.err" &&
			ok "optimize: progress lines on stderr (phase, candidates, trials, best)" ||
			bad "optimize: progress lines" "$(cat "$tmp/opt.err")"
		got=$($py - "$tmp/opt.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
v, s = j["verification"], j["search"]
errs = []
for k in ("allocation", "energy", "energy_o", "energy_ratio", "accuracy_floor", "clean_accuracy",
          "search", "verification", "evaluations", "seconds"):
    if k not in j: errs.append("no " + k)
if abs(j["accuracy_floor"] - (j["clean_accuracy"] - 0.01)) > 1e-12: errs.append("floor %r" % j["accuracy_floor"])
blocks = [a["block"] for a in j["allocation"]]
for b in ("layer1", "layer2", "layer3", "layer4"):
    if b not in blocks: errs.append("no block " + b)
share = sum(a["energy_share"] for a in j["allocation"])
if abs(share - 1) > 1e-9: errs.append("energy shares add to %r" % share)
for a in j["allocation"]:
    if a["p"] not in (0, 1e-3, 1e-2): errs.append("p off the grid %r" % a)
if not (0 < j["energy_ratio"] <= 1): errs.append("E/E_o %r" % j["energy_ratio"])
if s["trials"] > 40 or s["seed"] != 3: errs.append("search %r" % s)
if v["seed"] == 3 or v["trials"] != 4 or len(v["trial_accuracies"]) != 4: errs.append("verification %r" % v)
if not (v["ci_lo"] <= v["accuracy"] <= v["ci_hi"]): errs.append("CI %r" % v)
# the verified allocation meets its floor within its CI
if not (v["ci_hi"] >= j["accuracy_floor"] and v["meets_floor"]): errs.append("floor not met: %r" % v)
# the monotonicity bound: each block at its curve's first grid p below the
# floor (1 when none), E of that vector; never above the answer's energy here
import math
def eta(p): return 1.0 if p == 0 else 0.0 if p >= 1 else min(1.0, -math.log(p) / 12.8)
vol = {a["block"]: a["stored_values"] for a in j["allocation"]}
e_lb = 0
for c in s["curves"]:
    pf = 1.0
    for p, a in zip(c["p"], c["accuracy"]):
        if a is None or a < j["accuracy_floor"]:
            pf = p
            break
    e_lb += eta(pf) * vol[c["block"]]
if abs(s["lower_bound_energy_ratio"] - e_lb / j["energy_o"]) > 1e-9:
    errs.append("lower bound %r, from the curves %r" % (s["lower_bound_energy_ratio"], e_lb / j["energy_o"]))
names = [b["name"] for b in v["baselines"]]
if names != ["uniform", "paper"]: errs.append("baselines %r" % names)
for b in v["baselines"]:
    if b["reached"] != (b["iso_energy"] is not None): errs.append("baseline %r" % b)
    if not b["reached"] and b["why"] is None: errs.append("baseline without why %r" % b)
print("ok" if not errs else "\n".join(errs))
print(v["seed"], v["sweep_block_p"])
PY
)
		if [ "$(head -1 <<<"$got")" = ok ]; then ok "optimize --json: the verified allocation meets its floor within its CI; search, verification and baselines"
		else bad "optimize --json" "$got"; fi
		read -r vseed vbp <<<"$(sed -n 2p <<<"$got")"
		if "$bo" sweep "$f8" "$fm" --p 1 --block-p "$vbp" --seed "$vseed" --trials 4 --limit 256 \
			--calib 64 --threads 1 --json >"$tmp/vsw.json" 2>/dev/null; then
			got=$($py - "$tmp/opt.json" "$tmp/vsw.json" <<'PY'
import json, sys
o, s = (json.load(open(f)) for f in sys.argv[1:3])
p, v = s["points"][0], o["verification"]
same = p["trial_accuracies"] == v["trial_accuracies"] and abs(p["energy"] - o["energy"]) < 1e-6 * o["energy"]
print("ok" if same else "optimize %r %r, sweep %r %r" % (v["trial_accuracies"], o["energy"], p["trial_accuracies"], p["energy"]))
PY
)
			if [ "$got" = ok ]; then ok "optimize: the verification's trials and energy are a plain sweep's (--p 1 --block-p, derived seed)"
			else bad "optimize: verification against sweep" "$got"; fi
		else
			bad "optimize: the verification's sweep failed"
		fi
	else
		bad "optimize on the F=8 fixture failed" "$(cat "$tmp/opt.err")"
	fi
fi

echo
echo "cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

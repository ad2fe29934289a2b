#!/bin/bash
# Agreement test: `brownout sweep` against tools/ref_sweep.py, an independent
# PyTorch implementation of docs/fault-models.md written from the spec alone.
# The random streams differ, so the two agree only statistically: for every
# sweep point |mean_C - mean_ref| <= 3 sqrt(se_C^2 + se_ref^2), se = std /
# sqrt(trials) (equal means required when both stds are 0). Both sides use
# fixed seeds, so the verdict is deterministic for a given build. Also
# checked exactly: clean accuracy (within one image), stored parameter and
# activation counts.
#   tests/ref/run.sh BUILD
# BO_SANITIZED=1 (sanitizer builds): a reduced configuration.
# BO_REF_ZERO_CROSSING=clamp|allow: how the reference treats a BM deviation
#   that would carry a value past zero (docs/fault-models.md sect. 3 gives
#   the formula x' = x + (q'-q)s and says every deviation moves the value
#   towards zero; the two disagree when q' = 0 and |x| < |q|s). Default
#   clamp (stop at zero). The 4-bit activation configuration is the one that
#   tells the two apart (at 8 bits the effect is mostly below resolution).
# BO_REF_BITS4=1: one more 4-bit configuration (slow: high p on `other`).
# BO_REF_SEED=S: seed base (default 7; 107 with BO_SANITIZED=1).
# BO_REF_THREADS=T: threads of the reference (default 1; C uses 2).
set -u
build=${1:-build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
cd "$(dirname "$0")/../.." || exit 1
bo="$build/brownout"
py=/usr/bin/python3
fm=/usr/share/datasets/fashion-mnist
ref_threads=${BO_REF_THREADS:-1}
zero_crossing=${BO_REF_ZERO_CROSSING:-clamp}

if ! "$py" -c 'import torch, onnx, numpy' 2>/dev/null; then
	echo "SKIP ref: $py lacks torch/onnx/numpy"
	echo "ref: 0 passed, 0 failed"
	exit 0
fi
if [ ! -e "$fm/t10k-images-idx3-ubyte.gz" ] || [ ! -e "$fm/t10k-labels-idx1-ubyte.gz" ]; then
	echo "SKIP ref: dataset $fm missing"
	echo "ref: 0 passed, 0 failed"
	exit 0
fi
if [ ! -x "$bo" ]; then
	echo "FAIL ref: $bo not built"
	echo "ref: 0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t_start=$(date +%s)

f4=tests/fixtures/fmnist_preact_f4.onnx
other=tests/fixtures/other/other.onnx
other_norm="--mean 0.2860 --std 0.3530"

# name|model|norm|deviation|target|p list|trials|limit[|extra options]
if [ "${BO_SANITIZED:-}" = 1 ]; then
	configs=(
		"f4-bm-weights|$f4||bm|weights|1e-3,1e-2,3e-2|24|300"
		"f4-bm-activations|$f4||bm|activations|0.03,0.1,0.15|8|300"
		"f4-bm-activations-4bit|$f4||bm|activations|0.02,0.05|8|300|--bits 4"
		"f4-bm-both|$f4||bm|both|1e-3,1e-2,3e-2|16|300"
		"f4-erasure-weights|$f4||erasure|weights|2e-3,2e-2,6e-2|24|300"
		"other-bm-weights|$other|$other_norm|bm|weights|3e-3,3e-2,0.1|24|300"
		"other-bm-activations|$other|$other_norm|bm|activations|0.3,0.65,0.8|8|300"
		"other-bm-both|$other|$other_norm|bm|both|3e-3,3e-2,0.1|12|300"
		"other-erasure-weights|$other|$other_norm|erasure|weights|6e-3,6e-2,0.2|24|300"
	)
else
	configs=(
		"f4-bm-weights|$f4||bm|weights|1e-3,3e-3,1e-2,3e-2|40|300"
		"f4-bm-activations|$f4||bm|activations|0.03,0.06,0.1,0.15|14|300"
		"f4-bm-activations-4bit|$f4||bm|activations|0.02,0.035,0.05,0.07|14|300|--bits 4"
		"f4-bm-both|$f4||bm|both|1e-3,3e-3,1e-2,3e-2|24|300"
		"f4-erasure-weights|$f4||erasure|weights|2e-3,6e-3,2e-2,6e-2|40|300"
		"other-bm-weights|$other|$other_norm|bm|weights|3e-3,1e-2,3e-2,0.1|40|300"
		"other-bm-activations|$other|$other_norm|bm|activations|0.3,0.5,0.65,0.8|10|300"
		"other-bm-both|$other|$other_norm|bm|both|3e-3,1e-2,3e-2,0.1|16|300"
		"other-erasure-weights|$other|$other_norm|erasure|weights|6e-3,2e-2,6e-2,0.2|40|300"
	)
fi
if [ "${BO_REF_BITS4:-}" = 1 ]; then
	configs+=(
		"other-bm-activations-4bit|$other|$other_norm|bm|activations|0.3,0.5,0.7|8|500|--bits 4"
	)
fi

pass=0
fail=0
# Seeds: config i uses base + i. The verdict is deterministic for a build,
# but with ~60 points at 3 SE a correct build still fails now and then for
# some seeds (heavy-tailed per-chip accuracies under weight faults); rerun
# with another BO_REF_SEED to tell such a chance failure from a real one.
if [ "${BO_SANITIZED:-}" = 1 ]; then
	seed=${BO_REF_SEED:-107}
else
	seed=${BO_REF_SEED:-7}
fi
# Three phases: every C sweep (2 threads), then the references two at a
# time (1 thread each: the 2 cores busy, each reference's stream as with
# one process), then the comparisons. Same commands and seeds as one after
# the other, in about half the wall time.
names=()
declare -A cargs
for c in "${configs[@]}"; do
	IFS='|' read -r name model norm dev target plist trials limit extra <<<"$c"
	seed=$((seed + 1))
	names+=("$name")
	cargs[$name]="$model|$norm $extra|$dev|$target|$plist|$trials|$limit|$seed"
done
# common NAME: the shared options of config NAME into the array `common`,
# its model into `model`
common_of() {
	local norm dev target plist trials limit s
	IFS='|' read -r model norm dev target plist trials limit s <<<"${cargs[$1]}"
	read -ra opts <<<"$norm"
	common=(--deviation "$dev" --target "$target" --p "$plist" --trials "$trials"
		--limit "$limit" --seed "$s" "${opts[@]}" --json)
}
for name in "${names[@]}"; do
	common_of "$name"
	t0=$(date +%s.%N)
	"$bo" sweep "$model" "$fm" "${common[@]}" --threads 2 >"$tmp/$name.c.json" 2>"$tmp/$name.c.err"
	echo $? >"$tmp/$name.c.rc"
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }' >"$tmp/$name.c.s"
done
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
	common_of "$name"
	(
		t0=$(date +%s.%N)
		"$py" tools/ref_sweep.py "$model" "$fm" "${common[@]}" --threads "$ref_threads" \
			--zero-crossing "$zero_crossing" >"$tmp/$name.ref.json" 2>"$tmp/$name.ref.err"
		echo $? >"$tmp/$name.ref.rc"
		awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }' >"$tmp/$name.ref.s"
	) &
done
wait
for c in "${configs[@]}"; do
	IFS='|' read -r name model norm dev target plist trials limit extra <<<"$c"
	if [ "$(cat "$tmp/$name.c.rc")" != 0 ]; then
		echo "FAIL $name: brownout sweep failed"
		sed 's/^/     /' "$tmp/$name.c.err" | tail -5
		fail=$((fail + 1))
		continue
	fi
	if [ "$(cat "$tmp/$name.ref.rc" 2>/dev/null)" != 0 ]; then
		echo "FAIL $name: tools/ref_sweep.py failed"
		sed 's/^/     /' "$tmp/$name.ref.err" | tail -5
		fail=$((fail + 1))
		continue
	fi
	echo "---- $name: $dev on $target, p $plist, $trials trials x $limit images${extra:+, $extra}" \
		"(C $(cat "$tmp/$name.c.s") s, ref $(cat "$tmp/$name.ref.s") s)"
	# prints one line per check, then "COUNTS pass fail"
	out=$("$py" - "$name" "$tmp/$name.c.json" "$tmp/$name.ref.json" <<'EOF'
import json, math, sys
name, cpath, rpath = sys.argv[1:4]
c = json.load(open(cpath))
r = json.load(open(rpath))
npass = nfail = 0
def report(ok, text):
    global npass, nfail
    if ok:
        npass += 1
    else:
        nfail += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name} {text}")
images = c["points"][0]["images"] // c["points"][0]["trials"] if c["points"] else 1
report(abs(c["clean_accuracy"] - r["clean_accuracy"]) <= 1.0 / images + 1e-12,
       f"clean accuracy C {c['clean_accuracy']:.4f} ref {r['clean_accuracy']:.4f}")
for key in ("parameters", "activations"):
    report(c.get(key) == r.get(key), f"{key} C {c.get(key)} ref {r.get(key)}")
if len(c["points"]) != len(r["points"]):
    report(False, f"{len(c['points'])} points in C, {len(r['points'])} in ref")
for pc, pr in zip(c["points"], r["points"]):
    if abs(pc["p"] - pr["p"]) > 1e-12 * max(1.0, pc["p"]) or pc["trials"] != pr["trials"] \
            or pc["images"] != pr["images"]:
        report(False, f"p={pc['p']:g}: points differ in p/trials/images")
        continue
    se_c = pc["accuracy_std"] / math.sqrt(pc["trials"])
    se_r = pr["accuracy_std"] / math.sqrt(pr["trials"])
    d = pc["accuracy_mean"] - pr["accuracy_mean"]
    if pc["accuracy_std"] == 0 and pr["accuracy_std"] == 0:
        ok = pc["accuracy_mean"] == pr["accuracy_mean"]
        tol, z = 0.0, (0.0 if ok else math.inf)
    else:
        tol = 3 * math.sqrt(se_c ** 2 + se_r ** 2)
        z = abs(d) / (tol / 3)
    report(abs(d) <= tol,
           f"p={pc['p']:<7g} C {pc['accuracy_mean']:.4f}+-{se_c:.4f} "
           f"ref {pr['accuracy_mean']:.4f}+-{se_r:.4f} diff {d:+.4f} ({z:.2f} se, limit 3)")
print(f"COUNTS {npass} {nfail}")
EOF
	)
	grep -v '^COUNTS' <<<"$out"
	counts=$(grep '^COUNTS' <<<"$out")
	if [ -z "$counts" ]; then
		echo "FAIL $name: could not compare outputs"
		fail=$((fail + 1))
		continue
	fi
	read -r _ np nf <<<"$counts"
	pass=$((pass + np))
	fail=$((fail + nf))
done
echo "ref: took $(($(date +%s) - t_start)) s"
echo "ref: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# Reproduce the seed paper's Figs. 3, 4 and 5 on the Fashion-MNIST fixtures
# (docs/experiments.md).
#   tools/paper_experiments.sh [BUILD] [OUTDIR]     (default: build docs/experiments)
# Writes OUTDIR/data/*.json (one brownout sweep / calibrate-erasure each), then
# runs tools/plot_experiments.py to draw OUTDIR/fig3_bm_vs_erasure.png,
# OUTDIR/fig4_per_block.png and OUTDIR/fig5_energy.png and print the tables.
# Environment (defaults in brackets): BO_DATA [/usr/share/datasets/fashion-mnist],
# BO_LIMIT images [2000], BO_THREADS [2], BO_TRIALS for Fig. 3 [10],
# BO_BLOCK_TRIALS for Fig. 4 [5], BO_ENERGY_TRIALS for Fig. 5 [20], BO_SEED [1],
# BO_PYTHON [/usr/bin/python3].
# Needs Debian's python3-matplotlib (deploy/install-deps.sh installs it).
set -eu

build=${1:-build}
out=${2:-docs/experiments}
bo="$build/brownout"
data=${BO_DATA:-/usr/share/datasets/fashion-mnist}
limit=${BO_LIMIT:-2000}
threads=${BO_THREADS:-2}
trials=${BO_TRIALS:-10}
btrials=${BO_BLOCK_TRIALS:-5}
etrials=${BO_ENERGY_TRIALS:-20}
seed=${BO_SEED:-1}
python=${BO_PYTHON:-/usr/bin/python3}

fx=tests/fixtures
f4=$fx/fmnist_preact_f4.onnx
f6=$fx/fmnist_preact_f6.onnx
f8=$fx/fmnist_preact_f8.onnx
f8e=$fx/fmnist_preact_f8_erasure.onnx
refs=$f4,$f6,$f8

[ -x "$bo" ] || { echo "$bo not found: run 'make $bo' first" >&2; exit 1; }
"$python" -c 'import matplotlib' 2>/dev/null || {
	echo "$python has no matplotlib: apt-get install python3-matplotlib (or deploy/install-deps.sh)" >&2
	exit 1
}
mkdir -p "$out/data"
start=$(date +%s)

# run NAME ARGS...: `brownout ARGS --limit .. --threads .. --seed .. --json`,
# its JSON into $out/data/NAME.json
run() {
	name=$1
	shift
	set -- "$bo" "$@" --limit "$limit" --threads "$threads" --seed "$seed" --json
	echo "== $*" >&2
	t0=$(date +%s)
	"$@" >"$out/data/$name.json.tmp"
	mv "$out/data/$name.json.tmp" "$out/data/$name.json"
	echo "   $(($(date +%s) - t0)) s -> $out/data/$name.json" >&2
}

# Fig. 3: weights-only BM at p against weights-only erasure at p_e = 2p (F = 8),
# and the fitted ratio p_e/p.
run fig3_bm_weights sweep "$f8" "$data" --deviation bm --target weights \
	--p 1e-3:1e-1:9 --trials "$trials"
run fig3_erasure_weights sweep "$f8" "$data" --deviation erasure --target weights \
	--p 2e-3:2e-1:9 --trials "$trials"
run fig3_calibrate calibrate-erasure "$f8" "$data" \
	--p 5e-3,1e-2,2e-2 --trials "$trials"

# Fig. 4: BM on weights and activations of one block at a time (F = 8) ...
for b in conv1 layer1 layer2 layer3 layer4 linear; do
	run "fig4_block_$b" sweep "$f8" "$data" --deviation bm --target both \
		--block-p "$b=p,*=0" --p 1e-3:3e-1:11 --trials "$btrials"
done
# ... and the paper's policy p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1 (other parts at
# p), compared at equal energy with uniform p (the fig5_standard sweep below).
run fig4_policy sweep "$f8" "$data" --deviation bm --target both \
	--block-p 'layer1=p,layer2=2p,layer3=2p,layer4=10p' \
	--p 3e-4:3e-2:9 --trials "$btrials"

# Fig. 5: accuracy against energy; references F = 4, 6, 8 (reliable), and
# F = 8 standard and erasure-trained under BM on weights and activations
# (denser at small p, where the accuracy is near the frontier).
p5=3e-4,5e-4,1e-3,1.4e-3,2e-3,3e-3,5e-3,1e-2,2e-2,5e-2,1e-1
run fig5_standard sweep "$f8" "$data" --deviation bm --target both \
	--p "$p5" --trials "$etrials" --references "$refs"
run fig5_erasure sweep "$f8e" "$data" --deviation bm --target both \
	--p "$p5" --trials "$etrials" --references "$refs"

echo "== sweeps took $(($(date +%s) - start)) s" >&2
"$python" tools/plot_experiments.py "$out"
echo "== total $(($(date +%s) - start)) s" >&2

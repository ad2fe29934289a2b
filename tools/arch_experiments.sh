#!/bin/sh
# Reproduce the seed paper's Figs. 1 and 2 (accuracy of four architectures
# under BM on weights and activations, against p and against energy per
# inference) on the Fashion-MNIST fixtures (docs/experiments.md).
#   tools/arch_experiments.sh [BUILD] [OUTDIR]     (default: build docs/experiments)
# Writes OUTDIR/data/fig1_<arch>.json (one brownout sweep each: the same p grid,
# trials, images and seed for all four), then runs tools/plot_experiments.py,
# which draws OUTDIR/fig1_architectures.png and OUTDIR/fig2_arch_energy.png
# (and redraws Figs. 3 to 5 from their data) and prints the tables.
# Environment (defaults in brackets): BO_DATA [/usr/share/datasets/fashion-mnist],
# BO_LIMIT images [2000], BO_THREADS [1], BO_TRIALS [10], BO_SEED [1],
# BO_P [1e-4:1e-1:7], BO_PYTHON [/usr/bin/python3], BO_MODELS (the sweeps to
# run, default all four: preact_f8 resnet18_f8 senet18_f8 mobilenetv2_w25;
# the plots draw the networks whose files exist).
# Needs Debian's python3-matplotlib (deploy/install-deps.sh installs it).
set -eu

build=${1:-build}
out=${2:-docs/experiments}
bo="$build/brownout"
data=${BO_DATA:-/usr/share/datasets/fashion-mnist}
limit=${BO_LIMIT:-2000}
threads=${BO_THREADS:-1}
trials=${BO_TRIALS:-10}
seed=${BO_SEED:-1}
grid=${BO_P:-1e-4:1e-1:7}
python=${BO_PYTHON:-/usr/bin/python3}
models=${BO_MODELS:-preact_f8 resnet18_f8 senet18_f8 mobilenetv2_w25}

fx=tests/fixtures
[ -x "$bo" ] || { echo "$bo not found: run 'make $bo' first" >&2; exit 1; }
"$python" -c 'import matplotlib' 2>/dev/null || {
	echo "$python has no matplotlib: apt-get install python3-matplotlib (or deploy/install-deps.sh)" >&2
	exit 1
}
mkdir -p "$out/data"
start=$(date +%s)

# Fig. 1 and Fig. 2 share the sweeps: one per architecture, BM on weights and
# activations, accuracy and energy per point.  Activation sites
# `activations-gated`, the rule that reproduces the paper's Table I counts
# (docs/fault-models.md section 1): on the three networks without SE blocks
# it is the same as the default `activations`; on SENet18 it adds the
# excitation products.
for m in $models; do
	set -- "$bo" sweep "$fx/fmnist_$m.onnx" "$data" --deviation bm --target both --activation-sites activations-gated \
		--p "$grid" --trials "$trials" --limit "$limit" --threads "$threads" \
		--seed "$seed" --json
	echo "== $*" >&2
	t0=$(date +%s)
	"$@" >"$out/data/fig1_$m.json.tmp"
	mv "$out/data/fig1_$m.json.tmp" "$out/data/fig1_$m.json"
	echo "   $(($(date +%s) - t0)) s -> $out/data/fig1_$m.json" >&2
done

echo "== sweeps took $(($(date +%s) - start)) s" >&2
"$python" tools/plot_experiments.py "$out"
echo "== total $(($(date +%s) - start)) s" >&2

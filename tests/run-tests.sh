#!/bin/bash
# Run every test binary in BUILD/tests and the CLI tests; print one summary.
#   tests/run-tests.sh BUILD [FILTER]
set -u
build=${1:-build}
filter=${2:-}
cd "$(dirname "$0")/.."
export BO_TEST_OUT_DIR="$build/test-output"
mkdir -p "$BO_TEST_OUT_DIR"
pass=0
fail=0
failed=""
times=""
run() {
	local name=$1
	shift
	local t0=$SECONDS rc=0
	echo "=== $name"
	"$@" || rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $name"
	fi
	times="$times $name:$((SECONDS - t0))s"
}
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	run "$(basename "$t")" "$t"
done
# every saved fuzz input (tests/fuzz/corpus/T) through its target's replay
# main, under this build's sanitizers
for t in "$build"/tests/fuzz_*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	name=$(basename "$t")
	run "$name" "$t" "tests/fuzz/corpus/${name#fuzz_}"
done
if [ -z "$filter" ] || [[ cli == *"$filter"* ]]; then
	run cli tests/cli/test_cli.sh "$build"
fi
# torchvision's classifiers exported the default way: logits = PyTorch's
# (tests/zoo/run.py; the exports are made once into BUILD/test-output/zoo)
if [ -z "$filter" ] || [[ zoo == *"$filter"* ]]; then
	# one export for every build of a `make test` (the normal build's).
	# Under the sanitizers one model of each family of operators (every
	# opset and batch form of it): the kernels' memory safety, in a third
	# of the time; the normal build compares all of them.
	zoo_models=()
	[ "${BO_SANITIZED:-}" = 1 ] && zoo_models=(resnet18 mobilenet_v3_small shufflenet_v2_x0_5
		efficientnet_b0 convnext swin vit regnet_y_400mf densenet inception_v3)
	BO_ZOO_DIR=${BO_ZOO_DIR:-$PWD/build/test-output/zoo} run zoo /usr/bin/python3 tests/zoo/run.py \
		"$build" "${zoo_models[@]}"
fi
# brownoutd over a real socket: every endpoint (tests/daemon/run.sh), a
# SIGKILL in the middle of a job (tests/daemon/test_crash.py), a full disk
# (tests/daemon/test_diskfull.py, on a tmpfs it mounts)
if [ -z "$filter" ] || [[ daemon == *"$filter"* ]]; then
	run daemon tests/daemon/run.sh "$build"
	run crash /usr/bin/python3 tests/daemon/test_crash.py "$build"
	# hostile requests and connection floods
	run hostile /usr/bin/python3 tests/daemon/test_hostile.py "$build"
	# a full disk (a small tmpfs as the data directory)
	run diskfull /usr/bin/python3 tests/daemon/test_diskfull.py "$build"
	# remote workers (brownout worker): one SIGKILLed, one losing its lease
	run workers /usr/bin/python3 tests/daemon/test_workers.py "$build"
fi
# the Python package (clients/python) against a brownoutd of its own
# (under the sanitizers the client's calls against the sanitized daemon;
# the torch, calibration and example tests check Python and numbers)
if [ -z "$filter" ] || [[ python == *"$filter"* ]]; then
	if [ "${BO_SANITIZED:-}" = 1 ]; then
		run python tests/python/run.sh "$build" T10Client
	else
		run python tests/python/run.sh "$build"
	fi
fi
# a one-node SLURM cluster of its own (tools/slurm-local.sh); it skips
# itself where SLURM cannot run. It checks no memory safety: normal build only
if [ -z "$filter" ] || [[ slurm == *"$filter"* ]]; then
	if [ "${BO_SANITIZED:-}" = 1 ]; then
		echo "=== slurm: skipped in the sanitizer build (runs in the normal build)"
	else
		run slurm tests/slurm/test_slurm.sh "$build"
	fi
fi
# the README's first-run instructions as written: make run's banner, the
# curl walk-through against a fresh brownoutd, make demo's output. They
# check words and numbers, not memory safety: normal build only
if [ -z "$filter" ] || [[ readme == *"$filter"* ]]; then
	if [ "${BO_SANITIZED:-}" = 1 ]; then
		echo "=== readme: skipped in the sanitizer build (runs in the normal build)"
	else
		run readme tests/readme/run.sh "$build"
	fi
fi
# the dashboard in headless chromium against a brownoutd of its own. It
# checks the JavaScript; the daemon's memory safety under every endpoint is
# the daemon, lab, hostile, crash and workers suites' under the sanitizers:
# normal build only
if [ -z "$filter" ] || [[ web == *"$filter"* ]]; then
	if [ "${BO_SANITIZED:-}" = 1 ]; then
		echo "=== web: skipped in the sanitizer build (runs in the normal build)"
	else
		run web tests/web/run.sh "$build"
	fi
fi
# docs/export.md: PyTorch exports (folded or kept BatchNorm, dynamic or fixed
# batch, opsets 11/13/17) read as deployed (exit 77: no python3-torch)
if [ -z "$filter" ] || [[ export == *"$filter"* ]]; then
	run export bash -c '/usr/bin/python3 tests/export/check_export.py "$1"; rc=$?; [ $rc -eq 77 ] && rc=0; exit $rc' _ "$build"
fi
# The statistical agreement with the reference implementation checks
# numbers, not memory safety: it runs in the normal build only (its
# verdict is deterministic for a given build, its sample sizes are not
# affordable under the sanitizers).
if [ -x tests/ref/run.sh ] && { [ -z "$filter" ] || [[ ref == *"$filter"* ]]; }; then
	if [ "${BO_SANITIZED:-}" = 1 ]; then
		echo "=== ref: skipped in the sanitizer build (runs in the normal build)"
	else
		run ref tests/ref/run.sh "$build"
	fi
fi
echo
echo "seconds per suite:$times"
[ -n "$failed" ] && echo "failed suites:$failed"
echo "suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

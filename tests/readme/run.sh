#!/bin/bash
# The README's first-run instructions run as written (tests/readme/test_readme.py):
# `make run`'s banner, the curl walk-through against that fresh brownoutd,
# and `make demo`'s output, each compared with README.md.
#   tests/readme/run.sh BUILD
# BO_KEEP_TMP=1 keeps the data directory, the script it ran and the logs.
set -u
build=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
for bin in brownoutd brownout; do
	if [ ! -x "$build/$bin" ]; then
		echo "readme: $build/$bin is not built (make BUILD=$build)" >&2
		echo "readme: 0 passed, 1 failed"
		exit 1
	fi
done
for tool in curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "readme: the walk-through needs $tool (deploy/install-deps.sh)" >&2
		exit 1
	fi
done
exec /usr/bin/python3 tests/readme/test_readme.py "$build"

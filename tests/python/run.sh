#!/bin/bash
# The Python package against a live brownoutd: tests/python/run.sh BUILD [TEST ...]
set -u
build=${1:-build}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.." || exit 1
for bin in brownoutd brownout; do
	if [ ! -x "$build/$bin" ]; then
		echo "python: $build/$bin is not built (make BUILD=$build)" >&2
		echo "python: 0 passed, 1 failed"
		exit 1
	fi
done
BO_BUILD=$(cd "$build" && pwd) /usr/bin/python3 -W ignore::ResourceWarning tests/python/test_client.py "$@"

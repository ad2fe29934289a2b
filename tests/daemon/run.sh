#!/bin/bash
# Integration tests of brownoutd over HTTP: starts BUILD/brownoutd on a free
# loopback port in a temporary data directory, drives every endpoint, checks
# every JSON answer against docs/openapi.yaml and the sweep results against
# BUILD/brownout sweep.
#   tests/daemon/run.sh BUILD [TEST ...]     e.g. T10Api.test_310_job_matches_cli
# BO_KEEP_TMP=1 keeps the data directories and the daemon logs.
set -u
build=${1:-build}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.." || exit 1
py=/usr/bin/python3
if ! "$py" -c 'import yaml, jsonschema' 2>/dev/null; then
	echo "daemon: needs Debian's python3-yaml and python3-jsonschema (deploy/install-deps.sh)" >&2
	echo "daemon: 0 passed, 1 failed"
	exit 1
fi
for bin in brownoutd brownout; do
	if [ ! -x "$build/$bin" ]; then
		echo "daemon: $build/$bin is not built (make BUILD=$build)" >&2
		echo "daemon: 0 passed, 1 failed"
		exit 1
	fi
done
export BO_BUILD=$(cd "$build" && pwd)
"$py" tests/daemon/test_api.py "$@"
rc=$?
# hostile datasets (issue 9) and the lab API (issue 12): a daemon of their
# own each; only in a full run
if [ $# -eq 0 ]; then
	"$py" tests/daemon/test_datasets_hostile.py || rc=1
	"$py" tests/daemon/test_lab.py || rc=1
fi
exit $rc

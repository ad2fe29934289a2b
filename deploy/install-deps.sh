#!/bin/sh
# Install the Debian packages brownout needs, if any are missing.
#   deploy/install-deps.sh run           build and run brownoutd and the CLI (make run)
#   deploy/install-deps.sh [test]        that and everything the tests use (make test)
#   deploy/install-deps.sh [SET] --print only print the apt-get command
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

set_=test
case "${1:-}" in
run | test) set_=$1; shift ;;
esac

# building the library, the CLI and brownoutd, and running them (make run's
# demo dataset is Debian's Fashion-MNIST; tools/run-daemon.sh uses curl)
PKGS="make gcc pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
libopenblas-dev libjansson-dev zlib1g-dev librandom123-dev libmicrohttpd-dev libsqlite3-dev
nettle-dev libcurl4-openssl-dev curl dataset-fashion-mnist"
if [ "$set_" = test ]; then
	# unit tests (cmocka), the clang build, ONNX's node tests, fixtures and
	# reference numbers (PyTorch), the daemon and Python tests, wrk for
	# bench/daemon.sh, the browser tests, a one-node SLURM cluster
	PKGS="$PKGS clang libcmocka-dev libonnx-testdata python3 python3-numpy python3-torch
python3-torchvision python3-onnx python3-matplotlib sqlite3 wrk python3-yaml
python3-jsonschema python3-pandas chromium nodejs slurmctld slurmd slurm-client munge"
	# npm for the browser tests (tests/web): Debian's package, unless the
	# nodejs installed brings its own (NodeSource's provides and conflicts with npm)
	[ -x /usr/bin/npm ] || PKGS="$PKGS npm"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "${1:-}" = "--print" ]; then
	echo "$cmd"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "brownout needs these Debian packages:$missing" >&2
	echo "Run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "Installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2

#!/bin/sh
# Install the Debian packages brownout needs, if any are missing.
#   deploy/install-deps.sh          build + run + test dependencies
#   deploy/install-deps.sh --print  only print the apt-get command
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

PKGS="make gcc clang pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
libopenblas-dev libjansson-dev zlib1g-dev libcmocka-dev librandom123-dev dataset-fashion-mnist
libonnx-testdata python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-matplotlib
libmicrohttpd-dev libsqlite3-dev nettle-dev libcurl4-openssl-dev sqlite3 curl wrk
python3-yaml python3-jsonschema python3-pandas chromium nodejs slurmctld slurmd slurm-client
munge"
# npm for the browser tests (tests/web): Debian's package, unless the
# nodejs installed brings its own (NodeSource's provides and conflicts with npm)
[ -x /usr/bin/npm ] || PKGS="$PKGS npm"

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

#!/bin/bash
# Browser tests of the dashboard (web/): starts BUILD/brownoutd on a free
# loopback port in a temporary data directory, with users, models, a
# dataset and finished jobs, and drives every view in Debian's chromium
# (headless) with playwright-core from npm (tests/web/package-lock.json;
# installed into tests/web/node_modules by `npm ci` when missing).
#   tests/web/run.sh BUILD [--docs] [FILTER ...]
# Screenshots of every view go to $BO_TEST_OUT_DIR/web/ (default
# BUILD/test-output/web/), with --docs to docs/screenshots/ instead.
# BO_KEEP_TMP=1 keeps the data directory and the daemon's log;
# BO_CHROMIUM overrides /usr/bin/chromium; BO_WEB=DIR serves DIR instead of web/.
set -u
build=${1:-build}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.." || exit 1
export BO_TEST_OUT_DIR=${BO_TEST_OUT_DIR:-$build/test-output}
node=/usr/bin/node
chromium=${BO_CHROMIUM:-/usr/bin/chromium}
die() {
	echo "web: $*" >&2
	echo "web: 0 passed, 1 failed"
	exit 1
}
[ -x "$node" ] || die "needs Debian's nodejs and npm (deploy/install-deps.sh)"
[ -x "$chromium" ] || die "needs Debian's chromium (deploy/install-deps.sh)"
[ -x "$build/brownoutd" ] || die "$build/brownoutd is not built (make BUILD=$build)"
if [ ! -f tests/web/node_modules/playwright-core/package.json ] ||
	! cmp -s tests/web/package-lock.json tests/web/node_modules/.package-lock.json.ci 2>/dev/null; then
	echo "web: npm ci in tests/web (playwright-core)" >&2
	(cd tests/web && npm ci --no-audit --no-fund --loglevel=error >&2) ||
		die "npm ci in tests/web failed (it needs the npm registry once)"
	cp tests/web/package-lock.json tests/web/node_modules/.package-lock.json.ci
fi
exec "$node" tests/web/test_web.mjs "$(cd "$build" && pwd)" "$@"

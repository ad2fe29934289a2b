#!/bin/bash
# `make run`: prepare ./var and run brownoutd in the foreground.
#  - a demo admin user "demo" (its token is kept in var/demo.token, mode 0600,
#    so that every `make run` can print it; a real deployment creates users
#    with `brownoutd user add` and keeps no token files);
#  - the bundled demo model and Debian's Fashion-MNIST registered;
#  - then the daemon runs until Ctrl-C (SIGINT) or SIGTERM.
# Environment: BO_LISTEN (default 127.0.0.1:8080; port 0: any free one),
# BO_DATA (default var). What it prints is in README.md, and
# tests/readme/run.sh checks that the two agree.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
listen=${BO_LISTEN:-127.0.0.1:8080}
data=${BO_DATA:-var}
bod="$build/brownoutd"
model=tests/fixtures/fmnist_preact_f8.onnx
fmnist=/usr/share/datasets/fashion-mnist

mkdir -p "$data"
if [ ! -s "$data/demo.token" ]; then
	umask 077
	"$bod" user add demo --admin --data "$data" > "$data/demo.token.tmp"
	mv "$data/demo.token.tmp" "$data/demo.token"
fi
token=$(cat "$data/demo.token")

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bod" --listen "$listen" --data "$data" --dataset-root /usr/share/datasets \
	--dataset-root "$PWD/tests/fixtures" --web web > "$out" &
pid=$!
forward() { kill -TERM "$pid" 2>/dev/null || true; }
trap forward INT TERM
url=""
for _ in $(seq 1 100); do
	url=$(grep -o 'http://[^ ]*' "$out" || true)
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit 1; }
	sleep 0.1
done
[ -n "$url" ] || { echo "brownoutd did not start" >&2; forward; exit 1; }
api="${url}api/v1"
auth=(-H "Authorization: Bearer $token")

# register the demo model and dataset once
if ! curl -fsS "${auth[@]}" "$api/models?limit=200" | grep -q '"name":"demo-fmnist-f8"'; then
	curl -fsS "${auth[@]}" --data-binary @"$model" \
		"$api/models?name=demo-fmnist-f8&description=PreActResNet18%20F%3D8%2C%20Fashion-MNIST" \
		> /dev/null
fi
if [ -d "$fmnist" ] && ! curl -fsS "${auth[@]}" "$api/datasets?limit=200" |
	grep -q '"name":"fashion-mnist-test"'; then
	curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
		-d "{\"name\": \"fashion-mnist-test\", \"path\": \"$fmnist\"}" "$api/datasets" > /dev/null
fi

cat <<EOT

brownoutd is running: $url   (dashboard)
API:   $api   (described in docs/api.md and at $api/openapi.yaml)
Token: $token   (demo admin user "demo")
Ctrl-C stops it; the walk-through in README.md shows what to try from another terminal.
EOT
wait "$pid" || true
wait "$pid" 2>/dev/null || true

#!/bin/bash
# brownoutd under load (issue "brownoutd", item 10): wrk against
# GET /api/v1/jobs/{id} while the workers keep every core busy with a sweep.
#   bench/daemon.sh [BUILD] [SECONDS] [CONNECTIONS]
set -euo pipefail
build=${1:-build}
secs=${2:-20}
conns=${3:-32}
cd "$(dirname "$0")/.."
bod="$build/brownoutd"
fm=/usr/share/datasets/fashion-mnist
cores=$(nproc)
data=$(mktemp -d)
out=$(mktemp)
pid=""
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$data" "$out"
}
trap cleanup EXIT
token=$("$bod" user add bench --data "$data" 2>/dev/null)
"$bod" --listen 127.0.0.1:0 --data "$data" --workers "$cores" --dataset-root "$fm" \
	> "$out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
api="$(grep -o 'http://[^ ]*' "$out")api/v1"
auth="Authorization: Bearer $token"
curl -fsS -H "$auth" --data-binary @tests/fixtures/fmnist_preact_f8.onnx "$api/models?name=f8" >/dev/null
curl -fsS -H "$auth" -d "{\"name\": \"fm\", \"path\": \"$fm\"}" "$api/datasets" >/dev/null
# enough work to keep every worker busy for the whole run
curl -fsS -H "$auth" -d '{"model": 1, "dataset": 1, "p": "1e-4:1e-2:8", "trials": 50}' \
	"$api/jobs" >/dev/null
for _ in $(seq 100); do
	curl -fsS -H "$auth" "$api/jobs/1" | grep -q '"state":"running"' && break
	sleep 0.1
done
images() { curl -fsS "${api%/api/v1}/metrics" | awk '$1 == "brownout_images_total" {print $2}'; }
i0=$(images)
t0=$(date +%s.%N)
echo "== wrk -t2 -c$conns -d${secs}s --latency GET /api/v1/jobs/1 ($cores workers busy)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "$auth" "$api/jobs/1" | tee "$out.wrk"
i1=$(images)
t1=$(date +%s.%N)
ips=$(/usr/bin/python3 -c "print(round(($i1 - $i0) / ($t1 - $t0)))")
busy=$(curl -fsS "$api/health" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["running_jobs"])')
rps=$(awk '/Requests\/sec/ {print $2}' "$out.wrk")
p99=$(awk '$1 == "99%" {print $2}' "$out.wrk")
echo
echo "| endpoint | connections | workers | requests/s | p99 latency | workers' images/s meanwhile | target |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| GET /api/v1/jobs/{id} | $conns | $cores (running jobs: $busy) | $rps | $p99 | $ips | p99 < 50 ms |"
rm -f "$out.wrk"

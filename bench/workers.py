#!/usr/bin/python3
"""Remote workers against the local pool (issue "Scale out"): the throughput
of one sweep job run by 1, 2 and 4 `brownout worker` processes, each pinned
to its share of the cores, beside brownoutd's own worker pool on the same
cores, in one run; and what the lease protocol costs per task.

    /usr/bin/python3 bench/workers.py BUILD [--workers 1,2,4] [--trials 16]
        [--limit 2000] [--model tests/fixtures/fmnist_preact_f8.onnx]

Each configuration gets a fresh brownoutd (its own data directory) and the
same job: BM on weights and activations at four p, `--trials` trials of the
first `--limit` Fashion-MNIST test images. Images/s is the images the
daemon counted (`brownout_images_total` in /metrics: trials x images plus
the clean pass) over the wall time from submission to `done`, so a
worker's start (fetching the model and dataset by hash, its clean pass) is
part of it. Remote workers run with --threads 1, worker i pinned to core
i mod cores (taskset); the local pool runs min(N, cores) workers of one
thread with brownoutd pinned to the same cores. The protocol's cost per
task is each worker's own account (the line it prints when it stops): the
time in its claim and results calls over the tasks it committed; compute
is the time in trials. Prints a markdown table (bench/README.md).
"""
import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "daemon"))
from harness import FMNIST, Daemon, admin_cmd, http_request  # noqa: E402

STATS_RE = re.compile(r"stopped: (\d+) tasks, (\d+) trials; compute ([\d.]+) s, setup ([\d.]+) s, "
                      r"claims ([\d.]+) s, results ([\d.]+) s")


def call(d, token, method, path, body=None):
    status, _, raw = http_request(d.port, method, "/api/v1" + path, body, token, timeout=60)
    if status >= 300:
        raise SystemExit("%s %s: HTTP %d: %s" % (method, path, status, raw[:300]))
    return json.loads(raw) if raw else None


def images_total(d):
    _, _, raw = http_request(d.port, "GET", "/metrics", timeout=30)
    for line in raw.decode().splitlines():
        if line.startswith("brownout_images_total "):
            return float(line.split()[1])
    raise SystemExit("/metrics has no brownout_images_total")


def run_one(build, args, n, remote):
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="bo-bench-workers-") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        token = admin_cmd(data, "user", "add", "bench", build=build)
        wtoken = admin_cmd(data, "token", "create", "bench", "--worker", build=build)
        pool = 0 if remote else min(n, cores)
        d = Daemon(data, "brownoutd.log", build=build,
                   extra=["--workers", str(pool), "--threads-per-worker", "1"])
        # the daemon's pool on the cores N workers would have
        cpus = ",".join(str(i % cores) for i in range(min(n, cores)))
        d.binary_argv = d.argv
        d.argv = lambda: ["taskset", "-c", cpus] + d.binary_argv()
        d.start()
        procs, logs = [], []
        try:
            with open(args.model, "rb") as f:
                m = call(d, token, "POST", "/models?name=bench", f.read())
            ds = call(d, token, "POST", "/datasets", {"name": "fm", "path": FMNIST})
            i0 = images_total(d)
            t0 = time.monotonic()
            job = call(d, token, "POST", "/jobs", {
                "model": m["id"], "dataset": ds["id"], "p": [1e-3, 3e-3, 1e-2, 3e-2],
                "trials": args.trials, "limit": args.limit, "seed": 1,
                "deviation": "bm", "target": "both"})
            for i in range(n if remote else 0):
                log = os.path.join(tmp, "w%d.log" % i)
                logs.append(log)
                procs.append(subprocess.Popen(
                    ["taskset", "-c", str(i % cores), os.path.join(build, "brownout"), "worker",
                     "--server", "http://127.0.0.1:%d" % d.port, "--token", wtoken,
                     "--name", "w%d" % i, "--threads", "1",
                     "--cache", os.path.join(tmp, "cache%d" % i)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=open(log, "wb")))
            while True:
                j = call(d, token, "GET", "/jobs/%d" % job["id"])
                if j["state"] in ("done", "failed", "cancelled"):
                    break
                time.sleep(0.05)
            wall = time.monotonic() - t0
            if j["state"] != "done":
                raise SystemExit("job ended %s\n%s" % (j["state"], d.log_tail()))
            imgs = images_total(d) - i0
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            d.stop()
        tasks = proto = compute = setup = 0.0
        for log in logs:
            with open(log) as f:
                mm = STATS_RE.search(f.read())
            if not mm:
                raise SystemExit("no stats line in %s" % log)
            tasks += int(mm.group(1))
            compute += float(mm.group(3))
            setup += float(mm.group(4))
            proto += float(mm.group(5)) + float(mm.group(6))
        return {"images_per_second": imgs / wall, "seconds": wall, "tasks": int(tasks),
                "ms_per_task": 1e3 * proto / tasks if tasks else None,
                "compute_share": compute / (wall * n) if remote else None,
                "setup": setup / n if remote else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--model", default=os.path.join(REPO, "tests", "fixtures",
                                                   "fmnist_preact_f8.onnx"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    cores = os.cpu_count()
    ns = [int(x) for x in args.workers.split(",")]
    print("%d cores: %s; %s" % (cores, platform.processor() or platform.machine(),
                                time.strftime("%Y-%m-%d", time.gmtime())))
    print("job: %s, BM on weights and activations, 4 p x %d trials x %d images"
          % (os.path.basename(args.model), args.trials, args.limit))
    print()
    print("| executor | workers | cores | images/s | x one worker | seconds | tasks "
          "| protocol ms/task | setup s/worker | workers' time in trials |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    one = None
    for n in ns:
        for remote in (False, True):
            if not remote and n > cores:
                continue
            r = run_one(build, args, n, remote)
            if remote and n == 1:
                one = r["images_per_second"]
            x = "%.2fx" % (r["images_per_second"] / one) if remote and one else ""
            print("| %s | %d | %d | %.0f | %s | %.1f | %s | %s | %s | %s |" % (
                "remote" if remote else "local pool", n, min(n, cores), r["images_per_second"],
                x, r["seconds"], r["tasks"] if remote else "",
                "%.2f" % r["ms_per_task"] if r["ms_per_task"] is not None else "",
                "%.1f" % r["setup"] if r["setup"] is not None else "",
                "%.0f %%" % (100 * r["compute_share"]) if r["compute_share"] is not None
                else ""), flush=True)


if __name__ == "__main__":
    main()

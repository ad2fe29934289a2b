#!/usr/bin/python3
"""Crash test: SIGKILL brownoutd in the middle of a job, start it again, and
check that the job finishes with exactly the numbers of an uninterrupted run
(`brownout sweep` with the same spec and seed) and that SQLite's integrity
check says ok.

    tests/daemon/test_crash.py BUILD
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FMNIST = "/usr/share/datasets/fashion-mnist"
MODEL = os.path.join(REPO, "tests/fixtures/fmnist_preact_f8.onnx")
SPEC = {"p": [3e-3, 1e-2, 3e-2], "trials": 4, "limit": 1500, "seed": 11,
        "target": "both", "deviation": "bm"}


def start(build, data):
    proc = subprocess.Popen(
        [os.path.join(build, "brownoutd"), "--listen", "127.0.0.1:0", "--data", data,
         "--workers", "2", "--threads-per-worker", "1", "--dataset-root", FMNIST,
         "--web", os.path.join(REPO, "web")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc, line.split("listening on ")[1].strip().rstrip("/")
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("brownoutd did not start")


def call(url, token, method="GET", body=None, ctype="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = os.path.abspath(build)
    if not os.path.isdir(FMNIST):
        print("crash: skipped (no %s)" % FMNIST)
        return 0
    with tempfile.TemporaryDirectory() as data:
        token = subprocess.run([os.path.join(build, "brownoutd"), "user", "add", "crash",
                                "--data", data], check=True, capture_output=True,
                               text=True).stdout.strip()
        proc, url = start(build, data)
        api = url + "/api/v1"
        with open(MODEL, "rb") as f:
            m = call(api + "/models?name=f8", token, "POST", f.read(), "application/octet-stream")
        ds = call(api + "/datasets", token, "POST", {"name": "fm", "path": FMNIST})
        spec = dict(SPEC, model=m["id"], dataset=ds["id"])
        job = call(api + "/jobs", token, "POST", spec)
        total = job["progress"]["trials_total"]
        # kill it once some, but not all, trials are committed
        deadline = time.time() + 120
        done = 0
        while time.time() < deadline:
            j = call(api + "/jobs/%d" % job["id"], token)
            done = j["progress"]["trials_done"]
            if done >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not 2 <= done < total:
            print("FAIL crash: wanted to kill mid-job, trials done %d of %d" % (done, total))
            return 1
        print("ok   killed with SIGKILL after %d of %d trials" % (done, total))

        proc, url = start(build, data)
        api = url + "/api/v1"
        deadline = time.time() + 300
        while time.time() < deadline:
            j = call(api + "/jobs/%d" % job["id"], token)
            if j["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        res = call(api + "/jobs/%d/results" % job["id"], token)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        fails = 0
        if j["state"] != "done" or not res["complete"]:
            print("FAIL crash: job ended %s (complete %s)" % (j["state"], res["complete"]))
            fails += 1
        if rc != 0:
            print("FAIL crash: SIGTERM exit status %d" % rc)
            fails += 1
        cli = subprocess.run(
            [os.path.join(build, "brownout"), "sweep", MODEL, FMNIST, "--p",
             ",".join(repr(p) for p in SPEC["p"]), "--trials", str(SPEC["trials"]),
             "--limit", str(SPEC["limit"]), "--seed", str(SPEC["seed"]), "--threads", "1",
             "--json"], check=True, capture_output=True, text=True)
        want = json.loads(cli.stdout)
        keys = ["p", "accuracy_mean", "accuracy_std", "ci95", "trials", "images", "eta",
                "energy", "trial_accuracies"]
        for a, b in zip(res["points"], want["points"]):
            for k in keys:
                if a[k] != b[k]:
                    print("FAIL crash: p=%g %s: daemon %r, uninterrupted CLI %r" %
                          (b["p"], k, a[k], b[k]))
                    fails += 1
        if res["clean_accuracy"] != want["clean_accuracy"]:
            print("FAIL crash: clean accuracy %r vs %r" % (res["clean_accuracy"],
                                                          want["clean_accuracy"]))
            fails += 1
        db = sqlite3.connect(os.path.join(data, "brownout.db"))
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        dup = db.execute("SELECT COUNT(*) FROM (SELECT point, trial FROM results WHERE job_id = ?"
                         " GROUP BY point, trial HAVING COUNT(*) > 1)", (job["id"],)).fetchone()[0]
        db.close()
        if integrity != "ok" or dup:
            print("FAIL crash: integrity_check %r, duplicated trials %d" % (integrity, dup))
            fails += 1
        if not fails:
            print("ok   resumed job equals the uninterrupted run at %d points x %d trials;"
                  " integrity_check ok; SIGTERM exit 0" % (len(want["points"]), SPEC["trials"]))
        print("crash: %s" % ("passed" if not fails else "%d failures" % fails))
        return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

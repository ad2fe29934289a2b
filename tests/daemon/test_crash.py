#!/usr/bin/python3
"""Crash test: SIGKILL brownoutd in the middle of a job, start it again, and
check that the job finishes with exactly the numbers of an uninterrupted run
(`brownout sweep` with the same spec and seed) and that SQLite's integrity
check says ok.

    tests/daemon/test_crash.py BUILD
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import FIXTURES, FMNIST, Daemon, admin_cmd, http_request

MODEL = os.path.join(FIXTURES, "fmnist_preact_f8.onnx")
SPEC = {"p": [3e-3, 1e-2, 3e-2], "trials": 4, "limit": 1500, "seed": 11,
        "target": "both", "deviation": "bm"}
STARTED = []    # the daemons, killed at exit whatever happened


def start(data, build):
    d = Daemon(data, "brownoutd.log", build=build).start()
    STARTED.append(d)
    return d


def call(d, token, path, body=None):
    """GET (no body) or POST one /api/v1 path; the JSON answer."""
    status, hdrs, raw = http_request(d.port, "GET" if body is None else "POST", "/api/v1" + path,
                                     body, token, timeout=30)
    if status >= 400:
        raise RuntimeError("%s: HTTP %d: %s\n%s" % (path, status, raw[:300], d.log_tail()))
    return json.loads(raw)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = os.path.abspath(build)
    if not os.path.isdir(FMNIST):
        print("crash: skipped (no %s)" % FMNIST)
        return 0
    with tempfile.TemporaryDirectory(prefix="brownoutd-crash-") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        token = admin_cmd(data, "user", "add", "crash", build=build)
        d = start(data, build)
        with open(MODEL, "rb") as f:
            m = call(d, token, "/models?name=f8", f.read())
        ds = call(d, token, "/datasets", {"name": "fm", "path": FMNIST})
        spec = dict(SPEC, model=m["id"], dataset=ds["id"])
        job = call(d, token, "/jobs", spec)
        total = job["progress"]["trials_total"]
        # kill it once some, but not all, trials are committed
        deadline = time.time() + 120
        done = 0
        while time.time() < deadline:
            j = call(d, token, "/jobs/%d" % job["id"])
            done = j["progress"]["trials_done"]
            if done >= 2:
                break
            time.sleep(0.05)
        d.kill()
        if not 2 <= done < total:
            print("FAIL crash: wanted to kill mid-job, trials done %d of %d" % (done, total))
            return 1
        print("ok   killed with SIGKILL after %d of %d trials" % (done, total))

        d = start(data, build)
        deadline = time.time() + 300
        while time.time() < deadline:
            j = call(d, token, "/jobs/%d" % job["id"])
            if j["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        res = call(d, token, "/jobs/%d/results" % job["id"])
        rc = d.stop()
        fails = 0
        if j["state"] != "done" or not res["complete"]:
            print("FAIL crash: job ended %s (complete %s)" % (j["state"], res["complete"]))
            fails += 1
        if rc != 0:
            print("FAIL crash: SIGTERM exit status %s" % rc)
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
        if fails:
            print(d.log_tail())
        print("crash: %s" % ("passed" if not fails else "%d failures" % fails))
        return 1 if fails else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for daemon in STARTED:
            daemon.kill()

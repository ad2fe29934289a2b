#!/usr/bin/python3
"""Crash test: SIGKILL brownoutd in the middle of a job, start it again, and
check that the job finishes with exactly the numbers of an uninterrupted run
(`brownout sweep` with the same spec and seed) and that SQLite's integrity
check says ok. A second case caps the tasks per job (--job-max-tasks), so
that each task covers many trials, kills the daemon after some slices of
them were committed, and checks that after the restart no trial is run or
counted twice: the task ranges still partition every point's trials, and
the restarted daemon evaluates exactly the images of the trials that were
not committed. An optimize job, killed mid-search, resumes over its stored
evaluations without running them again and gives the uninterrupted answer.

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
# Under the sanitizers (BO_SANITIZED=1) a trial is about 4x slower, so 300
# images keep it as long as the normal build's 1,500 (the kill must land
# after 2 of the 12 trials, before the last), at a fifth of the images the
# daemon and the uninterrupted CLI run evaluate; the numbers compared are
# the same kind (every trial accuracy bit for bit).
if os.environ.get("BO_SANITIZED") == "1":
    SPEC["limit"] = 300
MODEL4 = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
# 2 points x 24 trials as 2 tasks of 24 trials (--job-max-tasks 2), a trial
# of ~0.1 s: each task is committed in several slices of about 1 s
MULTI_SPEC = {"p": [1e-2, 3e-2], "trials": 24, "limit": 300, "seed": 5, "target": "both",
              "deviation": "bm"}
STARTED = []    # the daemons, killed at exit whatever happened


def start(data, build, extra=()):
    d = Daemon(data, "brownoutd.log", extra=extra, build=build).start()
    STARTED.append(d)
    return d


def call(d, token, path, body=None):
    """GET (no body) or POST one /api/v1 path; the JSON answer."""
    status, hdrs, raw = http_request(d.port, "GET" if body is None else "POST", "/api/v1" + path,
                                     body, token, timeout=30)
    if status >= 400:
        raise RuntimeError("%s: HTTP %d: %s\n%s" % (path, status, raw[:300], d.log_tail()))
    return json.loads(raw)


def metric(d, name):
    status, hdrs, raw = http_request(d.port, "GET", "/metrics", timeout=30)
    for line in raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError("/metrics has no %s" % name)


def wait_done(d, token, jid, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = call(d, token, "/jobs/%d" % jid)
        if j["state"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.1)
    return j


def kill_after_rows(d, dbpath, table, jid, n, timeout=120):
    """Poll the store until TABLE holds at least n rows of job jid (or the
    timeout), then SIGKILL the daemon."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        db = sqlite3.connect(dbpath)
        got = db.execute("SELECT COUNT(*) FROM %s WHERE job_id = ?" % table, (jid,)).fetchone()[0]
        db.close()
        if got >= n:
            break
        time.sleep(0.01)
    d.kill()


def compare(res, want, what):
    """Failures (printed) of the job's points against the CLI's."""
    fails = 0
    keys = ["p", "accuracy_mean", "accuracy_std", "ci95", "trials", "images", "eta",
            "energy", "trial_accuracies"]
    if len(res["points"]) != len(want["points"]):
        print("FAIL %s: %d points, CLI %d" % (what, len(res["points"]), len(want["points"])))
        return 1
    for a, b in zip(res["points"], want["points"]):
        for k in keys:
            if a[k] != b[k]:
                print("FAIL %s: p=%g %s: daemon %r, uninterrupted CLI %r" % (what, b["p"], k,
                                                                           a[k], b[k]))
                fails += 1
    if res["clean_accuracy"] != want["clean_accuracy"]:
        print("FAIL %s: clean accuracy %r vs %r" % (what, res["clean_accuracy"],
                                                   want["clean_accuracy"]))
        fails += 1
    return fails


def multi_trial_case(build, tmp):
    """SIGKILL in the middle of multi-trial tasks; 0 or the failures."""
    data = os.path.join(tmp, "data-multi")
    os.mkdir(data)
    token = admin_cmd(data, "user", "add", "crash", build=build)
    extra = ["--job-max-tasks", "2"]
    d = start(data, build, extra)
    with open(MODEL4, "rb") as f:
        m = call(d, token, "/models?name=f4", f.read())
    ds = call(d, token, "/datasets", {"name": "fm", "path": FMNIST})
    job = call(d, token, "/jobs", dict(MULTI_SPEC, model=m["id"], dataset=ds["id"]))
    jid, trials = job["id"], MULTI_SPEC["trials"]
    npts = len(MULTI_SPEC["p"])
    total = npts * trials
    dbpath = os.path.join(data, "brownout.db")
    db = sqlite3.connect(dbpath)
    ranges = db.execute("SELECT point, trial_lo, trial_hi FROM tasks WHERE job_id = ?"
                        " ORDER BY point", (jid,)).fetchall()
    db.close()
    fails = 0
    if ranges != [(pt, 0, trials) for pt in range(npts)]:
        print("FAIL crash-multi: stored as tasks %r, want one task of %d trials a point"
              % (ranges, trials))
        fails += 1
    # kill once a slice of each task was committed, long before the end
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline:
        done = call(d, token, "/jobs/%d" % jid)["progress"]["trials_done"]
        if done >= 4:
            break
        time.sleep(0.02)
    d.kill()
    db = sqlite3.connect(dbpath)
    committed = db.execute("SELECT COUNT(*) FROM results WHERE job_id = ?", (jid,)).fetchone()[0]
    # the rest of a task whose first slice was committed, queued or running
    inflight = db.execute("SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state <> 'done'"
                          " AND trial_lo > 0", (jid,)).fetchone()[0]
    db.close()
    if not 4 <= committed < total - 4 or not inflight:
        print("FAIL crash-multi: wanted to kill in the middle of a task after a committed"
              " slice: %d of %d trials committed, %d such tasks left" % (committed, total,
                                                                           inflight))
        return fails + 1
    print("ok   killed with SIGKILL after %d of %d trials, in the middle of a %d-trial task"
          % (committed, total, trials))
    d = start(data, build, extra)
    j = wait_done(d, token, jid)
    res = call(d, token, "/jobs/%d/results" % jid)
    images = metric(d, "brownout_images_total")
    per = MULTI_SPEC["limit"]
    rc = d.stop()
    if j["state"] != "done" or not res["complete"] or rc != 0:
        print("FAIL crash-multi: job ended %s (complete %s), SIGTERM exit %s"
              % (j["state"], res["complete"], rc))
        fails += 1
    if j["progress"]["trials_total"] != total or j["progress"]["trials_done"] != total:
        print("FAIL crash-multi: progress %r, want %d trials" % (j["progress"], total))
        fails += 1
    # after the restart exactly the trials not committed before the kill ran
    if images != (total - committed) * per:
        print("FAIL crash-multi: the restarted daemon evaluated %d images, want (%d - %d)"
              " trials x %d = %d: committed trials ran again" % (
                  images, total, committed, per, (total - committed) * per))
        fails += 1
    db = sqlite3.connect(dbpath)
    for pt in range(npts):
        rs = db.execute("SELECT trial_lo, trial_hi, state FROM tasks WHERE job_id = ? AND"
                        " point = ? ORDER BY trial_lo", (jid, pt)).fetchall()
        nxt = 0
        for lo, hi, state in rs:
            if lo != nxt or hi <= lo or state != "done":
                break
            nxt = hi
        if nxt != trials or len(rs) > trials:
            print("FAIL crash-multi: point %d tasks %r do not partition [0, %d)" % (pt, rs,
                                                                                   trials))
            fails += 1
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    if integrity != "ok":
        print("FAIL crash-multi: integrity_check %r" % integrity)
        fails += 1
    cli = subprocess.run(
        [os.path.join(build, "brownout"), "sweep", MODEL4, FMNIST, "--p",
         ",".join(repr(p) for p in MULTI_SPEC["p"]), "--trials", str(trials),
         "--limit", str(MULTI_SPEC["limit"]), "--seed", str(MULTI_SPEC["seed"]),
         "--threads", "1", "--json"], check=True, capture_output=True, text=True)
    fails += compare(res, json.loads(cli.stdout), "crash-multi")
    if not fails:
        print("ok   multi-trial tasks: resumed job equals the uninterrupted run; no trial ran"
              " twice (%d images after the restart); task ranges partition every point"
              % images)
    else:
        print(d.log_tail())
    return fails


def auto_case(build, tmp):
    """images_per_trial = auto, SIGKILLed once some pilot trials are stored:
    after the restart every stored pilot trial is kept as it was (not run
    again: the point's n comes from the same rows), and each point equals
    `brownout sweep` at its n; 0 or the failures."""
    data = os.path.join(tmp, "data-auto")
    os.mkdir(data)
    token = admin_cmd(data, "user", "add", "crash", build=build)
    d = start(data, build)
    with open(MODEL4, "rb") as f:
        m = call(d, token, "/models?name=f4", f.read())
    ds = call(d, token, "/datasets", {"name": "fm", "path": FMNIST})
    spec = {"p": [1e-2, 2e-2, 3e-2, 5e-2], "trials": 6, "limit": 300, "seed": 13,
            "images_per_trial": "auto"}
    jid = call(d, token, "/jobs", dict(spec, model=m["id"], dataset=ds["id"]))["id"]
    dbpath = os.path.join(data, "brownout.db")
    q = "SELECT point, trial, correct, images, cost_trial, cost_image FROM pilots" \
        " WHERE job_id = ? ORDER BY point, trial"
    kill_after_rows(d, dbpath, "pilots", jid, 2)
    db = sqlite3.connect(dbpath)
    before = db.execute(q, (jid,)).fetchall()
    stored = db.execute("SELECT COUNT(*) FROM results WHERE job_id = ?", (jid,)).fetchone()[0]
    db.close()
    total = len(spec["p"]) * spec["trials"]
    if not before or stored >= total:
        print("FAIL crash-auto: wanted to kill after a stored pilot, before the end: %d pilot"
              " trials, %d of %d trials" % (len(before), stored, total))
        return 1
    print("ok   auto job killed with SIGKILL after %d pilot trials and %d of %d trials"
          % (len(before), stored, total))
    d = start(data, build)
    j = wait_done(d, token, jid)
    res = call(d, token, "/jobs/%d/results" % jid)
    rc = d.stop()
    db = sqlite3.connect(dbpath)
    after = db.execute(q, (jid,)).fetchall()
    db.close()
    fails = 0
    if j["state"] != "done" or not res["complete"] or rc != 0:
        print("FAIL crash-auto: job %s, complete %s, exit %s" % (j["state"], res["complete"], rc))
        return 1
    if not set(before) <= set(after) or len(after) != 3 * len(spec["p"]):
        print("FAIL crash-auto: pilot trials before the kill %r, after %r" % (before, after))
        fails += 1
    for i, pt in enumerate(res["points"]):
        cli = subprocess.run(
            [os.path.join(build, "brownout"), "sweep", MODEL4, FMNIST, "--p", repr(spec["p"][i]),
             "--trials", "6", "--limit", "300", "--seed", "13", "--threads", "1",
             "--images-per-trial", str(pt["n"]), "--json"],
            check=True, capture_output=True, text=True)
        fails += compare({"points": [pt], "clean_accuracy": res["clean_accuracy"]},
                         json.loads(cli.stdout), "crash-auto")
    if not fails:
        print("ok   after the restart the auto job kept its stored pilots, chose n %r, and"
              " equals brownout sweep at each point's n" % [pt["n"] for pt in res["points"]])
    return fails


def optimize_case(build, tmp):
    """An optimize job (issue 14), SIGKILLed once some of its evaluations
    are stored: after the restart its deterministic search replays over the
    memo (opt_trials), so every trial stored before the kill is found, not
    run again (the job's progress counts them: cached = the rows before the
    kill, evaluated = the rows added after), the rows stored before are
    kept as they were, and the answer equals an uninterrupted `brownout
    optimize --json`; 0 or the failures."""
    data = os.path.join(tmp, "data-opt")
    os.mkdir(data)
    token = admin_cmd(data, "user", "add", "crash", build=build)
    d = start(data, build)
    with open(MODEL, "rb") as f:
        m = call(d, token, "/models?name=f8", f.read())
    ds = call(d, token, "/datasets", {"name": "fm", "path": FMNIST})
    limit = 48 if os.environ.get("BO_SANITIZED") == "1" else 128
    spec = {"kind": "optimize", "max_loss": 0.01, "limit": limit, "calib": 64,
            "block_p_grid": [1e-3, 3e-3, 1e-2], "curve_trials": 1, "min_trials": 2,
            "max_trials": 4, "budget_trials": 40, "verify_trials": 3, "baseline_trials": 1,
            "seed": 5}
    jid = call(d, token, "/jobs", dict(spec, model=m["id"], dataset=ds["id"]))["id"]
    dbpath = os.path.join(data, "brownout.db")
    q = "SELECT alloc, seed, trial, correct FROM opt_trials WHERE job_id = ?"
    kill_after_rows(d, dbpath, "opt_trials", jid, 6)
    db = sqlite3.connect(dbpath)
    before = set(db.execute(q, (jid,)).fetchall())
    state = db.execute("SELECT state FROM jobs WHERE id = ?", (jid,)).fetchone()[0]
    db.close()
    if len(before) < 6 or state == "done":
        print("FAIL crash-optimize: wanted to kill mid-search: %d trials stored, job %s"
              % (len(before), state))
        return 1
    print("ok   optimize job killed with SIGKILL after %d stored evaluations" % len(before))
    d = start(data, build)
    j = wait_done(d, token, jid)
    res = call(d, token, "/jobs/%d/results" % jid)
    rc = d.stop()
    db = sqlite3.connect(dbpath)
    after = set(db.execute(q, (jid,)).fetchall())
    db.close()
    if j["state"] != "done" or not res["complete"] or rc != 0:
        print("FAIL crash-optimize: job %s (%s), complete %s, exit %s"
              % (j["state"], j["error"], res["complete"], rc))
        return 1
    fails = 0
    pr = j["optimize"]
    if not before <= after or pr["cached"] != len(before) or \
            pr["evaluated"] != len(after) - len(before):
        print("FAIL crash-optimize: %d rows before the kill, %d after (kept: %s); the resumed run"
              " found %d cached and evaluated %d" % (len(before), len(after), before <= after,
                                                     pr["cached"], pr["evaluated"]))
        fails += 1
    cli = subprocess.run(
        [os.path.join(build, "brownout"), "optimize", MODEL, FMNIST, "--max-loss", "0.01",
         "--limit", str(limit), "--calib", "64", "--block-p-grid", "1e-3,3e-3,1e-2",
         "--curve-trials", "1", "--min-trials", "2", "--max-trials", "4", "--budget-trials", "40",
         "--verify-trials", "3", "--baseline-trials", "1", "--seed", "5", "--threads", "1",
         "--json"], check=True, capture_output=True, text=True)
    want = json.loads(cli.stdout)
    for k in ("allocation", "energy_ratio", "accuracy_floor", "search", "verification",
              "evaluations"):
        if res[k] != want[k]:
            print("FAIL crash-optimize: %s: resumed job %r, uninterrupted CLI %r"
                  % (k, res[k], want[k]))
            fails += 1
    if not fails:
        print("ok   the resumed optimize job found its %d stored evaluations (ran %d more) and"
              " equals an uninterrupted brownout optimize" % (pr["cached"], pr["evaluated"]))
    return fails


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = os.path.abspath(build)
    if not os.path.isdir(FMNIST):
        print("crash: skipped (no %s)" % FMNIST)
        return 0
    fails = 0
    with tempfile.TemporaryDirectory(prefix="brownoutd-crash-") as tmp:
        fails += multi_trial_case(build, tmp)
    with tempfile.TemporaryDirectory(prefix="brownoutd-crash-") as tmp:
        fails += auto_case(build, tmp)
    with tempfile.TemporaryDirectory(prefix="brownoutd-crash-") as tmp:
        fails += optimize_case(build, tmp)
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
        j = wait_done(d, token, job["id"])
        res = call(d, token, "/jobs/%d/results" % job["id"])
        rc = d.stop()
        multi_fails, fails = fails, 0
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
        fails += multi_fails
        print("crash: %s" % ("passed" if not fails else "%d failures" % fails))
        return 1 if fails else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for daemon in STARTED:
            daemon.kill()

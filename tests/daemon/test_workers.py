#!/usr/bin/python3
"""Remote workers (issue 11): brownoutd with no local workers (--workers 0)
and a 2 s lease, and two `brownout worker` processes pulling its tasks over
HTTP. One worker is SIGKILLed while it holds a task; the other gets no
heartbeats out during its first task (--test-drop-heartbeats 1), so its
lease expires under it and its late results must be refused (HTTP 409).
The job must still finish with results equal to `brownout sweep`'s, number
for number, with no trial counted twice: the task ranges partition every
point's trials, and the images the daemon counts as evaluated are exactly
trials x images per trial (a refused or double commit would change them).
Also: worker tokens call /api/v1/worker/* only, user tokens cannot claim,
and GET /api/v1/workers lists the workers.

References (issue 11): a job with reference models on the same daemon
(--workers 0) is run to the end by a remote worker, reference tasks
included; its results (the references' clean accuracy and E_o, every
point's iso-accuracy energy reduction) equal those of the same job on a
daemon with a local worker, stored counts included, and `brownout sweep
--references`' number for number. A reference claim names the reference
model's blob, and a bad reference result (correct > images) is refused 400.
A job whose model has no activation site under its rule warns when remote
workers ran it, as when the local pool did (one source for the clean pass).

    tests/daemon/test_workers.py BUILD
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import FIXTURES, FMNIST, Daemon, admin_cmd, http_request
from test_api import SPEC as OPENAPI  # docs/openapi.yaml as a validator of answers
from test_api import have_onnx, tiny_onnx

MODEL = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
F6 = os.path.join(FIXTURES, "fmnist_preact_f6.onnx")
F8 = os.path.join(FIXTURES, "fmnist_preact_f8.onnx")
# f8 against references f4 and f6: at 1e-3 the energy reduction is defined
# (a fixture fact, checked below), at 1e-2 it is not
REF_SPEC = {"p": [1e-3, 1e-2], "trials": 2, "limit": 100, "seed": 3}
# 2 points x 24 trials stored as 2 tasks (--job-max-tasks 2): each task is
# committed in slices of about 2 s (the worker's slice), several a task
SPEC = {"p": [1e-2, 3e-2], "trials": 24, "limit": 300, "seed": 5, "target": "both",
        "deviation": "bm"}
PROCS = []


def call(d, token, method, path, body=None, want=200, validate=True):
    status, hdrs, raw = http_request(d.port, method, "/api/v1" + path, body, token, timeout=30)
    if validate:
        OPENAPI.check(method, "/api/v1" + path, status, hdrs, raw)
    if status != want:
        raise AssertionError("%s %s: HTTP %d (want %d): %s\n%s" % (method, path, status, want,
                                                                raw[:300], d.log_tail()))
    return json.loads(raw) if raw else None


def metric(d, name):
    status, hdrs, raw = http_request(d.port, "GET", "/metrics", timeout=30)
    for line in raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("/metrics has no %s" % name)


def worker(build, d, token, name, cache, log, extra=()):
    p = subprocess.Popen([os.path.join(build, "brownout"), "worker", "--server",
                          "http://127.0.0.1:%d" % d.port, "--token", token, "--name", name,
                          "--cache", cache] + list(extra),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(log, "wb"))
    PROCS.append(p)
    return p


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no %s)" % path
    return "%s:\n%s" % (path, "\n".join("  " + ln for ln in lines[-n:]))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    if not os.path.isdir(FMNIST):
        print("workers: skipped (no %s)" % FMNIST)
        return 0
    fails = 0
    with tempfile.TemporaryDirectory(prefix="brownoutd-workers-") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        token = admin_cmd(data, "user", "add", "lab", build=build)
        wtoken = admin_cmd(data, "token", "create", "lab", "--worker", build=build)
        d = Daemon(data, "brownoutd.log", build=build,
                   extra=["--workers", "0", "--lease-seconds", "2", "--job-max-tasks", "2"])
        d.start()
        try:
            fails += run(build, d, tmp, data, token, wtoken)
            fails += run_references(build, d, tmp, token, wtoken)
            fails += run_nested(build, d, tmp, token, wtoken)
            fails += run_auto(build, d, tmp, token, wtoken)
        finally:
            for p in PROCS:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            rc = d.stop()
        if rc != 0:
            print("FAIL workers: brownoutd's SIGTERM exit status %s\n%s" % (rc, d.log_tail()))
            fails += 1
        # a sanitizer report in a worker (it may not stop the job)
        for log in ("w1.log", "w2.log", "w3.log", "w4.log", "w5.log"):
            text = tail(os.path.join(tmp, log), 10000)
            if "Sanitizer" in text or "runtime error:" in text:
                print("FAIL workers: %s" % text)
                fails += 1
    print("workers: %d passed, %d failed, 0 skipped" % (0 if fails else 1, 1 if fails else 0))
    return 1 if fails else 0


def run(build, d, tmp, data, token, wtoken):
    fails = 0
    # tokens: each kind to its own endpoints
    call(d, token, "POST", "/worker/claim", {"name": "x"}, want=403)
    # (any user endpoint answers a worker token 403: the securityScheme says so)
    call(d, wtoken, "GET", "/jobs", want=403, validate=False)
    call(d, wtoken, "POST", "/worker/claim", {"name": "x"}, want=204)  # nothing queued
    call(d, wtoken, "POST", "/worker/claim", {"name": "bad name"}, want=400)
    call(d, wtoken, "GET", "/worker/blobs/" + "0" * 64, want=404)
    call(d, wtoken, "POST", "/worker/leases/12345/heartbeat", {}, want=409)
    print("ok   worker tokens call /worker/* only; user tokens cannot claim")

    with open(MODEL, "rb") as f:
        m = call(d, token, "POST", "/models?name=f4", f.read(), want=201)
    ds = call(d, token, "POST", "/datasets", {"name": "fm", "path": FMNIST}, want=201)
    job = call(d, token, "POST", "/jobs", dict(SPEC, model=m["id"], dataset=ds["id"]),
               want=202)
    jid = job["id"]
    # by hand: a claim, a blob it names (checked), a heartbeat, bad results,
    # and giving the task back (no trials) so that the workers get it
    cl = call(d, wtoken, "POST", "/worker/claim", {"name": "x", "host": "h"})
    lease = cl["lease"]
    status, hdrs, raw = http_request(d.port, "GET", "/api/v1/worker/blobs/" +
                                     cl["model"]["sha256"], None, wtoken, timeout=30)
    if status != 200 or hashlib.sha256(raw).hexdigest() != cl["model"]["sha256"]:
        print("FAIL workers: blob %s: HTTP %d, %d bytes" % (cl["model"]["sha256"], status,
                                                            len(raw)))
        fails += 1
    call(d, token, "GET", "/worker/blobs/" + cl["model"]["sha256"], want=403)
    call(d, wtoken, "POST", "/worker/leases/%d/heartbeat" % lease, {})
    n = cl["task"]["trial_hi"] - cl["task"]["trial_lo"]
    call(d, wtoken, "POST", "/worker/leases/%d/results" % lease,
         {"trial_lo": cl["task"]["trial_lo"], "correct": [0] * (n + 1), "images": 300}, want=400)
    call(d, wtoken, "POST", "/worker/leases/%d/results" % lease,
         {"trial_lo": cl["task"]["trial_lo"], "correct": [301], "images": 300}, want=400)
    back = call(d, wtoken, "POST", "/worker/leases/%d/results" % lease,
                {"trial_lo": cl["task"]["trial_lo"], "correct": [], "images": 300})
    if back["taken"] != 0:
        print("FAIL workers: giving a task back took %r" % back)
        fails += 1
    call(d, wtoken, "POST", "/worker/leases/%d/heartbeat" % lease, {}, want=409)
    npts, trials = len(SPEC["p"]), SPEC["trials"]
    total = npts * trials
    killed = worker(build, d, wtoken, "w-killed", os.path.join(tmp, "cache1"),
                    os.path.join(tmp, "w1.log"))
    stalled_log = os.path.join(tmp, "w2.log")
    stalled = worker(build, d, wtoken, "w-stalled", os.path.join(tmp, "cache2"), stalled_log,
                     ["--test-drop-heartbeats", "1"])
    # SIGKILL w-killed while it holds a task: its first, whose set-up
    # (fetching blobs, the sweeper) and trials take seconds, or a later one
    # once some trials are in. (Waiting for trials first is not enough: a
    # fast build runs a whole 24-trial task in one slice, and the job can
    # end before w-killed is seen holding another.)
    deadline = time.time() + 120
    held = None
    while time.time() < deadline and held is None:
        j = call(d, token, "GET", "/jobs/%d" % jid)
        ws = {w["name"]: w for w in call(d, token, "GET", "/workers")["items"]}
        w1 = ws.get("w-killed")
        if w1 and w1["task"] is not None:
            held = w1["task"]
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait()
        elif j["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.05)
    if held is None:
        print("FAIL workers: w-killed was never seen holding a task (job %s)\n%s\n%s"
              % (j["state"], tail(os.path.join(tmp, "w1.log")), tail(stalled_log)))
        return fails + 1
    if w1["state"] != "busy":
        print("FAIL workers: w-killed holds task %d, /workers says state %r" % (held, w1["state"]))
        fails += 1
    done_at_kill = call(d, token, "GET", "/jobs/%d" % jid)["progress"]["trials_done"]
    print("ok   SIGKILLed w-killed holding task %d, %d of %d trials in" % (held, done_at_kill,
                                                                          total))
    deadline = time.time() + 300
    while time.time() < deadline:
        j = call(d, token, "GET", "/jobs/%d" % jid)
        if j["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    res = call(d, token, "GET", "/jobs/%d/results" % jid)
    # SIGTERM stops an idle worker cleanly (status 0; leaks would show here)
    stalled.send_signal(signal.SIGTERM)
    try:
        wrc = stalled.wait(timeout=60)
    except subprocess.TimeoutExpired:
        wrc = None
    if wrc != 0:
        print("FAIL workers: w-stalled's SIGTERM exit status %s\n%s" % (wrc, tail(stalled_log)))
        fails += 1
    ws = {w["name"]: w for w in call(d, token, "GET", "/workers")["items"]}
    images = metric(d, "brownout_images_total")
    if j["state"] != "done" or not res["complete"]:
        print("FAIL workers: job ended %s (complete %s)\n%s" % (j["state"], res["complete"],
                                                                d.log_tail()))
        return fails + 1
    # the stalled worker's first results came after its lease: refused
    with open(stalled_log) as f:
        slog = f.read()
    if "results refused (HTTP 409)" not in slog and "lease lost" not in slog:
        print("FAIL workers: w-stalled's late results were not refused:\n%s" % slog[-2000:])
        fails += 1
    else:
        print("ok   w-stalled's results from an expired lease were refused")
    if set(ws) != {"x", "w-killed", "w-stalled"} or ws["w-stalled"]["images"] <= 0 or \
            ws["w-stalled"]["images_per_second"] <= 0 or ws["w-stalled"]["task"] is not None or \
            ws["w-stalled"]["tasks_done"] < 1 or ws["x"]["tasks_done"] != 0 or \
            any(w["state"] not in ("idle", "offline") for w in ws.values()):
        print("FAIL workers: /workers lists %r" % ws)
        fails += 1
    # no trial counted twice: ranges partition, images exactly the trials'
    per = SPEC["limit"]
    if images != total * per:
        print("FAIL workers: the daemon counted %d images evaluated, want %d trials x %d = %d"
              % (images, total, per, total * per))
        fails += 1
    db = sqlite3.connect(os.path.join(data, "brownout.db"))
    for pt in range(npts):
        rs = db.execute("SELECT trial_lo, trial_hi, state FROM tasks WHERE job_id = ? AND"
                        " point = ? ORDER BY trial_lo", (jid, pt)).fetchall()
        nxt = 0
        for lo, hi, state in rs:
            if lo != nxt or hi <= lo or state != "done":
                break
            nxt = hi
        if nxt != trials:
            print("FAIL workers: point %d tasks %r do not partition [0, %d)" % (pt, rs, trials))
            fails += 1
    retried = db.execute("SELECT MAX(attempts) FROM tasks WHERE job_id = ?", (jid,)).fetchone()[0]
    db.close()
    if retried < 2:
        print("FAIL workers: no task was claimed twice, so no lease was lost")
        fails += 1
    cli = subprocess.run(
        [os.path.join(build, "brownout"), "sweep", MODEL, FMNIST, "--p",
         ",".join(repr(p) for p in SPEC["p"]), "--trials", str(trials),
         "--limit", str(per), "--seed", str(SPEC["seed"]), "--threads", "1", "--json"],
        check=True, capture_output=True, text=True)
    want = json.loads(cli.stdout)
    keys = ["p", "accuracy_mean", "accuracy_std", "ci95", "trials", "images", "eta", "energy",
            "trial_accuracies"]
    for a, b in zip(res["points"], want["points"]):
        for k in keys:
            if a[k] != b[k]:
                print("FAIL workers: p=%g %s: workers %r, CLI %r" % (b["p"], k, a[k], b[k]))
                fails += 1
    if res["clean_accuracy"] != want["clean_accuracy"] or len(res["points"]) != npts:
        print("FAIL workers: clean accuracy %r vs CLI %r" % (res["clean_accuracy"],
                                                             want["clean_accuracy"]))
        fails += 1
    if not fails:
        print("ok   job done by remote workers equals `brownout sweep` number for number;"
              " %d images for %d trials, task ranges partition every point" % (images, total))
    return fails


def cli_sweep(build, args):
    r = subprocess.run([os.path.join(build, "brownout"), "sweep"] + args + ["--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        raise AssertionError("brownout sweep %s: %s" % (" ".join(args), r.stderr.decode()))
    return json.loads(r.stdout)


def run_auto(build, d, tmp, token, wtoken):
    """images_per_trial = auto on two remote workers: every point's pilot
    (3 trials at n0 = min(300, 256) = 256, with the costs the workers
    measured) and its trials at the n chosen from it are stored as tasks;
    each point equals `brownout sweep` at its n, trial for trial, and its
    results hold 4 trials at n (the pilot's, when n = n0, reused)."""
    m = call(d, token, "POST", "/models?name=f4-auto", open(MODEL, "rb").read(), want=201)
    ds = call(d, token, "POST", "/datasets", {"name": "fm-auto", "path": FMNIST}, want=201)
    spec = {"p": [1e-2, 3e-2, 5e-2], "trials": 4, "limit": 300, "seed": 9,
            "images_per_trial": "auto"}
    jid = call(d, token, "POST", "/jobs", dict(spec, model=m["id"], dataset=ds["id"]),
               want=202)["id"]
    ws = [worker(build, d, wtoken, "w-auto-%d" % i, os.path.join(tmp, "cache-auto-%d" % i),
                 os.path.join(tmp, "w%d.log" % (4 + i))) for i in range(2)]
    j = wait_done(d, token, jid)
    for w in ws:
        w.send_signal(signal.SIGTERM)
    for w in ws:
        try:
            w.wait(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
    if j["state"] != "done":
        print("FAIL workers: the auto job ended %s\n%s\n%s" % (j["state"], d.log_tail(),
                                                             tail(os.path.join(tmp, "w4.log"))))
        return 1
    res = call(d, token, "GET", "/jobs/%d/results" % jid)
    db = sqlite3.connect(os.path.join(d.data, "brownout.db"))
    pilots = db.execute("SELECT point, COUNT(*), MIN(images), MAX(images), MIN(cost_image)"
                        " FROM pilots WHERE job_id = ? GROUP BY point", (jid,)).fetchall()
    stored = db.execute("SELECT point, COUNT(*), MIN(images), MAX(images) FROM results"
                        " WHERE job_id = ? GROUP BY point", (jid,)).fetchall()
    db.close()
    errs = []
    if [r[:4] for r in pilots] != [(i, 3, 256, 256) for i in range(3)] or \
            any(r[4] <= 0 for r in pilots):
        errs.append("stored pilots %r" % pilots)
    base = [MODEL, FMNIST]
    for i, pt in enumerate(res["points"]):
        n = pt["n"]
        if stored[i] != (i, 4, n, n) or not 32 <= n <= 300:
            errs.append("point %d: n %d, stored trials %r" % (i, n, stored[i]))
        if pt["pilot"] is None or (pt["pilot"]["trials"], pt["pilot"]["images_per_trial"]) != \
                (3, 256):
            errs.append("point %d: pilot %r" % (i, pt["pilot"]))
        cli = cli_sweep(build, base + ["--p", repr(spec["p"][i]), "--trials", "4", "--limit",
                                       "300", "--seed", "9", "--threads", "1",
                                       "--images-per-trial", str(n)])["points"][0]
        for k in ("trial_accuracies", "images", "n", "yield", "q50", "yield_note"):
            if pt[k] != cli[k]:
                errs.append("point %d %s: job %r, brownout sweep at n %d %r"
                            % (i, k, pt[k], n, cli[k]))
    if errs:
        print("FAIL workers: images_per_trial auto on remote workers:\n  " + "\n  ".join(errs))
        return 1
    print("ok   images_per_trial auto on two remote workers: pilots at 256 with costs, n %r,"
          " every point equal to brownout sweep at its n" % [pt["n"] for pt in res["points"]])
    return 0


def upload_models(d, token):
    ids = {}
    for name, path in (("f8", F8), ("f4", MODEL), ("f6", F6)):
        with open(path, "rb") as f:
            ids[name] = call(d, token, "POST", "/models?name=" + name, f.read(), want=201)["id"]
    return ids


def submit_ref_job(d, token):
    """The job of f8 with references f4, f6 on Fashion-MNIST; its id, the
    models' ids and the dataset's id."""
    ids = upload_models(d, token)
    ds = call(d, token, "POST", "/datasets", {"name": "fm-ref", "path": FMNIST}, want=201)
    job = call(d, token, "POST", "/jobs", dict(REF_SPEC, model=ids["f8"], dataset=ds["id"],
                                               references=[ids["f4"], ids["f6"]]), want=202)
    return job["id"], ids, ds["id"]


def wait_done(d, token, jid, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        j = call(d, token, "GET", "/jobs/%d" % jid)
        if j["state"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    return call(d, token, "GET", "/jobs/%d" % jid)


def stored_refs(data, jid):
    db = sqlite3.connect(os.path.join(data, "brownout.db"))
    rows = db.execute("SELECT position, correct, images, parameters, activations FROM"
                      " job_references WHERE job_id = ? ORDER BY position", (jid,)).fetchall()
    db.close()
    return rows


def run_references(build, d, tmp, token, wtoken):
    fails = 0
    # the same job on a daemon of its own with one local worker, meanwhile
    ldata = os.path.join(tmp, "data-local")
    os.mkdir(ldata)
    ltoken = admin_cmd(ldata, "user", "add", "lab", build=build)
    ld = Daemon(ldata, "brownoutd-local.log", build=build, extra=["--workers", "1"])
    ld.start()
    try:
        ljid, _, _ = submit_ref_job(ld, ltoken)
        jid, ids, dsid = submit_ref_job(d, token)
        # by hand: claim until the first reference task (2 trial tasks come
        # first), holding every lease, then give them all back
        held, ref = [], None
        for _ in range(4):
            cl = call(d, wtoken, "POST", "/worker/claim", {"name": "x"})
            held.append(cl)
            if cl["task"]["kind"] == "reference":
                ref = cl
                break
        if ref is None or ref["task"]["job"] != jid or ref["task"]["point"] != 0:
            print("FAIL workers: no claim of job %d's first reference task: %r"
                  % (jid, [c["task"] for c in held]))
            return fails + 1
        with open(MODEL, "rb") as f:
            want_sha = hashlib.sha256(f.read()).hexdigest()
        status, hdrs, raw = http_request(d.port, "GET", "/api/v1/worker/blobs/" +
                                         ref["reference"]["sha256"], None, wtoken, timeout=30)
        if ref["reference"]["sha256"] != want_sha or status != 200 or \
                hashlib.sha256(raw).hexdigest() != want_sha or \
                ref["reference"]["size"] != len(raw):
            print("FAIL workers: the reference claim names %r, blob HTTP %d, want f4's %s"
                  % (ref["reference"], status, want_sha))
            fails += 1
        lease = ref["lease"]
        for c in held:
            call(d, wtoken, "POST", "/worker/leases/%d/heartbeat" % c["lease"], {})
        good = {"ref_correct": 90, "ref_images": 100, "ref_parameters": 1000,
                "ref_activations": 10}
        for bad in (dict(good, ref_correct=101), dict(good, ref_correct=-1),
                    dict(good, ref_images="100"), dict(good, ref_parameters=None),
                    {"ref_correct": 1}):
            call(d, wtoken, "POST", "/worker/leases/%d/results" % lease, bad, want=400,
                 validate=False)
        for c in held:
            back = call(d, wtoken, "POST", "/worker/leases/%d/results" % c["lease"],
                        {"trial_lo": c["task"]["trial_lo"], "correct": [], "images": 0})
            if back["taken"] != 0:
                print("FAIL workers: giving a task back took %r" % back)
                fails += 1
        call(d, wtoken, "POST", "/worker/leases/%d/results" % lease, good, want=409)
        print("ok   a reference claim names the reference's blob; correct > images and"
              " other bad reference results are refused 400")
        # no site under the rule: the clean pass recorded from a worker warns
        sjid = None
        if have_onnx():
            sm = call(d, token, "POST", "/models?name=sigmoid-only&normalize=none",
                      tiny_onnx(1, 28, 28, act="Sigmoid"), want=201)
            sjid = call(d, token, "POST", "/jobs",
                        {"model": sm["id"], "dataset": dsid, "p": [0.0], "trials": 1,
                         "limit": 8, "calib": 8, "mean": [0], "std": [1],
                         "activation_sites": "relu"}, want=202)["id"]
        # one remote worker runs the whole job (--workers 0: nothing else can)
        w3log = os.path.join(tmp, "w3.log")
        w3 = worker(build, d, wtoken, "w-ref", os.path.join(tmp, "cache3"), w3log)
        j = wait_done(d, token, jid)
        if sjid is not None:
            sj = wait_done(d, token, sjid)
            if sj["state"] != "done" or len(sj["warnings"]) != 1 or \
                    "no activation site under the rule 'relu'" not in sj["warnings"][0]:
                print("FAIL workers: a job of no relu site on remote workers: %s, warnings %r"
                      % (sj["state"], sj["warnings"]))
                fails += 1
            else:
                print("ok   a job with no site under its rule warns when remote workers ran it")
        w3.send_signal(signal.SIGTERM)
        try:
            w3rc = w3.wait(timeout=60)
        except subprocess.TimeoutExpired:
            w3rc = None
        lj = wait_done(ld, ltoken, ljid)
        if j["state"] != "done" or lj["state"] != "done" or w3rc != 0:
            print("FAIL workers: the reference job ended %s on remote workers (worker exit %s),"
                  " %s on a local worker\n%s\n%s\n%s" % (j["state"], w3rc, lj["state"],
                                                        tail(w3log), d.log_tail(),
                                                        ld.log_tail()))
            return fails + 1
        res = call(d, token, "GET", "/jobs/%d/results" % jid)
        lres = call(ld, ltoken, "GET", "/jobs/%d/results" % ljid)
        rrows, lrows = stored_refs(d.data, jid), stored_refs(ldata, ljid)
    finally:
        lrc = ld.stop()
    if lrc != 0:
        print("FAIL workers: the local daemon's SIGTERM exit status %s\n%s" % (lrc,
                                                                            ld.log_tail()))
        fails += 1
    if rrows != lrows or len(rrows) != 2 or any(r[2] != REF_SPEC["limit"] for r in rrows):
        print("FAIL workers: stored references: remote %r, local %r" % (rrows, lrows))
        fails += 1
    keys = ["clean_accuracy", "parameters", "activations", "references", "points", "complete"]
    for k in keys:
        if res[k] != lres[k]:
            print("FAIL workers: %s: remote workers %r, local worker %r" % (k, res[k], lres[k]))
            fails += 1
    cli = subprocess.run(
        [os.path.join(build, "brownout"), "sweep", F8, FMNIST, "--p",
         ",".join(repr(p) for p in REF_SPEC["p"]), "--trials", str(REF_SPEC["trials"]),
         "--limit", str(REF_SPEC["limit"]), "--seed", str(REF_SPEC["seed"]), "--threads", "1",
         "--references", MODEL + "," + F6, "--json"],
        check=True, capture_output=True, text=True)
    want = json.loads(cli.stdout)
    for k in ("clean_accuracy", "parameters", "activations"):
        if res[k] != want[k]:
            print("FAIL workers: %s: workers %r, CLI %r" % (k, res[k], want[k]))
            fails += 1
    got_refs = [(r["model"], r["energy"], r["accuracy"]) for r in res["references"]]
    want_refs = [(n, r["energy"], r["accuracy"]) for n, r in zip(("f4", "f6"),
                                                                 want["references"])]
    if got_refs != want_refs:
        print("FAIL workers: references: workers %r, CLI %r" % (got_refs, want_refs))
        fails += 1
    pkeys = ["p", "accuracy_mean", "accuracy_std", "ci95", "trials", "images", "eta", "energy",
             "energy_reduction", "trial_accuracies"]
    if len(res["points"]) != len(want["points"]):
        print("FAIL workers: %d points, CLI %d" % (len(res["points"]), len(want["points"])))
        fails += 1
    for a, b in zip(res["points"], want["points"]):
        for k in pkeys:
            if a[k] != b[k]:
                print("FAIL workers: p=%g %s: workers %r, CLI %r" % (b["p"], k, a[k], b[k]))
                fails += 1
    if res["points"][0]["energy_reduction"] is None:
        print("FAIL workers: no energy reduction at p=%g: the comparison compared nothing"
              % res["points"][0]["p"])
        fails += 1
    if not fails:
        print("ok   a job with references on --workers 0 ran on a remote worker: its references"
              " (%s) and energy reductions equal a local worker's and `brownout sweep"
              " --references`'" % ", ".join("%s E_o %.0f acc %.3f" % r for r in got_refs))
    return fails


# Nested weight faults (spec 4b): chip t is keyed by (seed, t, weight), not
# carried between tasks, so a job whose points run as separate tasks on two
# worker processes has the CLI's chips, number for number.
NESTED_SPEC = {"p": [1e-2, 3e-2], "trials": 6, "limit": 100, "seed": 9, "target": "weights",
               "weight_faults": "nested"}


def run_nested(build, d, tmp, token, wtoken):
    ds = call(d, token, "POST", "/datasets", {"name": "fm-nested", "path": FMNIST}, want=201)
    with open(MODEL, "rb") as f:
        mid = call(d, token, "POST", "/models?name=f4-nested", f.read(), want=201)["id"]
    jid = call(d, token, "POST", "/jobs", dict(NESTED_SPEC, model=mid, dataset=ds["id"]),
               want=202)["id"]
    ws = [worker(build, d, wtoken, "w-nested-%d" % i, os.path.join(tmp, "cache%d" % (4 + i)),
                 os.path.join(tmp, "w%d.log" % (4 + i))) for i in range(2)]
    j = wait_done(d, token, jid)
    for w in ws:
        w.send_signal(signal.SIGTERM)
        try:
            w.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    if j["state"] != "done":
        print("FAIL workers: the nested job ended %s\n%s" % (j["state"], d.log_tail()))
        return 1
    res = call(d, token, "GET", "/jobs/%d/results" % jid)
    cli = subprocess.run(
        [os.path.join(build, "brownout"), "sweep", MODEL, FMNIST, "--p",
         ",".join(repr(p) for p in NESTED_SPEC["p"]), "--trials", str(NESTED_SPEC["trials"]),
         "--limit", str(NESTED_SPEC["limit"]), "--seed", str(NESTED_SPEC["seed"]),
         "--target", "weights", "--weight-faults", "nested", "--threads", "1", "--json"],
        check=True, capture_output=True, text=True)
    want = json.loads(cli.stdout)
    fails = 0
    for k in ("chips", "yield_curve"):
        if res[k] != want[k]:
            print("FAIL workers: nested %s: workers %r, CLI %r" % (k, res[k], want[k]))
            fails += 1
    if res["chips"] is None or res["chips"]["count"] != NESTED_SPEC["trials"]:
        print("FAIL workers: nested job without its %d chips: %r" % (NESTED_SPEC["trials"],
                                                                    res["chips"]))
        fails += 1
    if not fails:
        print("ok   a nested job run as tasks on two remote workers has `brownout sweep"
              " --weight-faults nested`'s chips and yield curve")
    return fails


if __name__ == "__main__":
    sys.exit(main())

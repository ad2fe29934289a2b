#!/usr/bin/python3
"""brownoutd's SLURM executor (daemon/slurm.c) on a real one-node cluster
that tests/slurm/test_slurm.sh started (SLURM_CONF points at it).

brownoutd runs with executor = slurm and no local workers; a sweep
submitted over the API must run on `brownout worker`s that brownoutd
itself submitted with sbatch (their names slurm-JOB-TASK in GET
/api/v1/workers), to the numbers `brownout sweep` gives for the same
spec. Once the queue has drained the daemon scancels its array jobs and
deletes their tokens: squeue then lists none of them and no worker
process is left. A second job is stopped halfway by SIGTERM to the
daemon: it must scancel its running workers (squeue empty, no worker
process) and exit 0. A daemon whose sbatch fails (no such partition)
keeps serving and says why in GET /api/v1/workers, and submits nothing.
Waits poll (bounded); nothing sleeps to synchronise.

    tests/slurm/test_executor.py BUILD
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from harness import FIXTURES, FMNIST, REPO, Daemon, admin_cmd, http_request  # noqa: E402
from test_api import SPEC as OPENAPI  # noqa: E402  docs/openapi.yaml checks every answer

MODEL = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
# 2 points x 4 trials of 200 images: 8 one-trial tasks, seconds of work
SPEC = {"p": [1e-2, 3e-2], "trials": 4, "limit": 200, "seed": 7, "target": "both",
        "deviation": "bm"}
KEYS = ["p", "accuracy_mean", "accuracy_std", "ci95", "trials", "images", "eta", "energy",
        "trial_accuracies"]
FAILS = []


def ok(msg):
    print("ok   " + msg)


def bad(msg):
    FAILS.append(msg)
    print("FAIL " + msg)


def call(d, token, method, path, body=None, want=200):
    status, hdrs, raw = http_request(d.port, method, "/api/v1" + path, body, token, timeout=30)
    OPENAPI.check(method, "/api/v1" + path, status, hdrs, raw)
    if status != want:
        raise AssertionError("%s %s: HTTP %d (want %d): %s\n%s" % (method, path, status, want,
                                                                raw[:300], d.log_tail()))
    return json.loads(raw) if raw else None


def wait_for(what, limit, fn, poll=0.1):
    """fn() until it returns something true, at most limit seconds."""
    deadline = time.time() + limit
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("%s: not within %d s" % (what, limit))
        time.sleep(poll)


def our_jobs():
    """squeue lines of brownout-worker jobs (every state squeue shows by default)."""
    out = subprocess.run(["squeue", "-h", "-r", "--me", "--name=brownout-worker", "-o",
                          "%F|%i|%T"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError("squeue: %s" % out.stderr)
    return [ln for ln in out.stdout.splitlines() if ln.strip()]


def worker_pids(port):
    """brownout worker processes serving this daemon."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if b"worker" in argv and b"http://127.0.0.1:%d" % port in argv:
            pids.append(int(p))
    return pids


def expiring_tokens(data):
    db = sqlite3.connect(os.path.join(data, "brownout.db"))
    try:
        return db.execute("SELECT COUNT(*) FROM tokens WHERE expires_at IS NOT NULL").fetchone()[0]
    finally:
        db.close()


def gone(port):
    return not our_jobs() and not worker_pids(port)


def template(tmp):
    """The shipped template, its log in tmp (the test's only change)."""
    with open(os.path.join(REPO, "deploy", "slurm", "brownout-worker.sbatch")) as f:
        text = f.read()
    lines = [ln for ln in text.splitlines() if ln.startswith("#SBATCH --output=")]
    if len(lines) != 1:
        raise AssertionError("deploy/slurm/brownout-worker.sbatch has %d '#SBATCH --output='"
                             " lines, not one" % len(lines))
    path = os.path.join(tmp, "worker.sbatch")
    with open(path, "w") as f:
        f.write(text.replace(lines[0], "#SBATCH --output=%s/worker-%%A_%%a.log" % tmp))
    return path


def daemon(build, data, tmp, extra=()):
    return Daemon(data, "brownoutd.log", build=build,
                  extra=["--workers", "0", "--executor", "slurm", "--slurm-poll", "1",
                         "--slurm-max-workers", "2", "--slurm-template", template(tmp),
                         "--lease-seconds", "10"] + list(extra))


def upload(d, token):
    with open(MODEL, "rb") as f:
        m = call(d, token, "POST", "/models?name=f4", f.read(), want=201)
    ds = call(d, token, "POST", "/datasets", {"name": "fm", "path": FMNIST}, want=201)
    return m["id"], ds["id"]


def cli_sweep(build, spec):
    out = subprocess.run(
        [os.path.join(build, "brownout"), "sweep", MODEL, FMNIST, "--p",
         ",".join(repr(p) for p in spec["p"]), "--trials", str(spec["trials"]),
         "--limit", str(spec["limit"]), "--seed", str(spec["seed"]), "--threads", "1",
         "--json"], check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)


def phase_sweep(build, d, tmp, data, token):
    """A sweep on sbatch workers; then the drain cancels them."""
    st = call(d, token, "GET", "/workers")
    if st.get("slurm", {}).get("submitted") != 0 or st["slurm"]["jobs"]:
        bad("before any job the launcher submitted nothing: %r" % st)
    mid, did = upload(d, token)
    t0 = time.time()
    job = call(d, token, "POST", "/jobs", dict(SPEC, model=mid, dataset=did), want=202)
    seen = {}

    def done():
        j = call(d, token, "GET", "/jobs/%d" % job["id"])
        w = call(d, token, "GET", "/workers")
        for it in w["items"]:
            seen[it["name"]] = it["images"]
        for sj in w["slurm"]["jobs"]:
            seen.setdefault("job " + sj["id"], sj["workers"])
        return j if j["state"] in ("done", "failed", "cancelled") else None
    j = wait_for("the job on sbatch workers ends", 120, done)
    secs = time.time() - t0
    res = call(d, token, "GET", "/jobs/%d/results" % job["id"])
    if j["state"] != "done" or not res["complete"]:
        bad("the job ended %s (complete %s)\n%s" % (j["state"], res["complete"], d.log_tail()))
        return
    workers = sorted(n for n in seen if n.startswith("slurm-"))
    if not workers or not any(seen[n] > 0 for n in workers) or \
            set(seen) - set(workers) - {n for n in seen if n.startswith("job ")}:
        bad("the workers were not brownoutd's sbatch workers: %r" % seen)
    want = cli_sweep(build, SPEC)
    diffs = ["p=%g %s: slurm %r, CLI %r" % (b["p"], k, a[k], b[k])
             for a, b in zip(res["points"], want["points"]) for k in KEYS if a[k] != b[k]]
    if res["clean_accuracy"] != want["clean_accuracy"]:
        diffs.append("clean accuracy %r, CLI %r" % (res["clean_accuracy"],
                                                   want["clean_accuracy"]))
    if len(res["points"]) != len(SPEC["p"]) or diffs:
        bad("slurm results differ from brownout sweep:\n  " + "\n  ".join(diffs))
    else:
        ok("a job on %d sbatch workers (%s) equals `brownout sweep` number for number"
           " (%.1f s)" % (len(workers), ", ".join(workers), secs))
    # drained: cancelled, tokens gone, no job in squeue, no worker left
    t0 = time.time()
    st = wait_for("the launcher forgets its jobs once the queue is empty", 30,
                  lambda: (lambda s: s if not s["jobs"] else None)(
                      call(d, token, "GET", "/workers")["slurm"]))
    wait_for("squeue lists none of its jobs, no worker process is left", 30,
             lambda: gone(d.port))
    left = expiring_tokens(data)
    log = d.log_tail(200)
    if left or "cancelled job" not in log or st["submitted"] < 1 or st["last_error"]:
        bad("after the drain: %d expiring tokens left, launcher %r\n%s" % (left, st, log))
    else:
        ok("queue drained: scancel, %d array job(s) gone from squeue, no worker process, "
           "tokens deleted (%.1f s)" % (st["submitted"], time.time() - t0))


def phase_stop(build, d, tmp, data, token):
    """SIGTERM to the daemon while its workers run: they are cancelled."""
    jobs = call(d, token, "GET", "/jobs")
    mid, did = jobs["items"][0]["model"], jobs["items"][0]["dataset"]
    call(d, token, "POST", "/jobs", dict(SPEC, model=mid, dataset=did, trials=400, seed=8),
         want=202)
    wait_for("a worker runs the long job", 60,
             lambda: any(it["task"] is not None for it in call(d, token, "GET", "/workers")
                         ["items"]) and worker_pids(d.port))
    pids = worker_pids(d.port)
    rc = d.stop()
    try:
        wait_for("squeue lists none of its jobs, no worker process is left", 30,
                 lambda: gone(d.port))
    except AssertionError as e:
        bad("%s: squeue %r, workers %r" % (e, our_jobs(), worker_pids(d.port)))
        return
    left = expiring_tokens(data)
    if rc != 0 or left:
        bad("SIGTERM: exit status %s, %d expiring tokens left\n%s" % (rc, left, d.log_tail()))
    else:
        ok("SIGTERM with %d workers running: scancelled, none left, tokens deleted, exit 0"
           % len(pids))


def phase_sbatch_fails(build, tmp, data, token):
    """sbatch refuses (no such partition): said in /workers, nothing runs."""
    d = daemon(build, data, tmp, ["--slurm-partition", "no_such_partition"])
    d.start()
    try:
        # the stopped job's tasks are queued again: the launcher tries to submit
        st = wait_for("the launcher reports sbatch's failure", 30,
                      lambda: (lambda s: s if s["last_error"] else None)(
                          call(d, token, "GET", "/workers")["slurm"]))
        health = call(d, token, "GET", "/health")
        if "sbatch exited with status" not in st["last_error"] or \
                "partition" not in st["last_error"].lower() or st["jobs"] or st["submitted"] or \
                our_jobs() or health.get("status") != "ok":
            bad("sbatch failure: launcher %r, squeue %r, health %r" % (st, our_jobs(), health))
        else:
            ok("sbatch refused (%s): shown in GET /workers, daemon serves, nothing submitted"
               % st["last_error"])
    finally:
        rc = d.stop()
    if rc != 0 or expiring_tokens(data):
        bad("after failed submissions: exit status %s, %d expiring tokens\n%s"
            % (rc, expiring_tokens(data), d.log_tail()))


def bad_template(build, tmp):
    """A template that is not there: brownoutd says so and does not start."""
    for path, why in ((os.path.join(tmp, "nope.sbatch"), "No such file or directory"),
                      (tmp, "not a regular file")):
        r = subprocess.run([os.path.join(build, "brownoutd"), "--listen", "127.0.0.1:0",
                            "--data", os.path.join(tmp, "data"), "--executor", "slurm",
                            "--slurm-template", path], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        want = "slurm-template %s: %s" % (path, why)
        if r.returncode != 1 or want not in r.stderr or "listening" in r.stdout:
            bad("a bad slurm-template: exit %d, stderr %r (want %r)" % (r.returncode,
                                                                        r.stderr, want))
            return
    ok("a missing or non-file slurm-template stops brownoutd at start, naming it")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    if not os.environ.get("SLURM_CONF"):
        print("SKIP slurm executor: no cluster (SLURM_CONF is not set; run from test_slurm.sh)")
        return 0
    if not os.path.isdir(FMNIST):
        print("SKIP slurm executor: no %s" % FMNIST)
        return 0
    # short and searchable by the job (it runs as this user, but reads the template)
    tmp = tempfile.mkdtemp(prefix="bo-slx.", dir="/tmp")
    os.chmod(tmp, 0o711)
    try:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        token = admin_cmd(data, "user", "add", "lab", build=build)
        d = daemon(build, data, tmp)
        d.start()
        try:
            phase_sweep(build, d, tmp, data, token)
            phase_stop(build, d, tmp, data, token)
        except AssertionError as e:
            bad(str(e))
        finally:
            if d.proc and d.proc.poll() is None:
                d.stop()
        try:
            phase_sbatch_fails(build, tmp, data, token)
            bad_template(build, tmp)
        except AssertionError as e:
            bad(str(e))
        for name in sorted(os.listdir(tmp)):
            if name.startswith("worker-") or name == "brownoutd.log":
                with open(os.path.join(tmp, name), errors="replace") as f:
                    text = f.read()
                if "Sanitizer" in text or "runtime error:" in text:
                    bad("%s:\n%s" % (name, text[-3000:]))
    finally:
        subprocess.run(["rm", "-rf", tmp])
    print("slurm executor: %d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

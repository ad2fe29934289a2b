#!/usr/bin/python3
"""Disk-full test: brownoutd with its data directory on a 20 MB tmpfs that
the test fills. While it is full: an upload and a job submission answer
507 insufficient_storage (not 500), /health says "store": "full", DELETE of
a model, a dataset and a job answers 204 and the model's and dataset's
files give their space back, and the workers back off instead of spinning
(the daemon's CPU time, from /proc/PID/stat, and its log stay bounded over
a polled window). Once space is freed, new work runs to the end, and
everything committed before is still there (same results; integrity_check
ok after a clean stop).

Needs to mount a tmpfs: as root directly, else in a private mount namespace
(`unshare -m`); where neither works (a container without CAP_SYS_ADMIN) it
says why and skips. The tmpfs is unmounted whatever happens.

    tests/daemon/test_diskfull.py BUILD
"""
import errno
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import FIXTURES, Daemon, admin_cmd, http_request

MODEL = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
NPY_IMAGES = os.path.join(FIXTURES, "fmnist_first64.npy")
NPY_LABELS = os.path.join(FIXTURES, "fmnist_first64_labels.npy")
NS_ENV = "BO_DISKFULL_IN_NAMESPACE"
WINDOW = 5.0          # s over which a backing-off daemon is watched
CPU_BUDGET = 1.0      # s of CPU the daemon may use in that window (spinning: ~WINDOW)
LOG_BUDGET = 6        # log lines it may write in that window (spinning: ~50/s)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def multipart(files):
    boundary = "brownout-diskfull-" + os.urandom(8).hex()
    out = []
    for field, filename, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n"
                    % (boundary, field, filename)).encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(d):
    with open(d.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def free_bytes(path):
    v = os.statvfs(path)
    return v.f_bavail * v.f_frsize


def poll(what, fn, deadline_s, d, every=0.1):
    """fn() until it returns something true, at most deadline_s."""
    end = time.monotonic() + deadline_s
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail("%s: not within %.0f s\n%s" % (what, deadline_s, d.log_tail()))
        time.sleep(every)


class Api:
    def __init__(self, d, token):
        self.d, self.token = d, token

    def __call__(self, method, path, body=None, headers=None):
        st, _, raw = http_request(self.d.port, method, "/api/v1" + path, body, self.token,
                                  headers=headers, timeout=60)
        try:
            j = json.loads(raw) if raw else None
        except ValueError:
            j = raw
        return st, j

    def ok(self, method, path, body=None, headers=None, want=(200, 201, 202, 204)):
        st, j = self(method, path, body, headers)
        check(st in want, "%s %s: HTTP %d %r\n%s" % (method, path, st, j, self.d.log_tail()))
        return j

    def model(self, name):
        return self.ok("POST", "/models?name=" + name, read(MODEL))

    def dataset(self, name):
        data, ctype = multipart([("images", "i.npy", read(NPY_IMAGES)),
                                 ("labels", "l.npy", read(NPY_LABELS))])
        return self.ok("POST", "/datasets?name=%s&format=npy" % name, data,
                       headers={"Content-Type": ctype})

    def job_state(self, jid):
        return self.ok("GET", "/jobs/%d" % jid)["state"]

    def health(self):
        return self.ok("GET", "/health")


def fill(dirpath):
    """Files of zeros until the disk says ENOSPC; their paths."""
    paths, chunk, k = [], b"\0" * (1 << 20), 0
    while True:
        p = os.path.join(dirpath, "filler-%d" % k)
        paths.append(p)
        k += 1
        try:
            with open(p, "wb") as f:
                while True:
                    f.write(chunk)
                    f.flush()
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
        if free_bytes(dirpath) < (1 << 20):
            # the last MiB: smaller writes
            try:
                with open(os.path.join(dirpath, "filler-last"), "wb") as f:
                    paths.append(f.name)
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
            return paths


def scenario(mnt, build):
    data = os.path.join(mnt, "data")
    os.mkdir(data)
    token = admin_cmd(data, "user", "add", "full", build=build)
    d = Daemon(data, "brownoutd.log", build=build)
    d.log_path = os.path.join(os.path.dirname(mnt), "brownoutd-diskfull.log")
    d.start()
    try:
        api = Api(d, token)
        check(os.path.getsize(os.path.join(data, "space-reserve")) == 4 << 20,
              "no 4 MiB reserve file in the data directory")
        # committed before the disk fills: a model, a dataset, a finished job
        m = api.model("kept")
        ds = api.dataset("kept")
        j0 = api.ok("POST", "/jobs", {"model": m["id"], "dataset": ds["id"], "p": [1e-3],
                                      "trials": 2, "seed": 5})
        poll("job %d done" % j0["id"], lambda: api.job_state(j0["id"]) == "done", 120, d)
        results0 = api.ok("GET", "/jobs/%d/results" % j0["id"])
        spare_m = api.model("spare")
        spare_ds = api.dataset("spare")
        # a long job keeps the workers writing results
        busy = api.ok("POST", "/jobs", {"model": m["id"], "dataset": ds["id"],
                                        "p": [1e-4 * (k + 1) for k in range(40)],
                                        "trials": 200, "seed": 6})
        poll("job %d running" % busy["id"], lambda: api.job_state(busy["id"]) == "running",
             60, d)

        fillers = fill(mnt)
        poll("/health store full", lambda: api.health().get("store") == "full", 60, d)
        st, _, raw = http_request(d.port, "GET", "/metrics", None, token)
        check(b"brownout_store_degraded 1" in raw, "metrics: %r" % raw[-400:])

        # an upload: 507, not 500
        st, j = api("POST", "/models?name=nospace", read(MODEL))
        check(st == 507 and j["error"]["code"] == "insufficient_storage",
              "upload on a full disk: HTTP %d %r" % (st, j))
        check("full" in j["error"]["message"], "message: %r" % j)
        # job submissions: the first one refused is refused with 507
        for k in range(30):
            st, j = api("POST", "/jobs", {"model": m["id"], "dataset": ds["id"],
                                          "p": [1e-4 * (i + 1) for i in range(64)],
                                          "trials": 100, "seed": 100 + k})
            if st not in (201, 202):
                break
        check(st == 507 and j["error"]["code"] == "insufficient_storage",
              "job on a full disk: HTTP %d %r\n%s" % (st, j, d.log_tail()))

        # the workers back off: bounded CPU and log over a polled window
        poll("the backoff line", lambda: any("store refused a write" in ln
                                             for ln in log_lines(d)), 60, d)
        cpu0, lines0, t0 = cpu_seconds(d.proc.pid), len(log_lines(d)), time.monotonic()
        while time.monotonic() - t0 < WINDOW:
            check(d.proc.poll() is None, "brownoutd exited\n" + d.log_tail())
            api.health()
            time.sleep(0.25)
        cpu = cpu_seconds(d.proc.pid) - cpu0
        lines = len(log_lines(d)) - lines0
        span = time.monotonic() - t0
        print("diskfull: %.2f s CPU, %d log lines in %.1f s while full" % (cpu, lines, span))
        check(cpu < CPU_BUDGET, "brownoutd used %.2f s of CPU in %.1f s on a full disk "
              "(spinning?)\n%s" % (cpu, span, d.log_tail()))
        check(lines <= LOG_BUDGET, "brownoutd wrote %d log lines in %.1f s on a full disk\n%s"
              % (lines, span, d.log_tail()))

        # deletes work, and give space back
        free0 = free_bytes(mnt)
        api.ok("DELETE", "/models/%d" % spare_m["id"], want=(204,))
        api.ok("DELETE", "/datasets/%d" % spare_ds["id"], want=(204,))
        freed = free_bytes(mnt) - free0
        check(freed >= os.path.getsize(MODEL), "deleting freed only %d bytes" % freed)
        api.ok("DELETE", "/jobs/%d" % busy["id"], want=(204,))
        st, _ = api("GET", "/jobs/%d" % busy["id"])
        check(st == 404, "deleted job still answers %d" % st)

        # space back: new work runs to the end
        for p in fillers:
            os.unlink(p)
        j2 = api.ok("POST", "/jobs", {"model": m["id"], "dataset": ds["id"], "p": [2e-3],
                                      "trials": 2, "seed": 7})
        poll("job %d done after space came back" % j2["id"],
             lambda: api.job_state(j2["id"]) == "done", 120, d)
        poll("/health store ok", lambda: api.health().get("store") == "ok", 30, d)
        poll("the reserve made again",
             lambda: os.path.exists(os.path.join(data, "space-reserve")), 30, d)
        # everything committed before is still there
        check(api.ok("GET", "/jobs/%d/results" % j0["id"]) == results0,
              "job %d's results changed" % j0["id"])
        api.ok("GET", "/models/%d" % m["id"])
        api.ok("GET", "/datasets/%d" % ds["id"])
        check(d.stop() == 0, "brownoutd did not stop cleanly\n" + d.log_tail())
        db = sqlite3.connect(os.path.join(data, "brownout.db"))
        try:
            check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
                  "integrity_check failed")
        finally:
            db.close()
    finally:
        d.kill()


def can_mount(path):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return r.returncode == 0, r.stdout.decode("utf-8", "replace").strip()


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    with tempfile.TemporaryDirectory(prefix="brownoutd-diskfull-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        ok, why = can_mount(mnt)
        if not ok:
            if os.environ.get(NS_ENV) != "1":
                # a private mount namespace of our own, where root may mount
                probe = subprocess.run(["unshare", "-m", "true"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
                if probe.returncode == 0:
                    env = dict(os.environ, **{NS_ENV: "1"})
                    return subprocess.run(["unshare", "-m", "--propagation", "private",
                                           sys.executable] + sys.argv, env=env).returncode
                why += "; unshare -m: " + probe.stderr.decode("utf-8", "replace").strip()
            print("diskfull: skipped: cannot mount a tmpfs (%s)" % why)
            return 0
        try:
            scenario(mnt, build)
        except Fail as e:
            print("diskfull: FAILED: %s" % e)
            return 1
        finally:
            subprocess.run(["umount", "-l", mnt])
    print("diskfull: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

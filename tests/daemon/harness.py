"""What the daemon tests (test_api.py, test_crash.py) share: brownoutd on
a free loopback port in a data directory of the test's, its admin
commands, and plain HTTP requests. Only the standard library.

The binaries are BUILD/brownoutd and BUILD/brownout, BUILD being the
`build` argument where a function takes one, else $BO_BUILD, else build/.
"""
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
DATASETS_ROOT = "/usr/share/datasets"
FMNIST = os.path.join(DATASETS_ROOT, "fashion-mnist")
WEB = os.path.join(REPO, "web")
UPLOAD_LIMIT = 8000000
DATASET_MAX_BYTES = "64M"

START_DEADLINE = 30    # s until "listening on" is printed
STOP_DEADLINE = 30     # s from SIGTERM to exit
TOKEN_RE = re.compile(r"^bo_[A-Za-z0-9_-]{43}$")
LISTEN_RE = re.compile(r"^brownoutd: listening on http://127\.0\.0\.1:([0-9]+)/$")


def build_dir(build=None):
    return os.path.abspath(build or os.environ.get("BO_BUILD") or os.path.join(REPO, "build"))


class Daemon:
    """One brownoutd process on 127.0.0.1 with a port of its choosing; its
    stderr goes to log_name next to the data directory."""

    def __init__(self, data, log_name, extra=(), build=None):
        self.binary = os.path.join(build_dir(build), "brownoutd")
        self.data = data
        self.log_path = os.path.join(os.path.dirname(data), log_name)
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.lines = queue.Queue()

    def argv(self):
        return [self.binary, "--listen", "127.0.0.1:0", "--data", self.data, "--workers", "2",
                "--threads-per-worker", "1", "--upload-limit", str(UPLOAD_LIMIT),
                "--dataset-root", FIXTURES, "--dataset-root", DATASETS_ROOT,
                # Fashion-MNIST's train split is 47 MB uncompressed, over
                # the default of 4 x upload-limit
                "--dataset-max-bytes", DATASET_MAX_BYTES,
                "--web", WEB] + self.extra

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log)
        t = threading.Thread(target=self._drain, daemon=True)
        t.start()
        deadline = time.monotonic() + START_DEADLINE
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("brownoutd printed no 'listening on' line within %d s; "
                                     "stdout: %r\n%s" % (START_DEADLINE, seen, self.log_tail()))
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    raise AssertionError("brownoutd exited with status %s before listening\n%s"
                                         % (self.proc.returncode, self.log_tail()))
                continue
            if line is None:
                continue
            seen.append(line)
            m = LISTEN_RE.match(line)
            if m:
                self.port = int(m.group(1))
                return self

    def _drain(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def stop(self):
        """SIGTERM; the exit status (None if it did not exit in time)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL, and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "brownoutd stderr (last %d lines of %s):\n%s" % (
            n, self.log_path, "\n".join("  " + ln for ln in lines[-n:]))


def admin_cmd(data, *args, build=None):
    """brownoutd user add / token create: the one line it prints."""
    binary = os.path.join(build_dir(build), "brownoutd")
    r = subprocess.run([binary] + list(args) + ["--data", data], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("brownoutd %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                           r.stderr.decode("utf-8", "replace")))
    out = r.stdout.decode("utf-8")
    lines = out.splitlines()
    if len(lines) != 1 or not TOKEN_RE.match(lines[0]):
        raise AssertionError("brownoutd %s must print exactly one token line, printed %r"
                             % (" ".join(args), out))
    return lines[0]


def http_request(port, method, path, body=None, token=None, headers=None, timeout=60):
    """One HTTP request to 127.0.0.1:port; (status, headers, raw body bytes).
    A dict or list body is sent as JSON, a str as JSON text, bytes as
    application/octet-stream; `headers` override those Content-Types."""
    hdrs = {}
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        hdrs["Content-Type"] = "application/octet-stream"
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()

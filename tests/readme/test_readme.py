"""The README's first-run instructions, run as written (issue 16).

README.md marks the blocks this test owns with an HTML comment on the line
before the fence:

  <!-- readme-test: make-run-output ... -->   what `make run` prints
  <!-- readme-test: walk-through ... -->      the shell commands to try
  <!-- readme-test: demo-output ... -->       what `make demo` prints

It starts tools/run-daemon.sh (what `make run` runs) on a free port with a
temporary data directory and compares its banner with the README's; runs
the walk-through verbatim in bash, the lines that set BO_TOKEN and api (the
values the user copies from the banner) replaced by the banner's values,
with curl wrapped so that every request's status and body are recorded;
checks each answer (the upload's id is the one the job uses, the job
reaches done, the CSV has the header of `brownout sweep --csv` and a row
per p); then runs tools/demo.sh (what `make demo` runs) and compares it
with the README's lines, times and speeds aside.

  python3 tests/readme/test_readme.py BUILD
Only the standard library. Every wait is bounded; no sleep synchronises.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
README = os.path.join(REPO, "README.md")
MARK = re.compile(r"^<!-- readme-test: ([a-z-]+)\b.*-->\s*$")
START_DEADLINE = 120   # s for run-daemon.sh to print its banner (it registers the demo model)
WALK_DEADLINE = 600    # s for the walk-through, the sweep included
USER_SET = ("BO_TOKEN", "api")   # what the README tells the user to set from the banner

failures = []
passes = 0


def check(cond, what, detail=""):
    global passes
    if cond:
        passes += 1
        print("ok   " + what)
    else:
        failures.append(what)
        print("FAIL " + what)
        if detail:
            print("\n".join("     " + ln for ln in str(detail).splitlines()[-40:]))
    return cond


def readme_blocks():
    """{name: (fence info string, [lines])} of the marked blocks."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks = {}
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        name = m.group(1)
        if i >= len(lines) or not lines[i].startswith("```"):
            raise SystemExit("README.md: the readme-test mark %r is not followed by a ``` block"
                             % name)
        info = lines[i][3:].strip()
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit("README.md: the block marked %r is not closed" % name)
        if name in blocks:
            raise SystemExit("README.md: two blocks marked %r" % name)
        blocks[name] = (info, body)
    return blocks


class Reader:
    """The lines of a pipe, through a thread, with a bounded wait."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._drain, args=(pipe,), daemon=True).start()

    def _drain(self, pipe):
        for raw in pipe:
            self.q.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.q.put(None)

    def until(self, pred, deadline):
        """Lines until one satisfies pred (returned), EOF or the deadline (None)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.lines.append(line)
            if pred(line):
                return line


def start_make_run(build, data, log):
    env = dict(os.environ, BO_LISTEN="127.0.0.1:0", BO_DATA=data)
    proc = subprocess.Popen([os.path.join(REPO, "tools", "run-daemon.sh"), build], cwd=REPO,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=log, start_new_session=True)
    return proc, Reader(proc.stdout)


def stop(proc):
    """SIGTERM to run-daemon.sh, which forwards it to brownoutd; the status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def check_banner(expected, got, url, api, token):
    """The README's banner with its example URL and token replaced by the
    real ones must be what make run printed (blank lines aside)."""
    want = []
    for ln in expected:
        ln = ln.replace("http://127.0.0.1:8080/api/v1", api).replace("http://127.0.0.1:8080/", url)
        ln = ln.replace("bo_...", token)
        if ln.strip():
            want.append(ln)
    have = [ln for ln in got if ln.strip()]
    check(want == have, "make run prints the banner README.md shows",
          "README (as it would read here):\n%s\nmake run printed:\n%s"
          % ("\n".join(want), "\n".join(have)))


def walk_script(body, rt, token, api):
    """The walk-through as a bash script: the lines that set the variables
    of USER_SET get the banner's values, the rest is verbatim; curl records
    each request (rt/N.body, and 'readme-test: N CODE METHOD URL' on stderr)."""
    out = []
    for var in USER_SET:
        pat = re.compile(r"^\s*(export\s+)?%s=" % re.escape(var))
        hits = [ln for ln in body if pat.match(ln)]
        if not check(len(hits) == 1, "the walk-through sets %s once (the user's value)" % var,
                     "\n".join(body)):
            return None
    for ln in body:
        if re.match(r"^\s*(export\s+)?(%s)=" % "|".join(map(re.escape, USER_SET)), ln):
            var = re.match(r"^\s*(?:export\s+)?([A-Za-z_]+)=", ln).group(1)
            value = token if var == "BO_TOKEN" else api
            out.append("%s%s='%s'" % ("export " if ln.lstrip().startswith("export") else "",
                                      var, value))
        else:
            out.append(ln)
    wrapper = r'''
readme_rt=%s
echo 0 > "$readme_rt/n"
curl() {
	local n
	n=$(( $(cat "$readme_rt/n") + 1 ))
	echo "$n" > "$readme_rt/n"
	command curl -w "%%{stderr}readme-test: $n %%{http_code} %%{method} %%{url_effective}\n" "$@" |
		tee "$readme_rt/$n.body"
}
''' % rt
    return wrapper + "\n".join(out) + "\n"


def parse_calls(stderr, rt):
    calls = []
    for ln in stderr.splitlines():
        m = re.match(r"^readme-test: (\d+) (\d{3}) ([A-Z]+) (\S+)$", ln)
        if m:
            n = int(m.group(1))
            try:
                with open(os.path.join(rt, "%d.body" % n), "rb") as f:
                    body = f.read().decode("utf-8", "replace")
            except OSError:
                body = ""
            calls.append({"n": n, "code": int(m.group(2)), "method": m.group(3),
                          "url": m.group(4), "body": body})
    calls.sort(key=lambda c: c["n"])
    return calls


def as_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def cli_csv_header(build):
    """The header of `brownout sweep --csv`, which the daemon's CSV repeats."""
    r = subprocess.run([os.path.join(build, "brownout"), "sweep",
                        os.path.join(REPO, "tests", "fixtures", "fmnist_preact_f4.onnx"),
                        "/usr/share/datasets/fashion-mnist", "--p", "1e-3", "--trials", "1",
                        "--limit", "8", "--calib", "8", "--threads", "1", "--csv"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    if r.returncode != 0:
        return None
    return r.stdout.decode().splitlines()[0]


def check_walk(calls, stdout, build):
    def find(method, pat):
        return [c for c in calls if c["method"] == method and re.search(pat, c["url"])]

    codes = ", ".join("%d %s %s" % (c["code"], c["method"], c["url"]) for c in calls)
    check(calls and all(200 <= c["code"] < 300 for c in calls),
          "every request of the walk-through succeeds (2xx)", codes)
    up = find("POST", r"/api/v1/models\?name=f6$")
    model = as_json(up[0]["body"]) if up else None
    check(len(up) == 1 and up[0]["code"] == 201 and model and model.get("name") == "f6",
          "the upload answers 201 with the model f6", codes + "\n" + (up[0]["body"] if up else ""))
    mid = model.get("id") if model else None
    check(mid is not None and mid != 1,
          "the uploaded model has an id of its own (the demo model is 1): %s" % mid)
    check(("uploaded model %s" % mid) in stdout.splitlines(),
          "the walk-through captured the id the upload answered", stdout)
    sub = find("POST", r"/api/v1/jobs$")
    job = as_json(sub[0]["body"]) if sub else None
    check(len(sub) == 1 and sub[0]["code"] in (201, 202) and job and "id" in job,
          "the job submission is accepted", codes + "\n" + (sub[0]["body"] if sub else ""))
    if not job or "id" not in job:
        return
    jid = job["id"]
    check(job.get("model") == mid and job.get("dataset") == 1,
          "the job sweeps the uploaded model (%s) on dataset 1" % mid, sub[0]["body"])
    gets = find("GET", r"/api/v1/jobs/%d$" % jid)
    states = [(as_json(c["body"]) or {}).get("state") for c in gets]
    check(len(gets) >= 2 and all(s in ("queued", "running", "done") for s in states),
          "watching the job answers its state (%d polls)" % len(gets), states)
    check(states and states[-1] == "done", "the job reaches done", states)
    res = find("GET", r"/api/v1/jobs/%d/results\?format=csv$" % jid)
    rows = res[0]["body"].splitlines() if res else []
    header = cli_csv_header(build)
    # the CLI's columns, then the job's provenance (docs/api.md)
    check(header is not None and rows and rows[0].startswith(header + ",job,model,"),
          "the results are CSV with brownout sweep --csv's header, then provenance columns",
          "%r vs %r" % (rows[:1], header))
    if rows and header:
        cols = rows[0].split(",")
        data = [dict(zip(cols, r.split(","))) for r in rows[1:]]
        ps = sorted(float(d.get("p", "nan")) for d in data)
        check(ps == [1e-3, 1e-2] and all(d.get("trials") == "3" for d in data),
              "the CSV has a row per p (1e-3, 1e-2) with 3 trials each", "\n".join(rows))
    check(stdout.rstrip("\n").endswith(res[0]["body"].rstrip("\n")) if res else False,
          "the walk-through ends by printing the results", stdout[-2000:])


def check_demo(build, expected):
    r = subprocess.run([os.path.join(REPO, "tools", "demo.sh"), build], cwd=REPO,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    got = r.stdout.decode("utf-8", "replace").splitlines()
    # the time and the speed vary: any numbers there, the rest as written
    pats = []
    for ln in expected:
        esc = re.escape(ln)
        esc = re.sub(r"[0-9]+\\\.[0-9]+\\ s\\ \\ [0-9]+\\\.[0-9]+\\ images/s$",
                     r"[0-9]+\\.[0-9]+ s  [0-9]+\\.[0-9]+ images/s", esc)
        pats.append("^" + esc + "$")
    ok = r.returncode == 0 and len(got) == len(pats) and all(
        re.match(p, g) for p, g in zip(pats, got))
    check(ok, "make demo prints what README.md shows (times aside)",
          "README:\n%s\nmake demo (exit %d):\n%s\n%s" % (
              "\n".join(expected), r.returncode, "\n".join(got),
              r.stderr.decode("utf-8", "replace")))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
    blocks = readme_blocks()
    for name in ("make-run-output", "walk-through", "demo-output"):
        check(name in blocks, "README.md marks the %s block" % name)
    if failures:
        return 1
    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        print("SKIP the walk-through needs Debian's dataset-fashion-mnist")
        return 0
    tmp = tempfile.mkdtemp(prefix="brownout-readme-")
    proc = None
    try:
        data = os.path.join(tmp, "var")
        log = open(os.path.join(tmp, "make-run.log"), "wb")
        proc, out = start_make_run(build, data, log)
        deadline = time.monotonic() + START_DEADLINE
        first = out.until(lambda ln: ln.startswith("brownoutd is running:"), deadline)
        last = first and out.until(lambda ln: ln.startswith("Ctrl-C stops it"), deadline)
        if not check(bool(last), "make run prints its banner within %d s" % START_DEADLINE,
                     "\n".join(out.lines) + "\n" + open(log.name, errors="replace").read()):
            return 1
        banner = out.lines[out.lines.index(first):]
        url = re.search(r"http://\S+", first).group(0)
        api = re.search(r"^API:\s+(\S+)", banner[1]).group(1) if len(banner) > 1 else ""
        token = re.search(r"^Token:\s+(\S+)", banner[2]).group(1) if len(banner) > 2 else ""
        check_banner(blocks["make-run-output"][1], banner, url, api, token)

        rt = os.path.join(tmp, "requests")
        os.mkdir(rt)
        info, body = blocks["walk-through"]
        check(info == "sh", "the walk-through is a sh block")
        script = walk_script(body, rt, token, api)
        if script is None:
            return 1
        with open(os.path.join(tmp, "walk-through.sh"), "w") as f:
            f.write(script)
        try:
            r = subprocess.run(["bash", f.name], cwd=REPO, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=WALK_DEADLINE)
            wout, werr, wrc = r.stdout.decode(), r.stderr.decode(), r.returncode
        except subprocess.TimeoutExpired as e:
            wout = (e.stdout or b"").decode()
            werr = (e.stderr or b"").decode()
            wrc = None
        check(wrc == 0, "the walk-through runs to the end (exit %s)" % wrc, wout + werr)
        extra = [ln for ln in werr.splitlines() if not ln.startswith("readme-test: ")]
        check(not extra, "the walk-through prints nothing on stderr", "\n".join(extra))
        check_walk(parse_calls(werr, rt), wout, build)
    finally:
        if proc is not None:
            st = stop(proc)
            check(st == 0, "make run stops on SIGTERM (exit %s)" % st)
        if os.environ.get("BO_KEEP_TMP"):
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    check_demo(build, blocks["demo-output"][1])
    print("\nreadme: %d passed, %d failed" % (passes, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

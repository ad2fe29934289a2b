#!/usr/bin/python3
"""Hostile clients against brownoutd's HTTP layer: malformed requests that
must be answered 4xx naming the problem (and never crash the daemon), and
connection floods that must not starve other clients.

    tests/daemon/test_hostile.py BUILD [TEST ...]

Every daemon here listens on 127.0.0.1; clients bind their sockets to
other loopback addresses (127.0.0.2, ...; Linux routes all of 127/8 to lo)
to act as distinct peers. Caps and deadlines are configured small so that
the tests run fast; every wait is bounded, and waits are on events (a
response, a closed socket), never sleeps standing in for them.
"""
import gzip
import http.client
import json
import os
import select
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, admin_cmd, http_request  # noqa: E402

BUILD = None          # set from argv in main()
UPLOAD_LIMIT = 1000000
WAIT = 15             # s: the most any single expected event may take
HEADER_TIMEOUT = 2    # s, the deadline of the daemon of T30HeaderDeadline


# ---- raw HTTP over sockets bound to chosen loopback addresses ----

def connect(port, src="127.0.0.1", timeout=WAIT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_head(s, deadline):
    """Bytes up to and including the blank line after the headers (b""
    when the connection ends first)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete response header")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return b""
        if not chunk:
            return b""
        buf += chunk
    return buf


def parse_head(raw):
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return status, hdrs, rest


def read_response(s, deadline, head_only=False):
    """(status, {lower-case name: [values]}, body) of one response; the
    body by Content-Length, else up to the end of the connection."""
    raw = read_head(s, deadline)
    if not raw:
        raise ConnectionError("the connection was closed without a response")
    status, hdrs, body = parse_head(raw)
    if head_only:
        return status, hdrs, b""
    if "content-length" in hdrs:
        n = int(hdrs["content-length"][0])
        while len(body) < n:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    else:
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, hdrs, body


def exchange(port, data, src="127.0.0.1", timeout=WAIT):
    """Send raw request bytes, read one response."""
    s = connect(port, src, timeout)
    try:
        s.sendall(data)
        return read_response(s, time.monotonic() + timeout)
    finally:
        s.close()


def request(method, path, headers=(), body=b"", version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def closed_by_peer(s, timeout):
    """True when the server ends the connection (recv gives b"" or a
    reset) within timeout, False when it stays open that long."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return False
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except BlockingIOError:
            continue
        if not chunk:
            return True
        # bytes of an answer: keep reading until the end of the connection


def error_of(answer):
    status, hdrs, body = answer
    return status, json.loads(body)["error"]


class Case(unittest.TestCase):
    """A daemon of the class's own in a temporary data directory."""

    tmp = data = daemon = None
    extra = []
    config = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="brownoutd-hostile-")
        cls.data = os.path.join(cls.tmp, "data")
        os.mkdir(cls.data)
        cls.token = admin_cmd(cls.data, "user", "add", "mallory", build=BUILD)
        extra = list(cls.extra)
        if cls.config:
            path = os.path.join(cls.tmp, "brownoutd.conf")
            with open(path, "w") as f:
                f.write(cls.config)
            extra = ["--config", path] + extra
        cls.daemon = Daemon(cls.data, "brownoutd-%s.log" % cls.__name__, extra=extra,
                            build=BUILD)
        # flags after --config win, so the caps of the class go last
        cls.daemon.start()
        cls.port = cls.daemon.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop() if cls.daemon is not None else 0
        tail = cls.daemon.log_tail() if cls.daemon is not None else ""
        if rc is None:
            cls.daemon.kill()
        if cls.tmp and not os.environ.get("BO_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        # a sanitizer report (a leak, say) shows as the exit status
        if rc != 0:
            raise AssertionError("brownoutd exited with %s after SIGTERM\n%s" % (rc, tail))

    def assertUp(self):
        """The daemon still runs and answers /health."""
        self.assertIsNone(self.daemon.proc.poll(), "brownoutd died\n" + self.daemon.log_tail())
        st, _, body = http_request(self.port, "GET", "/api/v1/health", timeout=WAIT)
        self.assertEqual(st, 200, body)

    def auth(self):
        return ("Authorization", "Bearer " + self.token)


class T10Input(Case):
    extra = ["--upload-limit", str(UPLOAD_LIMIT)]

    def multipart(self, body, boundary="XyZ"):
        return exchange(self.port, request(
            "POST", "/api/v1/datasets?name=x&format=npy",
            [self.auth(), ("Content-Type", "multipart/form-data; boundary=" + boundary),
             ("Content-Length", str(len(body))), ("Connection", "close")], body))

    def test_part_without_content_disposition(self):
        # issue 9, item 1: this crashed the daemon (strcmp on a NULL key)
        body = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"
        st, e = error_of(self.multipart(body))
        self.assertEqual((st, e["code"]), (400, "malformed"), e)
        self.assertIn("Content-Disposition", e["message"])
        self.assertUp()
        # a name-less Content-Disposition, and one after a good part
        for body in (b"--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nhi\r\n"
                     b"--XyZ--\r\n",
                     b"--XyZ\r\nContent-Disposition: form-data; name=\"images\"\r\n\r\nab\r\n"
                     b"--XyZ\r\n\r\nhello\r\n--XyZ--\r\n"):
            st, e = error_of(self.multipart(body))
            self.assertEqual(st, 400, e)
            self.assertUp()

    def test_duplicate_content_length(self):
        for hdrs, body in (([("Content-Length", "0"), ("Content-Length", "0")], b""),
                           ([("Content-Length", "2"), ("content-length", "40")],
                            b"{}" + b" " * 38),
                           ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                            b"0\r\n\r\n")):
            for method, path in (("GET", "/api/v1/health"), ("POST", "/api/v1/jobs")):
                st, e = error_of(exchange(self.port, request(
                    method, path, [self.auth(), ("Content-Type", "application/json")] + hdrs,
                    body)))
                self.assertEqual((st, e["code"]), (400, "malformed"), (method, hdrs, e))
                self.assertIn("Content-Length", e["message"])
        self.assertUp()

    def test_bearer_scheme_any_case(self):
        for scheme in ("bearer ", "BEARER ", "Bearer  ", "bEaReR\t"):
            st, _, body = exchange(self.port, request(
                "GET", "/api/v1/me", [("Authorization", scheme + self.token),
                                      ("Connection", "close")]))
            self.assertEqual(st, 200, (scheme, body))
            self.assertEqual(json.loads(body)["name"], "mallory")
        for bad in ("Bearerx " + self.token, "Basic " + self.token, "bearer"):
            st, _, body = exchange(self.port, request(
                "GET", "/api/v1/me", [("Authorization", bad), ("Connection", "close")]))
            self.assertEqual(st, 401, (bad, body))

    def test_head_like_get(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            c.request("GET", "/api/v1/openapi.yaml")
            r = c.getresponse()
            full = r.read()
            self.assertEqual(r.status, 200)
            c.request("HEAD", "/api/v1/openapi.yaml")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b""))
            self.assertEqual(int(r.getheader("Content-Length")), len(full))
            for path, token, want in (("/api/v1/health", None, 200),
                                      ("/api/v1/models", self.token, 200),
                                      ("/api/v1/me", self.token, 200),
                                      ("/metrics", None, 200),
                                      ("/api/v1/models", None, 401),
                                      ("/api/v1/jobs/1/cancel", self.token, 405)):
                hdrs = {"Authorization": "Bearer " + token} if token else {}
                c.request("HEAD", path, headers=hdrs)
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (want, b""), path)
                if want == 200 and path != "/metrics":
                    self.assertEqual(r.getheader("Content-Type"), "application/json", path)
        finally:
            c.close()

    def test_uri_too_long(self):
        for path in ("/api/v1/" + "a" * 1500, "/" + "b" * 1500, "/api/v1/" + "c" * 60000):
            st, e = error_of(exchange(self.port, request("GET", path, [("Connection", "close")])))
            self.assertEqual((st, e["code"]), (414, "uri_too_long"), e)
        # just under the limit: an ordinary 404
        st, e = error_of(exchange(self.port, request("GET", "/" + "a" * 1000,
                                                     [("Connection", "close")])))
        self.assertEqual((st, e["code"]), (404, "not_found"), e)

    def test_long_string_field_named(self):
        st, _, body = http_request(self.port, "POST", "/api/v1/datasets",
                                   {"name": "x", "path": "/" + "a" * 1200}, self.token)
        e = json.loads(body)["error"]
        self.assertEqual((st, e["code"], e["field"]), (400, "invalid", "path"), e)
        self.assertIn("too long", e["message"])
        self.assertNotIn("must be a string", e["message"])

    def test_temp_path_not_shown(self):
        # zlib names the file it reads in its messages: here a temp file
        bad = gzip.compress(b"\0\0\x08\x03" + b"\0" * 64)
        bad = bad[:10] + b"\xff" * 8 + bad[18:]
        labels = b"\0\0\x08\x01\0\0\0\x05" + b"\0" * 5
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"images\"; filename=\"i.gz\""
                b"\r\n\r\n" + bad + b"\r\n--XyZ\r\nContent-Disposition: form-data; "
                b"name=\"labels\"; filename=\"l\"\r\n\r\n" + labels + b"\r\n--XyZ--\r\n")
        st, _, raw = exchange(self.port, request(
            "POST", "/api/v1/datasets?name=x&format=idx",
            [self.auth(), ("Content-Type", "multipart/form-data; boundary=XyZ"),
             ("Content-Length", str(len(body))), ("Connection", "close")], body))
        e = json.loads(raw)["error"]
        self.assertEqual((st, e["code"], e["field"]), (400, "malformed", "images"), e)
        for leak in (self.data, os.path.realpath(self.data), "/tmp/", "upload-", "<fd:"):
            self.assertNotIn(leak, e["message"])
        self.assertIn("gzip", e["message"])

    def test_upload_limit_per_request(self):
        # two parts each under the limit, over it together; chunked, so no
        # Content-Length can refuse it up front
        part = b"\x93NUMPY" + b"\0" * (UPLOAD_LIMIT * 6 // 10)
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"images\"; filename=\"i\"\r\n"
                b"\r\n" + part + b"\r\n--XyZ\r\nContent-Disposition: form-data; "
                b"name=\"labels\"; filename=\"l\"\r\n\r\n" + part + b"\r\n--XyZ--\r\n")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
            c.request("POST", "/api/v1/datasets?name=two&format=npy", body=chunks,
                      headers={"Authorization": "Bearer " + self.token,
                               "Content-Type": "multipart/form-data; boundary=XyZ"},
                      encode_chunked=True)
            r = c.getresponse()
            e = json.loads(r.read())["error"]
        finally:
            c.close()
        self.assertEqual((r.status, e["code"]), (413, "too_large"), e)
        self.assertIn(str(UPLOAD_LIMIT), e["message"])
        st, _, raw = http_request(self.port, "GET", "/api/v1/datasets", token=self.token)
        self.assertEqual([d["name"] for d in json.loads(raw)["items"]], [])


# per-ip-limit 4 for direct peers and for clients behind the proxies
PROXY_CONFIG = """# T20Proxy
trusted-proxy = 127.0.0.1, 127.0.0.9
per-ip-limit = 4
max-connections = 64
header-timeout = 60
"""


class T20Proxy(Case):
    config = PROXY_CONFIG

    def held(self, src, xff=None):
        """A request in flight: its header sent and taken (100 Continue),
        its body not. The socket."""
        hdrs = [self.auth(), ("Content-Type", "application/json"), ("Content-Length", "100"),
                ("Expect", "100-continue")]
        if xff:
            hdrs.append(("X-Forwarded-For", xff))
        s = connect(self.port, src)
        s.sendall(request("POST", "/api/v1/jobs", hdrs))
        raw = read_head(s, time.monotonic() + WAIT)
        self.socks.append(s)
        self.assertTrue(raw.startswith(b"HTTP/1.1 100"), (src, xff, raw[:200]))
        return s

    def setUp(self):
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()

    def health(self, src="127.0.0.1", xff=None):
        hdrs = [("Connection", "close")] + ([("X-Forwarded-For", xff)] if xff else [])
        return exchange(self.port, request("GET", "/api/v1/health", hdrs), src)

    def wait_health(self, src, xff):
        """Poll /health until 200 (the count of closed requests drops when
        the daemon sees them closed); the last answer."""
        deadline = time.monotonic() + WAIT
        while True:
            ans = self.health(src, xff)
            if ans[0] == 200 or time.monotonic() > deadline:
                return ans
            time.sleep(0.05)

    def test_trusted_proxy_xff_is_the_client(self):
        for _ in range(4):
            self.held("127.0.0.1", "10.9.9.9")
        st, e = error_of(self.health("127.0.0.1", "10.9.9.9"))
        self.assertEqual((st, e["code"]), (429, "quota_exceeded"), e)
        self.assertIn("10.9.9.9", e["message"])
        # 127.0.0.9 is a trusted hop: the client is still 10.9.9.9
        st, e = error_of(self.health("127.0.0.1", "10.9.9.9, 127.0.0.9"))
        self.assertEqual(st, 429, e)
        # what the client wrote left of the last untrusted address is not believed
        self.assertEqual(self.health("127.0.0.1", "10.9.9.9, 10.6.6.6")[0], 200)
        self.assertEqual(self.health("127.0.0.1", "10.9.9.8")[0], 200)
        # the proxy itself is not held to per-ip-limit: it has 4 + 1 connections
        self.assertEqual(self.health("127.0.0.9")[0], 200)
        for s in self.socks:
            s.close()
        self.socks = []
        self.assertEqual(self.wait_health("127.0.0.1", "10.9.9.9")[0], 200)

    def test_untrusted_peer_xff_ignored(self):
        for _ in range(3):
            self.held("127.0.0.2", "10.8.8.8")
        # had 127.0.0.2's X-Forwarded-For counted, 10.8.8.8 would have one left
        for _ in range(4):
            self.held("127.0.0.1", "10.8.8.8")
        # 127.0.0.2 itself has one connection left (per-ip-limit 4)
        self.assertEqual(self.health("127.0.0.2", "10.8.8.8")[0], 200)

    def test_flood_from_one_address(self):
        n = 24
        flood = []
        for _ in range(n):
            s = connect(self.port, "127.0.0.3")
            self.socks.append(s)
            flood.append(s)
        # all but per-ip-limit of them are closed by the daemon
        deadline = time.monotonic() + WAIT
        open_ = list(flood)
        while len(open_) > 4 and time.monotonic() < deadline:
            r, _, _ = select.select(open_, [], [], max(0.01, deadline - time.monotonic()))
            for s in r:
                if closed_by_peer(s, 0.01):
                    open_.remove(s)
        self.assertEqual(len(open_), 4, "connections from 127.0.0.3 left open")
        # another address is served meanwhile
        t0 = time.monotonic()
        self.assertEqual(self.health("127.0.0.4")[0], 200)
        self.assertLess(time.monotonic() - t0, 5)
        # and the 4 left are served too
        for s in open_:
            self.assertFalse(closed_by_peer(s, 0))
            s.sendall(request("GET", "/api/v1/health", [("Connection", "close")]))
            self.assertEqual(read_response(s, time.monotonic() + WAIT)[0], 200)


class T30HeaderDeadline(Case):
    extra = ["--header-timeout", str(HEADER_TIMEOUT), "--connection-timeout", "60"]
    SLACK = 4  # s on top of the deadline: the reaper's tick, a loaded machine

    def trickle_until_closed(self, s, limit=20):
        """Send a header line every 0.2 s (the pace of the attack, each one
        resetting MHD's idle timeout) until the daemon closes the
        connection; the seconds that took, or None."""
        t0 = time.monotonic()
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        while time.monotonic() - t0 < limit:
            if closed_by_peer(s, 0.2):
                return time.monotonic() - t0
            try:
                s.sendall(b"X-Pad: a\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - t0
        return None

    def test_trickled_header_is_cut(self):
        s = connect(self.port, "127.0.0.5")
        try:
            took = self.trickle_until_closed(s)
        finally:
            s.close()
        self.assertIsNotNone(took, "a trickled header kept its connection 20 s")
        self.assertGreater(took, HEADER_TIMEOUT - 0.5)
        self.assertLess(took, HEADER_TIMEOUT + self.SLACK)
        self.assertUp()

    def test_second_request_on_keepalive_is_cut(self):
        s = connect(self.port, "127.0.0.6")
        try:
            s.sendall(request("GET", "/api/v1/health"))
            self.assertEqual(read_response(s, time.monotonic() + WAIT)[0], 200)
            took = self.trickle_until_closed(s)
        finally:
            s.close()
        self.assertIsNotNone(took)
        self.assertLess(took, HEADER_TIMEOUT + self.SLACK)

    def test_silent_connection_is_cut(self):
        s = connect(self.port, "127.0.0.7")
        t0 = time.monotonic()
        try:
            self.assertTrue(closed_by_peer(s, HEADER_TIMEOUT + self.SLACK))
        finally:
            s.close()
        self.assertGreater(time.monotonic() - t0, HEADER_TIMEOUT - 0.5)

    def test_slow_body_is_not_cut(self):
        # the deadline is on the header; the body has the idle timeout
        s = connect(self.port, "127.0.0.8")
        try:
            s.sendall(request("POST", "/api/v1/jobs", [
                self.auth(), ("Content-Type", "application/json"), ("Content-Length", "2"),
                ("Expect", "100-continue")]))
            self.assertTrue(read_head(s, time.monotonic() + WAIT).startswith(b"HTTP/1.1 100"))
            self.assertFalse(closed_by_peer(s, HEADER_TIMEOUT + 1.5))
            s.sendall(b"{}")
            st, _, body = read_response(s, time.monotonic() + WAIT)
            self.assertEqual(st, 400, body)  # the spec is empty: answered, not cut
        finally:
            s.close()


class T40ConnectionCap(Case):
    extra = ["--max-connections", "8", "--http-threads", "2", "--per-ip-limit", "3",
             "--header-timeout", "60"]

    def held(self, src):
        """A request in flight (header taken, body not sent): the socket."""
        s = connect(self.port, src)
        s.sendall(request("POST", "/api/v1/jobs", [
            self.auth(), ("Content-Type", "application/json"), ("Content-Length", "100"),
            ("Expect", "100-continue")]))
        raw = read_head(s, time.monotonic() + WAIT)
        self.assertTrue(raw.startswith(b"HTTP/1.1 100"), (src, raw[:200]))
        return s

    def test_1_global_cap(self):
        held = []
        try:
            for i in range(8):  # 8 requests in flight, from 8 addresses
                held.append(self.held("127.0.0.%d" % (20 + i)))
            # a ninth connection is not served while they are open...
            s9 = connect(self.port, "127.0.0.40")
            held.append(s9)
            s9.sendall(request("GET", "/api/v1/health", [("Connection", "close")]))
            r, _, _ = select.select([s9], [], [], 2)
            first = b""
            if r:
                try:
                    first = s9.recv(65536)
                except ConnectionResetError:
                    first = b""
            self.assertFalse(first.startswith(b"HTTP/1.1 200"),
                             "a 9th connection was served with max-connections 8")
            # ...and is (or a new one is) once one of them closes
            held[0].close()
            if r:  # it was refused: a new one
                s9 = connect(self.port, "127.0.0.41")
                held.append(s9)
                s9.sendall(request("GET", "/api/v1/health", [("Connection", "close")]))
            self.assertEqual(read_response(s9, time.monotonic() + WAIT)[0], 200)
        finally:
            for s in held:
                s.close()

    def test_2_silent_flood_from_many_addresses(self):
        # 6 addresses x per-ip-limit silent connections: more than
        # max-connections; a new address is still served well before the
        # header deadline (60 s) would free anything
        flood = []
        try:
            for a in range(6):
                for _ in range(3):
                    flood.append(connect(self.port, "127.0.0.%d" % (50 + a)))
            t0 = time.monotonic()
            st, _, body = exchange(self.port, request("GET", "/api/v1/health",
                                                      [("Connection", "close")]),
                                   "127.0.0.60", timeout=10)
            self.assertEqual(st, 200, body)
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            for s in flood:
                s.close()


def main():
    global BUILD
    args = sys.argv[1:]
    BUILD = os.path.abspath(args.pop(0) if args else "build")
    if not os.access(os.path.join(BUILD, "brownoutd"), os.X_OK):
        print("hostile: %s/brownoutd is not built" % BUILD)
        return 1
    prog = unittest.main(argv=[sys.argv[0], "-v"] + args, exit=False)
    r = prog.result
    bad = r.failures + r.errors
    ran_bad = sum(1 for t, _ in bad if isinstance(t, unittest.TestCase))
    print("hostile: %d passed, %d failed" % (r.testsRun - ran_bad, len(bad)))
    return 0 if r.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Hostile datasets against brownoutd over a real socket (issue 9, items 2
and 3): a gzip bomb uploaded is refused with 413 naming the limit while the
daemon's peak memory stays bounded; a registered directory swapped for a
symbolic link out of its root after registration makes jobs fail instead of
reading outside; registration answers the same for any path outside the
roots, whether it exists or not.

Run by tests/daemon/run.sh after test_api.py (it shares its helpers):
    BO_BUILD=build python3 tests/daemon/test_datasets_hostile.py [-q]
"""
import gzip
import os
import random
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_api  # noqa: E402
from harness import FIXTURES, Daemon, admin_cmd  # noqa: E402
from test_api import Ctx, DaemonCase, api, multipart, q, read  # noqa: E402

F8 = os.path.join(FIXTURES, "fmnist_preact_f8.onnx")
DATASET_MAX_BYTES = 16 << 20   # --dataset-max-bytes of this daemon
RSS_GROWTH_MAX = 100 << 20     # bytes the daemon's peak may grow by per bomb


def idx_pair(n, seed):
    """n random 28x28 images and their labels, IDX (raw bytes)."""
    r = random.Random(seed)
    images = (0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 \
        + bytes(r.randrange(256) for _ in range(n * 784))
    labels = (0x801).to_bytes(4, "big") + n.to_bytes(4, "big") \
        + bytes(r.randrange(10) for _ in range(n))
    return images, labels


def gz_zeros(head, zeros):
    """gzip of head + `zeros` zero bytes, compressed as it goes."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(head)]
    block = bytes(1 << 20)
    left = zeros
    while left:
        k = min(left, len(block))
        out.append(c.compress(block[:k]))
        left -= k
    out.append(c.flush())
    return b"".join(out)


def vm_hwm(pid):
    """Peak resident set of process pid, in bytes (/proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class T30HostileDatasets(DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.make_data_dir("brownoutd-hostile-")
        # a root of the test's own, and a valid dataset outside every root
        cls.root = os.path.realpath(os.path.join(cls.tmp, "root"))
        cls.outside = os.path.realpath(os.path.join(cls.tmp, "outside"))
        for d in (cls.root, cls.outside, os.path.join(cls.root, "ds"),
                  os.path.join(cls.outside, "ds")):
            os.mkdir(d)
        img, lab = idx_pair(64, 1)
        write(os.path.join(cls.root, "ds", "t10k-images-idx3-ubyte.gz"), gzip.compress(img))
        write(os.path.join(cls.root, "ds", "t10k-labels-idx1-ubyte.gz"), gzip.compress(lab))
        img, lab = idx_pair(32, 2)
        write(os.path.join(cls.outside, "ds", "t10k-images-idx3-ubyte"), img)
        write(os.path.join(cls.outside, "ds", "t10k-labels-idx1-ubyte"), lab)
        Ctx.tokens = {"alice": admin_cmd(cls.data, "user", "add", "alice")}
        cls.daemon = Daemon(cls.data, "brownoutd.log",
                            extra=["--dataset-root", cls.root,
                                   "--dataset-max-bytes", str(DATASET_MAX_BYTES)]).start()
        Ctx.port = cls.daemon.port

    def upload(self, files, **params):
        data, ctype = multipart(files)
        return api("POST", q("/api/v1/datasets", **params), data,
                   headers={"Content-Type": ctype})

    def register(self, path, name="x", **more):
        return api("POST", "/api/v1/datasets", dict({"name": name, "path": path}, **more))

    # ---- item 2: bounded work per upload

    def test_100_gzip_bomb_upload(self):
        """An IDX upload declaring 300,000 images (235 MB of zeros, about
        230 KB of gzip): 413 naming the limit, and the daemon's peak memory
        grows by far less than the data."""
        n = 300000
        head = (0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        bomb = gz_zeros(head, n * 784)
        labels = gzip.compress((0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(n))
        self.assertLess(len(bomb), 1 << 20)
        pid = self.daemon.proc.pid
        before = vm_hwm(pid)
        body = self.assertError(self.upload([("images", "i.gz", bomb), ("labels", "l.gz", labels)],
                                            name="bomb", format="idx"), 413, "too_large")
        msg = body["error"]["message"]
        self.assertIn("limit of %d bytes" % DATASET_MAX_BYTES, msg)
        self.assertIn("300000 images", msg)
        self.assertNotIn(self.data, msg)
        self.assertNotIn("upload-", msg)
        grew = vm_hwm(pid) - before
        self.assertLess(grew, RSS_GROWTH_MAX, "peak RSS grew by %d bytes" % grew)
        names = [d["name"] for d in self.assertOk(api("GET", "/api/v1/datasets"))["items"]]
        self.assertNotIn("bomb", names)

    def test_110_cifar_bomb_upload(self):
        """CIFAR-10 has no header to declare a count: 200 MB of records
        (label 0, zero pixels) stream until the limit, then 413."""
        records = (200 << 20) // 3073
        bomb = gz_zeros(b"", records * 3073)
        pid = self.daemon.proc.pid
        before = vm_hwm(pid)
        body = self.assertError(self.upload([("images", "c.gz", bomb)], name="cbomb",
                                            format="cifar"), 413, "too_large")
        self.assertIn(str(DATASET_MAX_BYTES), body["error"]["message"])
        grew = vm_hwm(pid) - before
        self.assertLess(grew, RSS_GROWTH_MAX, "peak RSS grew by %d bytes" % grew)

    def test_120_upload_errors_name_no_server_path(self):
        """A count mismatch names the uploads, not their temporary files."""
        img, lab = idx_pair(3, 3)
        _, lab4 = idx_pair(4, 3)
        body = self.assertError(self.upload([("images", "i", img), ("labels", "l", lab4)],
                                            name="mismatch", format="idx"), 422, "shape_mismatch")
        msg = body["error"]["message"]
        self.assertIn("images upload has 3 images", msg)
        self.assertIn("labels upload has 4 labels", msg)
        self.assertNotIn(self.data, msg)
        self.assertNotIn("upload-", msg)
        # a valid one is accepted, with its count from the streaming check
        d = self.assertOk(self.upload([("images", "i", img), ("labels", "l", lab)], name="ok3",
                                      format="idx"), 201)
        self.assertEqual((d["images"], d["shape"]), (3, [1, 28, 28]))

    # ---- item 3: roots at every open, existence never revealed

    def test_200_outside_roots_same_answer(self):
        """/etc/shadow exists, the others do not: one answer for all."""
        answers = set()
        for path in ("/etc/shadow", "/etc/no-such-file-brownout", "/no/such/dir",
                     os.path.join(self.root, "..", "outside", "ds"),
                     os.path.join(self.root, "..", "outside", "missing"),
                     self.outside):
            st, _, body = self.register(path)
            answers.add((st, body["error"]["code"], body["error"]["message"],
                         body["error"]["field"]))
        self.assertEqual(len(answers), 1, answers)
        st, code, _, field = answers.pop()
        self.assertEqual((st, code, field), (403, "forbidden", "path"))
        # labels outside the roots: the same, for the labels field
        self.assertError(self.register(os.path.join(self.root, "ds"), labels="/etc/shadow"),
                         403, "forbidden", "labels")
        # inside a root, a missing path is simply not found
        self.assertError(self.register(os.path.join(self.root, "missing")), 404, "not_found",
                         "path")
        # a relative path is refused before anything is looked at
        self.assertError(self.register("etc/shadow"), 400, "invalid", "path")

    def test_210_link_out_of_root_refused_at_registration(self):
        link = os.path.join(self.root, "to-outside")
        os.symlink(os.path.join(self.outside, "ds"), link)
        try:
            self.assertError(self.register(link), 403, "forbidden", "path",
                             "leaves the dataset root")
            # the same for a link to something outside that does not exist
            os.unlink(link)
            os.symlink(os.path.join(self.outside, "nothing"), link)
            self.assertError(self.register(link), 403, "forbidden", "path",
                             "leaves the dataset root")
        finally:
            os.unlink(link)

    def test_300_symlink_swap_after_registration(self):
        """Registered, a job runs; the directory is then swapped for a link
        to a valid dataset outside the root: the next job fails saying so,
        and reads nothing outside (the old code ran it on the outside data)."""
        ds_dir = os.path.join(self.root, "ds")
        d = self.assertOk(self.register(ds_dir, name="swapme"), 201)
        self.assertEqual(d["images"], 64)
        st, _, m = api("POST", q("/api/v1/models", name="f8"), read(F8))
        self.assertEqual(st, 201, m)
        spec = {"model": m["id"], "dataset": d["id"], "p": [0.0], "trials": 1, "limit": 8,
                "calib": 8, "mean": [0], "std": [1]}
        j = self.assertOk(api("POST", "/api/v1/jobs", spec), 202)
        self.assertEqual(self.wait_job(j["id"])["state"], "done")

        os.rename(ds_dir, ds_dir + ".old")
        os.symlink(os.path.join(self.outside, "ds"), ds_dir)
        try:
            j = self.assertOk(api("POST", "/api/v1/jobs", spec), 202)
            job = self.wait_job(j["id"])
            self.assertEqual(job["state"], "failed", job)
            self.assertIn("leaves the dataset root", job["error"])
            # a relative link out of the root: the same
            os.unlink(ds_dir)
            os.symlink(os.path.join("..", "outside", "ds"), ds_dir)
            j = self.assertOk(api("POST", "/api/v1/jobs", spec), 202)
            job = self.wait_job(j["id"])
            self.assertEqual(job["state"], "failed", job)
            self.assertIn("leaves the dataset root", job["error"])
        finally:
            os.unlink(ds_dir)
            os.rename(ds_dir + ".old", ds_dir)
        # put back, it runs again
        j = self.assertOk(api("POST", "/api/v1/jobs", spec), 202)
        self.assertEqual(self.wait_job(j["id"])["state"], "done")

    def wait_job(self, jid, timeout=test_api.JOB_DEADLINE):
        return self.wait_until(
            "job %d finished" % jid,
            lambda: (lambda j: j if j["state"] in ("done", "failed", "cancelled") else None)(
                self.assertOk(api("GET", "/api/v1/jobs/%d" % jid))),
            timeout)


def main():
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    loader = unittest.TestLoader()
    me = sys.modules[__name__]
    suite = loader.loadTestsFromNames(names, me) if names else \
        loader.loadTestsFromTestCase(T30HostileDatasets)
    runner = unittest.TextTestRunner(verbosity=1 if "-q" in sys.argv else 2, stream=sys.stdout,
                                     resultclass=test_api._Result)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print()
    for test, _ in result.failures + result.errors:
        print("failed: " + test.id())
    for test, why in result.skipped:
        print("skipped %s: %s" % (test.id(), why))
    print("daemon (hostile datasets): %d passed, %d failed, %d skipped"
          % (result.passed, failed, len(result.skipped)))
    sys.exit(0 if failed == 0 and result.passed > 0 else 1)


if __name__ == "__main__":
    main()

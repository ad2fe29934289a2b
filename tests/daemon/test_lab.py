#!/usr/bin/python3
"""The API a lab needs beside the sweeps (issue 12), over a real socket:
job names, notes and tags (submission, PATCH, list filters), model
versions, results with provenance and per trial, tokens listed, made and
revoked by their owner, users managed by an admin. Every answer is checked
against docs/openapi.yaml (test_api.api).

    BO_BUILD=build /usr/bin/python3 tests/daemon/test_lab.py [-v] [T40Lab.test_...]

The daemon runs with --public-read, so that tokens and users are seen to
stay private when everything else may be read without a token.
"""
import csv
import hashlib
import io
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_api  # noqa: E402
from harness import TOKEN_RE, Daemon, admin_cmd  # noqa: E402
from test_api import (F4, JOB_DEADLINE, NPY_IMAGES, NPY_LABELS, DaemonCase, api, multipart,  # noqa: E402
                      q, read)

PROV = ("job,model,model_version,model_sha256,dataset,dataset_sha256,deviation,target,sites,"
        "seed,bits,design").split(",")


class T40Lab(DaemonCase):
    """One daemon; tests run in name order and share what they create."""

    cache = {}

    @classmethod
    def setUpClass(cls):
        cls.make_data_dir("brownoutd-lab-")
        cls.tokens = {u: admin_cmd(cls.data, "user", "add", u) for u in ("alice", "bob")}
        cls.tokens["root"] = admin_cmd(cls.data, "user", "add", "root", "--admin")
        cls.tokens["worker"] = admin_cmd(cls.data, "token", "create", "alice", "--worker")
        cls.daemon = Daemon(cls.data, "brownoutd-lab.log", extra=["--public-read"]).start()
        cls.port = cls.daemon.port
        cls.cache = {}

    def call(self, method, path, body=None, user="alice", headers=None):
        token = self.tokens[user] if user in self.tokens else user
        return api(method, path, body, token=token, headers=headers, port=self.port)

    def ok(self, method, path, body=None, user="alice", status=200):
        return self.assertOk(self.call(method, path, body, user), status)

    def model(self, name="net", user="alice"):
        st, hdrs, m = self.call("POST", q("/api/v1/models", name=name, mean="0.286", std="0.353"),
                                read(F4), user=user)
        self.assertEqual(st, 201, m)
        return m

    def dataset(self):
        if "ds" not in self.cache:
            data, ctype = multipart([("images", "images.npy", read(NPY_IMAGES)),
                                     ("labels", "labels.npy", read(NPY_LABELS))])
            self.cache["ds"] = self.assertOk(self.call(
                "POST", q("/api/v1/datasets", name="first64", format="npy"), data,
                headers={"Content-Type": ctype}), 201)
        return self.cache["ds"]

    def spec(self, model, **over):
        s = {"model": model["id"], "dataset": self.dataset()["id"], "p": [0.0, 1e-2],
             "trials": 3, "limit": 8, "calib": 8, "seed": 7}
        s.update(over)
        return s

    def submit(self, spec, user="alice"):
        return self.ok("POST", "/api/v1/jobs", spec, user=user, status=202)

    def wait_done(self, jid):
        def done():
            j = self.ok("GET", "/api/v1/jobs/%d" % jid)
            return j if j["state"] in ("done", "failed", "cancelled") else None
        j = self.wait_until("job %d finished" % jid, done, JOB_DEADLINE)
        self.assertEqual(j["state"], "done", j)
        return j

    # ---------------------------------------------------------------- models

    def test_100_model_versions(self):
        a1, a2 = self.model("net"), self.model("net")
        b1 = self.model("net", user="bob")
        other = self.model("other")
        self.assertEqual((a1["version"], a2["version"], b1["version"], other["version"]),
                         (1, 2, 1, 1))
        self.assertEqual(len({a1["id"], a2["id"], b1["id"]}), 3, "every version has its own id")
        self.assertEqual(self.ok("GET", "/api/v1/models/%d" % a1["id"])["version"], 1)
        items = self.ok("GET", q("/api/v1/models", name="net"))["items"]
        self.assertEqual([(m["owner"], m["version"]) for m in items],
                         [("bob", 1), ("alice", 2), ("alice", 1)])
        self.assertEqual([m["id"] for m in self.ok("GET", q("/api/v1/models", name="nothing"))
                          ["items"]], [])
        # a deleted version keeps its number: the next upload is 3, not 2
        self.assertEqual(self.call("DELETE", "/api/v1/models/%d" % a2["id"])[0], 204)
        a3 = self.model("net")
        self.assertEqual(a3["version"], 3)
        self.assertEqual([m["version"] for m in self.ok("GET", q("/api/v1/models", name="net"))
                          ["items"] if m["owner"] == "alice"], [3, 1])
        self.assertError(self.call("GET", "/api/v1/models?name="), 400, "invalid", "name")
        self.assertError(self.call("GET", q("/api/v1/models", name="x" * 201)), 400, "invalid",
                         "name")
        self.cache["net"] = a3

    # ---------------------------------------------------------------- job bookkeeping

    def test_200_job_meta_at_submission(self):
        m = self.cache.get("net") or self.model("net")
        name = "é" * 200  # 200 characters, 400 bytes: the cap counts characters
        j = self.submit(dict(self.spec(m), name=name, notes="first try\nwith notes",
                             tags=["exp:1", "baseline", "a.b_c-d"]))
        self.assertEqual((j["name"], j["notes"], j["tags"]),
                         (name, "first try\nwith notes", ["exp:1", "baseline", "a.b_c-d"]))
        self.assertEqual((j["model_version"], j["model_sha256"]), (m["version"], m["sha256"]))
        for k in ("name", "notes", "tags"):
            self.assertNotIn(k, j["spec"], "bookkeeping is not part of the sweep spec")
        plain = self.submit(self.spec(m))
        self.assertEqual((plain["name"], plain["notes"], plain["tags"]), ("", "", []))
        self.cache["job"], self.cache["plain"] = j, plain

    def test_201_job_meta_errors(self):
        m = self.cache.get("net") or self.model("net")
        bad = [({"name": "x" * 201}, "name"), ({"name": 3}, "name"), ({"name": "a\tb"}, "name"),
               ({"notes": "n" * 4001}, "notes"), ({"notes": ["x"]}, "notes"),
               ({"tags": "a"}, "tags"), ({"tags": ["t%d" % i for i in range(17)]}, "tags"),
               ({"tags": ["has space"]}, "tags"), ({"tags": [""]}, "tags"),
               ({"tags": ["x" * 65]}, "tags"), ({"tags": ["a", "a"]}, "tags"),
               ({"tags": [1]}, "tags")]
        before = len(self.ok("GET", "/api/v1/jobs?limit=200")["items"])
        for extra, field in bad:
            with self.subTest(extra=str(extra)[:60]):
                self.assertError(self.call("POST", "/api/v1/jobs", dict(self.spec(m), **extra)),
                                 400, "invalid", field)
        self.assertEqual(len(self.ok("GET", "/api/v1/jobs?limit=200")["items"]), before,
                         "a refused job is not stored")
        # the caps themselves are allowed
        j = self.submit(dict(self.spec(m), notes="n" * 4000, tags=["t%d" % i for i in range(16)],
                             name="x" * 200))
        self.assertEqual((len(j["notes"]), len(j["tags"]), len(j["name"])), (4000, 16, 200))

    def test_210_patch(self):
        j = self.cache["job"]
        path = "/api/v1/jobs/%d" % j["id"]
        got = self.ok("PATCH", path, {"name": "renamed", "tags": ["final"]})
        self.assertEqual((got["name"], got["notes"], got["tags"]),
                         ("renamed", "first try\nwith notes", ["final"]))
        self.assertEqual(self.ok("GET", path)["name"], "renamed")
        # an admin may, another user may not
        self.assertEqual(self.ok("PATCH", path, {"notes": "by root"}, user="root")["notes"],
                         "by root")
        self.assertError(self.call("PATCH", path, {"notes": "by bob"}, user="bob"), 403,
                         "forbidden")
        self.assertEqual(self.ok("GET", path)["notes"], "by root")
        for body, field in (({"state": "done"}, "state"), ({"name": "ok", "model": 1}, "model"),
                            ({}, None), ({"tags": ["a b"]}, "tags"), ({"name": "x" * 201}, "name"),
                            ([1], None)):
            with self.subTest(body=body):
                self.assertError(self.call("PATCH", path, body), 400, "invalid", field)
        self.assertError(self.call("PATCH", path, b"{nope", headers={}), 400, "malformed")
        self.assertError(self.call("PATCH", "/api/v1/jobs/999999", {"name": "x"}), 404,
                         "not_found")
        self.assertError(self.call("PATCH", path, {"name": "x"}, user=None), 401, "unauthorized")
        self.assertEqual(self.ok("GET", path)["tags"], ["final"], "refused patches changed nothing")

    def test_220_list_filters(self):
        j, plain = self.cache["job"], self.cache["plain"]
        self.ok("PATCH", "/api/v1/jobs/%d" % plain["id"], {"name": "Second Run", "tags": ["b"]})
        ids = lambda **f: [x["id"] for x in self.ok("GET", q("/api/v1/jobs", **f))["items"]]
        self.assertEqual(ids(tag="final"), [j["id"]])
        self.assertEqual(ids(tag="b"), [plain["id"]])
        self.assertEqual(ids(tag="nope"), [])
        self.assertEqual(ids(name="second"), [plain["id"]], "name matches without case")
        self.assertEqual(ids(name="ENAME"), [j["id"]])
        self.assertEqual(ids(name="run", tag="final"), [], "filters combine")
        self.assertEqual(ids(name="run", owner="alice"), [plain["id"]])
        self.assertError(self.call("GET", q("/api/v1/jobs", tag="bad tag")), 400, "invalid", "tag")
        self.assertError(self.call("GET", "/api/v1/jobs?name="), 400, "invalid", "name")

    # ---------------------------------------------------------------- results

    def test_300_results_provenance(self):
        # a name that needs quoting in CSV
        m = self.model('net, "quoted"')
        ds = self.dataset()
        j = self.submit(self.spec(m, p=[0.0, 1e-2], trials=3))
        self.wait_done(j["id"])
        res = self.ok("GET", "/api/v1/jobs/%d/results" % j["id"])
        want = {"job": j["id"], "model": m["name"], "model_id": m["id"],
                "model_version": m["version"], "model_sha256": m["sha256"],
                "dataset": ds["name"], "dataset_id": ds["id"], "dataset_sha256": ds["sha256"],
                "deviation": "bm", "target": "both", "sites": "activations", "seed": 7,
                "bits": 8, "design": "all"}
        self.assertEqual(res["provenance"], want)
        st, hdrs, text = self.call("GET", "/api/v1/jobs/%d/results?format=csv" % j["id"])
        self.assertEqual(st, 200)
        rows = list(csv.reader(io.StringIO(text)))
        self.assertEqual(rows[0][-len(PROV):], PROV)
        self.assertEqual(rows[0][:2], ["p", "accuracy_mean"])
        self.assertEqual(len(rows), 1 + 2)
        for r in rows[1:]:
            prov = dict(zip(PROV, r[-len(PROV):]))
            self.assertEqual(prov, {k: str(want[k]) for k in PROV})
        self.assertIn('"net, ""quoted"""', text, "RFC 4180 quoting")
        self.cache["done"] = (j, res)

    def test_310_per_trial(self):
        j, res = self.cache["done"]
        base = "/api/v1/jobs/%d/results" % j["id"]
        t = self.ok("GET", base + "?per_trial=1")
        self.assertEqual(t["provenance"], res["provenance"])
        self.assertEqual(t["state"], "done")
        rows = t["trials"]
        self.assertEqual([(r["point"], r["trial"]) for r in rows],
                         [(p, k) for p in range(2) for k in range(3)])
        for r in rows:
            self.assertEqual(r["p"], res["points"][r["point"]]["p"])
            self.assertEqual(r["images"], 8)
            self.assertEqual(r["accuracy"], r["correct"] / r["images"])
        for p, pt in enumerate(res["points"]):
            mine = [r["accuracy"] for r in rows if r["point"] == p]
            self.assertEqual(len(mine), len(pt["trial_accuracies"]))
            for a, b in zip(mine, pt["trial_accuracies"]):
                self.assertTrue(test_api.rel_close(a, b), (mine, pt["trial_accuracies"]))
        one = self.ok("GET", base + "?per_trial=true&point=1")["trials"]
        self.assertEqual(one, [r for r in rows if r["point"] == 1])
        st, hdrs, text = self.call("GET", base + "?per_trial=1&format=csv")
        self.assertEqual(st, 200)
        crow = list(csv.reader(io.StringIO(text)))
        self.assertEqual(crow[0], ["point", "p", "trial", "correct", "images", "accuracy"] + PROV)
        self.assertEqual(len(crow), 1 + len(rows))
        for r, c in zip(rows, crow[1:]):
            self.assertEqual([int(c[0]), int(c[2]), int(c[3]), int(c[4])],
                             [r["point"], r["trial"], r["correct"], r["images"]])
            self.assertTrue(test_api.rel_close(float(c[5]), r["accuracy"], 1e-9))
            self.assertEqual(c[6], str(j["id"]))
        for query, field in (("per_trial=2", "per_trial"), ("per_trial=1&point=2", "point"),
                             ("per_trial=1&point=-1", "point"), ("point=0", "point"),
                             ("per_trial=1&point=01", "point")):
            with self.subTest(query=query):
                self.assertError(self.call("GET", base + "?" + query), 400, "invalid", field)
        self.assertError(self.call("GET", "/api/v1/jobs/999999/results?per_trial=1"), 404,
                         "not_found")
        # a queued job with no trial yet: an empty list, not an error
        fresh = self.ok("GET", "/api/v1/jobs/%d/results?per_trial=1" % self.cache["plain"]["id"])
        self.assertIsInstance(fresh["trials"], list)

    def test_320_per_trial_row_cap(self):
        """Over 100000 rows: 413 naming the way out (?point=K); one point's
        rows still come. The rows are written into the store directly."""
        jid = self.cache["plain"]["id"]
        self.wait_done(jid)
        db = sqlite3.connect(os.path.join(self.data, "brownout.db"), timeout=30)
        try:
            with db:
                db.executemany("INSERT INTO results (job_id, point, trial, correct, images)"
                               " VALUES (?, ?, ?, 4, 8)",
                               ((jid, p, t) for p in (0, 1) for t in range(1000, 51001)))
        finally:
            db.close()
        base = "/api/v1/jobs/%d/results?per_trial=1" % jid
        body = self.assertError(self.call("GET", base), 413, "too_large")
        self.assertIn("point=K", body["error"]["message"])
        self.assertError(self.call("GET", base + "&format=csv"), 413, "too_large")
        rows = self.ok("GET", base + "&point=1")["trials"]
        self.assertEqual(len(rows), 3 + 50001)
        self.assertEqual({r["point"] for r in rows}, {1})

    # ---------------------------------------------------------------- tokens

    def test_400_tokens(self):
        mine = self.ok("GET", "/api/v1/tokens")["items"]
        self.assertEqual({t["user"] for t in mine}, {"alice"})
        self.assertEqual(sorted(t["kind"] for t in mine), ["user", "worker"])
        self.assertEqual(sum(t["current"] for t in mine), 1)
        for t in mine:
            self.assertNotIn("token", t)
        new = self.ok("POST", "/api/v1/tokens", {"name": "laptop"}, status=201)
        self.assertRegex(new["token"], TOKEN_RE)
        self.assertEqual((new["user"], new["name"], new["kind"]), ("alice", "laptop", "user"))
        self.assertEqual(self.ok("GET", "/api/v1/me", user=new["token"])["name"], "alice")
        listed = self.ok("GET", "/api/v1/tokens", user=new["token"])["items"]
        self.assertEqual([t["id"] for t in listed if t["current"]], [new["id"]])
        self.assertNotIn(new["token"], repr(listed))
        # the store keeps only the SHA-256 of the secret
        db = sqlite3.connect(os.path.join(self.data, "brownout.db"))
        try:
            rows = db.execute("SELECT * FROM tokens").fetchall()
            hashes = [r[0] for r in db.execute("SELECT hash FROM tokens WHERE id = ?",
                                               (new["id"],))]
        finally:
            db.close()
        self.assertNotIn(new["token"], repr(rows))
        self.assertEqual(hashes, [hashlib.sha256(new["token"].encode()).hexdigest()])
        # an empty body is a token without a label
        plain = self.ok("POST", "/api/v1/tokens", None, user="bob", status=201)
        self.assertEqual((plain["user"], plain["name"]), ("bob", ""))
        # others' tokens: not found to a non-admin, seen and revocable by an admin
        self.assertError(self.call("DELETE", "/api/v1/tokens/%d" % new["id"], user="bob"), 404,
                         "not_found")
        everyone = {t["user"] for t in self.ok("GET", "/api/v1/tokens", user="root")["items"]}
        self.assertEqual(everyone, {"alice", "bob", "root"})
        self.assertEqual(self.call("DELETE", "/api/v1/tokens/%d" % plain["id"], user="root")[0],
                         204)
        self.assertError(self.call("GET", "/api/v1/me", user=plain["token"]), 401, "unauthorized")
        # the owner revokes; the token answers 401 from then on
        self.assertEqual(self.call("DELETE", "/api/v1/tokens/%d" % new["id"])[0], 204)
        self.assertError(self.call("GET", "/api/v1/me", user=new["token"]), 401, "unauthorized")
        self.assertError(self.call("GET", "/api/v1/tokens", user=new["token"]), 401,
                         "unauthorized")
        self.assertError(self.call("DELETE", "/api/v1/tokens/%d" % new["id"]), 404, "not_found")
        self.assertEqual(self.ok("GET", "/api/v1/me")["name"], "alice", "other tokens still work")

    def test_401_token_errors(self):
        self.assertError(self.call("POST", "/api/v1/tokens", {"nope": 1}), 400, "invalid", "nope")
        self.assertError(self.call("POST", "/api/v1/tokens", {"name": "x" * 65}), 400, "invalid",
                         "name")
        self.assertError(self.call("POST", "/api/v1/tokens", {"name": 5}), 400, "invalid", "name")
        self.assertError(self.call("POST", "/api/v1/tokens", [1]), 400, "invalid")
        self.assertError(self.call("DELETE", "/api/v1/tokens/abc"), 404, "not_found")
        # never public, even under --public-read (GET /api/v1/jobs is)
        self.assertEqual(self.call("GET", "/api/v1/jobs", user=None)[0], 200)
        for path in ("/api/v1/tokens", "/api/v1/users"):
            self.assertError(self.call("GET", path, user=None), 401, "unauthorized")
        # a worker token calls /api/v1/worker/* only
        self.assertError(self.call("GET", "/api/v1/tokens", user="worker"), 403, "forbidden")
        self.assertError(self.call("POST", "/api/v1/tokens", {}, user="worker"), 403, "forbidden")

    # ---------------------------------------------------------------- users

    def test_500_users(self):
        self.assertError(self.call("GET", "/api/v1/users", user="bob"), 403, "forbidden")
        self.assertError(self.call("POST", "/api/v1/users", {"name": "eve"}, user="bob"), 403,
                         "forbidden")
        names = {u["name"]: u for u in self.ok("GET", "/api/v1/users", user="root")["items"]}
        self.assertTrue({"alice", "bob", "root"} <= set(names))
        self.assertTrue(names["root"]["admin"])
        self.assertFalse(names["bob"]["admin"])
        carol = self.ok("POST", "/api/v1/users", {"name": "carol"}, user="root", status=201)
        self.assertRegex(carol["token"], TOKEN_RE)
        self.assertEqual((carol["name"], carol["admin"], carol["tokens"], carol["disabled_at"]),
                         ("carol", False, 1, None))
        self.assertEqual(self.ok("GET", "/api/v1/me", user=carol["token"])["name"], "carol")
        dave = self.ok("POST", "/api/v1/users", {"name": "dave", "admin": True}, user="root",
                       status=201)
        self.assertTrue(self.ok("GET", "/api/v1/me", user=dave["token"])["admin"])
        self.assertError(self.call("POST", "/api/v1/users", {"name": "carol"}, user="root"), 409,
                         "conflict")
        for body, field in (({"name": "bad name"}, "name"), ({}, "name"), ({"name": ""}, "name"),
                            ({"name": "x" * 65}, "name"), ({"name": "e", "admin": "yes"}, "admin"),
                            ({"name": "e", "role": "x"}, "role")):
            with self.subTest(body=body):
                self.assertError(self.call("POST", "/api/v1/users", body, user="root"), 400,
                                 "invalid", field)
        # carol's job stays after she is removed
        m = self.model("carols", user=carol["token"])
        self.assertError(self.call("DELETE", "/api/v1/users/%d" % carol["id"], user="bob"), 403,
                         "forbidden")
        self.assertEqual(self.call("DELETE", "/api/v1/users/%d" % carol["id"], user="root")[0], 204)
        self.assertError(self.call("GET", "/api/v1/me", user=carol["token"]), 401, "unauthorized")
        after = {u["name"]: u for u in self.ok("GET", "/api/v1/users", user="root")["items"]}
        self.assertIsNotNone(after["carol"]["disabled_at"])
        self.assertEqual(after["carol"]["tokens"], 0)
        self.assertEqual(self.ok("GET", "/api/v1/models/%d" % m["id"])["owner"], "carol")
        self.assertError(self.call("DELETE", "/api/v1/users/%d" % carol["id"], user="root"), 404,
                         "not_found")
        self.assertError(self.call("POST", "/api/v1/users", {"name": "carol"}, user="root"), 409,
                         "conflict")
        self.assertError(self.call("DELETE", "/api/v1/users/999999", user="root"), 404,
                         "not_found")
        root_id = after["root"]["id"]
        self.assertError(self.call("DELETE", "/api/v1/users/%d" % root_id, user="root"), 409,
                         "conflict")
        # another admin may remove root
        self.assertEqual(self.call("DELETE", "/api/v1/users/%d" % root_id, user=dave["token"])[0],
                         204)
        self.assertError(self.call("GET", "/api/v1/me", user="root"), 401, "unauthorized")

    # ---------------------------------------------------------------- last

    def test_990_clean_exit(self):
        """SIGTERM: exit status 0 and no sanitizer report (a leak in the
        new handlers shows here in the sanitizer build)."""
        rc = self.daemon.stop()
        with open(self.daemon.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertEqual(rc, 0, self.daemon.log_tail())
        for marker in ("Sanitizer", "runtime error:"):
            self.assertNotIn(marker, log)


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    loader = unittest.TestLoader()
    suite = (loader.loadTestsFromNames(names, sys.modules[__name__]) if names
             else loader.loadTestsFromTestCase(T40Lab))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                     resultclass=test_api._Result).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("\nlab: %d passed, %d failed, %d skipped" % (result.passed, failed,
                                                       len(result.skipped)))
    sys.exit(0 if failed == 0 and result.passed > 0 else 1)

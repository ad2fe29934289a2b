#!/usr/bin/python3
"""The Python package (clients/python) against a live brownoutd, and its
PyTorch side (export, ErasureRegularizer).

    BO_BUILD=build /usr/bin/python3 tests/python/test_client.py [-v]

(tests/python/run.sh BUILD does that.) Torch tests skip without Debian's
python3-torch; the DataFrame test without python3-pandas.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "clients", "python"))
sys.path.insert(0, os.path.join(REPO, "tests", "daemon"))

import brownout  # noqa: E402
from harness import FIXTURES, FMNIST, Daemon, admin_cmd, build_dir  # noqa: E402

BUILD = build_dir()
CLI = os.path.join(BUILD, "brownout")
F4 = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
F6 = os.path.join(FIXTURES, "fmnist_preact_f6.onnx")
NPY_IMAGES = os.path.join(FIXTURES, "fmnist_first64.npy")
NPY_LABELS = os.path.join(FIXTURES, "fmnist_first64_labels.npy")

try:
    import torch
    import numpy as np
    import onnx  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
try:
    import pandas  # noqa: F401
    HAVE_PANDAS = True
except ImportError:
    HAVE_PANDAS = False


def setUpModule():
    global TMP, DAEMON, URL, TOKEN, OTHER, ADMIN
    TMP = tempfile.mkdtemp(prefix="bo-py-")
    data = os.path.join(TMP, "data")
    os.mkdir(data)
    TOKEN = admin_cmd(data, "user", "add", "alice")
    OTHER = admin_cmd(data, "user", "add", "bob")
    ADMIN = admin_cmd(data, "user", "add", "root", "--admin")
    DAEMON = Daemon(data, "brownoutd.log").start()
    URL = "http://127.0.0.1:%d" % DAEMON.port


def tearDownModule():
    rc = DAEMON.stop()
    if rc != 0:
        print(DAEMON.log_tail(), file=sys.stderr)
    if not os.environ.get("BO_KEEP_TMP"):
        subprocess.run(["rm", "-rf", TMP])


class T10Client(unittest.TestCase):
    def client(self, **kw):
        return brownout.Client(URL, TOKEN, **kw)

    def test_010_env_and_me(self):
        old = dict(os.environ)
        try:
            os.environ["BROWNOUT_URL"] = URL + "/"
            os.environ["BROWNOUT_TOKEN"] = TOKEN
            c = brownout.Client()
            self.assertEqual(c.url, URL + "/api/v1")
            self.assertEqual(c.me()["name"], "alice")
            self.assertEqual(c.health()["status"], "ok")
        finally:
            os.environ.clear()
            os.environ.update(old)
        os.environ.pop("BROWNOUT_URL", None)
        with self.assertRaises(ValueError):
            brownout.Client(None, TOKEN)

    def test_020_errors_carry_code_message_field(self):
        with self.assertRaises(brownout.BrownoutError) as cm:
            brownout.Client(URL, "bo_wrong").me()
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))
        c = self.client()
        with self.assertRaises(brownout.BrownoutError) as cm:
            c.models.upload(b"garbage", name="bad", mean=0.5, std=0.5)
        self.assertEqual((cm.exception.status, cm.exception.code), (400, "malformed"))
        with self.assertRaises(brownout.BrownoutError) as cm:
            c.models.get(999999)
        self.assertEqual(cm.exception.code, "not_found")
        with self.assertRaises(brownout.BrownoutError) as cm:
            c.jobs.submit(1, 1, [1e-2], trails=3)
        self.assertEqual((cm.exception.code, cm.exception.field), ("invalid", "trails"))
        self.assertIn("trails", str(cm.exception))
        with self.assertRaises(ConnectionError):
            brownout.Client("http://127.0.0.1:9", TOKEN, retries=1).me()

    def test_030_models_upload_list_get_delete(self):
        c = self.client()
        a = c.models.upload(F4, name="py-f4", description="from a path")
        with open(F6, "rb") as f:
            b = c.models.upload(f, name="py-f6")
        self.assertEqual((a["name"], a["description"], b["name"]), ("py-f4", "from a path", "py-f6"))
        self.assertEqual(c.models.get(a["id"])["sha256"], a["sha256"])
        # pages of one item: the lazy list walks them all, newest first
        ids = [m["id"] for m in c.models.list(page_size=1)]
        self.assertLess(ids.index(b["id"]), ids.index(a["id"]))
        c.models.delete(b["id"])
        self.assertNotIn(b["id"], [m["id"] for m in c.models.list()])
        with self.assertRaises(brownout.BrownoutError) as cm:
            brownout.Client(URL, OTHER).models.delete(a["id"])
        self.assertEqual(cm.exception.code, "forbidden")

    def test_040_datasets_upload_and_register(self):
        c = self.client()
        d = c.datasets.upload(NPY_IMAGES, labels=NPY_LABELS, name="py-first64")
        self.assertEqual((d["format"], d["images"], d["shape"]), ("npy", 64, [1, 28, 28]))
        r = c.datasets.register(FMNIST, name="py-fmnist")
        self.assertEqual((r["source"], r["images"]), ("path", 10000))
        if HAVE_TORCH:
            x = np.load(NPY_IMAGES)[:10]
            y = np.load(NPY_LABELS)[:10]
            e = c.datasets.upload(x, labels=y, name="py-arrays")
            self.assertEqual((e["format"], e["images"]), ("npy", 10))
        with self.assertRaises(brownout.BrownoutError) as cm:
            c.datasets.register("/etc", name="nope")
        self.assertIn(cm.exception.code, ("forbidden", "not_found"))

    def test_050_job_submit_wait_results(self):
        c = self.client()
        m = c.models.upload(F4, name="py-sweep")
        d = c.datasets.register(FMNIST, name="py-fm2")
        job = c.jobs.submit(m, d, [1e-3, 1e-2], trials=2, limit=200, seed=5, calib=64)
        self.assertIsInstance(job, brownout.Job)
        self.assertEqual(job.spec["seed"], 5)
        job.wait(timeout=120, poll=0.1, progress=False)
        self.assertEqual(job.state, "done")
        self.assertTrue(job.done)
        res = job.results()
        self.assertEqual([p["p"] for p in res["points"]], [1e-3, 1e-2])
        # the numbers are brownout sweep's for the same spec
        out = subprocess.run([CLI, "sweep", F4, FMNIST, "--p", "1e-3,1e-2", "--trials", "2",
                              "--limit", "200", "--seed", "5", "--calib", "64", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        cli = json.loads(out.stdout)
        self.assertEqual([p["trial_accuracies"] for p in res["points"]],
                         [p["trial_accuracies"] for p in cli["points"]])
        self.assertTrue(job.csv().startswith("p,") or "accuracy" in job.csv().splitlines()[0])
        self.assertIn(job.id, [j.id for j in c.jobs.list(state="done", model=m)])
        an = c.analysis([job], references=[m])
        self.assertEqual(an["jobs"][0]["job"], job.id)
        if HAVE_PANDAS:
            df = job.results_frame()
            self.assertEqual(list(df["p"]), [1e-3, 1e-2])
            for col in ("job", "model", "dataset", "deviation", "target", "sites", "seed",
                        "bits", "ci95_lo", "ci95_hi"):
                self.assertIn(col, df.columns)
            self.assertEqual(set(df["job"]), {job.id})
            self.assertEqual(set(df["deviation"]), {"bm"})
        job.delete()
        with self.assertRaises(brownout.BrownoutError):
            c.jobs.get(job.id)

    def test_060_submission_retried_with_its_idempotency_key(self):
        """The answer to a job submission is lost once (the server did
        create the job): the retry, with the same Idempotency-Key, gets the
        same job and no second one is made."""
        c = self.client(retries=2)
        m = c.models.upload(F4, name="py-retry")
        d = c.datasets.register(FMNIST, name="py-fm3")
        real = urllib.request.urlopen
        calls = []

        def lossy(req, *a, **kw):
            calls.append(req.get_header("Idempotency-key"))
            resp = real(req, *a, **kw)
            if len(calls) == 1:
                resp.read()
                resp.close()
                raise ConnectionResetError("connection reset by peer (simulated)")
            return resp

        urllib.request.urlopen = lossy
        try:
            job = c.jobs.submit(m, d, [1e-2], trials=1, limit=50, calib=16)
        finally:
            urllib.request.urlopen = real
        self.assertEqual(len(calls), 2)
        self.assertIsNotNone(calls[0])
        self.assertEqual(calls[0], calls[1])
        mine = [j.id for j in c.jobs.list(model=m)]
        self.assertEqual(mine, [job.id])
        job.cancel() if not job.refresh().done else None
        self.assertTrue(job.refresh().state in ("cancelled", "done"))

    def test_070_wait_times_out_and_failed_jobs_raise(self):
        c = self.client()
        m = c.models.upload(F4, name="py-long")
        d = c.datasets.register(FMNIST, name="py-fm4")
        job = c.jobs.submit(m, d, [1e-2] * 1 + [2e-2, 3e-2], trials=50, calib=16)
        with self.assertRaises(TimeoutError):
            job.wait(timeout=0.2, poll=0.05, progress=False)
        job.cancel()
        job.wait(timeout=60, poll=0.1, progress=False)
        self.assertEqual(job.state, "cancelled")

    def test_080_job_bookkeeping_versions_and_provenance(self):
        c = self.client()
        v1, v2 = c.models.upload(F4, name="py-ver"), c.models.upload(F4, name="py-ver")
        self.assertEqual((v1["version"], v2["version"]), (1, 2))
        self.assertEqual([m["id"] for m in c.models.versions("py-ver")], [v2["id"], v1["id"]])
        self.assertEqual(c.models.versions("py-ver", owner="bob"), [])
        d = c.datasets.register(FMNIST, name="py-fm5")
        job = c.jobs.submit(v2, d, [0.0, 1e-2], trials=2, limit=50, calib=16, seed=3,
                            name="Py Run", notes="why", tags=("py", "v2"))
        self.assertEqual((job.name, job.notes, job.tags, job.model_version),
                         ("Py Run", "why", ["py", "v2"], 2))
        job.update(notes="changed", tags=["py-final"])
        self.assertEqual((job.name, job.notes, job.tags), ("Py Run", "changed", ["py-final"]))
        self.assertEqual([j.id for j in c.jobs.list(tag="py-final")], [job.id])
        self.assertEqual([j.id for j in c.jobs.list(name="py run")], [job.id])
        self.assertEqual(list(c.jobs.list(tag="v2")), [])
        with self.assertRaises(ValueError):
            job.update()
        with self.assertRaises(brownout.BrownoutError) as cm:
            job.update(tags=["bad tag"])
        self.assertEqual((cm.exception.status, cm.exception.field), (400, "tags"))
        with self.assertRaises(brownout.BrownoutError) as cm:
            brownout.Client(URL, OTHER).jobs.get(job.id).update(name="bob's")
        self.assertEqual(cm.exception.status, 403)
        job.wait(timeout=120, poll=0.1, progress=False)
        rows = job.result_rows()
        self.assertEqual(len(rows), 2)
        for r in rows:
            self.assertEqual((r["job"], r["model"], r["model_version"], r["model_sha256"],
                              r["dataset"], r["design"], r["seed"], r["bits"]),
                             (job.id, "py-ver", 2, v2["sha256"], "py-fm5", "all", 3, 8))
        trials = job.result_rows(per_trial=True)
        self.assertEqual([(t["point"], t["trial"]) for t in trials],
                         [(0, 0), (0, 1), (1, 0), (1, 1)])
        self.assertEqual([t["accuracy"] for t in trials if t["point"] == 1],
                         job.results()["points"][1]["trial_accuracies"])
        self.assertEqual(job.results(per_trial=True, point=1)["trials"],
                         [t for t in job.results(per_trial=True)["trials"] if t["point"] == 1])
        self.assertTrue(job.csv(per_trial=True).startswith("point,p,trial,correct,images,"
                                                           "accuracy,job,model,"))
        with self.assertRaises(ValueError):
            job.results(point=1)
        if HAVE_PANDAS:
            df = job.results_frame(per_trial=True)
            self.assertEqual(len(df), 4)
            self.assertEqual(set(df["model_version"]), {2})

    def test_090_tokens_and_users(self):
        c = self.client()
        new = c.tokens.create(name="py")
        mine = brownout.Client(URL, new["token"])
        self.assertEqual(mine.me()["name"], "alice")
        listed = list(c.tokens.list())
        self.assertIn(new["id"], [t["id"] for t in listed])
        self.assertNotIn(new["token"], repr(listed))
        self.assertEqual({t["user"] for t in listed}, {"alice"})
        c.tokens.revoke(new["id"])
        with self.assertRaises(brownout.BrownoutError) as cm:
            mine.me()
        self.assertEqual(cm.exception.status, 401)
        with self.assertRaises(brownout.BrownoutError) as cm:
            list(c.users.list())
        self.assertEqual(cm.exception.status, 403)
        admin = brownout.Client(URL, ADMIN)
        carol = admin.users.add("py-carol")
        self.assertEqual(brownout.Client(URL, carol["token"]).me()["name"], "py-carol")
        self.assertIn("py-carol", [u["name"] for u in admin.users.list()])
        admin.users.remove(carol)
        with self.assertRaises(brownout.BrownoutError) as cm:
            brownout.Client(URL, carol["token"]).me()
        self.assertEqual(cm.exception.status, 401)


@unittest.skipUnless(HAVE_TORCH, "python3-torch, python3-onnx and python3-numpy are needed")
class T20Torch(unittest.TestCase):
    @staticmethod
    def net():
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 8, 3, padding=1)
                self.bn = nn.BatchNorm2d(8)
                self.act = nn.ReLU()
                self.fc = nn.Linear(8 * 7 * 7, 10)

            def forward(self, x):
                x = self.act(self.bn(self.conv(x)))
                x = F.max_pool2d(x, 4)
                return self.fc(torch.flatten(F.relu(x), 1))

        torch.manual_seed(3)
        return Net()

    def test_010_export_round_trip(self):
        """The exported model's logits in brownout equal PyTorch's, at a
        batch other than the example's, with the metadata brownout reads."""
        from brownout.torch import export
        net = self.net().eval()
        x = torch.from_numpy(np.load(NPY_IMAGES)[:5].astype(np.float32))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "net.onnx")
            m = export(net, x[:1], path, mean=0.286, std=0.353, erasure_pe=0.02)
            meta = {p.key: p.value for p in m.metadata_props}
            self.assertEqual((meta["brownout.mean"], meta["brownout.std"],
                              meta["brownout.erasure_pe"]), ("0.286", "0.353", "0.02"))
            self.assertIn("BatchNormalization", [n.op_type for n in m.graph.node])
            np.save(os.path.join(d, "x.npy"), x.numpy())
            subprocess.run([CLI, "run", path, "--input", os.path.join(d, "x.npy"),
                            "--output-dir", d], check=True, stdout=subprocess.DEVNULL)
            from onnx import numpy_helper, TensorProto
            t = TensorProto()
            with open(os.path.join(d, "output_0.pb"), "rb") as f:
                t.ParseFromString(f.read())
            got = numpy_helper.to_array(t)
            want = net(x).detach().numpy()
            self.assertEqual(got.shape, want.shape)
            self.assertLess(float(np.abs(got - want).max()), 1e-4 * float(np.abs(want).max()) + 1e-6)
            folded = export(net, x[:1], os.path.join(d, "folded.onnx"), batchnorm="fold",
                            mean=0.286, std=0.353)
            self.assertNotIn("BatchNormalization", [n.op_type for n in folded.graph.node])
        with self.assertRaises(ValueError):
            export(net, x[:1], io.BytesIO(), mean=0.3)

    def test_020_upload_a_module(self):
        c = brownout.Client(URL, TOKEN)
        net = self.net()
        x = torch.zeros(1, 1, 28, 28)
        m = c.models.upload(net, name="py-module", example=x, mean=0.286, std=0.353)
        self.assertEqual(m["info"]["parameters"] > 0, True)
        self.assertEqual(len(m["mean"]), 1)
        self.assertAlmostEqual(m["mean"][0], 0.286, places=6)

    def test_025_fixed_batch_export_runs_as_a_job(self):
        """torch.onnx.export's default, a batch fixed at 1, runs in brownoutd
        at the job's batch with the numbers of the dynamic export."""
        c = brownout.Client(URL, TOKEN)
        net = self.net()
        x = torch.zeros(1, 1, 28, 28)
        fixed = c.models.upload(net, name="py-fixed", example=x, mean=0.286, std=0.353,
                                dynamic_batch=False)
        dyn = c.models.upload(net, name="py-dynamic", example=x, mean=0.286, std=0.353)
        d = c.datasets.register(FMNIST, name="py-fm-fixed")
        jobs = [c.jobs.submit(m, d, [1e-2], trials=2, limit=100, calib=32, seed=3)
                for m in (fixed, dyn)]
        res = []
        for j in jobs:
            j.wait(timeout=120, poll=0.1, progress=False)
            self.assertEqual(j.state, "done", j.error)
            res.append([p["trial_accuracies"] for p in j.results()["points"]])
        self.assertEqual(res[0], res[1])

    def test_030_regularizer_erases_at_its_rate_in_training_only(self):
        from brownout.torch import ErasureRegularizer
        torch.manual_seed(0)
        lin = torch.nn.Linear(200, 300)
        seen = {}

        class Probe(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lin

            def forward(self, x):
                seen["w"] = self.lin.weight.detach().clone()
                y = torch.nn.functional.relu(self.lin(x))
                seen["y"] = y.detach().clone()
                return y

        net = Probe()
        clean_w = lin.weight.detach().clone()
        x = torch.rand(400, 200) + 0.5  # every pre-activation far from 0 is rare; count zeros
        with torch.no_grad():
            ref = torch.relu(lin(x))
        p = 0.1
        live = ref > 0
        with ErasureRegularizer(net, p, weights=False) as reg:
            net.train()
            net(x)
            # activations alone: the live outputs of the ReLU, erased at ~p
            az = float(((seen["y"] == 0) & live).float().sum() / live.float().sum())
            self.assertLess(abs(az - p), 0.01, az)
            self.assertTrue(torch.equal(seen["w"], clean_w))
            self.assertEqual((reg.weight_draws, reg.activation_draws), (0, 1))
        with ErasureRegularizer(net, p) as reg:
            net.train()
            net(x)
            wz = float((seen["w"] == 0).float().mean())
            # weights: 60,000 values, erased at ~p, once per forward pass
            self.assertLess(abs(wz - p), 0.01, wz)
            self.assertGreater(reg.weight_draws, 0)
            self.assertGreater(reg.activation_draws, 0)
            net(x)
            self.assertFalse(torch.equal(seen["w"], net.lin.weight.detach()) and wz == 0)
            net.eval()
            net(x)
            self.assertEqual(float((seen["w"] == 0).float().mean()), 0.0)
            self.assertTrue(torch.allclose(seen["y"], ref))
        # off again: the model's forward and weights are as before
        self.assertNotIn("forward", net.__dict__)
        self.assertTrue(torch.equal(lin.weight.detach(), clean_w))
        net.train()
        net(x)
        self.assertEqual(float((seen["w"] == 0).float().mean()), 0.0)

    def test_040_gradients_flow_through_kept_values(self):
        from brownout.torch import ErasureRegularizer
        torch.manual_seed(1)
        lin = torch.nn.Linear(50, 40, bias=False)
        reg = ErasureRegularizer(lin, 0.3, activations=False)
        reg.train()
        x = torch.ones(1, 50)
        reg(x).sum().backward()
        g = reg.model.parametrizations.weight.original.grad
        # d(sum(W*mask x))/dW = mask x: zero exactly where erased
        erased = (g == 0)
        frac = float(erased.float().mean())
        self.assertLess(abs(frac - 0.3), 0.06, frac)
        self.assertTrue(torch.all(g[~erased] == 1.0))
        plain = reg.remove()
        self.assertIs(plain, lin)
        self.assertFalse(hasattr(lin, "parametrizations"))

    def test_050_bad_rate(self):
        from brownout.torch import ErasureRegularizer
        with self.assertRaises(ValueError):
            ErasureRegularizer(torch.nn.Linear(2, 2), 1.0)


class T30Calibrate(unittest.TestCase):
    def test_010_calibrated_pe_is_the_clis(self):
        """calibrated_pe's jobs give calibrate-erasure's ratio, grid and
        accuracies for the same settings (an interior, refined ratio)."""
        c = brownout.Client(URL, TOKEN)
        m = c.models.upload(F4, name="py-cal")
        d = c.datasets.register(FMNIST, name="py-fm-cal")
        cal = brownout.calibrated_pe(c, m, d, p=[5e-3, 2e-2], trials=2, limit=100, seed=3,
                                     calib=64, tags=["cal"])
        out = subprocess.run([CLI, "calibrate-erasure", F4, FMNIST, "--p", "5e-3,2e-2",
                              "--trials", "2", "--limit", "100", "--seed", "3", "--calib", "64",
                              "--threads", "1", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        cli = json.loads(out.stdout)
        self.assertLess(abs(cal.ratio - cli["ratio"]), 1e-9, (cal.ratio, cli["ratio"]))
        self.assertEqual(cal.best_grid_ratio, cli["best_grid_ratio"])
        self.assertEqual([r for r, _ in cal.grid], [g["ratio"] for g in cli["grid"]])
        for (_, s), g in zip(cal.grid, cli["grid"]):
            self.assertLess(abs(s - g["sse"]), 1e-12)
        for mine, theirs in zip(cal.points, cli["points"]):
            self.assertEqual((mine["p"], mine["bm_accuracy"]), (theirs["p"], theirs["bm_accuracy"]))
            self.assertEqual([mine["erasure_accuracy"][r] for r in brownout.calibrate.GRID],
                             [theirs["erasure_accuracy"]["%g" % r] for r in brownout.calibrate.GRID])
        self.assertEqual(cal.pe(0.01), min(1.0, cal.ratio * 0.01))
        self.assertEqual(cal.pe(1.0), 1.0)
        # two jobs: weights-only BM over p, weights-only erasure over every distinct r p
        bm, er = cal.jobs
        self.assertEqual((bm.spec["deviation"], bm.spec["target"], bm.spec["p"]),
                         ("bm", "weights", [5e-3, 2e-2]))
        want = sorted({min(1.0, r * p) for r in brownout.calibrate.GRID for p in (5e-3, 2e-2)})
        self.assertEqual((er.spec["deviation"], er.spec["target"], sorted(er.spec["p"])),
                         ("erasure", "weights", want))
        self.assertEqual([j.tags for j in cal.jobs], [["cal"], ["cal"]])
        with self.assertRaises(ValueError):
            brownout.calibrated_pe(c, m, d, p=[1e-2], target="both")
        with self.assertRaises(ValueError):
            brownout.calibrated_pe(c, m, d, p=[1e-2], trials=0)

    def test_020_refinement_rule(self):
        """The CLI's rule: first minimum of the grid; the parabola's vertex
        only between interior neighbours; ends and flat grids unrefined."""
        from brownout.calibrate import GRID, _refine
        flat = {r: 1.0 for r in GRID}
        self.assertEqual(_refine(flat), (0.5, 0.5))
        end = {r: 10.0 - r for r in GRID}
        self.assertEqual(_refine(end), (4.0, 4.0))
        sym = dict(flat)
        sym.update({1.5: 0.5, 2.0: 0.25, 2.5: 0.5})
        self.assertEqual(_refine(sym), (2.0, 2.0))
        # y = (r - 2.2)^2 sampled on the grid: the vertex is 2.2 exactly
        quad = {r: (r - 2.2) ** 2 for r in GRID}
        self.assertLess(abs(_refine(quad)[0] - 2.2), 1e-12)
        self.assertEqual(_refine(quad)[1], 2.0)


@unittest.skipUnless(HAVE_TORCH, "python3-torch, python3-onnx and python3-numpy are needed")
class T40Example(unittest.TestCase):
    def test_010_train_robust_quick(self):
        """examples/train_robust.py --quick: its table parses, and every
        number in it is the API's for the jobs it names."""
        example = os.path.join(REPO, "clients", "python", "examples", "train_robust.py")
        with tempfile.TemporaryDirectory() as d:
            js = os.path.join(d, "out.json")
            env = dict(os.environ, BROWNOUT_URL=URL, BROWNOUT_TOKEN=TOKEN)
            r = subprocess.run([sys.executable, example, "--quick", "--name", "py-ex",
                                "--json", js], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
            with open(js) as f:
                saved = json.load(f)
        text = r.stdout.decode()
        lines = text.splitlines()
        c = brownout.Client(URL, TOKEN)
        jobs = {}
        for ln in lines:
            if ln.startswith("model ") and " job " in ln:
                w = ln.split()
                jobs[w[1]] = c.jobs.get(int(w[3]))
                self.assertEqual(float(w[6]), round(jobs[w[1]].clean_accuracy, 4))
        self.assertEqual(sorted(jobs), ["erasure", "plain"])
        head = [i for i, ln in enumerate(lines) if ln.split()[:2] == ["model", "p"]]
        self.assertEqual(len(head), 1, text)
        cols = lines[head[0]].split()
        rows = []
        for ln in lines[head[0] + 1:]:
            if not ln.strip():
                break
            rows.append(dict(zip(cols, ln.split())))
        self.assertEqual([(x["model"], float(x["p"])) for x in rows],
                         [("plain", 0.0), ("plain", 1e-3), ("erasure", 0.0), ("erasure", 1e-3)])

        def red(v):
            return "-" if v is None else "%.3fx" % v

        sys.path.insert(0, os.path.dirname(example))
        import train_robust as tr
        for kind, job in jobs.items():
            self.assertEqual((job.state, job.spec["deviation"], job.spec["target"],
                              job.spec["trials"], job.spec["limit"]), ("done", "bm", "both", 2, 200))
            self.assertIn("train-robust", job.tags)
            res = job.results()
            self.assertEqual(len(res["references"]), 2)
            front = tr.frontier(res["references"])
            mine = [x for x in rows if x["model"] == kind]
            for x, pt in zip(mine, res["points"]):
                self.assertEqual(float(x["p"]), pt["p"])
                for col, key in (("accuracy", pt["accuracy_mean"]), ("ci95_lo", pt["ci95"][0]),
                                 ("ci95_hi", pt["ci95"][1]), ("eta", pt["eta"])):
                    self.assertLessEqual(abs(float(x[col]) - key), 0.5e-4 + 1e-12, (col, x, pt))
                self.assertLessEqual(abs(float(x["energy"]) - pt["energy"]), 0.05 + 1e-9)
                self.assertEqual(int(x["trials"]), pt["trials"])
                self.assertEqual(x["reduction"], red(pt["energy_reduction"]))
                # the CI columns use brownoutd's frontier: at the mean, its number
                here = tr.reduction_at(front, pt["accuracy_mean"], pt["energy"])
                if pt["energy_reduction"] is None:
                    self.assertIn(here, ("below", "above"))
                else:
                    self.assertLess(abs(here - pt["energy_reduction"]), 1e-9)
                for col, acc in (("red_at_ci_lo", pt["ci95"][0]), ("red_at_ci_hi", pt["ci95"][1])):
                    v = tr.reduction_at(front, acc, pt["energy"])
                    self.assertEqual(x[col], v if isinstance(v, str) else red(v))
            self.assertEqual(saved["models"][kind]["job"], job.id)
        # the plain model is a reference: at p = 0 it is its own frontier point
        self.assertEqual(rows[0]["reduction"], "1.000x")
        self.assertEqual(jobs["plain"].results()["points"][0]["energy_reduction"], 1.0)
        # the erasure model was trained at the calibrated p_e and says so
        cal = saved["calibration"]
        self.assertEqual(saved["p_e"], min(1.0, cal["ratio"] * 0.01))
        em = c.models.get(saved["models"]["erasure"]["model"])
        self.assertEqual(jobs["erasure"].data["model"], em["id"])
        self.assertTrue(any(ln.startswith("best plain ") for ln in lines))
        self.assertTrue(any(ln.startswith("best erasure ") for ln in lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)

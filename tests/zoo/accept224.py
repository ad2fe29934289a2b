#!/usr/bin/python3
"""Acceptance run for "bring your own PyTorch model" (not part of `make test`:
full-size models at 224x224, minutes per model on a small machine).

  tests/zoo/accept224.py BUILD [--models a,b] [--images N] [--out DIR]
                         [--no-daemon] [--threads T]

For each torchvision 0.14 classifier below, with random weights in eval mode,
exported the default way, torch.onnx.export(model, torch.randn(1, 3, S, S),
"m.onnx") (batch fixed at 1; S = 299 for inception_v3, else 224), it runs
  brownout info m.onnx
  brownout eval m.onnx --images x.npy --labels y.npy --mean ... --std ...
  brownout run m.onnx --input xn.npy     (logits compared with PyTorch's)
  brownout sweep m.onnx ... --p 1e-4,1e-3 --trials 2
on N random uint8 images (default 8) in one batch of N, so a batch-1 export
runs re-planned for N, or as runs of 1 with a note; and the same through
brownoutd (one daemon for the run, started here: the model uploaded with
its mean/std, the images uploaded as .npy, a 2-point sweep job submitted and
waited for). Prints one line per model and a table at the end: ran or
failed, how the batch ran, max |logit diff| (and relative to max |logit|),
seconds for each step. Exit status 1 when any model failed.
Needs python3-torch, python3-torchvision, python3-onnx (Debian).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MODELS = ["resnet18", "resnet50", "vgg11", "alexnet", "squeezenet1_0", "densenet121",
          "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5",
          "shufflenet_v2_x0_5", "efficientnet_b0", "regnet_x_400mf", "convnext_tiny",
          "vit_b_16", "swin_t"]
TOL = 1e-4  # x max |logit|, as tests/zoo/run.py


def build_model(name):
    import torchvision.models as tvm
    kw = {}
    if name in ("googlenet", "inception_v3"):
        kw = dict(aux_logits=False, init_weights=True)
    m = getattr(tvm, name)(weights=None, **kw)
    import torch
    with torch.no_grad():  # zero-initialised heads (ViT) would make every logit 0
        for mod in m.modules():
            if isinstance(mod, torch.nn.Linear) and not mod.weight.abs().sum():
                mod.weight.normal_(0, 0.05)
    return m.eval(), 299 if name == "inception_v3" else 224


def bo(build, *args, timeout=3600):
    t = time.monotonic()
    r = subprocess.run([os.path.join(build, "brownout")] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t


def one(name, build, tmp, n_img, threads, client, dataset_cache):
    import torch
    import onnx
    from onnx import numpy_helper
    row = {"model": name, "ok": False, "steps": {}}
    torch.manual_seed(0)
    model, size = build_model(name)
    path = os.path.join(tmp, name + ".onnx")
    t = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # as a user does: not under no_grad, where torch 1.13 takes
        # MultiheadAttention's fast path, which it cannot export (ViT)
        torch.onnx.export(model, torch.randn(1, 3, size, size), path)
    row["steps"]["export"] = time.monotonic() - t
    row["mb"] = os.path.getsize(path) / 1e6
    # images, labels, PyTorch's logits
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(n_img, 3, size, size), dtype=np.uint8)
    y = rng.integers(0, 1000, size=n_img).astype(np.int64)
    xs, ys = os.path.join(tmp, "x%d.npy" % size), os.path.join(tmp, "y%d.npy" % size)
    np.save(xs, x)
    np.save(ys, y)
    xn = ((x.astype(np.float32) / 255 - np.array(MEAN, np.float32).reshape(1, 3, 1, 1)) /
          np.array(STD, np.float32).reshape(1, 3, 1, 1)).astype(np.float32)
    xns = os.path.join(tmp, "xn%d.npy" % size)
    np.save(xns, xn)
    t = time.monotonic()
    with torch.no_grad():
        want = model(torch.from_numpy(xn)).numpy()
    row["steps"]["torch"] = time.monotonic() - t
    norm = ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]
    data = ["--images", xs, "--labels", ys]
    rc, out, err, dt = bo(build, "info", path)
    row["steps"]["info"] = dt
    if rc:
        row["error"] = "info: " + err.strip()[-300:]
        return row
    rc, out, err, dt = bo(build, "eval", path, *data, *norm, "--batch", str(n_img), "--json",
                          "--threads", str(threads))
    row["steps"]["eval"] = dt
    if rc:
        row["error"] = "eval: " + err.strip()[-300:]
        return row
    notes = [l for l in err.splitlines() if "note:" in l]
    pin = re.search(r"node '([^']*)' \(([^)]*)\)", notes[0]) if notes else None
    row["batch"] = ("runs of 1: %s (%s)" % pin.groups() if pin else "runs of 1") if notes \
        else "re-planned"
    row["eval_correct"] = json.loads(out).get("correct")
    od = os.path.join(tmp, name + "-out")
    rc, out, err, dt = bo(build, "run", path, "--input", xns, "--output-dir", od)
    row["steps"]["run"] = dt
    if rc:
        row["error"] = "run: " + err.strip()[-300:]
        return row
    got = numpy_helper.to_array(onnx.load_tensor(os.path.join(od, "output_0.pb")))
    if got.shape != want.shape:
        row["error"] = "logits shape %s, PyTorch's %s" % (got.shape, want.shape)
        return row
    row["maxlogit"] = float(np.abs(want).max())
    row["maxdiff"] = float(np.abs(got - want).max())
    row["rel"] = row["maxdiff"] / max(float(np.abs(want).max()), 1e-30)
    shutil.rmtree(od, ignore_errors=True)
    rc, out, err, dt = bo(build, "sweep", path, *data, *norm, "--p", "1e-4,1e-3",
                          "--trials", "2", "--limit", str(n_img), "--batch", str(n_img),
                          "--calib", str(n_img), "--threads", str(threads), "--json")
    row["steps"]["sweep"] = dt
    if rc:
        row["error"] = "sweep: " + err.strip()[-300:]
        return row
    row["sweep_points"] = len(json.loads(out).get("points", []))
    if client is not None:
        t = time.monotonic()
        try:
            m = client.models.upload(path, name="acc-" + name, mean=list(MEAN), std=list(STD))
            if size not in dataset_cache:
                dataset_cache[size] = client.datasets.upload(xs, name="acc-%d" % size,
                                                             labels=ys, format="npy")
            j = client.jobs.submit(m, dataset_cache[size], [1e-4, 1e-3], trials=2,
                                   limit=n_img, calib=n_img)
            j.wait(timeout=3600, poll=0.5, progress=False)
            row["daemon"] = j.state
            if j.state != "done":
                row["error"] = "daemon job %s: %s" % (j.state, j.error)
                return row
            row["daemon_points"] = len(j.results().get("points", []))
        except Exception as e:  # noqa: BLE001 - reported per model
            row["daemon"] = "error"
            row["error"] = "daemon: %s" % str(e)[:300]
            return row
        finally:
            row["steps"]["daemon"] = time.monotonic() - t
    row["ok"] = row["rel"] <= TOL and row["sweep_points"] == 2 and \
        (client is None or row.get("daemon_points") == 2)
    if not row["ok"] and "error" not in row:
        row["error"] = "max |logit diff| %.3g is over %g x max |logit|" % (row["maxdiff"], TOL)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="keep the exports here (default: a temp dir)")
    ap.add_argument("--no-daemon", action="store_true")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as e:
        print("skip: %s (python3-torch, python3-torchvision, python3-onnx)" % e)
        return 77
    build = os.path.abspath(a.build)
    tmp = a.out or tempfile.mkdtemp(prefix="bo-accept-")
    os.makedirs(tmp, exist_ok=True)
    daemon = client = None
    if not a.no_daemon:
        sys.path.insert(0, os.path.join(REPO, "tests", "daemon"))
        sys.path.insert(0, os.path.join(REPO, "clients", "python"))
        import harness
        import brownout
        ddir = os.path.join(tmp, "daemon")
        shutil.rmtree(ddir, ignore_errors=True)
        os.makedirs(ddir)
        token = harness.admin_cmd(ddir, "user", "add", "accept", build=build)
        daemon = harness.Daemon(ddir, "brownoutd.log", build=build,
                                extra=["--upload-limit", "1G", "--dataset-max-bytes", "1G"])
        daemon.start()
        client = brownout.Client("http://127.0.0.1:%d" % daemon.port, token)
    rows = []
    try:
        for name in [m for m in a.models.split(",") if m]:
            t = time.monotonic()
            try:
                row = one(name, build, tmp, a.images, a.threads, client, {})
            except Exception as e:  # noqa: BLE001 - a model torch cannot build/export
                row = {"model": name, "ok": False, "steps": {}, "error": repr(e)[:300]}
            row["seconds"] = time.monotonic() - t
            rows.append(row)
            print("%-20s %s %6.0f s  %s" % (name, "ran   " if row["ok"] else "FAILED",
                                            row["seconds"],
                                            json.dumps({k: v for k, v in row.items()
                                                        if k not in ("model", "ok")},
                                                       default=lambda v: round(v, 2))),
                  flush=True)
            for f in os.listdir(tmp):
                if f.endswith(".onnx") and not a.out:
                    os.unlink(os.path.join(tmp, f))
    finally:
        if daemon is not None:
            daemon.stop()
    print("\n%-20s %-7s %-10s %-9s %7s %7s %7s %7s %7s  %s"
          % ("model", "result", "max|diff|", "relative", "export", "eval", "run", "sweep",
             "daemon", "batch"))
    for r in rows:
        s = r["steps"]
        print("%-20s %-7s %-10s %-9s %7s %7s %7s %7s %7s  %s"
              % (r["model"], "ran" if r["ok"] else "FAILED",
                 "%.3g" % r["maxdiff"] if "maxdiff" in r else "-",
                 "%.2g" % r["rel"] if "rel" in r else "-",
                 *["%.1f" % s[k] if k in s else "-" for k in ("export", "eval", "run", "sweep",
                                                                "daemon")],
                 r.get("batch") or "-"))
        if not r["ok"]:
            print("    %s" % r.get("error"))
    if not a.out:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""docs/export.md, tested: export one small PyTorch CNN the ways that doc
describes and check that brownout reads what was deployed.

    tests/export/check_export.py BUILD

For each export (Debian's python3-torch and python3-onnx):
  eval-dynamic   eval mode, dynamic batch axis: BatchNorm folded into the Convs
  preserve       TrainingMode.PRESERVE: BatchNormalization nodes kept
  fixed-batch    eval mode, batch fixed at 1 (torch.onnx.export's default)
  fixed-batch4   eval mode, batch fixed at 4
  fixed-reshape  batch fixed at 1, flattened by x.reshape(x.size(0), -1):
                 a Reshape to the constant [1, -1] (constant folding) or to
                 Constant -> Unsqueeze -> Concat (do_constant_folding=False)
  fixed-pinned   batch fixed at 1, and a Transpose that moves the batch axis
  opset 11, 13 and 17 for the first.
it checks `brownout info --json` (parameters, activations, sites rule,
normalisation from the brownout.mean/std metadata) against counts computed
here from the PyTorch module by the rules of docs/fault-models.md section 1,
`brownout run` logits against PyTorch's, and `brownout eval` on images
labelled with PyTorch's own predictions (so it must score them all, up to
near-ties). Prints "ok"/"FAIL" lines and a summary; exits 1 on a failure,
77 when torch or onnx is missing."""
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore", category=UserWarning)  # torch.onnx's advice

try:
    import numpy as np
    import onnx
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover
    print("SKIP export checks: %s (Debian's python3-torch, python3-onnx)" % e)
    sys.exit(77)

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
BO = os.path.join(BUILD, "brownout")
MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
failures = []
passes = 0


def check(name, cond, detail=""):
    global passes
    if cond:
        passes += 1
        print("ok   " + name)
    else:
        failures.append(name)
        print("FAIL %s %s" % (name, detail))


class Net(nn.Module):
    """Conv-BN-ReLU, Conv-BN-SiLU (exported as x * Sigmoid(x)), a residual
    ReLU6 (Clip), global pooling, Linear: a miniature of the zoo."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.act2 = nn.SiLU()
        self.act3 = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        z = self.act2(self.bn2(self.conv2(y)))
        z = self.act3(z + y)
        return self.fc(torch.flatten(self.pool(z), 1))


class NetReshape(Net):
    """The same, flattened as torchvision's older models do."""
    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        z = self.act3(self.act2(self.bn2(self.conv2(y))) + y)
        z = self.pool(z)
        return self.fc(z.reshape(z.size(0), -1))


class NetPinned(Net):
    """The same with the batch axis moved and back (Transpose, Mul,
    Transpose): per image all the same, but not re-plannable."""
    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        z = self.act3(self.act2(self.bn2(self.conv2(y))) + y)
        w = torch.flatten(self.pool(z), 1)
        return self.fc((w.t() * 2.0).t())


def make_net(cls=None):
    torch.manual_seed(0)
    net = (cls or Net)()
    with torch.no_grad():  # non-trivial BN statistics, as after training
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def expected_counts(net, folded, hw):
    """docs/fault-models.md section 1, from the module: weights of Convs and
    Linears (with the bias a folded BatchNorm adds), BatchNorm as a
    (scale, shift) pair when kept; activations = the outputs of ReLU, SiLU
    and ReLU6 for one sample."""
    params = 0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            params += m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
        if isinstance(m, nn.BatchNorm2d):
            params += m.num_features if folded else 2 * m.num_features
    acts = [0]

    def hook(mod, inp, out):
        acts[0] += out[0].numel()
    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (nn.ReLU, nn.SiLU, nn.ReLU6))]
    with torch.no_grad():
        net(torch.zeros(1, 3, hw, hw))
    for h in hs:
        h.remove()
    return params, acts[0]


def export(net, path, opset, dynamic, preserve, hw, batch=1, fold=True):
    kw = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
              do_constant_folding=fold)
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    if preserve:
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(batch, 3, hw, hw), path, **kw)
    m = onnx.load(path)
    for k, v in (("brownout.mean", MEAN), ("brownout.std", STD)):
        p = m.metadata_props.add()
        p.key, p.value = k, ",".join(str(x) for x in v)
    onnx.save(m, path)
    return [n.op_type for n in m.graph.node]


def brownout(*args):
    r = subprocess.run([BO] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def main():
    tmp = tempfile.mkdtemp(prefix="bo-export-")
    try:
        return run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(tmp):
    hw = 16
    net = make_net()
    # images in [0,1], normalised as the metadata says; labels = PyTorch's argmax
    g = torch.Generator().manual_seed(1)
    x = torch.rand(12, 3, hw, hw, generator=g)
    xn = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        want = net(xn).numpy()
    top2 = np.sort(want, axis=1)[:, -2:]
    clear = int(((top2[:, 1] - top2[:, 0]) > 1e-3).sum())
    np.save(os.path.join(tmp, "x.npy"), (x.numpy() * 255).round().astype(np.uint8))
    xq = torch.from_numpy(np.load(os.path.join(tmp, "x.npy")).astype(np.float32) / 255)
    with torch.no_grad():
        want = net((xq - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                   torch.tensor(STD).view(1, 3, 1, 1)).numpy()
    np.save(os.path.join(tmp, "y.npy"), want.argmax(1).astype(np.int64))
    np.save(os.path.join(tmp, "x1.npy"), xq[:1].numpy())

    cases = [("eval-dynamic-opset%d" % o, o, True, False, 1) for o in (11, 13, 17)]
    cases += [("preserve", 13, True, True, 1), ("fixed-batch", 13, False, False, 1),
              ("fixed-batch4", 13, False, False, 4)]
    for name, opset, dynamic, preserve, batch in cases:
        path = os.path.join(tmp, name + ".onnx")
        ops = export(net, path, opset, dynamic, preserve, hw, batch)
        check("%s: BatchNormalization %s" % (name, "kept" if preserve else "folded"),
              ("BatchNormalization" in ops) == preserve, str(ops))
        rc, out, err = brownout("info", path, "--json")
        if rc:
            check("%s: brownout info" % name, False, err)
            continue
        info = json.loads(out)
        p, a = expected_counts(net, not preserve, hw)
        check("%s: parameters %d (PyTorch module: %d)" % (name, info["parameters"], p),
              info["parameters"] == p)
        check("%s: activations %d under '%s' (PyTorch hooks: %d)"
              % (name, info["activations"], info["activation_sites"], a),
              info["activations"] == a and info["activation_sites"] == "activations"
              and info["warnings"] == [])
        # relu excludes the SiLU: its Mul output is the one site relu lacks
        rc, out, err = brownout("info", path, "--json", "--sites", "relu")
        check("%s: relu sites leave out the SiLU (%d values)" % (name, 8 * hw * hw),
              rc == 0 and json.loads(out)["activations"] == a - 8 * hw * hw, err)
        norm = info["normalisation"] or {}
        check("%s: normalisation from the metadata" % name,
              norm.get("source") == "metadata" and
              np.allclose(norm.get("mean", []), MEAN) and np.allclose(norm.get("std", []), STD),
              str(norm))
        # logits of the first `batch` images, as the export's batch
        outdir = os.path.join(tmp, name + "-out")
        x1 = os.path.join(tmp, "x1n.npy")
        np.save(x1, ((xq[:batch] - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                     torch.tensor(STD).view(1, 3, 1, 1)).numpy())
        rc, out, err = brownout("run", path, "--input", x1, "--output-dir", outdir)
        if rc == 0:
            from onnx import numpy_helper
            got = numpy_helper.to_array(onnx.load_tensor(os.path.join(outdir, "output_0.pb")))
            e = float(np.abs(got - want[:batch]).max())
            check("%s: logits = PyTorch's (max error %.2g)" % (name, e),
                  e <= 1e-4 * float(np.abs(want[:batch]).max()) + 1e-5)
        else:
            check("%s: brownout run" % name, False, err)
        # accuracy on PyTorch's own labels: every clear-cut image right
        # at the default batch and 2 threads, whatever the export's batch:
        # a fixed-batch model runs as runs of its own batch
        for threads in ("1", "2"):
            args = ["eval", path, "--images", os.path.join(tmp, "x.npy"),
                    "--labels", os.path.join(tmp, "y.npy"), "--json", "--threads", threads]
            rc, out, err = brownout(*args)
            correct = json.loads(out)["correct"] if rc == 0 else -1
            check("%s: eval (%s threads) scores %d/12 on PyTorch's labels (>= %d clear-cut)"
                  % (name, threads, correct, clear), correct >= clear, err)
            # a fixed batch is re-planned for the batch asked for: no note
            check("%s: eval says nothing about the batch (re-planned)" % name,
                  "batch fixed" not in err, err)
        if batch > 1:
            # 10 images in batches of 4: a tail of 2 padded to the model's 4
            clear10 = int(((top2[:10, 1] - top2[:10, 0]) > 1e-3).sum())
            rc, out, err = brownout("eval", path, "--images", os.path.join(tmp, "x.npy"),
                                    "--labels", os.path.join(tmp, "y.npy"), "--json",
                                    "--limit", "10", "--batch", "4")
            correct = json.loads(out)["correct"] if rc == 0 else -1
            check("%s: eval of 10 images in batches of 4 scores %d/10 (>= %d clear-cut)"
                  % (name, correct, clear10), correct >= clear10, err)
    fixed_batch_replanning(tmp, hw, xq)
    print("export: %d passed, %d failed" % (passes, len(failures)))
    return 1 if failures else 0


def run_logits(path, x, outdir, *extra):
    """`brownout run` on the images x (normalised here); the logits or None."""
    from onnx import numpy_helper
    xn = os.path.join(outdir + ".npy")
    np.save(xn, ((x - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                 torch.tensor(STD).view(1, 3, 1, 1)).numpy())
    rc, out, err = brownout("run", path, "--input", xn, "--output-dir", outdir, *extra)
    if rc:
        return None, err
    return numpy_helper.to_array(onnx.load_tensor(os.path.join(outdir, "output_0.pb"))), err


def fixed_batch_replanning(tmp, hw, xq):
    """A batch-1 export runs a batch of 12 as one re-planned graph: its
    logits are bit for bit those of the dynamic export (the same plan), and
    a fault sweep gives the same numbers at --batch 5 as the dynamic export
    (activation faults are keyed by image index). A model that cannot be
    re-planned says so once, naming the node, and runs as runs of 1."""
    dyn = os.path.join(tmp, "eval-dynamic-opset13.onnx")
    ref, err = run_logits(dyn, xq, os.path.join(tmp, "rp-dyn"))
    check("replan: the dynamic export runs 12 images", ref is not None, err)
    if ref is None:
        return
    net = make_net(NetReshape)
    with torch.no_grad():
        want = net((xq - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                   torch.tensor(STD).view(1, 3, 1, 1)).numpy()
    for name, fold, needs in (("fixed-reshape-const", True, ["Reshape"]),
                              ("fixed-reshape-unfolded", False, ["Unsqueeze", "Concat",
                                                                 "Reshape"])):
        path = os.path.join(tmp, name + ".onnx")
        ops = export(net, path, 13, False, False, hw, 1, fold)
        check("%s: the export has %s" % (name, needs), all(o in ops for o in needs), str(ops))
        got, err = run_logits(path, xq, os.path.join(tmp, name))
        check("%s: 12 images re-planned = the dynamic export's logits, bit for bit" % name,
              got is not None and got.shape == ref.shape and np.array_equal(got, ref) and
              "note:" not in err, err)
        if got is not None:
            e = float(np.abs(got - want).max())
            check("%s: logits = PyTorch's (max error %.2g)" % (name, e),
                  e <= 1e-4 * float(np.abs(want).max()) + 1e-5)
        rc, out, err = brownout("eval", path, "--images", os.path.join(tmp, "x.npy"),
                                "--labels", os.path.join(tmp, "y.npy"), "--json")
        check("%s: eval says nothing about the batch" % name, rc == 0 and not err, err)
    # the same fault sweep, fixed (re-planned) and dynamic
    sweeps = []
    for path in (os.path.join(tmp, "fixed-batch.onnx"), dyn):
        rc, out, err = brownout("sweep", path, "--images", os.path.join(tmp, "x.npy"),
                                "--labels", os.path.join(tmp, "y.npy"), "--json",
                                "--p", "0.02,0.05", "--trials", "3", "--batch", "5",
                                "--threads", "2", "--calib", "12")
        sweeps.append(json.loads(out).get("points") if rc == 0 else err)
    check("replan: a fault sweep at --batch 5 of the batch-1 export = the dynamic export's",
          isinstance(sweeps[0], list) and sweeps[0] == sweeps[1], str(sweeps)[:600])
    # not re-plannable: one note naming the Transpose; runs of 1, all right
    net = make_net(NetPinned)
    with torch.no_grad():
        want = net((xq - torch.tensor(MEAN).view(1, 3, 1, 1)) /
                   torch.tensor(STD).view(1, 3, 1, 1)).numpy()
    path = os.path.join(tmp, "fixed-pinned.onnx")
    ops = export(net, path, 13, False, False, hw, 1)
    got, err = run_logits(path, xq, os.path.join(tmp, "pinned"))
    e = float(np.abs(got - want).max()) if got is not None else float("inf")
    check("fixed-pinned: 12 images in runs of 1, logits = PyTorch's (max error %.2g)" % e,
          e <= 1e-4 * float(np.abs(want).max()) + 1e-5 and err.count("note:") == 1, err)
    rc, out, err = brownout("eval", path, "--images", os.path.join(tmp, "x.npy"),
                            "--labels", os.path.join(tmp, "y.npy"), "--json")
    notes = [l for l in err.splitlines() if "note:" in l]
    check("fixed-pinned: eval says once that it runs as runs of 1, naming the Transpose",
          rc == 0 and len(notes) == 1 and "batch fixed at 1" in notes[0] and
          "(Transpose)" in notes[0] and "moves the batch axis" in notes[0], err)


if __name__ == "__main__":
    sys.exit(main())

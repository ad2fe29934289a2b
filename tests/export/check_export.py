#!/usr/bin/python3
"""docs/export.md, tested: export one small PyTorch CNN the ways that doc
describes and check that brownout reads what was deployed.

    tests/export/check_export.py BUILD

For each export (Debian's python3-torch and python3-onnx):
  eval-dynamic   eval mode, dynamic batch axis: BatchNorm folded into the Convs
  preserve       TrainingMode.PRESERVE: BatchNormalization nodes kept
  fixed-batch    eval mode, batch fixed at 1 (torch.onnx.export's default)
  fixed-batch4   eval mode, batch fixed at 4
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


def make_net():
    torch.manual_seed(0)
    net = Net()
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


def export(net, path, opset, dynamic, preserve, hw, batch=1):
    kw = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
              do_constant_folding=True)
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
            check("%s: eval says %s that the batch is fixed" % (name, "once" if not dynamic
                                                                  else "nothing"),
                  err.count("batch fixed at %d" % batch) == (0 if dynamic else 1), err)
        if batch > 1:
            # 10 images in batches of 4: a tail of 2 padded to the model's 4
            clear10 = int(((top2[:10, 1] - top2[:10, 0]) > 1e-3).sum())
            rc, out, err = brownout("eval", path, "--images", os.path.join(tmp, "x.npy"),
                                    "--labels", os.path.join(tmp, "y.npy"), "--json",
                                    "--limit", "10", "--batch", "4")
            correct = json.loads(out)["correct"] if rc == 0 else -1
            check("%s: eval of 10 images in batches of 4 scores %d/10 (>= %d clear-cut)"
                  % (name, correct, clear10), correct >= clear10, err)
    print("export: %d passed, %d failed" % (passes, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

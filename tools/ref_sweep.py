#!/usr/bin/python3
"""Independent reference implementation of docs/fault-models.md (sections 1-4).

    /usr/bin/python3 tools/ref_sweep.py MODEL.onnx DATASET_DIR
        --deviation bm|erasure --target weights|activations|both --p LIST
        --trials N [--limit N] [--bits 8] [--calib 256] [--seed S]
        [--mean M --std S] [--threads T] [--batch B] [--zero-crossing clamp|allow] [--json]

Written from the spec alone (not from lib/fault.c or lib/sweep.c), with
PyTorch, so that the C engine's accuracy curves can be checked against it
statistically (the random streams differ, so only the distributions agree).

Design:
- The ONNX graph is run by a small interpreter over torch ops (opset 13: Conv,
  BatchNormalization, Relu, Clip, Add, Sub, Mul, Pad, AveragePool, MaxPool,
  GlobalAveragePool, Flatten, Reshape, Shape, Gather, Unsqueeze, Concat,
  Gemm, MatMul, Constant, Identity, Dropout).
- Stored weights (spec 1): every float initializer read by Conv/Gemm/MatMul
  (each counted once, even if read by several nodes), and for every
  BatchNormalization node the two tensors scale = gamma/sqrt(var+eps) and
  shift = beta - mean*scale; BN is evaluated as x*scale + shift, so faults in
  scale/shift act directly.  All weights are signed.
- Stored activations (spec 1, default `relu` sites): the output of every Relu
  node and every Clip whose min is >= 0, unsigned; a fault changes what every
  consumer reads.
- Quantisation (spec 2): per-tensor symmetric scale, weights from max|w|,
  activations from the clean-network max over the first `calib` images of the
  evaluation split; round half away from zero, clamp to [lo, 2^(B-1)-1].
- BM (spec 3): each bit cell faulty with probability p.  Sampled exactly, per
  value: its fault pattern (a c-bit mask, c = B or B-1 cells) is drawn from
  its exact law P(m) = p^|m| (1-p)^(c-|m|) by inverting the CDF over the 2^c
  patterns with one float64 uniform.  Then q' is formed with
  integer bit operations on the B-bit two's complement pattern, and
  x' = x + (q'-q)*s only for values that have a faulty cell.  Where that
  would carry x past zero (q' = 0 and |x| < |q|s: the rounding residual keeps
  the opposite sign), x' = 0 by default, reading the spec's "every deviation
  moves the value towards zero" as never past it; --zero-crossing allow
  applies the formula literally instead (the spec is ambiguous here).
- Erasure: each value -> 0 with probability p.
- Sampling (spec 4): weight faults drawn once per trial, activation faults
  drawn independently for every image and tensor (each image of a batch gets
  its own draws).
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


# ---------------------------------------------------------------- dataset

def _read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dtype = (magic >> 8) & 0xFF
    if dtype != 0x08:
        raise ValueError(f"{path}: only unsigned byte IDX supported")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    return np.frombuffer(data, dtype=np.uint8, offset=off).reshape(dims)


def load_dataset(directory, split="t10k"):
    def find(kind):
        for suffix in (".gz", ""):
            p = os.path.join(directory, f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte{suffix}")
            if os.path.exists(p):
                return p
        raise FileNotFoundError(f"no {split} {kind} in {directory}")
    images = _read_idx(find("images"))
    labels = _read_idx(find("labels"))
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------- graph

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class Graph:
    """A parsed ONNX graph plus what lives in faulty memory."""

    def __init__(self, path):
        model = onnx.load(path)
        self.meta = {p.key: p.value for p in model.metadata_props}
        g = model.graph
        self.nodes = list(g.node)
        self.init = {}
        for t in g.initializer:
            self.init[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
        names = set(self.init)
        self.inputs = [i.name for i in g.input if i.name not in names]
        self.outputs = [o.name for o in g.output]
        self.attrs = [_attrs(n) for n in self.nodes]

        # Constants: evaluate once (they are not stored in faulty memory).
        self.consts = {}
        for n, a in zip(self.nodes, self.attrs):
            if n.op_type == "Constant":
                if "value" in a:
                    self.consts[n.output[0]] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
                elif "value_float" in a:
                    self.consts[n.output[0]] = torch.tensor(a["value_float"], dtype=torch.float32)
                elif "value_int" in a:
                    self.consts[n.output[0]] = torch.tensor(a["value_int"], dtype=torch.int64)
                elif "value_ints" in a:
                    self.consts[n.output[0]] = torch.tensor(a["value_ints"], dtype=torch.int64)
                elif "value_floats" in a:
                    self.consts[n.output[0]] = torch.tensor(a["value_floats"], dtype=torch.float32)
                else:
                    raise ValueError("unsupported Constant")

        # Stored weights (spec 1).  key -> clean float32 tensor.
        self.weights = {}            # ordered: name -> tensor
        self.bn = {}                 # node index -> (scale key, shift key)
        for idx, (n, a) in enumerate(zip(self.nodes, self.attrs)):
            if n.op_type in ("Conv", "Gemm", "MatMul"):
                for name in n.input:
                    if name in self.init and self.init[name].is_floating_point() and name not in self.weights:
                        self.weights[name] = self.init[name].float()
            elif n.op_type == "BatchNormalization":
                gamma, beta, mean, var = (self._const(x).double() for x in n.input[1:5])
                eps = float(a.get("epsilon", 1e-5))
                scale = gamma / torch.sqrt(var + eps)
                shift = beta - mean * scale
                ks, kh = f"{n.name or idx}#bn.scale", f"{n.name or idx}#bn.shift"
                self.weights[ks] = scale.float()
                self.weights[kh] = shift.float()
                self.bn[idx] = (ks, kh)

        # Stored activations (spec 1, relu sites): Relu, Clip with min >= 0.
        self.act_sites = []          # output tensor names, in node order
        for n, a in zip(self.nodes, self.attrs):
            if n.op_type == "Relu":
                self.act_sites.append(n.output[0])
            elif n.op_type == "Clip":
                lo = None
                if len(n.input) > 1 and n.input[1]:
                    lo = float(self._const(n.input[1]).reshape(-1)[0])
                elif "min" in a:
                    lo = float(a["min"])
                if lo is not None and lo >= 0:
                    self.act_sites.append(n.output[0])
        self.act_index = {name: i for i, name in enumerate(self.act_sites)}

    def _const(self, name):
        if name in self.init:
            return self.init[name]
        if name in self.consts:
            return self.consts[name]
        raise ValueError(f"{name} is not constant")

    def parameters(self):
        return sum(t.numel() for t in self.weights.values())

    def run(self, x, weights, act_hook=None):
        """Evaluate on input batch x.  weights: key -> tensor (possibly faulty).
        act_hook(site index, tensor) -> tensor is applied to every stored
        activation.  Returns the first graph output."""
        env = dict(self.consts)
        env[self.inputs[0]] = x

        def get(name):
            if name in env:
                return env[name]
            if name in weights:
                return weights[name]
            return self.init[name]

        for idx, (n, a) in enumerate(zip(self.nodes, self.attrs)):
            op = n.op_type
            if op == "Constant":
                continue
            ins = [get(i) if i else None for i in n.input]
            if op == "Conv":
                w = ins[1]
                b = ins[2] if len(ins) > 2 else None
                nd = w.dim() - 2
                pads = list(a.get("pads", [0] * (2 * nd)))
                if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                    raise ValueError("auto_pad not supported")
                xin = ins[0]
                if pads[:nd] == pads[nd:]:
                    padding = pads[:nd]
                else:
                    fp = []
                    for d in reversed(range(nd)):
                        fp += [pads[d], pads[d + nd]]
                    xin = F.pad(xin, fp)
                    padding = [0] * nd
                conv = F.conv2d if nd == 2 else F.conv1d
                y = conv(xin, w, b, stride=a.get("strides", [1] * nd), padding=padding,
                         dilation=a.get("dilations", [1] * nd), groups=a.get("group", 1))
            elif op == "BatchNormalization":
                ks, kh = self.bn[idx]
                s, h = weights[ks], weights[kh]
                shape = [1, -1] + [1] * (ins[0].dim() - 2)
                y = ins[0] * s.reshape(shape) + h.reshape(shape)
            elif op == "Relu":
                y = torch.relu(ins[0])
            elif op == "Clip":
                lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min")
                hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max")
                lo = None if lo is None else float(torch.as_tensor(lo).reshape(-1)[0])
                hi = None if hi is None else float(torch.as_tensor(hi).reshape(-1)[0])
                y = torch.clamp(ins[0], min=lo, max=hi)
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Sub":
                y = ins[0] - ins[1]
            elif op == "Mul":
                y = ins[0] * ins[1]
            elif op == "Pad":
                mode = a.get("mode", b"constant")
                mode = mode.decode() if isinstance(mode, bytes) else mode
                pads = [int(v) for v in ins[1].tolist()]
                val = float(ins[2].reshape(-1)[0]) if len(ins) > 2 and ins[2] is not None else 0.0
                nd = ins[0].dim()
                fp = []
                for d in reversed(range(nd)):
                    fp += [pads[d], pads[d + nd]]
                while len(fp) > 2 and fp[-1] == 0 and fp[-2] == 0:
                    fp = fp[:-2]
                if mode == "constant":
                    y = F.pad(ins[0], fp, mode="constant", value=val)
                else:
                    y = F.pad(ins[0], fp, mode={"reflect": "reflect", "edge": "replicate"}[mode])
            elif op in ("AveragePool", "MaxPool"):
                k = a["kernel_shape"]
                nd = len(k)
                pads = list(a.get("pads", [0] * (2 * nd)))
                strides = a.get("strides", [1] * nd)
                ceil = bool(a.get("ceil_mode", 0))
                xin = ins[0]
                if pads[:nd] != pads[nd:]:
                    raise ValueError("asymmetric pool pads not supported")
                if op == "MaxPool":
                    y = F.max_pool2d(xin, k, strides, pads[:nd], a.get("dilations", [1] * nd), ceil)
                else:
                    y = F.avg_pool2d(xin, k, strides, pads[:nd], ceil,
                                     count_include_pad=bool(a.get("count_include_pad", 0)))
            elif op == "GlobalAveragePool":
                y = ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=True)
            elif op == "Flatten":
                ax = a.get("axis", 1)
                if ax < 0:
                    ax += ins[0].dim()
                y = ins[0].reshape(int(np.prod(ins[0].shape[:ax], dtype=np.int64)), -1)
            elif op == "Reshape":
                shape = [int(v) for v in ins[1].tolist()]
                shape = [ins[0].shape[i] if v == 0 and not a.get("allowzero", 0) else v
                         for i, v in enumerate(shape)]
                y = ins[0].reshape(shape)
            elif op == "Shape":
                y = torch.tensor(list(ins[0].shape), dtype=torch.int64)
            elif op == "Gather":
                y = torch.index_select(ins[0], a.get("axis", 0), ins[1].reshape(-1).long())
                if ins[1].dim() == 0:
                    y = y.squeeze(a.get("axis", 0))
            elif op == "Unsqueeze":
                y = ins[0]
                axes = sorted(int(v) for v in ins[1].reshape(-1).tolist())
                for ax in axes:
                    y = y.unsqueeze(ax if ax >= 0 else ax + y.dim() + 1)
            elif op == "Concat":
                y = torch.cat([t.reshape(1) if t.dim() == 0 else t for t in ins], dim=a.get("axis", 0))
            elif op == "Gemm":
                A, B = ins[0], ins[1]
                if a.get("transA", 0):
                    A = A.t()
                if a.get("transB", 0):
                    B = B.t()
                y = a.get("alpha", 1.0) * (A @ B)
                if len(ins) > 2 and ins[2] is not None:
                    y = y + a.get("beta", 1.0) * ins[2]
            elif op == "MatMul":
                y = ins[0] @ ins[1]
            elif op in ("Identity", "Dropout"):
                y = ins[0]
            else:
                raise ValueError(f"unsupported op {op}")
            out = n.output[0]
            if act_hook is not None and out in self.act_index:
                y = act_hook(self.act_index[out], y)
            env[out] = y
        return env[self.outputs[0]]


# ---------------------------------------------------------------- faults

def round_half_away(x):
    """Round half away from zero, exactly (y - trunc(y) is exact in floats)."""
    t = torch.trunc(x)
    frac = x - t
    return t + torch.sign(x) * (frac.abs() >= 0.5).to(x.dtype)


def quantize(x, s, bits, unsigned):
    hi = 2 ** (bits - 1) - 1
    lo = 0 if unsigned else -(2 ** (bits - 1))
    return torch.clamp(round_half_away(x / s), lo, hi).to(torch.int32)


def bm_apply(q, mask, bits, unsigned):
    """q: int32 quantised values; mask: int32 masks of faulty cells (bit i:
    cell i).  Returns q' per spec 3."""
    if unsigned:
        mask = mask & ((1 << (bits - 1)) - 1)
        return q & ~mask                      # faulty bits -> 0 (q >= 0)
    full = (1 << bits) - 1
    u = q & full                              # B-bit two's complement pattern
    sign_bit = 1 << (bits - 1)
    neg = (u & sign_bit) != 0
    low = mask & (sign_bit - 1)
    u2 = torch.where(neg, u | low, u & ~low)  # faulty bits take the sign value
    q2 = torch.where(neg, u2 - (1 << bits), u2)
    return torch.where((mask & sign_bit) != 0, torch.zeros_like(q2), q2)


_CDF_CACHE = {}


def _pattern_cdf(cells, p):
    """CDF over the 2^cells fault patterns (mask m has probability
    p^popcount(m) (1-p)^(cells-popcount(m))), masks in increasing order."""
    key = (cells, p)
    if key not in _CDF_CACHE:
        m = torch.arange(1 << cells, dtype=torch.int64)
        k = torch.zeros_like(m)
        for i in range(cells):
            k += (m >> i) & 1
        k = k.to(torch.float64)
        logp = k * math.log(p) + (cells - k) * math.log1p(-p)
        _CDF_CACHE[key] = torch.cumsum(torch.exp(logp), 0)
        if len(_CDF_CACHE) > 64:
            _CDF_CACHE.pop(next(iter(_CDF_CACHE)))
    return _CDF_CACHE[key]


def draw_cell_masks(n, cells, p, gen):
    """Exact independent Bernoulli(p) faults on n values x `cells` cells:
    each value's fault pattern is drawn from its exact distribution by
    inverting the CDF with one float64 uniform.  Returns (indices of values
    with >= 1 faulty cell, their int64 masks; bit i: cell i faulty)."""
    if p <= 0 or n == 0:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int32)
    if p >= 1:
        return torch.arange(n), torch.full((n,), (1 << cells) - 1, dtype=torch.int32)
    cdf = _pattern_cdf(cells, p)
    p0 = float(cdf[0])                          # P(no faulty cell)
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    hit = torch.nonzero(u >= p0).reshape(-1)
    if hit.numel() == 0:
        return hit, torch.empty(0, dtype=torch.int32)
    mask = torch.searchsorted(cdf, u[hit], right=True).clamp_(1, (1 << cells) - 1).to(torch.int32)
    return hit, mask


def inject(x, dev, p, s, bits, unsigned, gen, clamp_zero=False):
    """Return a faulty copy of float tensor x (spec 3).  For activations x is
    a batch: every value (hence every image) gets its own draws.
    clamp_zero: a faulty value never crosses zero (x' is clamped to 0 when
    x + (q'-q)*s has the opposite sign of x); without it the spec's formula
    is applied literally, so a value whose q' is 0 keeps its rounding
    residual x - q*s, which may have the opposite sign (|.| <= s/2)."""
    if p <= 0:
        return x
    flat = x.reshape(-1)
    if dev == "erasure":
        keep = torch.rand(flat.numel(), generator=gen) >= p
        return (flat * keep).reshape(x.shape)
    if s == 0:
        return x
    cells = bits - 1 if unsigned else bits
    idx, mask = draw_cell_masks(flat.numel(), cells, p, gen)
    if idx.numel() == 0:
        return x
    v = flat[idx]
    q = quantize(v, s, bits, unsigned)
    q2 = bm_apply(q, mask, bits, unsigned)
    nv = v + (q2 - q).to(torch.float32) * s
    if clamp_zero:
        nv = torch.where(v > 0, nv.clamp(min=0), torch.where(v < 0, nv.clamp(max=0), nv))
    out = flat.clone()
    out[idx] = nv
    return out.reshape(x.shape)


def qscale(m, bits):
    return float(m) / (2 ** (bits - 1) - 1)


# ---------------------------------------------------------------- sweep

def summarize(xs):
    n = len(xs)
    mean = sum(xs) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1)) if n > 1 else 0.0
    return mean, std


def parse_p(text):
    if ":" in text:
        lo, hi, k = text.split(":")
        lo, hi, k = float(lo), float(hi), int(k)
        return [lo if k == 1 else math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (k - 1))
                for i in range(k)]
    return [float(v) for v in text.split(",") if v]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("dataset")
    ap.add_argument("--deviation", choices=["bm", "erasure"], default="bm")
    ap.add_argument("--target", choices=["weights", "activations", "both"], default="both")
    ap.add_argument("--p", required=True)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mean", type=float)
    ap.add_argument("--std", type=float)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--zero-crossing", choices=["allow", "clamp"], default="clamp",
                    help="BM: clamp (default: a faulty value moves towards zero and stops at "
                         "0, never crossing it) or allow (x' = x + (q'-q)s even when that "
                         "changes the sign of x)")
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args(argv)

    t0 = time.time()
    torch.set_num_threads(o.threads)
    g = Graph(o.model)
    mean = o.mean if o.mean is not None else float(g.meta.get("brownout.mean", 0.0))
    std = o.std if o.std is not None else float(g.meta.get("brownout.std", 1.0))

    images, labels = load_dataset(o.dataset)
    n_total = images.shape[0]
    n = min(o.limit, n_total) if o.limit else n_total
    x_all = (torch.from_numpy(images.astype(np.float32)) / 255.0 - mean) / std
    x_all = x_all.reshape(n_total, 1, *images.shape[1:]) if images.ndim == 3 else x_all
    y_all = torch.from_numpy(labels)
    bits = o.bits

    clean_w = g.weights
    w_scale = {k: qscale(t.abs().max(), bits) for k, t in clean_w.items()}

    with torch.no_grad():
        # calibration: clean max over the first `calib` images of the split
        act_max = [0.0] * len(g.act_sites)

        def calib_hook(i, y):
            act_max[i] = max(act_max[i], float(y.abs().max()))
            return y
        nc = min(o.calib, n_total)
        for b in range(0, nc, o.batch):
            g.run(x_all[b:min(nc, b + o.batch)], clean_w, calib_hook)
        a_scale = [qscale(m, bits) for m in act_max]

        def accuracy(weights, hook):
            correct = 0
            for b in range(0, n, o.batch):
                e = min(n, b + o.batch)
                logits = g.run(x_all[b:e], weights, hook)
                correct += int((logits.argmax(dim=1) == y_all[b:e]).sum())
            return correct / n

        clean = accuracy(clean_w, None)
        cz = o.zero_crossing == "clamp"
        points = []
        fw = o.target in ("weights", "both")
        fa = o.target in ("activations", "both")
        for pi, p in enumerate(parse_p(o.p)):
            accs = []
            for t in range(o.trials):
                gen = torch.Generator()
                gen.manual_seed((o.seed * 1000003 + pi * 7919 + t) & ((1 << 63) - 1))
                if fw:
                    w = {k: inject(v, o.deviation, p, w_scale[k], bits, False, gen, cz)
                         for k, v in clean_w.items()}
                else:
                    w = clean_w
                hook = None
                if fa:
                    def hook(i, y, p=p, gen=gen):
                        return inject(y, o.deviation, p, a_scale[i], bits, True, gen, cz)
                accs.append(accuracy(w, hook))
            m, sd = summarize(accs)
            points.append({"p": p, "accuracy_mean": m, "accuracy_std": sd, "trials": o.trials,
                           "images": n * o.trials, "trial_accuracies": accs})

    acts = 0
    with torch.no_grad():
        def count_hook(i, y):
            nonlocal acts
            acts += y[0].numel()
            return y
        g.run(x_all[:1], clean_w, count_hook)
    res = {"model": o.model, "deviation": o.deviation, "target": o.target, "bits": bits,
           "zero_crossing": o.zero_crossing,
           "calib": o.calib, "seed": o.seed, "mean": mean, "std": std,
           "clean_accuracy": clean, "parameters": g.parameters(), "activations": acts,
           "points": points, "seconds": time.time() - t0}
    if o.json:
        print(json.dumps(res))
    else:
        print(f"model {o.model}: clean accuracy {clean:.4f}, {res['parameters']} parameters, "
              f"{acts} activations")
        print(f"{'p':>11} {'accuracy':>9} {'std':>9} {'trials':>6}")
        for pt in points:
            print(f"{pt['p']:11.4g} {pt['accuracy_mean']:9.4f} {pt['accuracy_std']:9.4f} {pt['trials']:6d}")
        print(f"{res['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

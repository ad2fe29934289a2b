#!/usr/bin/python3
"""Check exported ONNX fixtures independently of PyTorch.

    /usr/bin/python3 tools/check_onnx.py MODEL.onnx [--input X.npy
        --logits Y.npy [--labels L.npy]] [--atol A]

For each model: onnx.load + onnx.checker.check_model, print the opset, the
metadata_props and the op types the graph uses.  With --input/--logits, also
run the graph with a small float64 numpy interpreter (only the ops these
fixtures use: Conv (incl. groups), BatchNormalization, Relu, Sigmoid, Add,
Mul, Pad, AveragePool, MaxPool, GlobalAveragePool, Shape, Gather, Unsqueeze,
Concat, Reshape, Flatten, Gemm, MatMul, Constant, Identity) and compare its
output with the saved PyTorch logits.  No onnxruntime needed.
Exit status 1 if any check fails.
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pool_windows(x, kh, kw, sh, sw):
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw),
        (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]), writeable=False)


def _pad_spatial(x, pads, value=0.0):
    hb, wb, he, we = pads
    return np.pad(x, ((0, 0), (0, 0), (hb, he), (wb, we)),
                  constant_values=value)


def conv(x, w, b, a):
    group = a.get('group', 1)
    kh, kw = w.shape[2:]
    sh, sw = a.get('strides', [1, 1])
    if a.get('dilations', [1, 1]) != [1, 1]:
        raise NotImplementedError('dilated conv')
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise NotImplementedError('auto_pad')
    x = _pad_spatial(x, a.get('pads', [0, 0, 0, 0]))
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    outs = []
    for g in range(group):
        win = _pool_windows(np.ascontiguousarray(x[:, g * cg:(g + 1) * cg]),
                            kh, kw, sh, sw)       # n, cg, oh, ow, kh, kw
        wg = w[g * mg:(g + 1) * mg]                # mg, cg, kh, kw
        outs.append(np.einsum('ncyxij,mcij->nmyx', win, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def run(model, feeds):
    env = {}
    for t in model.graph.initializer:
        env[t.name] = numpy_helper.to_array(t).astype(
            np.float64 if t.data_type == onnx.TensorProto.FLOAT else None)
    env.update(feeds)
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == 'Constant':
            v = numpy_helper.to_array(a['value'])
            r = v.astype(np.float64) if v.dtype == np.float32 else v
        elif op == 'Identity':
            r = i[0]
        elif op == 'Conv':
            r = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == 'BatchNormalization':
            x, s, bb, mu, var = i[:5]
            eps = a.get('epsilon', 1e-5)
            sh = (1, -1, 1, 1)
            r = (x - mu.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) \
                * s.reshape(sh) + bb.reshape(sh)
        elif op == 'Relu':
            r = np.maximum(i[0], 0)
        elif op == 'Sigmoid':
            r = 1.0 / (1.0 + np.exp(-i[0]))
        elif op == 'Add':
            r = i[0] + i[1]
        elif op == 'Mul':
            r = i[0] * i[1]
        elif op == 'Pad':
            if a.get('mode', b'constant') not in (b'constant', 'constant'):
                raise NotImplementedError('Pad mode')
            pads = [int(p) for p in i[1]]
            nd = i[0].ndim
            val = float(i[2]) if len(i) > 2 and i[2] is not None else 0.0
            r = np.pad(i[0], [(pads[k], pads[k + nd]) for k in range(nd)],
                       constant_values=val)
        elif op in ('AveragePool', 'MaxPool'):
            if a.get('ceil_mode', 0):
                raise NotImplementedError('ceil_mode')
            kh, kw = a['kernel_shape']
            sh, sw = a.get('strides', [1, 1])
            pads = a.get('pads', [0, 0, 0, 0])
            if op == 'MaxPool':
                x = _pad_spatial(i[0], pads, -np.inf)
                r = _pool_windows(x, kh, kw, sh, sw).max(axis=(4, 5))
            else:
                if any(pads) and not a.get('count_include_pad', 0):
                    raise NotImplementedError('AveragePool padding')
                x = _pad_spatial(i[0], pads)
                r = _pool_windows(x, kh, kw, sh, sw).mean(axis=(4, 5))
        elif op == 'GlobalAveragePool':
            r = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == 'Shape':
            r = np.array(i[0].shape, dtype=np.int64)
        elif op == 'Gather':
            r = np.take(i[0], i[1], axis=a.get('axis', 0))
        elif op == 'Unsqueeze':
            r = i[0]
            for ax in sorted(int(v) for v in i[1]):
                r = np.expand_dims(r, ax)
        elif op == 'Concat':
            r = np.concatenate([np.atleast_1d(t) for t in i], axis=a['axis'])
        elif op == 'Reshape':
            shape = [int(s) for s in i[1]]
            shape = [i[0].shape[k] if s == 0 else s
                     for k, s in enumerate(shape)]
            r = i[0].reshape(shape)
        elif op == 'Flatten':
            ax = a.get('axis', 1)
            r = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == 'Gemm':
            A, B = i[0], i[1]
            if a.get('transA', 0):
                A = A.T
            if a.get('transB', 0):
                B = B.T
            r = a.get('alpha', 1.0) * A @ B
            if len(i) > 2 and i[2] is not None:
                r = r + a.get('beta', 1.0) * i[2]
        elif op == 'MatMul':
            r = i[0] @ i[1]
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = r
    return [env[o.name] for o in model.graph.output]


def op_types(model):
    seen = []
    for n in model.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('model')
    ap.add_argument('--input')
    ap.add_argument('--logits')
    ap.add_argument('--labels')
    ap.add_argument('--atol', type=float, default=1e-4)
    args = ap.parse_args()
    ok = True
    m = onnx.load(args.model)
    onnx.checker.check_model(m)
    opset = [(o.domain or 'ai.onnx', o.version) for o in m.opset_import]
    meta = {p.key: p.value for p in m.metadata_props}
    ins = [(v.name, [d.dim_param or d.dim_value
                     for d in v.type.tensor_type.shape.dim])
           for v in m.graph.input]
    outs = [(v.name, [d.dim_param or d.dim_value
                      for d in v.type.tensor_type.shape.dim])
            for v in m.graph.output]
    print('%s: checker ok; opset %s; inputs %s; outputs %s; metadata %s'
          % (args.model, opset, ins, outs, meta))
    print('  %d nodes, ops: %s' % (len(m.graph.node), ', '.join(op_types(m))))
    if args.input and args.logits:
        x = np.load(args.input)
        ref = np.load(args.logits)
        if ref.dtype != np.float32 or ref.ndim != 2 or \
                ref.shape[0] != x.shape[0]:
            print('  BAD logits file: %s %s' % (ref.dtype, ref.shape))
            ok = False
        y = run(m, {m.graph.input[0].name: x.astype(np.float64)})[0]
        err = float(np.abs(y - ref).max())
        agree = int((y.argmax(1) == ref.argmax(1)).sum())
        line = ('  numpy vs PyTorch logits %s: max |diff| %.3g, argmax '
                'agrees %d/%d' % (ref.shape, err, agree, len(ref)))
        if args.labels:
            lab = np.load(args.labels)
            line += ', correct %d/%d' % (int((y.argmax(1) == lab).sum()),
                                         len(lab))
        print(line)
        if err > args.atol * max(1.0, float(np.abs(ref).max())):
            print('  MISMATCH')
            ok = False
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

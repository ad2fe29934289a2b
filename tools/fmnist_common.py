"""Shared helpers for the Fashion-MNIST fixture scripts.

Reads the IDX files shipped by Debian under /usr/share/datasets/fashion-mnist
(gzip + numpy, no torchvision), normalises them, evaluates models and exports
them to ONNX with the options the brownout fixtures use.
"""
import gzip
import hashlib
import os
import shlex
import sys

import numpy as np
import torch

DATA_DIR = '/usr/share/datasets/fashion-mnist'
MEAN = 0.2860
STD = 0.3530
MEAN_STR = '0.2860'
STD_STR = '0.3530'
OPSET = 13


def read_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError('%s: not an IDX file' % path)
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: '>i2', 0x0C: '>i4',
              0x0D: '>f4', 0x0E: '>f8'}
    dtype = np.dtype(dtypes[data[2]])
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
            for i in range(ndim)]
    off = 4 + 4 * ndim
    count = int(np.prod(dims))
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=off)
    return arr.reshape(dims)


def load_split(split, data_dir=DATA_DIR):
    """Return (images float32 [N,1,28,28] normalised, labels int64 [N])."""
    prefix = 'train' if split == 'train' else 't10k'
    imgs = read_idx(os.path.join(data_dir, prefix + '-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(data_dir, prefix + '-labels-idx1-ubyte.gz'))
    x = imgs.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    x = x.reshape(-1, 1, 28, 28).astype(np.float32)
    return x, labels.astype(np.int64)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    """Return (number correct, accuracy) of model (in eval mode) on x, y."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch])
        correct += int((out.argmax(1) == y[i:i + batch]).sum())
    model.train(was_training)
    return correct, correct / len(x)


@torch.no_grad()
def logits(model, x):
    model.eval()
    return model(x).float().numpy().astype(np.float32)


def export_onnx(model, path, example, metadata=None):
    """Export with brownout's options; optionally add metadata_props."""
    import onnx
    model.eval()
    torch.onnx.export(model, example, path,
                      opset_version=OPSET,
                      input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'},
                                    'logits': {0: 'batch'}},
                      do_constant_folding=True,
                      # keep BatchNormalization nodes: the spec stores BN
                      # as (scale, shift), not folded into the conv
                      training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(path)
    if metadata:
        for k, v in metadata.items():
            p = m.metadata_props.add()
            p.key = k
            p.value = v
        onnx.save(m, path)
        m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def op_types(model_proto):
    seen = []
    for n in model_proto.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def command_line():
    """The command that ran this script, relative to the repository root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), repo_root())
    return ' '.join(['/usr/bin/python3', shlex.quote(script)] +
                    [shlex.quote(a) for a in sys.argv[1:]])


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

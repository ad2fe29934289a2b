#!/usr/bin/python3
"""Train "a model trained elsewhere": a small plain CNN on Fashion-MNIST.

    /usr/bin/python3 tools/train_other.py --out DIR [--seed 1] [--epochs 2]

It stands in, in acceptance tests, for a model brownout did not make: a
different architecture from the PreActResNet fixtures,

    conv(1->16, 3x3, pad 1) - BN - ReLU - maxpool 2
    conv(16->32, 3x3, pad 1) - BN - ReLU - maxpool 2
    flatten - linear(32*7*7 -> 64) - ReLU - dropout(0.25) - linear(64 -> 10)

trained briefly with the same input normalisation (mean 0.2860, std 0.3530),
and exported to DIR/other.onnx (opset 13, input 'input' [batch,1,28,28],
output 'logits' [batch,10]) WITHOUT brownout metadata_props: whoever uses it
must supply the normalisation themselves.  DIR/other.json records PyTorch's
test accuracy and number correct out of the 10,000 test images;
DIR/other.logits.npy holds PyTorch's eval-mode logits (float32 [64,10]) on
the first 64 test images (the same images as tests/fixtures/fmnist_first64.npy).

Deterministic for a given torch build with one thread; may differ across
torch builds.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True   # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_common as fc  # noqa: E402


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10):
        super(SmallCNN, self).__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    xtr_np, ytr_np = fc.load_split('train')
    xte_np, yte_np = fc.load_split('test')
    xtr, ytr = torch.from_numpy(xtr_np), torch.from_numpy(ytr_np)
    xte, yte = torch.from_numpy(xte_np), torch.from_numpy(yte_np)

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = SmallCNN()
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(xtr)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot, seen = 0.0, 0
        for s in range(0, n, args.batch_size):
            idx = perm[s:s + args.batch_size]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss) * len(idx)
            seen += len(idx)
        _, acc = fc.evaluate(model, xte, yte)
        print('epoch %d: loss %.4f test-acc %.4f (%.0fs)'
              % (epoch + 1, tot / seen, acc, time.time() - t0), flush=True)
    train_s = time.time() - t0

    model.eval()
    correct, acc = fc.evaluate(model, xte, yte)
    first64 = torch.from_numpy(np.ascontiguousarray(xte_np[:64]))
    lg = fc.logits(model, first64)
    np.save(os.path.join(args.out, 'other.logits.npy'), lg)
    path = os.path.join(args.out, 'other.onnx')
    proto = fc.export_onnx(model, path, first64[:1], metadata=None)
    info = {
        'name': 'other',
        'onnx': 'other.onnx',
        'logits': 'other.logits.npy',
        'arch': 'SmallCNN: conv16-bn-relu-maxpool, conv32-bn-relu-maxpool, '
                'flatten, linear64, relu, dropout0.25, linear10',
        'input_shape': ['batch', 1, 28, 28],
        'normalisation': {'mean': fc.MEAN_STR, 'std': fc.STD_STR,
                          'in_onnx_metadata': False},
        'seed': args.seed,
        'epochs': args.epochs,
        'train_images': n,
        'batch_size': args.batch_size,
        'optimizer': 'Adam lr %g' % args.lr,
        'params': nparams,
        'test_accuracy': round(acc, 4),
        'test_correct': correct,
        'test_images': len(xte),
        'first64_correct': int((lg.argmax(1) == yte_np[:64]).sum()),
        'train_seconds': round(train_s, 1),
        'opset': fc.OPSET,
        'onnx_ops': fc.op_types(proto),
        'onnx_sha256': fc.sha256(path),
        'torch_version': torch.__version__,
        'command': fc.command_line(),
    }
    with open(os.path.join(args.out, 'other.json'), 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')
    print('other: %d params, test accuracy %.4f (%d/10000), ops %s, '
          'wrote %s (%d bytes); total %.0fs'
          % (nparams, acc, correct, ','.join(info['onnx_ops']), path,
             os.path.getsize(path), time.time() - t_start))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""Export the four CIFAR-shaped reference models with seeded random weights.

    /usr/bin/python3 tools/export_cifar.py OUTDIR [--seed S] [--reference]

Writes OUTDIR/{preactresnet18,resnet18,mobilenetv2,senet18}.onnx: the models
of tools/models.py at CIFAR shape (input [batch,3,32,32], F=64, 10 classes),
in eval() mode, exported with opset 13, input 'input', output 'logits',
dynamic batch, constant folding on.  No brownout metadata is added.

The weights are PyTorch's default initialisation under torch.manual_seed(S).
So that the batch norms are not identities and activations keep a sensible
scale through the depth of the network, each model's BatchNorm running
statistics are then estimated from a few seeded N(0,1) input batches (train-
mode forward passes, cumulative average), and each BatchNorm's weight and
bias are drawn from U(0.5,1.5) and N(0,0.1).  These are not trained models:
they exist to check that the engine loads and evaluates the architectures
(grouped/depthwise convolutions, SE blocks, shortcuts) the way PyTorch does.

With --reference, also writes OUTDIR/cifar_input.npy (float32 [4,3,32,32],
seeded N(0,1)) and OUTDIR/<name>.logits.npy (PyTorch eval-mode logits on it,
float32 [4,10]).

Uses one thread; takes well under two minutes.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True   # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import (PreActResNet18, ResNet18, MobileNetV2, SENet18,  # noqa
                    count_params)

MODELS = [
    ('preactresnet18', lambda: PreActResNet18(F=64, in_channels=3)),
    ('resnet18', lambda: ResNet18(F=64, in_channels=3)),
    ('mobilenetv2', lambda: MobileNetV2()),
    ('senet18', lambda: SENet18()),
]


@torch.no_grad()
def randomise_batchnorm(model, gen, batches=2, batch_size=8):
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None          # cumulative moving average
    model.train()
    for _ in range(batches):
        model(torch.randn(batch_size, 3, 32, 32, generator=gen))
    for bn in bns:
        bn.momentum = 0.1
        bn.weight.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.bias.copy_(0.1 * torch.randn(bn.num_features, generator=gen))
    model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('outdir')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--reference', action='store_true',
                    help='also save a random input and PyTorch logits')
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # SENet's int(out.size(2)) is baked into the trace on purpose
    warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
    os.makedirs(args.outdir, exist_ok=True)

    x_ref = None
    if args.reference:
        g = torch.Generator().manual_seed(args.seed + 1000)
        x_ref = torch.randn(4, 3, 32, 32, generator=g)
        np.save(os.path.join(args.outdir, 'cifar_input.npy'),
                x_ref.numpy().astype(np.float32))

    t0 = time.time()
    for i, (name, ctor) in enumerate(MODELS):
        torch.manual_seed(args.seed)
        model = ctor()
        gen = torch.Generator().manual_seed(args.seed * 100 + i)
        randomise_batchnorm(model, gen)
        path = os.path.join(args.outdir, name + '.onnx')
        example = torch.zeros(1, 3, 32, 32)
        torch.onnx.export(model, example, path,
                          opset_version=13,
                          input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'},
                                        'logits': {0: 'batch'}},
                          do_constant_folding=True,
                          # keep BatchNormalization nodes: the spec stores BN
                          # as (scale, shift), not folded into the conv
                          training=torch.onnx.TrainingMode.PRESERVE)
        if x_ref is not None:
            with torch.no_grad():
                lg = model(x_ref).numpy().astype(np.float32)
            np.save(os.path.join(args.outdir, name + '.logits.npy'), lg)
        print('%-15s %10d parameters  %s (%d bytes)  [%.1fs]'
              % (name, count_params(model), path, os.path.getsize(path),
                 time.time() - t0), flush=True)


if __name__ == '__main__':
    main()

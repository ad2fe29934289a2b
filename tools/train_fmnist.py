#!/usr/bin/python3
"""Train the Fashion-MNIST fixtures (PreActResNet18, ResNet18, SENet18,
MobileNetV2) and export them to ONNX.

    /usr/bin/python3 tools/train_fmnist.py --out tests/fixtures \
        [--seed 1] [--epochs E] [--train-limit N] [--only NAME,...]

Models (from tools/models.py, in_channels=1, 28x28 input):

  fmnist_preact_f4          PreActResNet18 F=4, standard training
  fmnist_preact_f6          PreActResNet18 F=6, standard training
  fmnist_preact_f8          PreActResNet18 F=8, standard training
  fmnist_preact_f8_erasure  PreActResNet18 F=8, erasure regulariser
  fmnist_resnet18_f8        ResNet18 F=8, standard training
  fmnist_senet18_f8         SENet18 F=8 (SE bottleneck max(1, planes/16)),
                            standard training
  fmnist_mobilenetv2_w25    MobileNetV2 width 0.25 (every channel count x
                            0.25), standard training

The last three are the networks of the seed paper's Figs. 1 and 2 at about
1/8 of their CIFAR width (F=8 instead of 64; MobileNetV2 x0.25, about as
many parameters as the F=8 ResNets), so that each file is a few hundred KB.
make_fixtures.sh trains them with their own --epochs and --train-limit
(fixtures.json records each model's recipe and command).

Erasure regulariser: in every training forward pass, every element of the
`weight` of every Conv2d/Linear layer, and every element of the input of
every Conv2d/Linear layer, is independently set to zero with probability
p_e (default 0.02).  There is no 1/(1-p) rescaling (this is not dropout).
Each layer draws its own input mask, even where two layers read the same
tensor (a block's conv1 and its 1x1 shortcut).  Biases are not erased (in
this network only the final Linear layer has one).  The masks are applied
only in training mode, and the parametrisations are removed before export,
so the exported graph is a plain PreActResNet18.

Outputs in --out:
  <name>.onnx          opset 13, input 'input' [batch,1,28,28], output
                       'logits' [batch,10], metadata_props
                       brownout.mean=0.2860, brownout.std=0.3530
  <name>.logits.npy    PyTorch eval-mode logits on the first 64 test images,
                       float32 [64,10]
  fmnist_first64.npy          the normalised first 64 test images,
                              float32 [64,1,28,28]
  fmnist_first64_labels.npy   their labels, int64 [64]
  fixtures.json        what was made, how, and its PyTorch test accuracy

Each model is seeded with --seed on its own (initialisation, data order,
augmentation, erasure masks), so --only can remake one model alone and get
the same result as a full run.  Results are deterministic for a given torch
build and thread count (one thread), but can differ across torch builds.
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
import torch.nn.utils.parametrize as parametrize

sys.dont_write_bytecode = True   # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_common as fc  # noqa: E402
from models import (PreActResNet18, ResNet18, SENet18, MobileNetV2,  # noqa
                    count_params)

# arch name -> (constructor for 1-channel, 10-class input given the width,
# the fixtures.json key the width is recorded under)
ARCHS = {
    'PreActResNet18': (lambda w: PreActResNet18(F=w, in_channels=1,
                                                num_classes=10), 'F'),
    'ResNet18': (lambda w: ResNet18(F=w, in_channels=1, num_classes=10),
                 'F'),
    'SENet18': (lambda w: SENet18(num_classes=10, in_channels=1, F=w), 'F'),
    'MobileNetV2': (lambda w: MobileNetV2(num_classes=10, in_channels=1,
                                          width=w), 'width'),
}

MODELS = [
    # name, arch, width, training kind
    ('fmnist_preact_f4', 'PreActResNet18', 4, 'standard'),
    ('fmnist_preact_f6', 'PreActResNet18', 6, 'standard'),
    ('fmnist_preact_f8', 'PreActResNet18', 8, 'standard'),
    ('fmnist_preact_f8_erasure', 'PreActResNet18', 8, 'erasure'),
    ('fmnist_resnet18_f8', 'ResNet18', 8, 'standard'),
    ('fmnist_senet18_f8', 'SENet18', 8, 'standard'),
    ('fmnist_mobilenetv2_w25', 'MobileNetV2', 0.25, 'standard'),
]


# --------------------------------------------------------------------------
# Erasure regulariser
# --------------------------------------------------------------------------
class EraseWeight(nn.Module):
    """Parametrisation: zero each weight with probability p (training only),
    without rescaling."""

    def __init__(self, p):
        super(EraseWeight, self).__init__()
        self.p = p

    def forward(self, w):
        if not self.training or self.p <= 0:
            return w
        return w * (torch.rand_like(w) >= self.p).to(w.dtype)


def _make_input_hook(p):
    def hook(module, inputs):
        if not module.training or p <= 0:
            return None
        x = inputs[0]
        x = x * (torch.rand_like(x) >= p).to(x.dtype)
        return (x,) + tuple(inputs[1:])
    return hook


def add_erasure(model, p):
    """Attach the erasure regulariser to every Conv2d / Linear layer."""
    handles = []
    n = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(m, 'weight', EraseWeight(p))
            handles.append(m.register_forward_pre_hook(_make_input_hook(p)))
            n += 1
    return handles, n


def remove_erasure(model, handles):
    for h in handles:
        h.remove()
    for m in model.modules():
        if parametrize.is_parametrized(m, 'weight'):
            # leave_parametrized=False puts the trained weight back unchanged
            parametrize.remove_parametrizations(m, 'weight',
                                                leave_parametrized=False)


# --------------------------------------------------------------------------
def train_one(name, arch, width, kind, args, xtr, ytr, xte, yte, log):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = ARCHS[arch][0](width)
    nparams = count_params(model)
    handles = []
    if kind == 'erasure':
        handles, nlayers = add_erasure(model, args.p_erase)
        log('%s: erasure p_e=%g on %d Conv/Linear layers'
            % (name, args.p_erase, nlayers))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(xtr)
    steps_per_epoch = (n + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs,
        steps_per_epoch=steps_per_epoch, pct_start=0.15)
    log('%s: %s width %g %s, %d params, %d train images, %d epochs, %d steps/epoch'
        % (name, arch, width, kind, nparams, n, args.epochs, steps_per_epoch))
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot_loss, tot_correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            xb, yb = xtr[idx], ytr[idx]
            # augmentation: random horizontal flip of half the batch
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss) * len(idx)
            tot_correct += int((out.argmax(1) == yb).sum())
            seen += len(idx)
            if (step + 1) % args.log_every == 0:
                log('%s: epoch %d step %d/%d loss %.4f train-acc %.4f '
                    '(%.0fs)' % (name, epoch + 1, step + 1, steps_per_epoch,
                                 tot_loss / seen, tot_correct / seen,
                                 time.time() - t0))
        if epoch + 1 == args.epochs:
            # the last epoch's test accuracy is main()'s final evaluation
            # (the same eval-mode model): not computed twice
            log('%s: epoch %d done: loss %.4f train-acc %.4f (%.0fs)'
                % (name, epoch + 1, tot_loss / seen, tot_correct / seen,
                   time.time() - t0))
            continue
        _, acc = fc.evaluate(model, xte, yte)
        log('%s: epoch %d done: loss %.4f train-acc %.4f test-acc %.4f (%.0fs)'
            % (name, epoch + 1, tot_loss / seen, tot_correct / seen, acc,
               time.time() - t0))
    train_s = time.time() - t0
    if handles:
        remove_erasure(model, handles)
    model.eval()
    return model, nparams, train_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output directory')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--train-limit', type=int, default=0,
                    help='train on this many images (a seeded subset of the '
                    '60,000); 0 = all')
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--lr', type=float, default=3e-3,
                    help='peak learning rate (Adam, one-cycle schedule)')
    ap.add_argument('--p-erase', type=float, default=0.02,
                    help='erasure probability p_e for the _erasure model')
    ap.add_argument('--only', default='',
                    help='comma-separated model names to (re)make; others '
                    'already in fixtures.json are kept')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--log-every', type=int, default=100)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    def log(msg):
        print('[%6.0fs] %s' % (time.time() - t_start, msg), flush=True)

    log('torch %s, numpy %s, threads %d' % (torch.__version__,
                                           np.__version__,
                                           torch.get_num_threads()))
    xtr_np, ytr_np = fc.load_split('train')
    xte_np, yte_np = fc.load_split('test')
    if args.train_limit and args.train_limit < len(xtr_np):
        rng = np.random.RandomState(args.seed)
        sel = np.sort(rng.permutation(len(xtr_np))[:args.train_limit])
        xtr_np, ytr_np = xtr_np[sel], ytr_np[sel]
    xtr, ytr = torch.from_numpy(xtr_np), torch.from_numpy(ytr_np)
    xte, yte = torch.from_numpy(xte_np), torch.from_numpy(yte_np)
    log('train %s, test %s' % (tuple(xtr.shape), tuple(xte.shape)))

    first64 = np.ascontiguousarray(xte_np[:64], dtype=np.float32)
    first64_labels = np.ascontiguousarray(yte_np[:64], dtype=np.int64)
    np.save(os.path.join(args.out, 'fmnist_first64.npy'), first64)
    np.save(os.path.join(args.out, 'fmnist_first64_labels.npy'),
            first64_labels)

    only = [s for s in args.only.split(',') if s]
    unknown = set(only) - {m[0] for m in MODELS}
    if unknown:
        ap.error('unknown model(s): %s' % ', '.join(sorted(unknown)))
    todo = [m for m in MODELS if not only or m[0] in only]

    json_path = os.path.join(args.out, 'fixtures.json')
    manifest = {}
    if only and os.path.exists(json_path):
        with open(json_path) as f:
            manifest = json.load(f)
    entries = {e['name']: e for e in manifest.get('models', [])}

    cmd = fc.command_line()
    for name, arch, width, kind in todo:
        model, nparams, train_s = train_one(name, arch, width, kind, args,
                                            xtr, ytr, xte, yte, log)
        correct, acc = fc.evaluate(model, xte, yte)
        lg = fc.logits(model, torch.from_numpy(first64))
        assert lg.shape == (64, 10) and lg.dtype == np.float32
        np.save(os.path.join(args.out, name + '.logits.npy'), lg)
        onnx_path = os.path.join(args.out, name + '.onnx')
        proto = fc.export_onnx(model, onnx_path, torch.from_numpy(first64[:1]),
                               metadata={'brownout.mean': fc.MEAN_STR,
                                         'brownout.std': fc.STD_STR})
        log('%s: test accuracy %.4f (%d/10000), first-64 accuracy %d/64, '
            'exported %s (%d bytes), ops %s'
            % (name, acc, correct,
               int((lg.argmax(1) == first64_labels).sum()), onnx_path,
               os.path.getsize(onnx_path), ','.join(fc.op_types(proto))))
        entries[name] = {
            'name': name,
            'onnx': name + '.onnx',
            'logits': name + '.logits.npy',
            'arch': arch,
            ARCHS[arch][1]: width,
            'in_channels': 1,
            'input_shape': ['batch', 1, 28, 28],
            'training': kind,
            'p_erase': args.p_erase if kind == 'erasure' else 0.0,
            'seed': args.seed,
            'epochs': args.epochs,
            'train_images': len(xtr),
            'batch_size': args.batch_size,
            'optimizer': 'Adam, one-cycle lr, max %g' % args.lr,
            'augmentation': 'random horizontal flip',
            'test_accuracy': round(acc, 4),
            'test_correct': correct,
            'test_images': len(xte),
            'first64_correct': int((lg.argmax(1) == first64_labels).sum()),
            'params': nparams,
            'train_seconds': round(train_s, 1),
            'onnx_sha256': fc.sha256(onnx_path),
            'onnx_ops': fc.op_types(proto),
            'command': cmd,
        }

    # read the file again: another run with --only may have written
    # other models since this one started
    if only and os.path.exists(json_path):
        with open(json_path) as f:
            for e in json.load(f).get('models', []):
                if e['name'] not in {m[0] for m in todo}:
                    entries[e['name']] = e
    manifest = {
        'description': 'Fashion-MNIST fixtures (PreActResNet18, ResNet18, '
                       'SENet18, MobileNetV2) for brownout; '
                       'accuracies are PyTorch eval-mode on the 10,000 test '
                       'images',
        'dataset': fc.DATA_DIR,
        'mean': fc.MEAN_STR,
        'std': fc.STD_STR,
        'opset': fc.OPSET,
        'torch_version': torch.__version__,
        'numpy_version': np.__version__,
        'inputs': 'fmnist_first64.npy',
        'labels': 'fmnist_first64_labels.npy',
        'models': [entries[m[0]] for m in MODELS if m[0] in entries],
    }
    with open(json_path, 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    log('wrote %s; total %.0fs' % (json_path, time.time() - t_start))


if __name__ == '__main__':
    main()

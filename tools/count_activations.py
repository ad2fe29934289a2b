#!/usr/bin/python3
"""Which reading of "activations generated" gives the paper's Table I?

    /usr/bin/python3 tools/count_activations.py [--csv] [--onnx DIR]

The seed paper's Table I (CIFAR-10, F=64) counts PreActResNet18 0.55 M,
ResNet18 0.56 M, MobileNetV2 1.53 M and SENet18 0.86 M activations without
saying how.  This script runs one 1x3x32x32 sample through each model of
tools/models.py (and a few variants of them, below) under a
TorchFunctionMode that records every tensor operation -- F.relu and the
other functional calls included, which module hooks would miss -- with its
output size, the module it ran in and which earlier operation produced each
of its inputs.  It then counts the values per sample under many readings
(ReLU outputs, gates, SE-scaled tensors, shortcut sums, conv/BN outputs,
conv inputs, ...) and prints one table: readings x networks, each count
with an '=' where it rounds to the paper's figure (to 0.01 M).

A value is one operation's output (in-place `out += s` is a new value, as in
the ONNX graph); a view is the tensor it views.  Squeeze-and-excitation
parts are recognised by shape: inside a block (a module under layerN), a
1x1 spatial tensor is SE-internal (squeeze, FC hidden, gate); the Mul that
applies the gate is the SE-scaled output.  The "stem" is every top-level
operation before the first block.

Variants (not in Table I, to test other readings of the architectures):
  PreActResNet18/kuangliu  kuangliu's PreActResNet18, without the final
                           BN-ReLU that tools/models.py adds
  SENet18/basic            kuangliu's SENet with its other block, BasicBlock
                           + SE (post-activation, ReLU after the sum)
  SENet18/final-relu       SENet18 with a final BN-ReLU before pooling, as
                           tools/models.py's PreActResNet18 has

With --onnx DIR, also exports every network (random weights, eval mode,
opset 13, BatchNormalization kept, as tools/export_cifar.py does) to
DIR/<name>.onnx ('/' in a name becomes '-'), to cross-check the counts with
`build/brownout info DIR/<name>.onnx --sites RULE`.

Random weights, CPU, one thread, a few seconds (about a minute with --onnx).  Use Debian's
/usr/bin/python3 (torch 1.13).
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

sys.dont_write_bytecode = True   # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

PAPER = {'PreActResNet18': 0.55, 'ResNet18': 0.56, 'MobileNetV2': 1.53,
         'SENet18': 0.86}

# Operations that produce a value; anything else that returns a tensor
# (view, reshape, flatten) is an alias of its input.
PRODUCERS = {
    'conv2d': 'conv', 'relu': 'relu', 'relu_': 'relu', 'sigmoid': 'sigmoid',
    'batch_norm': 'bn', 'avg_pool2d': 'pool', 'linear': 'linear',
    'mul': 'mul', '__mul__': 'mul', 'add': 'add', 'add_': 'add',
    '__add__': 'add', '__iadd__': 'add',
}


class Recorder(TorchFunctionMode):
    """Records (kind, per-sample numel, module path, input producers, shape)
    of every producing operation.  Input producer -1 is the graph input."""

    def __init__(self):
        super().__init__()
        self.events = []
        self.producer = {}   # id(tensor) -> event index
        self.keep = []       # keep tensors alive so ids are not reused
        self.path = ['']

    def _src(self, t):
        return self.producer.get(id(t), -1)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, '__name__', '')
        if not isinstance(out, torch.Tensor):
            return out
        kind = PRODUCERS.get(name)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if kind is None:
            # view-like: the output is its input's value
            if tensors and id(tensors[0]) in self.producer:
                self.producer[id(out)] = self._src(tensors[0])
                self.keep.append(out)
            return out
        self.events.append(dict(kind=kind, numel=out.numel() // out.shape[0],
                                shape=tuple(out.shape[1:]),
                                path=self.path[-1],
                                ins=[self._src(t) for t in tensors]))
        self.producer[id(out)] = len(self.events) - 1
        self.keep.append(out)
        return out


def trace(net):
    rec = Recorder()
    names = {m: n for n, m in net.named_modules()}
    hooks = []

    def enter(mod, inp):
        rec.path.append(names[mod])

    def leave(mod, inp, out):
        rec.path.pop()   # returning None keeps the module's output
    for m in net.modules():
        hooks.append(m.register_forward_pre_hook(enter))
        hooks.append(m.register_forward_hook(leave))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad(), rec:
        net(x)
    for h in hooks:
        h.remove()
    ev = rec.events
    # annotate
    first_block = next(i for i, e in enumerate(ev) if e['path'].startswith(('layer', 'layers')))
    readers = [[] for _ in ev]
    for i, e in enumerate(ev):
        for s in e['ins']:
            if s >= 0:
                readers[s].append(i)
    for i, e in enumerate(ev):
        e['stem'] = i < first_block
        e['in_block'] = e['path'].startswith(('layer', 'layers'))
        e['se'] = (e['in_block'] and len(e['shape']) == 3
                   and e['shape'][1:] == (1, 1))
        e['readers'] = readers[i]
        # the SE-scaled output: a Mul one of whose inputs is a Sigmoid
        e['gated'] = e['kind'] == 'mul' and any(
            s >= 0 and ev[s]['kind'] == 'sigmoid' for s in e['ins'])
        # conv input: the first input of a conv/linear
    return ev


def conv_inputs(ev, graph_input=True, per_read=False, se=True):
    """Values read as the data input of conv2d/linear; -1 = graph input."""
    seen, n = set(), 0
    for e in ev:
        if e['kind'] not in ('conv', 'linear') or (not se and e['se']):
            continue
        src = e['ins'][0]
        if src in seen and not per_read:
            continue
        seen.add(src)
        if src < 0:
            n += 3 * 32 * 32 if graph_input else 0
        else:
            n += ev[src]['numel']
    return n


def s(ev, pred):
    return sum(e['numel'] for e in ev if pred(e))


def relu(e):
    return e['kind'] == 'relu'


def sig(e):
    return e['kind'] == 'sigmoid'


def scaled(e):
    return e['gated']


def shortcut_sum(e):
    return e['kind'] == 'add'


# (name, description, count(events))
READINGS = [
    ('relu', 'ReLU outputs (brownout `relu`)', lambda ev: s(ev, relu)),
    ('activations', 'ReLU + Sigmoid outputs (brownout `activations`)',
     lambda ev: s(ev, lambda e: relu(e) or sig(e))),
    ('relu-no-stem', 'ReLU outputs, stem excluded',
     lambda ev: s(ev, lambda e: relu(e) and not e['stem'])),
    ('relu-no-se', 'ReLU outputs, SE hidden excluded',
     lambda ev: s(ev, lambda e: relu(e) and not e['se'])),
    ('relu+scaled', 'ReLU + SE-scaled x*sigmoid(g) (gate not counted)',
     lambda ev: s(ev, lambda e: relu(e) or scaled(e))),
    ('activations-gated', 'ReLU + Sigmoid + SE-scaled (brownout `activations-gated`)',
     lambda ev: s(ev, lambda e: relu(e) or sig(e) or scaled(e))),
    ('act+scaled+squeeze', 'ReLU + Sigmoid + SE-scaled + SE squeeze',
     lambda ev: s(ev, lambda e: relu(e) or sig(e) or scaled(e)
                  or (e['kind'] == 'pool' and e['se']))),
    ('relu-no-se+scaled', 'ReLU (SE hidden excluded) + SE-scaled',
     lambda ev: s(ev, lambda e: (relu(e) and not e['se']) or scaled(e))),
    ('relu+sums', 'ReLU + shortcut sums (every Add)',
     lambda ev: s(ev, lambda e: relu(e) or shortcut_sum(e))),
    ('act+sums', 'ReLU + Sigmoid + shortcut sums',
     lambda ev: s(ev, lambda e: relu(e) or sig(e) or shortcut_sum(e))),
    ('act+scaled+sums', 'ReLU + Sigmoid + SE-scaled + shortcut sums',
     lambda ev: s(ev, lambda e: relu(e) or sig(e) or scaled(e)
                  or shortcut_sum(e))),
    ('block-outputs', 'tensors leaving each block (layerN.i)',
     lambda ev: sum(e['numel'] for i, e in enumerate(ev)
                    if e['in_block'] and not e['se'] and any(
                        not ev[r]['in_block'] or ev[r]['path'].split('.')[:2]
                        != e['path'].split('.')[:2] for r in e['readers']))),
    ('conv-out', 'Conv outputs (all)', lambda ev: s(ev, lambda e: e['kind'] == 'conv')),
    ('conv-out-no-se', 'Conv outputs, SE FCs excluded',
     lambda ev: s(ev, lambda e: e['kind'] == 'conv' and not e['se'])),
    ('bn-out', 'BatchNorm outputs', lambda ev: s(ev, lambda e: e['kind'] == 'bn')),
    ('conv-inputs', 'distinct conv/linear data inputs, image included '
     '(brownout `conv-inputs`)', lambda ev: conv_inputs(ev)),
    ('conv-inputs-no-image', 'distinct conv/linear inputs, image excluded',
     lambda ev: conv_inputs(ev, graph_input=False)),
    ('conv-input-reads', 'conv/linear data inputs counted per read',
     lambda ev: conv_inputs(ev, per_read=True)),
    ('conv-inputs-no-se', 'distinct conv/linear inputs, SE FCs excluded',
     lambda ev: conv_inputs(ev, se=False)),
    ('all-values', 'every value produced (conv, BN, ReLU, pool, Mul, Add, ...)',
     lambda ev: s(ev, lambda e: True)),
]


# ---- variants -------------------------------------------------------------
class KuangliuPreActResNet(models.PreActResNet):
    """kuangliu's PreActResNet: no BN-ReLU after the last block."""

    def __init__(self):
        super().__init__(models.PreActBlock, [2, 2, 2, 2])
        del self.bn

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


class SEBasicBlock(nn.Module):
    """kuangliu's senet.py BasicBlock: conv-BN-ReLU, conv-BN, SE, + shortcut
    (conv-BN when the shape changes), ReLU."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes))
        self.fc1 = nn.Conv2d(planes, planes // 16, 1)
        self.fc2 = nn.Conv2d(planes // 16, planes, 1)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        w = F.avg_pool2d(out, int(out.size(2)))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w))))
        out = out * w
        out += self.shortcut(x)
        return F.relu(out)


class SENetFinalReLU(models.SENet):
    def __init__(self):
        super().__init__(models.SEPreActBlock, [2, 2, 2, 2])
        self.bn = nn.BatchNorm2d(512)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(F.relu(self.bn(out)), 4)
        return self.linear(out.view(out.size(0), -1))


# (name, column label, constructor)
NETWORKS = [
    ('PreActResNet18', 'PreAct18', lambda: models.PreActResNet18()),
    ('ResNet18', 'ResNet18', lambda: models.ResNet18()),
    ('MobileNetV2', 'MobileNetV2', lambda: models.MobileNetV2()),
    ('SENet18', 'SENet18', lambda: models.SENet18()),
    ('PreActResNet18/kuangliu', 'PreAct18/kl', lambda: KuangliuPreActResNet()),
    ('SENet18/basic', 'SENet18/basic', lambda: models.SENet(SEBasicBlock, [2, 2, 2, 2])),
    ('SENet18/final-relu', 'SENet18/relu', lambda: SENetFinalReLU()),
]
# Table I as tools/models.py defines it, and with kuangliu's PreActResNet18
FITS = [('models.py', ['PreActResNet18', 'ResNet18', 'MobileNetV2', 'SENet18']),
        ('kuangliu', ['PreActResNet18/kuangliu', 'ResNet18', 'MobileNetV2', 'SENet18'])]


def export(net, path):
    import warnings
    # SENet's int(out.size(2)) is baked into the trace on purpose
    warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), path, opset_version=13,
                      input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'},
                                    'logits': {0: 'batch'}},
                      do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)


def matches(name, n):
    paper = PAPER.get(name.split('/')[0])
    return paper is not None and round(n / 1e6, 2) == paper


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--csv', action='store_true', help='CSV instead of a table')
    ap.add_argument('--onnx', metavar='DIR',
                    help='also export every network to DIR/<name>.onnx')
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    counts, params = {}, {}
    for name, _, make in NETWORKS:
        net = make().eval()
        params[name] = models.count_params(net)
        ev = trace(net)
        counts[name] = [f(ev) for _, _, f in READINGS]
        if args.onnx:
            export(net, os.path.join(args.onnx, name.replace('/', '-') + '.onnx'))
    nets = [n for n, _, _ in NETWORKS]
    if args.csv:
        print('reading,' + ','.join(nets))
        print('(parameters),' + ','.join(str(params[n]) for n in nets))
        for i, (r, _, _) in enumerate(READINGS):
            print(r + ',' + ','.join(str(counts[n][i]) for n in nets))
        return
    print('Values per sample (1x3x32x32).  "=" : rounds to the paper\'s '
          'Table I figure (0.01 M).')
    print('Paper: ' + ', '.join('%s %.2f M' % kv for kv in PAPER.items()))
    w = max(len(r) for r, _, _ in READINGS)
    print('%-*s ' % (w, 'reading') + ' '.join('%13s' % lab for _, lab, _ in NETWORKS)
          + '  ' + ' '.join('%9s' % f for f, _ in FITS))
    for i, (r, _, _) in enumerate(READINGS):
        cells = []
        for n in nets:
            c = counts[n][i]
            cells.append('%11s %s' % ('{:,}'.format(c), '=' if matches(n, c) else ' '))
        fits = ['%7d/4' % sum(matches(n, counts[n][i]) for n in four) for _, four in FITS]
        print('%-*s %s  %s' % (w, r, ' '.join(cells), ' '.join(fits)))
    print('%-*s %s' % (w, '(parameters)', ' '.join(
        '%11s  ' % '{:,}'.format(params[n]) for n in nets)))
    print()
    for r, d, _ in READINGS:
        print('  %-*s %s' % (w, r, d))
    for f, four in FITS:
        print('  %-*s matches among %s' % (w, f, ', '.join(four)))
    print('  %-*s kuangliu\'s PreActResNet18 (no final BN-ReLU)' % (w, 'PreAct18/kl'))
    print('  %-*s SENet with kuangliu\'s BasicBlock + SE' % (w, 'SENet18/basic'))
    print('  %-*s SENet18 with a final BN-ReLU' % (w, 'SENet18/relu'))


if __name__ == '__main__':
    main()

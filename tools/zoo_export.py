#!/usr/bin/python3
"""Export small-input versions of torchvision 0.14's classifiers to ONNX, the
way a user does (torch.onnx.export with its default settings), with random
weights (fixed seed), and save PyTorch's logits next to each file.

  tools/zoo_export.py OUTDIR [--opsets 11,13,17] [--models a,b] [--list-ops]

For every model M and opset K it writes
  OUTDIR/M.opK.onnx        fixed batch 1 (torch.onnx.export's default)
  OUTDIR/M.opK.dyn.onnx    dynamic batch axis (dynamic_axes={'input': {0: 'b'}})
  OUTDIR/M.x1.npy, M.x3.npy         inputs: one image, three images
  OUTDIR/M.logits1.npy, M.logits3.npy  PyTorch's logits for them
Models that torch cannot export at an opset are listed in OUTDIR/export-failures.txt.
Widths and depths are reduced where the constructors allow, so that the
whole zoo exports in well under a minute on two cores (tests/zoo/run.sh).
"""
import io
import os
import sys
import warnings
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision import models as tvm


def vgg11_bn():
    m = tvm.vgg11_bn(num_classes=10)
    # 32x32 input: the feature map is 1x1; keep the features, shrink the head
    m.avgpool = nn.Identity()
    m.classifier = nn.Sequential(nn.Linear(512, 64), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(64, 10))
    return m


def alexnet():
    m = tvm.alexnet(num_classes=10)
    # a small head over the 256x6x6 features of a 224x224 image
    m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(256 * 6 * 6, 64), nn.ReLU(True),
                                 nn.Linear(64, 10))
    return m


def densenet():
    # a dense block of 10 layers: Concat with 11 inputs
    return tvm.DenseNet(growth_rate=8, block_config=(2, 10, 2, 2), num_init_features=16,
                        bn_size=2, num_classes=10)


def convnext():
    from torchvision.models.convnext import CNBlockConfig
    cfg = [CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), CNBlockConfig(64, None, 1)]
    return tvm.ConvNeXt(cfg, stochastic_depth_prob=0.0, num_classes=10)


def vit():
    return tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                 hidden_dim=32, mlp_dim=64, num_classes=10)


def swin():
    return tvm.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2],
                               num_heads=[2, 2], window_size=[4, 4], num_classes=10)


# name -> (constructor, input H=W)
MODELS = {
    "resnet18": (partial(tvm.resnet18, num_classes=10), 32),
    "vgg11_bn": (vgg11_bn, 32),
    "squeezenet1_1": (partial(tvm.squeezenet1_1, num_classes=10), 64),
    "densenet": (densenet, 32),
    "googlenet": (partial(tvm.googlenet, num_classes=10, aux_logits=False, init_weights=True), 64),
    "mobilenet_v2": (partial(tvm.mobilenet_v2, num_classes=10, width_mult=0.5), 32),
    "mobilenet_v3_small": (partial(tvm.mobilenet_v3_small, num_classes=10), 32),
    "mnasnet0_5": (partial(tvm.mnasnet0_5, num_classes=10), 32),
    "shufflenet_v2_x0_5": (partial(tvm.shufflenet_v2_x0_5, num_classes=10), 32),
    "efficientnet_b0": (partial(tvm.efficientnet_b0, num_classes=10), 32),
    "regnet_y_400mf": (partial(tvm.regnet_y_400mf, num_classes=10), 32),
    "convnext": (convnext, 32),
    "vit": (vit, 32),
    "swin": (swin, 32),
    "alexnet": (alexnet, 224),
    "inception_v3": (partial(tvm.inception_v3, num_classes=10, aux_logits=False,
                             init_weights=True), 80),
}
# the big ones: fewer exports (the ops are the same at every opset)
OPSETS = {"alexnet": [13], "inception_v3": [13]}


def randomize_bn(m, gen):
    """Give BatchNorm layers non-trivial statistics, so that folding them matters."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            mod.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            mod.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    opsets = [11, 13, 17]
    names = list(MODELS)
    list_ops = False
    i = 1
    while i < len(args):
        if args[i] == "--opsets":
            opsets = [int(x) for x in args[i + 1].split(",")]
            i += 2
        elif args[i] == "--models":
            names = args[i + 1].split(",")
            i += 2
        elif args[i] == "--list-ops":
            list_ops = True
            i += 1
        else:
            print("unknown argument " + args[i], file=sys.stderr)
            return 2
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    warnings.filterwarnings("ignore")
    failures = []
    for name in names:
        ctor, hw = MODELS[name]
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        try:
            m = ctor()
        except Exception as e:  # not in this torchvision
            failures.append("%s: construct: %s" % (name, str(e).splitlines()[0][:200]))
            continue
        with torch.no_grad():
            randomize_bn(m, gen)
            # zero-initialised heads (ViT, ...) would make every logit 0
            for mod in m.modules():
                if isinstance(mod, nn.Linear) and not mod.weight.abs().sum():
                    mod.weight.normal_(0, 0.05, generator=gen)
        m.eval()
        x3 = torch.randn(3, 3, hw, hw, generator=gen)
        x1 = x3[:1].clone()
        with torch.no_grad():
            l1 = m(x1).numpy()
            l3 = m(x3).numpy()
        np.save(os.path.join(out, name + ".x1.npy"), x1.numpy())
        np.save(os.path.join(out, name + ".x3.npy"), x3.numpy())
        np.save(os.path.join(out, name + ".logits1.npy"), l1)
        np.save(os.path.join(out, name + ".logits3.npy"), l3)
        for op in [o for o in opsets if o in OPSETS.get(name, opsets)]:
            for dyn in ((False,) if name in OPSETS else (False, True)):
                f = os.path.join(out, "%s.op%d%s.onnx" % (name, op, ".dyn" if dyn else ""))
                kw = {}
                if dyn:
                    kw = dict(input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                try:
                    buf = io.BytesIO()
                    torch.onnx.export(m, x1, buf, opset_version=op, **kw)
                    tmp = f + ".tmp"
                    with open(tmp, "wb") as fh:
                        fh.write(buf.getvalue())
                    os.replace(tmp, f)
                except Exception as e:
                    failures.append("%s opset %d%s: %s" % (name, op, " dyn" if dyn else "",
                                                         str(e).splitlines()[0][:200]))
                    continue
                if list_ops:
                    import onnx
                    g = onnx.load(f).graph
                    ops = sorted({n.op_type for n in g.node})
                    print("%s op%d%s: %s" % (name, op, " dyn" if dyn else "", " ".join(ops)))
    with open(os.path.join(out, "export-failures.txt"), "w") as fh:
        for l in failures:
            fh.write(l + "\n")
    for l in failures:
        print("export failed: " + l, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

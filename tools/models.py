"""Reference model definitions for brownout's fixtures and benchmarks.

These follow the CIFAR-10 models of kuangliu/pytorch-cifar (same layer
layout, same forward passes, same `out.view(out.size(0), -1)` flatten, which
torch.onnx exports as a Shape/Gather/Unsqueeze/Concat/Reshape chain), with
two parameters added to PreActResNet and ResNet:

  F            width of the first stage; the four stages are F, 2F, 4F, 8F
               (kuangliu's models are F=64).
  in_channels  1 for Fashion-MNIST, 3 for CIFAR.

Pooling before the classifier is kuangliu's `F.avg_pool2d(out, 4)`.  For a
32x32 input the last stage is 4x4; for a 28x28 input the strides 1,2,2,2
(3x3 kernels, padding 1) give 28 -> 28 -> 14 -> 7 -> 4, so the last stage is
4x4 as well and the same 4x4 average pool reduces it to 1x1.  `_pool4`
checks that instead of silently producing a wrong-sized feature vector.

Unlike kuangliu's PreActResNet, and like the seed paper's, the network ends
with a batch norm and a ReLU after the last block, before pooling: that final
ReLU is what makes the paper's Table I count 557,056 activations for the CIFAR
PreActResNet18 (spec section 1).

Use only Debian's /usr/bin/python3 (torch 1.13) with these scripts.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def _pool4(out):
    # The last stage must be 4x4 (true for 32x32 and 28x28 inputs).
    if not torch.jit.is_tracing():
        assert out.shape[2] == 4 and out.shape[3] == 4, (
            "final feature map is %dx%d, expected 4x4 (input must be 28x28 "
            "or 32x32)" % (out.shape[2], out.shape[3]))
    return F.avg_pool2d(out, 4)


# --------------------------------------------------------------------------
# Pre-activation ResNet (He et al., "Identity Mappings in Deep Residual
# Networks", arXiv:1603.05027)
# --------------------------------------------------------------------------
class PreActBlock(nn.Module):
    """bn1-relu-conv1, bn2-relu-conv2, plus a shortcut.

    The shortcut is a 1x1 convolution applied to the pre-activated input
    (relu(bn1(x))) when the stride or the channel count changes; otherwise
    it is the raw input x.
    """
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(PreActBlock, self).__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3,
                               stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3,
                               stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1,
                          stride=stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, 'shortcut') else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class PreActResNet(nn.Module):
    def __init__(self, block, num_blocks, F=64, in_channels=3,
                 num_classes=10):
        super(PreActResNet, self).__init__()
        self.in_planes = F
        self.conv1 = nn.Conv2d(in_channels, F, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.layer1 = self._make_layer(block, F, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * F, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * F, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * F, num_blocks[3], stride=2)
        self.bn = nn.BatchNorm2d(8 * F * block.expansion)
        self.linear = nn.Linear(8 * F * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.relu(self.bn(out))
        out = _pool4(out)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def PreActResNet18(F=64, in_channels=3, num_classes=10):
    return PreActResNet(PreActBlock, [2, 2, 2, 2], F=F,
                        in_channels=in_channels, num_classes=num_classes)


# --------------------------------------------------------------------------
# ResNet (He et al., "Deep Residual Learning for Image Recognition")
# --------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3,
                               stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3,
                               stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1,
                          stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, F=64, in_channels=3,
                 num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = F
        self.conv1 = nn.Conv2d(in_channels, F, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(F)
        self.layer1 = self._make_layer(block, F, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * F, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * F, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * F, num_blocks[3], stride=2)
        self.linear = nn.Linear(8 * F * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = _pool4(out)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def ResNet18(F=64, in_channels=3, num_classes=10):
    return ResNet(BasicBlock, [2, 2, 2, 2], F=F, in_channels=in_channels,
                  num_classes=num_classes)


# --------------------------------------------------------------------------
# MobileNetV2 (Sandler et al.), CIFAR variant: stride-1 stem and stride 1 in
# the second block group, 4x4 average pool at the end.
# --------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """expand (1x1) + depthwise (3x3) + project (1x1), linear bottleneck."""

    def __init__(self, in_planes, out_planes, expansion, stride):
        super(InvertedResidual, self).__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, stride=1,
                               padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride,
                               padding=1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, stride=1,
                               padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1,
                          padding=0, bias=False),
                nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + self.shortcut(x) if self.stride == 1 else out
        return out


class MobileNetV2(nn.Module):
    # (expansion, out_planes, num_blocks, stride)
    cfg = [(1, 16, 1, 1),
           (6, 24, 2, 1),   # stride 2 -> 1 for CIFAR
           (6, 32, 3, 2),
           (6, 64, 4, 2),
           (6, 96, 3, 1),
           (6, 160, 3, 2),
           (6, 320, 1, 1)]

    def __init__(self, num_classes=10, in_channels=3, width=1.0):
        super(MobileNetV2, self).__init__()
        # width multiplier: every channel count (stem, blocks, last 1x1
        # conv) is scaled by `width` and rounded, at least 1; width=1.0 is
        # kuangliu's network unchanged
        self.width = width
        c = self._w
        # stem stride 2 -> 1 for CIFAR
        self.conv1 = nn.Conv2d(in_channels, c(32), kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c(32))
        self.layers = self._make_layers(in_planes=c(32))
        self.conv2 = nn.Conv2d(c(320), c(1280), kernel_size=1, stride=1,
                               padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(c(1280))
        self.linear = nn.Linear(c(1280), num_classes)

    def _w(self, channels):
        return max(1, int(round(channels * self.width)))

    def _make_layers(self, in_planes):
        layers = []
        for expansion, out_planes, num_blocks, stride in self.cfg:
            strides = [stride] + [1] * (num_blocks - 1)
            out_planes = self._w(out_planes)
            for s in strides:
                layers.append(InvertedResidual(in_planes, out_planes,
                                               expansion, s))
                in_planes = out_planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = _pool4(out)   # 7 -> 4 for CIFAR
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


# --------------------------------------------------------------------------
# SENet18: pre-activation blocks with squeeze-and-excitation (Hu et al.).
# The SE "fully connected" layers are 1x1 convolutions, as in kuangliu's.
# --------------------------------------------------------------------------
class SEPreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super(SEPreActBlock, self).__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3,
                               stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1,
                               padding=1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride,
                          bias=False))
        # SE layers
        # (at least one hidden channel, for the narrow fixtures; F=64 has
        # 4 to 32, as kuangliu's)
        self.fc1 = nn.Conv2d(planes, max(1, planes // 16), kernel_size=1)
        self.fc2 = nn.Conv2d(max(1, planes // 16), planes, kernel_size=1)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, 'shortcut') else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        # squeeze: global average pool with kernel = spatial size, as in
        # kuangliu's.  int() because under tracing out.size(2) is a tensor;
        # the export bakes it in: an AveragePool with a fixed kernel.
        w = F.avg_pool2d(out, int(out.size(2)))
        w = F.relu(self.fc1(w))
        w = torch.sigmoid(self.fc2(w))
        # excitation
        out = out * w
        out += shortcut
        return out


class SENet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10, in_channels=3,
                 F=64):
        super(SENet, self).__init__()
        self.in_planes = F
        self.conv1 = nn.Conv2d(in_channels, F, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(F)
        self.layer1 = self._make_layer(block, F, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * F, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * F, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * F, num_blocks[3], stride=2)
        self.linear = nn.Linear(8 * F, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = _pool4(out)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def SENet18(num_classes=10, in_channels=3, F=64):
    return SENet(SEPreActBlock, [2, 2, 2, 2], num_classes=num_classes,
                 in_channels=in_channels, F=F)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == '__main__':
    for name, net, shape in [
            ('PreActResNet18', PreActResNet18(), (2, 3, 32, 32)),
            ('PreActResNet18 F=8 1ch', PreActResNet18(8, 1), (2, 1, 28, 28)),
            ('ResNet18', ResNet18(), (2, 3, 32, 32)),
            ('MobileNetV2', MobileNetV2(), (2, 3, 32, 32)),
            ('SENet18', SENet18(), (2, 3, 32, 32))]:
        y = net(torch.randn(*shape))
        print('%-24s params %9d  out %s' % (name, count_params(net),
                                            tuple(y.shape)))

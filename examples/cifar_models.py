"""Small CIFAR classifiers for `gradsign rank` (``examples/cifar_models.py:NAME``).

Eight architectures of different families and sizes, written here so the ranking
can be run without timm or torchvision. They follow the published layouts at
CIFAR scale (32x32 inputs):

* ``resnet20``, ``resnet56``: He et al. 2016, the CIFAR ResNets (3 stages of 16/32/64
  channels, n = 3 / 9 basic blocks per stage).
* ``wrn16_4``: Zagoruyko & Komodakis 2016, wide ResNet depth 16, widen factor 4.
* ``vgg11_bn``, ``vgg16_bn``: Simonyan & Zisserman 2015 configurations A / D with
  BatchNorm and the usual one-Linear CIFAR head.
* ``mobilenetv2``: Sandler et al. 2018, width 1.0, strides adapted to 32x32
  (as in kuangliu/pytorch-cifar).
* ``simple_cnn``: three conv layers and a Linear: a weak baseline.
* ``imagenet_head_cnn``: deliberately built with a 1000-class head and no
  ``num_classes`` parameter, to show the head replacement note of `gradsign rank`.
"""

from __future__ import annotations

from torch import nn


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class _ResNet(nn.Module):
    def __init__(self, blocks: int, widths: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(_BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


def resnet20(num_classes: int = 10) -> nn.Module:
    """CIFAR ResNet-20 (0.27 M parameters at 10 classes)."""
    return _ResNet(3, (16, 32, 64), num_classes)


def resnet56(num_classes: int = 10) -> nn.Module:
    """CIFAR ResNet-56 (0.85 M parameters at 10 classes)."""
    return _ResNet(9, (16, 32, 64), num_classes)


def wrn16_4(num_classes: int = 10) -> nn.Module:
    """Wide ResNet 16-4 (post-activation blocks here, for brevity)."""
    return _ResNet(2, (64, 128, 256), num_classes)


_VGG = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg(cfg: str, num_classes: int) -> nn.Module:
    layers, cin = [], 3
    for v in _VGG[cfg]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, num_classes))


def vgg11_bn(num_classes: int = 10) -> nn.Module:
    """VGG-11 (config A) with BatchNorm, one Linear head."""
    return _vgg("A", num_classes)


def vgg16_bn(num_classes: int = 10) -> nn.Module:
    """VGG-16 (config D) with BatchNorm, one Linear head."""
    return _vgg("D", num_classes)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_res else out


def mobilenetv2(num_classes: int = 10) -> nn.Module:
    """MobileNetV2 1.0 with CIFAR strides (stem stride 1, second stage stride 1)."""
    # (expansion, out channels, repeats, first stride)
    settings = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    cin = 32
    for t, c, n, s in settings:
        for i in range(n):
            layers.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, num_classes)]
    return nn.Sequential(*layers)


def simple_cnn(num_classes: int = 10) -> nn.Module:
    """Three 3x3 convs (32/64/128 channels) with pooling, and a Linear."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(128, num_classes),
    )


def imagenet_head_cnn() -> nn.Module:
    """A small CNN with a fixed 1000-class head and no num_classes parameter (see the module docstring)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 1000),
    )

"""The NAS-Bench-201 network (the benchmark's ``TinyNetwork`` with ``InferCell`` cells).

Macro skeleton, for ``C`` channels and ``N`` cells per stage (NB201: 16 and 5)::

    stem:  Conv3x3(3 -> C, pad 1, no bias) + BN
    stage 1: N cells at C channels                          (H x W)
    ResNet basic block C -> 2C, stride 2                    (H/2)
    stage 2: N cells at 2C
    ResNet basic block 2C -> 4C, stride 2                   (H/4)
    stage 3: N cells at 4C
    BN + ReLU, global average pooling, Linear(4C -> num_classes)

A cell computes ``node_j = sum_{i<j} op_ij(node_i)`` for ``j = 1, 2, 3`` from
``node_0 = input`` and outputs ``node_3``. Ops: ``none`` multiplies by 0,
``skip_connect`` is the identity, ``nor_conv_kxk`` is ReLU -> Conv(k, pad k//2,
no bias) -> BN(affine, running stats), ``avg_pool_3x3`` is a 3x3 average pool
(stride 1, pad 1, padding excluded from the average; :class:`FastAvgPool2d`, whose
no-grad CPU forward is faster and gives the same bits). The reduction block is
``ReLUConvBN 3x3 s2 -> ReLUConvBN 3x3 s1`` plus a shortcut ``AvgPool 2x2 s2 ->
Conv1x1 (no bias)``. The network is fully convolutional up to the pooling, so
32x32 (CIFAR) and 16x16 (ImageNet16-120) inputs both work.

Fidelity to the official implementation, and why it matters here:

* Modules are created in the same order as the official code and use PyTorch's
  default initialisation (as it does), so under the same ``torch.manual_seed`` the
  initial weights are the same; zero-cost proxies are computed at initialisation.
* Attribute names give the official ``state_dict`` keys (``stem.0.weight``,
  ``cells.3.layers.2.op.1.weight``, ``cells.5.conv_a.op.1.weight``, ...), so
  official checkpoints load with ``load_state_dict``.
* Difference: the official ``forward`` returns ``(features, logits)``;
  :meth:`NB201Network.forward` returns only the logits tensor (what every proxy
  and loss wants). :meth:`NB201Network.forward_with_features` returns the pair.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Arch, as_nb201_arch
from gradsign.spaces.pooling import FastAvgPool2d

# Op indices by name, so the code below does not depend on the order of NB201_OPS.
_NONE = NB201_OPS.index("none")
_SKIP = NB201_OPS.index("skip_connect")
_CONV1 = NB201_OPS.index("nor_conv_1x1")
_CONV3 = NB201_OPS.index("nor_conv_3x3")
_POOL = NB201_OPS.index("avg_pool_3x3")


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the NB201 convolution unit."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        # Not in-place: the input is a cell node that other edges also read.
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: a zero tensor shaped like the input.

    ``x.mul(0.)`` rather than ``torch.zeros_like`` keeps the output connected to
    the graph (and propagates NaN/inf) exactly as the official op does.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Pool3x3(nn.Module):
    """The ``avg_pool_3x3`` op (stride 1, padding 1, padding excluded from averages)."""

    def __init__(self) -> None:
        super().__init__()
        self.op = FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def make_op(op: int, channels: int) -> nn.Module:
    """The module for op index ``op`` on a ``channels``-wide, stride-1 cell edge.

    Inside NB201 cells every edge keeps channels and resolution (reductions happen
    in the ResNet blocks), so only that case exists here.
    """
    if op == _NONE:
        return Zero()
    if op == _SKIP:
        return nn.Identity()
    if op == _CONV1:
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if op == _CONV3:
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if op == _POOL:
        return Pool3x3()
    raise ConfigError(f"unknown NB201 op index {op!r}")  # unreachable for a valid NB201Arch


class NB201Cell(nn.Module):
    """One cell: 4 nodes, ``node_j = sum_{i<j} op_ij(node_i)``, output ``node_3``."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.arch = arch
        # One module per edge in arch-string order (which is also the official
        # construction order and the official ``layers`` numbering).
        self.layers = nn.ModuleList(make_op(op, channels) for op in arch.ops)
        # For each target node 1..3, the (layer position, source node) pairs feeding it.
        self._incoming: tuple[tuple[tuple[int, int], ...], ...] = tuple(
            tuple((k, src) for k, (dst, src) in enumerate(NB201_EDGES) if dst == j) for j in (1, 2, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for incoming in self._incoming:
            # Summed in source-node order, as the official cell does, so the
            # floating-point result is identical.
            total = None
            for k, src in incoming:
                y = self.layers[k](nodes[src])
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]

    def extra_repr(self) -> str:
        return f"arch={self.arch.to_string()}"


class ResNetReduction(nn.Module):
    """ResNet basic block between stages: doubles channels, halves resolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 network for one cell; ``forward(x)`` returns logits ``(B, num_classes)``.

    Build it with :func:`build_nb201_network`.
    """

    def __init__(self, arch: NB201Arch, num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.C = C
        self.N = N
        self.stem = nn.Sequential(
            nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        cells: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage > 0:
                cells.append(ResNetReduction(channels, channels * 2))
                channels *= 2
            cells.extend(NB201Cell(arch, channels) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.feature_dim = channels

    def forward_before_global_avg_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, 4C, H/4, W/4)`` feature map the global pooling averages (what Zen-score reads)."""
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out)
        return self.lastact(out)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``(B, 4C)`` feature vector the classifier reads."""
        return self.global_pooling(self.forward_before_global_avg_pool(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` (the official network returns ``(features, logits)``)."""
        return self.classifier(self.forward_features(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)``, the official network's return value."""
        feats = self.forward_features(x)
        return feats, self.classifier(feats)

    def extra_repr(self) -> str:
        return f"arch={self.arch.to_string()}, num_classes={self.num_classes}, C={self.C}, N={self.N}"


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"NB201 network option {name} must be a positive int, got {value!r}")
    return value


def build_nb201_network(
    arch: NB201Arch | str, num_classes: int = 10, *, C: int = 16, N: int = 5
) -> NB201Network:
    """A freshly initialised NB201 network for ``arch`` (an :class:`NB201Arch` or arch string).

    ``num_classes``: 10 (CIFAR-10), 100 (CIFAR-100) or 120 (ImageNet16-120), or any
    positive int. ``C`` (stem channels) and ``N`` (cells per stage) default to the
    benchmark's 16 and 5. Weights use PyTorch's default init; seed torch first for
    reproducible weights. The module is returned in training mode on the CPU.
    """
    a = as_nb201_arch(arch)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("C", C)
    _check_positive_int("N", N)
    return NB201Network(a, num_classes=num_classes, C=C, N=N)


def count_nb201_params(arch: NB201Arch | str, num_classes: int = 10, *, C: int = 16, N: int = 5) -> int:
    """Number of parameters of ``build_nb201_network(arch, num_classes, C=C, N=N)``, without building it.

    Counts every ``nn.Parameter`` (convolution weights, BN affine weight and bias,
    classifier), not BN running statistics, like NAS-Bench-201's
    ``count_parameters_in_MB`` (which reports this number / 1e6).
    """
    return _count_nb201(arch, num_classes, C, N, weights_only=False)


def count_nb201_prunable_weights(arch: NB201Arch | str, num_classes: int = 10, *, C: int = 16, N: int = 5) -> int:
    """Number of ``Conv2d``/``Linear`` weights (``.weight`` only) of the NB201 network, without building it.

    These are the weights the gradient-based proxies score (``prunable_layers``);
    it is the denominator of ``gradsign_mean = gradsign / n_weights`` (when no
    per-sample gradient is NaN). Biases and BatchNorm parameters are excluded.
    """
    return _count_nb201(arch, num_classes, C, N, weights_only=True)


def _count_nb201(arch: NB201Arch | str, num_classes: int, C: int, N: int, *, weights_only: bool) -> int:
    a = as_nb201_arch(arch)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("C", C)
    _check_positive_int("N", N)
    bn = 0 if weights_only else 2  # a BatchNorm's affine weight and bias, per channel

    def relu_conv_bn(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + bn * c_out  # conv (no bias) + BN

    def cell(c: int) -> int:
        per_op = {_CONV1: relu_conv_bn(c, c, 1), _CONV3: relu_conv_bn(c, c, 3)}
        return sum(per_op.get(op, 0) for op in a.ops)  # none/skip/pool have no parameters

    def reduction(c_in: int, c_out: int) -> int:
        return relu_conv_bn(c_in, c_out, 3) + relu_conv_bn(c_out, c_out, 3) + c_in * c_out

    total = 3 * C * 9 + bn * C  # stem conv + BN
    total += N * cell(C) + reduction(C, 2 * C)
    total += N * cell(2 * C) + reduction(2 * C, 4 * C)
    total += N * cell(4 * C)
    total += bn * 4 * C  # lastact BN
    total += 4 * C * num_classes + (0 if weights_only else num_classes)  # classifier weight (+ bias)
    return total


def param_count(module: nn.Module) -> int:
    """Total number of elements of ``module``'s parameters."""
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "NB201Cell",
    "NB201Network",
    "ReLUConvBN",
    "ResNetReduction",
    "Zero",
    "build_nb201_network",
    "count_nb201_params",
    "count_nb201_prunable_weights",
    "make_op",
    "param_count",
]

"""The NAS-Bench-101 network (the benchmark's TF ``model_builder``, in PyTorch).

Macro skeleton (benchmark defaults: ``stem_channels = 128``, 3 stacks of 3 cells)::

    stem: Conv3x3(3 -> 128, no bias) + BN + ReLU
    stack 1: 3 cells, 128 channels                      (H x W)
    MaxPool 2x2 stride 2, channels doubled              (H/2)
    stack 2: 3 cells, 256 channels
    MaxPool 2x2 stride 2, channels doubled              (H/4)
    stack 3: 3 cells, 512 channels
    global average pool, Linear(512 -> num_classes)

Inside a cell with ``C_in`` input and ``C_out`` output channels
(:func:`compute_vertex_channels`): the output channels are split evenly over
the vertices feeding the output (the first ones get one extra channel when the
split is uneven), and any other vertex gets the largest channel count among the
vertices it feeds. Vertex ``t`` sums its inputs: outputs of earlier vertices,
truncated to its channel count (at most one channel is ever cut), plus a 1x1
ConvBNReLU *projection* of the cell input when the input feeds it; it then
applies its op at constant width (``conv3x3-bn-relu``, ``conv1x1-bn-relu``,
or ``maxpool3x3`` = 3x3 max pool, stride 1, padding 1). The cell output is the
channel concatenation of the vertices feeding the output, plus a projection of
the cell input to ``C_out`` if the input feeds the output directly (the
projection alone when nothing else does).

Fidelity to the official implementation:

* Same parameters, channel arithmetic and dataflow as the TF code, so the
  parameter count equals the benchmark's ``trainable_parameters`` (conv weights,
  BN scale and offset, dense kernel and bias; there are no conv biases).
* BN: the TF decay 0.997 is PyTorch ``momentum = 0.003``; ``eps = 1e-5``.
* The 2x2 down-sampling max pool uses ``ceil_mode=True``, TF's ``padding='same'``
  (identical for even sizes such as 32 and 16).
* Initialisation, by default, is that of the PyTorch port (``nasbench_pytorch``)
  that NASLib and the zero-cost proxy papers used: conv ``N(0, sqrt(2 / (k*k*C_out)))``,
  BN weight 1 / bias 0, linear ``N(0, 0.01)`` with zero bias. The TF benchmark used
  variance scaling (fan-in) instead; ``init="torch"`` keeps PyTorch's defaults.
* ``forward`` returns logits only (the TF model also exposes auxiliary activations).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.spaces.nb101 import NB101Arch, as_nb101_arch

BN_MOMENTUM = 1.0 - 0.997  # TF decay -> PyTorch momentum
BN_EPS = 1e-5
INITS = ("nasbench_pytorch", "torch")


class ConvBNReLU(nn.Module):
    """Conv (no bias, 'same' padding) -> BatchNorm -> ReLU, the benchmark's ``conv_bn_relu``."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=1, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=False)  # not in place: callers may keep the input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def compute_vertex_channels(c_in: int, c_out: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Output channels of every vertex of a pruned cell (the benchmark's rule).

    Vertex 0 has ``c_in``, the output ``c_out``; the vertices feeding the
    output share ``c_out`` (``c_out // k`` each, the first ``c_out % k`` of them
    one more); every other interior vertex takes the maximum over the interior
    vertices it feeds, computed from the back.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0] = c_in
    channels[n - 1] = c_out
    if n == 2:
        return channels
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    base, extra = divmod(c_out, len(feeders))
    for k, v in enumerate(feeders):
        channels[v] = base + (1 if k < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max((channels[d] for d in range(v + 1, n - 1) if matrix[v][d]), default=0)
    # A pruned cell has no dead vertices, so every interior vertex got a width.
    assert all(c > 0 for c in channels), channels
    return channels


class NB101Cell(nn.Module):
    """One cell ("module") of the network for a pruned spec."""

    def __init__(self, arch: NB101Arch, c_in: int, c_out: int) -> None:
        super().__init__()
        self.arch = arch
        m = arch.matrix
        n = arch.num_vertices
        self.num_vertices = n
        self.vertex_channels = compute_vertex_channels(c_in, c_out, m)
        ch = self.vertex_channels
        # Vertex ops and input projections, keyed by vertex number. Created in
        # vertex order, projection before op, as the TF graph builds them.
        self.projections = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for t in range(1, n):
            if m[0][t]:
                self.projections[str(t)] = ConvBNReLU(c_in, ch[t], 1)
            if t < n - 1:
                op = arch.ops[t]
                if op == "conv3x3-bn-relu":
                    self.ops[str(t)] = ConvBNReLU(ch[t], ch[t], 3)
                elif op == "conv1x1-bn-relu":
                    self.ops[str(t)] = ConvBNReLU(ch[t], ch[t], 1)
                else:  # maxpool3x3; keeps the channel count of its (summed) input
                    self.ops[str(t)] = nn.MaxPool2d(3, stride=1, padding=1)
        self._sources = tuple(tuple(s for s in range(1, t) if m[s][t]) for t in range(n))
        self._to_output = tuple(t for t in range(1, n - 1) if m[t][n - 1])
        self._input_to_output = bool(m[0][n - 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_vertices
        ch = self.vertex_channels
        tensors = [x]
        for t in range(1, n - 1):
            # Interior inputs (truncated to this vertex's width), then the projected cell input.
            parts = [tensors[s][:, : ch[t]] if tensors[s].shape[1] > ch[t] else tensors[s] for s in self._sources[t]]
            if str(t) in self.projections:
                parts.append(self.projections[str(t)](x))
            total = parts[0]
            for p in parts[1:]:
                total = total + p
            tensors.append(self.ops[str(t)](total))
        if not self._to_output:
            return self.projections[str(n - 1)](x)
        out = torch.cat([tensors[t] for t in self._to_output], dim=1) if len(self._to_output) > 1 else tensors[
            self._to_output[0]
        ]
        if self._input_to_output:
            out = out + self.projections[str(n - 1)](x)
        return out

    def extra_repr(self) -> str:
        return f"arch={self.arch.to_string()}, vertex_channels={self.vertex_channels}"


class NB101Network(nn.Module):
    """The NAS-Bench-101 network for one cell; ``forward(x)`` returns logits ``(B, num_classes)``.

    Build it with :func:`build_nb101_network`.
    """

    def __init__(
        self,
        arch: NB101Arch,
        num_classes: int = 10,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.stem = ConvBNReLU(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = c_out = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c_out *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(arch, c_in, c_out))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.feature_dim = c_out
        self.classifier = nn.Linear(c_out, num_classes)

    def forward_before_global_avg_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map the global average pooling averages (what Zen-score reads)."""
        return self.layers(self.stem(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled ``(B, feature_dim)`` vector the classifier reads."""
        return self.forward_before_global_avg_pool(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch.to_string()}, num_classes={self.num_classes}"


def init_nasbench_pytorch(module: nn.Module) -> None:
    """The initialisation of the ``nasbench_pytorch`` port (used by NASLib's NB101 scores)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"NB101 network option {name} must be a positive int, got {value!r}")
    return value


def build_nb101_network(
    arch: NB101Arch | str,
    num_classes: int = 10,
    *,
    stem_channels: int = 128,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
    init: str = "nasbench_pytorch",
) -> NB101Network:
    """A freshly initialised NB101 network for ``arch`` (an :class:`NB101Arch` or its string).

    Defaults are the benchmark's (128 stem channels, 3 stacks of 3 cells).
    ``init``: ``"nasbench_pytorch"`` (default, see the module docstring) or
    ``"torch"`` (PyTorch's module defaults). Seed torch first for reproducible
    weights. Returned in training mode on the CPU.
    """
    a = as_nb101_arch(arch)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("stem_channels", stem_channels)
    _check_positive_int("num_stacks", num_stacks)
    _check_positive_int("cells_per_stack", cells_per_stack)
    if init not in INITS:
        raise ConfigError(f"NB101 network option init must be one of {', '.join(INITS)}, got {init!r}")
    feeders = sum(row[-1] for row in a.matrix[1:-1])
    if stem_channels < feeders:
        # The output channels are split over the vertices feeding the output.
        raise ConfigError(
            f"NB101 network option stem_channels={stem_channels} is too small for this cell: "
            f"{feeders} vertices share the cell output channels"
        )
    net = NB101Network(a, num_classes, stem_channels, num_stacks, cells_per_stack)
    if init == "nasbench_pytorch":
        init_nasbench_pytorch(net)
    return net


def count_nb101_params(
    arch: NB101Arch | str,
    num_classes: int = 10,
    *,
    stem_channels: int = 128,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
) -> int:
    """Parameters of :func:`build_nb101_network` with these options, computed without building it.

    Equals the benchmark's ``trainable_parameters`` for the default options.
    """
    a = as_nb101_arch(arch)
    for name, value in (("num_classes", num_classes), ("stem_channels", stem_channels),
                        ("num_stacks", num_stacks), ("cells_per_stack", cells_per_stack)):
        _check_positive_int(name, value)
    m, n = a.matrix, a.num_vertices

    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + 2 * c_out

    def cell(c_in: int, c_out: int) -> int:
        ch = compute_vertex_channels(c_in, c_out, m)
        total = sum(conv_bn(c_in, ch[t], 1) for t in range(1, n) if m[0][t])
        kernels = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}
        total += sum(conv_bn(ch[t], ch[t], kernels[a.ops[t]]) for t in range(1, n - 1) if a.ops[t] in kernels)
        return total

    total = conv_bn(3, stem_channels, 3)
    c_in = c_out = stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            c_out *= 2
        for _ in range(cells_per_stack):
            total += cell(c_in, c_out)
            c_in = c_out
    return total + c_out * num_classes + num_classes


__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "ConvBNReLU",
    "NB101Cell",
    "NB101Network",
    "build_nb101_network",
    "compute_vertex_channels",
    "count_nb101_params",
    "init_nasbench_pytorch",
]

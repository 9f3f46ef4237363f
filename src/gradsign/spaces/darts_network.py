"""The DARTS evaluation network for CIFAR (DARTS's ``NetworkCIFAR``), as NAS-Bench-301 trained it.

Macro skeleton for ``C`` initial channels and ``layers`` cells (NAS-Bench-301:
``C = 32``, ``layers = 8``, with an auxiliary head and drop path 0.2 during training)::

    stem: Conv3x3(3 -> 3C, no bias) + BN
    cells 0..layers-1; cells layers//3 and 2*layers//3 are reduction cells
    (stride 2 on the edges from nodes 0 and 1, channels doubled)
    global average pool, Linear(4 * C_last -> num_classes)

Each cell preprocesses its two inputs (the outputs of the two previous cells;
the stem output for the first cell) to its width ``C_cell``: ``ReLU -> Conv1x1
-> BN``, or ``FactorizedReduce`` for the older input when the previous cell
reduced. Node ``k + 2`` sums its two ops; the output concatenates nodes 2..5
(``4 * C_cell`` channels).

Ops (all keep ``C_cell`` channels, stride 2 where a reduction cell reads nodes 0/1):

* ``sep_conv_kxk``: ``ReLU, depthwise kxk (stride), pointwise 1x1, BN, ReLU,
  depthwise kxk, pointwise 1x1, BN``;
* ``dil_conv_kxk``: ``ReLU, depthwise kxk dilation 2 (stride), pointwise 1x1, BN``;
* ``max_pool_3x3`` / ``avg_pool_3x3`` (padding 1; the average excludes padding; the average
  pool is :class:`~gradsign.spaces.pooling.FastAvgPool2d`, same bits as ``nn.AvgPool2d``)
  with **no** BN after them, as in the evaluation network (the search network adds one);
* ``skip_connect``: identity, or ``FactorizedReduce`` (ReLU, two 1x1 stride-2
  convs on the input and on the input shifted by one pixel, concat, BN) at stride 2;
* ``none`` (the full DARTS space; not in NAS-Bench-301): DARTS's ``Zero`` op,
  ``x * 0`` — at stride 2 (a reduction cell's edge from node 0 or 1) of
  ``x[:, :, ::2, ::2]``, so its output has the halved size of the cell's other
  edges. No parameters, no FLOPs; gradients through it are zero. A node whose
  two edges are both ``none`` outputs zeros of the node's shape, and DARTS's
  drop path (applied to every op but the identity) leaves them zero.

BN layers are affine (``affine=True`` everywhere, as in ``NetworkCIFAR``).
``cell_affine=False`` drops the affine parameters of the BNs *inside cell ops*
(preprocessing, stem and auxiliary head keep theirs), as NASLib's NAS-Bench-301
model does: with ``C = 32, layers = 8`` its parameter count equals the ``params``
of NASLib's ``zc_nasbench301.json`` for all 725 archs (checked by
``scripts/check_params_nb101_darts.py``). ``pool_bn=True`` adds a
``BatchNorm2d(C_cell, affine=False)`` after every max/avg pool op, as NASLib's
NAS-Bench-301 graph also does (its pooling primitives are built with
``use_bn=True``, like DARTS's search network): parameter-free, so no parameter
count sees it, but in training mode it rescales the pool outputs.
``cell_affine=False, pool_bn=True`` is NASLib's network; the default is DARTS's
(``scripts/darts_naslib_variants.py`` measures what each difference does to
the proxies).

Module names follow DARTS's ``model.py`` / ``operations.py`` (``stem``,
``cells.i.preprocess0``, ``cells.i._ops.k.op.1``, ``auxiliary_head``,
``classifier``, ...), so ``state_dict`` keys line up with DARTS checkpoints, and
modules are created in DARTS's order, so weights drawn under one torch seed match.
Differences from DARTS's code: ``forward`` returns the logits tensor only (DARTS
returns ``(logits, logits_aux)``) and does not run the auxiliary head;
:meth:`DartsNetwork.forward_with_aux` returns both, the auxiliary logits (head
built only with ``auxiliary=True``) in training mode only, as DARTS does.
Weights use PyTorch's default initialisation, as DARTS does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.spaces.darts import DARTS_CONCAT, DARTS_NUM_NODES, DartsArch, as_darts_arch
from gradsign.spaces.pooling import FastAvgPool2d


class ReLUConvBN(nn.Module):
    """ReLU -> Conv (no bias) -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> depthwise dilated conv -> pointwise conv -> BN."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool = True
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise conv, pointwise conv, BN) blocks; only the first one strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 stride-2 convs, one on the input shifted by one."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ConfigError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """DARTS's ``none`` op: zeros of the output shape (every ``stride``-th pixel of the input, times 0)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


def make_op(name: str, c: int, stride: int, affine: bool = True, pool_bn: bool = False) -> nn.Module:
    """The module for op ``name`` on a ``c``-channel edge with this stride (``pool_bn``: see the module docstring)."""
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if name == "max_pool_3x3"
                else FastAvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if pool_bn else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1, affine=affine)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2, affine=affine)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2, affine=affine)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2, affine=affine)
    raise ConfigError(f"unknown DARTS op {name!r}")  # unreachable for a valid DartsArch


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (DARTS's drop path)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """One normal or reduction cell of the evaluation network."""

    def __init__(
        self,
        arch: DartsArch,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        cell_affine: bool = True,
        pool_bn: bool = False,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        # Preprocessing BNs are affine even in NASLib's model (they sit on the macro graph).
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        pairs = arch.reduce if reduction else arch.normal
        self._inputs = tuple(src for _, src in pairs)
        self._ops = nn.ModuleList(
            make_op(op, c, 2 if reduction and src < 2 else 1, affine=cell_affine, pool_bn=pool_bn) for op, src in pairs
        )
        self.multiplier = len(DARTS_CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(DARTS_NUM_NODES):
            hs = []
            for p in (2 * k, 2 * k + 1):
                op = self._ops[p]
                h = op(states[self._inputs[p]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat([states[i] for i in DARTS_CONCAT], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier, applied to the 8x8 output of cell ``2 * layers // 3``."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """DARTS's ``NetworkCIFAR`` for one arch; ``forward(x)`` returns logits. Build with :func:`build_darts_network`."""

    def __init__(
        self,
        arch: DartsArch,
        num_classes: int = 10,
        C: int = 32,
        layers: int = 8,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
        cell_affine: bool = True,
        pool_bn: bool = False,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.C = C
        self.num_layers = layers
        self.drop_path_prob = drop_path_prob
        self._aux_position = 2 * layers // 3
        stem_multiplier = 3
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        cells = []
        reduction_prev = False
        c_aux = c_prev
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = DartsCell(arch, c_prev_prev, c_prev, c_curr, reduction, reduction_prev, cell_affine, pool_bn)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self._aux_position:
                c_aux = c_prev
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.feature_dim = c_prev

    def _cells(self, x: torch.Tensor, want_aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if want_aux and i == self._aux_position and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return s1, aux

    def _run(self, x: torch.Tensor, want_aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        feature_map, aux = self._cells(x, want_aux)
        return self.global_pooling(feature_map).flatten(1), aux

    def forward_before_global_avg_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The last cell's output, the feature map the global pooling averages (what Zen-score reads)."""
        return self._cells(x, False)[0]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``(B, feature_dim)`` vector the classifier reads."""
        return self._run(x, False)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The auxiliary head is not run here: nothing would read its output.
        return self.classifier(self._run(x, False)[0])

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, auxiliary logits)`` as DARTS returns them (the latter None outside training or without a head)."""
        feats, aux = self._run(x, True)
        return self.classifier(feats), aux

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, C={self.C}, layers={self.num_layers}, "
            f"drop_path_prob={self.drop_path_prob}"
        )


def _check_options(num_classes: Any, C: Any, layers: Any, drop_path_prob: Any) -> None:
    for name, value in (("num_classes", num_classes), ("C", C), ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"DARTS network option {name} must be a positive int, got {value!r}")
    if layers < 3:
        raise ConfigError(f"DARTS network option layers must be at least 3 (two reduction cells and a normal one), got {layers}")
    if isinstance(drop_path_prob, bool) or not isinstance(drop_path_prob, (int, float)) or not 0.0 <= drop_path_prob < 1.0:
        raise ConfigError(f"DARTS network option drop_path_prob must be a number in [0, 1), got {drop_path_prob!r}")


def build_darts_network(
    arch: DartsArch | str,
    num_classes: int = 10,
    *,
    C: int = 32,
    layers: int = 8,
    auxiliary: bool = False,
    drop_path_prob: float = 0.0,
    cell_affine: bool = True,
    pool_bn: bool = False,
) -> DartsNetwork:
    """A freshly initialised DARTS evaluation network for ``arch`` (a :class:`DartsArch` or string).

    ``C = 32`` and ``layers = 8`` are NAS-Bench-301's training configuration.
    ``auxiliary`` (off by default: proxies score the main classifier) adds
    DARTS's auxiliary head; ``drop_path_prob`` (0 by default; NB301 trained
    with 0.2) is applied in training mode only. ``cell_affine=False`` and
    ``pool_bn=True`` (NASLib's variant): see the module docstring. Weights use
    PyTorch's default init; seed torch first for reproducible weights. Returned
    in training mode on the CPU.
    """
    a = as_darts_arch(arch)
    _check_options(num_classes, C, layers, drop_path_prob)
    return DartsNetwork(a, num_classes, C, layers, bool(auxiliary), float(drop_path_prob), bool(cell_affine),
                        bool(pool_bn))


def count_darts_params(
    arch: DartsArch | str,
    num_classes: int = 10,
    *,
    C: int = 32,
    layers: int = 8,
    auxiliary: bool = False,
    cell_affine: bool = True,
) -> int:
    """Parameters of :func:`build_darts_network` with these options, computed without building it.

    With ``auxiliary=False`` this is the number DARTS's ``count_parameters_in_MB``
    reports (times 1e6): that function skips the auxiliary head.
    """
    a = as_darts_arch(arch)
    _check_options(num_classes, C, layers, 0.0)
    bn_ops = 2 if cell_affine else 0  # BN weight + bias per channel inside cell ops

    def op_params(name: str, c: int, stride: int) -> int:
        if name == "skip_connect":
            return 0 if stride == 1 else c * c + bn_ops * c  # two c x c/2 1x1 convs + BN
        if name.startswith("sep_conv_"):
            k = int(name[-1])
            return 2 * (c * k * k + c * c + bn_ops * c)
        if name.startswith("dil_conv_"):
            k = int(name[-1])
            return c * k * k + c * c + bn_ops * c
        return 0  # pooling and 'none' (DARTS's Zero op)

    total = 3 * 3 * C * 9 + 2 * 3 * C  # stem conv + BN
    c_prev_prev, c_prev, c_curr = 3 * C, 3 * C, C
    c_aux = c_prev
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_curr *= 2
        # preprocess0 (a FactorizedReduce after a reduction cell has the same count) and preprocess1
        total += c_prev_prev * c_curr + 2 * c_curr
        total += c_prev * c_curr + 2 * c_curr
        pairs = a.reduce if reduction else a.normal
        total += sum(op_params(op, c_curr, 2 if reduction and src < 2 else 1) for op, src in pairs)
        c_prev_prev, c_prev = c_prev, len(DARTS_CONCAT) * c_curr
        if i == 2 * layers // 3:
            c_aux = c_prev
    total += c_prev * num_classes + num_classes
    if auxiliary:
        total += c_aux * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * num_classes + num_classes
    return total


def param_count(module: nn.Module) -> int:
    """Total number of elements of ``module``'s parameters."""
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "AuxiliaryHeadCIFAR",
    "DartsCell",
    "DartsNetwork",
    "DilConv",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "build_darts_network",
    "count_darts_params",
    "drop_path",
    "make_op",
    "param_count",
]

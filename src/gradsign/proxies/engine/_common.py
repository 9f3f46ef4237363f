"""Pieces both gradsign engines share: which layers are scored, how the private
copy of the network is prepared, the per-sample loss, and the reduction state.

Definition (Zhang & Jia, ICLR 2022; authors' code ``get_grad_conflict``): for a
minibatch of N samples, g_ik is the gradient of sample i's loss (the loss of a
batch of one) w.r.t. weight k of every ``nn.Conv2d`` / ``nn.Linear`` layer
(``.weight`` only: no biases, no BatchNorm parameters), with the network at
initialisation in training mode (BatchNorm normalises each sample with its own
statistics). ``score = sum_k |sum_i sign(g_ik)|`` with ``sign(0) = 0``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from gradsign.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Layer types whose ``.weight`` is scored (``isinstance``, as in the authors' code).
SCORED_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


def scored_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` for every Conv2d / Linear in ``model.named_modules()`` order.

    ``named_modules`` visits each module once, so a module reused in forward is
    scored once (its gradient is the sum over its uses, as autograd gives it).
    """
    return [(name or "<root>", m) for name, m in model.named_modules() if isinstance(m, SCORED_TYPES)]


def weight_of(module: nn.Module) -> torch.Tensor | None:
    """The layer's weight Parameter, or None when ``weight`` is not a registered Parameter
    (parametrized / weight-normed layers compute it in forward; like the authors'
    code, such a layer gets no ``.weight.grad`` and contributes zeros)."""
    w = module._parameters.get("weight")
    return w if isinstance(w, torch.Tensor) else None


#: Stochastic-depth / drop-block modules of the model libraries ``gradsign rank`` builds
#: (``(top-level package, class name)``; matched on the class and its bases, so no
#: import of torchvision or timm is needed). Switched off like Dropout: see private_copy.
STOCHASTIC_REGULARISERS: frozenset[tuple[str, str]] = frozenset({
    ("torchvision", "StochasticDepth"), ("torchvision", "DropBlock2d"), ("torchvision", "DropBlock3d"),
    ("timm", "DropPath"), ("timm", "DropBlock2d"),
})


def is_stochastic_regulariser(m: nn.Module) -> bool:
    """Dropout, or a known stochastic-depth / drop-block module (a random mask per call in train mode)."""
    if isinstance(m, _DropoutNd):
        return True
    return any((c.__module__.split(".")[0], c.__name__) in STOCHASTIC_REGULARISERS for c in type(m).__mro__)


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy in the scoring mode: train mode everywhere, Dropout and stochastic depth off.

    Dropout (and torchvision's ``StochasticDepth`` / timm's ``DropPath``, dropout
    of whole residual branches) is switched off (eval) on purpose: in train mode
    it draws a random mask per call, which makes the score a random variable that
    depends on how the batch is split into forward passes, and no two engines
    could agree on it. The authors' code leaves it on (their NB201 / NDS networks
    have none). See docs/gradsign.md.
    """
    net = copy.deepcopy(model)
    net.train()
    for m in net.modules():
        if is_stochastic_regulariser(m):
            m.eval()
    for p in net.parameters():
        p.grad = None
    return net


def check_batchnorm_input(name: str, module: nn.Module, x: torch.Tensor) -> None:
    """Refuse a BatchNorm that would see one value per channel for a batch of one.

    PyTorch raises for such input in train mode (e.g. BatchNorm1d on ``(1, C)``,
    BatchNorm2d on ``(1, C, 1, 1)``); the batch-of-1 statistics are undefined, so
    the score is undefined. Both engines refuse with the same one-line error.
    """
    if x.dim() >= 2 and x.shape[0] > 0 and x[0].numel() // max(x.shape[1], 1) <= 1:
        raise ConfigError(
            f"gradsign: {type(module).__name__} layer {name!r} sees one value per channel for a single "
            f"sample (input shape {tuple(x.shape)}); batch-of-1 BatchNorm statistics are undefined, "
            "so this network cannot be scored with gradsign at this input size"
            + ("; it shrinks the input to 1x1 here: give it larger images (rank --image-size 64 or more)"
               if x.dim() == 4 else "")
        )


def batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name or "<root>", m) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]


# --------------------------------------------------------------------------- loss


def reference_loss(loss_fn: LossFn | None) -> LossFn:
    """The loss of one sample as the reference loop computes it (a batch of one)."""
    fn = loss_fn if loss_fn is not None else F.cross_entropy

    def one(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = fn(out, target)
        return loss if loss.dim() == 0 else loss.sum()

    return one


class LossUnsupported(Exception):
    """The fast engine cannot prove that the batched loss splits into per-sample losses."""


def per_sample_losses(loss_fn: LossFn | None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``f(out, targets)[i] = loss(out[i:i+1], targets[i:i+1])`` for the losses the fast
    engine knows: ``None`` / ``F.cross_entropy`` / ``nn.CrossEntropyLoss`` (any reduction,
    class weights, label smoothing). Anything else raises :class:`LossUnsupported`.

    The fast engine backpropagates their sum: the gradient w.r.t. each sample's
    activations is then exactly that sample's own gradient (the samples are
    independent once every BatchNorm uses per-sample statistics). The vector
    itself tells whether any sample's loss is non-finite.
    """
    if loss_fn is None or loss_fn is F.cross_entropy:
        return lambda out, t: F.cross_entropy(out, t, reduction="none")
    if type(loss_fn) is nn.CrossEntropyLoss:
        weight = loss_fn.weight
        if weight is not None and not bool((weight > 0).all()):
            raise LossUnsupported("CrossEntropyLoss with non-positive class weights")
        ignore_index = loss_fn.ignore_index
        smoothing = loss_fn.label_smoothing
        divide = loss_fn.reduction == "mean" and weight is not None

        def ce(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            index_targets = not t.is_floating_point()
            if index_targets and bool((t == ignore_index).any()):
                # A batch of one whose target is ignored has loss 0/0 = NaN in the reference.
                raise LossUnsupported("a target equals CrossEntropyLoss.ignore_index")
            per = F.cross_entropy(
                out, t, weight=weight, ignore_index=ignore_index, reduction="none", label_smoothing=smoothing
            )
            if divide and index_targets:
                per = per / weight[t]  # the batch-of-1 weighted mean divides by the sample's own weight
            return per

        return ce
    raise LossUnsupported(f"loss {getattr(loss_fn, '__name__', type(loss_fn).__name__)}")


# --------------------------------------------------------------------------- reduction


@dataclass
class SignSums:
    """Running reduction: per layer, ``sum_i sign(g_ik)`` (float32: exact integers up to
    2**24 samples) and a mask of weights whose gradient was non-finite (NaN or
    +-inf) for some sample; ``bad_loss``: some sample's loss was non-finite (a
    0-dim bool tensor on the loss's device, so CUDA runs need no host sync)."""

    names: list[str]
    shapes: dict[str, torch.Size]
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    nan: dict[str, torch.Tensor] = field(default_factory=dict)
    n_near_zero: int | None = None
    n_samples: int = 0
    bad_loss: torch.Tensor | None = None

    @classmethod
    def empty(cls, layers: list[tuple[str, nn.Module]]) -> "SignSums":
        """Zeros for every scored layer, on the device of its weight."""
        names = [n for n, _ in layers]
        shapes = {n: m.weight.shape for n, m in layers}
        devices = {n: m.weight.device for n, m in layers}
        return cls(
            names=names,
            shapes=shapes,
            sums={n: torch.zeros(shapes[n], dtype=torch.float32, device=devices[n]) for n in names},
            nan={n: torch.zeros(shapes[n], dtype=torch.bool, device=devices[n]) for n in names},
        )


def near_zero_count(g: torch.Tensor, rtol: float) -> torch.Tensor:
    """Entries of ``g`` (per-sample rows) with ``0 < |g| < rtol * max |g|`` of their row."""
    a = g.reshape(g.shape[0], -1).abs()
    thr = a.amax(dim=1, keepdim=True) * rtol
    return ((a < thr) & (a > 0)).sum()


def finish(state: SignSums) -> tuple[float, float, int, int]:
    """``(score, mean_score, n_weights, n_nan_weights)`` from the sign sums.

    A non-finite per-sample loss or gradient entry makes both scores NaN. The
    authors' ``np.nansum`` / ``np.nanmean`` drop NaN columns silently, which gave a
    model with inf weights or NaN inputs a score of 0.0 that then got ranked; a
    broken network now reads as NaN, counted like every other proxy's failures
    (deliberate difference, docs/gradsign.md). ``n_nan_weights`` still counts the
    weights whose gradient was non-finite for some sample.
    """
    score = 0.0
    n_weights = 0
    n_nan = 0
    for name in state.names:
        s = state.sums[name]
        n_weights += s.numel()
        n_nan += int(state.nan[name].sum())
        score += float(s.abs().sum(dtype=torch.float64))
    bad_loss = state.bad_loss is not None and bool(state.bad_loss)
    if n_nan or bad_loss:
        return float("nan"), float("nan"), n_weights, n_nan
    mean = score / n_weights if n_weights else 0.0  # no Conv2d/Linear layer at all: nothing to disagree on
    return score, mean, n_weights, n_nan


def _as_weight(flat: torch.Tensor, layout, shape: torch.Size) -> torch.Tensor:
    """A per-weight vector in ``layout`` order, viewed in the weight's shape."""
    if layout is None:
        return flat.view(shape)
    lshape, perm = layout
    return flat.view(lshape).permute(perm)


class SignSumReducer:
    """Consumes per-sample gradients ``g`` of shape ``(b, *weight.shape)`` chunk by chunk and
    keeps only ``sum_i sign(g_ik)`` (plus the NaN mask and, optionally, the near-zero count).

    ``g`` may be overwritten (its buffer is reused for the signs).
    """

    def __init__(self, state: SignSums, near_zero_rtol: float | None = None) -> None:
        self.state = state
        self.rtol = near_zero_rtol
        self._near_zero: list[torch.Tensor] = []
        if near_zero_rtol is not None:
            state.n_near_zero = 0

    def add(self, name: str, g: torch.Tensor, offset: int, layout=None) -> None:
        """``g``: ``(b, *weight.shape)``, or ``(b, P)`` rows in ``layout`` (see fast.py)."""
        b = g.shape[0]
        g = g.reshape(b, -1)
        shape = self.state.shapes[name]
        if self.rtol is not None:
            self._near_zero.append(near_zero_count(g, self.rtol))
        if g.is_cuda:
            # No host sync on the GPU: the exact non-finite mask, always.
            self._add_mask(name, (~torch.isfinite(g)).any(dim=0), layout)
        elif not bool(torch.isfinite(g.sum())):
            # CPU: one cheap full reduction; a finite total means every entry is finite
            # (an overflowing total only sends us down the exact path).
            self._add_mask(name, (~torch.isfinite(g)).any(dim=0), layout)
        # torch.sign(NaN) is 0; any masked weight makes the score NaN (finish).
        signs = g.sign_() if g.is_contiguous() else torch.sign(g)
        total = signs.sum(dim=0, dtype=torch.float32)
        self.state.sums[name] += _as_weight(total, layout, shape)

    @property
    def add_sign_sum(self):
        """``add_sign_sum(name, total)``: add a finished ``sum_i sign(g_ik)`` of a block
        (weight-shaped float32, every gradient entry proven finite). Only offered when
        no near-zero count is asked for: that needs the gradients themselves."""
        return self._add_sign_sum if self.rtol is None else None

    def _add_sign_sum(self, name: str, total: torch.Tensor) -> None:
        self.state.sums[name] += total.view(self.state.shapes[name])

    def add_losses(self, losses: torch.Tensor) -> None:
        """Record per-sample losses (any shape): one non-finite loss makes the score NaN."""
        bad = (~torch.isfinite(losses.detach())).any()
        self.state.bad_loss = bad if self.state.bad_loss is None else (self.state.bad_loss | bad)

    def _add_mask(self, name: str, mask: torch.Tensor, layout) -> None:
        self.state.nan[name] |= _as_weight(mask, layout, self.state.shapes[name])

    def close(self) -> None:
        if self._near_zero:
            self.state.n_near_zero = int(torch.stack(self._near_zero).sum())
            self._near_zero.clear()

"""zen: Zen-score, the log expected change of the pre-pooling features under a small input perturbation."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy

#: Method names under which a model may offer its feature map before global
#: average pooling: NASLib's convention, then Zen-NAS's own.
PRE_GAP_METHODS = ("forward_before_global_avg_pool", "forward_pre_GAP")


def gaussian_init_(net: nn.Module) -> None:
    """Zen-NAS's initialisation: Conv2d/Linear weights N(0, 1), their biases 0; BN/GroupNorm affine weight 1, bias 0."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def _log(value: float) -> float:
    """``log(value)``, ``-inf`` at 0 (no change of the features, or a zero BN variance), NaN below."""
    if value > 0:
        return math.log(value)
    return -math.inf if value == 0 else math.nan


def _is_global_avg_pool(m: nn.Module) -> bool:
    return isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))


def pre_gap_features(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``x -> the feature map the network global-average-pools``.

    The model's own method when it has one (:data:`PRE_GAP_METHODS`), else the
    input of its last ``nn.AdaptiveAvgPool2d(1)`` call, taken by a hook during a
    normal forward (the layers after the pooling run too, on a private copy,
    and do not change the result). A model with neither is refused: the score
    is defined on that feature map and guessing another one would give a
    different, unlabelled proxy.
    """
    for name in PRE_GAP_METHODS:
        method = getattr(net, name, None)
        if callable(method):
            return method
    pools = [m for m in net.modules() if _is_global_avg_pool(m)]
    if not pools:
        raise ValueError(
            "zen needs the feature map before global average pooling: give the model a "
            "forward_before_global_avg_pool(x) method, or pool with nn.AdaptiveAvgPool2d(1)")

    def run(x: torch.Tensor) -> torch.Tensor:
        seen: list[torch.Tensor] = []
        handles = [p.register_forward_pre_hook(lambda m, args: seen.append(args[0])) for p in pools]
        try:
            net(x)
        finally:
            for h in handles:
                h.remove()
        if not seen:
            raise ValueError("zen: the model's global average pooling was never called in its forward pass")
        return seen[-1]

    return run


@register_proxy(
    "zen",
    description="data-free: log E|f(x) - f(x + 0.01 e)| of the pre-pooling features, Gaussian weights and inputs, "
    "plus sum of log BN scales",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Lin et al., Zen-NAS, ICCV 2021 (idstcv/ZenNAS compute_zen_score.py); "
    "NASLib naslib/predictors/utils/pruners/measures/zen.py (repeat=1, mixup_gamma=0.01)",
)
def zen(ctx: ProxyContext, *, batch_size: int | None = None, mixup_gamma: float = 1e-2, repeat: int = 1) -> float:
    """Mean over ``repeat`` draws of ``log(mean_i sum|f(x_i) - f(x_i + gamma e_i)|) + sum_BN log sqrt(mean(running_var))``.

    As in the reference, on a private copy in train mode and without gradients:
    the weights are re-drawn by :func:`gaussian_init_`, ``x`` and ``e`` are
    standard Gaussian batches of the input shape (the minibatch's size, or
    ``batch_size``; 64 when scoring data-free), ``f`` is the feature map before
    global average pooling (:func:`pre_gap_features`), the L1 difference is
    summed over each sample's features and averaged over the batch. The BN term
    reads every ``BatchNorm2d``'s ``running_var`` after the two forwards (so,
    with the default momentum 0.1, ``0.81 + 0.09 v1 + 0.1 v2`` of the two batch
    variances), exactly as the reference code does, not the batch variance the
    paper's formula names. A BN without running statistics adds nothing.

    Each repeat works on a fresh copy. (The reference re-draws the weights of
    one network, so from its second repeat on the BN term also carries the
    earlier repeats' running statistics; with the default ``repeat=1`` the two
    agree.)

    Random draws come from torch's global generator: ``gradsign.score(...,
    seed=S)`` makes them reproducible. The minibatch's values are not used.
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ConfigError(f"zen option repeat must be a positive int, got {repeat!r}")
    if isinstance(mixup_gamma, bool) or not isinstance(mixup_gamma, (int, float)) or not mixup_gamma > 0:
        raise ConfigError(f"zen option mixup_gamma must be a positive number, got {mixup_gamma!r}")
    # At least two samples: train-mode BN cannot normalise a single value per channel.
    if batch_size is None:
        batch_size = ctx.inputs.shape[0] if ctx.inputs is not None else 64
        if batch_size < 2:
            raise ConfigError(f"zen needs a batch of at least 2 samples, got {batch_size}")
    elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"zen option batch_size must be an int >= 2, got {batch_size!r}")
    shape = (batch_size, *ctx.require_input_shape("zen"))
    dtype = ctx.inputs.dtype if ctx.inputs is not None else torch.float32
    scores = []
    for _ in range(repeat):
        net = ctx.fresh_model()
        features = pre_gap_features(net)
        with torch.no_grad():
            gaussian_init_(net)
            x = torch.randn(shape, device=ctx.device, dtype=dtype)
            e = torch.randn(shape, device=ctx.device, dtype=dtype)
            out = features(x)
            out_mixed = features(x + mixup_gamma * e)
            diff = (out - out_mixed).abs().flatten(1).sum(dim=1).double().mean()
            log_bn = 0.0
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
                    log_bn += 0.5 * _log(float(m.running_var.double().mean()))
        scores.append(_log(float(diff)) + log_bn)
    return float(sum(scores) / len(scores))


__all__ = ["PRE_GAP_METHODS", "gaussian_init_", "pre_gap_features", "zen"]

"""meco: MeCo, the summed smallest eigenvalue of each module output's channel correlation matrix, one sample."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy

#: meco_opt's number of sampled channels (the reference's 8).
OPT_CHANNELS = 8


def min_correlation_eigenvalue(rows: torch.Tensor) -> float:
    """Smallest eigenvalue of ``corrcoef(rows)`` (rows: channels, columns: positions), NaN/inf entries set to 0.

    As the reference: a channel that is constant over the positions has a NaN
    row and column in the correlation matrix, which become 0 (so the matrix
    has an eigenvalue 0). Computed in float64 with the symmetric eigen-solver.
    """
    if rows.shape[1] < 2:
        # One position per channel (a Linear output, a 1x1 map): every entry is 0/0, set to 0.
        return 0.0
    corr = torch.corrcoef(rows.to(torch.float64))
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    if corr.dim() == 0:
        corr = corr.reshape(1, 1)
    return float(torch.linalg.eigvalsh(corr).min())


def meco_module_sum(net: nn.Module, x: torch.Tensor,
                    value: Callable[[torch.Tensor], float]) -> float:
    """``sum over every module call`` of ``value(first sample's output as (channels, positions))``.

    Every module of ``net`` (the network itself, containers and leaves alike)
    is hooked, as the reference does with ``net.named_modules()``. Outputs that
    are not tensors, or have fewer than 2 dimensions, are skipped. NaN and
    infinite values are left out of the sum.

    A model none of whose outputs has two positions per channel (an MLP: every
    output is ``(batch, features)``) is refused: each matrix would be all zeros and
    the score 0 whatever the model.
    """
    values: list[float] = []
    spatial = False

    def hook(module: nn.Module, args, output) -> None:
        nonlocal spatial
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        sample = output[0].detach()
        rows = sample.reshape(sample.shape[0], -1)
        spatial = spatial or rows.shape[1] >= 2
        values.append(value(rows))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    if not spatial:
        raise ValueError("meco needs feature maps: no module output of this model has more than one position per "
                         "channel (e.g. an MLP, whose outputs are (batch, features)), so every correlation matrix "
                         "is all zeros and the score would be 0 for any model")
    return float(math.fsum(v for v in values if math.isfinite(v)))


def _one_sample(ctx: ProxyContext, proxy: str) -> torch.Tensor:
    if ctx.inputs is None or ctx.inputs.shape[0] < 1:
        raise ConfigError(f"{proxy} needs one input sample")
    return ctx.inputs[:1]


@register_proxy(
    "meco",
    description="MeCo: sum over every module of the smallest eigenvalue of its output's channel correlation "
    "matrix, for one sample",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Jiang et al., MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of "
    "Correlation, NeurIPS 2023; HamsterMimi/MeCo correlation/NAS_Bench_201.py (measure 'meco')",
)
def meco(ctx: ProxyContext) -> float:
    """MeCo on the first sample of the minibatch, forwarded alone.

    The reference's NB201 script feeds one training image (batch size 1) to a
    network with PyTorch's default init, left in train mode (so BN normalises
    over that image's positions); every module's output ``(1, C, H, W)`` gives a
    ``C x C`` correlation matrix of its channels over the ``H*W`` positions, and
    the score is the sum of their smallest eigenvalues (:func:`meco_module_sum`).
    """
    net = ctx.fresh_model()
    return meco_module_sum(net, _one_sample(ctx, "meco"), min_correlation_eigenvalue)


__all__ = ["OPT_CHANNELS", "meco", "meco_module_sum", "min_correlation_eigenvalue"]

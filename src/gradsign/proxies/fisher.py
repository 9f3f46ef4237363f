"""fisher: per-channel activation Fisher information after every Conv2d/Linear layer."""

from __future__ import annotations

import math

from gradsign.proxies.context import ProxyContext, prunable_layers, run_batch_pass
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "fisher",
    description="per-channel activation Fisher information after each Conv2d/Linear, summed (one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("batch_pass", "fisher_taps"),
    version="1",
    reference="Theis et al. 2018 / Turner et al., BlockSwap, ICLR 2020; Abdelfattah et al., ICLR 2021, "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/fisher.py",
)
def fisher(ctx: ProxyContext, broadcast: bool = True) -> float:
    """Sum over Conv2d/Linear layers and output channels of ``0.5 * mean_n (sum_xy a * dL/da)^2``.

    ``a`` is the layer's output (before BN or activation), as captured by the
    reference's identity "dummy" after the layer. Several calls of one layer
    (weight sharing) add up, as in the reference.

    ``broadcast`` (default True, the reference behaviour): zero-cost-nas and NASLib
    broadcast each channel's value to all weights of that channel (``weight.shape[1:]``
    elements: in_channels/groups x kh x kw) before summing, so every channel value
    is effectively multiplied by the layer's fan-in. With ``broadcast=False`` the
    plain per-channel sum is returned.
    """
    if "fisher_taps" in ctx.needs:
        # Recorded during the shared batch pass: the same forward+backward
        # fisher's own pass would run.
        done = ctx.batch_pass()
    else:  # called on a context that was not told about fisher: a pass of its own
        done = run_batch_pass(ctx, record_fisher=True, keep_graph=False)
    net, per_layer = done.net, done.fisher

    total = 0.0
    for layer in prunable_layers(net):
        if layer not in per_layer:
            continue  # never reached by the backward pass: contributes 0, as in the reference
        value = float(per_layer[layer].abs().sum())
        if broadcast:
            value *= math.prod(layer.weight.shape[1:])
        total += value
    return total


__all__ = ["fisher"]

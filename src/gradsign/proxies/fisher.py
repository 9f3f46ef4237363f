"""fisher: per-channel activation Fisher information after every Conv2d/Linear layer."""

from __future__ import annotations

import math

import torch
from torch import nn

from gradsign.proxies.context import ProxyContext, logits_of, prunable_layers
from gradsign.proxies.registry import register_proxy


def _channel_fisher(act: torch.Tensor, grad: torch.Tensor, is_linear: bool) -> torch.Tensor:
    """``0.5 * mean_n (sum_spatial act * grad)^2`` per output channel.

    Conv2d output ``(N, C, H, W)``: channels on dim 1, spatial dims summed (as the
    reference). Linear output ``(N, F)``: per-feature product. Linear on ``(N, ..., F)``
    (e.g. tokens): channels are the last dim, the middle dims are summed like
    spatial ones (the reference would sum over the features instead, which breaks
    its own per-channel broadcast).
    """
    prod = act * grad
    if is_linear:
        if prod.dim() > 2:
            prod = prod.sum(dim=tuple(range(1, prod.dim() - 1)))
    elif prod.dim() > 2:
        prod = prod.sum(dim=tuple(range(2, prod.dim())))
    return prod.pow(2).mean(0).mul(0.5)


@register_proxy(
    "fisher",
    description="per-channel activation Fisher information after each Conv2d/Linear, summed (one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
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
    net = ctx.fresh_model()
    per_layer: dict[nn.Module, torch.Tensor] = {}
    handles = []

    def make_hook(layer: nn.Module):
        is_linear = isinstance(layer, nn.Linear)

        def on_output(grad: torch.Tensor, act: torch.Tensor) -> None:
            value = _channel_fisher(act, grad.detach(), is_linear)
            per_layer[layer] = per_layer[layer] + value if layer in per_layer else value

        def forward_hook(module: nn.Module, inputs, output):
            if not isinstance(output, torch.Tensor) or not output.requires_grad:
                return None
            act = output.detach()
            # The gradient hook goes on the layer's own output, and downstream gets a
            # clone: an in-place op after the layer (ReLU(inplace=True)) then changes
            # the clone, never the activation we multiply with.
            output.register_hook(lambda g: on_output(g, act))
            return output.clone()

        return forward_hook

    layers = list(prunable_layers(net))
    for layer in layers:
        handles.append(layer.register_forward_hook(make_hook(layer)))
    try:
        net.zero_grad(set_to_none=True)
        loss = ctx.loss_fn(logits_of(net(ctx.inputs)), ctx.targets)
        loss.backward()
    finally:
        for h in handles:
            h.remove()

    total = 0.0
    for layer in layers:
        if layer not in per_layer:
            continue  # never reached by the backward pass: contributes 0, as in the reference
        value = float(per_layer[layer].abs().sum())
        if broadcast:
            value *= math.prod(layer.weight.shape[1:])
        total += value
    return total


__all__ = ["fisher"]
